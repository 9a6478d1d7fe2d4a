"""The bare wire mesh of a crossbar in ngspice: row sources, the mesh of `hdl.netlist.crossbar_lines`, ideal column
terminations.

What `amdcgan.hdl.wires` solves, for ngspice to solve independently: each column end is a resistor to ground (load
memristor, output = column-end voltage) or a 0 V source (virtual ground, output = the current into the column end);
with mirrored pairs, each G- column ends in a 0 V source whose current a current-controlled current source draws
from the end of its G+ column, itself a resistor to ground (the differential pair's IVC input).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amdcgan.hdl.netlist import Netlist, crossbar_lines, net, number

from .runner import run_circuit


@dataclass(frozen=True)
class MeshReading:
    outputs: np.ndarray  # (outputs,) volts at a termination or amperes into a virtual ground
    source_power_w: float  # power the row sources deliver


def mesh_circuit(conductances_s: np.ndarray, inputs_v: np.ndarray, row_ohm: float, column_ohm: float,
                 termination_s: float | np.ndarray | None = None, mirrored_pairs: bool = False) -> Netlist:
    rows, columns = conductances_s.shape
    circuit = Netlist(f"amdcgan wire mesh {rows}x{columns}, row {number(row_ohm)} ohm, column {number(column_ohm)} "
                      f"ohm per cell segment")
    row_nets = [net("x", i) for i in range(rows)]
    column_nets = [net("c", k) for k in range(columns)]
    circuit.add(*(f"v{row_nets[i]} {row_nets[i]} 0 {number(v)}" for i, v in enumerate(inputs_v)))
    circuit.add(*crossbar_lines("m", row_nets, column_nets, conductances_s, row_ohm, column_ohm))
    if termination_s is None:
        circuit.add(*(f"v{column} {column} 0 0" for column in column_nets))
        outputs = [f"i(v{column})" for column in column_nets]
    else:
        ends = column_nets[0::2] if mirrored_pairs else column_nets
        loads = np.broadcast_to(np.asarray(termination_s, dtype=float), (len(ends),))
        circuit.add(*(f"r{end} {end} 0 {number(1 / g)}" for end, g in zip(ends, loads)))
        for plus, minus in zip(column_nets[0::2], column_nets[1::2]) if mirrored_pairs else ():
            circuit.add(f"v{minus} {minus} 0 0", f"f{minus} {plus} 0 v{minus} 1")
        outputs = [f"v({end})" for end in ends]
    circuit.printed = outputs + [f"i(v{row})" for row in row_nets]
    return circuit


def spice_mesh(conductances_s: np.ndarray, inputs_v: np.ndarray, row_ohm: float, column_ohm: float,
               termination_s: float | np.ndarray | None = None, mirrored_pairs: bool = False,
               timeout_s: float = 120.0) -> MeshReading:
    """The mesh's outputs and source power from ngspice's operating point."""
    circuit = mesh_circuit(conductances_s, inputs_v, row_ohm, column_ohm, termination_s, mirrored_pairs)
    vectors = run_circuit(circuit, f"wire mesh {conductances_s.shape[0]}x{conductances_s.shape[1]}", timeout_s)
    values = np.array([vectors[name][0] for name in circuit.printed])
    outputs = len(circuit.printed) - len(inputs_v)
    # A source's current is positive from its + node through it to ground, i.e. opposite to what it delivers.
    return MeshReading(values[:outputs], float(-np.dot(inputs_v, values[outputs:])))
