"""Sweeps of the paper's Figs. 7-9: image quality against device variability, resistive levels and epochs.

Every point is `run_point(arch, point_config, out_dir)`, a pure seeded function, so points can run anywhere (one
process, Ray tasks) and a rerun reuses finished points. An epochs sweep is one run that keeps its samples at each
listed epoch. The summary sets our findings beside the paper's claims, with the tolerance criterion stated.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Callable

import torch

from amdcgan.errors import UserError
from amdcgan.fileio import write_json_atomic, write_text_atomic
from amdcgan.hdl.mapping import plan_tiles
from amdcgan.hdl.spec import MAX_SUMMING_GAIN, Architecture

from .config import GanConfig
from .data import as_images
from .plots import load_samples, save_quality_plot, save_samples, save_sweep_grid
from .train import run_point

PARAMETERS = ("variability", "levels", "epochs")
PAPER_CLAIMS = {
    "variability": {"claim": "tolerates up to 30% variability (128 levels)", "value": 0.3},
    "levels": {"claim": "64 resistive levels are enough", "value": 64},
    "epochs": {"claim": "50 epochs give good images", "value": 50},
}
# A point "keeps the quality" when its FID is within this factor of the sweep's best point and it generates at least
# as many digit classes as that point less one. The paper judged its figures by eye; this is our stated criterion.
FID_TOLERANCE = 1.25
IMPROVEMENT = 0.9  # a sweep whose best point is not 10% better than untrained says nothing about tolerance
# Trains (config, folder) points and returns their summaries in order: here one by one, or batched.train_batched
# (together as one model), or distributed.run_points_on_ray (as Ray tasks).
Runner = Callable[[Architecture, list[tuple[GanConfig, Path]]], list[dict]]


def run_points(architecture: Architecture, jobs: list[tuple[GanConfig, Path]],
               progress: Callable[[str], Callable[[dict], None]] | None = None) -> list[dict]:
    """One point after another; `progress(label)` gives each point's training-progress callback."""
    return [run_point(architecture, config, out_dir, progress(out_dir.name) if progress else None)
            for config, out_dir in jobs]


def parse_values(parameter: str, text: str) -> list:
    if parameter not in PARAMETERS:
        raise UserError("choose one of --variability, --levels or --epochs to sweep")
    try:
        values = [float(item) if parameter == "variability" else int(item) for item in text.split(",") if item]
    except ValueError:
        raise UserError(f"--{parameter} takes comma-separated numbers, got {text!r}") from None
    if not values:
        raise UserError(f"--{parameter} needs at least one value")
    return values


def check_values(parameter: str, values: list, config: GanConfig) -> None:
    """Every sweep value makes a valid run, and no value is given twice: checked before any point trains."""
    repeated = sorted({value for value in values if values.count(value) > 1})
    if repeated:
        raise UserError(f"--{parameter}: {', '.join(map(str, repeated))} given more than once")
    for value in values:
        try:
            config.replace(**{parameter: value})
        except UserError as error:
            raise UserError(f"--{parameter} {value}: {error}") from None


def _label(parameter: str, value) -> str:
    names = {"variability": f"{value:.0%} variability", "levels": f"{value} levels", "epochs": f"{value} epochs"}
    return names[parameter]


def _quality(final: dict, untrained: dict) -> dict:
    return {**{key: final.get(key) for key in ("fid", "classes", "confidence")}, "untrained_fid": untrained.get("fid")}


def _sweep_points(architecture: Architecture, out_dir: Path, parameter: str, values: list, config: GanConfig,
                  runner: Runner):
    """(value, quality, samples) per sweep value."""
    if parameter == "epochs":
        run_config = config.replace(epochs=max(values), snapshot_epochs=tuple(sorted(values)))
        summary, = runner(architecture, [(run_config, out_dir / "epochs_run")])
        by_epoch = {row["epoch"]: row for row in summary["metrics"]}
        for value in values:
            samples = load_samples(out_dir / "epochs_run" / f"samples_epoch{value:03d}")
            yield value, _quality(by_epoch[value], summary["untrained"]), samples
        return
    jobs = [(config.replace(**{parameter: value}), out_dir / f"{parameter}_{value}") for value in values]
    for value, (_, point_dir), summary in zip(values, jobs, runner(architecture, jobs)):
        samples = load_samples(point_dir / f"samples_epoch{summary['epochs']:03d}")
        yield value, _quality(summary["final"], summary["untrained"]), samples


def tolerance_finding(parameter: str, points: list[dict]) -> dict:
    """Which sweep values keep the quality of the sweep's best point (see FID_TOLERANCE)."""
    scored = [point for point in points if point.get("fid") is not None]
    if not scored:
        return {"criterion": "not scored"}
    best = min(scored, key=lambda point: point["fid"])
    keeps = [point["value"] for point in scored
             if point["fid"] <= FID_TOLERANCE * best["fid"] and point["classes"] >= best["classes"] - 1]
    finding = {"criterion": f"FID <= {FID_TOLERANCE} x best ({best['fid']:.1f} at {best['value']}) and classes >= "
                            f"{best['classes'] - 1}", "values_keeping_quality": keeps,
               "paper": PAPER_CLAIMS[parameter]}
    if best.get("untrained_fid") is not None and best["fid"] > IMPROVEMENT * best["untrained_fid"]:
        finding["ours"] = None
        finding["note"] = "inconclusive: even the best point barely improved on its untrained generator; train longer"
    elif parameter == "variability":
        values = sorted(point["value"] for point in scored)
        first_bad = next((value for value in values if value not in keeps), None)
        finding["ours"] = max([value for value in keeps if first_bad is None or value < first_bad], default=None)
    else:
        finding["ours"] = min(keeps) if keeps else None
    return finding


def sweep(architecture: Architecture, out_dir: str | Path, parameter: str, values: list, config: GanConfig,
          runner: Runner = run_points) -> dict:
    """Train every point (with `runner`), then write the labelled sample grid, the quality plot, CSV, JSON and a
    summary."""
    if parameter not in PARAMETERS:
        raise UserError(f"cannot sweep {parameter!r}: choose one of {', '.join(PARAMETERS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    points, rows = [], []
    for value, quality, samples in _sweep_points(architecture, out_dir, parameter, values, config, runner):
        points.append({"value": value, **quality})
        rows.append((_label(parameter, value), samples))
    baseline = None
    if config.mode != "float":
        baseline_config = config.replace(mode="float", epochs=max(values) if parameter == "epochs" else config.epochs,
                                         snapshot_epochs=())
        baseline_run, = runner(architecture, [(baseline_config, out_dir / "float_baseline")])
        baseline = _quality(baseline_run["final"], baseline_run["untrained"])
    return write_sweep(architecture, out_dir, parameter, values, config, points, rows, baseline)


def write_sweep(architecture: Architecture, out_dir: Path, parameter: str, values: list, config: GanConfig,
                points: list[dict], rows: list, baseline: dict | None, title: str | None = None) -> dict:
    """The labelled sample grid, the quality plot, CSV, JSON and the finding beside the paper's claim."""
    title = title or f"{architecture.name}, {config.mode}: samples by {parameter}"
    grid = save_sweep_grid(rows, out_dir / f"sweep_{parameter}.png", title)
    plot = save_quality_plot(points, parameter, out_dir / f"quality_{parameter}.png", baseline,
                             log_x=parameter == "levels", title=title.replace("samples", "quality"))
    arrays = [str(save_samples(samples, out_dir / "samples" / f"{parameter}_{point['value']}")["npy"])
              for point, (_, samples) in zip(points, rows)]
    text = io.StringIO()
    writer = csv.DictWriter(text, list(points[0]))
    writer.writeheader()
    writer.writerows(points)
    write_text_atomic(out_dir / f"sweep_{parameter}.csv", text.getvalue())
    summary = {
        "architecture": architecture.name, "parameter": parameter, "values": values,
        "config": config.model_dump(mode="json"), "points": points, "float_baseline": baseline,
        "finding": tolerance_finding(parameter, points),
        "paths": {"grid": str(grid), "digits": str(grid.with_name(grid.stem + "_digits.png")), "plot": str(plot),
                  "csv": str(out_dir / f"sweep_{parameter}.csv"), "samples": arrays},  # samples: one .npy per point
    }
    write_json_atomic(out_dir / f"sweep_{parameter}.json", summary)
    return summary


def programming_sweep(architecture: Architecture, out_dir: str | Path, parameter: str, values: list,
                      config: GanConfig, trained_run: str | Path, announce: Callable[[str], None] | None = None) -> dict:
    """Ex-situ sweep: the generator of a finished ex-situ run (trained on the circuit with ideal devices),
    programmed once into the devices of each value.

    Training is done once; each point only programs, samples and scores, so a sweep of many device settings costs
    seconds. Each point also gives the RMS pixel difference between its images and the ideal-device generator's on
    the same noise (`rms_to_ideal`, images in [-1, 1]); `announce` gets a line per point. It answers "how much do
    these devices spoil a trained generator", which in-situ sweeps (`sweep`) answer for training on the devices
    themselves."""
    from .devices import DeviceModel
    from .layers import build_network, transfer
    from .quality import QualityScorer
    from .train import load_generator, sample_noise

    if parameter not in ("variability", "levels"):
        raise UserError("a programming sweep varies the devices: choose --variability or --levels")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ideal_generator, trained = load_generator(architecture, Path(trained_run))
    noise = sample_noise(trained, architecture)
    scorer = QualityScorer(device="cpu")
    plan_generator = plan_tiles(architecture).network("generator")
    points, rows = [], []
    with torch.no_grad():
        ideal_images = as_images(ideal_generator.eval()(noise))
        baseline = {**{key: value for key, value in scorer.score(ideal_images).items() if key != "class_histogram"},
                    "untrained_fid": None}
        for value in values:
            point = trained.replace(mode="exsitu", **{parameter: value})
            devices = DeviceModel.from_memristor(architecture.device, point)
            hardware = build_network(architecture, plan_generator, tile=True, devices=devices, clip=point.clip,
                                     activation_tables=point.activation_tables,
                                     generator=torch.Generator().manual_seed(point.seed + 1))
            transfer(ideal_generator, hardware)
            images = as_images(hardware.eval()(noise))
            quality = scorer.score(images)
            points.append({"value": value, **{key: quality[key] for key in ("fid", "classes", "confidence")},
                           "untrained_fid": None,
                           "rms_to_ideal": float((images - ideal_images).pow(2).mean().sqrt())})
            rows.append((_label(parameter, value), images))
            if announce:
                announce(f"{_label(parameter, value)}: FID {quality['fid']:.1f}, {quality['classes']} classes")
    title = (f"{architecture.name}, ex-situ (a generator trained on ideal devices, programmed into these): samples "
             f"by {parameter}")
    return write_sweep(architecture, out_dir, parameter, values, trained, points, rows, baseline, title)


# ---------------------------------------------------------------------------------------------------------------------
# Wire resistance against tile size

WIRE_FILES = "sweep_wires"
# (architecture, run folder) -> {"read_power_w": ..., "read_power_ideal_wires_w": ...}: the run's read power
ReadPower = Callable[[Architecture, Path], dict]


def wired_architecture(architecture: Architecture, tile_rows: int, wire_ohm: float) -> Architecture:
    """The architecture on tiles of `tile_rows` rows (its own tiles at its own size, square ones otherwise), with
    `wire_ohm` per cell segment on rows and columns alike.

    A layer that sets its own summing gain gets it scaled by the change of rows per tile: a load readout's column is
    a mean over its tile's rows, so the summed partials of a layer of R rows in tiles of N scale as R / N (their
    common part) and sqrt(R) / N (their random part), and a gain proportional to N keeps the layer's output scale."""
    if tile_rows == architecture.tiles.max_rows:
        tiles, networks = architecture.tiles, {}
    else:
        tiles = architecture.tiles.model_copy(update={"max_rows": tile_rows, "max_columns": tile_rows})
        networks = {name: _scaled_gains(network, tile_rows / architecture.tiles.max_rows)
                    for name, network in architecture.networks().items()}
    periphery = architecture.periphery.model_copy(update={"row_wire_ohm": wire_ohm, "column_wire_ohm": wire_ohm})
    return architecture.model_copy(update={"tiles": tiles, "periphery": periphery, **networks})


def _scaled_gains(network, factor: float):
    layers = [layer.model_copy(update={"summing_gain": min(layer.summing_gain * factor, MAX_SUMMING_GAIN)})
              if getattr(layer, "summing_gain", None) else layer for layer in network.layers]
    return network.model_copy(update={"layers": layers})


def _stale_change(run_dir: Path) -> float | None:
    """The largest relative output change of a kept wire solve against a fresh one at the run's last evaluation."""
    import json

    path = run_dir / "read_stats.json"
    if not path.exists():
        return None
    stats = json.loads(path.read_text())
    changes = [layer.get("stale_wire_output_change") for network in stats.values() for layer in network.values()]
    changes = [change for change in changes if change is not None]
    return max(changes) if changes else None


def parse_wire_sweep(wires: str, tile_rows: str | None, architecture: Architecture) -> tuple[list, list]:
    """`--wires 0,0.2,1,2.5` and `--tile-rows 32,64` (default: the architecture's tile rows)."""
    try:
        ohms = [float(item) for item in wires.split(",") if item.strip()]
        sizes = ([int(item) for item in tile_rows.split(",") if item.strip()] if tile_rows
                 else [architecture.tiles.max_rows])
    except ValueError:
        raise UserError(f"--wires takes comma-separated ohms and --tile-rows whole numbers, got {wires!r} and "
                        f"{tile_rows!r}") from None
    check_wire_sweep(ohms, sizes)
    return ohms, sizes


def check_wire_sweep(wire_ohms: list[float], tile_rows: list[int]) -> None:
    """Every point makes a valid architecture: checked before anything trains."""
    if not wire_ohms or not tile_rows:
        raise UserError("a wire sweep needs at least one wire resistance and one tile size")
    if any(not math.isfinite(ohm) or ohm < 0 for ohm in wire_ohms) or any(rows < 2 for rows in tile_rows):
        raise UserError("wire resistances must be finite and >= 0 ohm, and tile sizes at least 2 rows")


OUTPUT_TOLERANCE = 0.1  # a wired read keeps the quality only if it changes the images by at most 10 % (RMS)


def _keeps(point: dict, reference: dict) -> bool:
    if point.get("fid") is None:
        return False
    change = point.get("output_change")
    return (point["fid"] <= FID_TOLERANCE * reference["fid"] and point["classes"] >= reference["classes"] - 1
            and (change is None or change <= OUTPUT_TOLERANCE))


def wire_finding(points: list[dict]) -> dict:
    """Per wire resistance, the largest tile (rows) whose point keeps the quality of the same tile size with ideal
    wires: FID within `FID_TOLERANCE` and classes at most one fewer, and where the same trained circuit was read
    both ways, images changed by at most `OUTPUT_TOLERANCE`."""
    ideal = {point["tile_rows"]: point for point in points if point["wire_ohm"] == 0 and point.get("fid") is not None}
    criterion = (f"FID <= {FID_TOLERANCE} x the same tile size's FID with ideal wires, classes >= its classes less "
                 f"one, and (same trained circuit) images changed by <= {OUTPUT_TOLERANCE:.0%} RMS; a tile size "
                 "counts only if every smaller one also keeps")
    if not ideal:
        return {"criterion": criterion + " (no scored 0-ohm point: nothing to compare with)", "largest_tile_rows": {}}
    largest = {}
    for ohm in sorted({point["wire_ohm"] for point in points}):
        kept = None
        for point in sorted((p for p in points if p["wire_ohm"] == ohm), key=lambda p: p["tile_rows"]):
            reference = ideal.get(point["tile_rows"])
            if reference is None or not _keeps(point, reference):
                break
            kept = point["tile_rows"]
        largest[str(ohm)] = kept
    finding = {"criterion": criterion, "largest_tile_rows": largest}
    if all(point.get("untrained_fid") is not None and point["fid"] > IMPROVEMENT * point["untrained_fid"]
           for point in ideal.values()):
        finding["note"] = ("inconclusive: no ideal-wire point improved on its untrained generator by "
                           f"{1 - IMPROVEMENT:.0%}; train longer")
    return finding


def wire_table(summary: dict) -> str:
    """The sweep as a Markdown table: FID (classes) [image change] per tile size and wire resistance, the finding
    beneath."""
    ohms, sizes = summary["wire_ohms"], summary["tile_rows"]
    cells = {(point["tile_rows"], point["wire_ohm"]): point for point in summary["points"]}
    lines = ["| tile rows | " + " | ".join(f"{ohm:g} ohm" for ohm in ohms) + " |",
             "|---:|" + "---:|" * len(ohms)]
    for size in sizes:
        row = []
        for ohm in ohms:
            point = cells[size, ohm]
            text = "not scored" if point.get("fid") is None else f"{point['fid']:.1f} ({point['classes']})"
            if point.get("output_change") is not None:
                text += f" [{point['output_change']:.1%}]"
            row.append(text)
        lines.append(f"| {size} | " + " | ".join(row) + " |")
    finding = summary["finding"]
    largest = ", ".join(f"{float(ohm):g} ohm: {rows if rows is not None else 'none'}"
                        for ohm, rows in finding["largest_tile_rows"].items()) or "none (nothing to compare with)"
    note = f"\n{finding['note']}." if "note" in finding else ""
    legend = ("FID (classes) [RMS change of the images against the same circuit read with ideal wires]"
              if summary["method"] == "read" else "FID (classes), each point trained on its own wires")
    text = "\n".join(lines) + f"\n\n{legend}. Largest tile keeping quality: {largest}.\nCriterion: " \
                              f"{finding['criterion']}.{note}\n"
    if all(point.get("read_power_w") is not None for point in summary["points"]):
        power = ["| tile rows | " + " | ".join(f"{ohm:g} ohm" for ohm in ohms) + " |", "|---:|" + "---:|" * len(ohms)]
        power += [f"| {size} | " + " | ".join(f"{cells[size, ohm]['read_power_w']:.4g}" for ohm in ohms) + " |"
                  for size in sizes]
        text += ("\nCrossbar read power (W, every tile reading; the estimator on the run's conductances):\n\n"
                 + "\n".join(power) + "\n")
    return text


WIRE_METHODS = ("read", "retrain")


def wire_sweep(architecture: Architecture, out_dir: str | Path, wire_ohms: list[float], tile_rows: list[int],
               config: GanConfig, runner: Runner = run_points, read_power: ReadPower | None = None,
               method: str = "read", announce: Callable[[str], None] | None = None,
               runs: dict[int, Path] | None = None) -> dict:
    """Image quality against wire resistance per cell segment and tile size, on `wired_architecture`s.

    `method` "read": one training run (the config's mode) per tile size with ideal wires; its trained circuit is
    then read through each wire resistance (solved once per resistance), scored, and compared image by image with
    the ideal-wire read on the same noise (`output_change`: RMS change / RMS). "retrain": one run per point, trained
    on its own wires (in-situ training sees them and may compensate). Each point also gets (`read_power`, the
    estimators' figure handed in by the caller) the read power with its wires and with ideal ones on the run's
    conductances. `runs`: tile sizes already trained on ideal wires with this config (their run folders), read
    instead of trained again.

    Writes sweep_wires.json (`points`: tile_rows, wire_ohm, fid, classes, confidence, untrained_fid,
    output_change, read_power_w, read_power_ideal_wires_w, stale_wire_output_change; `finding`: `wire_finding`),
    sweep_wires.csv (the points), sweep_wires.md (`wire_table`) and a sample grid."""
    check_wire_sweep(wire_ohms, tile_rows)
    if config.mode == "float":
        raise UserError("a float network has no wires: sweep wires in insitu or exsitu mode")
    if method not in WIRE_METHODS:
        raise UserError(f"wire sweep method {method!r}: choose {' or '.join(WIRE_METHODS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    points, rows_of_samples = [], []
    for rows in tile_rows:
        if method == "read":
            run_dir = (runs or {}).get(rows, out_dir / f"rows{rows}")
            measured = _read_through_wires(architecture, run_dir, rows, wire_ohms, config, runner)
        else:
            measured = _retrain_on_wires(architecture, out_dir, rows, wire_ohms, config, runner)
        for ohm, (run_dir, quality, images) in zip(wire_ohms, measured):
            point_arch = wired_architecture(architecture, rows, ohm)
            power = read_power(point_arch, run_dir) if read_power else {}
            points.append({"tile_rows": rows, "wire_ohm": ohm, **quality, **power})
            rows_of_samples.append((f"{rows} rows, {ohm:g} ohm", images))
            if announce:
                announce(f"{rows} rows, {ohm:g} ohm: FID {quality['fid']:.1f}, {quality['classes']} classes"
                         + (f", images changed {quality['output_change']:.1%}"
                            if quality.get("output_change") is not None else ""))
    summary = {"architecture": architecture.name, "method": method, "wire_ohms": list(wire_ohms),
               "tile_rows": list(tile_rows), "config": config.model_dump(mode="json"), "points": points,
               "finding": wire_finding(points),
               "paths": {name: str(out_dir / f"{WIRE_FILES}.{name}") for name in ("json", "csv", "md", "png")}}
    save_sweep_grid(rows_of_samples, out_dir / f"{WIRE_FILES}.png",
                    f"{architecture.name}, {config.mode}: samples by tile size and wire resistance")
    text = io.StringIO()
    writer = csv.DictWriter(text, list(points[0]))
    writer.writeheader()
    writer.writerows(points)
    write_text_atomic(out_dir / f"{WIRE_FILES}.csv", text.getvalue())
    write_text_atomic(out_dir / f"{WIRE_FILES}.md", wire_table(summary))
    write_json_atomic(out_dir / f"{WIRE_FILES}.json", summary)
    return summary


def _read_through_wires(architecture: Architecture, run_dir: Path, rows: int, wire_ohms: list[float],
                        config: GanConfig, runner: Runner) -> list[tuple[Path, dict, torch.Tensor]]:
    """Train once on ideal wires, then read that circuit through each resistance: (run, quality, images) each."""
    from .layers import read_through_wires
    from .quality import QualityScorer
    from .train import load_generator, sample_noise

    train_arch = wired_architecture(architecture, rows, 0.0)
    summary, = runner(train_arch, [(config, run_dir)])
    generator, trained = load_generator(train_arch, run_dir, modes=("insitu", "exsitu"))
    noise = sample_noise(trained, train_arch)
    scorer = QualityScorer(device="cpu")
    measured = []
    with torch.no_grad():
        generator.eval()
        ideal_images = as_images(generator(noise))  # as trained: ideal wires
        for ohm in wire_ohms:
            read_through_wires(generator, ohm, ohm)
            images = as_images(generator(noise))
            quality = scorer.score(images)
            change = float((images - ideal_images).norm() / ideal_images.norm().clamp_min(1e-12))
            measured.append((run_dir, {**{key: quality[key] for key in ("fid", "classes", "confidence")},
                                       "untrained_fid": summary["untrained"].get("fid"), "output_change": change},
                             images))
    return measured


def _retrain_on_wires(architecture: Architecture, out_dir: Path, rows: int, wire_ohms: list[float],
                      config: GanConfig, runner: Runner) -> list[tuple[Path, dict, torch.Tensor]]:
    """One run per resistance, trained on its own wires: (run, quality, final samples) each."""
    measured = []
    for ohm in wire_ohms:
        run_dir = out_dir / f"rows{rows}_ohm{ohm:g}"
        summary, = runner(wired_architecture(architecture, rows, ohm), [(config, run_dir)])
        quality = {**_quality(summary["final"], summary["untrained"]), "output_change": None,
                   "stale_wire_output_change": _stale_change(run_dir)}
        measured.append((run_dir, quality, load_samples(run_dir / f"samples_epoch{summary['epochs']:03d}")))
    return measured
