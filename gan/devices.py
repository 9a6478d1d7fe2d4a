"""What training changes in the devices: levels, write offsets, the fixed variability factors, counted pulses.

The physics is hdl's electrical model (`amdcgan.hdl.electrical.Cell`): how weights map onto conductances in each
encoding, the level grid, the variability and write-noise distributions, the pulses a change of conductance takes
and their energy. This module keeps only the training state and the in-situ update rule.

A device's state is its level coordinate (an integer 0..levels-1, or the state in [0, 1] for continuous devices);
it reads `Cell.read_conductance(programmed, write offset, variability factor)`. The variability factor is drawn once
from the run's seed; the write offset afresh at each write.

In-situ updates: the optimiser proposes a weight; it is rounded (stochastically by default, so small updates move a
device with the right probability) onto the weights the devices can hold, at most `max_steps` level steps per device
per update, and written as counted pulses. With the sign crossbar no magnitude below w_max g_off / g_on exists: a
proposal inside that gap takes the sign with the probability that keeps its mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from amdcgan.hdl.electrical import Cell
from amdcgan.hdl.spec import Memristor, WeightEncoding


@dataclass(frozen=True)
class DeviceModel:
    """The run's device (the architecture's, with the run's overrides) and its in-situ update rule."""

    device: Memristor
    weight_max: float
    max_steps: int
    stochastic: bool

    @classmethod
    def from_memristor(cls, device: Memristor, config) -> "DeviceModel":
        overrides = {"variability_sigma": config.variability,
                     "variability_distribution": config.variability_distribution,
                     "write_noise_sigma": config.write_noise}
        chosen = {key: value for key, value in overrides.items() if value is not None}
        if config.levels is not None:
            chosen["levels"] = None if config.levels == "ideal" else config.levels
        return cls(device.model_copy(update=chosen), config.weight_max, config.max_steps_per_update,
                   config.stochastic_rounding)

    def cell(self, encoding: WeightEncoding) -> Cell:
        return Cell.of(self.device, encoding)

    def describe(self) -> dict:
        return {**self.device.model_dump(mode="json"), "weight_max": self.weight_max,
                "max_steps_per_update": self.max_steps, "stochastic_rounding": self.stochastic}


class DeviceArray(nn.Module):
    """One crossbar's devices (the weight matrix's shape): level, write offset, variability factor, pulses."""

    def __init__(self, cell: Cell, shape: tuple[int, ...], generator: torch.Generator):
        super().__init__()
        self.cell = cell
        self.register_buffer("level", torch.zeros(shape))
        self.register_buffer("write_offset", torch.zeros(shape))
        self.register_buffer("variation", cell.variation(torch.randn(shape, generator=generator)))
        self.register_buffer("pulses", torch.zeros(shape, dtype=torch.int64))
        self.register_buffer("energy_j", torch.zeros((), dtype=torch.float64))
        self.disturbed = False

    def programmed(self) -> torch.Tensor:
        return self.cell.conductance(self.level)

    def read(self) -> torch.Tensor:
        """The conductance the circuit sees."""
        return self.cell.read_conductance(self.programmed(), self.write_offset, self.variation)

    def write(self, new_level: torch.Tensor, count: bool = True) -> None:
        """Move every device to `new_level`, drawing fresh write noise for those that moved and counting pulses."""
        before, after = self.programmed(), self.cell.conductance(new_level)
        moved = new_level != self.level
        if self.cell.write_noise:
            self.write_offset = torch.where(moved, self.cell.write_offset(torch.randn_like(self.level)),
                                            self.write_offset)
        elif self.disturbed:  # a write lands a device on its level: the drift of earlier reads is gone
            self.write_offset = torch.where(moved, torch.zeros_like(self.write_offset), self.write_offset)
        self.level = new_level
        if count:
            pulses = self.cell.pulses(before, after)
            self.pulses += pulses.long()
            self.energy_j += self.cell.write_energy_j(pulses, before, after).sum(dtype=torch.float64)

    def disturb(self, state_change: torch.Tensor) -> None:
        """Read disturb: a state change the reads caused, kept as an offset until the device is written again."""
        self.write_offset = self.write_offset + state_change * self.cell.span
        self.disturbed = True

    def stats(self) -> dict:
        return _pulse_stats(self.pulses, self.energy_j)


def _pulse_stats(pulses: torch.Tensor, energy_j: torch.Tensor) -> dict:
    return {
        "devices": pulses.numel(),
        "total_pulses": int(pulses.sum()),
        "max_pulses_per_device": int(pulses.max()) if pulses.numel() else 0,
        "mean_pulses_per_device": float(pulses.double().mean()) if pulses.numel() else 0.0,
        "write_energy_j": float(energy_j),
    }


def _round(values: torch.Tensor, cell: Cell, stochastic: bool) -> torch.Tensor:
    if not cell.levels:
        return values
    if stochastic:
        return torch.floor(values + torch.rand_like(values))
    return torch.round(values)


class WeightDevices(nn.Module):
    """A weight matrix on devices in one of the two encodings (see hdl.electrical for the mapping)."""

    def __init__(self, model: DeviceModel, encoding: WeightEncoding, shape: tuple[int, int],
                 generator: torch.Generator):
        super().__init__()
        self.model = model
        self.cell = model.cell(encoding)
        self.differential = self.cell.differential
        if self.differential:
            self.positive = DeviceArray(self.cell, shape, generator)
            self.negative = DeviceArray(self.cell, shape, generator)
        else:
            self.magnitude = DeviceArray(self.cell, shape, generator)
            self.register_buffer("sign", torch.ones(shape))
            self.register_buffer("sign_pulses", torch.zeros(shape, dtype=torch.int64))
            self.register_buffer("sign_energy_j", torch.zeros((), dtype=torch.float64))

    # -- reading -------------------------------------------------------------------------------------------------
    def conductances(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(main, second) as the circuit sees them: (magnitudes, signs) or (G+, G-)."""
        if self.differential:
            return self.positive.read(), self.negative.read()
        return self.magnitude.read(), self.sign

    def programmed_conductances(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.differential:
            return self.positive.programmed(), self.negative.programmed()
        return self.magnitude.programmed(), self.sign

    def nominal(self) -> torch.Tensor:
        """The weight the programmed levels stand for (no variability, no write noise)."""
        return self.cell.decode(*self.programmed_conductances()) * self.model.weight_max

    def _level_unit(self) -> float:
        """The weight of one level step, as the cell decodes it."""
        rest = self.cell.conductance(0.0)
        second = rest if self.differential else 1.0
        step = self.cell.decode(self.cell.conductance(1.0), second) - self.cell.decode(rest, second)
        return self.model.weight_max * step

    def _level_offset(self) -> float:
        """Sign crossbar: the smallest magnitude a device holds (level 0 is g_off, not zero), in level steps."""
        return -self.cell.level(0.0)

    # -- writing -------------------------------------------------------------------------------------------------
    def program(self, weights: torch.Tensor) -> dict:
        """Program `weights` once from the reset state (every device at g_off, signs positive), nearest level.

        Returns the pulses this took; they are not added to the training counters."""
        arrays = self._arrays()
        for array in arrays:
            array.level.zero_()
            array.write_offset.zero_()
        if not self.differential:
            self.sign.fill_(1.0)
        target = self._target_levels(weights.to(self.nominal().dtype), stochastic=False, cap=None)
        reset = [array.programmed() for array in arrays]
        self._write(target, count=False)
        pulses = sum(int(self.cell.pulses(before, array.programmed()).sum()) for before, array in zip(reset, arrays))
        return {"devices": sum(array.level.numel() for array in arrays), "total_pulses": pulses}

    def update(self, proposed: torch.Tensor) -> None:
        """Turn the optimiser's proposed weights into counted write pulses (in-situ training)."""
        self._write(self._target_levels(proposed, self.model.stochastic, cap=self.model.max_steps), count=True)

    def disturb(self, row_state_change: torch.Tensor) -> None:
        """Read disturb: a state change per row (every device of a row sees its row's read voltage)."""
        for array in self._arrays():
            array.disturb(row_state_change[:, None].expand_as(array.level))

    def _arrays(self) -> tuple[DeviceArray, ...]:
        return (self.positive, self.negative) if self.differential else (self.magnitude,)

    def _target_levels(self, weights: torch.Tensor, stochastic: bool, cap: int | None) -> tuple[torch.Tensor, ...]:
        cell, unit = self.cell, self._level_unit()
        top = float(cell.levels - 1) if cell.levels else 1.0
        target = weights / unit
        if self.differential:
            current = self.positive.level - self.negative.level
            if cap is not None:
                target = torch.maximum(torch.minimum(target, current + cap), current - cap)
            q = _round(target, cell, stochastic).clamp(-top, top)
            return q.clamp_min(0), (-q).clamp_min(0)
        offset = self._level_offset()
        current = self.sign * (self.magnitude.level + offset)
        if cap is not None:
            target = torch.maximum(torch.minimum(target, current + cap), current - cap)
        in_gap = target.abs() < offset
        if stochastic:
            gap_sign = torch.where(torch.rand_like(target) < (target + offset) / (2 * offset), 1.0, -1.0)
        else:
            gap_sign = torch.where(target >= 0, 1.0, -1.0)
        sign = torch.where(in_gap, gap_sign, torch.where(target >= 0, 1.0, -1.0))
        level = torch.where(in_gap, torch.zeros_like(target),
                            _round(target.abs() - offset, cell, stochastic).clamp(0, top))
        return level, sign

    def _write(self, target: tuple[torch.Tensor, ...], count: bool) -> None:
        if self.differential:
            self.positive.write(target[0], count)
            self.negative.write(target[1], count)
            return
        level, sign = target
        self.magnitude.write(level, count)
        if count:
            before, after = self.cell.sign_conductance(self.sign), self.cell.sign_conductance(sign)
            flips = self.cell.pulses(before, after)
            self.sign_pulses += flips.long()
            self.sign_energy_j += self.cell.write_energy_j(flips, before, after).sum(dtype=torch.float64)
        self.sign = sign

    def stats(self) -> dict:
        if self.differential:
            return {"crossbar": merge_stats([self.positive.stats(), self.negative.stats()])}
        return {"crossbar": self.magnitude.stats(), "sign": _pulse_stats(self.sign_pulses, self.sign_energy_j)}


def merge_stats(parts: list[dict]) -> dict:
    devices = sum(part["devices"] for part in parts)
    total = sum(part["total_pulses"] for part in parts)
    return {
        "devices": devices,
        "total_pulses": total,
        "max_pulses_per_device": max(part["max_pulses_per_device"] for part in parts),
        "mean_pulses_per_device": total / devices if devices else 0.0,
        "write_energy_j": sum(part["write_energy_j"] for part in parts),
    }
