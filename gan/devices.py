"""Weights held as memristor conductances: encoding, finite levels, variability, write noise and counted pulses.

Scale (how numbers become conductances and volts):
- An activation of 1 is `v_read` volts on a row; column readouts have the gain that keeps that scale, so a layer's
  output of 1 is again `v_read` volts and the supply rails clip activations at vss/v_read and vdd/v_read.
- Sign crossbar (Fig. 3): |w| = G * weight_max / G_on, the sign in a binary sign device. |w| therefore spans
  [weight_max * G_off/G_on, weight_max]: the device cannot hold zero, as in the circuit.
- Differential pair: w = (G+ - G-) * weight_max / (G_on - G_off); one device of the pair sits at G_off.

A device's state is its level coordinate x in [0, span] (span = levels - 1, or 1 for ideal levels) and its
programmed conductance is G(x) = G_off + x (G_on - G_off) / span: with finite levels x is an integer, so every
programmed conductance is one of the L allowed values. What the circuit sees is that conductance plus the offset
of the last write (write noise, sigma a fraction of one level step), kept within [G_off, G_on], times the device's
fixed device-to-device factor: lognormal exp(sigma z) with median 1 (or normal 1 + sigma z, floored at 0), drawn
once from the run's seed.

In-situ updates: the optimiser proposes a weight; it is rounded (stochastically by default, so small updates move a
device with the right probability) onto the weights the devices can hold, at most `max_steps` level steps per device
per update. Each level step is one write pulse; with ideal levels any change is one pulse. Write energy per pulse is
V_write^2 * G * t_write with G the conductance written; a sign device is counted at G_on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from amdcgan.hdl.spec import Memristor, WeightEncoding


@dataclass(frozen=True)
class DeviceModel:
    g_on: float
    g_off: float
    levels: int | None
    variability: float
    distribution: str
    write_noise: float
    v_write: float
    t_write: float
    weight_max: float
    max_steps: int
    stochastic: bool

    @classmethod
    def from_memristor(cls, device: Memristor, config) -> "DeviceModel":
        levels = device.levels if config.levels is None else (None if config.levels == "ideal" else config.levels)
        return cls(
            g_on=device.g_on_s, g_off=device.g_off_s, levels=levels,
            variability=device.variability_sigma if config.variability is None else config.variability,
            distribution=config.variability_distribution,
            write_noise=device.write_noise_sigma if config.write_noise is None else config.write_noise,
            v_write=device.v_write_v, t_write=device.t_write_s, weight_max=config.weight_max,
            max_steps=config.max_steps_per_update, stochastic=config.stochastic_rounding,
        )

    @property
    def span(self) -> float:
        return float(self.levels - 1) if self.levels else 1.0

    @property
    def g_step(self) -> float:
        return (self.g_on - self.g_off) / self.span

    def allowed_conductances(self) -> torch.Tensor:
        if not self.levels:
            raise ValueError("ideal devices have no finite set of conductances")
        return self.g_off + torch.arange(self.levels, dtype=torch.float64) * self.g_step

    def conductance(self, level: torch.Tensor) -> torch.Tensor:
        return self.g_off + level * self.g_step


class DeviceArray(nn.Module):
    """One crossbar's devices (same shape as the weight matrix): level, write offset, fixed variability, pulses."""

    def __init__(self, model: DeviceModel, shape: tuple[int, ...], generator: torch.Generator):
        super().__init__()
        self.model = model
        self.register_buffer("level", torch.zeros(shape))
        self.register_buffer("write_offset", torch.zeros(shape))
        self.register_buffer("variation", self._draw_variation(shape, generator))
        self.register_buffer("pulses", torch.zeros(shape, dtype=torch.int64))
        self.register_buffer("energy_j", torch.zeros((), dtype=torch.float64))

    def _draw_variation(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        sigma = self.model.variability
        z = torch.randn(shape, generator=generator)
        if self.model.distribution == "lognormal":
            return torch.exp(sigma * z)
        return (1 + sigma * z).clamp_min(0.0)

    def programmed(self) -> torch.Tensor:
        return self.model.conductance(self.level)

    def effective(self) -> torch.Tensor:
        g = (self.programmed() + self.write_offset).clamp(self.model.g_off, self.model.g_on)
        return g * self.variation

    def write(self, new_level: torch.Tensor, count: bool = True) -> None:
        """Move every device to `new_level`, drawing fresh write noise for those that moved and counting pulses."""
        moved = new_level != self.level
        steps = (new_level - self.level).abs()
        pulses = steps.round().long() if self.model.levels else moved.long()
        if self.model.write_noise:
            noise = torch.randn_like(self.level) * (self.model.write_noise * self.model.g_step)
            self.write_offset = torch.where(moved, noise, self.write_offset)
        self.level = new_level
        if count:
            self.pulses += pulses
            energy = (pulses * self.programmed()).sum(dtype=torch.float64)
            self.energy_j += energy * self.model.v_write**2 * self.model.t_write

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


def _round(values: torch.Tensor, model: DeviceModel) -> torch.Tensor:
    if not model.levels:
        return values
    if model.stochastic:
        return torch.floor(values + torch.rand_like(values))
    return torch.round(values)


class WeightDevices(nn.Module):
    """A weight matrix on devices in one of the two encodings; see the module docstring for the scale."""

    def __init__(self, model: DeviceModel, encoding: WeightEncoding, shape: tuple[int, int],
                 generator: torch.Generator):
        super().__init__()
        self.model = model
        self.differential = encoding is WeightEncoding.differential_pair
        if self.differential:
            self.positive = DeviceArray(model, shape, generator)
            self.negative = DeviceArray(model, shape, generator)
        else:
            self.magnitude = DeviceArray(model, shape, generator)
            self.register_buffer("sign", torch.ones(shape))
            self.register_buffer("sign_pulses", torch.zeros(shape, dtype=torch.int64))
            self.register_buffer("sign_energy_j", torch.zeros((), dtype=torch.float64))

    # -- reading -------------------------------------------------------------------------------------------------
    def _unit(self) -> float:
        """Weight of one level step (differential) or of one `x + c` unit (sign crossbar)."""
        m = self.model
        return m.weight_max / m.span if self.differential else m.weight_max * m.g_step / m.g_on

    def _offset(self) -> float:
        """Sign crossbar: G_off in level steps, the smallest magnitude the device holds."""
        return self.model.g_off / self.model.g_step

    def nominal(self) -> torch.Tensor:
        """The weight the programmed levels stand for (no variability, no write noise)."""
        if self.differential:
            return (self.positive.level - self.negative.level) * self._unit()
        return self.sign * (self.magnitude.level + self._offset()) * self._unit()

    def effective(self) -> torch.Tensor:
        """The weight the circuit computes with."""
        m = self.model
        if self.differential:
            return (self.positive.effective() - self.negative.effective()) * (m.weight_max / (m.g_on - m.g_off))
        return self.sign * self.magnitude.effective() * (m.weight_max / m.g_on)

    def programmed_conductances(self) -> list[torch.Tensor]:
        arrays = (self.positive, self.negative) if self.differential else (self.magnitude,)
        return [array.programmed() for array in arrays]

    # -- writing -------------------------------------------------------------------------------------------------
    def program(self, weights: torch.Tensor) -> dict:
        """Program `weights` once from the reset state (every device at G_off, signs positive), nearest level.

        Returns the pulses this took; they are not added to the training counters."""
        deterministic = replace(self.model, stochastic=False)
        target = self._target_levels(weights.to(self.nominal().dtype), deterministic, cap=None)
        arrays = self._arrays()
        for array in arrays:
            array.level.zero_()
            array.write_offset.zero_()
        self._write(target, count=False)
        levels = target[: len(arrays)]  # the sign crossbar's target also carries the signs
        pulses = sum(int(level.round().sum()) if self.model.levels else int((level != 0).sum()) for level in levels)
        return {"devices": sum(array.level.numel() for array in arrays), "total_pulses": pulses}

    def update(self, proposed: torch.Tensor) -> None:
        """Turn the optimiser's proposed weights into counted write pulses (in-situ training)."""
        self._write(self._target_levels(proposed, self.model, cap=self.model.max_steps), count=True)

    def _arrays(self) -> tuple[DeviceArray, ...]:
        return (self.positive, self.negative) if self.differential else (self.magnitude,)

    def _target_levels(self, weights: torch.Tensor, model: DeviceModel, cap: int | None) -> tuple[torch.Tensor, ...]:
        span, unit = model.span, self._unit()
        if self.differential:
            current = self.positive.level - self.negative.level
            target = weights / unit
            if cap is not None:
                target = torch.maximum(torch.minimum(target, current + cap), current - cap)
            q = _round(target, model).clamp(-span, span)
            return q.clamp_min(0), (-q).clamp_min(0)
        offset = self._offset()
        current = self.sign * (self.magnitude.level + offset)
        target = weights / unit
        if cap is not None:
            target = torch.maximum(torch.minimum(target, current + cap), current - cap)
        # Between -G_off and +G_off no magnitude fits: pick the sign with the probability that keeps the mean.
        in_gap = target.abs() < offset
        if model.stochastic:
            gap_sign = torch.where(torch.rand_like(target) < (target + offset) / (2 * offset), 1.0, -1.0)
        else:
            gap_sign = torch.where(target >= 0, 1.0, -1.0)
        sign = torch.where(in_gap, gap_sign, torch.where(target >= 0, 1.0, -1.0))
        level = torch.where(in_gap, torch.zeros_like(target), _round(target.abs() - offset, model).clamp(0, span))
        return level, sign

    def _write(self, target: tuple[torch.Tensor, ...], count: bool) -> None:
        if self.differential:
            self.positive.write(target[0], count)
            self.negative.write(target[1], count)
            return
        level, sign = target
        self.magnitude.write(level, count)
        if count:
            flips = (sign != self.sign).long()
            self.sign_pulses += flips
            per_flip = self.model.v_write**2 * self.model.g_on * self.model.t_write
            self.sign_energy_j += flips.sum(dtype=torch.float64) * per_flip
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

