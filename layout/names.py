"""Cell names that say what a cell holds, given to a written GDS: tiles by their ids, arrays by their size, circuit
banks by kind and count, memristors by their role (gdsfactory names cells by their parameters and a hash)."""

from __future__ import annotations

import re

import klayout.db as kdb

CROSSBAR_MEMRISTOR = "crossbar_memristor"
# What each cell function draws, by the prefix gdsfactory gives its cells.
FIXED = {"junction": CROSSBAR_MEMRISTOR, "load_memristor": "load_memristor",
         "averaging_memristor": "averaging_memristor"}
MEMRISTOR_CELLS = tuple(FIXED.values())


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def _label(layout: kdb.Layout, cell: kdb.Cell, text_layer: int | None) -> str:
    if text_layer is None:
        return ""
    return next((shape.text_string for shape in cell.shapes(text_layer).each() if shape.is_text()), "")


def _arrays(cell: kdb.Cell) -> tuple[int, int, int]:
    """Rows, columns and count of the elements of a cell's array references."""
    rows = columns = count = 0
    for instance in cell.each_inst():
        count += instance.size()
        if instance.is_regular_array():  # a and b are the array's step vectors: count along y for rows
            along_y, along_x = (instance.na, instance.nb) if instance.a.y else (instance.nb, instance.na)
            rows, columns = max(rows, along_y), max(columns, along_x)
    return rows, columns, count


def _base_name(layout: kdb.Layout, cell: kdb.Cell, tile_ids: dict[int, list[str]], text_layer: int | None) -> str:
    name = cell.name
    for prefix, fixed in FIXED.items():
        if name.startswith(prefix + "_") or name == prefix:
            return fixed
    if name.startswith("crossbar"):
        rows, columns, _ = _arrays(cell)
        return f"crossbar_{rows}x{columns}"
    if name.startswith("load_bank"):
        return f"load_memristors_x{_arrays(cell)[2]}"
    if name.startswith("periphery_block"):
        box = cell.dbbox()
        return f"{_clean(_label(layout, cell, text_layer))}_{box.width():.0f}x{box.height():.0f}um"
    if cell.cell_index() in tile_ids:
        ids = sorted(tile_ids[cell.cell_index()])
        return "tile_" + _clean(ids[0]) + (f"_and_{len(ids) - 1}_alike" if len(ids) > 1 else "")
    return _clean(name)


def top_cell_name(name: str) -> str:
    return _clean(name)


def rename_cells(layout: kdb.Layout, top: kdb.Cell, top_name: str, tile_id_property: int,
                 text_layer: int | None) -> None:
    """Gives every cell of `layout` a readable, unique name; the top cell becomes `top_name`."""
    tile_ids: dict[int, list[str]] = {}
    for instance in top.each_inst():
        tile_id = instance.property(tile_id_property)
        if tile_id is not None:
            tile_ids.setdefault(instance.cell_index, []).append(str(tile_id))
    taken = {top_cell_name(top_name)}
    names = {}
    for index in layout.each_cell_top_down():
        cell = layout.cell(index)
        if index == top.cell_index():
            continue
        base = _base_name(layout, cell, tile_ids, text_layer)
        name, suffix = base, 2
        while name in taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(name)
        names[index] = name
    for index, name in names.items():
        layout.cell(index).name = name
    top.name = top_cell_name(top_name)
