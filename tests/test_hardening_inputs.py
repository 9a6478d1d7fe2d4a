"""Hostile inputs: every one ends in one message naming the file, field, option or path, exit code 2, no
traceback, within moments; a bad output path is refused before any work starts."""

from __future__ import annotations

import copy
import gzip
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amdcgan.cli import main
from amdcgan.hdl.loader import load_architecture
from amdcgan.hdl.spec import Architecture, Memristor, Technology
from amdcgan.hdl.schema import schema_texts

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "examples" / "am_dcgan_mnist.yaml"
SMALL = ROOT / "examples" / "small_system.yaml"


def _refused(capsys, argv: list[str], *fragments: str) -> str:
    started = time.perf_counter()
    assert main(argv) == 2
    assert time.perf_counter() - started < 20  # refused at once, not after the work
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    message = " ".join(captured.err.split())
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def _architecture(tmp_path: Path, change, name: str = "arch.yaml") -> Path:
    data = yaml.safe_load(REFERENCE.read_text())
    change(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


# -- output paths (one message naming the path, exit 2) -------------------------------------------------------------

@pytest.mark.parametrize("command", [
    ["graph", str(SMALL)], ["netlist", str(SMALL)], ["layout", str(SMALL)],
])
def test_output_file_that_is_a_folder_or_a_device(command, capsys, tmp_path):
    _refused(capsys, [*command, "-o", str(tmp_path)], str(tmp_path), "is a folder")
    _refused(capsys, [*command, "-o", "/dev/null"], "/dev/null", "not a regular file")
    _refused(capsys, [*command, "-o", ""], "an output file name is needed")


@pytest.mark.parametrize("target", ["/proc/amdcgan_test.json", "/proc/self/nowhere/x.json"])
def test_output_file_where_nothing_can_be_written(target, capsys):
    _refused(capsys, ["graph", str(SMALL), "-o", target], target.rsplit("/", 1)[0])


def test_overlong_output_name(capsys, tmp_path):
    long_name = tmp_path / ("a" * 300 + ".json")
    _refused(capsys, ["graph", str(SMALL), "-o", str(long_name)], "longer than 255 bytes")
    # A name that fits is written, although its temporary name is formed from it.
    fitting = tmp_path / ("b" * 250 + ".json")
    assert main(["graph", str(SMALL), "-o", str(fitting)]) == 0
    assert fitting.is_file() and sorted(os.listdir(tmp_path)) == [fitting.name]


@pytest.mark.parametrize("command", [
    ["schema"], ["estimate", str(SMALL)], ["train", str(SMALL)], ["sweep", str(SMALL), "--levels", "4"],
    ["spice", str(SMALL)], ["reproduce", "--only", "estimate"],
])
def test_output_folder_that_is_a_file(command, capsys, tmp_path):
    victim = tmp_path / "passwd"
    victim.write_text("keep\n")
    _refused(capsys, [*command, "-o", str(victim)], str(victim), "not a folder")
    assert victim.read_text() == "keep\n"


# -- unbounded work and unbounded reads -------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["describe"], ["graph", "-o", "g.json"], ["netlist", "-o", "n.cir"],
                                     ["layout", "-o", "c.gds"], ["estimate", "-o", "e"]])
def test_one_device_tiles_are_refused_with_the_estimate(command, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    arch = _architecture(tmp_path, lambda d: d.update(tiles={"max_rows": 1, "max_columns": 1}))
    argv = [command[0], str(arch), *command[1:]]
    _refused(capsys, argv, "1,052,802 tiles", "limit of 100,000", "--max-work 10.6")
    assert sorted(os.listdir(tmp_path)) == ["arch.yaml"]


def test_netlist_lines_are_bounded_and_the_limit_can_be_raised(capsys, tmp_path):
    # A 1001 x 39,200 projection, with its sign crossbar: about 78 million memristor lines.
    def change(data):
        data["generator"]["input_shape"] = [1000]
        data["tiles"] = {"max_rows": 4096, "max_columns": 65536}
        data["generator"]["layers"][0]["units"] = 800 * 7 * 7
        data["generator"]["layers"][1]["shape"] = [800, 7, 7]
    arch = _architecture(tmp_path, change)
    message = _refused(capsys, ["netlist", str(arch), "-o", str(tmp_path / "n.cir")], "netlist lines", "--max-work")
    needed = message.rsplit("--max-work ", 1)[1].split()[0]
    assert float(needed) > 1
    assert main(["describe", str(arch), "--max-work", needed]) == 0


@pytest.mark.parametrize("change", [
    lambda d: d["discriminator"]["layers"][0].update(filters=100000),
    lambda d: d["generator"].update(input_shape=[100_000]),  # 627 million weights in the projection
])
def test_training_an_absurd_network_is_refused_before_allocating(change, capsys, tmp_path):
    arch = _architecture(tmp_path, change)
    _refused(capsys, ["train", str(arch), "-o", str(tmp_path / "run")], "tensor values", "--max-work")
    assert not (tmp_path / "run").exists()


def test_devices_fifos_and_huge_files_are_not_read(capsys, tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    _refused(capsys, ["describe", str(fifo)], str(fifo), "not a regular file")
    _refused(capsys, ["describe", "/dev/zero"], "/dev/zero", "not a regular file")
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as handle:
        handle.truncate(64 * 2**20)
    _refused(capsys, ["describe", str(huge)], str(huge), "more than the")
    for kind in ("technology", "device", "components"):
        arch = _architecture(tmp_path, lambda d: d.update({kind: "/dev/zero"}))
        _refused(capsys, ["describe", str(arch)], "/dev/zero", "not a regular file")
    for option in ("--layout-areas", "--run-stats"):
        _refused(capsys, ["estimate", str(SMALL), "-o", str(tmp_path / "e"), option, "/dev/zero"], "/dev/zero")
        _refused(capsys, ["estimate", str(SMALL), "-o", str(tmp_path / "e"), option, str(fifo)], str(fifo))
    _refused(capsys, ["train", str(SMALL), "-o", str(tmp_path / "r"), "--activation", "tanh=/dev/zero"], "/dev/zero")


def _idx(path: Path, count: int, data: bytes | None = None, compress: bool = True, images: bool = True) -> None:
    header = np.array([0x803 if images else 0x801, count, 28, 28] if images else [0x801, count], ">i4").tobytes()
    payload = header + (data if data is not None else bytes(count * (784 if images else 1)))
    path.write_bytes(gzip.compress(payload, compresslevel=1) if compress else payload)


def test_gzip_bomb_in_the_data_folder_is_not_expanded(capsys, tmp_path):
    data = tmp_path / "mnist"
    data.mkdir()
    # A valid header announcing 10 images, followed by 256 MiB of zeros that compress to a few hundred kB.
    _idx(data / "train-images-idx3-ubyte.gz", 10, bytes(10 * 784 + 256 * 2**20))
    _idx(data / "train-labels-idx1-ubyte.gz", 10, images=False)
    _refused(capsys, ["train", str(SMALL), "-o", str(tmp_path / "r"), "--data", str(data)],
             "train-images-idx3-ubyte.gz", "corrupt", "more than its header announces")
    # A header announcing more images than the cap is refused before reading them.
    _idx(data / "train-images-idx3-ubyte.gz", 3_000_000, b"")
    _refused(capsys, ["train", str(SMALL), "-o", str(tmp_path / "r"), "--data", str(data)],
             "3,000,000 items", "--max-work")


def test_zip_bomb_of_conductances_is_not_unpacked(capsys, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    bomb = run / "conductances.npz"
    np.savez_compressed(bomb, **{"generator.project.main": np.zeros(80 * 2**20, np.uint8)})
    assert bomb.stat().st_size < 2**20
    _refused(capsys, ["estimate", str(SMALL), "-o", str(tmp_path / "e"), "--weights", str(run)],
             str(bomb), "unpack to")


def test_data_files_with_no_images(capsys, tmp_path):
    data = tmp_path / "mnist"
    data.mkdir()
    _idx(data / "train-images-idx3-ubyte", 0, compress=False)
    _idx(data / "train-labels-idx1-ubyte", 0, compress=False, images=False)
    _refused(capsys, ["train", str(SMALL), "-o", str(tmp_path / "r"), "--data", str(data)], "holds no images")


@pytest.mark.parametrize("content", [b"v_in,v_out\n0,0\n1,inf\n", b"v_in,v_out\n0,0\n0,1\n",
                                     b"\xff\xfe\x00SECRET", b"v_in,v_out\nSECRET,1\n2,3\n"])
def test_bad_activation_tables_are_refused_before_training(content, capsys, tmp_path):
    table = tmp_path / "tanh.csv"
    table.write_bytes(content)
    message = _refused(capsys, ["train", str(SMALL), "-o", str(tmp_path / "r"), "--activation", f"tanh={table}"],
                       str(table), "activation table")
    assert "SECRET" not in message and not (tmp_path / "r").exists()


# -- non-finite and absurd values -------------------------------------------------------------------------------------

@pytest.mark.parametrize("field, override, fragment", [
    ("device", {"base": "wo2", "r_on_ohm": float("inf")}, "device.r_on_ohm: Input should be a finite number"),
    ("device", {"base": "wo2", "r_off_ohm": float("nan")}, "device.r_off_ohm: Input should be a finite number"),
    ("device", {"base": "wo2", "r_on_ohm": 1e-300}, "device.r_on_ohm: Input should be greater than or equal to 1"),
    ("device", {"base": "wo2", "t_write_s": 1e300}, "device.t_write_s: Input should be less than or equal to 1"),
    ("technology", {"base": "cmos180", "memristor_pitch_um": float("inf")}, "technology.memristor_pitch_um"),
    ("technology", {"base": "cmos180", "vdd_v": 1e9}, "technology.vdd_v"),
    ("technology", {"base": "cmos45", "tile_spacing_um": float("-inf")}, "technology.tile_spacing_um"),
    ("components", {"base": "table1_180nm", "components": {"opamp": {"power_mw": 1, "area_um2": float("inf")}}},
     "components.components.opamp.area_um2"),
    ("components", {"base": "table1_45nm", "components": {"relu": {"power_mw": float("nan"), "area_um2": 3}}},
     "components.components.relu.power_mw"),
])
def test_nested_library_fields_are_finite_and_in_range(field, override, fragment, capsys, tmp_path):
    arch = _architecture(tmp_path, lambda d: d.update({field: override}))
    _refused(capsys, ["describe", str(arch)], fragment)


def test_physical_ranges_are_in_the_json_schema():
    assert schema_texts() == {path.name: path.read_text() for path in (ROOT / "schema").glob("*.json")}
    device = Memristor.model_json_schema()["properties"]
    assert device["r_on_ohm"]["minimum"] == 1 and device["r_on_ohm"]["maximum"] == 1e12
    technology = Technology.model_json_schema()["properties"]
    assert {"minimum", "maximum"} <= set(technology["node_nm"])


def test_strings_are_not_numbers_and_yaml_12_floats_are(capsys, tmp_path):
    arch = _architecture(tmp_path, lambda d: d["generator"]["layers"][0].update(units="98"))
    _refused(capsys, ["describe", str(arch)], "generator.layers.0.dense.units", "valid integer")
    text = REFERENCE.read_text().replace("device: wo2", "device: {base: wo2, r_on_ohm: 4e3}")
    (tmp_path / "floats.yaml").write_text(text)
    assert load_architecture(tmp_path / "floats.yaml").device.r_on_ohm == 4000.0


def test_duplicate_keys_are_rejected(capsys, tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text(SMALL.read_text() + "\nname: again\n")
    _refused(capsys, ["describe", str(path)], str(path), "a key is given twice")


@pytest.mark.parametrize("text", [
    "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "".join("  " * level + f"k{level}:\n" for level in range(300)),
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)),
])
def test_deep_or_exploding_yaml_is_refused(text, capsys, tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    _refused(capsys, ["describe", str(path)], str(path), "malformed YAML")


def test_no_content_of_a_foreign_file_is_quoted(capsys, tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$SECRETHASH:19000:0:99999:7:::\nalice: x: SECRETALICE\n'SECRETQUOTE\n")
    arch = _architecture(tmp_path, lambda d: d.update(device=str(secret)))
    message = _refused(capsys, ["describe", str(arch)], str(secret))
    assert "SECRET" not in message and "alice" not in message
    for text in ("SECRETSTRING: [unclosed\n", "\tSECRETTAB: 1\n", "'SECRETQUOTE\n", "- SECRETLIST\n",
                 "SECRETKEY: SECRETVALUE\nother: SECRETOTHER\n"):
        secret.write_text(text)
        assert "SECRET" not in _refused(capsys, ["describe", str(arch)], str(secret))


def test_report_markdown_carries_no_raw_html(capsys, tmp_path):
    script = "<script>alert(1)</script>"
    arch = _architecture(tmp_path, lambda d: d.update(
        components={"base": "table1_180nm", "components": {"opamp": {"power_mw": 1, "area_um2": 10,
                                                                       "source": script}}}))
    assert main(["estimate", str(arch), "-o", str(tmp_path / "e"), "--scale-to", "none"]) == 0
    for name in ("report.md", "report.html"):
        text = (tmp_path / "e" / name).read_text()
        assert "alert(1)" in text and "<script>" not in text
    assert "Infinity" not in (tmp_path / "e" / "report.json").read_text()


# -- options validated before any work --------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, fragment", [
    (["train", str(SMALL), "--seed", "-1"], "--seed"),
    (["train", str(SMALL), "--seed", str(2**64)], "--seed"),
    (["spice", str(SMALL), "--seed", "-5"], "--seed"),
    (["reproduce", "--seed", "-1"], "--seed"),
    (["sweep", str(SMALL), "--epochs", "-1,1"], "--epochs -1"),
    (["sweep", str(SMALL), "--levels", "4,1"], "--levels 1"),
    (["sweep", str(SMALL), "--variability", "0.1,0.1"], "given more than once"),
    (["sweep", str(SMALL), "--variability", "0.1,7"], "--variability 7"),
    (["describe", str(SMALL), "--max-work", "0"], "--max-work"),
    (["describe", str(SMALL), "--max-work", "nan"], "--max-work"),
])
def test_bad_options_are_refused_before_work(argv, fragment, capsys, tmp_path):
    if argv[0] != "describe":
        argv = [*argv, "-o", str(tmp_path / "out")]
    started = time.perf_counter()
    assert main(argv) == 2
    assert time.perf_counter() - started < 20
    captured = capsys.readouterr()
    assert fragment in captured.err and "Traceback" not in captured.err
    assert not (tmp_path / "out").exists()


def test_reference_architectures_load_within_the_new_ranges(reference_arch, small_arch):
    for architecture in (reference_arch, small_arch):
        assert isinstance(architecture, Architecture)
    assert copy.deepcopy(reference_arch) == reference_arch


# -- a fuzzer over the architecture file, nested library overrides included -------------------------------------------

HOSTILE = [float("inf"), float("-inf"), float("nan"), 1e-300, 1e300, -1.0, 0, 0.0, 2**70, -(2**70), "98", "", None,
           True, [], {}, [1, 2], {"base": "wo2"}, "a\n.control", "<script>", 10**6]
LIBRARY_FIELDS = {
    "device": ["r_on_ohm", "r_off_ohm", "levels", "variability_sigma", "write_noise_sigma", "v_threshold_v",
               "v_write_v", "v_read_v", "t_write_s", "switching_rate_s_per_v"],
    "technology": ["node_nm", "vdd_v", "vss_v", "grid_um", "memristor_pitch_um", "electrode.min_width_um",
                   "electrode.min_space_um", "switching_enclosure_um", "tile_spacing_um", "periphery_aspect",
                   "layers.pin.layer"],
    "components": ["components.opamp.area_um2", "components.opamp.power_mw", "components.relu.source",
                   "components.tanh.area_um2"],
}
BASES = {"device": "wo2", "technology": "cmos180", "components": "table1_180nm"}


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


REFERENCE_DATA = yaml.safe_load(REFERENCE.read_text())
FILE_PATHS = [path for path in _paths(REFERENCE_DATA) if path]


def _set(data, path, value):
    """Set the value at `path`, unless an earlier mutation already replaced a container on the way."""
    try:
        for key in path[:-1]:
            data = data.setdefault(key, {}) if isinstance(data, dict) else data[key]
        data[path[-1]] = value
    except (TypeError, IndexError, KeyError):
        pass


@st.composite
def mutated_architectures(draw):
    data = copy.deepcopy(REFERENCE_DATA)
    for _ in range(draw(st.integers(1, 3))):
        value = draw(st.sampled_from(HOSTILE))
        if draw(st.booleans()):
            kind = draw(st.sampled_from(sorted(LIBRARY_FIELDS)))
            field = draw(st.sampled_from(LIBRARY_FIELDS[kind]))
            override = data[kind] if isinstance(data[kind], dict) else {"base": BASES[kind]}
            _set(override, tuple(field.split(".")), value)
            data[kind] = override
        else:
            _set(data, draw(st.sampled_from(FILE_PATHS)), value)
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_architectures())
def test_fuzzed_architectures_load_or_get_one_message(data):
    from amdcgan.errors import UserError
    from amdcgan.hdl.graph import build_graph
    from amdcgan.hdl.loader import build_architecture
    from amdcgan.hdl.work import check_work, estimate_work

    try:
        architecture = build_architecture(data, "fuzzed.yaml", ROOT / "examples")
        check_work({"tiles": estimate_work(architecture).tiles}, 1.0, "fuzzed.yaml")
    except UserError as error:
        assert str(error).startswith("fuzzed.yaml")
        return
    for kind in ("device", "technology", "components"):
        numbers = [value for value in _leaves(getattr(architecture, kind).model_dump()) if isinstance(value, float)]
        assert all(np.isfinite(numbers))
    json.dumps(build_graph(architecture).summary(), allow_nan=False)


def _leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield value
