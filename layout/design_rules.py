"""Design-rule check of the memristive layers with KLayout's region engine (hierarchical, so whole chips stay fast):
electrode width and spacing on both metals, and the electrodes' enclosure of the switching layer."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import klayout.db as kdb

from amdcgan.hdl.spec import Technology

from .measure import read_gds
from .rules import rules_of


@dataclass(frozen=True)
class Violation:
    rule: str  # e.g. "bottom_electrode.min_space"
    required_um: float
    found_um: float
    x_um: float  # where: the centre of the offending edge pair or shape
    y_um: float

    def as_dict(self) -> dict:
        return asdict(self)


def _layout_and_cell(source: Any) -> tuple[kdb.Layout, kdb.Cell]:
    """A GDS path, or a gdsfactory component (anything with `kcl.layout` and `kdb_cell`)."""
    if isinstance(source, (str, Path)):
        return read_gds(source)
    return source.kcl.layout, source.kdb_cell


def drc(source: Any, technology: Technology) -> list[Violation]:
    """Every violation of the technology's memristive-layer rules in the top cell of `source` (GDS path or
    gdsfactory component), with its hierarchy flattened logically."""
    layout, cell = _layout_and_cell(source)
    rules = rules_of(technology)
    store = kdb.DeepShapeStore()
    dbu = layout.dbu

    def region(name: str) -> kdb.Region:
        spec = getattr(technology.layers, name)
        index = layout.find_layer(spec.layer, spec.datatype)
        if index is None:
            return kdb.Region()
        return kdb.Region(cell.begin_shapes_rec(index), store)

    def pairs(rule: str, required: int, found: kdb.EdgePairs) -> list[Violation]:
        found.flatten()
        return [
            Violation(rule, required * dbu, pair.distance() * dbu, pair.bbox().center().x * dbu,
                      pair.bbox().center().y * dbu)
            for pair in found.each()
        ]

    switching = region("switching")
    violations: list[Violation] = []
    for name in ("bottom_electrode", "top_electrode"):
        electrode = region(name)
        violations += pairs(f"{name}.min_width", rules.electrode_width, electrode.width_check(rules.electrode_width))
        violations += pairs(f"{name}.min_space", rules.electrode_space, electrode.space_check(rules.electrode_space))
        violations += pairs(f"{name}.switching_enclosure", rules.enclosure,
                            electrode.enclosing_check(switching, rules.enclosure))
        uncovered = switching - electrode
        uncovered.flatten()
        violations += [
            Violation(f"{name}.covers_switching", rules.enclosure, 0.0, polygon.bbox().center().x * dbu,
                      polygon.bbox().center().y * dbu)
            for polygon in uncovered.each()
        ]
    return list(dict.fromkeys(violations))  # the same edge pair can come from several cell contexts
