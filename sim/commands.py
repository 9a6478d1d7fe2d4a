"""`amdcgan spice`: the SPICE checks of the tiles from the command line. Nothing heavy is imported at module level."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from amdcgan.context import CommandContext, max_work_option, seed_option

CHECK_NAMES = ("dc", "transient", "activations", "leakage", "variability", "irdrop", "write")  # all: ngspice alone
Check = Enum("Check", {name: name for name in (*CHECK_NAMES, "sky130_tile", "all")}, type=str)


def register(app: typer.Typer, context: CommandContext) -> None:
    @app.command()
    def spice(
        arch: Path = typer.Argument(..., help="architecture YAML file (see examples/)", show_default=False),
        check: Check = typer.Option("all", "--check", help="which check to run"),
        output: Path = typer.Option(..., "-o", "--output", help="folder for netlists, CSV data and plots"),
        quick: bool = typer.Option(False, "--quick", help="smaller tiles and fewer Monte Carlo draws"),
        seed: int = seed_option("seed of every random draw"),
        max_work: float = max_work_option(),
    ) -> None:
        """SPICE checks of the tiles in ngspice: DC against numpy, transient (Fig. 4), activations (Fig. 5),
        leakage (Fig. 6), variability (Fig. 7), IR drop and the memristor write model; sky130_tile (not in all:
        it needs `make sky130`) runs a tile with transistor-level periphery against the model."""
        from amdcgan.fileio import check_output_folder, locked_output_folder
        from amdcgan.progress import ProgressLog
        from amdcgan.sim.checks import run_checks

        check_output_folder(output)
        architecture = context.load(arch, max_work, "spice_devices")
        chosen = CHECK_NAMES if check.value == "all" else (check.value,)
        console = context.console
        with locked_output_folder(output), ProgressLog(console.file) as log:
            task = log.task("ngspice")
            results = run_checks(architecture, output, chosen, quick=quick, seed=seed,
                                 progress=lambda label: task.advance(status=label, announce=True))
            task.close()
        console.print(summary_table(results))
        console.print(f"wrote netlists, CSV and plots under {output}")


    @app.command()
    def characterize(
        technology: str = typer.Option("sky130", "--technology", help="process with transistor models (sky130)"),
        output: Path = typer.Option(..., "-o", "--output", help="folder for the library YAML, curves and netlists"),
        corners: Optional[str] = typer.Option(None, "--corners", help="comma-separated process corners "
                                              "[default: tt,ff,ss; tt with --quick]"),
        temperatures: Optional[str] = typer.Option(None, "--temperatures", help="comma-separated temperatures in C "
                                                   "[default: -40,27,85; 27 with --quick]"),
        quick: bool = typer.Option(False, "--quick", help="coarser sweeps, and tt at 27 C unless --corners or "
                                   "--temperatures name others"),
        jobs: int = typer.Option(1, "--jobs", help="ngspice processes at once"),
    ) -> None:
        """Simulate every periphery circuit at transistor level across corners and temperatures; write a
        component library (power, area, measured figures, provenance) and the activations' transfer curves."""
        from rich.console import Console

        from amdcgan.errors import UserError
        from amdcgan.sim.characterize import characterize as run, write_characterization

        corners = corners if corners is not None else "tt" if quick else "tt,ff,ss"
        temperatures = temperatures if temperatures is not None else "27" if quick else "-40,27,85"
        try:
            temps = tuple(float(value) for value in temperatures.split(",") if value.strip())
        except ValueError:
            raise UserError(f"--temperatures: expected numbers separated by commas, got {temperatures!r}") from None
        chosen = tuple(value.strip() for value in corners.split(",") if value.strip())
        console = Console()
        with console.status("ngspice") as status:
            result = run(technology, chosen, temps, quick=quick, jobs=jobs,
                         progress=lambda label: status.update(f"ngspice: {label}"))
        written = write_characterization(result, output)
        console.print(characterization_table(result))
        console.print(f"{len(written)} files under {output}; library {written[-1]}; "
                      f"{result.seconds:.1f} s of simulation")


def characterization_table(result):
    from rich.table import Table

    table = Table(title=f"{result.library.name}: {result.library.provenance}")
    for header in ("circuit", "power (mW)", "area (um^2)", "measured at the nominal condition"):
        table.add_column(header, justify="left" if header.startswith(("circuit", "measured")) else "right")
    for kind, component in result.library.components.items():
        nominal = next(m for m in component.measured if (m.corner, m.temperature_c) == result.nominal)
        figures = ", ".join(f"{name} {value:.3g}" for name, value in nominal.figures.items())
        table.add_row(kind.value, f"{component.power_mw:.4g}", f"{component.area_um2:.4g}", figures)
    return table


def summary_table(results: dict):
    """One row per check: its headline figure and the files it wrote."""
    from rich.table import Table

    table = Table(title="SPICE checks")
    for header in ("check", "result", "files"):
        table.add_column(header)
    for name, result in results.items():
        files = [str(result[key]) for key in ("plot", "csv") if isinstance(result.get(key), str)]
        table.add_row(name, headline(name, result), "\n".join(files))
    return table


def headline(name: str, result: dict) -> str:
    if name == "dc":
        return (f"max relative error vs the electrical model {result['max_relative_error']:.2e}, read power "
                f"{result['max_power_relative_error']:.2e}, over {len(result['cases'])} tiles")
    if name == "transient":
        return f"{result['steps']} pulses of {result['step_s'] * 1e9:g} ns, peak dense current " \
               f"{result['dense_current_peak_a'] * 1e6:.1f} uA"
    if name == "activations":
        return f"{len(result['csv'])} transfer tables of {result['points']} points"
    if name == "leakage":
        last = result["table"][-1]
        return f"{int(last[0])}x{int(last[0])}: {last[2] * 1e6:.2f} uA RMS at {last[1]:g}% noise, " \
               f"floating sneak {abs(last[3]) * 1e6:.1f} uA"
    if name == "variability":
        worst = result["table"][-1]
        return f"at {worst[0]:g}% variability: conv {worst[1]:.2f}%, mean {worst[2]:.2f}%, dense in " \
               f"{worst[3]:.2f}%, dense current {worst[4]:.2f}% of full scale"
    if name == "irdrop":
        largest = max(row[0] for row in result["table"])
        worst = max((row for row in result["table"] if row[0] == largest), key=lambda row: row[4])
        agreement = result["ngspice_agreement"]
        return (f"{int(largest)}x{int(largest)} at {worst[3]:g} ohm/cell: ideal wires off by {worst[4]:.2f}%; "
                f"wire model vs ngspice up to {int(agreement['largest_size'])}: {agreement['max_relative_error']:.1e} "
                f"({agreement['criterion']}: {'holds' if agreement['holds'] else 'fails'})")
    if name == "sky130_tile":
        return (f"{result['tile'][0]}x{result['tile'][1]} tile, sky130 periphery vs the model with measured curves: "
                f"worst column {result['worst_error_of_full_scale']:.2%} of full scale ({result['criterion']}: "
                f"{'holds' if result['holds'] else 'fails'})")
    if name == "write":
        steps = result["set_steps_per_pulse"]
        return (f"step/pulse {steps[0] / result['level_step']:.4f} levels ({result['step_relative_error']:.1e} from "
                f"the device's switching rate), read change {result['read_change']:.1e}, "
                f"{result['energy_per_pulse_j'] * 1e12:.1f} pJ/pulse ({result['energy_relative_error']:.1e} from the "
                f"cell model)")
    return ""
