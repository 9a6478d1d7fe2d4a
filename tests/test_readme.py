"""The README's example architecture loads, and every command it lists exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from amdcgan.cli import app
from amdcgan.hdl.graph import build_graph
from amdcgan.hdl.loader import build_architecture

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_architecture_example_loads():
    block = re.search(r"```yaml\n(.*?)```", README, re.S).group(1)
    arch = build_architecture(yaml.safe_load(block), "README example")
    assert arch.device.levels == 64 and arch.device.variability_sigma == 0.2
    assert build_graph(arch).counts().tiles > 0


def test_readme_lists_every_command():
    import typer.main

    commands = set(typer.main.get_command(app).commands)
    listed = set(re.findall(r"^\| `amdcgan (\w+)", README, re.M))
    assert listed == commands


def test_readme_python_example_runs(capsys):
    """The "Use from Python" block, run as written: a model converted and one in-situ step written as pulses."""
    section = README.split("## Use from Python", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(block, "README.md (Use from Python)", "exec"), {})
    printed = capsys.readouterr().out
    assert "2 crossbar layer(s)" in printed
    statistics = ast.literal_eval(printed.strip().splitlines()[-1])  # the printed dict of write counts
    assert statistics["update_rounds"] == 1 and statistics["total_write_pulses"] > 0
