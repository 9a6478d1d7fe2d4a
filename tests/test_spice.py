"""ngspice against independent truth: the numpy tile model, KCL by hand, the write model's own equation."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from amdcgan.cli import main
from amdcgan.errors import UserError
from amdcgan.hdl.spec import Readout, WeightEncoding
from amdcgan.sim import runner
from amdcgan.sim.activations import DATA_DIR
from amdcgan.sim.checks import (
    dc_check, leakage_circuit, nominal_path, path_windows, random_bench, relative_error, run_tile, variability_check,
)
from amdcgan.sim.encoding import Periphery
from amdcgan.sim.memristor import pulse_response
from amdcgan.sim.netlist import Circuit
from amdcgan.sim.path import path_circuit
from amdcgan.sim.runner import run_circuit
from amdcgan.sim.tile_model import activation, tile_outputs

pytestmark = pytest.mark.spice


def _agreement(arch, rows, columns, encoding, readout, seed, periphery=Periphery()):
    bench = random_bench(arch, rows, columns, encoding, readout, np.random.default_rng(seed), "t", periphery)
    model = tile_outputs(bench.inputs, bench.conductances, readout, arch.device, arch.technology, periphery)[0]
    return relative_error(run_tile(bench), model)


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
    low_gain = Periphery(opamp_gain=50.0, feedback_ohm=2000.0)  # outputs clip at the swing for many columns
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
        assert netlist.with_name(f"{netlist.stem}.data.txt").stat().st_size > 0


def test_monte_carlo_repeats_with_the_same_seed(small_arch, tmp_path):
    first = variability_check(small_arch, tmp_path / "a", quick=True, seed=7)["table"]
    again = variability_check(small_arch, tmp_path / "b", quick=True, seed=7)["table"]
    other = variability_check(small_arch, tmp_path / "c", quick=True, seed=8)["table"]
    assert first == again
    assert first != other
    assert first[0][1:] == [0.0, 0.0, 0.0, 0.0]  # no variability, no error


def test_path_conv_outputs_match_the_tile_model(small_arch):
    devices, positions = nominal_path(small_arch, 2, np.random.default_rng(0))
    windows = path_windows(small_arch, devices, positions, 1, np.random.default_rng(1))
    circuit, nodes = path_circuit("path", [devices], windows, small_arch.device, small_arch.technology)
    vectors = run_circuit(circuit, "path")
    spice = np.array([vectors[f"v({node})"][0] for node in nodes[0]["conv_output"]])
    model = tile_outputs(windows[0], devices.conv, Readout.load_memristor, small_arch.device, small_arch.technology,
                         Periphery(load_conductance_s=small_arch.device.g_on_s))
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
    tiny = _agreement(reference_arch, 8, 8, WeightEncoding.differential_pair, Readout.opamp_ivc, 6,
                      Periphery(wire_ohm=1e-6))
    small = _agreement(reference_arch, 8, 8, WeightEncoding.differential_pair, Readout.opamp_ivc, 6,
                       Periphery(wire_ohm=0.5))
    large = _agreement(reference_arch, 8, 8, WeightEncoding.differential_pair, Readout.opamp_ivc, 6,
                       Periphery(wire_ohm=5.0))
    assert tiny < 1e-4 < small < large


def test_write_model_threshold_and_step(small_arch):
    device = small_arch.device
    step = 1 / (device.levels - 1)
    below = pulse_response(device, 0.95 * device.v_threshold_v, 3, 0.5)["states"]
    read = pulse_response(device, device.v_read_v, 3, 0.5)["states"]
    assert np.allclose(below, 0.5) and np.allclose(read, 0.5)
    up = pulse_response(device, device.v_write_v, 4, 0.5)
    assert np.allclose(np.diff(up["states"]), step, rtol=5e-3)
    down = pulse_response(device, -device.v_write_v, 4, 0.5)["states"]
    assert np.allclose(np.diff(down), -step, rtol=5e-3)
    # The energy of one pulse lies between V^2 t / R_off and V^2 t / R_on, near V^2 g(x) t at the state it starts.
    energy = up["energy_j"][0]
    g_start = device.g_off_s + 0.5 * (device.g_on_s - device.g_off_s)
    assert energy == pytest.approx(device.v_write_v ** 2 * g_start * device.t_write_s, rel=0.02)


def test_write_model_stays_within_bounds(small_arch):
    device = small_arch.device
    top = pulse_response(device, device.v_write_v, 3, 1.0 - 0.5 / (device.levels - 1))["states"]
    bottom = pulse_response(device, -device.v_write_v, 3, 0.2 / (device.levels - 1))["states"]
    # The window stops the state within a hundredth of a level step of each bound (one time step of overshoot).
    tolerance = 0.01 / (device.levels - 1)
    assert top.max() <= 1.0 + tolerance and top[-1] == pytest.approx(1.0, abs=tolerance)
    assert bottom.min() >= -tolerance and bottom[-1] == pytest.approx(0.0, abs=tolerance)


def test_default_activation_tables_match_the_circuit_model(small_arch):
    for function in ("tanh", "relu", "relu_switch"):
        table = np.loadtxt(DATA_DIR / f"{function}.csv", delimiter=",", skiprows=1)
        assert np.allclose(table[:, 1], activation(table[:, 0], function, small_arch.technology), atol=1e-6)
    off = np.loadtxt(DATA_DIR / "relu_switch_off.csv", delimiter=",", skiprows=1)
    assert np.allclose(off[:, 1], 0)


def test_missing_ngspice_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(runner.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="apt-get install ngspice libngspice0-dev"):
        run_circuit(Circuit("x", ["r1 a 0 1"], ["v(a)"]), "tile x")


def test_runaway_simulation_stops_at_the_time_limit_naming_the_tile():
    circuit = Circuit("runaway", ["v1 a 0 sin(0 1 1e9)", "r1 a 0 1k"], ["v(a)"], analysis="tran 1e-13 1e-3")
    with pytest.raises(UserError, match="tile d.conv0.0 within 0.5 s"):
        run_circuit(circuit, "tile d.conv0.0", timeout_s=0.5)


def test_failed_simulation_names_the_tile():
    circuit = Circuit("no solution", ["v1 a 0 1", "v2 a 0 2", "r1 a 0 1k"], ["v(a)"])
    with pytest.raises(UserError, match="ngspice failed on tile g.project.3"):
        run_circuit(circuit, "tile g.project.3")


def test_cli_spice_activations(small_arch, tmp_path, capsys):
    assert main(["spice", "examples/small_system.yaml", "--check", "activations", "-o", str(tmp_path)]) == 0
    assert (tmp_path / "fig5_activations.png").stat().st_size > 10_000
    table = np.loadtxt(tmp_path / "activations" / "tanh.csv", delimiter=",", skiprows=1)
    assert table.shape[1] == 2
    assert "SPICE checks" in capsys.readouterr().out
