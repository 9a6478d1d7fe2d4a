"""Transfer curves of the activation circuits (paper Fig. 5) from ngspice, as CSV tables (v_in, v_out) that the GAN
simulation reads as its behavioural activation model.

The circuits are the netlists' behavioural B-sources, `hdl.electrical.activation_spice` (no transistor-level model of
the 180 nm node is at hand): the same transfers as `Periphery.activation`.
Default tables for the shipped 180 nm technology live in `sim/data/` and are regenerated with
`python -m amdcgan.sim.activations --write-defaults`.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

import numpy as np

from amdcgan.hdl.electrical import activation_spice
from amdcgan.hdl.netlist import Netlist, number
from amdcgan.hdl.spec import Technology

from .results import write_csv
from .runner import run_circuit

DATA_DIR = Path(__file__).resolve().parent / "data"
CURVES = ("tanh", "relu", "relu_switch", "relu_switch_off")


def activation_circuit(technology: Technology, tanh_volts: float) -> Netlist:
    """One input source into every activation circuit (the switch of one ReLU held off); `tanh_volts`: the tanh's
    amplitude, `Periphery.tanh_volts`."""
    circuit = Netlist(f"amdcgan activation transfer curves, {technology.name}")
    circuit.add("vin in 0 0", f"von on 0 {number(technology.vdd_v)}", "voff off 0 0")
    for curve in CURVES:
        function, enable = ("relu_switch", "off") if curve == "relu_switch_off" else (curve, "on")
        circuit.add(f"b{curve} {curve} 0 v = {activation_spice(function, 'in', enable, technology.vdd_v, tanh_volts)}")
    circuit.printed = [f"v({curve})" for curve in CURVES]
    return circuit


def transfer_curves(technology: Technology, points: int = 361, keep: Path | None = None, *,
                    tanh_volts: float) -> dict[str, np.ndarray]:
    """(points, 2) arrays of v_in, v_out per curve, the input swept from vss to vdd."""
    step = (technology.vdd_v - technology.vss_v) / (points - 1)
    sweep = f".dc vin {number(technology.vss_v)} {number(technology.vdd_v + step / 2)} {number(step)}"
    vectors = run_circuit(activation_circuit(technology, tanh_volts), "activation transfer curves", keep=keep,
                          analysis=sweep)
    return {curve: np.column_stack([vectors["scale"], vectors[f"v({curve})"]]) for curve in CURVES}


def write_curves(curves: dict[str, np.ndarray], folder: Path) -> dict[str, str]:
    return {curve: str(write_csv(Path(folder) / f"{curve}.csv", ["v_in", "v_out"], table))
            for curve, table in curves.items()}


def plot_and_write_curves(technology: Technology, out_dir: Path, points: int = 361, *, tanh_volts: float) -> dict:
    from .plots import plot_activation_curves

    curves = transfer_curves(technology, points, keep=Path(out_dir) / "netlists" / "activations.cir",
                             tanh_volts=tanh_volts)
    tables = write_curves(curves, Path(out_dir) / "activations")
    png = plot_activation_curves(curves, Path(out_dir) / "fig5_activations.png")
    return {"csv": tables, "plot": str(png), "points": points}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the default activation transfer tables into sim/data/.")
    parser.add_argument("--write-defaults", action="store_true", help="regenerate sim/data/*.csv for cmos180")
    args = parser.parse_args(argv)
    if not args.write_defaults:
        parser.print_help()
        return
    from amdcgan.hdl.loader import read_yaml, validate
    from amdcgan.hdl.spec import Technology as TechnologyModel

    source = resources.files("amdcgan.hdl") / "data" / "technology" / "cmos180.yaml"
    technology = validate(TechnologyModel, read_yaml(Path(str(source))), str(source))
    curves = transfer_curves(technology, tanh_volts=technology.vdd_v)  # the default periphery's tanh
    for path in write_curves(curves, DATA_DIR).values():
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
