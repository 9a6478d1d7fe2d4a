"""Headless PNG of a GDS with KLayout's layout view: electrodes, switching layer, periphery and outlines, each in
its own colour; a tile is shown whole beside a close-up of its crossbar corner, where the junction grid is visible."""

from __future__ import annotations

import io
from pathlib import Path

import klayout.db as kdb
import klayout.lay as lay

from amdcgan.fileio import write_bytes_atomic
from amdcgan.hdl.spec import Technology

from .lyp import STYLE
from .names import CROSSBAR_MEMRISTOR

JUNCTIONS_IN_CLOSE_UP = 12  # rows and columns of the crossbar corner in a tile's close-up


def _view(gds_path: Path, technology: Technology, label_levels: int) -> lay.LayoutView:
    """`label_levels`: how many hierarchy levels below the top cell show their labels (0: the top cell's only)."""
    view = lay.LayoutView()
    view.set_config("background-color", "#ffffff")
    view.set_config("grid-visible", "false")
    view.set_config("text-color", "#000000")
    view.set_config("text-lazy-rendering", "false")  # draw labels at their size and rotation, not as markers
    view.set_config("text-font", "1")
    view.load_layout(str(gds_path), True)
    view.clear_layers()  # KLayout's default styles, replaced by ours below
    view.max_hier()
    for name, (fill, frame, dither, width, _) in STYLE.items():
        spec = getattr(technology.layers, name)
        node = lay.LayerProperties()
        node.source = f"{spec.layer}/{spec.datatype}@1"
        node.name = name
        node.fill_color, node.frame_color, node.dither_pattern, node.width = fill, frame, dither, width
        node.transparent = name in ("tile_outline", "text")
        if name == "text":
            node.upper_hier_level = label_levels + 1  # levels above this one are drawn
        view.insert_layer(view.end_layers(), node)
    return view


def _crossbar_corner(gds_path: Path, technology: Technology) -> kdb.DBox:
    """The lower-left corner of the electrodes (crossbar, and its loads if any), with the circuits around it."""
    layout = kdb.Layout()
    layout.read(str(gds_path))
    spec = technology.layers.bottom_electrode
    shapes = layout.top_cells()[0].begin_shapes_rec(layout.find_layer(spec.layer, spec.datatype))
    shapes.unselect_all_cells()
    shapes.select_cells(f"{CROSSBAR_MEMRISTOR}*")  # the arrays' junctions, not the averagers' memristors
    electrodes = kdb.Region(shapes)
    corner = electrodes.bbox().to_dtype(layout.dbu)
    span = JUNCTIONS_IN_CLOSE_UP * technology.memristor_pitch_um
    return kdb.DBox(corner.left - span / 3, corner.bottom - span / 3, corner.left + span, corner.bottom + span)


def render_png(gds_path: str | Path, png_path: str | Path, technology: Technology, *, title: str = "",
               zoom_on_junctions: bool = False, height: int = 1000) -> Path:
    """A chip is drawn whole, in a picture of its own aspect; a tile whole beside a close-up of its junctions."""
    return write_bytes_atomic(png_path, png_bytes(gds_path, technology, title=title,
                                                  zoom_on_junctions=zoom_on_junctions, height=height))


def png_bytes(gds_path: str | Path, technology: Technology, *, title: str = "", zoom_on_junctions: bool = False,
              height: int = 1000) -> bytes:
    """The picture `render_png` writes, as PNG bytes."""
    gds_path = Path(gds_path)
    title = title or gds_path.stem
    view = _view(gds_path, technology, label_levels=2 if zoom_on_junctions else 0)
    extent = view.active_cellview().cell.dbbox()
    box = extent.enlarged(0.03 * max(extent.width(), extent.height()))
    if not zoom_on_junctions:
        width = min(2 * height, max(height // 2, round(height * box.width() / box.height())))
        panels = [(f"{title}: every tile at its floorplan position", _pixels(view, width, height, box))]
    else:
        panels = [
            (f"{title}: whole tile", _pixels(view, height // 2, height, box)),
            ("crossbar corner: rows (metal 1, blue), columns (metal 2, red), switching layer (green), pins (yellow)",
             _pixels(view, height, height, _crossbar_corner(gds_path, technology))),
        ]
    return _side_by_side(panels, height)


def _pixels(view: lay.LayoutView, width: int, height: int, box: kdb.DBox) -> lay.PixelBuffer:
    return view.get_pixels_with_options(width, height, 1, 2, 0.0, box)


def _side_by_side(panels: list[tuple[str, lay.PixelBuffer]], height: int) -> bytes:
    """The panels left to right under a title strip each, split by a rule."""
    from PIL import Image, ImageDraw, ImageFont

    title_height = 36
    canvas = Image.new("RGB", (sum(pixels.width() for _, pixels in panels), height + title_height), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=18)
    left = 0
    for title, pixels in panels:
        canvas.paste(Image.open(io.BytesIO(pixels.to_png_data())).convert("RGB"), (left, title_height))
        draw.text((left + 12, 8), title, fill="black", font=font)
        if left:
            draw.line([(left, 0), (left, height + title_height)], fill="black", width=2)
        left += pixels.width()
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()
