"""Layout: the accelerator's floorplan drawn as GDS with gdsfactory, measured and rule-checked with KLayout.

`write_layout(arch, gds_path, png_path=None, tile=None)` is the entry point. gdsfactory is imported by the modules
that draw (`cells`, `pdk`, `chip`), never by this package's import, so that the CLI starts fast.
"""

from __future__ import annotations

from importlib import import_module

_PUBLIC = {
    "write_layout": "chip",
    "build_chip": "chip",
    "build_tile": "chip",
    "measure_areas": "measure",
    "drc": "design_rules",
    "Violation": "design_rules",
    "render_png": "render",
    "activate_pdk": "pdk",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
