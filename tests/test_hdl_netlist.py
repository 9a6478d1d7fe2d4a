"""Netlists: plain ngspice runs them, a tile's outputs match the hand-computed divider and IVC, names are safe."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from amdcgan.cli import main
from amdcgan.hdl.floorplan import build_floorplan
from amdcgan.hdl.mapping import plan_tiles
from amdcgan.hdl.schema import schema_texts

ROOT = Path(__file__).resolve().parents[1]
SAFE_LINE = re.compile(r"^(\*.*|\.(options|op|dc|print|subckt|ends|end)\b[^\n]*|[a-z][a-z0-9_]* [^\n]*|)$")


def _ngspice(path: Path) -> str:
    result = subprocess.run(["ngspice", "-b", str(path)], capture_output=True, text=True, timeout=120,
                            cwd=path.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower()
    return result.stdout


@pytest.mark.spice
@pytest.mark.parametrize("bench", [[], ["--bench"]], ids=["at_rest", "bench"])
def test_accelerator_netlist_runs_in_plain_ngspice(tmp_path, bench):
    assert main(["netlist", str(ROOT / "examples/small_system.yaml"), "-o", str(tmp_path / "small.cir"), *bench]) == 0
    _ngspice(tmp_path / "small.cir")


def _mid_range_conductance(device) -> float:
    """The default netlist's devices: every weight at +w_max / 2, i.e. g_on / 2 rounded to the nearest level."""
    step = (device.g_on_s - device.g_off_s) / (device.levels - 1)
    return device.g_off_s + round((device.g_on_s / 2 - device.g_off_s) / step) * step


def _tile_outputs(path: Path, tile: str, columns: int) -> np.ndarray:
    """Column k of a sign-crossbar tile from sweep step k, run in process."""
    from amdcgan.sim.runner import run_netlist

    vectors = run_netlist(path.read_text(), tile)
    return np.array([vectors[f"v({tile}_o_{k})"][k] for k in range(columns)])


def _bench_rows(rows: int, v_read: float) -> np.ndarray:
    """The bench's row voltages: row r at V_r sin(r + 1), the bias row (last) at V_r."""
    return np.append(v_read * np.sin(np.arange(rows - 1) + 1.0), v_read)


@pytest.mark.spice
def test_tile_outputs_match_hand_divider(tmp_path, small_arch):
    # D.conv0: 10 rows (the last the bias), 2 columns, load memristor g_L = g_on, every device at G with sign +:
    # each column node sits at V = G sum(x) / (10 G + g_L) by Kirchhoff's current law.
    path = tmp_path / "tile.cir"
    assert main(["netlist", str(ROOT / "examples/small_system.yaml"), "-o", str(path),
                 "--tile", "discriminator.conv0.0"]) == 0
    device = small_arch.device
    g = _mid_range_conductance(device)
    expected = g * _bench_rows(10, device.v_read_v).sum() / (10 * g + device.g_on_s)
    assert np.allclose(_tile_outputs(path, "discriminator_conv0_0", 2), expected, rtol=1e-6)


@pytest.mark.parametrize("bench", [False, True])
def test_netlist_lines_are_all_safe(small_arch, bench):
    from amdcgan.hdl.netlist import accelerator_netlist

    text = accelerator_netlist(plan_tiles(small_arch), bench=bench)
    assert ".control" not in text and "shell" not in text
    for line in text.splitlines():
        assert SAFE_LINE.match(line), line


def test_committed_schema_is_current():
    for name, text in schema_texts().items():
        committed = ROOT / "schema" / name
        assert committed.exists(), f"run `amdcgan schema -o schema` ({name} missing)"
        assert json.loads(committed.read_text()) == json.loads(text), f"schema/{name} is stale: run `amdcgan schema`"


def test_floorplan_blocks_hold_their_circuits(reference_arch):
    plan = plan_tiles(reference_arch)
    floorplan = build_floorplan(plan)
    library, pitch = reference_arch.components.components, reference_arch.technology.memristor_pitch_um
    for placement, tile in zip(floorplan.tiles, plan.tiles()):
        assert placement.tile_id == tile.id
        for block in placement.blocks:
            drawn = floorplan.um2(block.rect.area)
            if block.kind in ("crossbar", "sign_crossbar"):
                assert drawn == pytest.approx(block.count * pitch * pitch)
            elif block.kind in library:
                assert drawn >= block.count * library[block.kind].area_um2 - 1e-6
            inside = (0 <= block.rect.x and block.rect.x + block.rect.width <= placement.rect.width
                      and 0 <= block.rect.y and block.rect.y + block.rect.height <= placement.rect.height)
            assert inside, (placement.tile_id, block.name)


@pytest.mark.spice
def test_dense_tile_ivc_output_matches_hand_value(tmp_path, small_arch):
    # D.dense2: 99 rows on devices at G (sign +) into the IVC's summing node. KCL with open-loop gain A, feedback
    # R_f = (VDD - headroom) / (99 V_r g_on): V_out = G sum(x) / (1/R_f + (99 G + 1/R_f) / A).
    path = tmp_path / "dense.cir"
    assert main(["netlist", str(ROOT / "examples/small_system.yaml"), "-o", str(path),
                 "--tile", "discriminator.dense2.0"]) == 0
    device, choice = small_arch.device, small_arch.periphery
    g = _mid_range_conductance(device)
    feedback_s = 99 * device.v_read_v * device.g_on_s / (small_arch.technology.vdd_v - choice.opamp_headroom_v)
    expected = g * _bench_rows(99, device.v_read_v).sum() / (feedback_s + (99 * g + feedback_s) / choice.opamp_gain)
    assert _tile_outputs(path, "discriminator_dense2_0", 1)[0] == pytest.approx(expected, rel=1e-6)
    out = _ngspice(path)
    assert "No. of Data Rows : 1" in out


@pytest.mark.spice
def test_sign_reads_follow_the_sign_devices(tmp_path, small_arch):
    # With trained weights of mixed signs the thresholding circuits read each column's signs: a column of all
    # negative weights gives the inverted divider of an all-positive one.
    from amdcgan.fileio import write_bytes_atomic
    from amdcgan.hdl.electrical import RUN_CONDUCTANCES, Cell, encode_weights, save_run_conductances

    plan = plan_tiles(small_arch)
    layers = {}
    for layer in plan.layers():
        weights = np.full((layer.weight_rows, layer.weight_columns), 0.5)
        weights[:, 1::2] = -0.5
        layers[f"{layer.network}.{layer.name}"] = encode_weights(weights, Cell.of(small_arch.device, layer.encoding),
                                                                 1.0)
    run = tmp_path / "run"
    write_bytes_atomic(run / RUN_CONDUCTANCES, save_run_conductances(layers, 1.0))
    path = tmp_path / "tile.cir"
    assert main(["netlist", str(ROOT / "examples/small_system.yaml"), "-o", str(path), "--tile",
                 "discriminator.conv0.0", "--weights", str(run)]) == 0
    positive, negative = _tile_outputs(path, "discriminator_conv0_0", 2)
    assert negative == pytest.approx(-positive, rel=1e-6) and positive > 0


def test_weights_of_another_architecture_are_refused(tmp_path, small_arch, reference_arch):
    from amdcgan.fileio import write_bytes_atomic
    from amdcgan.hdl.electrical import RUN_CONDUCTANCES, save_run_conductances
    from amdcgan.hdl.netlist import default_conductances

    run = tmp_path / "run"
    write_bytes_atomic(run / RUN_CONDUCTANCES, save_run_conductances(default_conductances(
        plan_tiles(small_arch)), 1.0))
    assert main(["netlist", str(ROOT / "examples/am_dcgan_mnist.yaml"), "-o", str(tmp_path / "x.cir"),
                 "--weights", str(run)]) == 2
    assert main(["netlist", str(ROOT / "examples/small_system.yaml"), "-o", str(tmp_path / "x.cir"),
                 "--weights", str(tmp_path / "nowhere")]) == 2
    assert not (tmp_path / "x.cir").exists()
