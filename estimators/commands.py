"""`amdcgan estimate`: area, power, training time and power of an architecture, as a report and a terminal summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from amdcgan.context import CommandContext, max_work_option
from amdcgan.errors import UserError
from amdcgan.fileio import MAX_INPUT_BYTES, MAX_JSON_BYTES, read_bytes_capped, read_text_capped


def _read_json(path: Path | None, what: str) -> dict | None:
    if path is None:
        return None
    text = read_text_capped(path, MAX_JSON_BYTES, "JSON file")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        where = f" at line {error.lineno}, column {error.colno}" if isinstance(error, json.JSONDecodeError) else ""
        raise UserError(f"{path}: not a valid JSON file{where}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object of {what}")
    return data


def _checked_npz(path: Path) -> Path:
    """A regular .npz file whose arrays, unpacked, stay under the input cap (no zip bomb reaches numpy)."""
    import io
    import zipfile

    data = read_bytes_capped(path, what=".npz file")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
    except zipfile.BadZipFile:
        raise UserError(f"{path}: not an .npz file (not a zip archive)") from None
    if unpacked > MAX_INPUT_BYTES:
        raise UserError(f"{path}: its arrays unpack to {unpacked:,} bytes, more than the {MAX_INPUT_BYTES:,} "
                        f"allowed")
    return path


def _print_summary(console, result: dict) -> None:
    from rich.table import Table

    head = result["headline"]
    summary = Table(title=f"{result['architecture']}: estimate")
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    for label, value in (
        ("area, component sum", f"{head['area_component_sum_mm2']:.4g} mm^2"),
        ("area, floorplan chip", f"{head['area_floorplan_chip_mm2']:.4g} mm^2"),
        ("power, all on", f"{head['power_all_on_w']:.4g} W"),
        ("power, duty-cycled", f"{head['power_duty_cycled_w']:.4g} W"),
        ("dropout saves (all on)", f"{head['dropout_saves_all_on_w']:.4g} W"),
    ):
        summary.add_row(label, value)
    console.print(summary)
    rows = result["training"]["architecture"]["rows"]
    widths = list(rows[0]["time_s"])
    training = Table(title="training time and write power (this architecture)")
    training.add_column("configuration", no_wrap=True)
    for header in ("cycles/image", "P max (W)", "P min (W)", *(f"t@{float(w) * 1e9:g}ns (s)" for w in widths)):
        training.add_column(header, justify="right")
    for row in rows:
        training.add_row(row["name"], f"{row['cycles_per_image']:,.0f}", f"{row['power_max_w']:.4g}",
                         f"{row['power_min_w']:.4g}", *(f"{row['time_s'][w]:.4g}" for w in widths))
    console.print(training)
    agreeing = [row["name"] for row in result["training"]["paper_comparison"]["rows"] if row["agrees"]]
    console.print(f"Table II rows reproduced on the paper's inputs: {', '.join(agreeing) or 'none'}")


def register(app: typer.Typer, context: CommandContext) -> None:
    @app.command()
    def estimate(
        arch: Path = typer.Argument(..., help="architecture YAML file (see examples/)", show_default=False),
        output: Path = typer.Option(..., "-o", "--output", help="folder for report.md, report.json, report.html"),
        weights: Optional[Path] = typer.Option(
            None, "--weights", help="a training run's folder (RUN): read power from the conductances it left"
        ),
        layout_areas: Optional[Path] = typer.Option(
            None, "--layout-areas", help="JSON object tile id -> measured layout area (um^2)"
        ),
        run_stats: Optional[Path] = typer.Option(
            None, "--run-stats", help="JSON object of a training run's write statistics"
        ),
        update_configs: Optional[Path] = typer.Option(
            None, "--update-configs", help="YAML of update configurations (default: the paper's Table II rows)"
        ),
        technology: Optional[str] = typer.Option(None, "--technology", help="technology name or file to use instead"),
        components: Optional[str] = typer.Option(None, "--components", help="component library name or file instead"),
        images: Optional[int] = typer.Option(None, "--images", help="training images per epoch (default 60000)"),
        epochs: Optional[int] = typer.Option(None, "--epochs", help="training epochs (default 50)"),
        v_write: Optional[float] = typer.Option(None, "--v-write", help="write voltage (V; default: the device's)"),
        r_on: Optional[float] = typer.Option(None, "--r-on", help="R_on (Ohm; default: the device's)"),
        r_off: Optional[float] = typer.Option(None, "--r-off", help="R_off (Ohm; default: the device's)"),
        scale_to: str = typer.Option(
            "cmos45:table1_45nm", "--scale-to", help="TECHNOLOGY:COMPONENTS for the scaling section; 'none' skips it"
        ),
        paper_small_system: bool = typer.Option(
            False, "--paper-small-system", help="set the totals beside the paper's small system (0.188 mm^2, 7 W)"
        ),
        max_work: float = max_work_option(),
    ) -> None:
        """Area, power, and training time and power (Table II) as report.md/.json/.html and a summary."""
        from amdcgan.estimators.estimate import write_estimate_report
        from amdcgan.hdl.loader import with_technology
        from amdcgan.estimators.training import TrainingInputs, load_run_stats
        from amdcgan.fileio import check_output_folder, locked_output_folder
        from amdcgan.hdl.electrical import RUN_CONDUCTANCES, load_run_conductances
        from amdcgan.hdl.mapping import plan_tiles

        console = context.console
        check_output_folder(output)
        architecture = context.load(arch, max_work)
        if technology or components:
            architecture = with_technology(architecture, technology, components)
        if scale_to.lower() == "none":
            scaling = None
        elif scale_to.count(":") == 1 and all(scale_to.split(":")):
            scaling = tuple(scale_to.split(":"))
        else:
            raise UserError(f"--scale-to {scale_to!r}: expected TECHNOLOGY:COMPONENTS or none")
        training = {"images": images, "epochs": epochs, "v_write_v": v_write, "r_on_ohm": r_on, "r_off_ohm": r_off}
        TrainingInputs.for_architecture(architecture, **training)  # bad options are refused before any work
        layout_areas_data = _read_json(layout_areas, "tile areas")
        run_stats_data = load_run_stats(_read_json(run_stats, "run statistics"), str(run_stats))
        conductances = None
        if weights is not None:
            if (weights / RUN_CONDUCTANCES).is_file():
                _checked_npz(weights / RUN_CONDUCTANCES)
            conductances = load_run_conductances(weights, plan_tiles(architecture), architecture.device)
        with locked_output_folder(output):
            result = write_estimate_report(
                architecture, output,
                scale_to=scaling,
                layout_areas=layout_areas_data,
                run_stats=run_stats_data,
                conductances=conductances,
                update_configs=update_configs,
                training=training,
                paper_small_system=paper_small_system,
            )
        _print_summary(console, result)
        for path in result["files"].values():
            console.print(f"wrote {path}")
