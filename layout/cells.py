"""Cells in gdsfactory's style: pure functions with keyword defaults, cached by `@gf.cell`.

Lengths are micrometres that lie on the database grid (the callers take them from the floorplan's grid units), and
are drawn as integer database-unit boxes so that nothing is lost to rounding. Defaults are the cmos180 rules.

A crossbar is one junction cell repeated by a single array reference, so a 128 x 256 crossbar costs one cell and one
instance however many junctions it has; identical tiles are one cell placed many times.
"""

from __future__ import annotations

import gdsfactory as gf
import klayout.db as kdb

from .pdk import BOTTOM_ELECTRODE, PERIPHERY, PIN, SWITCHING, TEXT, TILE_OUTLINE, TOP_ELECTRODE
from .rules import DBU_UM

PITCH_UM = 0.72
ELECTRODE_WIDTH_UM = 0.36
ENCLOSURE_UM = 0.05
CROSSBAR_KINDS = ("crossbar", "sign_crossbar")
LOAD_KIND = "load_memristor"
LABEL_FILL = 0.9  # a label takes at most this share of the length it runs along

# One block of a tile, as the floorplan gives it: name, kind, circuit count, its rectangle relative to the tile, and
# the memristors it holds besides the arrays (an averager's averaging memristors).
BlockSpec = tuple[str, str, int, float, float, float, float, int]


def _dbu(value_um: float) -> int:
    return round(value_um / DBU_UM)


def _box(component: gf.Component, layer: str, x0: float, y0: float, x1: float, y1: float) -> None:
    component.shapes(gf.get_layer(layer)).insert(kdb.Box(_dbu(x0), _dbu(y0), _dbu(x1), _dbu(y1)))


def text_extent(text: str, size: float = 1.0) -> tuple[float, float]:
    """Length and height in um of `text` drawn `size` um tall in KLayout's default font."""
    generator = kdb.TextGenerator.default_generator()
    box = generator.text(text, DBU_UM, 1.0 / generator.dheight()).bbox()
    return box.width() * DBU_UM * size, box.height() * DBU_UM * size


def fitted_size(text: str, length: float, across: float) -> float:
    """The largest text size at which `text` runs along at most LABEL_FILL of `length` and stays within `across`."""
    long, tall = text_extent(text)
    return min(LABEL_FILL * length / long, across / tall)


def _port(component: gf.Component, name: str, center: tuple[float, float], width: float, orientation: int,
          layer: str) -> None:
    """A port as kfactory takes it: on the grid, its width the largest even number of database units within the
    drawn width (any block or electrode width may be an odd number of them)."""
    x, y = center
    even_width = max(2, _dbu(width) // 2 * 2) * DBU_UM
    component.add_port(name, center=(_dbu(x) * DBU_UM, _dbu(y) * DBU_UM), width=even_width, orientation=orientation,
                       layer=layer)


def _label(component: gf.Component, text: str, x: float, y: float, size: float, upright: bool = False) -> None:
    """A text drawn to scale (`size` um tall), turned a quarter when `upright` so it runs along a tall shape."""
    label = kdb.Text(text, kdb.Trans(1 if upright else 0, False, _dbu(x), _dbu(y)))
    label.size = _dbu(size)
    component.shapes(gf.get_layer(TEXT)).insert(label)


def _electrode_offset(pitch: float, electrode_width: float) -> float:
    """Where an electrode starts across its cell: centred, on the database grid."""
    return (_dbu(pitch) - _dbu(electrode_width)) // 2 * DBU_UM


def _crossing(component: gf.Component, pitch: float, electrode_width: float, enclosure: float) -> float:
    """A bottom electrode across the cell, a top electrode along it, and the switching layer where they cross.

    Both electrodes reach the cell edges, so abutting cells join them into continuous row and column lines.
    Returns the electrodes' offset from the cell edge.
    """
    offset = _electrode_offset(pitch, electrode_width)
    far = offset + electrode_width
    _box(component, BOTTOM_ELECTRODE, 0, offset, pitch, far)
    _box(component, TOP_ELECTRODE, offset, 0, far, pitch)
    _box(component, SWITCHING, offset + enclosure, offset + enclosure, far - enclosure, far - enclosure)
    return offset


@gf.cell
def junction(
    pitch: float = PITCH_UM, electrode_width: float = ELECTRODE_WIDTH_UM, enclosure: float = ENCLOSURE_UM
) -> gf.Component:
    """One crossbar memristor: row electrode (metal 1) west-east, column electrode (metal 2) south-north."""
    c = gf.Component()
    offset = _crossing(c, pitch, electrode_width, enclosure)
    middle = offset + electrode_width / 2
    _port(c, "row_w", center=(0, middle), width=electrode_width, orientation=180, layer=BOTTOM_ELECTRODE)
    _port(c, "row_e", center=(pitch, middle), width=electrode_width, orientation=0, layer=BOTTOM_ELECTRODE)
    _port(c, "column_s", center=(middle, 0), width=electrode_width, orientation=270, layer=TOP_ELECTRODE)
    _port(c, "column_n", center=(middle, pitch), width=electrode_width, orientation=90, layer=TOP_ELECTRODE)
    return c


@gf.cell
def crossbar(
    rows: int = 8,
    columns: int = 8,
    pitch: float = PITCH_UM,
    electrode_width: float = ELECTRODE_WIDTH_UM,
    enclosure: float = ENCLOSURE_UM,
) -> gf.Component:
    """rows x columns junctions as one array reference, with a pin per row (west edge) and per column (south)."""
    c = gf.Component()
    cell = junction(pitch=pitch, electrode_width=electrode_width, enclosure=enclosure)
    c.add_ref(cell, columns=columns, rows=rows, column_pitch=pitch, row_pitch=pitch)
    offset = _electrode_offset(pitch, electrode_width)
    for row in range(rows):
        y = row * pitch + offset
        _box(c, PIN, 0, y, electrode_width, y + electrode_width)
        _port(c, f"row{row}", center=(0, y + electrode_width / 2), width=electrode_width, orientation=180,
                   layer=BOTTOM_ELECTRODE)
    for column in range(columns):
        x = column * pitch + offset
        _box(c, PIN, x, 0, x + electrode_width, electrode_width)
        _port(c, f"column{column}", center=(x + electrode_width / 2, 0), width=electrode_width, orientation=270,
                   layer=TOP_ELECTRODE)
    return c


@gf.cell
def load_memristor(
    pitch: float = PITCH_UM, electrode_width: float = ELECTRODE_WIDTH_UM, enclosure: float = ENCLOSURE_UM
) -> gf.Component:
    """The load memristor under a column (Fig. 2): the column's top electrode continues into it and crosses a
    bottom-electrode ground rail, which neighbouring loads share."""
    c = gf.Component()
    offset = _crossing(c, pitch, electrode_width, enclosure)
    middle = offset + electrode_width / 2
    _port(c, "column", center=(middle, pitch), width=electrode_width, orientation=90, layer=TOP_ELECTRODE)
    _port(c, "ground", center=(0, middle), width=electrode_width, orientation=180, layer=BOTTOM_ELECTRODE)
    return c


@gf.cell
def averaging_memristor(
    pitch: float = PITCH_UM, electrode_width: float = ELECTRODE_WIDTH_UM, enclosure: float = ENCLOSURE_UM
) -> gf.Component:
    """One memristor of a mean-pooling averager (Fig. 3): the same crossing as a crossbar junction, in the
    averager's block."""
    c = gf.Component()
    _crossing(c, pitch, electrode_width, enclosure)
    return c


def _memristor_rows(c: gf.Component, count: int, width: float, height: float, device: dict) -> None:
    """`count` averaging memristors packed in rows at the crossbar pitch from the block's lower-left corner: full
    rows as one array reference, the rest as a second one on top."""
    pitch = device["pitch"]
    per_row = int(width // pitch)
    full_rows, rest = divmod(count, per_row)
    if (full_rows + (rest > 0)) * pitch > height + 1e-9:
        raise ValueError(f"{count} averaging memristors do not fit a {width} x {height} um block")
    cell = averaging_memristor(**device)
    if full_rows:
        c.add_ref(cell, columns=per_row, rows=full_rows, column_pitch=pitch, row_pitch=pitch)
    if rest:
        c.add_ref(cell, columns=rest, rows=1, column_pitch=pitch, row_pitch=pitch).move((0, full_rows * pitch))


@gf.cell
def load_bank(
    count: int = 8,
    pitch: float = PITCH_UM,
    electrode_width: float = ELECTRODE_WIDTH_UM,
    enclosure: float = ENCLOSURE_UM,
) -> gf.Component:
    """One load memristor per crossbar column, in a row at the column pitch, on a common ground rail."""
    c = gf.Component()
    cell = load_memristor(pitch=pitch, electrode_width=electrode_width, enclosure=enclosure)
    c.add_ref(cell, columns=count, rows=1, column_pitch=pitch, row_pitch=pitch)
    c.add_port("ground", port=cell.ports["ground"])
    offset = _electrode_offset(pitch, electrode_width)
    _box(c, PIN, 0, offset, electrode_width, offset + electrode_width)
    size = fitted_size("GND", count * pitch, electrode_width)
    _label(c, "GND", 0, offset, size)
    return c


@gf.cell
def periphery_block(
    width: float = 10.0,
    height: float = 10.0,
    kind: str = "opamp",
    count: int = 1,
    facing: str = "north",
    pin_width: float = ELECTRODE_WIDTH_UM,
    memristors: int = 0,
    pitch: float = PITCH_UM,
    enclosure: float = ENCLOSURE_UM,
) -> gf.Component:
    """A bank of `count` peripheral circuits drawn as its outline rectangle, labelled with kind and count, with a
    pin strip on the edge that faces the crossbar (`facing`: "north" for column banks, "east" for row banks), and
    its own `memristors` (an averager's) drawn in rows from its lower-left corner."""
    c = gf.Component()
    _box(c, PERIPHERY, 0, 0, width, height)
    if facing == "north":
        strip = min(pin_width, height)
        _box(c, PIN, 0, height - strip, width, height)
        _port(c, "crossbar", center=(width / 2, height), width=width, orientation=90, layer=PERIPHERY)
    else:
        strip = min(pin_width, width)
        _box(c, PIN, width - strip, 0, width, height)
        _port(c, "crossbar", center=(width, height / 2), width=height, orientation=0, layer=PERIPHERY)
    bottom = 0.0
    if memristors:
        _memristor_rows(c, memristors, width, height, {"pitch": pitch, "electrode_width": pin_width,
                                                        "enclosure": enclosure})
        bottom = min(height, -(-memristors // int(width // pitch)) * pitch)
    # The label in the room left by the pin strip and the memristors, along the block's longer free side.
    free_width = width - (0 if facing == "north" else min(pin_width, width))
    free_height = height - bottom - (min(pin_width, height) if facing == "north" else 0)
    text = f"{kind} x{count}"
    upright = free_height > free_width
    size = fitted_size(text, *((free_height, free_width * 0.8) if upright else (free_width, free_height * 0.8)))
    long, tall = text_extent(text, size)
    if upright:
        _label(c, text, (free_width + tall) / 2, bottom + (free_height - long) / 2, size, upright)
    else:
        _label(c, text, (free_width - long) / 2, bottom + (free_height - tall) / 2, size)
    return c


@gf.cell
def tile(
    width: float = 20.0,
    height: float = 20.0,
    rows: int = 8,
    blocks: tuple[BlockSpec, ...] = (("crossbar", "crossbar", 64, 14.24, 14.24, 5.76, 5.76, 0),),
    pitch: float = PITCH_UM,
    electrode_width: float = ELECTRODE_WIDTH_UM,
    enclosure: float = ENCLOSURE_UM,
) -> gf.Component:
    """A crossbar tile exactly at the floorplan's blocks: crossbar and sign crossbar, the row circuits beside them,
    the column circuits below, and the tile's outline."""
    c = gf.Component()
    _box(c, TILE_OUTLINE, 0, 0, width, height)
    device = {"pitch": pitch, "electrode_width": electrode_width, "enclosure": enclosure}
    array_y = next(y for _, kind, _, _, y, _, _, _ in blocks if kind == "crossbar")
    array_x = next(x for _, kind, _, x, _, _, _, _ in blocks if kind == "crossbar")
    for name, kind, count, x, y, w, h, memristors in blocks:
        if kind in CROSSBAR_KINDS:
            ref = c.add_ref(crossbar(rows=rows, columns=count // rows, **device))
            # Near the top edge, away from the corner that a close-up shows.
            text = f"{name} {rows}x{count // rows}"
            size = fitted_size(text, w, h * 0.1)
            _label(c, text, x + w * (1 - LABEL_FILL) / 2, y + h * 0.88, size)
        elif kind == LOAD_KIND:
            # Under the crossbar's columns, against its lower edge, so each column's electrode runs on into its load.
            ref = c.add_ref(load_bank(count=count, **device))
            x, y = array_x, y + h - pitch
        else:
            facing = "east" if y >= array_y else "north"  # row circuits sit beside the crossbar, column ones below
            ref = c.add_ref(periphery_block(width=w, height=h, kind=name, count=count, facing=facing,
                                            pin_width=electrode_width, memristors=memristors, pitch=pitch,
                                            enclosure=enclosure))
        ref.move((x, y))
    return c


# A tile cell's parameters, as `tile` takes them: width, height, rows, blocks.
TileSpec = tuple[float, float, int, tuple[BlockSpec, ...]]
# One tile on the chip: id, position (lower-left corner), its cell.
TilePlacementSpec = tuple[str, float, float, TileSpec]


@gf.cell
def chip(
    name: str = "accelerator",
    placements: tuple[TilePlacementSpec, ...] = (),
    pitch: float = PITCH_UM,
    electrode_width: float = ELECTRODE_WIDTH_UM,
    enclosure: float = ENCLOSURE_UM,
    tile_id_property: int = 1,
) -> gf.Component:
    """Every tile at its floorplan position (the cell's name carries the architecture's `name`), labelled with its
    id ("network.layer.index"), which each instance also carries as a GDS property so that a reader can measure
    tiles by id."""
    c = gf.Component()
    for tile_id, x, y, (width, height, rows, blocks) in placements:
        cell = tile(width=width, height=height, rows=rows, blocks=blocks, pitch=pitch,
                    electrode_width=electrode_width, enclosure=enclosure)
        ref = c.add_ref(cell)
        ref.move((x, y))
        ref.instance.set_property(tile_id_property, tile_id)
        # Along the tile's long side, inside the tile, so that the labels of neighbouring tiles never overlap.
        upright = height > width
        size = fitted_size(tile_id, max(width, height), min(width, height) * 0.4)
        margin = max(width, height) * (1 - LABEL_FILL) / 2
        if upright:  # turned a quarter, the text runs up from its origin and extends to the origin's left
            _label(c, tile_id, x + width * 0.5 + size / 2, y + margin, size, upright)
        else:
            _label(c, tile_id, x + margin, y + height * 0.05, size)
    return c
