"""Area and power of a tiny architecture, derived by hand from its layer shapes and Table I."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from amdcgan.errors import UserError
from amdcgan.estimators import estimate
from amdcgan.hdl.electrical import Cell, encode_weights
from amdcgan.hdl.loader import build_architecture, validate
from amdcgan.hdl.spec import Architecture, WeightEncoding

TINY = """
schema_version: 1
name: tiny
tiles: {max_rows: 8, max_columns: 8}
generator:
  input_shape: [4]
  layers:
    - {type: dense, name: d0, units: 16}
    - {type: reshape, shape: [1, 4, 4]}
    - {type: activation, name: t0, function: tanh}
discriminator:
  input_shape: [1, 4, 4]
  layers:
    - {type: conv2d, name: c0, filters: 2, kernel: 3}
    - {type: activation, name: r0, function: relu}
    - {type: dropout, name: drop0, rate: 0.5}
    - {type: dense, name: d1, units: 1}
"""

# By hand, with 8 x 8 tiles and sign crossbars (row circuits: crossbar switch, thresholding, sign switch per row):
# G.d0: dense 4 -> 16 + bias = 5 x 16, split into two 5 x 8 tiles; per tile 5 row circuits of each kind, 8 OpAmps
#       (dense readout), 8 tanh; 80 + 80 devices; cycles = 1 position x 8 columns read one by one = 8.
# D.c0: conv 3x3 over 1x4x4 -> 2x2x2: 9 + bias = 10 x 2, split into two 5 x 2 tiles; per tile 5 row circuits of each
#       kind and 2 load memristors; the host tile adds 2 summing amplifiers, 2 ReLUs, 2 dropout switches;
#       20 + 20 devices; cycles = 4 positions x 2 columns = 8.
# D.d1: dense 8 + bias = 9 x 1, split into 5 + 4 rows; 9 row circuits of each kind, one OpAmp per tile, one summing
#       amplifier; 9 + 9 devices; cycles 1.
COUNTS = {
    "crossbar_switch": 10 + 10 + 9, "thresholding": 10 + 10 + 9, "sign_switch": 10 + 10 + 9,
    "opamp": 16 + 2, "tanh": 16, "relu": 2, "summing_amplifier": 2 + 1, "dropout_switch": 2,
}
MEMRISTORS = {"crossbar": 80 + 20 + 9, "sign_crossbar": 80 + 20 + 9, "load_memristor": 4}
LAYER_CYCLES = {"generator.d0": (8, 8), "discriminator.c0": (8, 9), "discriminator.d1": (1, 9)}


def table1() -> dict:
    text = (resources.files("amdcgan.hdl") / "data" / "components" / "table1_180nm.yaml").read_text()
    return yaml.safe_load(text)["components"]


def wo2() -> dict:
    return yaml.safe_load((resources.files("amdcgan.hdl") / "data" / "device" / "wo2.yaml").read_text())


@pytest.fixture(scope="module")
def tiny():
    return build_architecture(yaml.safe_load(TINY), "tiny")


@pytest.fixture(scope="module")
def tiny_estimate(tiny):
    return estimate(tiny)


G_ON, G_OFF = 1 / 4000, 1 / 25_000  # wo2
G_MID, V_READ, VDD, HEADROOM, GAIN = (G_ON + G_OFF) / 2, 0.5, 1.8, 0.2, 1e4


def tile_read_power(main: list[list[float]], signs: list[list[float]], readout: str) -> float:
    """By hand, one loop per read: rows driven at s_ic V_r/2 while column c is read; each device dissipates
    G (x_i - V_j) x_i from its row driver; V_j is the load divider or the IVC's virtual-ground error; plus the sign
    column read at V_r onto grounded rows. Averaged over the column reads."""
    rows, columns = len(main), len(main[0])
    feedback_s = rows * V_READ * G_ON / (VDD - HEADROOM)
    total = 0.0
    for c in range(columns):
        x = [signs[i][c] * V_READ / 2 for i in range(rows)]
        for j in range(columns):
            current = sum(main[i][j] * x[i] for i in range(rows))
            column_g = sum(main[i][j] for i in range(rows))
            v_col = current / (column_g + G_ON) if readout == "load" else current / (GAIN * feedback_s + column_g
                                                                                     + feedback_s)
            total += sum(main[i][j] * (x[i] - v_col) * x[i] for i in range(rows))
        total += V_READ ** 2 * sum(G_ON if signs[i][c] > 0 else G_OFF for i in range(rows))
    return total / columns


def nominal_tile(first_row: int, rows: int, columns: int, readout: str) -> float:
    """A tile of mean-conductance devices with signs alternating by the layer's row index."""
    signs = [[1.0 if (first_row + i) % 2 == 0 else -1.0] * columns for i in range(rows)]
    return tile_read_power([[G_MID] * columns for _ in range(rows)], signs, readout)


# Tiles (first row, rows, columns, readout) of the tiny architecture, as counted above.
TILES = {
    "generator.d0": [(0, 5, 8, "ivc"), (0, 5, 8, "ivc")],
    "discriminator.c0": [(0, 5, 2, "load"), (5, 5, 2, "load")],
    "discriminator.d1": [(0, 5, 1, "ivc"), (5, 4, 1, "ivc")],
}


def layer_read_power(name: str) -> float:
    return sum(nominal_tile(*tile) for tile in TILES[name])


def test_area_matches_hand_count(tiny_estimate):
    library = table1()
    pitch = 0.72  # cmos180's memristor pitch (um)
    circuits = sum(count * library[kind]["area_um2"] for kind, count in COUNTS.items())
    devices = sum(MEMRISTORS.values()) * pitch**2
    total = tiny_estimate["area"]["component_sum"]["total"]
    assert total["components_total_um2"] == pytest.approx(circuits, rel=1e-12)
    assert total["memristors_total_um2"] == pytest.approx(devices, rel=1e-12)
    assert tiny_estimate["headline"]["area_component_sum_mm2"] == pytest.approx((circuits + devices) / 1e6)


def test_power_matches_hand_count(tiny_estimate):
    library = table1()
    static = sum(count * library[kind]["power_mw"] for kind, count in COUNTS.items()) / 1000
    read = sum(layer_read_power(name) for name in TILES)
    power = tiny_estimate["power"]
    assert power["total"]["static_total_w"] == pytest.approx(static, rel=1e-12)
    assert power["total"]["crossbar_read_w"] == pytest.approx(read, rel=1e-12)
    assert power["total"]["all_on_w"] == pytest.approx(static + read, rel=1e-12)
    # Duty-cycled: each layer on for its cycles / its network's cycles; the two networks add.
    expected = sum(power["layers"][name]["all_on_w"] * cycles / network for name, (cycles, network) in LAYER_CYCLES.items())
    assert power["total"]["duty_cycled_w"] == pytest.approx(expected, rel=1e-12)
    for name, (cycles, network) in LAYER_CYCLES.items():
        assert power["layers"][name]["duty"] == pytest.approx(cycles / network)


def test_dropout_saves_rate_times_next_layers_rows(tiny_estimate):
    library = table1()
    row_circuits_mw = 9 * sum(library[kind]["power_mw"] for kind in ("crossbar_switch", "thresholding", "sign_switch"))
    read = layer_read_power("discriminator.d1")
    expected = 0.5 * (8 / 9) * (row_circuits_mw / 1000 + read)  # the bias row never drops
    saved = tiny_estimate["power"]["dropout"]
    assert saved["saved_all_on_w"] == pytest.approx(expected, rel=1e-12)
    assert saved["saved_duty_cycled_w"] == pytest.approx(expected / 9, rel=1e-12)


def test_read_power_from_a_runs_conductances(tiny):
    matrix = np.ones((5, 16))
    matrix[:, :6] = -1  # 30 negative weights: their sign devices are off (g_off holds -)
    matrix[0, 0] = -0.5  # half scale: half of g_on
    cell = Cell.of(tiny.device.model_copy(update={"levels": None}), WeightEncoding.sign_crossbar)
    result = estimate(tiny, conductances={"generator.d0": encode_weights(matrix, cell)})
    main = [[G_ON * abs(value) for value in row] for row in matrix]
    signs = [[1.0 if value >= 0 else -1.0 for value in row] for row in matrix]
    expected = sum(tile_read_power([row[c0:c1] for row in main], [row[c0:c1] for row in signs], "ivc")
                   for c0, c1 in ((0, 8), (8, 16)))
    assert result["power"]["layers"]["generator.d0"]["crossbar_read_w"] == pytest.approx(expected, rel=1e-12)
    untouched = result["power"]["layers"]["discriminator.c0"]["crossbar_read_w"]
    assert untouched == pytest.approx(layer_read_power("discriminator.c0"), rel=1e-12)


def test_floorplan_never_smaller_than_what_its_circuits_need(tiny_estimate):
    area = tiny_estimate["area"]
    for name, scope in area["component_sum"]["layers"].items():
        assert area["floorplan"]["by_layer_um2"][name] >= scope["total_um2"] * (1 - 1e-9)
    assert area["floorplan"]["chip_area_um2"] >= area["floorplan"]["tiles_area_um2"]


def test_layout_areas_stand_beside_the_floorplan(tiny, tiny_estimate):
    tile_area = estimate(tiny, layout_areas={"generator.d0.0": 1.0})["area"]["layout"]["tiles"]["generator.d0.0"]
    measured = {"generator.d0.0": 2 * tile_area["floorplan_um2"], "discriminator.d1.1": 3.0}
    layout = estimate(tiny, layout_areas=measured)["area"]["layout"]
    assert layout["tiles"]["generator.d0.0"]["ratio"] == pytest.approx(2.0)
    assert layout["tiles_compared"] == 2 and layout["tiles_in_floorplan"] == 6
    with pytest.raises(UserError, match="generator.nowhere.0"):
        estimate(tiny, layout_areas={"generator.nowhere.0": 1.0})


def _with_entry(architecture: Architecture, kind: str, power_mw: float, area_um2: float) -> Architecture:
    data = architecture.model_dump(mode="json")
    data["components"]["components"][kind] = {"power_mw": power_mw, "area_um2": area_um2}
    return validate(Architecture, data, "test")


@settings(max_examples=20, deadline=None)
@given(
    kind=st.sampled_from(sorted(COUNTS)),
    power_mw=st.floats(min_value=0, max_value=100, allow_nan=False),
    area_um2=st.floats(min_value=0.01, max_value=5000, allow_nan=False),
)
def test_one_library_entry_moves_totals_by_entry_times_count(tiny, tiny_estimate, kind, power_mw, area_um2):
    before = tiny_estimate
    after = estimate(_with_entry(tiny, kind, power_mw, area_um2))
    old = tiny.components.components[kind]
    area_change = after["area"]["component_sum"]["total"]["total_um2"] - before["area"]["component_sum"]["total"]["total_um2"]
    power_change = after["power"]["total"]["all_on_w"] - before["power"]["total"]["all_on_w"]
    assert area_change == pytest.approx(COUNTS[kind] * (area_um2 - old.area_um2), rel=1e-9, abs=1e-9)
    assert power_change == pytest.approx(COUNTS[kind] * (power_mw - old.power_mw) / 1000, rel=1e-9, abs=1e-12)


def test_scaling_to_45nm_follows_the_shipped_rule(small_arch):
    from amdcgan.estimators import scaling_comparison

    scaling = scaling_comparison(small_arch)
    # Dennard with k = 4: every area and every circuit's power / 16; crossbar read power is the device's.
    assert scaling["ratio"]["area_component_sum_mm2"] == pytest.approx(1 / 16)
    assert scaling["ratio"]["power_static_w"] == pytest.approx(1 / 16)
    assert scaling["ratio"]["power_crossbar_read_w"] == pytest.approx(1.0)
    assert "Dennard" in scaling["rule"]


def test_small_system_by_hand_table_adds_up(small_arch):
    result = estimate(small_arch, paper_small_system=True)
    rows = result["by_hand"]
    assert sum(row["count"] * row["unit_area_um2"] for row in rows) == pytest.approx(
        result["area"]["component_sum"]["total"]["total_um2"])
    assert sum(row["count"] * row["unit_power_mw"] for row in rows) / 1000 == pytest.approx(
        result["power"]["total"]["all_on_w"])
    comparison = result["small_system_comparison"]
    assert comparison["paper"] == {"area_mm2": 0.188, "power_w": 7.0}
    assert comparison["area_ratio"] == pytest.approx(result["headline"]["area_component_sum_mm2"] / 0.188)
    library = table1()
    for kind, row in comparison["circuits_closing_power_gap"].items():
        assert row["circuits"] * library[kind]["power_mw"] / 1000 == pytest.approx(comparison["power_gap_w"])
        fits = 0 <= row["circuits"] * library[kind]["area_um2"] / 1e6 <= comparison["area_gap_mm2"]
        assert (kind in comparison["kinds_closing_both_gaps"]) == fits


@pytest.mark.spice
def test_read_power_with_wires_is_the_meshs_supply_power_in_ngspice(tiny):
    """With wires, a layer's read power is what ngspice's row sources deliver to each tile's mesh (rows
    sign-switched per column read, averaged, plus the sign column), and the ideal-wire figure stands beside it."""
    from amdcgan.sim.wire_mesh import spice_mesh

    row_ohm, column_ohm = 40.0, 90.0
    wired = tiny.model_copy(update={"periphery": tiny.periphery.model_copy(
        update={"row_wire_ohm": row_ohm, "column_wire_ohm": column_ohm})})
    power = estimate(wired)["power"]["layers"]["discriminator.c0"]
    expected = 0.0
    for first_row, rows, columns, _ in TILES["discriminator.c0"]:
        signs = np.array([1.0 if (first_row + i) % 2 == 0 else -1.0 for i in range(rows)])
        main = np.full((rows, columns), G_MID)
        reads = [spice_mesh(main, signs * V_READ / 2, row_ohm, column_ohm, G_ON).source_power_w
                 for _ in range(columns)]  # every column's read drives the rows with the same signs here
        expected += np.mean(reads) + V_READ ** 2 * np.sum(np.where(signs > 0, G_ON, G_OFF))
    assert power["crossbar_read_w"] == pytest.approx(expected, rel=1e-6)
    assert power["crossbar_read_ideal_wires_w"] == pytest.approx(layer_read_power("discriminator.c0"), rel=1e-12)
    assert power["crossbar_read_w"] < power["crossbar_read_ideal_wires_w"]  # the wires' series drop
