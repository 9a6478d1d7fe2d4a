"""Run folders and output files under attack: planted pickles and links, damaged or foreign checkpoints, two
commands writing one folder, and kills in the middle of a write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from amdcgan.cli import main
from amdcgan.fileio import locked_output_folder, write_files_atomic

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "examples" / "small_system.yaml"
QUICK = ["--mode", "float", "--limit", "64", "--batch", "32", "--epochs", "1"]


class _Planted:
    """An object whose unpickling creates a file: what a hostile checkpoint would do with os.system."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _message(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return " ".join(captured.err.split())


@pytest.fixture(scope="module")
def float_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("float") / "run"
    assert main(["train", str(SMALL), "-o", str(run), *QUICK]) == 0
    return run


@pytest.fixture
def run_copy(float_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    copy.mkdir()
    for path in float_run.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    return copy


def _small(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(SMALL.read_text())
    change(data)
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# -- checkpoints ------------------------------------------------------------------------------------------------------

def test_checkpoint_holds_only_tensors_and_plain_data(float_run):
    state = torch.load(float_run / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1 and state["architecture"]["name"] == "small_system"


@pytest.mark.parametrize("command", ["resume", "from_run"])
def test_planted_pickle_never_runs(command, run_copy, tmp_path, capsys):
    marker = tmp_path / "code_ran"
    torch.save({"generator": _Planted(marker)}, run_copy / "checkpoint.pt")
    if command == "resume":
        argv = ["train", str(SMALL), "-o", str(run_copy), *QUICK, "--resume"]
    else:  # programming reads an exsitu run's checkpoint
        config = json.loads((run_copy / "config.json").read_text())
        (run_copy / "config.json").write_text(json.dumps({**config, "mode": "exsitu"}))
        argv = ["sweep", str(SMALL), "-o", str(tmp_path / "sweep"), "--levels", "4", "--from-run", str(run_copy)]
    assert main(argv) == 2
    assert "refused" in _message(capsys)
    assert not marker.exists() and not (tmp_path / "sweep").exists()


@pytest.mark.parametrize("damage, fragment", [
    (lambda path: path.write_bytes(b""), "is empty (0 bytes)"),
    (lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]), "not a readable checkpoint"),
    (lambda path: path.write_bytes(os.urandom(5000)), "not a readable checkpoint"),
    (lambda path: (path.unlink(), path.mkdir()), "is a folder"),
    (lambda path: torch.save({"epoch": 3}, path), "missing config"),
])
def test_damaged_checkpoint_gets_one_message(damage, fragment, run_copy, capsys):
    damage(run_copy / "checkpoint.pt")
    assert main(["train", str(SMALL), "-o", str(run_copy), *QUICK, "--resume"]) == 2
    message = _message(capsys)
    assert fragment in message and "checkpoint.pt" in message and "interrupted" not in message


@pytest.mark.parametrize("change, fragment", [
    (lambda d: d["discriminator"]["layers"][0].update(filters=3), "discriminator.layers.0.filters"),
    (lambda d: d.update(device={"base": "wo2", "r_on_ohm": 5000}), "device.r_on_ohm"),
    (lambda d: d.update(tiles={"max_rows": 37, "max_columns": 13}), "tiles.max_rows"),
])
def test_resume_on_another_architecture_names_what_differs(change, fragment, run_copy, tmp_path, capsys):
    other = _small(tmp_path, change)
    assert main(["train", str(other), "-o", str(run_copy), *QUICK, "--resume"]) == 2
    message = _message(capsys)
    assert fragment in message and "another architecture" in message


def test_checkpoint_of_unrecorded_architecture_names_the_parameter(run_copy, tmp_path, capsys):
    state = torch.load(run_copy / "checkpoint.pt", weights_only=True)
    del state["architecture"]
    torch.save(state, run_copy / "checkpoint.pt")
    other = _small(tmp_path, lambda d: d["discriminator"]["layers"][0].update(filters=3))
    assert main(["train", str(other), "-o", str(run_copy), *QUICK, "--resume"]) == 2
    assert "discriminator parameter" in _message(capsys)


# -- one writer per folder --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [
    ["train", str(SMALL), *QUICK], ["estimate", str(SMALL)], ["schema"], ["spice", str(SMALL), "--check", "dc"],
    ["sweep", str(SMALL), "--levels", "4"], ["reproduce", "--only", "estimate"],
])
def test_second_writer_of_a_folder_is_refused(command, tmp_path, capsys):
    folder = tmp_path / "out"
    with locked_output_folder(folder):
        before = sorted(os.listdir(folder))
        assert main([command[0], *command[1:], "-o", str(folder)]) == 2
        assert "another amdcgan command is writing into this folder" in _message(capsys)
        assert sorted(os.listdir(folder)) == before
    assert not folder.exists()  # the lock file goes with the lock, and the folder made for it with it


# -- temporaries and links --------------------------------------------------------------------------------------------

def test_planted_links_at_temporary_names_are_not_written_through(tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    folder = tmp_path / "shared"
    folder.mkdir()
    for pid in range(os.getpid() - 5, os.getpid() + 50):  # the names temporaries were once given
        for name in ("c.gds", "c.png"):
            suffix = Path(name).suffix
            (folder / f".{name}.{pid}.tmp{suffix}").symlink_to(victim)
    assert main(["layout", str(SMALL), "-o", str(folder / "c.gds"), "--png", str(folder / "c.png")]) == 0
    assert victim.read_text() == "precious\n"
    assert (folder / "c.gds").read_bytes()[:2] == b"\x00\x06" and not (folder / "c.gds").is_symlink()


def test_output_that_is_a_link_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "graph.json"
    link.symlink_to(victim)
    assert main(["graph", str(SMALL), "-o", str(link)]) == 0
    assert victim.read_text() == "precious\n" and not link.is_symlink()


def test_a_failed_multi_file_write_leaves_the_previous_set(tmp_path, monkeypatch):
    import amdcgan.fileio as fileio

    first, second = tmp_path / "n.lib.sp", tmp_path / "n.cir"
    first.write_text("old library\n")
    second.write_text("old netlist\n")
    real_stage = fileio._stage

    def failing(path, data):
        if path == second:
            raise KeyboardInterrupt
        return real_stage(path, data)

    monkeypatch.setattr(fileio, "_stage", failing)
    with pytest.raises(KeyboardInterrupt):
        write_files_atomic({first: b"new library\n", second: b"new netlist\n"})
    assert first.read_text() == "old library\n" and second.read_text() == "old netlist\n"
    assert sorted(os.listdir(tmp_path)) == ["n.cir", "n.lib.sp"]


def test_temporaries_of_a_killed_run_are_removed_by_the_next(run_copy):
    """SIGKILL leaves a temporary no exit path could remove; the next command holding the folder's lock removes
    what matches the temporaries' names, and nothing else."""
    stale = [run_copy / ".checkpoint.pt.k3j_x9a2.tmp", run_copy / "float_baseline" / ".metrics.json.abcdefgh.tmp",
             run_copy / ".c.gds.zz99zz99.tmp"]
    stale[1].parent.mkdir()
    for path in stale[:2]:
        path.write_bytes(b"partial")
    stale[2].mkdir()
    kept = [run_copy / ".hidden", run_copy / "notes.tmp"]
    for path in kept:
        path.write_text("mine\n")
    with locked_output_folder(run_copy):
        pass
    assert not any(path.exists() for path in stale) and all(path.exists() for path in kept)


@pytest.mark.parametrize("command", [["netlist", str(SMALL)], ["train", str(SMALL), *QUICK]])
def test_sigterm_while_writing_leaves_no_temporary(command, tmp_path):
    """The process is terminated in the middle of writing a file (here: at its fsync); every temporary goes."""
    folder = tmp_path / "out"
    target = folder / "n.cir" if command[0] == "netlist" else folder
    script = textwrap.dedent(f"""
        import os, signal, sys
        import amdcgan.fileio as fileio
        from amdcgan.cli import main
        fileio.os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGTERM)
        sys.exit(main({[*command, "-o", str(target)]!r}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 143, done.stderr
    assert "Traceback" not in done.stderr
    leftovers = [path.name for path in tmp_path.rglob("*") if ".tmp" in path.name or path.name.endswith(".lock")]
    assert leftovers == []
    assert not (folder / "n.lib.sp").exists() or (folder / "n.cir").exists()
