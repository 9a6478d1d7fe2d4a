"""Area: the component-library sum (counts x Table I areas + memristors x cell pitch^2) and the floorplan's figure.

Two figures answer different questions. The component sum is the silicon the circuits themselves need; the floorplan
adds what arranging them costs (banks stretched to their tile's edge, rounding to the layout grid, the gaps between
tiles and the chip's bounding box). Measured layout areas, when given, stand beside the floorplan's tile by tile.
"""

from __future__ import annotations

from collections import defaultdict

from amdcgan.errors import UserError
from amdcgan.hdl.floorplan import Floorplan
from amdcgan.hdl.graph import Counts, HardwareGraph
from amdcgan.hdl.spec import Architecture

UM2_PER_MM2 = 1e6


def scope_area(counts: Counts, architecture: Architecture) -> dict:
    """Area of one scope (layer, network or all) by component kind and by memristor kind, in um^2."""
    library = architecture.components.components
    cell = architecture.technology.memristor_pitch_um**2
    components = {kind: count * library[kind].area_um2 for kind, count in counts.components.items()}
    memristors = {kind: count * cell for kind, count in counts.memristors.items()}
    total_components, total_memristors = sum(components.values()), sum(memristors.values())
    return {
        "components_um2": components,
        "memristors_um2": memristors,
        "components_total_um2": total_components,
        "memristors_total_um2": total_memristors,
        "total_um2": total_components + total_memristors,
    }


def component_sum(hardware: HardwareGraph) -> dict:
    architecture = hardware.plan.architecture
    return {
        "total": scope_area(hardware.counts(), architecture),
        "networks": {
            network.name: scope_area(hardware.counts(network.name), architecture) for network in hardware.plan.networks
        },
        "layers": {
            f"{layer.network}.{layer.name}": scope_area(hardware.counts(layer.network, layer.name), architecture)
            for layer in hardware.plan.layers()
        },
    }


def floorplan_area(floorplan: Floorplan) -> dict:
    by_layer: dict[str, float] = defaultdict(float)
    by_network: dict[str, float] = defaultdict(float)
    for tile in floorplan.tiles:
        area = floorplan.um2(tile.rect.area)
        by_layer[f"{tile.network}.{tile.layer}"] += area
        by_network[tile.network] += area
    return {
        "chip_um": [floorplan.um(floorplan.width), floorplan.um(floorplan.height)],
        "chip_area_um2": floorplan.chip_area_um2,
        "tiles_area_um2": floorplan.tiles_area_um2,
        "by_block_kind_um2": floorplan.block_area_um2(),
        "by_layer_um2": dict(by_layer),
        "by_network_um2": dict(by_network),
    }


def layout_comparison(floorplan: Floorplan, layout_areas: dict[str, float]) -> dict:
    """Measured tile areas (from the GDS) beside the floorplan's, for the tiles given."""
    known = {tile.tile_id: floorplan.um2(tile.rect.area) for tile in floorplan.tiles}
    unknown = sorted(set(layout_areas) - set(known))
    if unknown:
        raise UserError(f"layout areas: tiles not in the floorplan: {', '.join(unknown[:5])}")
    bad = sorted(tile for tile, area in layout_areas.items() if not isinstance(area, (int, float)) or area <= 0)
    if bad:
        raise UserError(f"layout areas: tile areas must be positive numbers (um^2): {', '.join(bad[:5])}")
    tiles = {
        tile: {"floorplan_um2": known[tile], "layout_um2": float(area), "ratio": float(area) / known[tile]}
        for tile, area in layout_areas.items()
    }
    floorplan_sum = sum(row["floorplan_um2"] for row in tiles.values())
    layout_sum = sum(row["layout_um2"] for row in tiles.values())
    return {
        "tiles": tiles,
        "tiles_compared": len(tiles),
        "tiles_in_floorplan": len(known),
        "floorplan_um2": floorplan_sum,
        "layout_um2": layout_sum,
        "ratio": layout_sum / floorplan_sum if floorplan_sum else None,
    }


def area_estimate(hardware: HardwareGraph, floorplan: Floorplan, layout_areas: dict[str, float] | None = None) -> dict:
    summed = component_sum(hardware)
    placed = floorplan_area(floorplan)
    return {
        "component_sum": summed,
        "floorplan": placed,
        # How much of the chip's bounding box the circuits themselves fill.
        "floorplan_utilisation": summed["total"]["total_um2"] / placed["chip_area_um2"],
        "layout": layout_comparison(floorplan, layout_areas) if layout_areas else None,
    }
