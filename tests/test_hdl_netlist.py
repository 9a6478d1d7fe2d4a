"""Netlists: plain ngspice parses them, a tile's operating point matches the hand-computed divider, names are safe."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from amdcgan.cli import main
from amdcgan.hdl.floorplan import build_floorplan
from amdcgan.hdl.mapping import plan_tiles
from amdcgan.hdl.schema import schema_texts

ROOT = Path(__file__).resolve().parents[1]
SAFE_LINE = re.compile(r"^(\*.*|\.(include|param|model|subckt|ends|end|op)\b[^\n]*|[a-z][a-z0-9_]* [^\n]*|)$")


def _ngspice(path: Path) -> str:
    result = subprocess.run(["ngspice", "-b", str(path)], capture_output=True, text=True, timeout=120,
                            cwd=path.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower()
    return result.stdout


@pytest.mark.spice
def test_accelerator_netlist_parses_in_plain_ngspice(tmp_path, capsys):
    assert main(["netlist", str(ROOT / "examples/small_system.yaml"), "-o", str(tmp_path / "small.cir"), "--bench"]) == 0
    _ngspice(tmp_path / "small.cir")


@pytest.mark.spice
def test_tile_operating_point_matches_hand_divider(tmp_path, small_arch):
    # D.conv0: 10 rows, 2 columns, load-memristor readout, every device at g_mid, every row at v_read/2:
    # each column node sits at V = (10 g V_row) / (10 g + g) by Kirchhoff's current law.
    path = tmp_path / "tile.cir"
    assert main(["netlist", str(ROOT / "examples/small_system.yaml"), "-o", str(path),
                 "--tile", "discriminator.conv0.0"]) == 0
    out = _ngspice(path)
    v_row = small_arch.device.v_read_v / 2
    expected = 10 * v_row / 11
    values = dict(re.findall(r"^\s*(discriminator_conv0_0_c_\d+)\s+(\S+)", out, re.M))
    assert len(values) == 2
    for value in values.values():
        assert float(value) == pytest.approx(expected, rel=1e-6)


def test_netlist_lines_are_all_safe(tmp_path, reference_arch):
    from amdcgan.hdl.netlist import accelerator_netlist

    text = accelerator_netlist(plan_tiles(reference_arch), "lib.sp")
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
    # D.dense2: 99 rows at v_read/2 on g_mid devices into a virtual ground; the IVC's feedback maps full scale
    # (99 rows at v_read on g_on) to VDD, so V_out = -VDD * (v_read/2 * g_mid) / (v_read * g_on).
    path = tmp_path / "dense.cir"
    assert main(["netlist", str(ROOT / "examples/small_system.yaml"), "-o", str(path),
                 "--tile", "discriminator.dense2.0"]) == 0
    out = _ngspice(path)
    device = small_arch.device
    g_mid = (device.g_on_s + device.g_off_s) / 2
    expected = -small_arch.technology.vdd_v * 0.5 * g_mid / device.g_on_s
    value = re.search(r"^\s*discriminator_dense2_0_dense2_opamp_o_0\s+(\S+)", out, re.M).group(1)
    assert float(value) == pytest.approx(expected, rel=1e-6)
    signs = re.findall(r"^\s*discriminator_dense2_0_sign_ctl_\d+\s+(\S+)", out, re.M)
    assert len(signs) == 99 and all(float(v) == pytest.approx(small_arch.technology.vdd_v) for v in signs)
