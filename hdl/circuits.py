"""Transistor-level netlists of the periphery on a CMOS process (sky130's 1.8 V devices), sized by gm/ID.

Every generator is a function with keyword design targets that returns a `Subcircuit`: its `.subckt` text (children
first, each once), its transistors, resistors and capacitors, its rule-based area and the design values it chose.
Supplies are ports (`vdd`, `vss`); signals are referred to the global node 0 midway between them. Resistors and
capacitors are ideal R and C standing for high-resistance poly and MIM parts (their area counts; see process.py).

Sizing (gm/ID; `process.width_um`):
- two-stage Miller OpAmp (NMOS pair M1/M2, PMOS mirror M3/M4, tail M5, PMOS common source M6, NMOS sink M7, bias
  diode M8 fed by a resistor): Cc = 0.3 C_load; gm1 = 2 pi GBW Cc at gm/ID 15; second stage current the larger of
  1.2 x the peak output current and gm6 = 2.5 x 2 pi GBW C_load at gm/ID 8 (non-dominant pole at 2.5 GBW);
  with a resistive load the second stage's gain A2 = gm6 R_load is finite and gm1 = 2 pi GBW (Cc (1 + 1/A2) + C6/A2)
  (C6: M6's gate capacitance);
  M3/M4/M6 and M5/M7/M8 share one gm/ID each so the mirrors carry their current ratios and the systematic offset is
  nil; nulling resistor Rz = 1/gm6 (removes the right-half-plane zero); L = 0.5 um.
- IVC: the OpAmp sized for the column's full-scale current, feedback Rf = 0.6 vdd / I_full_scale.
- summing amplifier / batch norm: inverting adder, Rf / R_k = weight k, on an OpAmp sized for its resistor load.
- tanh mirrors at L = 1 um: their output resistance loads R_L less.
- comparator (thresholding): the OpAmp's two stages uncompensated, then an inverter to the rails.
- ReLU: an OTA driving a PMOS pass device into a load resistor to 0 V, unity feedback (both OTA inputs divided by 3
  towards 0 V to stay in its common-mode range): the output follows a positive input and rests at 0 V for a negative
  one (the pass device cannot sink), up to the vdd rail; pass device on-resistance <= 2 % of the load. ReLU with
  switch adds a PMOS that pulls the pass device's gate to vdd while the control input is low.
- tanh: a resistive attenuator k into an NMOS pair in weak inversion (I1 - I2 = I_T tanh(k v / (2 n U_T)) with
  1/(n U_T) the pair's gm/ID), mirrored into a load: v_out = R_L I_T tanh(...); k = 2 / (gm/ID x scale) makes the
  small-signal slope 1 and R_L = amplitude / I_T sets the swing.
- averager: N equal resistors (the pooling memristors) into an OpAmp follower.
- sign switch: an inverting unity OpAmp stage and two transmission gates choosing v_in or -v_in.
- dropout and crossbar switches: a transmission gate (equal nfet and pfet widths, L minimum) with its control
  inverter; W = (on-resistance x width of the pair, worst over the signal range) / target on-resistance.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from .process import (Mosfet, Process, capacitor_area_um2, current_density, drawn_width_um, gate_voltage,
                      resistor_area_um2, width_um)

ANALOG_L_UM = 0.5


@dataclass
class Subcircuit:
    name: str
    ports: list[str]
    process: Process
    mosfets: list[Mosfet] = field(default_factory=list)
    resistors: list[tuple[str, str, str, float]] = field(default_factory=list)
    capacitors: list[tuple[str, str, str, float]] = field(default_factory=list)
    instances: list[tuple[str, list[str], "Subcircuit"]] = field(default_factory=list)
    design: dict[str, float] = field(default_factory=dict)
    # resistors that stand for memristors (counted as memristors by the architecture, not as periphery area)
    memristor_resistors: frozenset[str] = frozenset()

    def mos(self, name: str, drain: str, gate: str, source: str, kind: str, width: float,
            length: float = ANALOG_L_UM, units: int = 1) -> Mosfet:
        bulk = "vss" if kind == "n" else "vdd"
        device = Mosfet(name, drain, gate, source, bulk, kind, drawn_width_um(self.process, width), length,
                        max(1, units))
        self.mosfets.append(device)
        return device

    def res(self, name: str, a: str, b: str, ohm: float) -> None:
        self.resistors.append((name, a, b, ohm))

    def cap(self, name: str, a: str, b: str, farad: float) -> None:
        self.capacitors.append((name, a, b, farad))

    def use(self, name: str, nets: list[str], child: "Subcircuit") -> None:
        if len(nets) != len(child.ports):
            raise ValueError(f"{child.name} has {len(child.ports)} ports, got {len(nets)} nets")
        self.instances.append((name, nets, child))

    def body(self) -> str:
        lines = [f".subckt {self.name} {' '.join(self.ports)}"]
        lines += [device.line(self.process) for device in self.mosfets]
        lines += [f"r{name} {a} {b} {ohm:.6g}" for name, a, b, ohm in self.resistors]
        lines += [f"c{name} {a} {b} {farad:.6g}" for name, a, b, farad in self.capacitors]
        lines += [f"x{name} {' '.join(nets)} {child.name}" for name, nets, child in self.instances]
        lines.append(f".ends {self.name}")
        return "\n".join(lines)

    def definitions(self) -> dict[str, str]:
        """This subcircuit's and its children's `.subckt` texts by name, children first."""
        found: dict[str, str] = {}
        for _, _, child in self.instances:
            for name, text in child.definitions().items():
                if found.setdefault(name, text) != text:
                    raise ValueError(f"two different subcircuits are named {name}")
        found[self.name] = self.body()
        return found

    def text(self) -> str:
        return "\n\n".join(self.definitions().values()) + "\n"

    def netlist_sha256(self) -> str:
        return hashlib.sha256(self.text().encode()).hexdigest()

    def transistors(self) -> list[Mosfet]:
        return [*self.mosfets, *(device for _, _, child in self.instances for device in child.transistors())]

    def area_um2(self) -> float:
        """Rule-based area (process.py): transistors x wiring factor, plus resistors and capacitors."""
        process = self.process
        own = process.layout.wiring_factor * sum(device.area_um2(process) for device in self.mosfets)
        own += sum(resistor_area_um2(process, ohm) for name, _, _, ohm in self.resistors
                   if name not in self.memristor_resistors)
        own += sum(capacitor_area_um2(process, farad) for _, _, _, farad in self.capacitors)
        return own + sum(child.area_um2() for _, _, child in self.instances)


def _bias_resistor(process: Process, current_a: float, gm_id: float) -> float:
    """Resistor from vdd into an NMOS diode at vss that sets `current_a`."""
    return (process.vdd_v - process.vss_v - gate_voltage(process, "n", ANALOG_L_UM, gm_id)) / current_a


def opamp(process: Process, *, name: str = "opamp", gbw_hz: float = 10e6, c_load_f: float = 2e-12,
          i_out_a: float = 100e-6, r_load_ohm: float = math.inf, gm_id_input: float = 15.0,
          gm_id_mirror: float = 8.0, compensated: bool = True) -> Subcircuit:
    """Two-stage Miller OpAmp, ports inp inn out vdd vss (out = A (inp - inn))."""
    circuit = Subcircuit(name, ["inp", "inn", "out", "vdd", "vss"], process)
    cc = 0.3 * c_load_f
    i6 = max(1.2 * i_out_a, 2.5 * 2 * math.pi * gbw_hz * c_load_f / gm_id_mirror)
    w = lambda kind, gm_id, current: width_um(process, kind, ANALOG_L_UM, gm_id, current)  # noqa: E731
    # GBW = gm1 / (Cc (1 + 1/A2) + C1/A2): a resistive load lowers the second stage's gain A2 = gm6 R_load, and
    # M6's gate capacitance C1 then adds to Cc.
    gain2 = gm_id_mirror * i6 * r_load_ohm
    c1 = w("p", gm_id_mirror, i6) * ANALOG_L_UM * process.gate_cap_f_per_um2
    gm1 = 2 * math.pi * gbw_hz * (cc * (1 + 1 / gain2) + c1 / gain2)
    # The tail is at least what a minimum-width unit carries at the mirrors' gm/ID: every mirror device is then a
    # whole number of units of its side (M5 = M8 = one NMOS unit, M7 = k units; M3 = M4 = one PMOS unit at half the
    # tail current, M6 = 2k units), so the ratios are exact and I6 / I1 = 2 I7 / I5 (no systematic offset).
    i5 = max(2 * gm1 / gm_id_input, current_density(process, "n", ANALOG_L_UM, gm_id_mirror) * process.nfet.min_width_um,
             2 * current_density(process, "p", ANALOG_L_UM, gm_id_mirror) * process.pfet.min_width_um)
    i1 = i5 / 2
    units = max(1, round(i6 / i5))
    i6 = units * i5
    circuit.mos("m1", "x", "inn", "tail", "n", w("n", gm_id_input, i1))
    circuit.mos("m2", "o1", "inp", "tail", "n", w("n", gm_id_input, i1))
    circuit.mos("m3", "x", "x", "vdd", "p", w("p", gm_id_mirror, i1))
    circuit.mos("m4", "o1", "x", "vdd", "p", w("p", gm_id_mirror, i1))
    circuit.mos("m5", "tail", "bias", "vss", "n", w("n", gm_id_mirror, i5))
    circuit.mos("m6", "out", "o1", "vdd", "p", w("p", gm_id_mirror, i1), units=2 * units)
    circuit.mos("m7", "out", "bias", "vss", "n", w("n", gm_id_mirror, i5), units=units)
    circuit.mos("m8", "bias", "bias", "vss", "n", w("n", gm_id_mirror, i5))
    circuit.res("bias", "vdd", "bias", _bias_resistor(process, i5, gm_id_mirror))
    rz = 1 / (gm_id_mirror * i6)
    if compensated:
        circuit.cap("c", "o1", "z", cc)
        circuit.res("z", "z", "out", rz)
    circuit.design = {"gbw_target_hz": gbw_hz, "c_load_f": c_load_f, "cc_f": cc if compensated else 0.0,
                      "i_tail_a": i5, "i_second_stage_a": i6, "gm1_s": gm_id_input * i1, "rz_ohm": rz,
                      "slew_target_v_per_s": i5 / cc}
    return circuit


def ivc(process: Process, *, name: str = "ivc", i_full_scale_a: float = 1e-3, swing_fraction: float = 0.6,
        **opamp_targets) -> Subcircuit:
    """Current-to-voltage converter of a column: ports in out vdd vss, in held at 0 V, v_out = -Rf i_in."""
    rf = swing_fraction * process.vdd_v / i_full_scale_a
    amplifier = opamp(process, name=f"{name}_opamp", i_out_a=i_full_scale_a, r_load_ohm=rf, **opamp_targets)
    circuit = Subcircuit(name, ["in", "out", "vdd", "vss"], process)
    circuit.use("a", ["0", "in", "out", "vdd", "vss"], amplifier)
    circuit.res("f", "in", "out", rf)
    circuit.design = {"rf_ohm": rf, "i_full_scale_a": i_full_scale_a, **amplifier.design}
    return circuit


def summing_amplifier(process: Process, *, name: str = "summing_amplifier", weights: tuple[float, ...] = (1.0, 1.0),
                      rf_ohm: float = 20e3, ports: tuple[str, ...] | None = None, **opamp_targets) -> Subcircuit:
    """Inverting adder: v_out = -sum(weight_k v_k); ports in0.. out vdd vss (or the names given)."""
    inputs = list(ports or (f"in{k}" for k in range(len(weights))))
    load_current = process.vdd_v / rf_ohm * (1 + sum(weights))
    amplifier = opamp(process, name=f"{name}_opamp", i_out_a=opamp_targets.pop("i_out_a", load_current),
                      **opamp_targets)
    circuit = Subcircuit(name, [*inputs, "out", "vdd", "vss"], process)
    circuit.use("a", ["0", "sum", "out", "vdd", "vss"], amplifier)
    for k, (port, weight) in enumerate(zip(inputs, weights)):
        circuit.res(f"in{k}", port, "sum", rf_ohm / weight)
    circuit.res("f", "sum", "out", rf_ohm)
    circuit.design = {"rf_ohm": rf_ohm, **{f"weight{k}": weight for k, weight in enumerate(weights)},
                      **amplifier.design}
    return circuit


def batch_norm(process: Process, *, name: str = "batch_norm", gain: float = 1.0, **targets) -> Subcircuit:
    """Gain and offset stage: v_out = -(gain v_in + v_bias), the bias voltage coming from the layer's DAC."""
    return summing_amplifier(process, name=name, weights=(gain, 1.0), ports=("in", "bias"), **targets)


def comparator(process: Process, *, name: str = "thresholding", i_tail_a: float = 10e-6,
               gm_id_input: float = 15.0, gm_id_mirror: float = 8.0) -> Subcircuit:
    """Thresholding circuit: ports in ref out vdd vss; out = vdd when v_in > v_ref, else vss."""
    # The OpAmp's two stages without compensation: gm1 = gm_id_input x i_tail / 2, so GBW follows from i_tail.
    c_load = 50e-15
    gbw = gm_id_input * i_tail_a / 2 / (2 * math.pi * 0.3 * c_load)
    core = opamp(process, name=f"{name}_core", gbw_hz=gbw, c_load_f=c_load, i_out_a=i_tail_a,
                 gm_id_input=gm_id_input, gm_id_mirror=gm_id_mirror, compensated=False)
    circuit = Subcircuit(name, ["in", "ref", "out", "vdd", "vss"], process)
    # core out = A (inp - inn): in on inn makes it fall as v_in rises; the inverter restores the sense.
    circuit.use("a", ["ref", "in", "stage", "vdd", "vss"], core)
    minimum = process.nfet.min_width_um
    circuit.mos("mn", "out", "stage", "vss", "n", minimum, process.nfet.min_length_um)
    circuit.mos("mp", "out", "stage", "vdd", "p", 2 * minimum, process.pfet.min_length_um)
    circuit.design = {"i_tail_a": core.design["i_tail_a"], "i_second_stage_a": core.design["i_second_stage_a"]}
    return circuit


def _ota(circuit: Subcircuit, process: Process, plus: str, minus: str, out: str, i_tail_a: float,
         gm_id_input: float, gm_id_mirror: float) -> None:
    """A five-transistor OTA with its bias added to `circuit`; out rises with v(plus) - v(minus)."""
    i1 = i_tail_a / 2
    w = lambda kind, gm_id, current: width_um(process, kind, ANALOG_L_UM, gm_id, current)  # noqa: E731
    # M2 pulls `out` down as its gate rises; M1's current comes back through the mirror and pushes it up.
    circuit.mos("m1", "x", plus, "tail", "n", w("n", gm_id_input, i1))
    circuit.mos("m2", out, minus, "tail", "n", w("n", gm_id_input, i1))
    circuit.mos("m3", "x", "x", "vdd", "p", w("p", gm_id_mirror, i1))
    circuit.mos("m4", out, "x", "vdd", "p", w("p", gm_id_mirror, i1))
    circuit.mos("m5", "tail", "bias", "vss", "n", w("n", gm_id_mirror, i_tail_a))
    circuit.mos("m8", "bias", "bias", "vss", "n", w("n", gm_id_mirror, i_tail_a))
    circuit.res("bias", "vdd", "bias", _bias_resistor(process, i_tail_a, gm_id_mirror))


def relu(process: Process, *, name: str = "relu", r_load_ohm: float = 50e3, r_divider_ohm: float = 100e3,
         i_tail_a: float = 10e-6,
         c_comp_f: float = 1e-12, gm_id_input: float = 15.0, gm_id_mirror: float = 8.0,
         switched: bool = False) -> Subcircuit:
    """ReLU: ports in out vdd vss (relu_switch: in out ctl vdd vss); v_out = min(max(v_in, 0), vdd)."""
    ports = ["in", "out", "ctl", "vdd", "vss"] if switched else ["in", "out", "vdd", "vss"]
    circuit = Subcircuit(name, ports, process)
    # The OTA compares v_in and v_out each divided by 3 towards 0 V (its NMOS pair works for common modes of about
    # -0.1..0.45 V); its output `g` rises when v_out exceeds v_in, which closes the pass device: negative feedback.
    for side in ("in", "out"):
        circuit.res(f"{side}top", side, f"{side}3", 2 * r_divider_ohm)
        circuit.res(f"{side}bottom", f"{side}3", "0", r_divider_ohm)
    _ota(circuit, process, plus="out3", minus="in3", out="g", i_tail_a=i_tail_a, gm_id_input=gm_id_input,
         gm_id_mirror=gm_id_mirror)
    i_max = process.vdd_v / r_load_ohm
    # At the top of the range the pass device is a closed switch: on-resistance at most 2 % of the load, taken from
    # the process's transmission-gate figure (a conservative resistance x width).
    pass_width = process.switch_ohm_um / (0.02 * r_load_ohm)
    circuit.mos("mpass", "out", "g", "vdd", "p", pass_width, process.pfet.min_length_um)
    circuit.res("load", "out", "0", r_load_ohm)
    circuit.cap("c", "out", "g", c_comp_f)
    if switched:
        circuit.mos("moff", "g", "ctl", "vdd", "p", process.pfet.min_width_um, process.pfet.min_length_um)
    circuit.design = {"r_load_ohm": r_load_ohm, "i_tail_a": i_tail_a, "pass_width_um": pass_width,
                      "i_full_scale_a": i_max}
    return circuit


def tanh(process: Process, *, name: str = "tanh", amplitude_v: float | None = None, scale_v: float | None = None,
         i_tail_a: float = 2e-6, gm_id_pair: float = 22.0, gm_id_mirror: float = 15.0,
         r_in_ohm: float = 200e3) -> Subcircuit:
    """tanh: ports in out vdd vss; v_out = amplitude tanh(v_in / scale) (both default to vdd)."""
    amplitude = process.vdd_v if amplitude_v is None else amplitude_v
    scale = process.vdd_v if scale_v is None else scale_v
    circuit = Subcircuit(name, ["in", "out", "vdd", "vss"], process)
    attenuation = 2 / (gm_id_pair * scale)
    circuit.res("top", "in", "att", r_in_ohm * (1 - attenuation))
    circuit.res("bottom", "att", "0", r_in_ohm * attenuation)
    i1 = i_tail_a / 2
    w = lambda kind, gm_id, current: width_um(process, kind, ANALOG_L_UM, gm_id, current)  # noqa: E731
    circuit.mos("m1", "a1", "att", "tail", "n", w("n", gm_id_pair, i1))
    circuit.mos("m2", "a2", "0", "tail", "n", w("n", gm_id_pair, i1))
    circuit.mos("m5", "tail", "bias", "vss", "n", w("n", gm_id_mirror, i_tail_a))
    circuit.mos("m8", "bias", "bias", "vss", "n", w("n", gm_id_mirror, i_tail_a))
    circuit.res("bias", "vdd", "bias", _bias_resistor(process, i_tail_a, gm_id_mirror))
    long = 1.0  # the mirrors' output resistance sits in parallel with R_L: long devices
    p_width = width_um(process, "p", long, gm_id_mirror, i1)
    n_width = width_um(process, "n", long, gm_id_mirror, i1)
    circuit.mos("m3", "a1", "a1", "vdd", "p", p_width, long)
    circuit.mos("m3b", "out", "a1", "vdd", "p", p_width, long)  # sources I1 into the output
    circuit.mos("m4", "a2", "a2", "vdd", "p", p_width, long)
    circuit.mos("m4b", "b2", "a2", "vdd", "p", p_width, long)
    circuit.mos("m6", "b2", "b2", "vss", "n", n_width, long)
    circuit.mos("m6b", "out", "b2", "vss", "n", n_width, long)  # sinks I2 from the output
    r_load = amplitude / i_tail_a
    circuit.res("load", "out", "0", r_load)
    circuit.design = {"attenuation": attenuation, "i_tail_a": i_tail_a, "r_load_ohm": r_load,
                      "amplitude_v": amplitude, "scale_v": scale}
    return circuit


def averager(process: Process, *, name: str = "averager", inputs: int = 4, r_input_ohm: float = 10e3,
             **opamp_targets) -> Subcircuit:
    """Mean pooling: ports in0.. out vdd vss; v_out = mean(v_in). The input resistors stand for the pooling
    memristors at one conductance (counted as memristors, not in this circuit's area)."""
    amplifier = opamp(process, name=f"{name}_opamp", **opamp_targets)
    circuit = Subcircuit(name, [*(f"in{k}" for k in range(inputs)), "out", "vdd", "vss"], process)
    for k in range(inputs):
        circuit.res(f"in{k}", f"in{k}", "mean", r_input_ohm)
    circuit.memristor_resistors = frozenset(f"in{k}" for k in range(inputs))
    circuit.use("a", ["mean", "out", "out", "vdd", "vss"], amplifier)
    circuit.design = {"inputs": inputs, **amplifier.design}
    return circuit


def transmission_gate(process: Process, *, name: str = "tgate", r_on_ohm: float = 1e3) -> Subcircuit:
    """A switch: ports a b ctl vdd vss, closed while ctl is high (vdd), open while low (vss)."""
    width = switch_width_um(process, r_on_ohm)
    circuit = Subcircuit(name, ["a", "b", "ctl", "vdd", "vss"], process)
    length = process.nfet.min_length_um
    circuit.mos("mn", "a", "ctl", "b", "n", width, length)
    circuit.mos("mp", "a", "ctlb", "b", "p", width, length)
    # Control inverter sized to drive the gates: 1/20 of the switch width (fan-out 20), at least the minimum.
    inverter = max(process.nfet.min_width_um, round(width / 20, 2))
    circuit.mos("minvn", "ctlb", "ctl", "vss", "n", inverter, length)
    circuit.mos("minvp", "ctlb", "ctl", "vdd", "p", 2 * inverter, length)
    circuit.design = {"r_on_target_ohm": r_on_ohm, "width_um": width}
    return circuit


def switch_width_um(process: Process, r_on_ohm: float) -> float:
    grid = process.layout.grid_um
    return max(process.nfet.min_width_um, math.ceil(process.switch_ohm_um / r_on_ohm / grid - 1e-9) * grid)


def sign_switch(process: Process, *, name: str = "sign_switch", r_ohm: float = 20e3, r_on_ohm: float = 1e3,
                **opamp_targets) -> Subcircuit:
    """Sign switch: ports in out ctl vdd vss; v_out = v_in while ctl is high, -v_in while low."""
    amplifier = opamp(process, name=f"{name}_opamp", i_out_a=2 * process.vdd_v / r_ohm, **opamp_targets)
    gate = transmission_gate(process, name=f"{name}_tgate", r_on_ohm=r_on_ohm)
    circuit = Subcircuit(name, ["in", "out", "ctl", "vdd", "vss"], process)
    circuit.use("a", ["0", "sum", "neg", "vdd", "vss"], amplifier)
    circuit.res("in", "in", "sum", r_ohm)
    circuit.res("f", "sum", "neg", r_ohm)
    circuit.mos("minvn", "ctlb", "ctl", "vss", "n", process.nfet.min_width_um, process.nfet.min_length_um)
    circuit.mos("minvp", "ctlb", "ctl", "vdd", "p", 2 * process.pfet.min_width_um, process.pfet.min_length_um)
    circuit.use("pass", ["in", "out", "ctl", "vdd", "vss"], gate)
    circuit.use("invert", ["neg", "out", "ctlb", "vdd", "vss"], gate)
    circuit.design = {"r_ohm": r_ohm, **gate.design}
    return circuit


# The library's design points. The IVC carries the full-scale column current of a 128-row tile of WO2 devices read
# at 0.5 V on G_on (128 x 0.5 V / 4 kohm = 16 mA). The crossbar switch is held to the 1 ohm the behavioural tile
# model assumes; dropout switches and the sign switch's gates drive activation inputs (tens of kohm and up): 1 kohm.
IVC_FULL_SCALE_A = 128 * 0.5 / 4000.0
CROSSBAR_SWITCH_R_ON_OHM = 1.0
DROPOUT_SWITCH_R_ON_OHM = 1e3


def library_circuits(process: Process, *, ivc_full_scale_a: float = IVC_FULL_SCALE_A,
                     crossbar_switch_r_on_ohm: float = CROSSBAR_SWITCH_R_ON_OHM,
                     dropout_switch_r_on_ohm: float = DROPOUT_SWITCH_R_ON_OHM) -> dict[str, Subcircuit]:
    """One circuit per component kind (by its ComponentKind value), as the component library characterizes it."""
    return {
        "opamp": ivc(process, name="ivc", i_full_scale_a=ivc_full_scale_a),
        "summing_amplifier": summing_amplifier(process, name="summing_amplifier"),
        "batch_norm": batch_norm(process, name="batch_norm", gain=1.0),
        "averager": averager(process, name="averager", inputs=4),
        "thresholding": comparator(process, name="thresholding"),
        "relu": relu(process, name="relu"),
        "relu_switch": relu(process, name="relu_switch", switched=True),
        "tanh": tanh(process, name="tanh"),
        "sign_switch": sign_switch(process, name="sign_switch"),
        "dropout_switch": transmission_gate(process, name="dropout_switch", r_on_ohm=dropout_switch_r_on_ohm),
        "crossbar_switch": transmission_gate(process, name="crossbar_switch", r_on_ohm=crossbar_switch_r_on_ohm),
    }
