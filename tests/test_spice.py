"""ngspice against independent truth: the numpy tile model, KCL by hand, the write model's own equation."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import numpy as np
import pytest

from amdcgan.cli import main
from amdcgan.errors import UserError
from amdcgan.hdl.electrical import Cell, Periphery, tile_outputs
from amdcgan.hdl.spec import Readout, WeightEncoding
from amdcgan.sim import runner
from amdcgan.sim.activations import DATA_DIR
from amdcgan.sim.checks import (
    dc_check, leakage_circuit, nominal_path, path_windows, random_bench, read_tile, variability_check,
)
from amdcgan.sim.memristor import check_write_model, pulse_response
from amdcgan.sim.path import path_circuit
from amdcgan.sim.results import relative_error
from amdcgan.sim.runner import run_circuit, run_netlist

pytestmark = pytest.mark.spice


def _agreement(arch, rows, columns, encoding, readout, seed, periphery=None, wire_ohm=None):
    """ngspice's tile (with wires of `wire_ohm`) against hdl's model with ideal wires."""
    bench = random_bench(arch, rows, columns, encoding, readout, np.random.default_rng(seed), "t", periphery, wire_ohm)
    return relative_error(read_tile(bench).outputs, bench.model_outputs(ideal_wires=True))


@pytest.mark.parametrize("encoding", list(WeightEncoding))
@pytest.mark.parametrize("readout", list(Readout))
def test_small_tiles_agree_with_numpy(reference_arch, encoding, readout):
    assert _agreement(reference_arch, 12, 7, encoding, readout, seed=1) < 1e-3


@pytest.mark.parametrize("readout", list(Readout))
def test_128_by_128_differential_tile_agrees_with_numpy(reference_arch, readout):
    assert _agreement(reference_arch, 128, 128, WeightEncoding.differential_pair, readout, seed=2) < 1e-3


def test_128_by_128_sign_crossbar_tile_reads_signs_and_agrees_with_numpy(reference_arch):
    # Each column is read in its own step, with the thresholding circuits reading that column's signs.
    assert _agreement(reference_arch, 128, 128, WeightEncoding.sign_crossbar, Readout.opamp_ivc, seed=3) < 1e-3


def test_finite_gain_and_clipping_agree(reference_arch):
    low_gain = replace(Periphery.of(reference_arch), opamp_gain=50.0, feedback_ohm=2000.0)  # many columns clip
    assert _agreement(reference_arch, 20, 6, WeightEncoding.sign_crossbar, Readout.opamp_ivc, 4, low_gain) < 1e-3


def test_written_netlists_run_in_plain_ngspice(small_arch, tmp_path):
    result = dc_check(small_arch, tmp_path, quick=True)
    assert result["max_relative_error"] < 1e-3
    netlists = sorted((tmp_path / "netlists").glob("*.cir"))
    assert netlists
    for netlist in netlists[:3]:
        done = subprocess.run(["ngspice", "-b", netlist.name], cwd=netlist.parent, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stdout[-500:]
        assert "error" not in (done.stdout + done.stderr).lower()
        assert "No. of Data Rows" in done.stdout  # it ran its analysis and printed the outputs


def test_monte_carlo_repeats_with_the_same_seed(small_arch, tmp_path):
    first = variability_check(small_arch, tmp_path / "a", quick=True, seed=7)["table"]
    again = variability_check(small_arch, tmp_path / "b", quick=True, seed=7)["table"]
    other = variability_check(small_arch, tmp_path / "c", quick=True, seed=8)["table"]
    assert first == again
    assert first != other
    assert np.allclose(first[0][1:], 0.0, atol=1e-9)  # no variability, no error (beyond the solver's rounding)


def test_path_conv_outputs_match_the_tile_model(small_arch):
    periphery = Periphery.of(small_arch)
    devices, positions = nominal_path(small_arch, 2, np.random.default_rng(0))
    windows = path_windows(periphery, devices, positions, 1, np.random.default_rng(1))
    circuit, nodes, analysis = path_circuit("path", [devices], windows, periphery)
    vectors = run_circuit(circuit, "path", analysis=analysis)
    spice = np.array([vectors[f"v({node})"][0] for node in nodes[0]["conv_output"]])
    conv = devices.conv
    model = tile_outputs(windows[0], conv.main, conv.second, conv.cell, Readout.load_memristor, periphery)
    assert np.allclose(spice, model.ravel(), rtol=1e-6, atol=1e-9)


def test_held_line_leakage_is_the_noise_through_column_zero(small_arch):
    # Column 0 at virtual ground: its current is v_read g_00 + sum_{i>0} g_i0 n_i (KCL; other columns do not matter).
    rng = np.random.default_rng(5)
    g = rng.uniform(small_arch.device.g_off_s, small_arch.device.g_on_s, (6, 6))
    noise = rng.normal(0, 0.1, 10)
    current = run_circuit(leakage_circuit(g, noise, 0.5), "leakage")["i(vsense)"][0]
    # ngspice reports the current into the sense source's + node, i.e. out of the column.
    assert current == pytest.approx(0.5 * g[0, 0] + g[1:, 0] @ noise[:5], rel=1e-6)


def test_wire_resistance_mesh_is_wired_right_and_adds_error(reference_arch):
    errors = [_agreement(reference_arch, 8, 8, WeightEncoding.differential_pair, Readout.opamp_ivc, 6, wire_ohm=wire)
              for wire in (1e-6, 0.5, 5.0)]
    assert errors[0] < 1e-4 < errors[1] < errors[2]


def test_write_model_threshold_and_step(small_arch):
    # The state change per pulse is what the device file's switching rate gives over one pulse above threshold,
    # k (V_write - V_th) t_write, by hand: ngspice integrates the rate over the real pulse (edges included).
    device = small_arch.device
    cell = Cell.of(device, WeightEncoding.sign_crossbar)
    step = device.switching_rate_s_per_v * (device.v_write_v - device.v_threshold_v) * device.t_write_s
    below = pulse_response(cell, 0.95 * device.v_threshold_v, 3, 0.5)["states"]
    read = pulse_response(cell, device.v_read_v, 3, 0.5)["states"]
    assert np.allclose(below, 0.5) and np.allclose(read, 0.5)
    up = pulse_response(cell, device.v_write_v, 4, 0.5)
    assert np.allclose(np.diff(up["states"]), step, rtol=5e-3)
    down = pulse_response(cell, -device.v_write_v, 4, 0.5)["states"]
    assert np.allclose(np.diff(down), -step, rtol=5e-3)
    # The energy of one pulse: V^2 t_write times the mean of the conductances before and after it.
    span = device.g_on_s - device.g_off_s
    g_before, g_after = device.g_off_s + 0.5 * span, device.g_off_s + up["states"][1] * span
    assert up["energy_j"][0] == pytest.approx(device.v_write_v ** 2 * device.t_write_s * (g_before + g_after) / 2,
                                              rel=0.02)


def test_write_check_compares_with_the_cell_model(small_arch):
    cell = Cell.of(small_arch.device, WeightEncoding.sign_crossbar)
    result = check_write_model(cell, small_arch.device.v_read_v, pulses=2)
    assert result["step_relative_error"] < 5e-3 and result["energy_relative_error"] < 0.02
    assert abs(result["read_change"]) < 1e-9
    # The shipped device's rate moves one of its levels per pulse (the paper's Table II assumption).
    assert result["set_steps_per_pulse"][0] / result["level_step"] == pytest.approx(1.0, rel=5e-3)


def test_write_model_stays_within_bounds(small_arch):
    device = small_arch.device
    cell = Cell.of(device, WeightEncoding.sign_crossbar)
    top = pulse_response(cell, device.v_write_v, 3, 1.0 - 0.5 / (device.levels - 1))["states"]
    bottom = pulse_response(cell, -device.v_write_v, 3, 0.2 / (device.levels - 1))["states"]
    # The window stops the state within a hundredth of a level step of each bound (one time step of overshoot).
    tolerance = 0.01 / (device.levels - 1)
    assert top.max() <= 1.0 + tolerance and top[-1] == pytest.approx(1.0, abs=tolerance)
    assert bottom.min() >= -tolerance and bottom[-1] == pytest.approx(0.0, abs=tolerance)


def test_default_activation_tables_match_the_circuit_model(small_arch):
    periphery = Periphery.of(small_arch)
    for function in ("tanh", "relu", "relu_switch"):
        table = np.loadtxt(DATA_DIR / f"{function}.csv", delimiter=",", skiprows=1)
        assert np.allclose(table[:, 1], periphery.activation(table[:, 0], function), atol=1e-6)
    off = np.loadtxt(DATA_DIR / "relu_switch_off.csv", delimiter=",", skiprows=1)
    assert np.allclose(off[:, 1], 0)


def test_missing_ngspice_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(runner, "_engine", None)
    monkeypatch.setenv("NGSPICE_LIBRARY_PATH", "/nonexistent/libngspice.so")
    with pytest.raises(UserError, match="apt-get install ngspice libngspice0-dev"):
        run_netlist("* x\nr1 a 0 1\n.op\n.end\n", "tile x")


def test_runaway_simulation_stops_at_the_time_limit_naming_the_tile():
    text = "* runaway\nv1 a 0 sin(0 1 1e9)\nr1 a 0 1k\n.tran 1e-13 1e-3\n.end\n"
    with pytest.raises(UserError, match="tile d.conv0.0 within 0.5 s"):
        run_netlist(text, "tile d.conv0.0", timeout_s=0.5)
    assert run_netlist("* after\nv1 a 0 1\nr1 a 0 1k\n.op\n.end\n", "next")["v(a)"][0] == pytest.approx(1.0)


def test_failed_simulation_names_the_tile():
    with pytest.raises(UserError, match="ngspice failed on tile g.project.3"):
        run_netlist("* no solution\nv1 a 0 1\nv2 a 0 2\nr1 a 0 1k\n.op\n.end\n", "tile g.project.3")


def test_cli_spice_activations(small_arch, tmp_path, capsys):
    assert main(["spice", "examples/small_system.yaml", "--check", "activations", "-o", str(tmp_path)]) == 0
    assert (tmp_path / "fig5_activations.png").stat().st_size > 10_000
    table = np.loadtxt(tmp_path / "activations" / "tanh.csv", delimiter=",", skiprows=1)
    assert table.shape[1] == 2
    assert "SPICE checks" in capsys.readouterr().out


def test_a_tanh_of_its_own_amplitude_reaches_ngspice_and_torch(tmp_path):
    """`periphery.tanh_amplitude_v` (here V_r: the output saturates at the image range): ngspice's check curve, hdl's
    model and the GAN's activation all give A tanh(v / A), and the default (vdd) is no longer what they compute."""
    import torch

    from amdcgan.gan.layers import CircuitActivation
    from amdcgan.hdl.loader import load_architecture

    text = open("examples/small_system.yaml").read().replace("weight_encoding:", "periphery: {tanh_amplitude_v: 0.5}\n"
                                                              "weight_encoding:", 1)
    source = tmp_path / "tanh.yaml"
    source.write_text(text)
    architecture = load_architecture(source)
    periphery = Periphery.of(architecture)
    assert periphery.tanh_volts == 0.5 == periphery.v_read
    assert main(["spice", str(source), "--check", "activations", "-o", str(tmp_path / "out")]) == 0
    table = np.loadtxt(tmp_path / "out" / "activations" / "tanh.csv", delimiter=",", skiprows=1)
    v_in, v_out = table[:, 0], table[:, 1]
    np.testing.assert_allclose(v_out, 0.5 * np.tanh(v_in / 0.5), atol=1e-9)
    np.testing.assert_allclose(periphery.activation(v_in, "tanh"), v_out, atol=1e-9)
    torch_out = CircuitActivation("tanh", periphery)(torch.tensor(v_in / periphery.v_read, dtype=torch.float64))
    np.testing.assert_allclose(torch_out.numpy() * periphery.v_read, v_out, atol=1e-9)
    assert np.abs(v_out - architecture.technology.vdd_v * np.tanh(v_in / architecture.technology.vdd_v)).max() > 0.5


@pytest.mark.parametrize("encoding", list(WeightEncoding))
@pytest.mark.parametrize("readout", list(Readout))
@pytest.mark.parametrize("wire", [0.5, 5.0])
def test_wire_model_equals_ngspice_on_the_tile_bench(reference_arch, encoding, readout, wire):
    """hdl's tile model with wires (the exact mesh solve inside `electrical.tile_outputs` and `read_power_w`) on
    the whole tile bench ngspice runs: sign switching, row drivers, IVC macromodel or loads, difference amplifier."""
    columns = 4 if encoding is WeightEncoding.differential_pair else 8
    bench = random_bench(reference_arch, 8, columns, encoding, readout, np.random.default_rng(9), "t",
                         wire_ohm=wire)
    spice = read_tile(bench)
    assert relative_error(bench.model_outputs(), spice.outputs) <= 1e-6
    assert relative_error(bench.model_outputs(ideal_wires=True), spice.outputs) > 1e-4  # the wires matter here
    assert bench.model_power_w() == pytest.approx(spice.power_w, rel=1e-6)


def test_irdrop_check_reaches_the_architectures_tiles(reference_arch):
    from amdcgan.sim.checks import irdrop_sizes

    assert max(irdrop_sizes(reference_arch, quick=True)) >= 128
    big = reference_arch.model_copy(update={"tiles": reference_arch.tiles.model_copy(update={"max_rows": 512})})
    assert max(irdrop_sizes(big, quick=True)) == 512
