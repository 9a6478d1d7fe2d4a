"""`amdcgan estimate`: reports written, and bad inputs answered with one clear message and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from amdcgan.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = str(ROOT / "examples" / "small_system.yaml")

GOOD_CONFIG = """
schema_version: 1
configs:
  - {name: mine, networks: series, layers: series, cycles_per_layer: 3}
"""


def run(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_estimate_writes_three_reports(tmp_path, capsys):
    configs = tmp_path / "mine.yaml"
    configs.write_text(GOOD_CONFIG)
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"update_rounds": 100, "total_write_pulses": 5000}))
    out = tmp_path / "report"
    code, text = run(["estimate", SMALL, "-o", str(out), "--update-configs", str(configs), "--run-stats", str(stats),
                      "--paper-small-system", "--epochs", "10"], capsys)
    assert code == 0, text
    report = json.loads((out / "report.json").read_text())
    assert [row["name"] for row in report["training"]["architecture"]["rows"]] == ["mine"]
    assert report["training"]["architecture"]["inputs"]["update_rounds"] == 60000 * 10
    assert report["training"]["run"]["rounds"] == 100
    assert report["scaling"]["to"]["technology"] == "cmos45"
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5 and "src='figures/" not in html
    markdown = (out / "report.md").read_text()
    assert "0.188" in markdown and "Table II" in markdown
    assert all((out / "figures" / f"{name}.png").stat().st_size > 1000 for name in
               ("area_per_layer", "area_per_kind", "power_per_layer", "power_per_kind", "training_time"))
    assert "mine" in text


BAD_CONFIGS = {
    "unknown field": ("  - {name: a, networks: series, layers: series, cycles_per_layer: 2, speed: 3}", "speed"),
    "missing field": ("  - {name: a, networks: series, cycles_per_layer: 2}", "configs.0.layers"),
    "bad value": ("  - {name: a, networks: sideways, layers: series, cycles_per_layer: 2}", "configs.0.networks"),
    "negative power": (
        "  - {name: a, networks: series, layers: series, cycles_per_layer: 2,\n"
        "     paper: {power_max_w: -1, power_min_w: 0, time_s: {1.0e-8: 1}}}",
        "configs.0.paper.power_max_w",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_update_configuration_file(tmp_path, capsys, case):
    entry, field = BAD_CONFIGS[case]
    path = tmp_path / "configs.yaml"
    path.write_text(f"schema_version: 1\nconfigs:\n{entry}\n")
    code, text = run(["estimate", SMALL, "-o", str(tmp_path / "out"), "--update-configs", str(path)], capsys)
    assert code == 2
    assert str(path) in text and field in text
    assert "Traceback" not in text
    assert not (tmp_path / "out" / "report.json").exists()


BAD_LIBRARIES = {
    "negative power": ("opamp: {power_mw: -7.4, area_um2: 558.3}", "components.opamp.power_mw"),
    "unknown kind": ("flux_capacitor: {power_mw: 1, area_um2: 1}", "flux_capacitor"),
    "missing field": ("opamp: {power_mw: 7.4}", "components.opamp.area_um2"),
    "unknown field": ("opamp: {power_mw: 7.4, area_um2: 558.3, colour: red}", "components.opamp.colour"),
}


@pytest.mark.parametrize("case", sorted(BAD_LIBRARIES))
def test_bad_component_library_file(tmp_path, capsys, case):
    entry, field = BAD_LIBRARIES[case]
    path = tmp_path / "library.yaml"
    path.write_text(f"schema_version: 1\nname: mine\ncomponents:\n  {entry}\n")
    code, text = run(["estimate", SMALL, "-o", str(tmp_path / "out"), "--components", str(path)], capsys)
    assert code == 2
    assert str(path) in text and field in text
    assert "Traceback" not in text


def test_bad_weights_layout_areas_and_run_stats(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    np.savez(run_dir / "conductances.npz", **{"generator.project.main": np.zeros((3, 3)),
                                              "generator.project.second": np.zeros((3, 3))})
    code, text = run(["estimate", SMALL, "-o", str(tmp_path / "a"), "--weights", str(run_dir)], capsys)
    assert code == 2 and "generator.project" in text and "[101, 98]" in text
    code, text = run(["estimate", SMALL, "-o", str(tmp_path / "a"), "--weights", str(tmp_path)], capsys)
    assert code == 2 and "conductances.npz" in text
    areas = tmp_path / "areas.json"
    areas.write_text(json.dumps({"generator.nowhere.0": 10.0}))
    code, text = run(["estimate", SMALL, "-o", str(tmp_path / "b"), "--layout-areas", str(areas)], capsys)
    assert code == 2 and "generator.nowhere.0" in text
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"update_rounds": 10, "pulses": 3}))
    code, text = run(["estimate", SMALL, "-o", str(tmp_path / "c"), "--run-stats", str(stats)], capsys)
    assert code == 2 and str(stats) in text and "pulses" in text
    assert "Traceback" not in text
