"""A signal path through the Discriminator (paper Figs. 3, 4 and 7): convolution tile -> ReLU -> mean-pooling
averager -> dropout switch -> dense-layer row (sign switch) -> dense column current through the OpAmp IVC.

The hardware reads one convolution window per cycle and holds the pooled positions on the averager's inputs; the
bench reads the `pool * pool` windows of one pooling group at once with one crossbar copy per window holding the
same conductances. With ideal row drivers and wires the columns of a crossbar do not interact, so each filter is a
column of its own fed by its sign-switched inputs (the sign read itself is checked by the tile DC check).
Several independent trials (Monte Carlo draws) can share one netlist, each under its own prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from amdcgan.hdl.electrical import Conductances, Periphery
from amdcgan.hdl.netlist import Netlist, crossbar_lines, ivc_lines, net, number, stage_lines


@dataclass(frozen=True)
class PathDevices:
    """The conductances one trial uses (variability drawn into them)."""

    conv: Conductances  # (window rows, filters), sign crossbar
    load_s: np.ndarray  # (filters,) load memristors
    averaging_s: np.ndarray  # (filters, pool * pool) averaging memristors
    dense: Conductances  # (filters + 1 bias row, 1), sign crossbar

    def varied(self, sigma: float, rng: np.random.Generator) -> "PathDevices":
        """Every memristor times a device-to-device factor of the device's distribution with spread sigma."""
        cell = replace(self.conv.cell, variability=sigma)

        def vary(values: np.ndarray) -> np.ndarray:
            return values * cell.variation(rng.standard_normal(values.shape))

        return PathDevices(self.conv.with_variability(rng, sigma), vary(self.load_s), vary(self.averaging_s),
                           self.dense.with_variability(rng, sigma))


def path_nodes(prefix: str, filters: int, positions: int) -> dict[str, list[str]]:
    """Node names of what Figs. 4 and 7 show, per trial prefix."""
    return {
        "conv_output": [net(prefix, "cy", p, k) for p in range(positions) for k in range(filters)],
        "mean_input": [net(prefix, "relu", p, k) for p in range(positions) for k in range(filters)],
        "mean_output": [net(prefix, "avg", k) for k in range(filters)],
        "dense_input": [net(prefix, "dx", k) for k in range(filters)],
    }


def _signed_rows(prefix: str, signs: np.ndarray, sources: list[str]) -> list[str]:
    """The sign switches of one column, set by the signs that column holds."""
    return [f"b{net(prefix, i)} {net(prefix, i)} 0 v = {number(sign)}*v({source})"
            for i, (sign, source) in enumerate(zip(signs, sources))]


def add_path(circuit: Netlist, prefix: str, devices: PathDevices, windows: list[str],
             periphery: Periphery) -> dict[str, list[str]]:
    """One path's instances; `windows` are the (positions x rows) input nets, row-major. Returns node names and
    the current vector of the dense column."""
    conv = devices.conv
    rows, filters = conv.main.shape
    positions = len(windows) // rows
    nodes = path_nodes(prefix, filters, positions)
    for p in range(positions):
        for k in range(filters):
            signed = net(prefix, "xs", p, k)
            circuit.add(*_signed_rows(signed, conv.second[:, k], windows[p * rows:(p + 1) * rows]))
            column = nodes["conv_output"][p * filters + k]
            circuit.add(*crossbar_lines(net(prefix, "m", p, k), [net(signed, i) for i in range(rows)], [column],
                                        conv.main[:, k:k + 1]))
            circuit.add(f"r{net(prefix, 'load', p, k)} {column} 0 {number(1 / devices.load_s[k])}")
            circuit.add(*stage_lines("relu", column, nodes["mean_input"][p * filters + k], periphery))
    for k in range(filters):
        summing = net(prefix, "avs", k)
        circuit.add(*(f"r{net(prefix, 'av', k, p)} {nodes['mean_input'][p * filters + k]} {summing} "
                      f"{number(1 / devices.averaging_s[k, p])}" for p in range(positions)))
        circuit.add(*stage_lines("averager", summing, nodes["mean_output"][k], periphery))
        circuit.add(*stage_lines("dropout_switch", nodes["mean_output"][k], nodes["dense_input"][k], periphery))
    dense = devices.dense
    signed = net(prefix, "ds")
    circuit.add(*_signed_rows(signed, dense.second[:, 0], [*nodes["dense_input"], "vbias"]))
    column, summing = net(prefix, "dc"), net(prefix, "dsn")
    circuit.add(*crossbar_lines(net(prefix, "d"), [net(signed, i) for i in range(dense.rows)], [column], dense.main))
    circuit.add(f"v{net(prefix, 'dcs')} {column} {summing} 0")
    circuit.add(*ivc_lines(net(prefix, "divc"), summing, net(prefix, "dy"), periphery.feedback(dense.rows), periphery))
    nodes["dense_current"] = [f"i(v{net(prefix, 'dcs')})"]
    return nodes


def path_circuit(title: str, trials: list[PathDevices], windows: np.ndarray, periphery: Periphery,
                 step_s: float | None = None) -> tuple[Netlist, list[dict], str]:
    """Trials side by side fed by the same windows (steps, positions, rows) in volts: one step gives an operating
    point; with `step_s`, a transient in which each step's windows are held for step_s (100 ns pulses in Fig. 4).
    Returns the netlist, each trial's nodes and the analysis."""
    circuit = Netlist(title)
    circuit.add(f"vctl ctl 0 {number(periphery.vdd)}", f"vbias vbias 0 {number(periphery.v_read)}")
    steps, positions, rows = windows.shape
    names = [net("w", p, i) for p in range(positions) for i in range(rows)]
    flat = windows.reshape(steps, -1)
    if step_s is None:
        circuit.add(*(f"v{name} {name} 0 {number(value)}" for name, value in zip(names, flat[0])))
        analysis = ".op"
    else:
        circuit.add(*(f"v{name} {name} 0 pwl({_pwl(flat[:, n], step_s)})" for n, name in enumerate(names)))
        analysis = f".tran {number(step_s / 100)} {number(steps * step_s)} 0 {number(step_s / 100)}"
    nodes = [add_path(circuit, net("t", n), devices, names, periphery) for n, devices in enumerate(trials)]
    circuit.printed = [node if node.startswith("i(") else f"v({node})"
                       for trial in nodes for group in trial.values() for node in group]
    circuit.printed += [f"v({name})" for name in names[:rows]]
    return circuit, nodes, analysis


EDGE_FRACTION = 0.01  # the input pulses' edges, as a fraction of a step


def _pwl(values: np.ndarray, step_s: float) -> str:
    """Pulses held for step_s each, with edges of `EDGE_FRACTION` of a step."""
    edge = step_s * EDGE_FRACTION
    points = []
    for n, value in enumerate(values):
        points += [(n * step_s + (edge if n else 0.0), value), ((n + 1) * step_s, value)]
    return " ".join(f"{number(t)} {number(v)}" for t, v in points)
