"""A threshold-switching memristor for writing, in ngspice, and the transient check of the update assumptions.

State x in [0, 1], conductance g = g_off + x (g_on - g_off). Below the threshold nothing changes; above it

    dx/dt = k (|V| - V_th) sign(V),   clipped to [0, 1]

(positive voltage across the device raises the conductance). k is the device's `switching_rate_s_per_v` (per second
per volt above threshold) or, when that is 0, the rate at which one pulse of t_write at v_write moves exactly one
level step (1 / (levels - 1); an ideal device without levels takes the paper's 128 levels). In ngspice the state is
the voltage on a 1 F capacitor charged by a B-source current: an integrator.

What the estimators and the GAN simulation assume, and what `check_write_model` measures:
- reads (v_read, below threshold) and sub-threshold pulses leave the state unchanged;
- one pulse of t_write at v_write moves the conductance by one level step, N pulses by N steps until a bound;
- a pulse costs about V_write^2 g t_write (between V^2 t / R_off and V^2 t / R_on).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from amdcgan.hdl.spec import Memristor

from .netlist import Circuit, number
from .runner import run_circuit

PAPER_LEVELS = 128
EDGE_S = 1e-10  # pulse rise and fall, short against t_write: the pulse stays t_write at full amplitude


def switching_rate(device: Memristor) -> float:
    """k in dx/dt = k (|V| - V_th): the device's own, or one level step per pulse at v_write."""
    if device.switching_rate_s_per_v > 0:
        return device.switching_rate_s_per_v
    step = 1.0 / ((device.levels or PAPER_LEVELS) - 1)
    return step / (device.t_write_s * (device.v_write_v - device.v_threshold_v))


def memristor_lines(name: str, positive: str, negative: str, device: Memristor, x0: float) -> list[str]:
    """A write-capable memristor between two nodes; its state is node `<name>_x` (volts = state in [0, 1])."""
    state = f"{name}_x"
    g_off, span = number(device.g_off_s), number(device.g_on_s - device.g_off_s)
    k, vth = number(switching_rate(device)), number(device.v_threshold_v)
    v = f"v({positive},{negative})"
    rate = (f"({v} > {vth} ? (v({state}) < 1 ? {k}*({v}-{vth}) : 0) : "
            f"({v} < -{vth} ? (v({state}) > 0 ? {k}*({v}+{vth}) : 0) : 0))")
    return [
        f"b{name} {positive} {negative} i = {v}*({g_off}+{span}*v({state}))",
        f"c{state} {state} 0 1",
        f"b{state} 0 {state} i = {rate}",
        f".ic v({state})={number(x0)}",
    ]


def pulse_circuit(device: Memristor, amplitude_v: float, pulses: int, x0: float) -> Circuit:
    """`pulses` pulses of t_write at `amplitude_v` (one per 2 t_write) across one memristor."""
    width, period = device.t_write_s, 2 * device.t_write_s
    circuit = Circuit(f"amdcgan memristor write: {pulses} pulses of {number(amplitude_v)} V, "
                      f"{number(width)} s from state {number(x0)}")
    circuit.add(f"vw p 0 pulse(0 {number(amplitude_v)} {number(period / 4)} {number(EDGE_S)} {number(EDGE_S)} "
                f"{number(width)} {number(period)} {pulses})")
    circuit.add(*memristor_lines("m", "p", "0", device, x0))
    circuit.saved = ["v(p)", "v(m_x)", "i(vw)"]
    circuit.analysis = f"tran {number(width / 200)} {number(pulses * period)} 0 {number(width / 200)} uic"
    return circuit


def pulse_response(device: Memristor, amplitude_v: float, pulses: int, x0: float,
                   keep: Path | None = None) -> dict[str, np.ndarray]:
    """State after each pulse and the energy each pulse took, from an ngspice transient."""
    vectors = run_circuit(pulse_circuit(device, amplitude_v, pulses, x0), "memristor write pulses", keep=keep)
    time, state = vectors["scale"], vectors["v(m_x)"]
    power = vectors["v(p)"] * -vectors["i(vw)"]  # the source delivers -i(vw)
    period = 2 * device.t_write_s
    ends = np.arange(1, pulses + 1) * period
    states = np.concatenate([[x0], np.interp(ends, time, state)])
    energy = np.array([_integral(time, power, end - period, end) for end in ends])
    return {"states": states, "energy_j": energy, "time_s": time, "state": state, "volts": vectors["v(p)"]}


def _integral(time: np.ndarray, values: np.ndarray, start: float, stop: float) -> float:
    inside = (time >= start) & (time <= stop)
    return float(np.trapezoid(values[inside], time[inside]))


def check_write_model(device: Memristor, pulses: int = 5, keep_dir: Path | None = None) -> dict:
    """The update assumptions in ngspice: no change at reads or below threshold, one level step per pulse at v_write
    (both directions), and the energy per pulse. Returns measured and expected figures."""
    levels = device.levels or PAPER_LEVELS
    step = 1.0 / (levels - 1)
    k = switching_rate(device)
    expected_step = k * (device.v_write_v - device.v_threshold_v) * device.t_write_s
    x0 = 0.5
    keep = (lambda name: keep_dir / f"memristor_{name}.cir") if keep_dir else (lambda name: None)
    read = pulse_response(device, device.v_read_v, pulses, x0, keep("read"))
    below = pulse_response(device, 0.99 * device.v_threshold_v, pulses, x0, keep("below_threshold"))
    up = pulse_response(device, device.v_write_v, pulses, x0, keep("set"))
    down = pulse_response(device, -device.v_write_v, pulses, x0, keep("reset"))
    g_mid = device.g_off_s + x0 * (device.g_on_s - device.g_off_s)
    return {
        "rate_per_s_per_v": k,
        "level_step": step,
        "expected_step_per_pulse": expected_step,
        "set_steps_per_pulse": np.diff(up["states"]).tolist(),
        "reset_steps_per_pulse": np.diff(down["states"]).tolist(),
        "read_change": float(read["states"][-1] - x0),
        "below_threshold_change": float(below["states"][-1] - x0),
        "energy_per_pulse_j": float(up["energy_j"][0]),
        "energy_expected_j": device.v_write_v ** 2 * g_mid * device.t_write_s,
        "energy_bounds_j": [device.v_write_v ** 2 * device.g_off_s * device.t_write_s,
                            device.v_write_v ** 2 * device.g_on_s * device.t_write_s],
        "traces": {"set": up, "reset": down},
    }
