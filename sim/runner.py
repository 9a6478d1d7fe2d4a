"""Runs netlists in ngspice in process (PySpice's shared mode) with a time limit; results as numpy arrays.

The simulation runs in ngspice's background thread: a non-converging or runaway simulation is halted at its time
limit and reported with the circuit's name instead of hanging the caller. The netlist text that ran is plain SPICE:
`keep` writes it as a `.cir` file that `ngspice -b` runs on its own.
"""

from __future__ import annotations

import ctypes
import logging
import os
import time
from pathlib import Path

import numpy as np

from amdcgan.errors import UserError
from amdcgan.fileio import write_text_atomic
from amdcgan.hdl.netlist import Netlist

INSTALL_HINT = ("ngspice's shared library is not installed: install it with `apt-get install ngspice libngspice0-dev` "
                "(or point NGSPICE_LIBRARY_PATH at libngspice.so)")
POLL_S = 0.002
FAILURE_WORDS = ("error", "singular", "converge", "too small", "abort", "fail")

_engine = None


def library_path() -> str:
    return os.environ.get("NGSPICE_LIBRARY_PATH", "libngspice.so")


def ngspice_installed() -> bool:
    """The ngspice program (plain runs) and its shared library (the checks' in-process runs)."""
    import shutil

    try:
        ctypes.CDLL(library_path())
    except OSError:
        return False
    return shutil.which("ngspice") is not None


def engine():
    """The process's ngspice (loaded once)."""
    global _engine
    if _engine is None:
        try:
            ctypes.CDLL(library_path())
        except OSError:
            raise UserError(INSTALL_HINT) from None
        logging.getLogger("PySpice").setLevel(logging.CRITICAL)  # version notes and echoed ngspice errors
        from PySpice.Spice.NgSpice.Shared import NgSpiceShared

        class Engine(NgSpiceShared):
            LIBRARY_PATH = library_path()

            idle = True

            @staticmethod
            def _background_thread_running(idle, ngspice_id, user_data):
                # ngspice says True once its background thread has ended (PySpice's own callback returns None,
                # which cffi reports on every run)
                Engine.idle = bool(idle)
                return 0

        _engine = Engine(ngspice_id=0)
    return _engine


def run_netlist(text: str, name: str, timeout_s: float = 120.0, keep: Path | None = None) -> dict[str, np.ndarray]:
    """Simulates the netlist `text`; returns its vectors: node voltages as "v(node)", source currents as
    "i(source)", the sweep or time axis as "scale" (lower-case names, as ngspice gives them)."""
    if keep is not None:
        write_text_atomic(keep, text)
    ngspice = engine()
    from PySpice.Spice.NgSpice.Shared import NgSpiceCircuitError, NgSpiceCommandError

    before = set(ngspice.plot_names)
    try:
        ngspice.load_circuit(text)
        type(ngspice).idle = False
        ngspice.run(background=True)
        _wait(ngspice, name, timeout_s)
        plots = [plot for plot in ngspice.plot_names if plot not in before and plot != "const"]
        if not plots or _failed(ngspice.stderr):
            raise UserError(f"ngspice failed on {name}: {_failure(ngspice.stdout + os.linesep + ngspice.stderr)}")
        return _vectors(ngspice, plots[0])
    except (NgSpiceCircuitError, NgSpiceCommandError):
        raise UserError(f"ngspice failed on {name}: {_failure(ngspice.stdout + os.linesep + ngspice.stderr)}") from None
    finally:
        _clear(ngspice)


def _wait(ngspice, name: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not type(ngspice).idle:
        if time.monotonic() > deadline:
            try:
                ngspice.halt()
            except Exception:  # PySpice reads ngspice's "interrupted" note as a failed command
                pass
            while not type(ngspice).idle:
                time.sleep(POLL_S)
            raise UserError(f"ngspice did not finish {name} within {timeout_s:g} s (runaway or non-converging "
                            f"simulation)")
        time.sleep(POLL_S)


def _clear(ngspice) -> None:
    """Frees the results and the circuit, so that many runs in one process do not pile up."""
    for command in ("destroy all", "remcirc"):
        try:
            ngspice.exec_command(command)
        except Exception:  # nothing loaded to remove after a failed load
            pass


def _failed(log: str) -> bool:
    """ngspice's complaints on stderr (its stdout echoes the circuit's title, which may hold any word)."""
    return any(word in line.lower() for line in log.splitlines() for word in ("error", "singular", "too small")
               if not line.lower().startswith("warning"))


def _failure(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    telling = [line for line in lines if any(word in line.lower() for word in FAILURE_WORDS)]
    return "; ".join((telling or lines)[-4:]) or "no output"


def _vectors(ngspice, plot: str) -> dict[str, np.ndarray]:
    from PySpice.Spice.NgSpice.Shared import ffi

    library = ngspice._ngspice_shared
    names = library.ngSpice_AllVecs(plot.encode())
    vectors = {}
    index = 0
    while names[index] != ffi.NULL:
        vector = ffi.string(names[index]).decode()
        info = library.ngGet_Vec_Info(f"{plot}.{vector}".encode())
        values = np.frombuffer(ffi.buffer(info.v_realdata, info.v_length * 8), dtype=np.float64).copy()
        vectors[_key(vector, plot)] = values
        index += 1
    return vectors


def _key(vector: str, plot: str) -> str:
    vector = vector.lower()
    if vector.endswith("#branch"):
        return f"i({vector[:-len('#branch')]})"
    if vector in ("v-sweep", "i-sweep", "time") or (plot.startswith("dc") and vector.endswith("-sweep")):
        return "scale"
    return f"v({vector})"


def run_circuit(netlist: Netlist, name: str, timeout_s: float = 120.0, keep: Path | None = None,
                analysis: str | None = None) -> dict[str, np.ndarray]:
    """Runs a netlist with its own analysis (or `analysis`); `keep` gets it as a `.cir` that also prints its
    outputs."""
    if keep is not None:
        write_text_atomic(keep, netlist.text(analysis=analysis))
    return run_netlist(netlist.text(analysis=analysis, printed=False), name, timeout_s)
