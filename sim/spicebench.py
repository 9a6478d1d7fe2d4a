"""A test bench on the sky130 models: one `ngspice -b` run of several analyses, each written to its own data file.

One process per bench and condition rather than the in-process engine of `runner`: with the reduced model file
(`sky130.reduced_models`) a run starts in about 0.1 s, benches of several conditions run side by side (`--jobs`), and
a runaway bench stops at its time limit alone.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from amdcgan.errors import UserError

from .runner import _failure

INSTALL_HINT = "ngspice is not installed: install it with `apt-get install ngspice`"


def ngspice_executable() -> str:
    path = shutil.which("ngspice")
    if path is None:
        raise UserError(INSTALL_HINT)
    return path


def read_wrdata(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    """`wrdata` with `wr_singlescale` and `wr_vecnames`: a header line, then the scale and one column per vector."""
    table = np.loadtxt(path, skiprows=1, ndmin=2)
    if table.shape[1] != len(names) + 1:
        raise UserError(f"ngspice wrote {table.shape[1]} columns to {path.name}, expected {len(names) + 1}")
    return {"scale": table[:, 0], **{name: table[:, k + 1] for k, name in enumerate(names)}}


@dataclass
class Analysis:
    command: str  # e.g. "op", "dc vin -0.9 0.9 0.01", "tran 1n 2u", "ac dec 20 1 1g"
    vectors: list[str]


@dataclass
class Bench:
    title: str
    lines: list[str] = field(default_factory=list)
    analyses: dict[str, Analysis] = field(default_factory=dict)
    options: str = ".options reltol=1e-5 vntol=1e-8 abstol=1e-14 gmin=1e-15 method=gear"

    def text(self, models: Path, temperature_c: float) -> str:
        if any(character in str(models) for character in '"\n\r'):
            raise UserError(f"{models}: a model path with quotes or line breaks cannot go into a netlist")
        control = [".control", "set wr_vecnames", "set wr_singlescale", "option numdgt=10"]
        for label, analysis in self.analyses.items():
            control += [analysis.command, f"wrdata {label}.txt {' '.join(analysis.vectors)}", "destroy all"]
        control += ["quit 0", ".endc"]
        return "\n".join([f"* {self.title}", f'.include "{models}"', f".temp {temperature_c:g}", self.options,
                          *self.lines, *control, ".end", ""])


def run_bench(bench: Bench, models: Path, temperature_c: float, timeout_s: float = 600.0,
              keep: Path | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Every analysis's vectors by label (the sweep, time or frequency scale under "scale")."""
    executable = ngspice_executable()
    text = bench.text(models, temperature_c)
    if keep is not None:
        from amdcgan.fileio import write_text_atomic

        write_text_atomic(keep, text)
    with tempfile.TemporaryDirectory(prefix="amdcgan_bench_") as folder:
        netlist = Path(folder) / "bench.cir"
        netlist.write_text(text)
        try:
            done = subprocess.run([executable, "-b", netlist.name], cwd=folder, capture_output=True, text=True,
                                  timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise UserError(f"ngspice did not finish {bench.title} within {timeout_s:g} s") from None
        results = {}
        for label, analysis in bench.analyses.items():
            data = Path(folder) / f"{label}.txt"
            if done.returncode != 0 or not data.exists():
                raise UserError(f"ngspice failed on {bench.title} ({label}): {_failure(done.stdout + done.stderr)}")
            results[label] = read_wrdata(data, analysis.vectors)
        return results
