"""What a written GDS holds, read back with KLayout alone (no gdsfactory, no floorplan): tile and chip bounding
boxes, and how many times each cell is placed."""

from __future__ import annotations

from pathlib import Path

import klayout.db as kdb

# GDS property attribute on each tile instance of the top cell: the tile's id ("network.layer.index").
TILE_ID_PROPERTY = 1


def read_gds(path: str | Path) -> tuple[kdb.Layout, kdb.Cell]:
    layout = kdb.Layout()
    layout.read(str(path))
    tops = layout.top_cells()
    if len(tops) != 1:
        raise ValueError(f"{path}: expected one top cell, found {[cell.name for cell in tops]}")
    return layout, tops[0]


def measure_areas(gds_path: str | Path) -> dict[str, float]:
    """Bounding-box area in um^2 of every tile instance of the top cell, keyed by tile id, and of the whole top cell
    under "chip" (for a one-tile layout that is the tile itself)."""
    layout, top = read_gds(gds_path)
    dbu2 = layout.dbu * layout.dbu
    areas = {
        instance.property(TILE_ID_PROPERTY): instance.bbox().area() * dbu2
        for instance in top.each_inst()
        if instance.property(TILE_ID_PROPERTY) is not None
    }
    areas["chip"] = top.bbox().area() * dbu2
    return areas


def placements(gds_path: str | Path) -> dict[str, int]:
    """How many times each cell appears in the flattened top cell (array references count every element)."""
    layout, top = read_gds(gds_path)
    counts = {top.cell_index(): 1}
    for index in layout.each_cell_top_down():
        if index not in counts:
            continue
        for instance in layout.cell(index).each_inst():
            counts[instance.cell_index] = counts.get(instance.cell_index, 0) + counts[index] * instance.size()
    return {layout.cell_name(index): count for index, count in counts.items()}
