"""`amdcgan import`, `amdcgan train` and `amdcgan sweep`. Heavy imports (torch, matplotlib) happen inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from amdcgan.context import CommandContext, max_work_option, seed_option

ArchArg = typer.Argument(..., help="architecture YAML file (see examples/)", show_default=False)


def _tables(specs: list[str]) -> dict[str, Path]:
    from amdcgan.errors import UserError
    from amdcgan.fileio import read_bytes_capped
    from amdcgan.gan.layers import read_activation_table

    tables = {}
    for spec in specs:
        function, _, path = spec.partition("=")
        if not path:
            raise UserError(f"--activation takes FUNCTION=CSV (e.g. tanh=sim/data/tanh.csv), got {spec!r}")
        read_bytes_capped(path, ACTIVATION_TABLE_BYTES, "CSV activation table")  # a regular file of sane size
        read_activation_table(Path(path))  # a valid curve, checked before any work
        tables[function.strip()] = Path(path)
    return tables


def _config(**fields):
    from amdcgan.gan.config import make_config, parse_levels

    if fields.get("levels") is not None:
        fields["levels"] = parse_levels(fields["levels"])
    fields["activation_tables"] = _tables(fields.pop("activation") or [])
    return make_config(**fields)


ACTIVATION_TABLE_BYTES = 4 * 2**20  # a row of the parsed table takes about 200 bytes of memory

COMMON = {
    "variability": typer.Option(None, "--variability", help="device-to-device sigma as a fraction (0.3 = 30%)"),
    "levels": typer.Option(None, "--levels", help="resistive levels (2..65536) or 'ideal'; default: device file"),
    "mode": typer.Option("insitu", "--mode", help="insitu | exsitu | float"),
    "device": typer.Option("cpu", "--device", help="cpu | cuda"),
    "seed": seed_option(),
    "batch": typer.Option(64, "--batch"),
    "limit": typer.Option(0, "--limit", help="images per epoch (0 = all: the 5,000 embedded digits or the --data set)"),
    "data": typer.Option(None, "--data", help="folder with MNIST IDX files; default: 5,000 embedded digits"),
    "activation": typer.Option(None, "--activation", help="FUNCTION=CSV circuit curve (v_in,v_out); repeatable"),
}


def register(app: typer.Typer, context: CommandContext) -> None:
    @app.command("import")
    def import_model(
        model: Optional[str] = typer.Argument(
            None, help="a GAN (generator and discriminator attributes): package.module:Name or file.py:Name",
            show_default=False),
        output: Path = typer.Option(..., "-o", "--output", help="architecture YAML file to write"),
        generator: Optional[str] = typer.Option(None, "--generator", help="module path, TorchScript (.pt) or .onnx"),
        discriminator: Optional[str] = typer.Option(None, "--discriminator", help="as --generator"),
        base: Optional[Path] = typer.Option(None, "--base", help="architecture file for the hardware (technology, "
                                            "device, components, tiles) and any network not imported"),
        name: Optional[str] = typer.Option(None, "--name", help="architecture name (default: the file's name)"),
        generator_input: Optional[str] = typer.Option(None, "--generator-input", help="e.g. 100 or 100,1,1"),
        discriminator_input: Optional[str] = typer.Option(None, "--discriminator-input",
                                                          help="default: the generator's output, e.g. 1,28,28"),
        skip_unsupported: bool = typer.Option(False, "--skip-unsupported",
                                              help="list layers that have no circuit and leave them out"),
    ) -> None:
        """Write the architecture file of PyTorch models (traced with torch.fx, or read from TorchScript or ONNX)."""
        from amdcgan.fileio import check_output_file
        from amdcgan.gan.importer import run_import

        console = context.console
        check_output_file(output)
        written = run_import(model, output, generator, discriminator, base, name, generator_input,
                             discriminator_input, skip_unsupported)
        for network, parts in written["left_out"].items():
            for part in parts:
                console.print(f"left out of the {network}: {part}", highlight=False)
        counts = ", ".join(f"{network} {len(content['layers'])} layers" for network, content in
                           written["networks"].items())
        console.print(f"wrote {output} ({counts})")

    @app.command()
    def train(
        arch: Path = ArchArg,
        output: Path = typer.Option(..., "-o", "--output", help="run folder"),
        epochs: int = typer.Option(1, "--epochs"),
        variability: Optional[float] = COMMON["variability"],
        levels: Optional[str] = COMMON["levels"],
        mode: str = COMMON["mode"],
        device: str = COMMON["device"],
        seed: int = COMMON["seed"],
        batch: int = COMMON["batch"],
        limit: int = COMMON["limit"],
        data: Optional[Path] = COMMON["data"],
        activation: Optional[list[str]] = COMMON["activation"],
        baseline: bool = typer.Option(False, "--baseline", help="also train the float DCGAN for comparison"),
        resume: bool = typer.Option(False, "--resume", help="continue the run in the output folder"),
        characterized: Optional[Path] = typer.Option(
            None, "--characterized", help="a folder `amdcgan characterize` wrote: train on its technology and "
                                          "component library, with its measured activation curves"),
        max_work: float = max_work_option(),
    ) -> None:
        """Train the DCGAN on the memristive tile model (in-situ or ex-situ) or in float; checkpoint every epoch."""
        from amdcgan.fileio import check_output_folder, locked_output_folder
        from amdcgan.gan.train import train as train_run
        from amdcgan.progress import ProgressLog, training_events

        console = context.console
        check_output_folder(output)
        config = _config(mode=mode, epochs=epochs, variability=variability, levels=levels, device=device, seed=seed,
                         batch=batch, limit=limit or None, data_dir=data, activation=activation, baseline=baseline,
                         max_work=max_work)
        architecture = context.load(arch, max_work, "training_values", batch=batch)
        if characterized is not None:
            from amdcgan.sim.characterize import characterized_hardware

            architecture, curves = characterized_hardware(architecture, characterized)
            config = config.replace(activation_tables={**curves, **config.activation_tables})
        with locked_output_folder(output), ProgressLog(console.file) as log:
            summary = train_run(architecture, output, config, resume=resume, progress=training_events(log, mode))
        final, untrained = summary["final"], summary["untrained"]
        console.print(f"{summary['architecture']} {mode}: {summary['epochs']} epochs, FID {untrained.get('fid', 0):.1f}"
                      f" -> {final.get('fid', 0):.1f}, {final.get('classes')} classes; wrote {output}")
        if "baseline" in summary:
            console.print(f"float DCGAN baseline: FID {summary['baseline']['final'].get('fid', 0):.1f}, "
                          f"{summary['baseline']['final'].get('classes')} classes")

    @app.command()
    def sweep(
        arch: Path = ArchArg,
        output: Path = typer.Option(..., "-o", "--output", help="sweep folder"),
        variability: Optional[str] = typer.Option(None, "--variability", help="e.g. 0,0.1,0.2,0.3,0.4,0.5"),
        levels: Optional[str] = typer.Option(None, "--levels", help="e.g. 2,4,8,16,32,64,128,256"),
        epochs: Optional[str] = typer.Option(None, "--epochs", help="e.g. 1,20,50,70 (one run, snapshots)"),
        wires: Optional[str] = typer.Option(None, "--wires", help="wire resistance per cell segment in ohm, rows "
                                            "and columns, e.g. 0,0.2,1,2.5 (with --tile-rows)"),
        retrain_on_wires: bool = typer.Option(False, "--retrain-on-wires", help="with --wires: train every point "
                                              "on its own wires (default: train once per tile size on ideal wires, "
                                              "then read that circuit through each resistance)"),
        tile_rows: Optional[str] = typer.Option(None, "--tile-rows", help="square tile sizes for --wires, e.g. "
                                                "32,64,128,256; default: the architecture's"),
        train_epochs: int = typer.Option(1, "--train-epochs", help="epochs per point in variability/levels sweeps, per tile size in wire sweeps"),
        mode: str = COMMON["mode"],
        device: str = COMMON["device"],
        seed: int = COMMON["seed"],
        batch: int = COMMON["batch"],
        limit: int = COMMON["limit"],
        data: Optional[Path] = COMMON["data"],
        activation: Optional[list[str]] = COMMON["activation"],
        from_run: Optional[Path] = typer.Option(
            None, "--from-run", help="a finished exsitu run (trained on ideal devices): program its generator for "
                                     "each point instead of training (seconds per point)"),
        ray: Optional[str] = typer.Option(
            None, "--ray", metavar="ADDRESS", help="train the points as Ray tasks: 'local' starts Ray here for the "
            "sweep; an address (host:port, ray://host:port, auto) joins that cluster, whose nodes must all see the "
            "output folder; needs pip install 'amdcgan\\[ray]'"),
        batched: bool = typer.Option(
            False, "--batched", help="train the points together in this process as one batched model (same numbers "
                                     "to float tolerance; faster on CPU for small networks)"),
        max_work: float = max_work_option(),
    ) -> None:
        """Reproduce Figs. 7-9: quality and samples against variability, resistive levels or epochs; or (--wires)
        quality against wire resistance and tile size.

        Points are trained one after another, or together as one batched model (--batched), or as Ray tasks (--ray);
        a rerun reuses finished points and continues unfinished ones from their checkpoints."""
        from functools import partial

        from amdcgan.errors import UserError
        from amdcgan.fileio import check_output_folder, locked_output_folder
        from amdcgan.gan.sweep import check_values, parse_values, run_points, sweep as sweep_run
        from amdcgan.progress import ProgressLog, training_events

        console = context.console
        check_output_folder(output)

        if wires is not None:
            from amdcgan.gan.sweep import parse_wire_sweep, wire_sweep

            if variability or levels or epochs or from_run or ray or batched:
                raise UserError("--wires sweeps alone: without --variability, --levels, --epochs, --from-run, --ray "
                                "or --batched")
            architecture = context.load(arch, max_work, "training_values", batch=batch)
            ohms, sizes = parse_wire_sweep(wires, tile_rows, architecture)
            config = _config(mode=mode, epochs=train_epochs, device=device, seed=seed, batch=batch,
                             limit=limit or None, data_dir=data, activation=activation, max_work=max_work)
            with locked_output_folder(output), ProgressLog(console.file) as log:
                runner = partial(run_points, progress=lambda label: training_events(log, label))
                summary = wire_sweep(architecture, output, ohms, sizes, config, runner=runner,
                                     read_power=context.run_read_power_w,
                                     method="retrain" if retrain_on_wires else "read", announce=log.write)
            console.print(Path(summary["paths"]["md"]).read_text(), highlight=False)
            console.print(f"wrote {', '.join(summary['paths'].values())}")
            return
        if tile_rows is not None or retrain_on_wires:
            raise UserError("--tile-rows and --retrain-on-wires go with --wires")
        chosen = {name: text for name, text in (("variability", variability), ("levels", levels),
                                                ("epochs", epochs)) if text}
        if len(chosen) != 1:
            raise UserError("sweep exactly one of --variability, --levels or --epochs")
        (parameter, text), = chosen.items()
        values = parse_values(parameter, text)
        config = _config(mode=mode, epochs=train_epochs, device=device, seed=seed, batch=batch, limit=limit or None,
                         data_dir=data, activation=activation, max_work=max_work)
        check_values(parameter, values, config)
        if sum(option is not None for option in (from_run, ray)) + batched > 1:
            raise UserError("choose at most one of --from-run, --ray and --batched")
        architecture = context.load(arch, max_work, "training_values", batch=batch,
                                    copies=len(values) if batched else 1)  # a batched sweep holds every point
        with locked_output_folder(output), ProgressLog(console.file) as log:
            if from_run is not None:
                from amdcgan.gan.sweep import programming_sweep

                task = log.task(f"programming {parameter}", total=len(values))
                summary = programming_sweep(architecture, output, parameter, values, config, from_run,
                                            announce=lambda line: (task.advance(), task.note(line)))
            elif ray is not None:
                from amdcgan.gan.distributed import sweep_on_ray

                log.write(f"training {len(values)} points as Ray tasks")
                summary = sweep_on_ray(architecture, output, parameter, values, config, address=ray)
            elif batched:
                from amdcgan.gan.batched import train_batched

                log.write(f"training {len(values)} points as one batched model")
                summary = sweep_run(architecture, output, parameter, values, config, runner=train_batched)
            else:
                runner = partial(run_points, progress=lambda label: training_events(log, label))
                summary = sweep_run(architecture, output, parameter, values, config, runner=runner)
        for point in summary["points"]:
            console.print(f"{parameter} {point['value']}: FID {point['fid']:.1f}, {point['classes']} classes")
        finding = summary["finding"]
        why = finding.get("note") or finding["criterion"]
        console.print(f"ours: {finding.get('ours')} ({why}); paper: {finding['paper']['claim']}")
        console.print(f"wrote {summary['paths']['grid']} (digits alone: {summary['paths']['digits']}), "
                      f"{summary['paths']['plot']}; raw samples per point under {output / 'samples'}")
