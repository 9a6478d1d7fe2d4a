"""KLayout layer properties (`.lyp`) for a technology: every layer of its layer map named, coloured and described,
written beside each GDS so that KLayout shows named layers (File > Load Layer Properties, or `klayout -l`)."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

from amdcgan.fileio import write_bytes_atomic
from amdcgan.hdl.spec import Technology

# layer-map field -> (fill colour, frame colour, dither pattern index, drawn width of the frame, what it draws)
STYLE = {
    "tile_outline": (0xFFFFFF, 0x303030, 1, 2, "outline of each crossbar tile"),
    "periphery": (0xD9E4F0, 0x5A7391, 0, 1, "peripheral circuit banks (Table I circuits)"),
    "bottom_electrode": (0x3B6FD8, 0x1D3F8A, 0, 1, "metal 1: crossbar rows"),
    "top_electrode": (0xD8553B, 0x8A2B1D, 0, 1, "metal 2: crossbar columns"),
    "switching": (0x3CC15A, 0x1E7A34, 0, 1, "memristive switching layer at each crossing"),
    "pin": (0xF2C230, 0xB38600, 0, 1, "pins where rows and columns meet their circuits"),
    "text": (0x000000, 0x000000, 1, 1, "labels: tile ids, blocks, arrays"),
}


def layer_name(field: str, technology: Technology) -> str:
    """The name KLayout shows: the layer-map field, its GDS layer/datatype and what it draws."""
    spec = getattr(technology.layers, field)
    return f"{field} {spec.layer}/{spec.datatype} ({STYLE[field][4]})"


def layer_properties(technology: Technology) -> bytes:
    """The technology's layers as a KLayout layer-properties document."""
    root = ElementTree.Element("layer-properties")
    for field, spec in technology.layers:
        fill, frame, dither, width, _ = STYLE[field]
        node = ElementTree.SubElement(root, "properties")
        for tag, value in (("frame-color", f"#{frame:06x}"), ("fill-color", f"#{fill:06x}"),
                           ("frame-brightness", "0"), ("fill-brightness", "0"), ("dither-pattern", f"I{dither}"),
                           ("line-style", ""), ("valid", "true"), ("visible", "true"),
                           ("transparent", "true" if field in ("tile_outline", "text") else "false"),
                           ("width", str(width)), ("marked", "false"), ("xfill", "false"), ("animation", "0"),
                           ("name", layer_name(field, technology)), ("source", f"{spec.layer}/{spec.datatype}@1")):
            ElementTree.SubElement(node, tag).text = value
    ElementTree.indent(root)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(root, encoding="utf-8") + b"\n"


def write_layer_properties(technology: Technology, path: str | Path) -> Path:
    return write_bytes_atomic(path, layer_properties(technology))
