"""Bad architecture files: one clear message naming the file, the field and what was expected; exit 2; no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from amdcgan.cli import main

REFERENCE = Path(__file__).resolve().parents[1] / "examples" / "am_dcgan_mnist.yaml"


def _reference() -> dict:
    return yaml.safe_load(REFERENCE.read_text())


def _run(capsys, tmp_path, data) -> str:
    path = tmp_path / "arch.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    assert main(["describe", str(path)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    message = " ".join(captured.err.split())
    assert str(path) in message or path.name in message
    return message


def _mutate(change):
    data = _reference()
    change(data)
    return data


CASES = {
    "malformed YAML": ("name: [unclosed\n  - x: {", ["malformed YAML", "line"]),
    "not a mapping": ("- just\n- a list\n", ["expected a mapping"]),
    "unknown field": (
        _mutate(lambda d: d["generator"]["layers"][0].update(colour="red")),
        ["generator.layers.0.dense.colour", "Extra inputs"],
    ),
    "wrong unit": (
        _mutate(lambda d: d.update(device={"base": "wo2", "r_on": 4000})),
        ["device.r_on", "Extra inputs"],
    ),
    "zero size": (
        _mutate(lambda d: d["discriminator"]["layers"][0].update(filters=0)),
        ["discriminator.layers.0.conv2d.filters", "greater than 0"],
    ),
    "negative tile limit": (
        _mutate(lambda d: d["tiles"].update(max_rows=-4)),
        ["tiles.max_rows", "greater than 0"],
    ),
    "kernel larger than input": (
        _mutate(lambda d: d["discriminator"]["layers"][0].update(kernel=40, padding=0)),
        ["discriminator.layers.0 (conv0)", "kernel 40 is larger"],
    ),
    "shapes do not chain": (
        _mutate(lambda d: d["generator"]["layers"][1].update(shape=[128, 8, 8])),
        ["generator.layers.1", "cannot reshape"],
    ),
    "generator output is not the discriminator input": (
        _mutate(lambda d: d["generator"]["layers"][7].update(filters=3)),
        ["generator", "must equal discriminator.input_shape"],
    ),
    "ron above roff": (
        _mutate(lambda d: d.update(device={"base": "wo2", "r_on_ohm": 30000})),
        ["device", "r_on_ohm (30000.0) must be below r_off_ohm"],
    ),
    "negative resistance": (
        _mutate(lambda d: d.update(device={"base": "wo2", "r_off_ohm": -5})),
        ["device.r_off_ohm", "greater than or equal to 1"],
    ),
    "one level": (
        _mutate(lambda d: d.update(device={"base": "wo2", "levels": 1})),
        ["device.levels", "greater than or equal to 2"],
    ),
    "name with newline": (
        _mutate(lambda d: d["generator"]["layers"][0].update(name="a\n.control")),
        ["generator.layers.0.dense.name", "not a valid name"],
    ),
    "SPICE control word as a name": (
        _mutate(lambda d: d["discriminator"]["layers"][0].update(name="shell")),
        ["discriminator.layers.0.conv2d.name", "SPICE control word"],
    ),
    "duplicate layer names": (
        _mutate(lambda d: d["discriminator"]["layers"][1].update(name="conv0")),
        ["discriminator", "used twice"],
    ),
    "unknown technology": (_mutate(lambda d: d.update(technology="cmos7")), ["technology: 'cmos7'", "shipped"]),
    "unknown layer type": (
        _mutate(lambda d: d["generator"]["layers"][0].update(type="lstm")),
        ["generator.layers.0", "does not match any of the expected tags"],
    ),
    "missing schema version": (_mutate(lambda d: d.pop("schema_version")), ["schema_version", "Field required"]),
    "tanh beyond the supplies": (
        _mutate(lambda d: d.update(periphery={"tanh_amplitude_v": 2.5})),
        ["periphery.tanh_amplitude_v (2.5) exceeds a supply"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file_gets_one_clear_message(case, capsys, tmp_path):
    data, expected = CASES[case]
    message = _run(capsys, tmp_path, data)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_missing_file(capsys, tmp_path):
    assert main(["describe", str(tmp_path / "nowhere.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_failed_command_keeps_what_was_written(capsys, tmp_path):
    output = tmp_path / "tile.cir"
    output.write_text("precious\n")
    assert main(["netlist", str(REFERENCE), "-o", str(output), "--tile", "generator.nosuch.0"]) == 2
    assert "no tile 'generator.nosuch.0'" in capsys.readouterr().err
    assert output.read_text() == "precious\n"
