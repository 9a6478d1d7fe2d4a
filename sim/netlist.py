"""Tile netlists with their weights, for plain `ngspice -b`: the crossbar, its periphery and a `.control` block.

Every netlist here is self-contained (no include) and is built only from numbers and names that
`amdcgan.hdl.netlist.net` accepts, so nothing a user writes reaches it as free text.

Models (behavioural where no transistor-level model is at hand; none is shipped for the 180 nm node):
- memristor: a linear resistor at its programmed conductance (reads stay below the switching threshold);
- row driver (DAC + crossbar switch): an ideal voltage source gated by its switch (B-source), so that the switch's
  on-resistance does not load the crossbar: behavioural;
- sign crossbar read: the selected sign column is driven at v_read, the others held at 0 V; each sign row ends in
  the thresholding circuit's virtual-ground input, which compares the row current with v_read (g_on + g_off) / 2
  and gives vdd or vss: behavioural (B-source comparator);
- sign switch: passes the row input or its inverse as the thresholding output says: behavioural;
- OpAmp IVC: a macromodel with finite DC gain, one pole (gain-bandwidth) and an output clipped inside the supplies
  (VCVS + RC + clipping B-source), feedback resistor to the summing node, followed by an ideal unity inverter;
- load memristor: a resistor from the column to ground; differential pairs: an ideal summing amplifier (load) or an
  ideal current mirror (IVC) subtracts the G- column;
- ReLU, ReLU with switch, tanh, averager buffer, dropout switch: behavioural B-sources clipped at the supplies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from amdcgan.hdl.netlist import net
from amdcgan.hdl.spec import Memristor, Readout, Technology, WeightEncoding

from .encoding import Periphery, TileConductances, sign_device_conductances

POLE_RESISTOR_OHM = 1000.0


def number(value: float) -> str:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"not a finite circuit value: {value}")
    return f"{value:.12g}"


def activation_expression(function: str, node: str, enable: str, technology: Technology) -> str:
    """A B-source expression of an activation circuit (the same transfer as `tile_model.activation`)."""
    vdd = number(technology.vdd_v)
    clipped = f"max(min(v({node}), {vdd}), 0)"
    if function == "relu":
        return clipped
    if function == "relu_switch":
        return f"v({enable}) > {number(technology.vdd_v / 2)} ? {clipped} : 0"
    if function == "tanh":
        return f"{vdd}*tanh(v({node})/{vdd})"
    if function == "linear":
        return f"v({node})"
    raise ValueError(f"unknown activation {function!r}")


@dataclass
class Circuit:
    """Netlist lines, the vectors the control block saves, and the analysis that produces them."""

    title: str
    lines: list[str] = field(default_factory=list)
    saved: list[str] = field(default_factory=list)
    analysis: str = "op"
    options: str = ".options reltol=1e-6 vntol=1e-9 abstol=1e-15 gmin=1e-15"

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def text(self, data_file: str) -> str:
        """The netlist; its control block runs the analysis and writes the saved vectors to `data_file`."""
        control = [".control", "set wr_vecnames", "set wr_singlescale", "option numdgt=12", self.analysis,
                   f"wrdata {data_file} {' '.join(self.saved)}", "quit 0", ".endc"]
        return "\n".join([f"* {self.title}", self.options, *self.lines, *control, ".end", ""])


def add_crossbar(circuit: Circuit, prefix: str, rows: list[str], columns: list[str], conductances: np.ndarray,
                 wire_ohm: float = 0.0, column_wire_ohm: float | None = None) -> None:
    """Memristors (rows x columns). With wire resistance, each cell has its own row and column nodes joined by a
    segment resistor: rows are driven from the left end, columns read at the bottom end. `wire_ohm` is the row
    segment, `column_wire_ohm` the column segment (None = the same); an axis at 0 ohm keeps one node per line."""
    n_rows, n_columns = conductances.shape
    row_ohm, column_ohm = wire_ohm, wire_ohm if column_wire_ohm is None else column_wire_ohm
    row_node = [[net(prefix, "rw", i, k) if row_ohm > 0 else rows[i] for k in range(n_columns)]
                for i in range(n_rows)]
    column_node = [[net(prefix, "cw", i, k) if column_ohm > 0 else columns[k] for k in range(n_columns)]
                   for i in range(n_rows)]
    if row_ohm > 0:
        for i in range(n_rows):
            chain = [rows[i], *row_node[i]]
            circuit.add(*(f"r{prefix}_rw{i}_{k} {chain[k]} {chain[k + 1]} {number(row_ohm)}"
                          for k in range(n_columns)))
    if column_ohm > 0:
        for k in range(n_columns):
            chain = [*(column_node[i][k] for i in range(n_rows)), columns[k]]
            circuit.add(*(f"r{prefix}_cw{i}_{k} {chain[i]} {chain[i + 1]} {number(column_ohm)}"
                          for i in range(n_rows)))
    circuit.add(*(f"r{prefix}_{i}_{k} {row_node[i][k]} {column_node[i][k]} {number(1 / conductances[i, k])}"
                  for i in range(n_rows) for k in range(n_columns)))


def add_sign_read(circuit: Circuit, prefix: str, signs: np.ndarray, device: Memristor, technology: Technology,
                  select: str) -> list[str]:
    """The sign crossbar, its column drivers (column `round(v(select))` at v_read, the others at 0 V) and the
    thresholding circuits; returns the nets of the thresholding outputs, one per row."""
    n_rows, n_columns = signs.shape
    g_sign = sign_device_conductances(signs, device)
    threshold = number(device.v_read_v * 0.5 * (device.g_on_s + device.g_off_s))
    vdd, vss, v_read = number(technology.vdd_v), number(technology.vss_v), number(device.v_read_v)
    columns = [net(prefix, "sc", k) for k in range(n_columns)]
    rows = [net(prefix, "sr", i) for i in range(n_rows)]
    senses = [net(prefix, "srs", i) for i in range(n_rows)]
    outputs = [net(prefix, "th", i) for i in range(n_rows)]
    circuit.add(*(f"b{columns[k]} {columns[k]} 0 v = abs(v({select})-{k}) < 0.5 ? {v_read} : 0"
                  for k in range(n_columns)))
    add_crossbar(circuit, net(prefix, "s"), senses, columns, g_sign)
    for i in range(n_rows):
        circuit.add(f"v{rows[i]} {senses[i]} 0 0",
                    f"b{outputs[i]} {outputs[i]} 0 v = i(v{rows[i]}) > {threshold} ? {vdd} : {vss}")
    return outputs


def add_ivc(circuit: Circuit, prefix: str, node: str, output: str, feedback_ohm: float, periphery: Periphery,
            technology: Technology) -> None:
    """OpAmp current-to-voltage converter at summing node `node`: finite gain, one pole, clipped output, then an
    ideal unity inverter onto `output` so that a positive column current gives a positive voltage."""
    gain = periphery.opamp_gain
    pole_hz = periphery.opamp_gbw_hz / gain
    low, high = periphery.swing(technology)
    amplifier, pole, clipped = (net(prefix, part) for part in ("ai", "ap", "ao"))
    circuit.add(
        f"e{amplifier} {amplifier} 0 0 {node} {number(gain)}",
        f"r{pole} {amplifier} {pole} {number(POLE_RESISTOR_OHM)}",
        f"c{pole} {pole} 0 {number(1 / (2 * math.pi * pole_hz * POLE_RESISTOR_OHM))}",
        f"b{clipped} {clipped} 0 v = max(min(v({pole}), {number(high)}), {number(low)})",
        f"r{prefix}_f {node} {clipped} {number(feedback_ohm)}",
        f"b{output} {output} 0 v = -v({clipped})",
    )


@dataclass(frozen=True)
class TileBench:
    """One tile with given conductances and row voltages, and what its netlist exposes."""

    conductances: TileConductances
    inputs: np.ndarray  # (rows,) volts
    readout: Readout
    device: Memristor
    technology: Technology
    periphery: Periphery = Periphery()
    activation: str | None = None
    name: str = "tile"

    def outputs(self) -> list[str]:
        return [net("y", j) for j in range(self.conductances.columns)]

    def activations(self) -> list[str]:
        return [net("a", j) for j in range(self.conductances.columns)] if self.activation else []

    def currents(self) -> list[str]:
        """The sensed column currents (A): one per logical column (IVC) or per device column (load memristor)."""
        count = self.conductances.columns if self.readout is Readout.opamp_ivc else self.conductances.crossbar.shape[1]
        return [f"i(v{net('cs', k)})" for k in range(count)]

    @property
    def sequential(self) -> bool:
        """Sign-crossbar tiles read one column per step of a DC sweep of the column select source."""
        return self.conductances.encoding is WeightEncoding.sign_crossbar


def tile_circuit(bench: TileBench) -> Circuit:
    """The tile test bench: row sources -> (sign switch) -> crossbar switch -> crossbar -> readout -> activation."""
    g = bench.conductances
    tech, device, periphery = bench.technology, bench.device, bench.periphery
    circuit = Circuit(f"amdcgan tile {net(bench.name)}: {g.rows}x{g.crossbar.shape[1]} {g.encoding.value}, "
                      f"{bench.readout.value}, wire {number(periphery.wire_ohm)} ohm")
    vdd = number(tech.vdd_v)
    circuit.add("vsel sel 0 0", f"vctl ctl 0 {vdd}")
    rows = [net("x", i) for i in range(g.rows)]
    circuit.add(*(f"v{rows[i]} {rows[i]} 0 {number(v)}" for i, v in enumerate(bench.inputs)))
    if g.encoding is WeightEncoding.sign_crossbar:
        thresholds = add_sign_read(circuit, "sgn", g.signs, device, tech, "sel")
        signed = [net("xs", i) for i in range(g.rows)]
        circuit.add(*(f"b{signed[i]} {signed[i]} 0 v = v({thresholds[i]}) > 0 ? v({rows[i]}) : -v({rows[i]})"
                      for i in range(g.rows)))
        rows = signed
    driven = [net("xd", i) for i in range(g.rows)]
    circuit.add(*(f"b{driven[i]} {driven[i]} 0 v = v(ctl) > {number(tech.vdd_v / 2)} ? v({rows[i]}) : 0"
                  for i in range(g.rows)))
    physical = g.crossbar.shape[1]
    columns = [net("c", k) for k in range(physical)]
    add_crossbar(circuit, "m", driven, columns, g.crossbar, periphery.wire_ohm)
    _add_readout(circuit, bench, columns)
    for j, (output, active) in enumerate(zip(bench.outputs(), bench.activations())):
        circuit.add(f"b{active} {active} 0 v = {activation_expression(bench.activation, output, 'ctl', tech)}")
    circuit.saved = [f"v({node})" for node in [*bench.outputs(), *bench.activations()]] + bench.currents()
    last = g.columns - 1 if bench.sequential else 0
    circuit.analysis = f"dc vsel 0 {last} 1"
    return circuit


def _add_readout(circuit: Circuit, bench: TileBench, columns: list[str]) -> None:
    g, tech = bench.conductances, bench.technology
    differential = g.encoding is WeightEncoding.differential_pair
    outputs = bench.outputs()
    if bench.readout is Readout.load_memristor:
        load = number(1 / bench.periphery.load_s(bench.device))
        for k, column in enumerate(columns):
            circuit.add(f"v{net('cs', k)} {column} {net('cl', k)} 0", f"r{net('cl', k)} {net('cl', k)} 0 {load}")
        for j, output in enumerate(outputs):
            if differential:
                expression = (f"max(min(v({net('cl', 2 * j)})-v({net('cl', 2 * j + 1)}), {number(tech.vdd_v)}), "
                              f"{number(tech.vss_v)})")
            else:
                expression = f"v({net('cl', j)})"
            circuit.add(f"b{output} {output} 0 v = {expression}")
        return
    feedback = bench.periphery.feedback(g.rows, bench.device, tech)
    for j, output in enumerate(outputs):
        summing = net("sn", j)
        plus = columns[2 * j] if differential else columns[j]
        circuit.add(f"v{net('cs', j)} {plus} {summing} 0")
        if differential:
            minus = net("csm", j)
            circuit.add(f"v{minus} {columns[2 * j + 1]} 0 0", f"f{minus} {summing} 0 v{minus} 1")
        add_ivc(circuit, net("ivc", j), summing, output, feedback, bench.periphery, tech)
