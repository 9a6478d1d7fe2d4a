"""The write model of a memristor in ngspice, against the cell model every backend computes writes with.

The circuit is hdl's write-capable memristor (`hdl.netlist.write_memristor_lines`: threshold switching with the
device file's switching rate, integrated by ngspice over the real pulse shape). `check_write_model` measures:
- reads (the read voltage, below threshold) and sub-threshold pulses leave the state unchanged;
- the state change per pulse at V_write, both directions, against `Cell.state_per_pulse` (k (V_write - V_th)
  t_write, with k given in the device file); and how many level steps that is;
- the energy one pulse takes (the integral of v i), against `Cell.write_energy_j` for the conductances before and
  after the pulse.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from amdcgan.hdl.electrical import Cell
from amdcgan.hdl.netlist import Netlist, number, write_memristor_lines

from .runner import run_circuit

EDGE_S = 1e-10  # pulse rise and fall, short against t_write: the pulse stays t_write at full amplitude


def pulse_circuit(cell: Cell, amplitude_v: float, pulses: int, state: float) -> Netlist:
    """`pulses` pulses of t_write at `amplitude_v` (one per 2 t_write) across one memristor."""
    width, period = cell.t_write, 2 * cell.t_write
    circuit = Netlist(f"amdcgan memristor write: {pulses} pulses of {number(amplitude_v)} V, {number(width)} s from "
                      f"state {number(state)}")
    circuit.add(f"vw p 0 pulse(0 {number(amplitude_v)} {number(period / 4)} {number(EDGE_S)} {number(EDGE_S)} "
                f"{number(width)} {number(period)} {pulses})")
    circuit.add(*write_memristor_lines("m", "p", "0", cell, state))
    circuit.printed = ["v(p)", "v(m_x)", "i(vw)"]
    return circuit


def pulse_response(cell: Cell, amplitude_v: float, pulses: int, state: float,
                   keep: Path | None = None) -> dict[str, np.ndarray]:
    """State after each pulse and the energy each pulse took, from an ngspice transient."""
    width, period = cell.t_write, 2 * cell.t_write
    analysis = f".tran {number(width / 200)} {number(pulses * period)} 0 {number(width / 200)} uic"
    circuit = pulse_circuit(cell, amplitude_v, pulses, state)
    vectors = run_circuit(circuit, "memristor write pulses", keep=keep, analysis=analysis)
    time, states = vectors["scale"], vectors["v(m_x)"]
    power = vectors["v(p)"] * -vectors["i(vw)"]  # the source delivers -i(vw)
    ends = np.arange(1, pulses + 1) * period
    after = np.concatenate([[state], np.interp(ends, time, states)])
    energy = np.array([_integral(time, power, end - period, end) for end in ends])
    return {"states": after, "energy_j": energy, "time_s": time, "state": states, "volts": vectors["v(p)"]}


def _integral(time: np.ndarray, values: np.ndarray, start: float, stop: float) -> float:
    inside = (time >= start) & (time <= stop)
    return float(np.trapezoid(values[inside], time[inside]))


def check_write_model(cell: Cell, v_read: float, pulses: int = 5, keep_dir: Path | None = None) -> dict:
    """The write model in ngspice against the cell model: see the module's docstring. Returns both sides' figures."""
    state = 0.5
    keep = (lambda name: keep_dir / f"memristor_{name}.cir") if keep_dir else (lambda name: None)
    read = pulse_response(cell, v_read, pulses, state, keep("read"))
    below = pulse_response(cell, 0.99 * cell.v_threshold, pulses, state, keep("below_threshold"))
    up = pulse_response(cell, cell.v_write, pulses, state, keep("set"))
    down = pulse_response(cell, -cell.v_write, pulses, state, keep("reset"))
    before, after = up["states"][0], up["states"][1]
    model_energy = float(cell.write_energy_j(1, cell.state_conductance(before), cell.state_conductance(after)))
    set_steps, reset_steps = np.diff(up["states"]), np.diff(down["states"])
    expected = cell.state_per_pulse
    return {
        "switching_rate_s_per_v": cell.switching_rate,
        "expected_state_per_pulse": expected,
        "level_step": cell.g_step / cell.span,
        "set_steps_per_pulse": set_steps.tolist(),
        "reset_steps_per_pulse": reset_steps.tolist(),
        "step_relative_error": float(max(np.max(np.abs(set_steps / expected - 1)),
                                         np.max(np.abs(-reset_steps / expected - 1)))),
        "read_change": float(read["states"][-1] - state),
        "below_threshold_change": float(below["states"][-1] - state),
        "energy_per_pulse_j": float(up["energy_j"][0]),
        "energy_model_j": model_energy,
        "energy_relative_error": abs(float(up["energy_j"][0]) / model_energy - 1),
        "traces": {"set": up, "reset": down},
    }
