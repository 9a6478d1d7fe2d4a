"""Tile-accurate layers built from the hardware tile plan, and the same networks in plain float PyTorch.

A weighted layer is its weight matrix as `plan_tiles` lays it out: rows (in_channel, ky, kx) flattened, the bias row
last; a transposed convolution is held as its equivalent convolution kernel (the ConvTranspose kernel flipped and
channel-transposed) applied to the zero-inserted input. The rows are cut as the plan's row splits, each a tile whose
readout, clipping and summing amplifier are hdl's electrical model (`amdcgan.hdl.electrical`). Column splits need
nothing extra: their columns are independent. Where a tile's readout clips, all row splits run at once as one grouped
convolution (or one batched matmul for dense layers): every split becomes a group holding the input channels its
rows touch, with zero weights outside its rows; elsewhere one whole-matrix product gives the same values.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import numpy as np

from amdcgan.errors import UserError
from amdcgan.hdl.electrical import (Periphery, RowDriver, clip_outputs, effective_matrix, row_drivers,
                                    tile_column_gains, tile_column_sums, tiles_reach_clip,
                                    wire_factors)
from amdcgan.hdl.mapping import LayerPlan, NetworkPlan, plan_tiles
from amdcgan.hdl.shapes import network_shapes
from amdcgan.hdl.spec import Activation, Architecture, BatchNorm, Dropout, MeanPool, Reshape

from . import kernels
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
    """One weighted layer as the plan's tiles, computing what hdl's electrical model says the circuit computes.

    Signals are in units of the read voltage V_r (1 unit = V_r volts). The row drivers scale the input by
    `read_gain` and limit it to +-V_r (`driver` None: inputs of unknown bound); the bias row is driven at V_r. Each
    row split is a tile: its columns read through the layer's readout (`electrical.effective_matrix`: volts out per
    volt in, from the conductances and the column sums of that tile's own rows) and clip where that readout clips;
    the row splits' partial results meet at the summing amplifier. Gradients reach `weight` through the effective matrix of the continuous encoding, with the
    devices' actual conductances (levels, variability, write noise) passed straight through.

    With wire resistance every tile (row split x column split) is a mesh: its effective matrix is the ideal one times
    `electrical.wire_factors`, solved from the devices' read values once per programmed state and, in in-situ
    training, again after every `refresh_writes` write rounds; in between the last solve's factors are kept while
    the devices' own values follow every write (`wire_staleness` measures what that costs). Gradients flow through
    the ideal matrix times those factors, so the wires' attenuation reaches them.
    """

    def __init__(self, plan: LayerPlan, devices: DeviceModel, periphery: Periphery, driver: RowDriver | None,
                 generator: torch.Generator, refresh_writes: int = 1):
        super().__init__()
        self.plan = plan
        self.periphery = periphery.for_layer(plan)
        self.driver = driver
        self.read_gain = driver.gain if driver else 1.0
        # Inputs within the driver's bound never reach its limit (the network guarantees them): skip the clip.
        self.limits_inputs = driver is None or driver.may_limit(periphery)
        self.v_read = periphery.v_read
        self.inputs = plan.weight_rows - int(plan.bias)
        self.weight = nn.Parameter(torch.zeros(plan.weight_rows, plan.weight_columns))
        self.devices = WeightDevices(devices, plan.encoding, tuple(self.weight.shape), generator)
        self.cell = self.devices.cell
        self._read: tuple[torch.Tensor, ...] | None = None
        self._matrix: tuple[tuple, tuple] | None = None  # (the device read it holds for, `_read_state`)
        self._main_slope_cache: tuple[tuple, torch.Tensor] | None = None
        self.wired, self.refresh_writes = periphery.wired, refresh_writes
        self.tiles = [(rows, columns) for rows in plan.row_splits for columns in plan.column_splits]
        self._factors: tuple | None = None  # the wire factors of every tile from the last solve, as one matrix
        self.writes_since_solve = 0
        self._tracked_inputs: list[torch.Tensor] = []
        # Row splits clip one by one only where a tile's readout clips; otherwise one whole product is exact.
        self.readout_clips = self.periphery.output_clip(plan.encoding, plan.readout) is not None
        self._reaches_clip: tuple[tuple, bool] | None = None  # (device read it holds for, whether a tile clips)
        self._build_split_index()
        membership = torch.zeros(plan.weight_rows, len(plan.row_splits))
        for split, (start, stop) in enumerate(plan.row_splits):
            membership[start:stop, split] = 1
        self.register_buffer("membership", membership, persistent=False)
        self.register_buffer("row_tile", membership.argmax(1), persistent=False)
        self.row_runs = _RowRuns.of(plan.row_splits)
        starts = [start for start, _ in plan.row_splits] + [plan.weight_rows]
        if starts[0] != 0 or [stop for _, stop in plan.row_splits] != starts[1:] or starts != sorted(starts):
            raise ValueError(f"row splits {plan.row_splits} do not cover the rows in order")
        self.register_buffer("tile_starts", torch.tensor(starts), persistent=False)
        self.register_buffer("read_counts", torch.zeros(3, dtype=torch.float64), persistent=False)
        self.track_reads = False
        self.register_buffer("disturbance", torch.zeros(plan.weight_rows, dtype=torch.float64))

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

    # -- conductances and the effective matrix --------------------------------------------------------------------
    def conductances(self, weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(main, second, signed) the circuit computes with: the devices' values, carrying the gradients of the
        continuous encoding of `weight` (default: this layer's); `signed` is s G (sign crossbar) or G+ - G-."""
        weight = self.weight if weight is None else weight
        read_main, read_second, read_signed = self._device_reads(weight.dtype)
        main, other = self.cell.continuous(weight / self.devices.model.weight_max)
        main = main + (read_main - main).detach()
        if self.cell.differential:
            second = other + (read_second - other).detach()
            return main, second, main - second
        return main, read_second, other + (read_signed - other).detach()

    def _device_reads(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._read is None:  # devices change only when written, so their read-out is kept until then
            parts = [part.to(dtype).detach() for part in self.devices.conductances()]
            self._read = (*parts, self.cell.signed(*parts))
        return self._read

    def effective(self, weight: torch.Tensor | None = None) -> torch.Tensor:
        """(rows, columns): volts out per volt in, tile by tile (each row split with its own column sums)."""
        main, second, signed = self.conductances(weight)
        tiles = self.row_tile if len(self.plan.row_splits) > 1 else None
        if not self.wired:
            return effective_matrix(main, second, self.cell, self.plan.readout, self.periphery, signed, tiles)
        if self._factors is None:
            self._factors = self.solve_wires()
        return effective_matrix(main, second, self.cell, self.plan.readout, self.periphery, signed, tiles,
                                self._factors)

    @torch.no_grad()
    def solve_wires(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Every tile's `wire_factors` from the devices' read values, laid out as the layer's matrix. Tiles of one
        shape are solved together, stacked."""
        main, second, _ = self._device_reads(self.weight.dtype)
        shapes: dict[tuple[int, int], list] = {}
        for rows, columns in self.tiles:
            shapes.setdefault((rows[1] - rows[0], columns[1] - columns[0]), []).append((rows, columns))
        first = torch.empty_like(main)
        other = torch.empty_like(main) if self.cell.differential else None
        for tiles in shapes.values():
            stacked = [torch.stack([part[r0:r1, c0:c1] for (r0, r1), (c0, c1) in tiles]) for part in (main, second)]
            solved = wire_factors(*stacked, self.cell, self.plan.readout, self.periphery)
            for index, ((r0, r1), (c0, c1)) in enumerate(tiles):
                first[r0:r1, c0:c1] = solved[0][index]
                if other is not None:
                    other[r0:r1, c0:c1] = solved[1][index]
        return first, other

    @torch.no_grad()
    def wire_staleness(self, x: torch.Tensor) -> float:
        """The relative change (Frobenius norm) of this layer's outputs for inputs `x` when the wire factors kept
        since the last solve are replaced by a fresh solve (0 when they are fresh). The kept ones stay in use."""
        if not self.wired or self._factors is None or self.writes_since_solve == 0:
            return 0.0
        stale, kept = self(x), self._factors
        self._factors, self._matrix = self.solve_wires(), None
        fresh = self(x)
        self._factors, self._matrix = kept, None
        return float((stale - fresh).norm() / fresh.norm().clamp_min(torch.finfo(fresh.dtype).tiny))

    def matrix(self, weight: torch.Tensor | None = None) -> torch.Tensor:
        """The effective matrix. Its value follows the devices alone (their reads pass straight through), so it is
        kept until they change; with gradients for `weight` (default: this layer's), a sign crossbar on ideal wires
        takes them from `_SignCrossbarMatrix`, any other layer from the autograd graph of `effective`."""
        weight = self.weight if weight is None else weight
        if torch.is_grad_enabled() and weight.requires_grad:
            if self.cell.differential or self.wired:
                return self.effective(weight)
            return _SignCrossbarMatrix.apply(weight, self)
        return self.read_matrix()

    def read_matrix(self) -> torch.Tensor:
        """The effective matrix of the devices as they read, without gradients; kept until they change."""
        return self._read_state()[0]

    def _read_state(self) -> tuple[torch.Tensor, "_SignCrossbarSlopes | None"]:
        """(effective matrix, its gradient's factors) of the devices as they read; the factors only for a sign
        crossbar on ideal wires (for `_SignCrossbarMatrix` and `_SignCrossbarProduct`)."""
        if self._read is not None and self._matrix is not None:
            (read, factors, dtype), state = self._matrix
            if read is self._read and factors is self._factors and dtype == self.weight.dtype:
                return state
        with torch.no_grad():
            matrix = self.effective()
        slopes = None
        if not (self.cell.differential or self.wired):
            slopes = _SignCrossbarSlopes.of(self)
        state = (matrix, slopes)
        self._matrix = ((self._read, self._factors, self.weight.dtype), state)
        return state

    def _main_slopes(self, weight: torch.Tensor) -> torch.Tensor:
        """d(main)/du of the continuous encoding (u = weight / w_max; `main_scale` holds the 1 / w_max) at `weight`:
        it depends on the weights' signs alone, so it is kept until `weight` changes."""
        key = (weight.data_ptr(), weight._version, weight.dtype)
        if self._main_slope_cache is None or self._main_slope_cache[0] != key:
            with torch.no_grad():  # a constant of the gradient, whichever pass asks for it
                self._main_slope_cache = (key, self.cell.continuous_slopes(weight)[0].contiguous())
        return self._main_slope_cache[1]

    def _fused_product(self) -> tuple[torch.Tensor, "_SignCrossbarSlopes"] | None:
        """`_read_state` where a gradient pass can take `_SignCrossbarProduct` (a dense sign crossbar on ideal wires,
        no tile reaching its clip, the weights trained), else None."""
        if (self.plan.type != "dense" or self.cell.differential or self.wired or not torch.is_grad_enabled()
                or not self.weight.requires_grad):
            return None
        state = self._read_state()
        return None if self.tiles_reach_clip(state[0]) else state

    def _load_from_state_dict(self, *args, **kwargs):
        self._read = self._matrix = self._factors = None
        super()._load_from_state_dict(*args, **kwargs)

    def _apply(self, fn, *args, **kwargs):
        self._read = self._matrix = self._factors = None
        return super()._apply(fn, *args, **kwargs)

    @torch.no_grad()
    def program(self, weights: torch.Tensor) -> dict:
        """Program the devices once with `weights`; `weight` becomes what they hold."""
        pulses = self.devices.program(weights.to(self.weight))
        self.weight.copy_(self.devices.nominal())
        self._read = self._factors = None  # a programmed state: its wires are solved once, at the next read
        self.writes_since_solve = 0
        return pulses

    @torch.no_grad()
    def commit_update(self) -> None:
        """In-situ: the optimiser has moved `weight`; write it to the devices as pulses, then read back. Read disturb
        gathered since the last write moves the devices first (the writes do not see it: they are not verified)."""
        if self.periphery.read_disturb:
            signs = self.devices.sign.sum(1, dtype=torch.float64) if not self.cell.differential else 1.0
            self.devices.disturb((self.disturbance * signs).to(self.weight.dtype))
            self.disturbance.zero_()
        self.devices.update(self.weight.detach())
        self.weight.copy_(self.devices.nominal())
        self._read = None
        if self.wired:
            self.writes_since_solve += 1
            if self.writes_since_solve >= self.refresh_writes:
                self._factors, self.writes_since_solve = None, 0

    # -- forward -------------------------------------------------------------------------------------------------
    def drive(self, x: torch.Tensor, within: bool | None = None) -> torch.Tensor:
        """Row inputs (units) as the row drivers apply them; `within`: whether no input reaches the drivers' limit,
        where already known."""
        if self.limits_inputs and not (self._within_limit(x) if within is None else within):
            rows = self.periphery.drive_rows(x, self.read_gain, self.v_read)
        else:
            rows = x if self.read_gain == 1.0 else x * self.read_gain
        if self.track_reads:
            self._count_reads(x)
        if self.periphery.read_disturb and self.training:
            self._disturb(rows)
        return rows

    def _column_product(self, rows: torch.Tensor, matrix: torch.Tensor) -> tuple[torch.Tensor | None, bool | None]:
        """A one-column layer's product with `matrix`, the devices as they read, from the one pass over the inputs
        that also checks the drivers' limit (`kernels.column_product_within`; the product alone is memory-bound, the
        check apart a second pass): (the product, or None where it could not be had or the limit acts; whether no
        input reaches the limit, or None where not asked)."""
        if self.plan.weight_columns != 1 or self.read_gain != 1.0 or not self.limits_inputs:
            return None, None
        bound = self.periphery.drive_limit(self.v_read)
        bias = matrix[self.inputs] if self.plan.bias else None
        return kernels.column_product_within(rows, matrix[: self.inputs], bias, -bound, bound)

    def _within_limit(self, x: torch.Tensor) -> bool:
        """Whether no input reaches the drivers' limit, so that the limit is the identity, gradient included (the
        limit passes none at the bound itself)."""
        bound = self.periphery.drive_limit(self.v_read) / self.read_gain
        return _strictly_within(x, -bound, bound)

    @torch.no_grad()
    def _disturb(self, rows: torch.Tensor) -> None:
        """Read disturb: add up the state change that this batch's reads cause on each crossbar row.

        A convolution row (channel, ky, kx) reads the channel's pixels (borders aside, each once per image); the
        bias row is read at V_r once per position. A sign crossbar reads its columns one by one with the row's
        input sign-switched for each, so a row's devices see sum_c f(s_ic x) = f(x) sum_c s_ic (f is odd)."""
        change = self.cell.state_change_per_read(rows.double() * self.v_read, self.periphery.read_pulse_s)
        per_input = change.flatten(1).sum(0) if self.plan.type == "dense" else change.sum((0, 2, 3))
        if self.plan.type != "dense":
            per_input = per_input.repeat_interleave(self.plan.kernel * self.plan.kernel)
        self.disturbance[: self.inputs] += per_input
        if self.plan.bias:
            bias = self.cell.state_change_per_read(torch.tensor(self.v_read, dtype=torch.float64),
                                                   self.periphery.read_pulse_s)
            self.disturbance[self.inputs] += bias * rows.shape[0] * self.plan.positions

    @torch.no_grad()
    def _count_reads(self, x: torch.Tensor) -> None:
        """Row inputs seen, inputs the driver's limit cut, and reads that would reach the device threshold."""
        volts = (x * self.v_read * self.read_gain).abs()
        limited = (volts > self.v_read).sum()
        over = (volts.clamp_max(self.v_read) >= self.cell.v_threshold).sum()
        self.read_counts += torch.stack([torch.tensor(float(x.numel()), device=x.device), limited, over]).double()

    def tile_clip(self, values: torch.Tensor) -> torch.Tensor:
        """A tile's column outputs (units) clipped where its readout clips."""
        return clip_outputs(values, self.cell, self.plan.readout, self.periphery, self.v_read)

    def combine(self, total: torch.Tensor) -> torch.Tensor:
        """The layer's output from the sum of its row splits' (clipped) partial results."""
        if len(self.plan.row_splits) == 1:
            return self.tile_clip(total)
        return self.periphery.sum_partials(total, self.v_read)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_inference_mode_enabled():  # the device state read now is kept for later passes: ordinary tensors
            with torch.inference_mode(False), torch.no_grad():
                return self.forward(x.clone())
        fused = self._fused_product()
        if fused:
            rows = x.flatten(1)
            product, within = self._column_product(rows, fused[0])
            rows = self.drive(rows, within)
            compiled = (kernels.fused_product() if fused[1].loop.taken and rows.device.type == "cpu"
                        and rows.dtype == fused[0].dtype else None)
            if compiled is None:
                return _SignCrossbarProduct.apply(rows, self.weight, self, fused, product)
            return self._amplified(self._compiled_product(compiled, rows, fused, product))
        if self.wired and self.track_reads:
            self._tracked_inputs.append(x.detach())  # for `wire_staleness` on the same inputs
        return self.product(self.drive(x))

    def _compiled_product(self, compiled, rows: torch.Tensor, fused: tuple, product: torch.Tensor | None):
        """x E as `kernels.fused_product`'s node (`_SignCrossbarProduct` without the summing amplifier)."""
        (matrix, slopes), weight = fused, self.weight
        loop = slopes.loop
        return compiled(rows, weight, matrix, product, loop.signed, self._main_slopes(weight), loop.tile_scale,
                        loop.main_scale, loop.starts, self.plan.bias, kernels.layer_key(self))

    def _amplified(self, total: torch.Tensor) -> torch.Tensor:
        """Row splits' partials through the summing amplifier where it acts (`_amplifier_acts`)."""
        return self.periphery.sum_partials(total, self.v_read) if self._amplifier_acts(total) else total

    def _amplifier_acts(self, total: torch.Tensor) -> bool:
        """Whether the summing amplifier changes the row splits' summed partials `total` or their gradient: there are
        several splits, and its gain is not 1 or an output reaches its rails (at unity gain, strictly within them, it
        is the identity, gradient included)."""
        return len(self.plan.row_splits) > 1 and not (
            self.periphery.summing_gain == 1.0 and _strictly_within(total, *self.periphery.summing_rails(self.v_read)))

    def unclipped_product(self, rows: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """x E as the autograd graph through the effective matrix (with gradients for `weight`, default this
        layer's), before the summing amplifier: the fused product's graph, for a layer none of whose tiles can clip."""
        return self._whole(rows, self.matrix(weight))

    def product(self, rows: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """The layer's output for row inputs as the drivers apply them: the tiles and the summing amplifier, as an
        autograd graph through the effective matrix (with gradients for `weight`, default this layer's)."""
        single, matrix = len(self.plan.row_splits) == 1, self.matrix(weight)
        if not self.tiles_reach_clip(matrix):
            total = self._whole(rows, matrix)
        elif single:
            total = self.tile_clip(self._whole(rows, matrix))
        else:
            total = self.tile_clip(self.partials(rows, matrix)).sum(1)
        return total if single else self.periphery.sum_partials(total, self.v_read)

    def tiles_reach_clip(self, matrix: torch.Tensor) -> bool:
        """Whether a tile's output can reach its clip with rows within +-V_r, as the devices now read (the forward
        value of the matrix follows the devices, not `weight`, so the answer holds until the next write)."""
        if not self.readout_clips:
            return False
        if self._reaches_clip is None or self._reaches_clip[0] is not self._read:
            reaches = tiles_reach_clip(matrix.detach(), self.cell, self.plan.readout, self.periphery, self.row_tile,
                                       self.v_read)
            self._reaches_clip = (self._read, reaches)
        return self._reaches_clip[1]

    def partials(self, x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
        """Every row split's partial result, (batch, splits, columns[, height, width])."""
        if self.plan.type == "dense":
            return self._dense_partials(x, matrix)
        padded = torch.cat([matrix[: self.inputs], matrix.new_zeros(1, matrix.shape[1])])
        return self._convolution_partials(x, padded, matrix[self.inputs] if self.plan.bias else None)

    def _whole(self, x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
        """The product with the whole (unsplit) matrix; the bias row's input is 1 unit."""
        plan, columns, k = self.plan, matrix.shape[1], self.plan.kernel
        body = matrix[: self.inputs]
        bias_row = matrix[self.inputs] if plan.bias else None
        if plan.type == "dense":
            x = x.flatten(1)
            if bias_row is None:
                return x @ matrix
            if columns < x.shape[0]:  # slicing the matrix costs less than copying the inputs
                return torch.addmm(bias_row, x, body)
            return torch.cat([x, x.new_ones(x.shape[0], 1)], 1) @ matrix  # no slices of the matrix to back through
        kernel = body.t().reshape(columns, -1, k, k)
        if plan.type == "conv2d":
            return F.conv2d(x, kernel, bias_row, stride=plan.stride, padding=plan.padding)
        return F.conv_transpose2d(x, kernel.flip(-1, -2).transpose(0, 1), bias_row, stride=plan.stride,
                                  padding=plan.padding, output_padding=plan.output_padding)

    FOLDED_ELEMENTS = 1 << 22  # a block-diagonal matrix of all row splits up to this size is one product

    def _dense_partials(self, x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        if self.plan.bias:
            x = torch.cat([x, x.new_ones(x.shape[0], 1)], 1)
        splits, columns = self.membership.shape[1], matrix.shape[1]
        if matrix.shape[0] * splits * columns <= self.FOLDED_ELEMENTS:  # each split's rows in its own columns
            folded = (matrix[:, None, :] * self.membership.to(matrix.dtype)[:, :, None]).flatten(1)
            return (x @ folded).view(x.shape[0], splits, columns)
        rows = torch.cat([x, x.new_zeros(x.shape[0], 1)], 1)
        padded = torch.cat([matrix, matrix.new_zeros(1, matrix.shape[1])])
        grouped = rows[:, self.row_index].transpose(0, 1)  # (splits, batch, rows per split)
        return torch.bmm(grouped, padded[self.row_index]).transpose(0, 1)

    def _convolution_partials(self, x: torch.Tensor, padded: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        plan, splits, columns, k = self.plan, len(self.plan.row_splits), self.plan.weight_columns, self.plan.kernel
        kernel = padded[self.row_index].permute(0, 2, 1).reshape(splits * columns, self.group_width, k, k)
        grouped = x if self.identity_channels else x[:, self.channel_index]
        out = grouped_convolution(grouped, kernel, plan, splits, self.group_width)
        if bias is not None:
            out = out + (self.bias_split[:, None] * bias[None]).reshape(1, -1, 1, 1)
        return out.view(out.shape[0], splits, columns, *out.shape[2:])


@dataclasses.dataclass(frozen=True)
class _RowRuns:
    """A layer's row tiles as runs of equal, adjacent tiles (`balanced_splits` gives at most two), so that sums over
    each tile and values spread over each tile's rows are a few strided views, not a gather or scatter per row."""

    runs: tuple[tuple[int, int, int, int], ...]  # (first row, end row, tiles, rows per tile)

    @classmethod
    def of(cls, splits: tuple[tuple[int, int], ...]) -> "_RowRuns":
        runs: list[tuple[int, int, int, int]] = []
        for start, stop in splits:
            if runs and runs[-1][3] == stop - start and runs[-1][1] == start:
                first, _, count, size = runs[-1]
                runs[-1] = (first, stop, count + 1, size)
            else:
                runs.append((start, stop, 1, stop - start))
        return cls(tuple(runs))

    def sums(self, values: torch.Tensor) -> torch.Tensor:
        """(tiles, columns): each tile's sum of the rows of `values` (rows, columns)."""
        parts = [values[a:b].view(n, size, -1).sum(1) for a, b, n, size in self.runs]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def add_products(self, out: torch.Tensor, factors: torch.Tensor, per_tile: torch.Tensor) -> torch.Tensor:
        """out += factors x (each row's tile's row of `per_tile`), in place; all (rows, columns) but `per_tile`."""
        tile = 0
        for a, b, n, size in self.runs:
            out[a:b].view(n, size, -1).addcmul_(factors[a:b].view(n, size, -1), per_tile[tile:tile + n, None])
            tile += n
        return out


@dataclasses.dataclass(frozen=True)
class _SignCrossbarSlopes:
    """What a sign crossbar's weight gradient needs of one device state (ideal wires), in weight units: with G the
    magnitudes, S = s G and K each column's gain over its tile's sums T, E = S K; dE/dS = K, and through T,
    dL/dG = (dK/dT) sum over the tile of dL/dE S. The continuous encoding's slopes turn S and G into the weight."""

    signed: torch.Tensor  # S (rows, columns)
    gains: torch.Tensor  # K (tiles, columns)
    signed_scale: torch.Tensor  # dL/dw per unit dL/dE through S: K dS/dw, per row ((1, columns) for one tile)
    main_scale: torch.Tensor  # dK/dT per unit of weight, (tiles, columns)
    runs: _RowRuns | None  # the row tiles as runs of rows; None for one tile
    loop: kernels.GradientFactors  # the same per tile, for the compiled loop

    @classmethod
    def of(cls, layer: "CrossbarLayer") -> "_SignCrossbarSlopes":
        tiles = layer.row_tile if len(layer.plan.row_splits) > 1 else None
        main, signed = layer._read[0], layer._read[2]
        with torch.enable_grad():  # a column's gain depends on its own sum alone: the slopes are elementwise
            sums = tile_column_sums(main, tiles).requires_grad_()
            gains = tile_column_gains(main, layer.plan.readout, layer.periphery, tiles, sums)[1]
            (slopes,) = torch.autograd.grad(gains, sums, torch.ones_like(gains))
        gains, unit_max = gains.detach(), layer.devices.model.weight_max
        # d(signed)/du is the same for every weight of a sign crossbar (g_on): one value gives it, not a pass
        slope_signed = layer.cell.continuous_slopes(layer.weight.new_ones(()))[1]
        scale = gains * (slope_signed / unit_max)
        runs, main_scale = None if tiles is None else layer.row_runs, slopes / unit_max
        return cls(signed, gains, scale if tiles is None else scale.index_select(0, tiles), main_scale, runs,
                   kernels.GradientFactors(signed, scale, main_scale, layer.tile_starts))

    def weight_gradient(self, grad: torch.Tensor, weighted: torch.Tensor, main_slopes: torch.Tensor,
                        signed_part: torch.Tensor | None = None) -> torch.Tensor:
        """dL/dw from dL/dE (`grad`) and the tiles' sums of dL/dE S (`weighted`); `signed_part`: grad times
        `signed_scale` when already formed."""
        d_main = weighted * self.main_scale
        out = grad * self.signed_scale if signed_part is None else signed_part
        return out.addcmul_(main_slopes, d_main) if self.runs is None else self.runs.add_products(out, main_slopes,
                                                                                                   d_main)


class _SignCrossbarMatrix(torch.autograd.Function):
    """A sign crossbar's effective matrix (ideal wires): its value from the devices as they read, its gradient that
    of `CrossbarLayer.effective` (the continuous encoding's slopes at `weight`, the devices' values elsewhere) in a
    few passes over the matrix instead of an autograd graph of a dozen (`_SignCrossbarSlopes`)."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, layer: "CrossbarLayer") -> torch.Tensor:
        matrix, ctx.slopes = layer._read_state()  # the devices as this forward read them, written or not since
        ctx.layer = layer
        ctx.save_for_backward(weight)
        return matrix

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (weight,) = ctx.saved_tensors
        if torch.is_grad_enabled():  # a graph of the gradient is asked for (create_graph): `effective`'s own
            return torch.autograd.grad(ctx.layer.effective(weight), weight, grad, create_graph=True)[0], None
        return _matrix_gradient(grad, ctx.slopes, ctx.layer._main_slopes(weight)), None


def _matrix_gradient(grad: torch.Tensor, slopes: _SignCrossbarSlopes, main_slopes: torch.Tensor,
                     reuse: bool = False, bias_from: torch.Tensor | None = None) -> torch.Tensor:
    """dL/dw of a sign crossbar (ideal wires) from dL/dE, `grad` (`reuse`: its memory may hold the result; it is
    then contiguous, as the tile runs' views need; `bias_from`: dL/dy, whose column sums are the bias row's dL/dE,
    not yet in `grad`'s last row). The compiled loop where it takes the tensors, else torch's ops."""
    compiled = slopes.loop.gradient(grad, main_slopes, in_place=reuse, bias_from=bias_from)
    if compiled is not None:
        return compiled
    if bias_from is not None:
        torch.sum(bias_from, 0, out=grad[-1])
    products = torch.mul(grad, slopes.signed, out=grad.new_empty(grad.shape))  # contiguous, whatever grad's layout
    weighted = products.sum(0, keepdim=True) if slopes.runs is None else slopes.runs.sums(products)
    signed_part = torch.mul(grad, slopes.signed_scale, out=grad if reuse else products)
    return slopes.weight_gradient(grad, weighted, main_slopes, signed_part)


def _strictly_within(values: torch.Tensor, low: float, high: float) -> bool:
    """Whether every value lies strictly between `low` and `high`, where a clip to them is the identity, gradient
    included. Asked on the CPU only: there a clip's pass each way costs more than this one reduction, on a GPU the
    reduction's wait for its result costs more than the clip."""
    if values.device.type != "cpu" or values.numel() == 0:
        return False
    compiled = kernels.strictly_within(values, low, high)
    if compiled is not None:
        return compiled
    smallest, largest = values.detach().aminmax()
    return float(smallest) > low and float(largest) < high


class _SignCrossbarProduct(torch.autograd.Function):
    """A dense sign crossbar on ideal wires whose tiles reach no clip: the row splits' partials summed, y = x E, and
    through the summing amplifier (`Periphery.sum_partials`) where there are several, in one node (no graph through
    slices of E, no copy of the inputs for the bias row, no node of its own for the amplifier). With one row tile the
    weight gradient is formed without dL/dE's own matrix pass: dL/dE = x^T g, so its part through S is x^T (g K')
    (one product, as torch's own layer takes), and its column sums against S are sum_n g y / K (E = S K). On the CPU
    `kernels.fused_product`, where it can be had, is this node without the amplifier, compiled."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor, weight: torch.Tensor, layer: "CrossbarLayer",
                state: tuple[torch.Tensor, _SignCrossbarSlopes], product: torch.Tensor | None = None) -> torch.Tensor:
        matrix, slopes = state  # `_read_state`
        if product is not None:  # formed already (`CrossbarLayer._column_product`)
            out = product
        else:
            body = matrix[: layer.inputs]
            out = torch.addmm(matrix[layer.inputs], rows, body) if layer.plan.bias else rows @ body
        ctx.layer, ctx.matrix, ctx.slopes = layer, matrix, slopes
        ctx.out = out.detach().clone() if slopes.runs is None else None
        ctx.passed = None  # where the summing amplifier passes the gradient; None: everywhere, at unity gain
        if layer._amplifier_acts(out):  # the summing amplifier; hardtanh's gradient rule: strictly within its rails
            low, high = layer.periphery.summing_rails(layer.v_read)
            out = layer.periphery.sum_partials(out, layer.v_read)
            ctx.passed = (out > low) & (out < high)
        ctx.save_for_backward(rows, weight)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        rows, weight = ctx.saved_tensors
        layer, matrix, slopes, inputs = ctx.layer, ctx.matrix, ctx.slopes, ctx.layer.inputs
        if torch.is_grad_enabled():  # a graph of the gradients is asked for (create_graph): the unfused layer's
            wanted = [tensor for tensor, asked in zip((rows, weight), ctx.needs_input_grad) if asked]
            found = iter(torch.autograd.grad(layer.product(rows, weight), wanted, grad, create_graph=True))
            return *(next(found) if asked else None for asked in ctx.needs_input_grad[:2]), None, None, None
        if ctx.passed is not None:  # back through the summing amplifier: its gain, none where it clipped
            gain = layer.periphery.summing_gain
            grad = grad * ctx.passed if gain == 1.0 else grad * ctx.passed * gain
        grad_rows = grad @ matrix[:inputs].t() if ctx.needs_input_grad[0] else None
        main_slopes = layer._main_slopes(weight)
        if slopes.runs is not None:  # dL/dE itself, x^T g with the bias row's sum of g, then each tile's sums
            grad_matrix = torch.empty_like(matrix)
            torch.mm(rows.t(), grad, out=grad_matrix[:inputs])
            bias_from = grad if layer.plan.bias else None  # (the bias row's dL/dE: the sums of g)
            return grad_rows, _matrix_gradient(grad_matrix, slopes, main_slopes, True, bias_from), None, None, None
        scaled = grad * slopes.signed_scale
        weighted = (torch.linalg.vecdot(grad, ctx.out, dim=0) / slopes.gains[0])[None]
        through_signs = scaled.new_empty(matrix.shape)
        torch.mm(rows.t(), scaled, out=through_signs[:inputs])
        if layer.plan.bias:
            through_signs[inputs] = scaled.sum(0)
        return grad_rows, slopes.weight_gradient(grad, weighted, main_slopes, through_signs), None, None, None


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
    except (KeyError, ValueError, TypeError, UnicodeDecodeError, csv.Error) as error:
        kind = type(error).__name__
        raise UserError(f"{path}: an activation table needs numeric columns v_in,v_out ({kind})") from None
    if len(points) < 2:
        raise UserError(f"{path}: an activation table needs at least two points")
    finite = all(math.isfinite(value) for point in points for value in point)
    if not finite or len({v_in for v_in, _ in points}) < len(points):
        raise UserError(f"{path}: an activation table needs finite values and each v_in once")
    v_in, v_out = zip(*points)
    if len(set(v_in)) != len(v_in):
        raise UserError(f"{path}: an activation table needs distinct v_in values")
    return torch.tensor(v_in, dtype=torch.float64), torch.tensor(v_out, dtype=torch.float64)


class TableActivation(nn.Module):
    """A circuit's measured transfer curve in volts, linearly interpolated and flat beyond its ends.

    A curve with few kinks (a ReLU's) is evaluated as a sum of ramps, one per change of slope; any other is resampled
    once onto a uniform grid as fine as its closest points, so that a value's segment is found by arithmetic
    instead of a search (SPICE's sweeps are uniform already, and then nothing changes)."""

    MAX_KINKS = 8
    TOLERANCE_V = 1e-6  # a curve's simplified form stays this close to it at every point

    def __init__(self, v_in: torch.Tensor, v_out: torch.Tensor, v_read: float):
        super().__init__()
        v_in, v_out = v_in.double(), v_out.double()
        self.v_read, self.low, self.high = v_read, float(v_in[0]), float(v_in[-1])
        kinks = self._kinks(v_in, v_out)
        self.ramps = kinks is not None
        if self.ramps:  # in signal units (volts / v_read): slopes are volts per volt and keep
            self.first_slope = float(torch.diff(v_out)[0] / torch.diff(v_in)[0])
            self.intercept = float(v_out[0] - self.first_slope * v_in[0]) / v_read
            # SPICE writes 12 digits: a kink at 1e-15 V is at 0, a slope change of 1 - 1e-13 is 1
            self.kinks = [(round(float(at) / v_read, 9), round(float(size), 9)) for at, size in zip(*kinks)]
            return
        segments = int(min(65536, round((self.high - self.low) / float(torch.diff(v_in).min()))))
        grid = torch.linspace(self.low, self.high, segments + 1, dtype=torch.float64)
        values = torch.from_numpy(np.interp(grid.numpy(), v_in.numpy(), v_out.numpy()))
        self.step, self.segments = float(grid[1] - grid[0]), segments
        self.register_buffer("values", values.float())
        self.register_buffer("slopes", (torch.diff(values) / self.step).float())

    def _kinks(self, v_in: torch.Tensor, v_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The points where the slope changes and by how much, if few and if they reproduce the curve."""
        slopes = torch.diff(v_out) / torch.diff(v_in)
        change = torch.diff(slopes)
        keep = change.abs() * torch.diff(v_in)[1:] > self.TOLERANCE_V / 10
        at, size = v_in[1:-1][keep], change[keep]
        if len(at) > self.MAX_KINKS:
            return None
        rebuilt = v_out[0] + slopes[0] * (v_in - v_in[0]) + ((v_in[:, None] - at).clamp_min(0) * size).sum(1)
        return (at, size) if float((rebuilt - v_out).abs().max()) <= self.TOLERANCE_V else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.ramps:
            x = x.clamp(self.low / self.v_read, self.high / self.v_read)
            out = self.intercept + self.first_slope * x if self.first_slope or self.intercept else None
            for at, size in self.kinks:
                ramp = (x - at).clamp_min(0) if at else x.clamp_min(0)
                ramp = ramp if size == 1.0 else size * ramp
                out = ramp if out is None else out + ramp
            return out if out is not None else x * 0.0
        volts = (x * self.v_read).clamp(self.low, self.high)
        position = (volts - self.low) / self.step
        index = position.detach().floor().long().clamp_max(self.segments - 1)
        return (self.values[index] + (position - index) * self.step * self.slopes[index]) / self.v_read


class CircuitActivation(nn.Module):
    """An activation circuit's behavioural transfer (hdl's electrical model), on signals in units of V_r."""

    def __init__(self, function: str, periphery: Periphery):
        super().__init__()
        self.function, self.periphery, self.v_read = function, periphery, periphery.v_read

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.periphery.activation(x, self.function, unit_v=self.v_read)


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


def _float_activation(function: str) -> nn.Module:
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
            layer.commit_update()

    def track_reads(self, on: bool) -> None:
        """Count row inputs, limited inputs and over-threshold reads in every crossbar (see `read_statistics`)."""
        for layer in self.crossbars().values():
            layer.track_reads = on

    def read_statistics(self) -> dict[str, dict]:
        """Per crossbar layer: row inputs seen while tracking, the fraction the drivers' limit cut, and the fraction
        of reads at or above the device threshold (0 by design when the read voltage is below it)."""
        stats = {}
        for name, layer in self.crossbars().items():
            seen, limited, over = (float(value) for value in layer.read_counts)
            stats[name] = {"row_inputs": int(seen), "read_gain": layer.read_gain,
                           "limited_fraction": limited / seen if seen else 0.0,
                           "above_threshold_fraction": over / seen if seen else 0.0}
            if layer.wired:
                stats[name].update(self._wire_staleness(layer))
        return stats

    @staticmethod
    def _wire_staleness(layer: CrossbarLayer) -> dict:
        """With wires: the write rounds since the layer's last solve, and the relative change of its outputs on the
        inputs it saw while tracking when that solve is refreshed now."""
        inputs, layer._tracked_inputs = layer._tracked_inputs, []
        tracking, layer.track_reads = layer.track_reads, False
        change = max((layer.wire_staleness(x) for x in inputs), default=0.0)
        layer.track_reads = tracking
        return {"writes_since_wire_solve": layer.writes_since_solve, "wire_refresh_writes": layer.refresh_writes,
                "stale_wire_output_change": change}


def wire_solves(network: Network) -> dict:
    """Per wired crossbar: its kept wire factors and the write rounds since they were solved (for a checkpoint, so
    that a resumed run keeps the same refresh schedule)."""
    return {name: {"writes_since_solve": layer.writes_since_solve, "factors": list(layer._factors)}
            for name, layer in network.crossbars().items() if layer.wired and layer._factors is not None}


def restore_wire_solves(network: Network, solves: dict) -> None:
    """Puts back what `wire_solves` kept; raises ValueError on data that does not fit the network."""
    crossbars = network.crossbars()
    for name, solve in solves.items():
        layer = crossbars[name]
        first, other = solve["factors"]
        shape = layer.weight.shape
        if first.shape != shape or (other is not None and other.shape != shape) or not layer.wired:
            raise ValueError(f"wire factors of {name} do not fit it")
        layer._factors = (first.to(layer.weight), None if other is None else other.to(layer.weight))
        layer.writes_since_solve = int(solve["writes_since_solve"])


def read_through_wires(network: Network, row_wire_ohm: float, column_wire_ohm: float) -> None:
    """The network's crossbars, their devices as they are, read through wires of these resistances per cell segment
    (0: ideal); each solves its wires once, at its next read."""
    for layer in network.crossbars().values():
        layer.periphery = dataclasses.replace(layer.periphery, row_wire_ohm=row_wire_ohm,
                                              column_wire_ohm=column_wire_ohm)
        layer.wired = layer.periphery.wired
        layer._factors = layer._matrix = layer._reaches_clip = None
        layer.writes_since_solve = 0


def supply_clip(architecture: Architecture, clip: bool) -> tuple[float, float] | None:
    """The rails in signal units (1 unit = V_r volts)."""
    if not clip:
        return None
    v_read = architecture.read_voltage_v
    return architecture.technology.vss_v / v_read, architecture.technology.vdd_v / v_read


def ideal_device_model(architecture: Architecture) -> DeviceModel:
    """Continuous devices with no variability or write noise: the circuit with perfect devices."""
    device = architecture.device.model_copy(update={"levels": None, "variability_sigma": 0.0,
                                                     "write_noise_sigma": 0.0})
    return DeviceModel(device, weight_max=0.1, max_steps=1 << 30, stochastic=False)


def build_network(architecture: Architecture, plan: NetworkPlan, *, tile: bool, devices: DeviceModel | None = None,
                  clip: bool = True, activation_tables: dict[str, Path] | None = None,
                  generator: torch.Generator | None = None) -> Network:
    """The tile model (`tile=True`: crossbars on devices, the periphery's circuits and rails) or the float model.

    Tile activations are the circuits' transfers: a characterised table where given, else hdl's behavioural model."""
    spec = architecture.networks()[plan.name]
    rails = supply_clip(architecture, clip) if tile else None
    plans = {layer.name: layer for layer in plan.layers}
    tables = {name: read_activation_table(path) for name, path in (activation_tables or {}).items()} if tile else {}
    periphery = Periphery.of(architecture)
    drivers = row_drivers(architecture, plan_tiles(architecture)) if tile else {}
    devices = devices or (ideal_device_model(architecture) if tile else None)
    generator = generator or torch.Generator().manual_seed(0)
    stages: list[tuple[str, nn.Module]] = []
    for shape in network_shapes(spec):
        layer, modules = shape.layer, []
        if shape.name in plans:
            layer_plan = plans[shape.name]
            if tile:
                modules.append(CrossbarLayer(layer_plan, devices, periphery, drivers[f"{plan.name}.{shape.name}"],
                                             generator, architecture.periphery.wire_refresh_writes))
            else:
                modules += ([nn.Flatten()] if len(shape.input) > 1 and layer_plan.type == "dense" else [])
                modules.append(float_layer(layer_plan))
        elif isinstance(layer, Activation):
            function = layer.function
            if not tile:
                modules.append(_float_activation(function))
            elif function in tables:
                modules.append(TableActivation(*tables[function], periphery.v_read))
                if rails and not rails[0] <= float(tables[function][1].min()) / periphery.v_read <= \
                        float(tables[function][1].max()) / periphery.v_read <= rails[1]:
                    modules.append(Clip(*rails))  # a measured curve that leaves the supplies
            else:
                modules.append(CircuitActivation(function, periphery))  # within the supplies by its transfer
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
    """Ex-situ: program the tile network's devices once with another network's trained weights (an ideal-device
    tile network, or a float one); copy the rest.

    Returns the programming pulses by layer."""
    programming = {}
    float_stages = dict(zip(float_network.names, float_network.stages))
    for name, tile_stage in zip(tile_network.names, tile_network.stages):
        if isinstance(tile_stage, CrossbarLayer):
            source = float_stages[name]
            weights = source.weight.detach() if isinstance(source, CrossbarLayer) else weight_matrix(source)
            programming[name] = tile_stage.program(weights)
        elif isinstance(tile_stage, (nn.BatchNorm1d, nn.BatchNorm2d)):
            tile_stage.load_state_dict(float_stages[name].state_dict())
    return programming
