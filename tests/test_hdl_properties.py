"""Properties over random valid architectures: weights land in exactly one tile, tiles respect the limits, counts add up."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amdcgan.hdl.floorplan import build_floorplan
from amdcgan.hdl.graph import build_graph
from amdcgan.hdl.loader import build_architecture
from amdcgan.hdl.mapping import plan_tiles


@st.composite
def architectures(draw):
    image = draw(st.sampled_from([8, 12, 16]))
    channels = draw(st.integers(1, 6))
    discriminator = [
        {"type": "conv2d", "filters": channels, "kernel": draw(st.integers(1, 5)), "padding": 2},
        {"type": "activation", "function": draw(st.sampled_from(["relu", "relu_switch", "tanh", "linear"]))},
    ]
    if draw(st.booleans()):
        discriminator.append({"type": "mean_pool", "size": 2})
    if draw(st.booleans()):
        discriminator.append({"type": "dropout", "rate": 0.5})
    discriminator.append({"type": "dense", "units": 1, "bias": draw(st.booleans())})
    quarter = image // 4
    generator = [
        {"type": "dense", "units": channels * quarter * quarter},
        {"type": "reshape", "shape": [channels, quarter, quarter]},
        {"type": "batch_norm", "enabled": draw(st.booleans())},
        {"type": "deconv2d", "filters": draw(st.integers(1, 4)), "kernel": 4, "stride": 2, "padding": 1},
        {"type": "deconv2d", "filters": 1, "kernel": 4, "stride": 2, "padding": 1},
        {"type": "activation", "function": "tanh"},
    ]
    return {
        "schema_version": 1,
        "name": "random",
        "tiles": {"max_rows": draw(st.integers(2, 40)), "max_columns": draw(st.integers(2, 40))},
        "weight_encoding": draw(st.sampled_from(["sign_crossbar", "differential_pair"])),
        "generator": {"input_shape": [draw(st.integers(1, 30))], "layers": generator},
        "discriminator": {"input_shape": [1, image, image], "layers": discriminator},
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architectures())
def test_every_weight_in_exactly_one_tile_within_limits(data):
    arch = build_architecture(data, "random.yaml")
    plan = plan_tiles(arch)
    for layer in plan.layers():
        cover = np.zeros((layer.weight_rows, layer.weight_columns), dtype=int)
        for tile in layer.tiles:
            cover[tile.rows[0]:tile.rows[1], tile.columns[0]:tile.columns[1]] += 1
            assert 0 < tile.n_rows <= arch.tiles.max_rows
            assert 0 < tile.physical_columns <= arch.tiles.max_columns
            assert tile.crossbar_devices == tile.n_rows * tile.n_columns * tile.devices_per_weight
        assert (cover == 1).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architectures())
def test_counts_add_up_and_floorplan_holds_every_tile(data):
    arch = build_architecture(data, "random.yaml")
    graph = build_graph(arch)
    total = graph.counts()
    per_layer = [graph.counts(layer.network, layer.name) for layer in graph.plan.layers()]
    for kind in total.components:
        assert total.components[kind] == sum(layer.components[kind] for layer in per_layer)
    for kind in total.memristors:
        assert total.memristors[kind] == sum(layer.memristors[kind] for layer in per_layer)
    assert total.tiles == len(graph.plan.tiles()) == len(graph.nodes_of_kind("crossbar"))
    floorplan = build_floorplan(graph.plan)
    assert len(floorplan.tiles) == total.tiles
    rects = [tile.rect for tile in floorplan.tiles]
    for index, a in enumerate(rects):  # tiles never overlap and stay inside the chip
        assert a.x >= 0 and a.y >= 0 and a.x + a.width <= floorplan.width and a.y + a.height <= floorplan.height
        for b in rects[index + 1:]:
            assert a.x + a.width <= b.x or b.x + b.width <= a.x or a.y + a.height <= b.y or b.y + b.height <= a.y
