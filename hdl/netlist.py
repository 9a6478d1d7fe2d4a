"""SPICE netlists of the accelerator and of single tiles, with the conductances they hold: the one tile writer.

Every circuit value comes from `hdl.electrical` (the tile's electrical model), so the netlist is the circuit the numpy
and torch models compute: `electrical.tile_outputs` and `electrical.layer_outputs` give, for the same conductances
and row voltages, the voltages ngspice finds on the nets named below. sim's checks wrap this writer with their own
sources and analyses; `amdcgan netlist` wraps it with a test bench (`--bench`).

A tile, from its row inputs (row voltages, nets LAYER_x_ROW, driven by the DACs outside this netlist):
- sign crossbar (Fig. 3): the sign devices (g_on holds +, g_off holds -) between the sign-column drivers (the
  selected column at V_r, the others at 0 V) and the thresholding circuits' virtual grounds; each comparator gives
  VDD when its row current exceeds `Periphery.sign_threshold_a`, else VSS; the sign switch passes the row input or
  its inverse;
- the crossbar switch and row driver: an ideal source gated by the control net `ctl`, limited to +-V_r, with a
  zero-volt source in series that senses the current it delivers (the read power);
- the main crossbar: one resistor per device at its conductance (a differential pair's G+ and G- side by side), in
  a subcircuit per distinct crossbar (tiles holding the same conductances share one);
- readout: a load memristor g_L from each device column to ground (a pair's difference amplifier takes V+ - V-,
  clipped to the supplies), or the OpAmp IVC macromodel (finite gain A clipped to its output swing, one pole at
  GBW / A, feedback R_f sized by `Periphery.feedback`, a unity inverter after it; a pair's G- column sits at ground
  and a current mirror draws its current out of the summing node).
A layer's row-split partials meet at the summing amplifier (gain, clipped to the supplies), giving the layer's
column outputs LAYER_s_COLUMN; its folded stages (batch norm, activation via `activation_spice`, dropout, averager)
follow, giving LAYER_y_COLUMN. By default every circuit but the memristors is behavioural (B-sources): no
transistor-level model of the 180 nm node is at hand. With `TransistorPeriphery` (sky130) the IVCs, summing
amplifiers and activations are transistor-level subcircuits instead.

Every name is built from validated identifiers (letters, digits, underscores) and numbers: nothing from a user's file
reaches a netlist as free text, so no user input can become a SPICE control line.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from amdcgan.errors import UserError
from amdcgan.fileio import write_text_atomic

from .electrical import Cell, Conductances, Periphery, activation_spice, encode_weights
from .mapping import LayerPlan, Tile, TilePlan
from .spec import ComponentKind, Readout, WeightEncoding

SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_]+$")
POLE_RESISTOR_OHM = 1000.0
OPTIONS = ".options reltol=1e-6 vntol=1e-9 abstol=1e-15 gmin=1e-15"
SELECT_STEP_V = 1e-3  # the bench's column select source: column k is read at k mV, inside the rails
DEFAULT_UNIT_WEIGHT = 0.5  # without trained weights every weight is +w_max / 2: mid-range devices, hand-checkable
READOUT_KINDS = ("load_memristor", ComponentKind.opamp.value, ComponentKind.summing_amplifier.value)


def net(*parts: object) -> str:
    """A SPICE node or instance name from identifier parts; refuses anything but letters, digits and underscores."""
    name = "_".join(str(part).replace(".", "_") for part in parts)
    if not SAFE_TOKEN.fullmatch(name):
        raise ValueError(f"unsafe SPICE name {name!r}")
    return name.lower()


def number(value: float) -> str:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"not a finite circuit value: {value}")
    return f"{value:.12g}"


# ---------------------------------------------------------------------------------------------------------------------
# Circuit pieces


def crossbar_lines(prefix: str, rows: list[str], columns: list[str], conductances: np.ndarray,
                   wire_ohm: float = 0.0, column_wire_ohm: float | None = None) -> list[str]:
    """Memristors (rows x columns) as resistors. With wire resistance each cell has its own row and column nodes
    joined by segment resistors: rows are driven from the left end, columns read at the bottom end. `wire_ohm` is the
    row segment, `column_wire_ohm` the column segment (None = the same); an axis at 0 ohm keeps one node per line."""
    n_rows, n_columns = conductances.shape
    row_ohm, column_ohm = wire_ohm, wire_ohm if column_wire_ohm is None else column_wire_ohm
    row_node = [[net(prefix, "rw", i, k) if row_ohm > 0 else rows[i] for k in range(n_columns)]
                for i in range(n_rows)]
    column_node = [[net(prefix, "cw", i, k) if column_ohm > 0 else columns[k] for k in range(n_columns)]
                   for i in range(n_rows)]
    lines = []
    if row_ohm > 0:
        for i in range(n_rows):
            chain = [rows[i], *row_node[i]]
            lines += [f"r{prefix}_rw{i}_{k} {chain[k]} {chain[k + 1]} {number(row_ohm)}" for k in range(n_columns)]
    if column_ohm > 0:
        for k in range(n_columns):
            chain = [*(column_node[i][k] for i in range(n_rows)), columns[k]]
            lines += [f"r{prefix}_cw{i}_{k} {chain[i]} {chain[i + 1]} {number(column_ohm)}" for i in range(n_rows)]
    return lines + [f"r{prefix}_{i}_{k} {row_node[i][k]} {column_node[i][k]} {number(1 / conductances[i, k])}"
                    for i in range(n_rows) for k in range(n_columns)]


def crossbar_instance(prefix: str, rows: list[str], columns: list[str], conductances: np.ndarray,
                      defined: set[str]) -> list[str]:
    """A crossbar as an instance of a subcircuit holding its devices. `defined`: the subcircuits written so far; a
    crossbar holding the same conductances as an earlier one reuses its subcircuit."""
    n_rows, n_columns = conductances.shape
    digest = hashlib.sha1(np.ascontiguousarray(conductances, dtype=float).tobytes()).hexdigest()[:12]
    name = f"xbar_{n_rows}x{n_columns}_{digest}"
    lines = []
    if name not in defined:
        defined.add(name)
        ports = [*(f"r{i}" for i in range(n_rows)), *(f"c{k}" for k in range(n_columns))]
        lines += [f".subckt {name} {' '.join(ports)}",
                  *(f"r{i}_{k} r{i} c{k} {number(1 / conductances[i, k])}"
                    for i in range(n_rows) for k in range(n_columns)),
                  f".ends {name}"]
    return [*lines, f"x{prefix} {' '.join([*rows, *columns])} {name}"]


def ivc_lines(prefix: str, summing: str, output: str, feedback_ohm: float, periphery: Periphery) -> list[str]:
    """OpAmp current-to-voltage converter at node `summing`: gain -A clipped to the output swing, one pole at
    GBW / A, feedback R_f to the summing node, then a unity inverter onto `output` (a positive column current gives
    a positive voltage). At DC: output = clip(N / (1/R_f + (G + 1/R_f) / A), -hi, -lo), `Periphery.column_gain`."""
    low, high = (number(bound) for bound in periphery.swing())
    pole_hz = periphery.opamp_gbw_hz / periphery.opamp_gain
    amplifier, pole, clipped = (net(prefix, part) for part in ("a", "p", "o"))
    return [
        f"b{amplifier} {amplifier} 0 v = max(min({number(-periphery.opamp_gain)}*v({summing}), {high}), {low})",
        f"r{pole} {amplifier} {pole} {number(POLE_RESISTOR_OHM)}",
        f"c{pole} {pole} 0 {number(1 / (2 * math.pi * pole_hz * POLE_RESISTOR_OHM))}",
        f"b{clipped} {clipped} 0 v = max(min(v({pole}), {high}), {low})",
        f"r{prefix}_f {summing} {clipped} {number(feedback_ohm)}",
        f"b{output} {output} 0 v = -v({clipped})",
    ]


@dataclass
class TransistorPeriphery:
    """The signal path at transistor level (`hdl.circuits` on a process with transistor models): each tile's IVC
    designed for its rows (R_f = `Periphery.feedback`, so the circuit is the model's), an inverting stage after it,
    the summing amplifiers of row-split partials (an inverting adder and an inverter) and the activation circuits.
    Their subcircuits are written once each, with the supplies and `include` (the transistor models' file). The
    row drivers, the sign decision and switches and a pair's current mirror stay behavioural."""

    process: object  # hdl.process.Process
    periphery: Periphery
    include: str
    defined: dict[str, str] = field(default_factory=dict)

    def _use(self, circuit) -> str:
        self.defined.setdefault(circuit.name, circuit.text())
        return circuit.name

    def ivc(self, rows: int) -> str:
        from . import circuits

        full_scale = self.periphery.swing()[1] / self.periphery.feedback(rows)
        fraction = self.periphery.swing()[1] / self.process.vdd_v
        return self._use(circuits.ivc(self.process, name=f"ivc_{rows}", i_full_scale_a=full_scale,
                                      swing_fraction=fraction))

    def adder(self, inputs: int, gain: float = 1.0) -> str:
        """An inverting adder of `inputs` inputs, each with `gain` (one input: the unity inverter)."""
        from . import circuits

        if inputs == 1:
            return self._use(circuits.summing_amplifier(self.process, name="inverter", weights=(1.0,)))
        name = f"adder_{inputs}" if gain == 1.0 else f"adder_{inputs}_g" + re.sub(r"[^0-9a-z]", "p", number(gain))
        return self._use(circuits.summing_amplifier(self.process, name=name, weights=(gain,) * inputs))

    def activation(self, kind: str) -> str:
        from . import circuits

        if kind == "tanh":
            amplitude = self.periphery.tanh_volts
            return self._use(circuits.tanh(self.process, name="tanh", amplitude_v=amplitude, scale_v=amplitude))
        return self._use(circuits.relu(self.process, name=kind, switched=kind == "relu_switch"))

    def definitions(self) -> list[str]:
        if any(character in self.include for character in '"\n\r'):
            raise UserError(f"{self.include}: a model path with quotes or line breaks cannot go into a netlist")
        return [f"* transistor-level periphery on {self.process.name}", f'.include "{self.include}"',
                f"vdd vdd 0 {number(self.periphery.vdd)}", f"vss vss 0 {number(self.periphery.vss)}",
                *self.defined.values()]


def clip_expression(expression: str, low: float, high: float) -> str:
    return f"max(min({expression}, {number(high)}), {number(low)})"


def row_driver_lines(prefix: str, inputs: list[str], outputs: list[str], control: str,
                     periphery: Periphery) -> tuple[list[str], list[str]]:
    """Crossbar switches and row drivers: the input while `control` is high, limited to +-V_r, through a sensing
    source each; returns the lines and the sensing sources' names."""
    half, read = number(periphery.vdd / 2), periphery.v_read
    lines, senses = [], []
    for i, (source, row) in enumerate(zip(inputs, outputs)):
        driven, sense = net(prefix, "d", i), net(prefix, "rs", i)
        limited = clip_expression(f"v({source})", -read, read)
        lines += [f"b{driven} {driven} 0 v = v({control}) > {half} ? {limited} : 0", f"v{sense} {driven} {row} 0"]
        senses.append(f"v{sense}")
    return lines, senses


@dataclass
class TileNets:
    """What one tile exposes: its column outputs (partial or finished), the row drivers' and sign-column drivers'
    sensing sources, and the sign-column nets the controller drives (sign crossbar)."""

    outputs: list[str]
    rows: list[str]  # the crossbar's row nets, after the drivers
    row_senses: list[str]
    sign_columns: list[str] = field(default_factory=list)
    sign_senses: list[str] = field(default_factory=list)
    settled: list[tuple[str, str]] = field(default_factory=list)  # node pairs equal at DC (the IVC's pole input
    # and output): a solution where they differ is not one, whatever the simulator reports


def tile_lines(prefix: str, inputs: list[str], tile: Conductances, readout: Readout, periphery: Periphery,
               control: str = "ctl", defined: set[str] | None = None,
               transistors: TransistorPeriphery | None = None) -> tuple[list[str], TileNets]:
    """One tile (its crossbars and periphery) fed by the row-voltage nets `inputs`; `defined` as for
    `crossbar_instance` (wires with resistance, the periphery's row and column ohms per cell segment, are written
    flat, cell by cell)."""
    cell = tile.cell
    defined = set() if defined is None else defined
    lines: list[str] = []
    rows = inputs
    sign_columns: list[str] = []
    sign_senses: list[str] = []
    if not cell.differential:
        sign_lines, signed, sign_columns, sign_senses = _sign_read(prefix, inputs, tile, periphery, defined)
        lines += sign_lines
        rows = signed
    device_rows = [net(prefix, "r", i) for i in range(tile.rows)]
    drivers, row_senses = row_driver_lines(prefix, rows, device_rows, control, periphery)
    lines += drivers
    physical = tile.physical()
    columns = [net(prefix, "c", k) for k in range(physical.shape[1])]
    lines += (crossbar_lines(net(prefix, "m"), device_rows, columns, physical, periphery.row_wire_ohm,
                             periphery.column_wire_ohm) if periphery.wired
              else crossbar_instance(net(prefix, "m"), device_rows, columns, physical, defined))
    outputs = [net(prefix, "o", j) for j in range(tile.columns)]
    lines += _readout(prefix, columns, outputs, tile, readout, periphery, transistors)
    settled = ([(net(prefix, "ivc", j, "a"), net(prefix, "ivc", j, "p")) for j in range(tile.columns)]
               if readout is Readout.opamp_ivc and transistors is None else [])
    return lines, TileNets(outputs, device_rows, row_senses, sign_columns, sign_senses, settled)


def _sign_read(prefix: str, inputs: list[str], tile: Conductances, periphery: Periphery,
               defined: set[str]) -> tuple[list[str], list[str], list[str], list[str]]:
    """Sign crossbar, thresholding comparators and sign switches; returns the lines, the sign-switched row nets,
    the sign-column nets and their sensing sources."""
    columns = [net(prefix, "sc", k) for k in range(tile.columns)]
    devices = [net(prefix, "scd", k) for k in range(tile.columns)]
    sign_rows = [net(prefix, "sr", i) for i in range(tile.rows)]
    senses = [f"v{net(prefix, 'scs', k)}" for k in range(tile.columns)]
    lines = [f"{sense} {column} {device} 0" for sense, column, device in zip(senses, columns, devices)]
    lines += crossbar_instance(net(prefix, "s"), sign_rows, devices, tile.sign_devices(), defined)
    threshold = number(periphery.sign_threshold_a)
    vdd, vss = number(periphery.vdd), number(periphery.vss)
    signed = [net(prefix, "xs", i) for i in range(tile.rows)]
    for i, (row, source) in enumerate(zip(sign_rows, inputs)):
        ground, decision = net(prefix, "srg", i), net(prefix, "th", i)
        lines += [f"v{ground} {row} 0 0",
                  f"b{decision} {decision} 0 v = i(v{ground}) > {threshold} ? {vdd} : {vss}",
                  f"b{signed[i]} {signed[i]} 0 v = v({decision}) > 0 ? v({source}) : -v({source})"]
    return lines, signed, columns, senses


def _readout(prefix: str, columns: list[str], outputs: list[str], tile: Conductances, readout: Readout,
             periphery: Periphery, transistors: TransistorPeriphery | None = None) -> list[str]:
    differential = tile.cell.differential
    if readout is Readout.load_memristor:
        load = number(1 / periphery.g_load)
        lines = [f"r{net(prefix, 'l', k)} {column} 0 {load}" for k, column in enumerate(columns)]
        for j, output in enumerate(outputs):
            expression = (clip_expression(f"v({columns[2 * j]})-v({columns[2 * j + 1]})", periphery.vss, periphery.vdd)
                          if differential else f"v({columns[j]})")
            lines.append(f"b{output} {output} 0 v = {expression}")
        return lines
    feedback = periphery.feedback(tile.rows)
    lines = []
    for j, output in enumerate(outputs):
        summing = columns[2 * j] if differential else columns[j]
        if differential:  # the G- column held at ground, its current mirrored out of the summing node
            mirror = net(prefix, "cm", j)
            lines += [f"v{mirror} {columns[2 * j + 1]} 0 0", f"f{mirror} {summing} 0 v{mirror} 1"]
        if transistors is None:
            lines += ivc_lines(net(prefix, "ivc", j), summing, output, feedback, periphery)
        else:  # the IVC gives -R_f I, the inverter turns it positive
            inverted = net(prefix, "ivc", j)
            lines += [f"x{inverted} {summing} {inverted} vdd vss {transistors.ivc(tile.rows)}",
                      f"x{output} {inverted} {output} vdd vss {transistors.adder(1)}"]
    return lines


def sum_lines(output: str, partials: list[str], periphery: Periphery,
              transistors: TransistorPeriphery | None = None) -> list[str]:
    """The summing amplifier that adds row-split partials: `Periphery.sum_partials`."""
    if transistors is not None:  # an inverting adder, then an inverter
        negated, adder = f"{output}_n", transistors.adder(len(partials), periphery.summing_gain)
        return [f"x{negated} {' '.join(partials)} {negated} vdd vss {adder}",
                f"x{output} {negated} {output} vdd vss {transistors.adder(1)}"]
    total = f"{number(periphery.summing_gain)}*({'+'.join(f'v({partial})' for partial in partials)})"
    return [f"b{output} {output} 0 v = {clip_expression(total, periphery.vss, periphery.vdd)}"]


def write_memristor_lines(name: str, positive: str, negative: str, cell: Cell, state: float) -> list[str]:
    """A write-capable memristor between two nodes (threshold switching, `Cell`): dx/dt = k (|V| - V_th) sign(V)
    above the threshold, x held in [0, 1], G = g_off + x (g_on - g_off). The state is the voltage of node NAME_x,
    a 1 F capacitor charged by a B-source current (an integrator)."""
    state_node = f"{name}_x"
    g_off, span = number(cell.g_off), number(cell.span)
    k, threshold = number(cell.switching_rate), number(cell.v_threshold)
    v = f"v({positive},{negative})"
    rate = (f"({v} > {threshold} ? (v({state_node}) < 1 ? {k}*({v}-{threshold}) : 0) : "
            f"({v} < -{threshold} ? (v({state_node}) > 0 ? {k}*({v}+{threshold}) : 0) : 0))")
    return [
        f"b{name} {positive} {negative} i = {v}*({g_off}+{span}*v({state_node}))",
        f"c{state_node} {state_node} 0 1",
        f"b{state_node} 0 {state_node} i = {rate}",
        f".ic v({state_node})={number(state)}",
    ]


def stage_lines(kind: str, source: str, output: str, periphery: Periphery, control: str = "ctl",
                transistors: TransistorPeriphery | None = None) -> list[str]:
    """One folded stage of a column: activation circuits (`activation_spice`), dropout switch, batch norm and
    averager buffers (unity, clipped to the supplies)."""
    if transistors is not None and kind in ("relu", "relu_switch", "tanh"):
        ports = [source, output, control] if kind == "relu_switch" else [source, output]
        return [f"x{output} {' '.join(ports)} vdd vss {transistors.activation(kind)}"]
    if kind in ("relu", "relu_switch", "tanh"):
        expression = activation_spice(kind, source, control, periphery.vdd, periphery.tanh_volts)
    elif kind == ComponentKind.dropout_switch.value:
        expression = f"v({control}) > {number(periphery.vdd / 2)} ? v({source}) : 0"
    else:
        expression = clip_expression(f"v({source})", periphery.vss, periphery.vdd)
    return [f"b{output} {output} 0 v = {expression}"]


# ---------------------------------------------------------------------------------------------------------------------
# Conductances of a whole accelerator


def default_conductances(plan: TilePlan) -> dict[str, Conductances]:
    """Without trained weights: every weight at +w_max / 2 (mid-range devices), layer by layer."""
    device = plan.architecture.device
    return {f"{layer.network}.{layer.name}": encode_weights(
        np.full((layer.weight_rows, layer.weight_columns), DEFAULT_UNIT_WEIGHT), Cell.of(device, layer.encoding), 1.0)
        for layer in plan.layers()}


def bench_inputs(rows: int, periphery: Periphery) -> np.ndarray:
    """The test bench's row voltages: row r at V_r sin(r + 1), spread over +-V_r so every row counts differently."""
    return periphery.v_read * np.sin(np.arange(rows) + 1.0)


# ---------------------------------------------------------------------------------------------------------------------
# Netlists


@dataclass
class Netlist:
    """Netlist lines, the analysis, and the sweep that reads a sign-crossbar tile's columns one by one."""

    title: str
    lines: list[str] = field(default_factory=list)
    sweep_steps: int = 0  # > 0: a DC sweep of `vsel` whose step k reads column k of every sign-crossbar tile
    printed: list[str] = field(default_factory=list)

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def analysis(self) -> str:
        if not self.sweep_steps:
            return ".op"
        return f".dc vsel 0 {number((self.sweep_steps - 1) * SELECT_STEP_V)} {number(SELECT_STEP_V)}"

    def text(self, analysis: str | None = None, printed: bool = True) -> str:
        """The netlist for plain ngspice: its analysis and a `.print` of its outputs."""
        analysis = analysis or self.analysis()
        tail = [analysis]
        kind = analysis.split()[0][1:]
        if printed and self.printed and kind in ("dc", "tran"):
            tail.append(f".print {kind} {' '.join(self.printed)}")
        return "\n".join([f"* {self.title}", OPTIONS, *self.lines, *tail, ".end", ""])


def drive_sign_columns(netlist: Netlist, sign_columns: list[str], periphery: Periphery) -> None:
    """Bench drivers of sign columns: a tile's column k (its net ends in _k) at V_r while the select source `vsel`
    sweeps through k steps, else 0 V."""
    indices = [int(column.rsplit("_", 1)[1]) for column in sign_columns]
    netlist.add(*(f"b{column} {column} 0 v = abs(v(sel)-{number(k * SELECT_STEP_V)}) < {number(SELECT_STEP_V / 2)} ? "
                  f"{number(periphery.v_read)} : 0"
                  for k, column in zip(indices, sign_columns)))
    netlist.sweep_steps = max([netlist.sweep_steps, *(k + 1 for k in indices)])


def bench_sources(netlist: Netlist, inputs: list[str], volts: np.ndarray) -> None:
    """Row-voltage sources on `inputs`."""
    netlist.add(*(f"v{name} {name} 0 {number(value)}" for name, value in zip(inputs, volts)))


def bench_controls(netlist: Netlist, periphery: Periphery) -> None:
    """The select source of the sign sweep, and the control net high (switches closed)."""
    netlist.add("vsel sel 0 0", f"vctl ctl 0 {number(periphery.vdd)}")


def tile_bench(title: str, tile: Conductances, readout: Readout, periphery: Periphery, inputs: np.ndarray,
               prefix: str = "t", transistors: TransistorPeriphery | None = None) -> tuple[Netlist, TileNets]:
    """One tile driven by `inputs` (rows,) volts, its sign columns read one per sweep step."""
    rows = [net(prefix, "x", i) for i in range(tile.rows)]
    netlist = Netlist(title)
    bench_controls(netlist, periphery)
    bench_sources(netlist, rows, inputs)
    lines, nets = tile_lines(prefix, rows, tile, readout, periphery, transistors=transistors)
    netlist.add(*lines)
    if transistors is not None:
        netlist.add(*transistors.definitions())
    drive_sign_columns(netlist, nets.sign_columns, periphery)
    netlist.printed = [f"v({output})" for output in nets.outputs]
    return netlist, nets


def _layer_prefix(layer: LayerPlan) -> str:
    return net(layer.network, layer.name)


def layer_inputs(layer: LayerPlan) -> list[str]:
    return [net(_layer_prefix(layer), "x", row) for row in range(layer.weight_rows)]


def layer_outputs_nets(layer: LayerPlan) -> list[str]:
    """The layer's column outputs before its folded stages: what `electrical.layer_outputs` computes."""
    return [net(_layer_prefix(layer), "s", column) for column in range(layer.weight_columns)]


def column_read_steps(layer: LayerPlan) -> np.ndarray:
    """The bench's sweep step at which each of the layer's columns is read: a sign-crossbar tile reads its column k
    at step k; differential pairs read every column at once (every step holds them, take step 0)."""
    if layer.encoding is not WeightEncoding.sign_crossbar:
        return np.zeros(layer.weight_columns, dtype=int)
    return np.concatenate([np.arange(stop - start) for start, stop in layer.column_splits])


def add_layer(netlist: Netlist, layer: LayerPlan, conductances: Conductances, periphery: Periphery,
              defined: set[str], transistors: TransistorPeriphery | None = None) -> list[str]:
    """All tiles of a layer, its bias row driver, the summing amplifiers of row-split partials and the folded stages;
    returns the sign-column nets its tiles expose. `defined`: the crossbar subcircuits written so far."""
    prefix = _layer_prefix(layer)
    inputs = layer_inputs(layer)
    periphery = periphery.for_layer(layer)
    netlist.add(f"* layer {prefix}: {layer.type} {layer.weight_rows}x{layer.weight_columns}, {len(layer.tiles)} "
                f"tile(s), {layer.encoding.value}, {layer.readout.value}")
    if layer.bias:
        netlist.add(f"v{prefix}_bias {inputs[-1]} 0 {number(periphery.v_read)}")
    partials: dict[int, list[list[str]]] = {}
    sign_columns: list[str] = []
    for tile in layer.tiles:
        lines, nets = tile_lines(net(tile.id), inputs[tile.rows[0]:tile.rows[1]],
                                 conductances.block(tile.rows, tile.columns), layer.readout, periphery,
                                 defined=defined, transistors=transistors)
        netlist.add(f"* tile {net(tile.id)}: rows {tile.rows[0]}..{tile.rows[1] - 1}, "
                    f"columns {tile.columns[0]}..{tile.columns[1] - 1}", *lines)
        partials.setdefault(tile.column_tile, []).append(nets.outputs)
        sign_columns += nets.sign_columns
    outputs = layer_outputs_nets(layer)
    for host in (tile for tile in layer.tiles if tile.row_tile == 0):
        stages = [bank.kind for bank in host.banks if bank.side == "column" and bank.kind not in READOUT_KINDS]
        for offset in range(host.n_columns):
            column = host.columns[0] + offset
            terms = [nets[offset] for nets in partials[host.column_tile]]
            netlist.add(*(sum_lines(outputs[column], terms, periphery, transistors) if len(terms) > 1
                          else [f"b{outputs[column]} {outputs[column]} 0 v = v({terms[0]})"]))
            current = outputs[column]
            for index, kind in enumerate(stages):
                stage = net(prefix, "st", index, column)
                netlist.add(*stage_lines(kind, current, stage, periphery, transistors=transistors))
                current = stage
            result = net(prefix, "y", column)
            netlist.add(f"b{result} {result} 0 v = v({current})")
    return sign_columns


def accelerator_netlist(plan: TilePlan, layers: dict[str, Conductances] | None = None, bench: bool = False,
                        transistors: TransistorPeriphery | None = None) -> str:
    """The whole accelerator holding `layers` (default: `default_conductances`). With the bench: every layer's
    inputs at `bench_inputs`, the controls high, the sign columns read one per step of a DC sweep; without it the
    accelerator at rest (every external net at 0 V, an operating point)."""
    layers = layers or default_conductances(plan)
    periphery = Periphery.of(plan.architecture)
    netlist = Netlist(f"amdcgan accelerator {net(plan.architecture.name)}: {len(plan.tiles())} tiles. Layer inputs "
                      f"(nets *_x_*) are row voltages from the line buffers and DACs; column outputs *_s_*, after the "
                      f"folded stages *_y_*; the controller drives ctl and the sign columns (*_sc_*)")
    sign_columns: list[str] = []
    inputs: dict[str, list[str]] = {}
    defined: set[str] = set()
    for layer in plan.layers():
        sign_columns += add_layer(netlist, layer, layers[f"{layer.network}.{layer.name}"], periphery, defined,
                                  transistors)
        inputs[_layer_prefix(layer)] = layer_inputs(layer)[:layer.weight_rows - (1 if layer.bias else 0)]
    if bench:
        netlist.add("* test bench: a read of every layer")
        bench_controls(netlist, periphery)
        for names in inputs.values():
            bench_sources(netlist, names, bench_inputs(len(names), periphery))
        drive_sign_columns(netlist, sign_columns, periphery)
        netlist.printed = [f"v({name})" for layer in plan.layers() for name in layer_outputs_nets(layer)]
    else:
        netlist.add("* the accelerator at rest: inputs, sign columns and controls at 0 V (replace these sources to "
                    "drive it, or write the netlist with --bench)")
        idle = [name for names in inputs.values() for name in names] + sign_columns + ["sel", "ctl"]
        netlist.add(*(f"v{name} {name} 0 0" for name in idle))
    if transistors is not None:
        netlist.add(*transistors.definitions())
    return netlist.text()


def tile_netlist(plan: TilePlan, tile_id: str, layers: dict[str, Conductances] | None = None,
                 transistors: TransistorPeriphery | None = None) -> str:
    """One tile holding its devices of `layers`, with a test bench: rows at `bench_inputs` (the bias row at V_r)."""
    layer, tile = find_tile(plan, tile_id)
    layers = layers or default_conductances(plan)
    periphery = Periphery.of(plan.architecture)
    volts = bench_inputs(layer.weight_rows, periphery)
    if layer.bias:
        volts[-1] = periphery.v_read
    conductances = layers[f"{layer.network}.{layer.name}"].block(tile.rows, tile.columns)
    netlist, _ = tile_bench(f"amdcgan tile {net(tile_id)}: {tile.n_rows}x{tile.physical_columns} "
                            f"{layer.encoding.value}, {layer.readout.value}; outputs {nets_range(tile_id, tile)}",
                            conductances, layer.readout, periphery, volts[tile.rows[0]:tile.rows[1]], net(tile_id),
                            transistors)
    return netlist.text()


def nets_range(tile_id: str, tile: Tile) -> str:
    return f"{net(tile_id, 'o', 0)}..{net(tile_id, 'o', tile.n_columns - 1)}"


def find_tile(plan: TilePlan, tile_id: str) -> tuple[LayerPlan, Tile]:
    for layer in plan.layers():
        for tile in layer.tiles:
            if tile.id == tile_id:
                return layer, tile
    known = ", ".join(tile.id for tile in plan.tiles()[:6])
    raise UserError(f"no tile {tile_id!r}; tiles are named NETWORK.LAYER.INDEX, e.g. {known}, ...")


def write_accelerator_netlist(plan: TilePlan, path: str | Path, bench: bool = False,
                              layers: dict[str, Conductances] | None = None,
                              transistors: TransistorPeriphery | None = None) -> list[Path]:
    return [write_text_atomic(Path(path), accelerator_netlist(plan, layers, bench, transistors))]


def write_tile_netlist(plan: TilePlan, tile_id: str, path: str | Path,
                       layers: dict[str, Conductances] | None = None,
                       transistors: TransistorPeriphery | None = None) -> list[Path]:
    find_tile(plan, tile_id)  # fail before writing anything
    return [write_text_atomic(Path(path), tile_netlist(plan, tile_id, layers, transistors))]

