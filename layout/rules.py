"""The technology's drawing rules in GDS database units: what the cells draw and what the rule check holds them to."""

from __future__ import annotations

import math
from dataclasses import dataclass

from amdcgan.errors import UserError
from amdcgan.hdl.spec import Technology

DBU_UM = 0.001  # GDS database unit (gdsfactory's): every technology grid must be a whole number of these


def to_dbu(value_um: float) -> int:
    """Database units covering `value_um`, rounded up: a rule is met, never undercut by rounding."""
    return math.ceil(value_um / DBU_UM - 1e-6)


@dataclass(frozen=True)
class Rules:
    grid: int  # database units per floorplan grid unit
    electrode_width: int
    electrode_space: int
    enclosure: int  # electrode overlap around the switching layer


def rules_of(technology: Technology) -> Rules:
    grid = technology.grid_um / DBU_UM
    if abs(grid - round(grid)) > 1e-6:
        raise UserError(
            f"technology {technology.name}: grid_um={technology.grid_um} is not a whole number of the "
            f"{DBU_UM} um GDS database unit"
        )
    return Rules(
        grid=round(grid),
        electrode_width=to_dbu(technology.electrode.min_width_um),
        electrode_space=to_dbu(technology.electrode.min_space_um),
        enclosure=to_dbu(technology.switching_enclosure_um),
    )
