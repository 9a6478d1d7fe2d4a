"""The floorplan: every tile's size and position, computed once from the technology's rules and the component areas.

A tile is drawn as:

    +-----------+----------------------+-------------+
    | row banks |  crossbar (rows x    | sign        |   row banks: one strip per kind, as tall as the crossbar
    | (switches,|  physical columns)   | crossbar    |
    | threshold)|                      | (optional)  |
    +-----------+----------------------+-------------+
    | column bank 1 (readout)                        |   column banks: one strip per kind, as wide as the tile
    | column bank 2 (summing, batch norm, ReLU, ...) |
    +------------------------------------------------+

Each bank's rectangle has at least the area its circuits need (count x area from the component library), rounded up
to the layout grid. Tiles are shelf-packed, tallest first, into a near-square chip. All coordinates are integer
multiples of the technology grid; the layout draws exactly these rectangles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .mapping import Tile, TilePlan
from .spec import Architecture


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle in grid units (integers), origin at the lower-left corner."""

    x: int
    y: int
    width: int
    height: int

    @property
    def area(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class Block:
    name: str  # "crossbar", "sign_crossbar" or the bank's kind (prefixed by its layer when folded)
    kind: str
    count: int
    rect: Rect  # relative to the tile origin
    memristors: int = 0  # memristors inside the block besides the arrays (load and averaging memristors)


@dataclass(frozen=True)
class TilePlacement:
    tile_id: str
    network: str
    layer: str
    index: int
    rows: int
    columns: int  # physical columns
    rect: Rect  # absolute
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Floorplan:
    grid_um: float
    pitch: int  # memristor pitch in grid units
    tiles: tuple[TilePlacement, ...]
    width: int
    height: int

    def um(self, grid_units: int) -> float:
        return round(grid_units * self.grid_um, 9)

    def um2(self, grid_area: int) -> float:
        return grid_area * self.grid_um * self.grid_um

    @property
    def chip_area_um2(self) -> float:
        return self.um2(self.width * self.height)

    @property
    def tiles_area_um2(self) -> float:
        return self.um2(sum(tile.rect.area for tile in self.tiles))

    def tile(self, tile_id: str) -> TilePlacement:
        for tile in self.tiles:
            if tile.tile_id == tile_id:
                return tile
        raise KeyError(tile_id)

    def block_area_um2(self) -> dict[str, float]:
        """Drawn area per block kind, summed over tiles."""
        areas: dict[str, float] = {}
        for tile in self.tiles:
            for block in tile.blocks:
                areas[block.kind] = areas.get(block.kind, 0.0) + self.um2(block.rect.area)
        return areas

    def as_dict(self) -> dict:
        return {
            "grid_um": self.grid_um,
            "chip_um": [self.um(self.width), self.um(self.height)],
            "chip_area_um2": self.chip_area_um2,
            "tiles_area_um2": self.tiles_area_um2,
            "tiles": [
                {
                    "id": tile.tile_id,
                    "origin_um": [self.um(tile.rect.x), self.um(tile.rect.y)],
                    "size_um": [self.um(tile.rect.width), self.um(tile.rect.height)],
                    "blocks": {
                        block.name: {
                            "kind": block.kind,
                            "count": block.count,
                            "origin_um": [self.um(block.rect.x), self.um(block.rect.y)],
                            "size_um": [self.um(block.rect.width), self.um(block.rect.height)],
                        }
                        for block in tile.blocks
                    },
                }
                for tile in self.tiles
            ],
        }


def _grid(value_um: float, grid_um: float) -> int:
    """Grid units covering `value_um`, rounded up (a drawn block never has less area than it needs)."""
    return max(1, math.ceil(value_um / grid_um - 1e-9))


def tile_blocks(tile: Tile, architecture: Architecture) -> tuple[tuple[Block, ...], int, int]:
    """A tile's blocks relative to its origin, and the tile's width and height in grid units."""
    tech, library = architecture.technology, architecture.components
    grid = tech.grid_um
    pitch = _grid(tech.memristor_pitch_um, grid)
    core_height = tile.n_rows * pitch
    core_width = tile.physical_columns * pitch

    def bank_area_um2(bank) -> float:
        """Circuits from the library (ComponentKind is a str enum, so plain kind strings look it up) plus the
        bank's own memristors at the crossbar pitch."""
        circuits = bank.count * library.components[bank.kind].area_um2 if bank.kind in library.components else 0.0
        return circuits + bank.memristors * tech.memristor_pitch_um**2

    row_blocks, x = [], 0
    for bank in (bank for bank in tile.banks if bank.side == "row"):
        width = _grid(bank_area_um2(bank) / (core_height * grid), grid)
        row_blocks.append(Block(_block_name(tile, bank), bank.kind, bank.count, Rect(x, 0, width, core_height),
                                bank.memristors))
        x += width
    arrays = [Block("crossbar", "crossbar", tile.crossbar_devices, Rect(x, 0, core_width, core_height))]
    x += core_width
    if tile.sign_crossbar:
        sign_width = tile.n_columns * pitch
        arrays.append(Block("sign_crossbar", "sign_crossbar", tile.sign_devices, Rect(x, 0, sign_width, core_height)))
        x += sign_width
    tile_width = x
    column_blocks, y = [], 0
    for bank in (bank for bank in tile.banks if bank.side == "column"):
        height = _grid(bank_area_um2(bank) / (tile_width * grid), grid)
        if bank.memristors:  # its memristors are crossbar cells: the strip holds at least one row of them
            height = max(height, pitch)
        y -= height
        column_blocks.append(Block(_block_name(tile, bank), bank.kind, bank.count, Rect(0, y, tile_width, height),
                                   bank.memristors))
    # Shift up so that the tile's origin is its lower-left corner.
    shift = -y
    blocks = tuple(
        Block(b.name, b.kind, b.count, Rect(b.rect.x, b.rect.y + shift, b.rect.width, b.rect.height), b.memristors)
        for b in (*row_blocks, *arrays, *column_blocks)
    )
    return blocks, tile_width, core_height + shift


def _block_name(tile: Tile, bank) -> str:
    return bank.kind if bank.layer == tile.layer else f"{bank.layer}.{bank.kind}"


def build_floorplan(plan: TilePlan) -> Floorplan:
    """Tiles of both networks shelf-packed into a near-square chip; placements are listed in plan order."""
    architecture = plan.architecture
    tech = architecture.technology
    grid = tech.grid_um
    spacing = _grid(tech.tile_spacing_um, grid)
    sized = [(tile, *tile_blocks(tile, architecture)) for tile in plan.tiles()]
    total_area = sum((width + spacing) * (height + spacing) for _, _, width, height in sized)
    shelf_limit = max(max(width for _, _, width, _ in sized), int(math.sqrt(total_area)))
    x = y = shelf_height = chip_width = 0
    placed = []
    # Next-fit shelves in order of decreasing height (NFDH) waste little height.
    for order, (tile, blocks, width, height) in sorted(enumerate(sized), key=lambda item: -item[1][3]):
        if x > 0 and x + width > shelf_limit:
            x, y, shelf_height = 0, y + shelf_height + spacing, 0
        placed.append((order, TilePlacement(tile.id, tile.network, tile.layer, tile.index, tile.n_rows,
                                            tile.physical_columns, Rect(x, y, width, height), blocks)))
        x += width + spacing
        shelf_height = max(shelf_height, height)
        chip_width = max(chip_width, x - spacing)
    placements = tuple(placement for _, placement in sorted(placed, key=lambda item: item[0]))
    return Floorplan(grid, _grid(tech.memristor_pitch_um, grid), placements, chip_width, y + shelf_height)
