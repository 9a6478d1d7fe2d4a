"""Runs a netlist in plain `ngspice -b` in a subprocess with a time limit, and reads back the vectors it wrote.

A subprocess rather than PySpice's shared mode: a non-converging or runaway simulation can then be stopped at a
time limit and reported with the tile's name, instead of hanging the caller, and the `.cir` files users get are
exactly what ran.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from amdcgan.errors import UserError
from amdcgan.fileio import write_text_atomic

from .netlist import Circuit

DATA_FILE = "ngspice_out.txt"
INSTALL_HINT = "ngspice is not installed: install it with `apt-get install ngspice libngspice0-dev`"


def ngspice_path() -> str:
    path = shutil.which("ngspice")
    if path is None:
        raise UserError(INSTALL_HINT)
    return path


def run_circuit(circuit: Circuit, name: str, timeout_s: float = 120.0, keep: Path | None = None) -> dict[str, np.ndarray]:
    """Simulates `circuit`; returns its saved vectors by name (plus the sweep or time scale under "scale").

    `keep`: also write the netlist there as a `.cir` that `ngspice -b` runs on its own (its data file beside it).
    """
    executable = ngspice_path()
    if keep is not None:
        write_text_atomic(keep, circuit.text(f"{keep.stem}.data.txt"))
    with tempfile.TemporaryDirectory(prefix="amdcgan_spice_") as folder:
        netlist = Path(folder) / "circuit.cir"
        netlist.write_text(circuit.text(DATA_FILE))
        try:
            done = subprocess.run([executable, "-b", netlist.name], cwd=folder, capture_output=True, text=True,
                                  timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise UserError(f"ngspice did not finish {name} within {timeout_s:g} s (runaway or non-converging "
                            f"simulation)") from None
        data = Path(folder) / DATA_FILE
        if done.returncode != 0 or not data.exists():
            raise UserError(f"ngspice failed on {name}: {_failure(done.stdout + done.stderr)}")
        return read_wrdata(data, circuit.saved)


def _failure(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    telling = [line for line in lines if any(word in line.lower() for word in
                                             ("error", "singular", "converge", "too small", "abort", "fail"))]
    return "; ".join((telling or lines)[-4:]) or "no output"


def read_wrdata(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    """`wrdata` with `wr_singlescale` and `wr_vecnames`: a header line, then the scale and one column per vector."""
    table = np.loadtxt(path, skiprows=1, ndmin=2)
    if table.shape[1] != len(names) + 1:
        raise UserError(f"ngspice wrote {table.shape[1]} columns to {path.name}, expected {len(names) + 1}")
    vectors = {"scale": table[:, 0]}
    vectors.update({name: table[:, k + 1] for k, name in enumerate(names)})
    return vectors
