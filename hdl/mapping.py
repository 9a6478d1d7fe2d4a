"""Mapping: every weighted layer becomes a grid of crossbar tiles plus the periphery of the paper's Figs. 2 and 3.

How each layer type unrolls onto a crossbar (weight matrix rows x columns; one crossbar read per "cycle"):
- dense: (inputs [+1 bias row]) x units, read once per image.
- conv2d: (kernel*kernel*in_channels [+1]) x filters; the crossbar is reused over the output positions, one window
  per cycle, so cycles per image = output height * output width.
- deconv2d: mapped as the equivalent convolution over the zero-inserted (stride-dilated, padded by kernel-1-padding)
  input, so it has the same (kernel*kernel*in_channels [+1]) x filters crossbar and one cycle per output position.
  Rows that meet an inserted zero carry no current, so this costs time but no accuracy. We chose it over the
  scatter form (in_channels x kernel*kernel*filters, overlap-add of the outputs) because every column then gives a
  finished output pixel that the activation circuit can take directly, with no analog accumulator.

A matrix larger than the tile limits is split into a grid of balanced tiles. Row-split tiles produce partial
column results that a summing amplifier per column adds. The sign-crossbar encoding (Fig. 3) reads the columns one
after another, because the sign switches invert each row's input for one column at a time: its cycles per image
are multiplied by the tile's column count.

Every peripheral circuit belongs to a tile: row circuits to each tile, column readout to each tile, and the layer's
per-column circuits (summing amplifier, batch norm, activation, dropout, pooling) to the tile of the first tile row
that holds that column range (the "host" tile).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .shapes import LayerShape, network_shapes, output_shape
from .spec import (
    Activation,
    Architecture,
    BatchNorm,
    ComponentKind,
    Conv2d,
    Deconv2d,
    Dense,
    Dropout,
    MeanPool,
    Readout,
    WeightEncoding,
)

Range = tuple[int, int]


@dataclass(frozen=True)
class Bank:
    """`count` identical circuits of one kind side by side (one per row or per column of a tile)."""

    kind: str  # a ComponentKind value, or "load_memristor" / "averaging_memristor"
    count: int
    layer: str  # the layer whose function the circuits implement
    memristors: int = 0  # memristors inside the bank (load and averaging memristors)
    side: str = "column"  # "row" banks sit beside the crossbar, "column" banks below it


@dataclass(frozen=True)
class Tile:
    network: str
    layer: str
    index: int  # row_tile * column_tiles + column_tile
    row_tile: int
    column_tile: int
    rows: Range  # weight-matrix rows held
    columns: Range  # weight-matrix (logical) columns held
    devices_per_weight: int  # 2 for a differential pair, 1 for sign crossbar (its sign lives in a second array)
    sign_crossbar: bool
    banks: tuple[Bank, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.network}.{self.layer}.{self.index}"

    @property
    def n_rows(self) -> int:
        return self.rows[1] - self.rows[0]

    @property
    def n_columns(self) -> int:
        """Logical columns (weights per row)."""
        return self.columns[1] - self.columns[0]

    @property
    def physical_columns(self) -> int:
        return self.n_columns * self.devices_per_weight

    @property
    def crossbar_devices(self) -> int:
        return self.n_rows * self.physical_columns

    @property
    def sign_devices(self) -> int:
        return self.n_rows * self.n_columns if self.sign_crossbar else 0


@dataclass(frozen=True)
class LayerPlan:
    """One weighted layer on hardware, with the non-weighted layers that follow it folded into its periphery."""

    network: str
    name: str
    index: int
    type: str  # dense | conv2d | deconv2d
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    weight_rows: int
    weight_columns: int
    bias: bool
    kernel: int
    stride: int
    padding: int
    output_padding: int
    encoding: WeightEncoding
    readout: Readout
    summing_gain: float  # of the amplifier adding the row splits' partials (the layer's, else the periphery's)
    positions: int  # crossbar reads per image for one column set
    column_cycles: int  # 1, or the columns read one by one (sign crossbar)
    row_splits: tuple[Range, ...]
    column_splits: tuple[Range, ...]
    tiles: tuple[Tile, ...]
    stages: tuple[str, ...]  # names of the folded layers, in order

    @property
    def cycles_per_image(self) -> int:
        return self.positions * self.column_cycles

    @property
    def weights(self) -> int:
        return self.weight_rows * self.weight_columns

    @property
    def memristors(self) -> int:
        return sum(tile.crossbar_devices + tile.sign_devices for tile in self.tiles)


@dataclass(frozen=True)
class NetworkPlan:
    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    layers: tuple[LayerPlan, ...]

    @property
    def cycles_per_image(self) -> int:
        return sum(layer.cycles_per_image for layer in self.layers)


@dataclass(frozen=True)
class TilePlan:
    """The whole accelerator as tiles: what the graph, the floorplan, the estimators and the GAN layers share."""

    architecture: Architecture
    networks: tuple[NetworkPlan, ...] = field(default_factory=tuple)

    def layers(self) -> list[LayerPlan]:
        return [layer for network in self.networks for layer in network.layers]

    def tiles(self) -> list[Tile]:
        return [tile for layer in self.layers() for tile in layer.tiles]

    def network(self, name: str) -> NetworkPlan:
        return next(network for network in self.networks if network.name == name)

    def layer(self, network: str, name: str) -> LayerPlan:
        return next(layer for layer in self.network(network).layers if layer.name == name)


def balanced_splits(total: int, limit: int) -> tuple[Range, ...]:
    """Split `total` into the fewest parts of at most `limit`, as equal as possible (equal column currents)."""
    parts = math.ceil(total / limit)
    base, extra = divmod(total, parts)
    bounds, start = [], 0
    for part in range(parts):
        stop = start + base + (1 if part < extra else 0)
        bounds.append((start, stop))
        start = stop
    return tuple(bounds)


def _geometry(layer: object, shape: LayerShape) -> tuple[int, int, int]:
    """(rows without bias, logical columns, output positions per image) of a weighted layer."""
    if isinstance(layer, Dense):
        return math.prod(shape.input), layer.units, 1
    channels = shape.input[0]
    return layer.kernel * layer.kernel * channels, layer.filters, shape.output[1] * shape.output[2]


def _stage_banks(stage: object, stage_name: str, columns: int) -> list[Bank]:
    """The per-column circuits a non-weighted layer adds to its host tile."""
    if isinstance(stage, BatchNorm):
        return [Bank(ComponentKind.batch_norm.value, columns, stage_name)] if stage.enabled else []
    if isinstance(stage, Activation):
        return [] if stage.function == "linear" else [Bank(stage.function, columns, stage_name)]
    if isinstance(stage, Dropout):
        return [Bank(ComponentKind.dropout_switch.value, columns, stage_name)]
    if isinstance(stage, MeanPool):
        return [
            Bank(ComponentKind.averager.value, columns, stage_name, memristors=columns * stage.size * stage.size)
        ]
    return []  # reshape: wiring only


def _tile_banks(
    layer_name: str,
    rows: int,
    columns: int,
    devices_per_weight: int,
    sign_crossbar: bool,
    readout: Readout,
    is_host: bool,
    needs_summing: bool,
    stages: list[tuple[str, object]],
) -> tuple[Bank, ...]:
    banks = [Bank(ComponentKind.crossbar_switch.value, rows, layer_name, side="row")]
    if sign_crossbar:
        banks += [
            Bank(ComponentKind.thresholding.value, rows, layer_name, side="row"),
            Bank(ComponentKind.sign_switch.value, rows, layer_name, side="row"),
        ]
    physical = columns * devices_per_weight
    if readout is Readout.load_memristor:
        banks.append(Bank("load_memristor", physical, layer_name, memristors=physical))
    else:
        banks.append(Bank(ComponentKind.opamp.value, columns, layer_name))
    if is_host:
        if needs_summing:
            banks.append(Bank(ComponentKind.summing_amplifier.value, columns, layer_name))
        for stage_name, stage in stages:
            banks += _stage_banks(stage, stage_name, columns)
    return tuple(banks)


@dataclass(frozen=True)
class LayerGeometry:
    """A weighted layer's matrix and how it splits into tiles, known before any tile is made (for size checks)."""

    rows: int  # with the bias row
    columns: int  # logical
    positions: int
    encoding: WeightEncoding
    readout: Readout
    devices_per_weight: int
    max_rows: int  # per tile
    max_columns: int  # logical columns per tile

    @property
    def row_tiles(self) -> int:
        return math.ceil(self.rows / self.max_rows)

    @property
    def column_tiles(self) -> int:
        return math.ceil(self.columns / self.max_columns)


def layer_geometry(architecture: Architecture, weighted: LayerShape) -> LayerGeometry:
    layer = weighted.layer
    rows_no_bias, columns, positions = _geometry(layer, weighted)
    encoding = layer.encoding or architecture.weight_encoding
    devices_per_weight = 2 if encoding is WeightEncoding.differential_pair else 1
    return LayerGeometry(
        rows=rows_no_bias + (1 if layer.bias else 0), columns=columns, positions=positions, encoding=encoding,
        readout=layer.readout or (Readout.opamp_ivc if isinstance(layer, Dense) else Readout.load_memristor),
        devices_per_weight=devices_per_weight, max_rows=architecture.tiles.max_rows,
        max_columns=architecture.tiles.max_columns // devices_per_weight,
    )


def _layer_plan(architecture: Architecture, network: str, weighted: LayerShape, stages: list[LayerShape]) -> LayerPlan:
    layer = weighted.layer
    geometry = layer_geometry(architecture, weighted)
    rows, columns, positions = geometry.rows, geometry.columns, geometry.positions
    encoding, readout, devices_per_weight = geometry.encoding, geometry.readout, geometry.devices_per_weight
    differential = encoding is WeightEncoding.differential_pair
    row_splits = balanced_splits(rows, geometry.max_rows)
    column_splits = balanced_splits(columns, geometry.max_columns)
    # Partial sums need adding when rows split; a differential pair read by load memristors needs the subtraction.
    needs_summing = len(row_splits) > 1 or (differential and readout is Readout.load_memristor)
    folded = [(stage.name, stage.layer) for stage in stages]
    tiles = []
    for row_tile, row_range in enumerate(row_splits):
        for column_tile, column_range in enumerate(column_splits):
            n_rows, n_columns = row_range[1] - row_range[0], column_range[1] - column_range[0]
            banks = _tile_banks(
                weighted.name, n_rows, n_columns, devices_per_weight, not differential, readout,
                row_tile == 0, needs_summing, folded,
            )
            tiles.append(
                Tile(network, weighted.name, row_tile * len(column_splits) + column_tile, row_tile, column_tile,
                     row_range, column_range, devices_per_weight, not differential, banks)
            )
    conv = not isinstance(layer, Dense)
    return LayerPlan(
        network=network, name=weighted.name, index=weighted.index, type=layer.type,
        input_shape=weighted.input, output_shape=stages[-1].output if stages else weighted.output,
        weight_rows=rows, weight_columns=columns, bias=layer.bias,
        kernel=layer.kernel if conv else 0, stride=layer.stride if conv else 0,
        padding=layer.padding if conv else 0, output_padding=getattr(layer, "output_padding", 0),
        encoding=encoding, readout=readout, positions=positions,
        summing_gain=layer.summing_gain or architecture.periphery.summing_gain,
        column_cycles=1 if differential else max(stop - start for start, stop in column_splits),
        row_splits=row_splits, column_splits=column_splits, tiles=tuple(tiles),
        stages=tuple(name for name, _ in folded),
    )


def plan_layer(architecture: Architecture, layer: Dense | Conv2d | Deconv2d, input_shape: tuple[int, ...],
               network: str = "model") -> LayerPlan:
    """One weighted layer planned on its own, with nothing folded after it (`amdcgan.analog` builds a layer from it);
    its tiles, encoding and readout follow the same rules as a layer of an architecture file's network."""
    name = layer.name or layer.type
    shape = LayerShape(name, 0, layer, tuple(input_shape), output_shape(layer, tuple(input_shape)))
    return _layer_plan(architecture, network, shape, [])


def map_network(architecture: Architecture, name: str) -> NetworkPlan:
    network = architecture.networks()[name]
    shapes = network_shapes(network)
    groups: list[tuple[LayerShape, list[LayerShape]]] = []
    for shape in shapes:
        if isinstance(shape.layer, (Dense, Conv2d, Deconv2d)):
            groups.append((shape, []))
        elif groups:
            groups[-1][1].append(shape)
    layers = tuple(_layer_plan(architecture, name, weighted, stages) for weighted, stages in groups)
    return NetworkPlan(name, tuple(network.input_shape), shapes[-1].output, layers)


def plan_tiles(architecture: Architecture) -> TilePlan:
    return TilePlan(architecture, tuple(map_network(architecture, name) for name in architecture.networks()))
