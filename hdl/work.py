"""The size of the work an architecture asks for, estimated from its shapes before any tile, graph node, netlist line,
cell or tensor is made, and checked against limits, so that an absurd architecture is refused in a moment instead of
exhausting memory. `max_work` scales every limit (2 allows twice as much)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from amdcgan.errors import UserError

from .mapping import LayerGeometry, layer_geometry
from .shapes import network_shapes
from .spec import WEIGHTED_TYPES, Architecture, WeightEncoding

# measure -> (default limit, what it counts, what it bounds). The defaults leave the reference architecture at least
# 5x room (training at batch 64) and keep each command within about 1-2 GB of memory.
LIMITS: dict[str, tuple[int, str, str]] = {
    "tiles": (100_000, "tiles", "the tile plan and hardware graph (about 3 kB per tile)"),
    "netlist_lines": (12_000_000, "netlist lines", "the SPICE netlist (about 150 bytes per line)"),
    "layout_items": (100_000, "tile instances and crossbar pins", "the layout"),
    "spice_devices": (1_000_000, "memristors in the simulated tiles", "the ngspice circuits"),
    "training_values": (400_000_000, "tensor values", "one training step (4 to 8 bytes per value)"),
}
DEVICE_NETLIST_LINES_PER_TILE = 12  # instance lines of a tile's banks and crossbars


@dataclass(frozen=True)
class Work:
    tiles: int
    weights: int
    memristors: int
    netlist_lines: int
    layout_items: int
    spice_devices: int
    activations_per_image: int  # values computed per image by both networks

    def training_values(self, batch: int) -> int:
        """Per memristor its device state (level, offset, variation, pulse count), the weight with its gradient and
        optimiser moments and the conductances of a forward pass (about 16 values); and the activations of a
        batch: the generator's pass and the discriminator's on real and generated images, kept for the backward."""
        return 16 * self.memristors + 3 * batch * self.activations_per_image


def _sizes(total: int, parts: int) -> set[int]:
    """The distinct part sizes of `balanced_splits(total, ...)` into `parts` parts."""
    return {total // parts, math.ceil(total / parts)} - {0}


def _crossbars(geometry: LayerGeometry) -> set[tuple[int, int]]:
    """Distinct crossbar sizes (rows, physical columns) of a layer's tiles, sign crossbars included."""
    sizes = set()
    for rows in _sizes(geometry.rows, geometry.row_tiles):
        for columns in _sizes(geometry.columns, geometry.column_tiles):
            sizes.add((rows, columns * geometry.devices_per_weight))
            if geometry.encoding is WeightEncoding.sign_crossbar:
                sizes.add((rows, columns))
    return sizes


def estimate_work(architecture: Architecture) -> Work:
    tiles = weights = memristors = layout_items = spice_devices = activations = 0
    for network in architecture.networks().values():
        shapes = network_shapes(network)
        activations += math.prod(network.input_shape) + sum(math.prod(shape.output) for shape in shapes)
        for shape in shapes:
            if not isinstance(shape.layer, WEIGHTED_TYPES):
                continue
            geometry = layer_geometry(architecture, shape)
            layer_tiles = geometry.row_tiles * geometry.column_tiles
            sign = geometry.encoding is WeightEncoding.sign_crossbar
            layer_weights = geometry.rows * geometry.columns
            sizes = _crossbars(geometry)
            tiles += layer_tiles
            weights += layer_weights
            memristors += layer_weights * (geometry.devices_per_weight + sign)
            layout_items += layer_tiles + sum(rows + columns for rows, columns in sizes)
            first_rows, first_columns = min(geometry.rows, geometry.max_rows), min(geometry.columns, geometry.max_columns)
            spice_devices += first_rows * first_columns * (geometry.devices_per_weight + sign)
    # Every memristor carries its own conductance, so the netlist has a line per device.
    netlist_lines = memristors + DEVICE_NETLIST_LINES_PER_TILE * tiles
    return Work(tiles, weights, memristors, netlist_lines, layout_items, spice_devices, activations)


def check_work(estimates: dict[str, int], max_work: float, source: str) -> None:
    """Refuse when an estimate exceeds its limit (times `max_work`), stating both and how to allow it."""
    if not (math.isfinite(max_work) and max_work > 0):
        raise UserError(f"--max-work: expected a positive number, got {max_work}")
    for measure, estimate in estimates.items():
        default, unit, bounds = LIMITS[measure]
        limit = default * max_work
        if estimate > limit:
            needed = math.ceil(estimate / default * 10) / 10
            raise UserError(
                f"{source}: {bounds} would hold about {estimate:,} {unit}, above the limit of {int(limit):,}; "
                f"check the tile limits and layer sizes, or allow it with --max-work {needed:g}"
            )
