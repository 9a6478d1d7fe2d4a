"""`amdcgan reproduce`: every part of the tool on the reference architectures, one report beside the paper.

Each stage runs on its own: a stage whose dependency is missing (ngspice, a GPU) is reported as skipped with the
reason, a stage that fails is reported with its error, and the rest still run. Backends hand each other plain data
through this module (the layout's measured areas and the training run's update counts go to the estimator).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from amdcgan.errors import UserError
from amdcgan.report import Section, StageOutcome, Table, write_report

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


class Skip(Exception):
    """A stage cannot run here (a missing tool or device); the message says why."""


@dataclass
class Context:
    out: Path
    quick: bool
    device: str
    seed: int
    data_dir: Path | None
    reference: Path
    small: Path
    shared: dict = field(default_factory=dict)  # plain data one stage hands to a later one

    def arch(self, which: str = "reference"):
        from amdcgan.hdl.loader import load_architecture

        key = f"arch:{which}"
        if key not in self.shared:
            self.shared[key] = load_architecture(self.reference if which == "reference" else self.small)
        return self.shared[key]


def stage_describe(ctx: Context) -> tuple[list[Section], dict]:
    from amdcgan.hdl.graph import build_graph

    summary = build_graph(ctx.arch()).summary()
    ctx.shared["summary"] = summary
    comparison = summary["paper_comparison"]
    rows = []
    for network, content in summary["networks"].items():
        for name, layer in content["layers"].items():
            rows.append([f"{network}.{name}", layer["type"], "x".join(map(str, layer["weight_matrix"])),
                         layer["tiles"], layer["weights"], layer["memristors"]["total"], layer["cycles_per_image"]])
    total = summary["total"]
    rows.append(["total", "", "", total["tiles"], total["weights"], total["memristors"]["total"],
                 total["cycles_per_image"]])
    ratio = comparison["ratio_weights_to_paper"]
    section = Section(
        title="Architecture: the memristive weights of the MNIST DCGAN",
        paper="1.7 million memristive weights to update (Table II caption); 3 crossbar layers in the Generator and "
              "the Discriminator, 2 convolutional layers of 128 and 64 filters of 5x5 and a dense layer.",
        verdict=f"differs: {comparison['our_weights']:,} weights in our reading of the architecture, "
                f"{ratio:.2f} of the paper's 1.7M ({comparison['our_all_memristors']:,} memristors with the sign "
                f"crossbars and periphery). {comparison['why']}",
        tables=[Table(["layer", "type", "matrix", "tiles", "weights", "memristors", "cycles/image"], rows)],
    )
    return [section], {"weights": comparison["our_weights"], "memristors": comparison["our_all_memristors"]}


STAGES: list[tuple[str, Callable[[Context], tuple[list[Section], dict]]]] = [
    ("describe", stage_describe),
]


def run_stage(name: str, function, ctx: Context) -> StageOutcome:
    start = time.perf_counter()
    try:
        sections, figures = function(ctx)
        return StageOutcome(name, "done", "", time.perf_counter() - start, sections, figures)
    except Skip as reason:
        return StageOutcome(name, "skipped", str(reason), time.perf_counter() - start)
    except UserError as error:
        return StageOutcome(name, "failed", str(error), time.perf_counter() - start)
    except Exception as error:  # one failing part must not stop the others; keep the trace for the log
        (ctx.out / "logs").mkdir(parents=True, exist_ok=True)
        (ctx.out / "logs" / f"{name}.txt").write_text(traceback.format_exc())
        return StageOutcome(name, "failed", f"{type(error).__name__}: {error} (see logs/{name}.txt)",
                            time.perf_counter() - start)


def reproduce(ctx: Context, progress=None, only: list[str] | None = None) -> list[StageOutcome]:
    ctx.out.mkdir(parents=True, exist_ok=True)
    stages = [(name, function) for name, function in STAGES if not only or name in only]
    outcomes: list[StageOutcome] = []
    task = progress.add_task("reproduce", total=len(stages)) if progress else None
    for name, function in stages:
        if progress:
            progress.update(task, description=f"stage: {name}")
        outcomes.append(run_stage(name, function, ctx))
        if progress:
            progress.advance(task)
        write_report(ctx.out, TITLE, _intro(ctx), outcomes)  # a partial report survives an interruption
    return outcomes


TITLE = "AM-DCGAN reproduced with amdcgan"


def _intro(ctx: Context) -> str:
    mode = "quick (embedded 5,000 MNIST digits, short training)" if ctx.quick else "full (paper scale)"
    return (f"Every table and figure of the AM-DCGAN paper beside what amdcgan computes for the reference "
            f"architectures ({ctx.reference.name}, {ctx.small.name}). Mode: {mode}; device: {ctx.device}; "
            f"seed {ctx.seed}.")
