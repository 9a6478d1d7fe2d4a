"""Tile-accurate layers built from the hardware tile plan, and the same networks in plain float PyTorch.

A weighted layer is its weight matrix as `plan_tiles` lays it out: rows (in_channel, ky, kx) flattened, the bias row
last; a transposed convolution is held as its equivalent convolution kernel (the ConvTranspose kernel flipped and
channel-transposed) applied to the zero-inserted input. The rows are cut as the plan's row splits. Each row-split
tile produces partial column results that are clipped at the supply (the column readout cannot swing beyond it)
before the summing amplifier adds them, and the sum is clipped again. Column splits need nothing extra: their
columns are independent. All row splits run at once as one grouped convolution (or one batched matmul for dense
layers): every split becomes a group holding the input channels its rows touch, with zero weights outside its rows.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from amdcgan.errors import UserError
from amdcgan.hdl.mapping import LayerPlan, NetworkPlan
from amdcgan.hdl.shapes import network_shapes
from amdcgan.hdl.spec import Activation, Architecture, BatchNorm, Dropout, MeanPool, Reshape

from .devices import DeviceModel, WeightDevices

INIT_STD = 0.02  # DCGAN initialisation (Radford et al.)


# ---------------------------------------------------------------------------------------------------------------------
# Weight matrices <-> torch layers


def weight_matrix(layer: nn.Module) -> torch.Tensor:
    """The crossbar weight matrix (rows = inputs [+ bias row], columns = outputs) of a torch layer."""
    if isinstance(layer, nn.Linear):
        body = layer.weight.t()
    elif isinstance(layer, nn.ConvTranspose2d):
        body = layer.weight.flip(-1, -2).transpose(0, 1).reshape(layer.out_channels, -1).t()
    elif isinstance(layer, nn.Conv2d):
        body = layer.weight.reshape(layer.out_channels, -1).t()
    else:
        raise TypeError(f"no crossbar for {type(layer).__name__}")
    if layer.bias is None:
        return body.detach().clone()
    return torch.cat([body, layer.bias[None]]).detach().clone()


def float_layer(plan: LayerPlan) -> nn.Module:
    inputs = plan.weight_rows - int(plan.bias)
    if plan.type == "dense":
        return nn.Linear(inputs, plan.weight_columns, bias=plan.bias)
    in_channels = inputs // (plan.kernel * plan.kernel)
    if plan.type == "conv2d":
        return nn.Conv2d(in_channels, plan.weight_columns, plan.kernel, plan.stride, plan.padding, bias=plan.bias)
    return nn.ConvTranspose2d(in_channels, plan.weight_columns, plan.kernel, plan.stride, plan.padding,
                              plan.output_padding, bias=plan.bias)


# ---------------------------------------------------------------------------------------------------------------------
# The crossbar layer


class CrossbarLayer(nn.Module):
    """One weighted layer as the plan's tiles. Without `devices` the weight parameter is used as is (ideal)."""

    def __init__(self, plan: LayerPlan, devices: DeviceModel | None, clip: tuple[float, float] | None,
                 generator: torch.Generator):
        super().__init__()
        self.plan = plan
        self.clip = clip
        self.inputs = plan.weight_rows - int(plan.bias)
        self.weight = nn.Parameter(torch.zeros(plan.weight_rows, plan.weight_columns))
        self.devices = WeightDevices(devices, plan.encoding, tuple(self.weight.shape), generator) if devices else None
        self._effective: torch.Tensor | None = None
        self._build_split_index()
        membership = torch.zeros(plan.weight_rows, len(plan.row_splits))
        for split, (start, stop) in enumerate(plan.row_splits):
            membership[start:stop, split] = 1
        self.register_buffer("membership", membership, persistent=False)

    def _build_split_index(self) -> None:
        plan, n = self.plan, self.inputs
        if plan.type == "dense":  # pad rows point at a zero input appended after the bias input
            width = max(stop - start for start, stop in plan.row_splits)
            index = torch.full((len(plan.row_splits), width), plan.weight_rows)
            for split, (start, stop) in enumerate(plan.row_splits):
                index[split, : stop - start] = torch.arange(start, stop)
            self.register_buffer("row_index", index, persistent=False)
            return
        pad = n  # index of an all-zero row appended to the kernel rows
        kk = plan.kernel * plan.kernel
        in_channels = n // kk
        bodies = [(start, min(stop, n)) for start, stop in plan.row_splits]
        first = [start // kk for start, _ in bodies]
        width = max((max(stop, start + 1) - 1) // kk - lo + 1 for (start, stop), lo in zip(bodies, first))
        rows = torch.full((len(bodies), width * kk), pad)
        channels = torch.zeros(len(bodies), width, dtype=torch.long)
        bias_split = torch.zeros(len(bodies))
        for split, ((start, stop), lo) in enumerate(zip(bodies, first)):
            candidate = lo * kk + torch.arange(width * kk)
            rows[split] = torch.where((candidate >= start) & (candidate < stop), candidate, torch.tensor(pad))
            channels[split] = (lo + torch.arange(width)).clamp_max(in_channels - 1)
            bias_split[split] = float(plan.bias and plan.row_splits[split][0] <= n < plan.row_splits[split][1])
        self.group_width = width
        self.register_buffer("row_index", rows, persistent=False)
        self.register_buffer("channel_index", channels.flatten(), persistent=False)
        self.register_buffer("bias_split", bias_split, persistent=False)
        self.identity_channels = len(bodies) == 1 and width == in_channels

    # -- weights -------------------------------------------------------------------------------------------------
    def matrix(self) -> torch.Tensor:
        """The weights the circuit computes with; gradients reach `weight` straight through the devices."""
        if self.devices is None:
            return self.weight
        if self._effective is None:  # devices change only when written, so their read-out is kept until then
            self._effective = self.devices.effective().detach()
        return self.weight + (self._effective - self.weight).detach()

    def _load_from_state_dict(self, *args, **kwargs):
        self._effective = None
        super()._load_from_state_dict(*args, **kwargs)

    @torch.no_grad()
    def program(self, weights: torch.Tensor) -> dict:
        """Set the layer to `weights` (programming the devices once when there are devices)."""
        if self.devices is None:
            self.weight.copy_(weights)
            return {"devices": 0, "total_pulses": 0}
        pulses = self.devices.program(weights.to(self.weight))
        self.weight.copy_(self.devices.nominal())
        self._effective = None
        return pulses

    @torch.no_grad()
    def commit_update(self) -> None:
        """In-situ: the optimiser has moved `weight`; write it to the devices as pulses, then read back."""
        self.devices.update(self.weight.detach())
        self.weight.copy_(self.devices.nominal())
        self._effective = None

    # -- forward -------------------------------------------------------------------------------------------------
    def _clip(self, values: torch.Tensor) -> torch.Tensor:
        return values.clamp(*self.clip) if self.clip else values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.matrix()
        if len(self.plan.row_splits) > 1 and not self._partials_may_clip(x, weights):
            return self._clip(self._whole(x, weights))
        return self.split_forward(x, weights)

    def split_forward(self, x: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Tile by tile: every row split's partial result clipped, then summed and clipped again."""
        weights = self.matrix() if weights is None else weights
        if self.plan.type == "dense":
            return self._dense(x, weights)
        padded = torch.cat([weights[: self.inputs], weights.new_zeros(1, weights.shape[1])])
        return self._convolution(x, padded, weights[self.inputs] if self.plan.bias else None)

    @torch.no_grad()
    def _partials_may_clip(self, x: torch.Tensor, weights: torch.Tensor) -> bool:
        """Whether any row-split partial sum can reach a rail, by Cauchy-Schwarz: |x_k . w_k| <= |x_k| |w_k|.

        When none can, clipping the partials changes nothing, so one whole-matrix product gives the same values and
        gradients as the split circuit, much faster."""
        if not self.clip:
            return False
        column_norms = (weights.square().t() @ self.membership).sqrt().amax(0)  # (splits,)
        squares = x.square()
        if self.plan.type == "dense":
            rows = squares.flatten(1)
            if self.plan.bias:
                rows = torch.cat([rows, rows.new_ones(rows.shape[0], 1)], 1)
            input_norms = (rows @ self.membership).sqrt()  # (batch, splits)
        else:
            input_norms = self._whole(squares, self.membership, bias=False).sqrt()  # (batch, splits, h, w)
            if self.plan.bias:
                input_norms = (input_norms.square() + self.membership[self.inputs].view(1, -1, 1, 1)).sqrt()
            input_norms = input_norms.flatten(2).amax(2)
        bound = (input_norms * column_norms).amax()
        return bool(bound >= min(-self.clip[0], self.clip[1]))

    def _whole(self, x: torch.Tensor, matrix: torch.Tensor, bias: bool = True) -> torch.Tensor:
        """The product with the whole (unsplit) matrix, as the float layer computes it."""
        plan, columns, k = self.plan, matrix.shape[1], self.plan.kernel
        body = matrix[: self.inputs]
        bias_row = matrix[self.inputs] if plan.bias and bias else None
        if plan.type == "dense":
            out = x.flatten(1) @ body
            return out + bias_row if bias_row is not None else out
        kernel = body.t().reshape(columns, -1, k, k)
        if plan.type == "conv2d":
            return F.conv2d(x, kernel, bias_row, stride=plan.stride, padding=plan.padding)
        return F.conv_transpose2d(x, kernel.flip(-1, -2).transpose(0, 1), bias_row, stride=plan.stride,
                                  padding=plan.padding, output_padding=plan.output_padding)

    def _dense(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        if self.plan.bias:
            x = torch.cat([x, x.new_ones(x.shape[0], 1)], 1)
        if len(self.plan.row_splits) == 1:
            return self._clip(x @ weights)
        rows = torch.cat([x, x.new_zeros(x.shape[0], 1)], 1)
        padded = torch.cat([weights, weights.new_zeros(1, weights.shape[1])])
        grouped = rows[:, self.row_index].transpose(0, 1)  # (splits, batch, rows per split)
        partial = self._clip(torch.bmm(grouped, padded[self.row_index]))
        return self._clip(partial.sum(0))

    def _convolution(self, x: torch.Tensor, padded: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        plan, splits, columns, k = self.plan, len(self.plan.row_splits), self.plan.weight_columns, self.plan.kernel
        kernel = padded[self.row_index].permute(0, 2, 1).reshape(splits * columns, self.group_width, k, k)
        grouped = x if self.identity_channels else x[:, self.channel_index]
        out = grouped_convolution(grouped, kernel, plan, splits, self.group_width)
        if bias is not None:
            out = out + (self.bias_split[:, None] * bias[None]).reshape(1, -1, 1, 1)
        if splits == 1:
            return self._clip(out)
        partial = self._clip(out.view(out.shape[0], splits, columns, *out.shape[2:]))
        return self._clip(partial.sum(1))


# ---------------------------------------------------------------------------------------------------------------------
# Analog activations


def grouped_convolution(x: torch.Tensor, kernel: torch.Tensor, plan: LayerPlan, groups: int,
                        group_width: int) -> torch.Tensor:
    """One convolution per group of input channels (a row split of the crossbar), kernels (groups * columns,
    group_width, k, k) in crossbar order; a deconvolution runs as the transposed convolution of the flipped,
    channel-transposed kernels."""
    columns, k = plan.weight_columns, plan.kernel
    if plan.type == "conv2d":
        return F.conv2d(x, kernel, stride=plan.stride, padding=plan.padding, groups=groups)
    transposed = kernel.view(groups, columns, group_width, k, k).flip(-1, -2).transpose(1, 2)
    return F.conv_transpose2d(x, transposed.reshape(groups * group_width, columns, k, k), stride=plan.stride,
                              padding=plan.padding, output_padding=plan.output_padding, groups=groups)


def read_activation_table(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """A transfer curve (CSV with columns v_in, v_out, v_in increasing)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        points = sorted((float(row["v_in"]), float(row["v_out"])) for row in rows)
    except FileNotFoundError:
        raise UserError(f"{path}: no such activation table") from None
    except (KeyError, ValueError, TypeError) as error:
        raise UserError(f"{path}: an activation table needs numeric columns v_in,v_out ({error})") from None
    if len(points) < 2:
        raise UserError(f"{path}: an activation table needs at least two points")
    v_in, v_out = zip(*points)
    return torch.tensor(v_in), torch.tensor(v_out)


class TableActivation(nn.Module):
    """A circuit's measured transfer curve in volts, linearly interpolated and flat beyond its ends."""

    def __init__(self, v_in: torch.Tensor, v_out: torch.Tensor, v_read: float):
        super().__init__()
        self.v_read = v_read
        self.register_buffer("v_in", v_in.float())
        self.register_buffer("v_out", v_out.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        volts = (x * self.v_read).clamp(self.v_in[0], self.v_in[-1])
        right = torch.searchsorted(self.v_in, volts.detach().contiguous()).clamp(1, len(self.v_in) - 1)
        x0, x1, y0, y1 = self.v_in[right - 1], self.v_in[right], self.v_out[right - 1], self.v_out[right]
        return (y0 + (volts - x0) * (y1 - y0) / (x1 - x0)) / self.v_read


class Clip(nn.Module):
    def __init__(self, low: float, high: float):
        super().__init__()
        self.low, self.high = low, high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(self.low, self.high)


class SwitchDropout(nn.Module):
    """Dropout switches: during training each output is disconnected with probability `rate`; no rescaling."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0:
            return x
        return x * (torch.rand_like(x) >= self.rate)


class View(nn.Module):
    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


def _ideal_activation(function: str) -> nn.Module:
    return nn.Tanh() if function == "tanh" else nn.ReLU() if function in ("relu", "relu_switch") else nn.Identity()


# ---------------------------------------------------------------------------------------------------------------------
# Networks


class Network(nn.Module):
    """A generator or discriminator: the architecture file's layers in order, weighted ones as crossbars (tile
    model) or as torch layers (float model)."""

    def __init__(self, stages: list[tuple[str, nn.Module]], clip: tuple[float, float] | None):
        super().__init__()
        self.names = [name for name, _ in stages]
        self.stages = nn.ModuleList(module for _, module in stages)
        self.input_clip = Clip(*clip) if clip else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_clip(x)
        for stage in self.stages:
            x = stage(x)
        return x

    def crossbars(self) -> dict[str, CrossbarLayer]:
        return {name: stage for name, stage in zip(self.names, self.stages) if isinstance(stage, CrossbarLayer)}

    def weighted(self) -> dict[str, nn.Module]:
        return {name: stage for name, stage in zip(self.names, self.stages)
                if isinstance(stage, (CrossbarLayer, nn.Linear, nn.Conv2d, nn.ConvTranspose2d))}

    @torch.no_grad()
    def commit_updates(self) -> None:
        for layer in self.crossbars().values():
            if layer.devices is not None:
                layer.commit_update()


def supply_clip(architecture: Architecture, clip: bool) -> tuple[float, float] | None:
    """The rails in activation units (1 unit = v_read volts)."""
    if not clip:
        return None
    v_read = architecture.device.v_read_v
    return architecture.technology.vss_v / v_read, architecture.technology.vdd_v / v_read


def build_network(architecture: Architecture, plan: NetworkPlan, *, tile: bool, devices: DeviceModel | None = None,
                  clip: bool = True, activation_tables: dict[str, Path] | None = None,
                  generator: torch.Generator | None = None) -> Network:
    """The tile model (`tile=True`: crossbars, devices, rails, circuit curves) or the plain float model."""
    spec = architecture.networks()[plan.name]
    rails = supply_clip(architecture, clip) if tile else None
    plans = {layer.name: layer for layer in plan.layers}
    tables = {name: read_activation_table(path) for name, path in (activation_tables or {}).items()} if tile else {}
    v_read = architecture.device.v_read_v
    generator = generator or torch.Generator().manual_seed(0)
    stages: list[tuple[str, nn.Module]] = []
    for shape in network_shapes(spec):
        layer, modules = shape.layer, []
        if shape.name in plans:
            layer_plan = plans[shape.name]
            if tile:
                modules.append(CrossbarLayer(layer_plan, devices, rails, generator))
            else:
                modules += ([nn.Flatten()] if len(shape.input) > 1 and layer_plan.type == "dense" else [])
                modules.append(float_layer(layer_plan))
        elif isinstance(layer, Activation):
            function = layer.function
            table = tables.get(function)
            modules.append(TableActivation(*table, v_read) if table else _ideal_activation(function))
            if rails:
                modules.append(Clip(*rails))
        elif isinstance(layer, BatchNorm):
            if layer.enabled:
                channels = shape.input[0]
                modules.append(nn.BatchNorm2d(channels) if len(shape.input) == 3 else nn.BatchNorm1d(channels))
                if rails:
                    modules.append(Clip(*rails))
        elif isinstance(layer, Dropout):
            modules.append(SwitchDropout(layer.rate))
        elif isinstance(layer, MeanPool):
            modules.append(nn.AvgPool2d(layer.size))
        elif isinstance(layer, Reshape):
            modules.append(View(tuple(layer.shape)))
        for index, module in enumerate(modules):
            stages.append((shape.name if index == 0 else f"{shape.name}_rail", module))
    return Network(stages, rails)


def initialise(network: Network, generator: torch.Generator) -> dict:
    """DCGAN initialisation (weights N(0, 0.02), biases 0, batch norm gains N(1, 0.02)); devices are programmed.

    Returns the pulses the one-time programming took, by layer."""
    programming = {}
    for name, stage in zip(network.names, network.stages):
        if isinstance(stage, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                stage.weight.copy_(1 + INIT_STD * torch.randn(stage.weight.shape, generator=generator))
                stage.bias.zero_()
        elif isinstance(stage, CrossbarLayer):
            weights = INIT_STD * torch.randn(stage.weight.shape, generator=generator)
            if stage.plan.bias:
                weights[-1] = 0
            programming[name] = stage.program(weights)
        elif isinstance(stage, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            with torch.no_grad():
                stage.weight.copy_(INIT_STD * torch.randn(stage.weight.shape, generator=generator))
                if stage.bias is not None:
                    stage.bias.zero_()
    return programming


@torch.no_grad()
def transfer(float_network: Network, tile_network: Network) -> dict:
    """Ex-situ: program the tile network's devices once with the float network's trained weights; copy the rest.

    Returns the programming pulses by layer."""
    programming = {}
    float_stages = dict(zip(float_network.names, float_network.stages))
    for name, tile_stage in zip(tile_network.names, tile_network.stages):
        if isinstance(tile_stage, CrossbarLayer):
            programming[name] = tile_stage.program(weight_matrix(float_stages[name]))
        elif isinstance(tile_stage, (nn.BatchNorm1d, nn.BatchNorm2d)):
            tile_stage.load_state_dict(float_stages[name].state_dict())
    return programming
