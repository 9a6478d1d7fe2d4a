"""Weights to memristor conductances, and the periphery settings every tile model and netlist shares.

Two encodings (hdl `WeightEncoding`):
- sign crossbar (paper Fig. 3): |w| / w_max maps linearly onto [g_off, g_on] in the main crossbar; the sign lives in
  a binary sign crossbar (g_on for +, g_off for -) that a thresholding circuit reads, and the sign switch inverts
  the row input for the column being read. Weight 0 still conducts g_off, so a column carries the offset
  g_off * sum_i(s_ij x_i) besides the weighted sum; `TileConductances.effective_weights` shows what a column computes.
- differential pair: w ~ G+ - G-, both around the midpoint g_mid = (g_on + g_off) / 2, each device half the range.

Finite resistive levels: every device is quantised to `device.levels` equally spaced conductances between g_off and
g_on (None = ideal, continuous).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amdcgan.errors import UserError
from amdcgan.hdl.spec import Memristor, Technology, WeightEncoding


@dataclass(frozen=True)
class Periphery:
    """Circuit parameters of a tile's periphery that the architecture file does not fix.

    load_conductance_s: the load memristor of a column (default g_on, the largest a device can give, so the column
    voltage stays a fraction of the inputs and never exceeds them, as the paper's Fig. 2 says).
    opamp_gain, opamp_gbw_hz: the IVC OpAmp macromodel's open-loop DC gain and gain-bandwidth (one pole).
    opamp_headroom_v: the IVC output swings to vdd - headroom and vss + headroom.
    feedback_ohm: the IVC feedback resistor; None = full scale (every input at v_read on g_on devices) reaches vdd.
    wire_ohm: the electrode resistance of one cell segment on rows and columns (0 = ideal wires).
    """

    load_conductance_s: float | None = None
    opamp_gain: float = 1.0e4
    opamp_gbw_hz: float = 100.0e6
    opamp_headroom_v: float = 0.2
    feedback_ohm: float | None = None
    wire_ohm: float = 0.0

    def load_s(self, device: Memristor) -> float:
        return self.load_conductance_s if self.load_conductance_s is not None else device.g_on_s

    def feedback(self, rows: int, device: Memristor, technology: Technology) -> float:
        if self.feedback_ohm is not None:
            return self.feedback_ohm
        return (technology.vdd_v - self.opamp_headroom_v) / (rows * device.v_read_v * device.g_on_s)

    def swing(self, technology: Technology) -> tuple[float, float]:
        return technology.vss_v + self.opamp_headroom_v, technology.vdd_v - self.opamp_headroom_v


@dataclass(frozen=True)
class TileConductances:
    """What a tile holds: the main crossbar (rows, physical columns) in siemens and, for the sign-crossbar encoding,
    the signs (rows, logical columns) as +1/-1."""

    encoding: WeightEncoding
    crossbar: np.ndarray
    signs: np.ndarray | None = None

    @property
    def rows(self) -> int:
        return self.crossbar.shape[0]

    @property
    def columns(self) -> int:
        """Logical columns (weights per row)."""
        return self.crossbar.shape[1] // (2 if self.encoding is WeightEncoding.differential_pair else 1)

    def signed_conductances(self) -> np.ndarray:
        """(rows, columns): the conductance each row input meets in a column, signed as the row input arrives
        (sign-switched) or as the pair subtracts it. The column's weighted sum is inputs @ this."""
        if self.encoding is WeightEncoding.differential_pair:
            return self.crossbar[:, 0::2] - self.crossbar[:, 1::2]
        return self.crossbar * self.signs

    def with_variability(self, sigma: float, rng: np.random.Generator) -> "TileConductances":
        """Device-to-device variability: every device's conductance times (1 + sigma * N(0, 1)), kept positive."""
        factor = np.clip(1.0 + sigma * rng.standard_normal(self.crossbar.shape), 0.01, None)
        return TileConductances(self.encoding, self.crossbar * factor, self.signs)


def quantise(conductance: np.ndarray, device: Memristor) -> np.ndarray:
    """Nearest of `device.levels` equally spaced conductances in [g_off, g_on]; unchanged when levels is None."""
    g = np.clip(conductance, device.g_off_s, device.g_on_s)
    if device.levels is None:
        return g
    step = (device.g_on_s - device.g_off_s) / (device.levels - 1)
    return device.g_off_s + np.round((g - device.g_off_s) / step) * step


def encode_weights(
    weights: np.ndarray, encoding: WeightEncoding, device: Memristor, w_max: float | None = None
) -> TileConductances:
    """Conductances holding `weights` (rows, columns); |w| is scaled by w_max (default: the largest |w|)."""
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2 or weights.size == 0:
        raise UserError(f"weights must be a non-empty (rows, columns) matrix, got shape {weights.shape}")
    scale = float(np.max(np.abs(weights))) if w_max is None else float(w_max)
    unit = np.clip(weights / scale, -1.0, 1.0) if scale > 0 else np.zeros_like(weights)
    span = device.g_on_s - device.g_off_s
    if encoding is WeightEncoding.differential_pair:
        g_mid = 0.5 * (device.g_on_s + device.g_off_s)
        pair = np.empty((weights.shape[0], 2 * weights.shape[1]))
        pair[:, 0::2] = quantise(g_mid + 0.5 * span * unit, device)
        pair[:, 1::2] = quantise(g_mid - 0.5 * span * unit, device)
        return TileConductances(encoding, pair)
    signs = np.where(unit < 0, -1.0, 1.0)
    return TileConductances(encoding, quantise(device.g_off_s + span * np.abs(unit), device), signs)


def sign_device_conductances(signs: np.ndarray, device: Memristor) -> np.ndarray:
    """The binary sign crossbar: g_on stores +, g_off stores -."""
    return np.where(signs > 0, device.g_on_s, device.g_off_s)


def scale_inputs(values: np.ndarray, device: Memristor, x_max: float = 1.0) -> np.ndarray:
    """Row read voltages: values in [-x_max, x_max] onto [-v_read, v_read]."""
    return np.clip(np.asarray(values, dtype=float) / x_max, -1.0, 1.0) * device.v_read_v

