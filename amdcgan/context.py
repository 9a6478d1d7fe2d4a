"""What the command line hands each backend's `register(app, context)`: its console, its architecture loader, and
the figures one backend computes for another's command (the estimators' read power of a run, for the wire sweep).

Backends receive these instead of importing `amdcgan.cli`, which imports them: the command line depends on the
backends, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import typer
from rich.console import Console

# Seeds go to torch, numpy and Python's random (offset by a few for independent streams): non-negative 63-bit.
MAX_SEED = 2**63 - 1024


def seed_option(help: str = "seed of every random choice") -> typer.models.OptionInfo:
    return typer.Option(0, "--seed", min=0, max=MAX_SEED, help=help)


def max_work_option() -> typer.models.OptionInfo:
    return typer.Option(
        1.0, "--max-work",
        help="scale the limits on the work estimated before starting (tiles, netlist lines, tensor values, ...); "
             "2 allows twice as much",
    )


class Loader(Protocol):
    def __call__(self, path: Path, max_work: float = 1.0, *measures: str, batch: int = 64, copies: int = 1): ...


@dataclass(frozen=True)
class CommandContext:
    console: Console
    load: Loader  # architecture file -> validated Architecture, refused when its estimated work is over the limits
    run_read_power_w: Callable  # (architecture, run folder) -> read power with and without wires (estimators)
