"""The command line: `amdcgan describe | graph | netlist | schema | ...`.

Each backend adds its commands from its own `commands.py` (a `register(app, context)` function, handed the console
and the architecture loader, so that no backend imports this file), so this file stays the front door and no
backend's heavy imports happen before its command runs.
"""

from __future__ import annotations

import importlib
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from amdcgan import __version__
from amdcgan.context import CommandContext, max_work_option, seed_option
from amdcgan.errors import UserError
from amdcgan.fileio import check_output_file, locked_output_folder

app = typer.Typer(
    name="amdcgan",
    help="Hardware description and mixed-signal co-design of analog memristive GAN accelerators (AM-DCGAN).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output gets a width that fits the per-layer tables instead of rich's 80-column fallback.
console = Console() if sys.stdout.isatty() else Console(width=120)
err_console = Console(stderr=True)

ArchArg = typer.Argument(..., help="architecture YAML file (see examples/)", show_default=False)
BACKEND_COMMANDS = ("estimators", "layout", "sim", "gan")


def _version(value: bool) -> None:
    if value:
        console.print(f"amdcgan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True, help="print the version"),
) -> None:
    """Describe, estimate, lay out, simulate and train an analog memristive DCGAN accelerator."""


def load(path: Path, max_work: float = 1.0, *measures: str, batch: int = 64, copies: int = 1):
    """The validated architecture, refused when the work estimated for it (its tiles, and the given `measures`;
    training for `copies` models at once) exceeds the limits times `max_work`."""
    from amdcgan.hdl.loader import load_architecture
    from amdcgan.hdl.work import check_work, estimate_work

    architecture = load_architecture(path)
    work = estimate_work(architecture)
    figures = {"tiles": work.tiles, "netlist_lines": work.netlist_lines, "layout_items": work.layout_items,
               "spice_devices": work.spice_devices, "training_values": copies * work.training_values(batch)}
    check_work({measure: figures[measure] for measure in ("tiles", *measures)}, max_work, str(path))
    return architecture


def _component_columns(summary: dict) -> list[str]:
    """Component kinds present anywhere in the architecture, in library order."""
    return [kind for kind, count in summary["total"]["components"].items() if count]


@app.command()
def describe(
    arch: Path = ArchArg,
    as_json: bool = typer.Option(False, "--json", help="print machine-readable JSON instead of tables"),
    max_work: float = max_work_option(),
) -> None:
    """Per layer and in total: tiles, memristors, peripheral circuits of each kind, cycles per image."""
    from amdcgan.hdl.graph import build_graph

    summary = build_graph(load(arch, max_work)).summary()
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    layers = [
        (f"{network[0].upper()}.{name}", layer)
        for network, content in summary["networks"].items()
        for name, layer in content["layers"].items()
    ]
    structure = Table(title=f"{summary['architecture']}: crossbar layers")
    for header in ("layer", "type", "matrix", "tile grid", "tiles", "readout", "sum gain", "memristors",
                   "cycles/image"):
        structure.add_column(header, justify="left" if header in ("layer", "type", "readout") else "right")
    for label, layer in layers:
        gain = f"{layer['summing_gain']:g}" if layer["tile_grid"][0] > 1 else "-"  # one row tile: nothing to add
        structure.add_row(
            label, layer["type"], "x".join(map(str, layer["weight_matrix"])), "x".join(map(str, layer["tile_grid"])),
            f"{layer['tiles']:,}", layer["readout"], gain, f"{layer['memristors']['total']:,}",
            f"{layer['cycles_per_image']:,}",
        )
    for network, content in summary["networks"].items():
        total = content["total"]
        structure.add_row(f"{network} total", "", "", "", f"{total['tiles']:,}", "", "",
                          f"{total['memristors']['total']:,}", f"{total['cycles_per_image']:,}", style="bold")
    total = summary["total"]
    structure.add_row("accelerator", "", "", "", f"{total['tiles']:,}", "", "", f"{total['memristors']['total']:,}",
                      f"{total['cycles_per_image']:,}", style="bold")
    console.print(structure)
    circuits = Table(title="peripheral circuits per layer (G = generator, D = discriminator)")
    circuits.add_column("circuit")
    for label, _ in layers:
        circuits.add_column(label, justify="right")
    circuits.add_column("total", justify="right", style="bold")
    for kind in _component_columns(summary):
        circuits.add_row(kind, *(f"{layer['components'][kind]:,}" for _, layer in layers),
                         f"{total['components'][kind]:,}")
    console.print(circuits)
    memristors = summary["total"]["memristors"]
    console.print(
        "memristors: "
        + ", ".join(f"{kind} {count:,}" for kind, count in memristors.items() if kind != "total")
    )
    paper = summary["paper_comparison"]
    console.print(
        f"weights: ours {paper['our_weights']:,} vs paper {paper['paper_weights']:,} "
        f"(ratio {paper['ratio_weights_to_paper']:.2f}); crossbar memristors {paper['our_crossbar_memristors']:,}, "
        f"all memristors {paper['our_all_memristors']:,}"
    )
    console.print(f"[dim]{paper['why']}[/dim]")


@app.command()
def devices(
    as_json: bool = typer.Option(False, "--json", help="print machine-readable JSON instead of a table"),
) -> None:
    """The shipped memristive devices (name them in an architecture file as `device: NAME`) and their sources."""
    from amdcgan.hdl.loader import shipped

    presets = shipped("device")
    if as_json:
        sys.stdout.write(json.dumps({name: device.model_dump() for name, device in presets.items()}, indent=2) + "\n")
        return
    table = Table(title="shipped devices (device: NAME)")
    for header in ("name", "R_on", "R_off", "levels", "V_th", "V_write", "t_write", "V_read", "source"):
        table.add_column(header, justify="left" if header in ("name", "source") else "right")
    for name, device in presets.items():
        table.add_row(name, _ohms(device.r_on_ohm), _ohms(device.r_off_ohm), str(device.levels or "ideal"),
                      f"{device.v_threshold_v:g} V", f"{device.v_write_v:g} V", f"{device.t_write_s:g} s",
                      f"{device.v_read_v:g} V", device.citation.split(";")[0] or "-")
    console.print(table)
    console.print("[dim]full citations, and how unreported fields were chosen: amdcgan devices --json, and the "
                  "comments of hdl/data/device/NAME.yaml[/dim]")


def _ohms(value: float) -> str:
    for scale, prefix in ((1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.4g} {prefix}ohm"
    return f"{value:.4g} ohm"


@app.command()
def graph(
    arch: Path = ArchArg,
    output: Path = typer.Option(..., "-o", "--output", help="file to write: .graphml or .json"),
    max_work: float = max_work_option(),
) -> None:
    """Write the hardware graph as GraphML or node-link JSON."""
    from amdcgan.hdl.graph import build_graph

    suffix = check_output_file(output).suffix.lower()
    if suffix not in (".graphml", ".json"):
        raise UserError(f"{output}: choose a .graphml or .json file name")
    hardware = build_graph(load(arch, max_work))
    if suffix == ".graphml":
        hardware.write_graphml(output)
    else:
        hardware.write_json(output)
    console.print(
        f"wrote {output} ({hardware.graph.number_of_nodes():,} nodes, {hardware.graph.number_of_edges():,} nets)"
    )


@app.command()
def netlist(
    arch: Path = ArchArg,
    output: Path = typer.Option(..., "-o", "--output", help="SPICE file to write (.cir), self-contained"),
    tile: Optional[str] = typer.Option(
        None, "--tile", help="only this tile, as NETWORK.LAYER.INDEX (e.g. generator.project.0), with a test bench"),
    bench: bool = typer.Option(
        False, "--bench", help="a test bench reading every layer (inputs, controls, the sign columns read one per DC "
        "sweep step); without it the accelerator at rest; a tile always has one"),
    weights: Optional[Path] = typer.Option(
        None, "--weights", help="a training run's folder: write the conductances it left in RUN/conductances.npz "
        "(default: every weight at +w_max/2)"),
    periphery: str = typer.Option(
        "behavioural", "--periphery", help="behavioural (B-source macromodels) or sky130: the architecture on "
        "sky130 with transistor-level IVCs, summing amplifiers and activations (needs `make sky130`)"),
    max_work: float = max_work_option(),
) -> None:
    """Write a SPICE netlist of the whole accelerator, or of one tile with a test bench, holding its conductances."""
    from amdcgan.hdl.electrical import load_run_conductances
    from amdcgan.hdl.mapping import plan_tiles
    from amdcgan.hdl.netlist import write_accelerator_netlist, write_tile_netlist

    check_output_file(output)
    architecture = load(arch, max_work, "netlist_lines")
    transistors = None
    if periphery == "sky130":
        architecture, transistors = sky130_periphery(architecture)
    elif periphery != "behavioural":
        raise UserError(f"--periphery {periphery!r}: choose behavioural or sky130")
    plan = plan_tiles(architecture)
    layers = load_run_conductances(weights, plan, architecture.device) if weights else None
    written = (write_tile_netlist(plan, tile, output, layers, transistors) if tile
               else write_accelerator_netlist(plan, output, bench, layers, transistors))
    for path in written:
        console.print(f"wrote {path}")


def sky130_periphery(architecture):
    """The architecture on sky130 and the transistor-level periphery that goes with it (tt models)."""
    from amdcgan.hdl.electrical import Periphery
    from amdcgan.hdl.loader import with_technology
    from amdcgan.hdl.netlist import TransistorPeriphery
    from amdcgan.hdl.process import load_process
    from amdcgan.sim.sky130 import reduced_models

    on_sky130 = with_technology(architecture, "sky130", None)
    return on_sky130, TransistorPeriphery(load_process("sky130"), Periphery.of(on_sky130), str(reduced_models("tt")))


@app.command()
def schema(
    output: Path = typer.Option(Path("schema"), "-o", "--output", help="folder for the JSON Schema files"),
) -> None:
    """Write the JSON Schemas of architecture, technology, device and component-library files."""
    from amdcgan.hdl.schema import write_schemas

    with locked_output_folder(output):
        written = write_schemas(output)
    for path in written:
        console.print(f"wrote {path}")


@app.command()
def reproduce(
    output: Path = typer.Option(Path("out/reproduce"), "-o", "--output", help="folder for the report and its files"),
    quick: bool = typer.Option(True, "--quick/--full", help="quick: 2 CPU cores, minutes; full: the paper's scale"),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, or auto (cuda when present)"),
    data: Optional[Path] = typer.Option(None, "--data", help="folder with full MNIST IDX files (default: embedded digits)"),
    seed: int = seed_option(),
    only: Optional[str] = typer.Option(None, "--only", help="comma-separated stages to run (default: all)"),
) -> None:
    """Run every part on the reference architectures; write DIR/index.html, DIR/report.md and DIR/reproduce.json
    (every verdict and figure) beside the paper."""
    from amdcgan import reproduce as job
    from amdcgan.progress import ProgressLog

    if device not in ("auto", "cpu", "cuda"):
        raise UserError(f"--device: expected cpu, cuda or auto, got {device!r}")
    stages = [name for name, _ in job.STAGES]
    selected = [name.strip() for name in only.split(",")] if only else None
    unknown = sorted(set(selected or []) - set(stages))
    if unknown:
        raise UserError(f"--only: unknown stage(s) {', '.join(unknown)}; stages: {', '.join(stages)}")
    if data is not None and not data.is_dir():
        raise UserError(f"--data: {data} is not a folder")
    ctx = job.Context(out=output, quick=quick, device=device, seed=seed, data_dir=data,
                      reference=job.EXAMPLES / "am_dcgan_mnist.yaml", small=job.EXAMPLES / "small_system.yaml")
    with locked_output_folder(output), ProgressLog(console.file) as log:
        outcomes = job.reproduce(ctx, log, selected)
    table = Table(title="reproduce")
    for header in ("stage", "status", "seconds", "note"):
        table.add_column(header)
    for outcome in outcomes:
        colour = {"done": "green", "skipped": "yellow", "failed": "red"}[outcome.status]
        table.add_row(outcome.name, f"[{colour}]{outcome.status}[/{colour}]", f"{outcome.seconds:.1f}", outcome.reason)
    console.print(table)
    console.print(f"report: {output / 'index.html'}, {output / 'report.md'} and {output / 'reproduce.json'}")
    if any(outcome.status == "failed" for outcome in outcomes):
        raise typer.Exit(1)


def _run_read_power_w(architecture, run_dir) -> dict[str, float]:
    from amdcgan.estimators.power import run_read_power_w

    return run_read_power_w(architecture, run_dir)


def _register_backends() -> None:
    context = CommandContext(console=console, load=load, run_read_power_w=_run_read_power_w)
    for backend in BACKEND_COMMANDS:
        try:
            module = importlib.import_module(f"amdcgan.{backend}.commands")
        except ModuleNotFoundError as error:
            if error.name != f"amdcgan.{backend}.commands":
                raise
            continue
        module.register(app, context)


_register_backends()


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every `finally` runs and no temporary file is left behind."""


_signals = {"terminated": False}
ABORTED = 130  # what click answers for Ctrl-C when it does not exit itself


def _terminate(signum, frame) -> None:
    _signals["terminated"] = True
    raise _Terminated()


def main(argv: list[str] | None = None) -> int:
    logging.getLogger("PySpice").setLevel(logging.ERROR)
    _signals["terminated"] = False
    if threading.current_thread() is not threading.main_thread():  # signal handlers belong to the main thread
        return _run(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stopped() -> int:
    if _signals["terminated"]:
        err_console.print("terminated")
        return 143
    err_console.print("interrupted")
    return ABORTED


def _run(argv: list[str] | None) -> int:
    try:
        outcome = app(args=argv, standalone_mode=False)
    except UserError as error:
        from rich.markup import escape  # a message may hold brackets (pip extras, shapes) that are not markup

        err_console.print(f"[bold red]error:[/bold red] {escape(str(error))}", highlight=False, soft_wrap=True)
        return 2
    except typer.Exit as done:
        return done.exit_code
    except (typer.Abort, KeyboardInterrupt):
        return _stopped()
    except RecursionError:
        err_console.print("[bold red]error:[/bold red] the input is nested too deeply to process", highlight=False)
        return 2
    except Exception as error:  # click usage errors carry their own message and exit code
        import click

        if isinstance(error, click.ClickException):
            error.show()
            return error.exit_code
        raise
    if outcome == ABORTED:  # click turned Ctrl-C or SIGTERM into its Abort and returned its code
        return _stopped()
    return outcome if isinstance(outcome, int) else 0


if __name__ == "__main__":
    sys.exit(main())
