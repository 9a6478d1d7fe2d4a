"""A CMOS process as transistor-level circuits see it: devices, gm/ID tables, layout rules for the area estimate.

Sizing method (gm/ID, Jespers & Murmann, "Systematic Design of Analog CMOS Circuits", 2017): a transistor's
inversion level is chosen as its transconductance efficiency gm/ID; the process's tables give the current density
ID/W at that gm/ID and length, so W = ID / (ID/W). The tables are simulated from the process models
(`amdcgan.sim.characterize.device_tables`) and shipped as data beside the process file.

Area estimate (rule based; no layout is drawn): each transistor is split into fingers no wider than
`max_finger_width_um`; its diffusion box is (finger width + 2 poly end caps) x (fingers x L + (fingers + 1) contacted
diffusion lengths); the circuit's area is the sum of its transistors' boxes times `wiring_factor` (wells, taps,
spacing and routing), plus its resistors (poly strips of `resistor_width_um` at `resistor_sheet_ohm`, one contact
head per end) and capacitors (MIM at `capacitor_density_f_per_um2`).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from amdcgan.errors import UserError

from .spec import NAME_PATTERN, Strict

PROCESS_FOLDER = "process"


class DeviceRules(Strict):
    model: str = Field(pattern=r"^[a-z0-9_]+$", description="subcircuit name of the device in the model library")
    min_width_um: float = Field(gt=0)
    min_length_um: float = Field(gt=0)


class LayoutRules(Strict):
    grid_um: float = Field(gt=0)
    poly_endcap_um: float = Field(gt=0, description="poly extension past the diffusion, each side")
    contacted_diffusion_um: float = Field(gt=0, description="gate edge to the far edge of a contacted diffusion")
    max_finger_width_um: float = Field(gt=0)
    finger_widths_um: list[float] = Field(
        min_length=1, description="finger widths at which the device models are characterized (the PDK's bins); "
        "a finger between them falls in a bin whose parameters need not hold")
    wiring_factor: float = Field(ge=1, description="circuit area / summed transistor diffusion boxes")
    resistor_sheet_ohm: float = Field(gt=0, description="high-resistance poly, ohm per square")
    resistor_width_um: float = Field(gt=0)
    resistor_head_um: float = Field(ge=0, description="length of one contact head of a poly resistor")
    capacitor_density_f_per_um2: float = Field(gt=0, description="MIM capacitor")


class Process(Strict):
    """The process data of transistor-level periphery (`hdl/data/process/NAME.yaml`)."""

    schema_version: Literal[1] = 1
    name: str = Field(pattern=NAME_PATTERN)
    vdd_v: float = Field(gt=0)
    vss_v: float = Field(lt=0)
    temperature_c: float = Field(description="temperature of the gm/ID tables")
    nfet: DeviceRules
    pfet: DeviceRules
    gm_id_table: str = Field(description="CSV beside this file: device,length_um,gm_id_per_v,id_per_w_a_per_um,vgs_v")
    switch_ohm_um: float = Field(
        gt=0, description="on-resistance x width of a transmission gate (equal nfet and pfet widths, minimum L), "
        "worst over the signal range vss..vdd with the gates at the supplies")
    gate_cap_f_per_um2: float = Field(gt=0, description="gate oxide capacitance per area (sizing estimates)")
    layout: LayoutRules
    source: str = ""

    def device(self, kind: str) -> DeviceRules:
        return {"n": self.nfet, "p": self.pfet}[kind]


@lru_cache(maxsize=None)
def load_process(name: str) -> Process:
    from .loader import read_yaml, validate

    folder = resources.files("amdcgan.hdl") / "data" / PROCESS_FOLDER
    path = Path(str(folder / f"{name}.yaml"))
    if not path.is_file():
        shipped = sorted(p.stem for p in Path(str(folder)).glob("*.yaml"))
        raise UserError(f"no process data for technology {name!r}; shipped: {', '.join(shipped)}")
    return validate(Process, read_yaml(path), str(path))


@lru_cache(maxsize=None)
def gm_id_tables(name: str) -> dict[tuple[str, float], np.ndarray]:
    """(device n|p, length) -> rows of (gm/ID, ID/W, VGS) sorted by falling ID/W."""
    process = load_process(name)
    path = Path(str(resources.files("amdcgan.hdl") / "data" / PROCESS_FOLDER / process.gm_id_table))
    tables: dict[tuple[str, float], list] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            key = (row["device"], float(row["length_um"]))
            tables.setdefault(key, []).append(
                (float(row["gm_id_per_v"]), float(row["id_per_w_a_per_um"]), float(row["vgs_v"])))
    return {key: np.array(sorted(rows, key=lambda r: -r[1])) for key, rows in tables.items()}


def _table(process: Process, device: str, length_um: float) -> np.ndarray:
    tables = gm_id_tables(process.name)
    lengths = sorted(length for kind, length in tables if kind == device)
    if length_um not in lengths:
        raise ValueError(f"no gm/ID table for {device}fet at L={length_um} um; tables at {lengths}")
    return tables[(device, length_um)]


def current_density(process: Process, device: str, length_um: float, gm_id: float) -> float:
    """ID/W (A/um) of a transistor at transconductance efficiency `gm_id` (1/V)."""
    table = _table(process, device, length_um)
    if not table[0, 0] <= gm_id <= table[-1, 0]:
        raise ValueError(f"gm/ID {gm_id} outside the {device}fet table ({table[0, 0]:.1f}..{table[-1, 0]:.1f})")
    return float(np.interp(gm_id, table[:, 0], table[:, 1]))


def gate_voltage(process: Process, device: str, length_um: float, gm_id: float) -> float:
    """|VGS| at `gm_id` (source at the bulk)."""
    table = _table(process, device, length_um)
    return float(np.interp(gm_id, table[:, 0], table[:, 2]))


def width_um(process: Process, device: str, length_um: float, gm_id: float, current_a: float) -> float:
    """gm/ID sizing: the width that carries `current_a` at `gm_id`, on the layout grid, at least the minimum."""
    rules = process.device(device)
    width = current_a / current_density(process, device, length_um, gm_id)
    grid = process.layout.grid_um
    return max(rules.min_width_um, math.ceil(width / grid - 1e-9) * grid)


@dataclass(frozen=True)
class Mosfet:
    name: str
    drain: str
    gate: str
    source: str
    bulk: str
    kind: str  # "n" or "p"
    width_um: float  # of one unit
    length_um: float
    units: int = 1  # parallel copies of the unit: mirrors made of one unit device carry exact current ratios

    def line(self, process: Process) -> str:
        # ngspice picks the model bin by the instance's W, so wide devices are parallel fingers (m), each in a bin.
        fingers = finger_count(process, self.width_um)
        model = process.device(self.kind).model
        return (f"x{self.name} {self.drain} {self.gate} {self.source} {self.bulk} {model} "
                f"w={self.width_um / fingers:.6g} l={self.length_um:.6g} m={fingers * self.units}")

    def area_um2(self, process: Process) -> float:
        return self.units * transistor_area_um2(process, self.width_um, self.length_um)


def finger_count(process: Process, width: float) -> int:
    return max(1, math.ceil(width / process.layout.max_finger_width_um - 1e-9))


def drawn_width_um(process: Process, width: float) -> float:
    """`width` rounded up to whole fingers of a characterized finger width."""
    fingers = finger_count(process, width)
    finger = next((w for w in sorted(process.layout.finger_widths_um) if w >= width / fingers - 1e-9), None)
    if finger is None:
        raise ValueError(f"no characterized finger width reaches {width / fingers:g} um")
    return round(fingers * finger, 6)


def transistor_area_um2(process: Process, width: float, length: float) -> float:
    rules = process.layout
    fingers = finger_count(process, width)
    return ((width / fingers + 2 * rules.poly_endcap_um)
            * (fingers * length + (fingers + 1) * rules.contacted_diffusion_um))


def resistor_area_um2(process: Process, ohm: float) -> float:
    rules = process.layout
    squares = ohm / rules.resistor_sheet_ohm
    return rules.resistor_width_um * (squares * rules.resistor_width_um + 2 * rules.resistor_head_um)


def capacitor_area_um2(process: Process, farad: float) -> float:
    return farad / process.layout.capacitor_density_f_per_um2
