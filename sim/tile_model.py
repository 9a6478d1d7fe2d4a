"""A vectorised numpy model of one tile: the same encoding, levels, readout and clipping as the ngspice netlist.

`tile_outputs` is the function the GAN backend mirrors in torch. Per logical column j, with row voltages x_i (the
inputs scaled to +-v_read), main-crossbar conductances g_ij and signs s_ij (sign-crossbar encoding):

    N_j = sum_i s_ij g_ij x_i        G_j = sum_i g_ij

- load memristor: the column node settles where the row currents meet the load g_L: V_j = N_j / (G_j + g_L).
- OpAmp IVC (finite gain A, feedback R_f, output swing [lo, hi], re-inverted by a unity stage): the summing node
  sits at -V_amp / A, so V_amp = -N_j / (1/R_f + (G_j + 1/R_f) / A), clipped to [lo, hi]; the tile gives -V_amp.
- differential pair: N_j and G_j use G+ only, N_j subtracts sum_i g-_ij x_i (the G- column is held at ground and
  its current mirrored out of the summing node); with load memristors each device column has its own load and the
  summing amplifier takes V+ - V-, clipped to the supplies.

Wires are ideal here; the netlist's `wire_ohm` option (IR drop) is what this model leaves out.
"""

from __future__ import annotations

import numpy as np

from amdcgan.errors import UserError
from amdcgan.hdl.spec import Memristor, Readout, Technology, WeightEncoding

from .encoding import Periphery, TileConductances


def tile_outputs(
    inputs: np.ndarray,
    conductances: TileConductances,
    readout: Readout,
    device: Memristor,
    technology: Technology,
    periphery: Periphery = Periphery(),
) -> np.ndarray:
    """Column output voltages (batch, columns) of a tile for row voltages `inputs` (batch, rows) in volts."""
    x = np.atleast_2d(np.asarray(inputs, dtype=float))
    if x.shape[1] != conductances.rows:
        raise UserError(f"inputs have {x.shape[1]} rows, the tile has {conductances.rows}")
    differential = conductances.encoding is WeightEncoding.differential_pair
    if readout is Readout.load_memristor:
        g_load = periphery.load_s(device)
        if differential:
            plus, minus = conductances.crossbar[:, 0::2], conductances.crossbar[:, 1::2]
            difference = x @ plus / (plus.sum(0) + g_load) - x @ minus / (minus.sum(0) + g_load)
            return np.clip(difference, technology.vss_v, technology.vdd_v)
        return x @ conductances.signed_conductances() / (conductances.crossbar.sum(0) + g_load)
    summing_node = conductances.crossbar[:, 0::2] if differential else conductances.crossbar
    return ivc_output(x @ conductances.signed_conductances(), summing_node.sum(0), conductances.rows, device,
                      technology, periphery)


def ivc_output(
    weighted_sum_a: np.ndarray, node_conductance_s: np.ndarray, rows: int, device: Memristor,
    technology: Technology, periphery: Periphery,
) -> np.ndarray:
    """The IVC's output for the column current sum_i s_ij g_ij x_i (amperes at a grounded node) and the conductance
    the summing node sees (which, with finite gain, lets it move off ground)."""
    feedback_s = 1.0 / periphery.feedback(rows, device, technology)
    amplifier = -weighted_sum_a / (feedback_s + (node_conductance_s + feedback_s) / periphery.opamp_gain)
    low, high = periphery.swing(technology)
    return -np.clip(amplifier, low, high)


def column_currents(inputs: np.ndarray, conductances: TileConductances) -> np.ndarray:
    """Column currents (batch, columns) into grounded columns: the ideal weighted sums, in amperes."""
    return np.atleast_2d(inputs) @ conductances.signed_conductances()


def activation(volts: np.ndarray, function: str, technology: Technology, enabled: bool = True) -> np.ndarray:
    """The activation circuits' behavioural transfer (the same expressions as the netlist's B-sources)."""
    vdd = technology.vdd_v
    if function == "relu":
        return np.clip(volts, 0.0, vdd)
    if function == "relu_switch":
        return np.clip(volts, 0.0, vdd) if enabled else np.zeros_like(volts)
    if function == "tanh":
        return vdd * np.tanh(volts / vdd)
    if function == "linear":
        return np.asarray(volts, dtype=float)
    raise UserError(f"unknown activation {function!r}: choose relu, relu_switch, tanh or linear")
