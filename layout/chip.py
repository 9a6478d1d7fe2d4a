"""The accelerator's layout: the floorplan (computed once in `amdcgan.hdl.floorplan`) drawn cell by cell, written
as GDS, measured, rule-checked and rendered."""

from __future__ import annotations

from pathlib import Path

import gdsfactory as gf

from amdcgan.errors import UserError
from amdcgan.fileio import staged_file, staging_folder, write_files_atomic
from amdcgan.hdl.floorplan import Floorplan, TilePlacement, build_floorplan
from amdcgan.hdl.mapping import plan_tiles
from amdcgan.hdl.spec import Architecture, Technology

from . import cells
from .design_rules import drc
from .lyp import layer_properties
from .measure import TILE_ID_PROPERTY, measure_areas, placements, read_gds
from .names import MEMRISTOR_CELLS, rename_cells, top_cell_name
from .pdk import activate_pdk
from .render import png_bytes
from .rules import DBU_UM, rules_of


def device_rules(architecture: Architecture, floorplan: Floorplan) -> dict[str, float]:
    """The junction's drawing parameters in um: the floorplan's pitch and the technology's electrode rules."""
    rules = rules_of(architecture.technology)
    return {
        "pitch": floorplan.um(floorplan.pitch),
        "electrode_width": round(rules.electrode_width * DBU_UM, 9),
        "enclosure": round(rules.enclosure * DBU_UM, 9),
    }


def tile_spec(floorplan: Floorplan, tile: TilePlacement) -> cells.TileSpec:
    """A tile's cell parameters: identical tiles (same size, rows and blocks) give identical specs, so one cell."""
    blocks = tuple(
        (block.name, block.kind, block.count, floorplan.um(block.rect.x), floorplan.um(block.rect.y),
         floorplan.um(block.rect.width), floorplan.um(block.rect.height),
         block.memristors if block.kind != cells.LOAD_KIND else 0)
        for block in tile.blocks
    )
    return floorplan.um(tile.rect.width), floorplan.um(tile.rect.height), tile.rows, blocks


def _chip_cell(architecture: Architecture, floorplan: Floorplan, tiles: list[TilePlacement], name: str,
               origin: tuple[int, int] = (0, 0)) -> gf.Component:
    activate_pdk(architecture.technology)
    ox, oy = origin
    specs = tuple(
        (tile.tile_id, floorplan.um(tile.rect.x - ox), floorplan.um(tile.rect.y - oy), tile_spec(floorplan, tile))
        for tile in tiles
    )
    return cells.chip(name=name, placements=specs, tile_id_property=TILE_ID_PROPERTY,
                      **device_rules(architecture, floorplan))


def build_chip(architecture: Architecture, floorplan: Floorplan | None = None) -> gf.Component:
    """Every tile of both networks at its floorplan position."""
    floorplan = floorplan or build_floorplan(plan_tiles(architecture))
    return _chip_cell(architecture, floorplan, list(floorplan.tiles), architecture.name)


def build_tile(architecture: Architecture, tile_id: str, floorplan: Floorplan | None = None) -> gf.Component:
    """One tile, at the origin, as the only instance of its top cell."""
    floorplan = floorplan or build_floorplan(plan_tiles(architecture))
    try:
        tile = floorplan.tile(tile_id)
    except KeyError:
        known = ", ".join(sorted({t.tile_id.rsplit(".", 1)[0] + ".N" for t in floorplan.tiles}))
        raise UserError(f"no tile {tile_id!r}: tiles are NETWORK.LAYER.INDEX, here {known}") from None
    return _chip_cell(architecture, floorplan, [tile], tile_id.replace(".", "_"), (tile.rect.x, tile.rect.y))


def draw_gds(component: gf.Component, path: Path, technology: Technology, top_name: str) -> Path:
    """The GDS at `path` (a private staging name), without gdsfactory's metadata cell (every reader sees one top
    cell), with cells named after what they hold and the top cell named `top_name`."""
    component.write_gds(path, with_metadata=False)
    layout, top = read_gds(path)
    text = technology.layers.text
    rename_cells(layout, top, top_name, TILE_ID_PROPERTY, layout.find_layer(text.layer, text.datatype))
    layout.write(str(path))
    return path


def write_gds(component: gf.Component, gds_path: str | Path, technology: Technology, top_name: str) -> Path:
    """`draw_gds`, written atomically through a private staging folder."""
    with staged_file(gds_path) as staged:
        draw_gds(component, staged, technology, top_name)
    return Path(gds_path)


def write_layout(architecture: Architecture, gds_path: str | Path, png_path: str | Path | None = None,
                 tile: str | None = None) -> dict:
    """Draw the chip (or one tile), write GDS (and PNG), and report what the written file holds.

    Returns paths, the measured areas `{tile_id: um2, "chip": um2}` next to the floorplan's, cell and instance
    counts, memristors placed, and the design-rule violations.
    """
    plan = plan_tiles(architecture)
    floorplan = build_floorplan(plan)
    component = build_tile(architecture, tile, floorplan) if tile else build_chip(architecture, floorplan)
    top_name = tile.replace(".", "_") if tile else architecture.name
    gds_path, lyp_path = Path(gds_path), Path(gds_path).with_suffix(".lyp")
    with staging_folder(gds_path) as folder:  # drawn, measured and pictured before any old file is replaced
        staged = draw_gds(component, folder / "layout.gds", architecture.technology, top_name)
        measured = measure_areas(staged)
        placed = placements(staged)
        violations = drc(staged, architecture.technology)
        contents = {gds_path: staged.read_bytes(), lyp_path: layer_properties(architecture.technology)}
        if png_path is not None:
            png_path = Path(png_path)
            contents[png_path] = png_bytes(staged, architecture.technology, title=tile or architecture.name,
                                           zoom_on_junctions=tile is not None)
    write_files_atomic(contents)  # the GDS, its layer properties and its picture as one set
    drawn = [floorplan.tile(tile)] if tile else list(floorplan.tiles)
    expected = {t.tile_id: floorplan.um2(t.rect.area) for t in drawn}
    expected["chip"] = floorplan.um2(drawn[0].rect.area) if tile else floorplan.chip_area_um2
    return {
        "gds": str(gds_path),
        "png": None if png_path is None else str(png_path),
        "lyp": str(lyp_path),
        "top_cell": top_cell_name(top_name),
        "gds_bytes": gds_path.stat().st_size,
        "cells": len(placed),
        "tile_instances": sum(1 for key in measured if key != "chip"),
        "memristors": sum(count for name, count in placed.items() if name in MEMRISTOR_CELLS),
        "memristors_in_plan": sum(t.crossbar_devices + t.sign_devices + sum(bank.memristors for bank in t.banks)
                                  for t in plan.tiles() if not tile or t.id == tile),
        "areas_um2": measured,
        "floorplan_areas_um2": expected,
        "drc_violations": [violation.as_dict() for violation in violations],
    }
