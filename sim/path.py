"""A signal path through the Discriminator (paper Figs. 3, 4 and 7): convolution tile -> ReLU -> mean-pooling
averager -> dropout switch -> dense-layer row (sign switch) -> dense column current through the OpAmp IVC.

The hardware reads one convolution window per cycle and holds the pooled positions on the averager's inputs; the
bench reads the `pool * pool` windows of one pooling group at once with one crossbar copy per window holding the
same conductances. With ideal row drivers and wires the columns of a crossbar do not interact, so each filter is a
column of its own fed by its sign-switched inputs (the sign read itself is checked by the tile DC check).
Several independent trials (Monte Carlo draws) can share one netlist, each under its own prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amdcgan.hdl.netlist import net
from amdcgan.hdl.spec import Memristor, Technology

from .encoding import Periphery, TileConductances
from .netlist import Circuit, add_crossbar, add_ivc, number


@dataclass(frozen=True)
class PathDevices:
    """The conductances one trial uses (variability drawn into them)."""

    conv: TileConductances  # (window rows, filters), sign crossbar
    load_s: np.ndarray  # (filters,) load memristors
    averaging_s: np.ndarray  # (filters, pool * pool) averaging memristors
    dense: TileConductances  # (filters + 1 bias row, 1), sign crossbar

    def varied(self, sigma: float, rng: np.random.Generator) -> "PathDevices":
        def vary(values: np.ndarray) -> np.ndarray:
            return values * np.clip(1.0 + sigma * rng.standard_normal(values.shape), 0.01, None)

        return PathDevices(self.conv.with_variability(sigma, rng), vary(self.load_s), vary(self.averaging_s),
                           self.dense.with_variability(sigma, rng))


def path_nodes(prefix: str, filters: int, positions: int) -> dict[str, list[str]]:
    """Node names of what Figs. 4 and 7 show, per trial prefix."""
    return {
        "conv_output": [net(prefix, "cy", p, k) for p in range(positions) for k in range(filters)],
        "mean_input": [net(prefix, "relu", p, k) for p in range(positions) for k in range(filters)],
        "mean_output": [net(prefix, "avg", k) for k in range(filters)],
        "dense_input": [net(prefix, "dx", k) for k in range(filters)],
    }


def add_path(circuit: Circuit, prefix: str, devices: PathDevices, windows: list[str], device: Memristor,
             technology: Technology, periphery: Periphery) -> dict[str, list[str]]:
    """One path's instances; `windows` are the (positions x rows) input nets, row-major. Returns node names and
    the current vector of the dense column."""
    conv = devices.conv
    rows, filters = conv.crossbar.shape
    positions = len(windows) // rows
    nodes = path_nodes(prefix, filters, positions)
    vdd = number(technology.vdd_v)
    for p in range(positions):
        for k in range(filters):
            signed = [net(prefix, "xs", p, k, i) for i in range(rows)]
            circuit.add(*(f"b{signed[i]} {signed[i]} 0 v = {number(conv.signs[i, k])}*v({windows[p * rows + i]})"
                          for i in range(rows)))
            column = nodes["conv_output"][p * filters + k]
            add_crossbar(circuit, net(prefix, "m", p, k), signed, [column], conv.crossbar[:, k:k + 1])
            circuit.add(f"r{net(prefix, 'load', p, k)} {column} 0 {number(1 / devices.load_s[k])}")
            relu = nodes["mean_input"][p * filters + k]
            circuit.add(f"b{relu} {relu} 0 v = max(min(v({column}), {vdd}), 0)")
    for k in range(filters):
        summing = net(prefix, "avs", k)
        circuit.add(*(f"r{net(prefix, 'av', k, p)} {nodes['mean_input'][p * filters + k]} {summing} "
                      f"{number(1 / devices.averaging_s[k, p])}" for p in range(positions)))
        average, dense_in = nodes["mean_output"][k], nodes["dense_input"][k]
        circuit.add(f"b{average} {average} 0 v = max(min(v({summing}), {vdd}), {number(technology.vss_v)})",
                    f"b{dense_in} {dense_in} 0 v = v(ctl) > {number(technology.vdd_v / 2)} ? v({average}) : 0")
    dense = devices.dense
    dense_rows = [*nodes["dense_input"], "vbias"]
    signed = [net(prefix, "ds", i) for i in range(len(dense_rows))]
    circuit.add(*(f"b{signed[i]} {signed[i]} 0 v = {number(dense.signs[i, 0])}*v({dense_rows[i]})"
                  for i in range(len(dense_rows))))
    column, summing = net(prefix, "dc"), net(prefix, "dsn")
    add_crossbar(circuit, net(prefix, "d"), signed, [column], dense.crossbar)
    circuit.add(f"v{net(prefix, 'dcs')} {column} {summing} 0")
    feedback = periphery.feedback(len(dense_rows), device, technology)
    add_ivc(circuit, net(prefix, "divc"), summing, net(prefix, "dy"), feedback, periphery, technology)
    nodes["dense_current"] = [f"i(v{net(prefix, 'dcs')})"]
    return nodes


def path_circuit(title: str, trials: list[PathDevices], windows: np.ndarray, device: Memristor,
                 technology: Technology, periphery: Periphery = Periphery(),
                 step_s: float | None = None) -> tuple[Circuit, list[dict]]:
    """Trials side by side fed by the same windows (steps, positions, rows) in volts: one step gives an operating
    point; with `step_s`, a transient in which each step's windows are held for step_s (100 ns pulses in Fig. 4)."""
    circuit = Circuit(title)
    circuit.add(f"vctl ctl 0 {number(technology.vdd_v)}", f"vbias vbias 0 {number(device.v_read_v)}")
    steps, positions, rows = windows.shape
    names = [net("w", p, i) for p in range(positions) for i in range(rows)]
    flat = windows.reshape(steps, -1)
    if step_s is None:
        circuit.add(*(f"v{name} {name} 0 {number(value)}" for name, value in zip(names, flat[0])))
        circuit.analysis = "op"
    else:
        circuit.add(*(f"v{name} {name} 0 pwl({_pwl(flat[:, n], step_s)})" for n, name in enumerate(names)))
        circuit.analysis = f"tran {number(step_s / 100)} {number(steps * step_s)} 0 {number(step_s / 100)}"
    nodes = [add_path(circuit, net("t", n), devices, names, device, technology, periphery)
             for n, devices in enumerate(trials)]
    circuit.saved = [node if node.startswith("i(") else f"v({node})"
                     for trial in nodes for group in trial.values() for node in group]
    circuit.saved += [f"v({name})" for name in names[:rows]]
    return circuit, nodes


def _pwl(values: np.ndarray, step_s: float) -> str:
    """Pulses held for step_s each, with edges of 1% of a step."""
    edge = step_s / 100
    points = []
    for n, value in enumerate(values):
        points += [(n * step_s + (edge if n else 0.0), value), ((n + 1) * step_s, value)]
    return " ".join(f"{number(t)} {number(v)}" for t, v in points)
