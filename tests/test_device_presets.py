"""Shipped memristive devices: each names its publication, keeps the write scheme's voltage order, and is usable by
name from an architecture file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from amdcgan.cli import main
from amdcgan.hdl.loader import load_architecture, shipped, shipped_names

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "examples" / "small_system.yaml"
PRESETS = shipped_names("device")


def run(argv: list[str], capsys) -> tuple[int, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def with_device(tmp_path: Path, device: str) -> Path:
    data = yaml.safe_load(SMALL.read_text())
    data["device"] = device
    path = tmp_path / f"small_{device}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_several_published_devices_ship_beside_wo2():
    assert {"wo2", "ag_asi", "alox_hfo2", "pcmo", "taox_tio2"} <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_names_its_publication(name):
    device = shipped("device")[name]
    assert device.name == name
    assert len(device.citation) > 40 and device.citation.count('"') >= 2  # authors and a quoted title


@pytest.mark.parametrize("name", PRESETS)
def test_preset_voltages_suit_a_half_voltage_write(name):
    """A V/2 write scheme puts V_write/2 on half-selected cells: the threshold must lie above it and below V_write,
    and reads below the threshold."""
    device = shipped("device")[name]
    assert device.v_read_v < device.v_threshold_v
    assert device.v_write_v / 2 < device.v_threshold_v < device.v_write_v


@pytest.mark.parametrize("name", PRESETS)
def test_preset_is_usable_by_name(name, tmp_path, capsys):
    path = with_device(tmp_path, name)
    architecture = load_architecture(path)
    assert architecture.device == shipped("device")[name]
    code, text = run(["describe", path], capsys)
    assert code == 0, text


def test_an_override_keeps_the_citation(tmp_path):
    path = with_device(tmp_path, "placeholder")
    data = yaml.safe_load(path.read_text())
    data["device"] = {"base": "pcmo", "levels": 16}
    path.write_text(yaml.safe_dump(data))
    device = load_architecture(path).device
    assert device.levels == 16 and device.citation == shipped("device")["pcmo"].citation


def test_unknown_device_lists_the_presets(tmp_path, capsys):
    code, text = run(["describe", with_device(tmp_path, "hfo2_unknown")], capsys)
    assert code == 2 and "hfo2_unknown" in text
    assert all(name in text for name in PRESETS)


def test_devices_command_lists_every_preset(capsys):
    code, text = run(["devices", "--json"], capsys)
    assert code == 0
    listed = json.loads(text)
    assert sorted(listed) == PRESETS and all(entry["citation"] for entry in listed.values())
    code, text = run(["devices"], capsys)
    assert code == 0 and all(name in text for name in PRESETS)


@pytest.mark.slow
@pytest.mark.parametrize("name", PRESETS)
def test_preset_goes_through_estimate(name, tmp_path, capsys):
    code, text = run(["estimate", with_device(tmp_path, name), "-o", tmp_path / "report"], capsys)
    assert code == 0, text
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report
