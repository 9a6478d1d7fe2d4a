"""Every command over both weight encodings, both shipped technologies and tile limits that are not powers of two,
on a small architecture; and the work estimates against what the commands then make."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import yaml

from amdcgan.cli import main
from amdcgan.hdl.loader import load_architecture
from amdcgan.hdl.mapping import plan_tiles
from amdcgan.hdl.work import estimate_work

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "examples" / "small_system.yaml"
ENCODINGS = ("sign_crossbar", "differential_pair")
TECHNOLOGIES = (("cmos180", "table1_180nm"), ("cmos45", "table1_45nm"))
TILES = ((37, 13), (100, 6))
MATRIX = list(itertools.product(ENCODINGS, TECHNOLOGIES, TILES))
TRAINING = [pytest.param(encoding, technology, id=f"{encoding}-{technology[0]}")
            for encoding, technology in itertools.product(ENCODINGS, TECHNOLOGIES)]


def _label(case) -> str:
    encoding, (technology, _), (rows, columns) = case
    return f"{encoding}-{technology}-{rows}x{columns}"


def _write_variant(folder: Path, encoding: str, technology: tuple[str, str], tiles: tuple[int, int]) -> Path:
    data = yaml.safe_load(SMALL.read_text())
    data.update(weight_encoding=encoding, technology=technology[0], components=technology[1],
                tiles={"max_rows": tiles[0], "max_columns": tiles[1]})
    path = folder / "variant.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(params=MATRIX, ids=[_label(case) for case in MATRIX])
def variant(request, tmp_path) -> Path:
    return _write_variant(tmp_path, *request.param)


def _ok(argv: list[str]) -> None:
    assert main(argv) == 0, argv


def test_describe_graph_netlist_and_estimate(variant, tmp_path, capsys):
    architecture = load_architecture(variant)
    plan = plan_tiles(architecture)
    work = estimate_work(architecture)
    assert work.tiles == len(plan.tiles())
    assert work.memristors == sum(tile.crossbar_devices + tile.sign_devices for tile in plan.tiles())
    _ok(["describe", str(variant), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["total"]["tiles"] == work.tiles
    _ok(["graph", str(variant), "-o", str(tmp_path / "g.json")])
    _ok(["graph", str(variant), "-o", str(tmp_path / "g.graphml")])
    graph = json.loads((tmp_path / "g.json").read_text())
    assert sum(node["kind"] == "crossbar" for node in graph["nodes"]) == work.tiles
    _ok(["netlist", str(variant), "-o", str(tmp_path / "n.cir")])
    lines = len((tmp_path / "n.cir").read_text().splitlines())
    assert work.netlist_lines / 3 <= lines <= 2 * work.netlist_lines  # an estimate, within a small factor
    first = plan.tiles()[-1].id
    _ok(["netlist", str(variant), "-o", str(tmp_path / "t.cir"), "--tile", first])
    _ok(["estimate", str(variant), "-o", str(tmp_path / "e"), "--scale-to", "none"])
    assert json.loads((tmp_path / "e" / "report.json").read_text())["architecture"] == "small_system"


def test_layout_is_drawn_and_passes_the_rules(variant, tmp_path, capsys):
    architecture = load_architecture(variant)
    tile = plan_tiles(architecture).tiles()[-1].id
    _ok(["layout", str(variant), "-o", str(tmp_path / "c.gds")])
    assert "design rules: 0 violation(s)" in capsys.readouterr().out
    _ok(["layout", str(variant), "-o", str(tmp_path / "t.gds"), "--tile", tile, "--png", str(tmp_path / "t.png")])
    assert "design rules: 0 violation(s)" in capsys.readouterr().out
    assert (tmp_path / "t.png").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.parametrize("encoding, technology", TRAINING)
def test_training_in_situ(encoding, technology, tmp_path):
    variant = _write_variant(tmp_path, encoding, technology, TILES[0])
    _ok(["train", str(variant), "-o", str(tmp_path / "run"), "--limit", "64", "--batch", "32", "--epochs", "1"])
    _ok(["train", str(variant), "-o", str(tmp_path / "run"), "--limit", "64", "--batch", "32", "--epochs", "2",
         "--resume"])
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["epochs"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("encoding, technology", TRAINING)
def test_sweep(encoding, technology, tmp_path):
    variant = _write_variant(tmp_path, encoding, technology, TILES[0])
    _ok(["sweep", str(variant), "-o", str(tmp_path / "sweep"), "--levels", "4", "--limit", "64", "--batch", "32"])
    points = json.loads((tmp_path / "sweep" / "sweep_levels.json").read_text())["points"]
    assert [point["value"] for point in points] == [4]


@pytest.mark.spice
def test_spice_dc(variant, tmp_path):
    _ok(["spice", str(variant), "--check", "dc", "--quick", "-o", str(tmp_path / "spice")])


def test_backends_do_not_import_the_command_line():
    """The command line hands each backend what it needs (`register(app, context)`); no backend module imports
    `amdcgan.cli`, not even inside a function."""
    import ast

    offenders = []
    for backend in ("estimators", "gan", "layout", "sim", "hdl"):
        for source in (ROOT / backend).glob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
                if "amdcgan.cli" in names:
                    offenders.append(f"{source.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
