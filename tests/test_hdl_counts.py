"""Counts of the hardware graph against counts derived by hand from the layer shapes."""

from __future__ import annotations

import math

import networkx as nx

from amdcgan.hdl.graph import build_graph
from amdcgan.hdl.mapping import plan_tiles
from amdcgan.hdl.spec import Architecture


def test_reference_generator_dense_layer_by_hand(reference_arch):
    # dense 100 -> 6272 with bias: 101 rows x 6272 columns; 128x128 tiles -> 1 x ceil(6272/128) = 49 tiles.
    rows, columns = 100 + 1, 7 * 7 * 128
    counts = build_graph(reference_arch).counts("generator", "project")
    assert counts.tiles == math.ceil(rows / 128) * math.ceil(columns / 128) == 49
    assert counts.weights == rows * columns
    # sign crossbar encoding: one magnitude device and one sign device per weight
    assert counts.memristors["crossbar"] == rows * columns
    assert counts.memristors["sign_crossbar"] == rows * columns
    # every tile has all 101 rows: a crossbar switch, a thresholding circuit and a sign switch per row
    for kind in ("crossbar_switch", "thresholding", "sign_switch"):
        assert counts.components[kind] == 49 * rows
    # per column: an OpAmp IVC (dense readout), then batch norm and ReLU folded from the following layers
    for kind in ("opamp", "batch_norm", "relu"):
        assert counts.components[kind] == columns
    assert counts.components["summing_amplifier"] == 0  # rows fit one tile: no partial sums
    # columns are read one after another (sign crossbar), all tiles in parallel: 128 cycles
    assert counts.cycles_per_image == 128


def test_reference_deconvolution_by_hand(reference_arch):
    # deconv 128 -> 64, 5x5, stride 2: rows = 5*5*128 + 1 = 3201, split in ceil(3201/128) = 26 row tiles
    rows, columns = 5 * 5 * 128 + 1, 64
    layer = plan_tiles(reference_arch).layer("generator", "deconv1")
    assert (layer.weight_rows, layer.weight_columns) == (rows, columns)
    assert layer.output_shape == (64, 14, 14)
    assert len(layer.row_splits) == 26 and len(layer.column_splits) == 1
    sizes = [stop - start for start, stop in layer.row_splits]
    assert sum(sizes) == rows and max(sizes) - min(sizes) <= 1  # balanced split
    counts = build_graph(reference_arch).counts("generator", "deconv1")
    assert counts.components["summing_amplifier"] == columns  # adds the 26 partial results per column
    assert counts.memristors["load_memristor"] == 26 * columns  # each row tile's columns have a load
    assert counts.cycles_per_image == 14 * 14 * columns  # output positions x sequential columns


def test_reference_discriminator_by_hand(reference_arch):
    counts = build_graph(reference_arch).counts("discriminator")
    conv0 = 5 * 5 * 1 + 1
    conv1 = 5 * 5 * 64 + 1
    dense = 128 * 7 * 7 + 1
    assert counts.weights == conv0 * 64 + conv1 * 128 + dense * 1
    assert counts.components["averager"] == 64 + 128  # one mean-pooling averager per channel
    assert counts.memristors["averager"] == (64 + 128) * 2 * 2  # 2x2 pooling: four memristors each
    assert counts.components["dropout_switch"] == 64 + 128
    assert counts.components["relu"] == 64 + 128
    assert counts.components["opamp"] == math.ceil(dense / 128)  # one IVC per dense row tile column
    assert counts.tiles == 1 + math.ceil(conv1 / 128) + math.ceil(dense / 128)
    assert counts.cycles_per_image == 28 * 28 * 64 + 14 * 14 * 128 + 1


def test_small_system_totals_by_hand(small_arch):
    graph = build_graph(small_arch)
    total = graph.counts()
    # G: dense 100->98 (101x98), deconv 2->2 3x3 (19x2), deconv 2->1 3x3 (19x1)
    # D: conv 1->2 3x3 (10x2), conv 2->2 3x3 (19x2), dense 98->1 (99x1); every matrix fits one 128x128 tile
    matrices = [(101, 98), (19, 2), (19, 1), (10, 2), (19, 2), (99, 1)]
    assert total.tiles == 6
    assert total.weights == sum(r * c for r, c in matrices)
    assert total.components["crossbar_switch"] == sum(r for r, _ in matrices)
    assert total.components["relu"] == 98 + 2 + 2 + 2
    assert total.components["tanh"] == 1
    assert total.components["opamp"] == 98 + 1  # the two dense layers use OpAmp IVCs
    assert total.memristors["load_memristor"] == 2 + 1 + 2 + 2  # convolutions read by load memristors


def test_differential_pair_doubles_devices_and_halves_tile_width(reference_arch):
    arch = Architecture.model_validate({**reference_arch.model_dump(), "weight_encoding": "differential_pair"})
    counts = build_graph(arch).counts("generator", "project")
    assert counts.memristors["crossbar"] == 2 * 101 * 6272
    assert counts.memristors["sign_crossbar"] == 0
    assert counts.tiles == math.ceil(6272 / 64)  # a pair takes two of the 128 physical columns
    assert counts.cycles_per_image == 1  # all columns read at once


def test_counts_add_up_to_totals(reference_arch):
    graph = build_graph(reference_arch)
    total = graph.counts()
    networks = [graph.counts(name) for name in ("generator", "discriminator")]
    for kind, count in total.components.items():
        assert count == sum(network.components[kind] for network in networks)
    bank_total = sum(data.get("count", 0) for _, data in graph.graph.nodes(data=True)
                     if data["kind"] in total.components)
    assert bank_total == sum(total.components.values())
    devices = sum(data.get("devices", 0) for _, data in graph.graph.nodes(data=True))
    assert devices == total.total_memristors


def test_graph_is_connected_from_noise_to_verdict(small_arch):
    graph = build_graph(small_arch).graph
    assert nx.has_path(graph, "generator.input", "discriminator.output")
    for node, data in graph.nodes(data=True):
        if data["kind"] == "crossbar":
            assert nx.has_path(graph, "generator.input", node)
            assert {"kind", "network", "layer", "tile", "rows", "columns"} <= set(data)


def test_graph_exports_round_trip(tmp_path, small_arch):
    hardware = build_graph(small_arch)
    hardware.write_graphml(tmp_path / "g.graphml")
    hardware.write_json(tmp_path / "g.json")
    again = nx.read_graphml(tmp_path / "g.graphml")
    assert again.number_of_nodes() == hardware.graph.number_of_nodes()
    assert again.number_of_edges() == hardware.graph.number_of_edges()
    import json

    data = json.loads((tmp_path / "g.json").read_text())
    assert len(data["nodes"]) == hardware.graph.number_of_nodes()
