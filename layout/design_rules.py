"""Design-rule check of the memristive layers with KLayout's region engine (hierarchical, so whole chips stay fast):
electrode width and spacing on both metals, and the electrodes' enclosure of the switching layer.

Each unique cell is checked once, and a regular array (a crossbar's junctions, a bank of load memristors) is checked
through its first and last `ARRAY_EDGE` rows and columns at their true positions: every element of an array is the
same cell with the same neighbours, so those hold every situation the array has (its corners, edges and interior,
and its borders with the arrays beside it, which share its pitch: the checked layers are drawn only inside such
arrays), and the check's time follows the unique cells, not the devices."""

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


ARRAY_EDGE = 3  # rows and columns kept at each end of a regular array: a 3 x 3 block holds an element's every neighbour


def _layout_and_cell(source: Any) -> tuple[kdb.Layout, kdb.Cell]:
    """A GDS path, or a gdsfactory component (anything with `kcl.layout` and `kdb_cell`), as a layout of our own
    (the check trims its arrays)."""
    if isinstance(source, (str, Path)):
        return read_gds(source)
    layout = source.kcl.layout.dup()
    return layout, layout.cell(source.kdb_cell.name)


def _ends(count: int) -> list[tuple[int, int]]:
    """(start, length) runs of the first and last ARRAY_EDGE of `count` elements (all of them when few)."""
    if count <= 2 * ARRAY_EDGE:
        return [(0, count)]
    return [(0, ARRAY_EDGE), (count - ARRAY_EDGE, ARRAY_EDGE)]


def trim_arrays(layout: kdb.Layout) -> None:
    """Replace every regular array of more than 2 x ARRAY_EDGE rows or columns by its end rows and columns, each
    at its own position (the removed middle leaves a gap of at least one pitch, wider than any spacing rule)."""
    for cell in layout.each_cell():
        cell.locked = False  # a copy of gdsfactory's cells keeps their lock; this copy is ours to change
        for instance in list(cell.each_inst()):
            if not instance.is_regular_array() or max(instance.na, instance.nb) <= 2 * ARRAY_EDGE:
                continue
            array = instance.cell_inst
            for start_a, length_a in _ends(array.na):
                for start_b, length_b in _ends(array.nb):
                    shift = kdb.Trans(array.a * start_a + array.b * start_b)
                    cell.insert(kdb.CellInstArray(array.cell_index, shift * array.trans, array.a, array.b,
                                                  length_a, length_b))
            instance.delete()


def drc(source: Any, technology: Technology) -> list[Violation]:
    """Every violation of the technology's memristive-layer rules in the top cell of `source` (GDS path or
    gdsfactory component), with its hierarchy flattened logically."""
    layout, cell = _layout_and_cell(source)
    trim_arrays(layout)
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
