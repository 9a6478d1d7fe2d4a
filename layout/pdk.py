"""The technology as a gdsfactory PDK: its layer map, activated by this package (never gdsfactory's generic PDK)."""

from __future__ import annotations

import hashlib
from functools import lru_cache

import gdsfactory as gf
from kfactory.layer import LayerEnum, constant

from amdcgan.hdl.spec import Technology

from .rules import DBU_UM

# Layer names the cells draw on: the technology's layer-map fields, upper-cased (gdsfactory's convention).
BOTTOM_ELECTRODE = "BOTTOM_ELECTRODE"  # metal 1: crossbar rows
TOP_ELECTRODE = "TOP_ELECTRODE"  # metal 2: crossbar columns
SWITCHING = "SWITCHING"  # the memristive layer between them, at each crossing
PERIPHERY = "PERIPHERY"
TILE_OUTLINE = "TILE_OUTLINE"
PIN = "PIN"
TEXT = "TEXT"


def pdk_name(technology: Technology) -> str:
    """Unique per technology content, so that two technologies never share cached cells."""
    digest = hashlib.sha1(technology.model_dump_json().encode()).hexdigest()[:8]
    return f"amdcgan_{technology.name}_{digest}"


@lru_cache(maxsize=8)
def _pdk(technology: Technology) -> gf.Pdk:
    layers = {name.upper(): (spec.layer, spec.datatype) for name, spec in technology.layers}
    layer_enum = LayerEnum("LAYER", {"layout": constant(gf.kcl.layout), **layers})
    return gf.Pdk(name=pdk_name(technology), layers=layer_enum, dbu=DBU_UM)


def activate_pdk(technology: Technology) -> gf.Pdk:
    """Activate the technology's PDK. Switching technology drops the cells drawn for the previous one."""
    pdk = _pdk(technology)
    try:
        active = gf.get_active_pdk().name
    except ValueError:
        active = None
    if active != pdk.name:
        gf.clear_cache()
        pdk.activate()
    return pdk
