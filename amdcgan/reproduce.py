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


def _ratio_verdict(ratio: float, tolerance: float) -> str:
    return "agrees" if abs(ratio - 1) <= tolerance else f"differs by {100 * (ratio - 1):+.0f}%"


def _table_ii_sections(training: dict) -> list[Section]:
    comparison = training["paper_comparison"]
    rows, verdicts = [], []
    for row in comparison["rows"]:
        for cell, values in row["cells"].items():
            rows.append([row["name"], cell, values["paper"], values["ours"], f"{values['ratio']:.3f}",
                         "yes" if values["within_tolerance"] else "no"])
        verdicts.append(f"{row['name']}: {'agrees' if row['agrees'] else 'differs'}"
                        + (f" ({row['note']})" if row.get("note") else ""))
    own = [[row["name"], row["cycles_per_image"], f"{row['devices_at_once']:,.0f}", row["power_max_w"],
            row["power_min_w"], *row["time_s"].values()] for row in training["architecture"]["rows"]]
    inputs = comparison["inputs"]
    return [
        Section(
            title="Table II: training time and power (the paper's inputs)",
            paper="four update configurations for 1.7M WO2 weights, Ron 4k, Roff 25k, V_write 1 V, 60,000 images x 50 "
                  "epochs, write pulses of 10, 100 and 1000 ns.",
            verdict="; ".join(verdicts),
            text=f"Our model: time = write cycles per image x images x epochs x pulse width; power = devices written "
                 f"at once x V_write^2 / R (R_on for the maximum, R_off for the minimum). Inputs: {inputs}.",
            tables=[Table(["configuration", "cell", "paper", "ours", "ratio", "within tolerance"], rows)],
        ),
        Section(
            title="Table II on the reference architecture's own counts",
            paper="(the paper gives only its own inputs)",
            verdict="the same four configurations, with cycles and devices written at once derived from our tile plan",
            tables=[Table(["configuration", "cycles/image", "devices at once", "P max (W)", "P min (W)",
                           *[f"time @ {width}" for width in training["architecture"]["rows"][0]["time_s"]]], own)],
        ),
    ]


def _run_section(run: dict) -> Section:
    """Table II for the rounds our in-situ training run did, with the writes it counted."""
    cycles = run["update_cycles_per_device"]
    widths = list(run["rows"][0]["time_s"])
    rows = [[row["name"], row["power_max_w"], row["power_min_w"], *row["time_s"].values()] for row in run["rows"]]
    return Section(
        title="Table II for our in-situ training run",
        paper="at most 3M update cycles per device for 50 epochs of 60,000 images (one write per device per image).",
        verdict=f"our run did {run['rounds']:,} update rounds (one per batch) with {cycles['mean']:.1f} writes per "
                f"device on average and {cycles['max']:.0f} at most: counted pulses, not one per device per image.",
        text="Energy from the counted pulses: " + ", ".join(
            f"{width} s pulses {value['min_j']:.2e}-{value['max_j']:.2e} J"
            for width, value in (run.get("energy_from_pulses") or {}).items()),
        tables=[Table(["configuration", "P max (W)", "P min (W)", *[f"time @ {w} s" for w in widths]], rows)],
    )


def stage_estimate(ctx: Context) -> tuple[list[Section], dict]:
    from amdcgan.estimators import write_estimate_report

    out = ctx.out / "estimate"
    reference = write_estimate_report(ctx.arch(), out / "reference", layout_areas=ctx.shared.get("layout_areas"),
                                      run_stats=ctx.shared.get("run_stats"))
    small = write_estimate_report(ctx.arch("small"), out / "small_system", paper_small_system=True)
    library = ctx.arch().components.components
    table_i = Table(["circuit", "power (mW)", "area (um^2)", "source"],
                    [[kind.value, item.power_mw, item.area_um2, item.source] for kind, item in library.items()])
    compare = small["small_system_comparison"]
    by_hand = Table(["circuit", "count", "unit area (um^2)", "unit power (mW)", "area (um^2)", "power (W)", "source"],
                    [[row["kind"], row["count"], row["unit_area_um2"], row["unit_power_mw"], row["area_um2"],
                      row["power_w"], row["source"]] for row in small["by_hand"] if row["count"]])
    headline = reference["headline"]
    scaling = reference["scaling"]
    sections = [
        Section(
            title="Table I: CMOS components (180 nm)",
            paper="dropout switch 0.0033 mW / 14.5 um^2, OpAmp 7.4 mW / 558.3 um^2, thresholding 0.0586 mW / 0.8 um^2, "
                  "ReLU 23.3 mW / 951.1 um^2, crossbar switch 5 mW / 5 um^2.",
            verdict="agrees: the shipped library holds Table I's five figures as given; the six circuits the paper "
                    "uses without figures are tied to a Table I circuit by the assumption stated in each row.",
            tables=[table_i],
        ),
        Section(
            title="Table I totals: the small system",
            paper="about 0.188 mm^2 and 7 W for CNN and DCNN of 2 convolution layers of 2 3x3 filters and a dense layer.",
            verdict=f"area {_ratio_verdict(compare['area_ratio'], 0.15)} ({compare['ours_component_sum_mm2']:.3f} mm^2, "
                    f"ratio {compare['area_ratio']:.2f}); power {_ratio_verdict(compare['power_ratio'], 0.15)} "
                    f"({compare['ours_power_all_on_w']:.2f} W all on, ratio {compare['power_ratio']:.2f}). The paper "
                    f"lists no counts; ours are derived from the file, below, so the sum can be redone by hand.",
            text=f"Floorplan bounding box: {compare['ours_floorplan_chip_mm2']:.3f} mm^2; duty-cycled power "
                 f"{compare['ours_power_duty_cycled_w']:.2f} W. Full report: estimate/small_system/report.html",
            tables=[by_hand],
        ),
        Section(
            title="Area and power of the reference MNIST DCGAN",
            paper="not given for the full system (only the small system and Table II).",
            verdict="ours only; the breakdowns show where the area and power go.",
            text=f"component sum {headline['area_component_sum_mm2']:.2f} mm^2, floorplan {headline['area_floorplan_chip_mm2']:.2f} "
                 f"mm^2, power all on {headline['power_all_on_w']:.1f} W, duty-cycled {headline['power_duty_cycled_w']:.1f} W, "
                 f"dropout saves {headline['dropout_saves_all_on_w']:.1f} W. Scaling to {scaling['to']['technology']} "
                 f"({scaling['rule']}): area x{scaling['ratio']['area_component_sum_mm2']:.3f}, power all on "
                 f"x{scaling['ratio']['power_all_on_w']:.3f}. {scaling['note']}",
            images=[(out / "reference" / "figures" / f"{name}.png", caption) for name, caption in (
                ("area_per_layer", "area per layer"), ("power_per_layer", "power per layer, all on"),
                ("area_per_kind", "area per circuit kind"), ("power_per_kind", "power per circuit kind"))],
        ),
        *_table_ii_sections(reference["training"]),
    ]
    sections[-2].images.append((out / "reference" / "figures" / "training_time.png",
                                "training time per update configuration, ours beside the paper's (log axis)"))
    run = reference["training"].get("run")
    if run:
        sections.append(_run_section(run))
    return sections, {"headline": headline, "small_system": compare}


def stage_layout(ctx: Context) -> tuple[list[Section], dict]:
    from amdcgan.layout import write_layout

    out = ctx.out / "layout"
    chip = write_layout(ctx.arch(), out / "chip.gds", out / "chip.png")
    tile_id = "discriminator.conv0.0"
    tile = write_layout(ctx.arch(), out / "tile.gds", out / "tile.png", tile=tile_id)
    ctx.shared["layout_areas"] = {key: value for key, value in chip["areas_um2"].items() if key != "chip"}
    measured, planned = chip["areas_um2"]["chip"], chip["floorplan_areas_um2"]["chip"]
    worst = max(abs(chip["areas_um2"][key] - area) / area for key, area in chip["floorplan_areas_um2"].items())
    section = Section(
        title="Layout: the accelerator as GDS",
        paper="no layout is shown; the paper reports component areas (Table I) and a total for the small system.",
        verdict=f"ours only: the GDS's measured area equals the floorplan's (largest relative difference "
                f"{worst:.1e}); {len(chip['drc_violations'])} design-rule violations on the chip.",
        text=f"{chip['tile_instances']} tiles, {chip['memristors']:,} memristors drawn as junctions, "
             f"{chip['cells']} cells, GDS {chip['gds_bytes'] / 1e6:.2f} MB; chip {measured / 1e6:.2f} mm^2 measured, "
             f"{planned / 1e6:.2f} mm^2 planned. Files: layout/chip.gds, layout/tile.gds (open in KLayout).",
        images=[(out / "chip.png", "the reference accelerator: every tile at its floorplan position"),
                (out / "tile.png", f"tile {tile_id}: the whole tile and a corner of its crossbar")],
    )
    return [section], {"chip_area_um2": measured, "drc_violations": len(chip["drc_violations"]),
                       "tile_drc_violations": len(tile["drc_violations"])}


def stage_spice(ctx: Context) -> tuple[list[Section], dict]:
    import shutil

    if shutil.which("ngspice") is None:
        raise Skip("ngspice is not installed (apt-get install ngspice libngspice0-dev)")
    from amdcgan.sim.checks import run_checks

    out = ctx.out / "spice"
    result = run_checks(ctx.arch(), out, quick=ctx.quick, seed=ctx.seed)
    ctx.shared["activation_tables"] = result["activations"]["csv"]
    dc, write, variability = result["dc"], result["write"], result["variability"]
    worst = max(case["max_relative_error"] for case in dc["cases"].values())
    at_30 = next(row for row in variability["table"] if abs(row[0] - 30) < 1e-9)
    leakage = result["leakage"]
    sections = [
        Section(
            title="Fig. 4: transient response of a Discriminator path to 100 ns pulses",
            paper="filter inputs and output, mean-filter input and output, dense-layer input and column current.",
            verdict="agrees in form: the same six signals, each settling within its 100 ns pulse; our values come "
                    "from random weights and inputs, so the paper's exact waveforms are not expected.",
            images=[(Path(result["transient"]["plot"]), "Fig. 4 (ours): ngspice transient through conv, ReLU, "
                                                        "mean filter, dense row and column")],
        ),
        Section(
            title="Fig. 5: activation functions",
            paper="outputs of (a) the hyperbolic tangent and (b) the ReLU with switch.",
            verdict="agrees in form (behavioural macromodels: tanh saturating at the supply, ReLU clipped at 0 and "
                    "VDD, off when its switch is open); the tables are what the GAN simulation reads.",
            images=[(Path(result["activations"]["plot"]), "Fig. 5 (ours): transfer curves from ngspice DC sweeps")],
        ),
        Section(
            title="Fig. 6: leakage currents against noise",
            paper="leakage current in memristive crossbars for different noise levels.",
            verdict="agrees in trend: leakage grows linearly with the noise on unselected lines; floating lines "
                    f"give sneak currents of {', '.join(f'{size}x{size}: {amps * 1e3:.2f} mA' for size, amps in leakage['floating_sneak_a'].items())}.",
            images=[(Path(leakage["plot"]), "Fig. 6 (ours): leakage against the noise level and crossbar size")],
        ),
        Section(
            title="Fig. 7a-d: output error against memristor variability",
            paper="error in (a) the convolution filter output, (b) the mean filter, (c) the dense-layer input and "
                  "(d) the dense-layer output current, growing with variability.",
            verdict=f"agrees in trend: the error grows with variability; at 30% it is {at_30[1]:.1f}%, {at_30[2]:.1f}%, "
                    f"{at_30[3]:.1f}% and {at_30[4]:.1f}% of full scale ({variability['trials']} seeded Monte Carlo "
                    f"draws per point).",
            images=[(Path(variability["plot"]), "Fig. 7a-d (ours): Monte Carlo in ngspice")],
        ),
        Section(
            title="Tile accuracy, IR drop and the write model (ours)",
            paper="the paper's tiles are checked in SPICE; it reports no error figures for them.",
            verdict=f"numpy tile model against ngspice: maximum relative error {worst:.1e} over {len(dc['cases'])} "
                    f"tiles; a write pulse moves {write['set_steps_per_pulse'][0] / write['level_step']:.4f} level "
                    f"steps, reads change nothing, {write['energy_per_pulse_j'] * 1e12:.1f} pJ per pulse.",
            images=[(Path(result["irdrop"]["plot"]), "IR drop: error against tile size and wire resistance"),
                    (Path(write["plot"]), "threshold-switching write model: pulses, state and conductance")],
        ),
    ]
    return sections, {"dc_max_relative_error": worst, "variability_at_30": at_30[1:]}


# Quick: the embedded 5,000 digits, short runs (about 3 + 4 minutes on 2 CPU cores), device sweeps by programming the
# float-trained generator. Full: the paper's 50 epochs (70 for Fig. 9), in-situ sweeps trained on the devices.
QUICK_EPOCHS, QUICK_SNAPSHOTS = 6, (1, 2, 4, 6)
FULL_EPOCHS, FULL_SNAPSHOTS, FULL_SWEEP_EPOCHS = 70, (1, 20, 50, 70), 50
VARIABILITY = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
LEVELS = [2, 4, 8, 16, 32, 64, 128, 256]


def _gan_device(ctx: Context) -> str:
    import torch

    if ctx.device == "cuda" and not torch.cuda.is_available():
        raise Skip("--device cuda was asked for but PyTorch sees no CUDA device")
    return "cuda" if ctx.device == "cuda" or (ctx.device == "auto" and torch.cuda.is_available()) else "cpu"


def _quality_row(label: str, metrics: dict) -> list:
    return [label, metrics.get("epoch", ""), round(metrics["fid"], 1), metrics["classes"],
            round(metrics["confidence"], 3)]


def stage_gan(ctx: Context) -> tuple[list[Section], dict]:
    from amdcgan.gan.config import make_config
    from amdcgan.gan.sweep import programming_sweep, sweep
    from amdcgan.gan.train import train

    arch, out = ctx.arch(), ctx.out / "gan"
    epochs, snapshots = (QUICK_EPOCHS, QUICK_SNAPSHOTS) if ctx.quick else (FULL_EPOCHS, FULL_SNAPSHOTS)
    tables = {name: Path(path) for name, path in ctx.shared.get("activation_tables", {}).items()
              if name in ("tanh", "relu", "relu_switch")}
    base = make_config(epochs=epochs, limit=None, data_dir=ctx.data_dir, seed=ctx.seed, device=_gan_device(ctx),
                       activation_tables=tables, snapshot_epochs=snapshots)
    float_run = train(arch, out / "float", base.replace(mode="float", activation_tables={}, snapshot_epochs=()),
                      resume=True, progress=ctx.shared.get("gan_progress"))
    insitu = train(arch, out / "insitu", base.replace(mode="insitu"), resume=True,
                   progress=ctx.shared.get("gan_progress"))
    ctx.shared["run_stats"] = insitu["run_stats"]
    if ctx.quick:  # one generator trained on the circuit with ideal devices, programmed into each device setting
        train(arch, out / "exsitu", base.replace(mode="exsitu", snapshot_epochs=()), resume=True,
              progress=ctx.shared.get("gan_progress"))
        device_sweeps = {name: programming_sweep(arch, out / f"sweep_{name}", name, values, base, out / "exsitu")
                         for name, values in (("variability", VARIABILITY), ("levels", LEVELS))}
    else:
        point = base.replace(mode="insitu", epochs=FULL_SWEEP_EPOCHS, snapshot_epochs=())
        device_sweeps = {name: sweep(arch, out / f"sweep_{name}", name, values, point)
                         for name, values in (("variability", VARIABILITY), ("levels", LEVELS))}
    by_epoch = {row["epoch"]: row for row in insitu["metrics"]}
    final = insitu["final"]
    how = ("quick: the 5,000 embedded digits, " if ctx.quick else "full: ") + f"{epochs} epochs, {arch.device.name} " \
          f"devices with {arch.device.levels} levels, sign-crossbar encoding"
    stats = ctx.shared["run_stats"]
    sections = [Section(
        title="Fig. 1b: generated digits (in-situ training on the tile model)",
        paper="example digits after 100 training epochs of the analog DCGAN.",
        verdict=f"ours after {insitu['epochs']} epochs: FID {final['fid']:.1f}, {final['classes']} digit classes "
                f"(float DCGAN: FID {float_run['final']['fid']:.1f}, {float_run['final']['classes']} classes); "
                f"{'far fewer epochs than the paper, so not yet its quality' if ctx.quick else 'at the paper scale'}.",
        text=f"{how}. Quality: Frechet distance on the shipped classifier's features against the embedded real "
             f"digits (real against real: about 20 at this sample size), classes generated, mean confidence. "
             f"Writes per device: mean {stats['mean_updates_per_device']:.1f}, max {stats['max_updates_per_device']}"
             f" over {stats['update_rounds']:,} update rounds; write energy {stats['write_energy_j']:.2e} J.",
        tables=[Table(["run", "epoch", "FID", "classes", "confidence"],
                      [_quality_row("float", float_run["untrained"]), _quality_row("float", float_run["final"]),
                       _quality_row("in-situ", insitu["untrained"]), _quality_row("in-situ", final)])],
        images=[(Path(insitu["paths"]["samples"][-1]), "in-situ trained generator, fixed noise"),
                (Path(float_run["paths"]["samples"][-1]), "float DCGAN baseline, same noise")],
    )]
    for name, figure in (("variability", "Fig. 7"), ("levels", "Fig. 8")):
        summary = device_sweeps[name]
        finding = summary["finding"]
        ours = finding.get("ours")
        sections.append(Section(
            title=f"{figure}: generated digits against memristor {name}",
            paper=finding["paper"]["claim"] + ".",
            verdict=(f"ours: {ours if ours is not None else 'inconclusive'} "
                     f"({finding.get('note') or finding['criterion']}); "
                     + ("quick mode programs a generator trained on ideal devices into these devices (ex-situ); the "
                        "paper's figure may come from training on them (run --full)." if ctx.quick
                        else "in-situ sweep.")),
            tables=[Table(["value", "FID", "classes", "confidence"],
                          [[p["value"], round(p["fid"], 1), p["classes"], round(p["confidence"], 3)]
                           for p in summary["points"]])],
            images=[(Path(summary["paths"]["grid"]), f"samples by {name}"),
                    (Path(summary["paths"]["plot"]), f"quality against {name}")],
        ))
    epoch_rows = [_quality_row(f"epoch {epoch}", by_epoch[epoch]) for epoch in snapshots if epoch in by_epoch]
    sections.append(Section(
        title="Fig. 9: generated digits against training epochs",
        paper="50 epochs (at most 3M update cycles per device) give the desired image quality.",
        verdict=f"ours over {epochs} epochs: FID {by_epoch[snapshots[0]]['fid']:.1f} after epoch {snapshots[0]}, "
                f"{final['fid']:.1f} after epoch {insitu['epochs']}"
                + ("; the quick run stops long before the paper's 50 epochs." if ctx.quick else "."),
        tables=[Table(["snapshot", "epoch", "FID", "classes", "confidence"], epoch_rows)],
        images=[(Path(path), f"epoch {row['epoch']}") for path, row in zip(insitu["paths"]["samples"],
                                                                            insitu["metrics"])
                if row["epoch"] in snapshots],
    ))
    return sections, {"insitu_final": final, "float_final": float_run["final"], "run_stats": stats}


STAGES: list[tuple[str, Callable[[Context], tuple[list[Section], dict]]]] = [
    ("describe", stage_describe),
    ("layout", stage_layout),
    ("spice", stage_spice),
    ("gan", stage_gan),
    ("estimate", stage_estimate),
]


class TrainingProgress:
    """Shows a training run's steps as a task of the reproduce progress display."""

    def __init__(self, progress):
        self.progress, self.task, self.epochs = progress, None, 0

    def __call__(self, event: dict) -> None:
        if event["event"] == "start":
            self.epochs = event["epochs"]
            self.task = self.progress.add_task("  training", total=event["epochs"] * event["steps_per_epoch"],
                                               completed=event["epoch"] * event["steps_per_epoch"])
        elif event["event"] == "step":
            self.progress.update(self.task, advance=1, description=f"  training, epoch {event['epoch']}")
        elif event["event"] == "epoch" and event["epoch"] == self.epochs:
            self.progress.remove_task(self.task)


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
    if progress:
        ctx.shared["gan_progress"] = TrainingProgress(progress)
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
