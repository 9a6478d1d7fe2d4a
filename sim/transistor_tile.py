"""A tile with transistor-level periphery on sky130, in ngspice, against hdl's tile model given the circuits'
separately measured transfers.

The tile is a sign crossbar read column by column: each column's rows carry the input times that column's signs
(the sign switches, ideal here), its devices end at the sky130 IVC (`hdl.circuits.ivc`, designed for this tile's
full scale), an inverting stage (`summing_amplifier` with one input) makes a positive column current a positive
voltage, and an activation circuit (ReLU or tanh) follows. The same bench measures, on standalone instances, what
the model is given: the IVC's transfer from an ideal current source (its closed-loop gain R_f A / (1 + A) gives the
OpAmp's gain A, its zero-current output the offset), and the inverter's and the activation's DC curves. The model
is `electrical.tile_outputs` with that A and R_f, then the two measured curves. What is left per column is what the
circuits cost together beyond their separate measurements: the IVC's offset, the loading of one stage by the next,
and the summing node's movement with the column's conductance.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amdcgan.fileio import write_text_atomic
from amdcgan.hdl import circuits
from amdcgan.hdl.electrical import Cell, Periphery, encode_weights, tile_outputs
from amdcgan.hdl.loader import with_technology
from amdcgan.hdl.process import Process, load_process
from amdcgan.hdl.spec import Architecture, Readout, WeightEncoding

from .sky130 import reduced_models
from .spicebench import Analysis, Bench, run_bench

ACTIVATIONS = ("relu", "tanh")
SWEEP_STEP_V = 0.005


@dataclass
class TileCheck:
    """The ngspice and model outputs (vectors, columns) in volts at each stage, and the measured figures."""

    ivc_spice: np.ndarray
    ivc_model: np.ndarray
    out_spice: np.ndarray
    out_model: np.ndarray
    opamp_gain: float
    ivc_offset_v: float
    feedback_ohm: float
    ivc_full_scale_v: float  # R_f times the column's full-scale current: the design's output span

    def column_errors_v(self) -> np.ndarray:
        """Largest |ngspice - model| of each column's activation output over the input vectors (V)."""
        return np.abs(self.out_spice - self.out_model).max(axis=0)

    def ivc_errors_v(self) -> np.ndarray:
        return np.abs(self.ivc_spice - self.ivc_model).max(axis=0)


def _activation_circuit(process: Process, function: str) -> circuits.Subcircuit:
    if function == "relu":
        return circuits.relu(process, name="act")
    if function == "tanh":
        return circuits.tanh(process, name="act")
    raise ValueError(f"activation {function!r}: choose {' or '.join(ACTIVATIONS)}")


def tile_bench(process: Process, conductances: np.ndarray, signs: np.ndarray, inputs_v: np.ndarray, function: str,
               full_scale_a: float) -> tuple[Bench, circuits.Subcircuit]:
    """The bench: one op analysis per input vector (the row sources altered), and DC sweeps of the standalone IVC,
    inverter and activation. Returns it with the IVC circuit (its design holds R_f)."""
    ivc = circuits.ivc(process, name="ivc", i_full_scale_a=full_scale_a)
    inverter = circuits.summing_amplifier(process, name="inverter", weights=(1.0,))
    activation = _activation_circuit(process, function)
    rows, columns = conductances.shape
    lines = [ivc.text(), inverter.text(), activation.text(),
             f"vdd vdd 0 {process.vdd_v:g}", f"vss vss 0 {process.vss_v:g}"]
    for k in range(columns):
        for i in range(rows):
            lines += [f"v{k}_{i} r{k}_{i} 0 dc 0", f"rm{k}_{i} r{k}_{i} c{k} {1 / conductances[i, k]:.12g}"]
        lines += [f"xivc{k} c{k} ivc{k} vdd vss ivc", f"xinv{k} ivc{k} inv{k} vdd vss inverter",
                  f"xact{k} inv{k} act{k} vdd vss act"]
    lines += ["iin 0 m dc 0", "xivcm m ivcm vdd vss ivc",
              "vinv n 0 dc 0", "xinvm n invm vdd vss inverter",
              "vact a 0 dc 0", "xactm a actm vdd vss act"]
    bench = Bench(f"sky130 tile {rows}x{columns}, {function}", lines)
    watched = [f"v({stage}{k})" for stage in ("ivc", "act") for k in range(columns)]
    for index, vector in enumerate(inputs_v):
        alters = [f"alter v{k}_{i} dc = {signs[i, k] * vector[i]:.9g}" for k in range(columns) for i in range(rows)]
        bench.analyses[f"op{index}"] = Analysis("\n".join([*alters, "op"]), watched)
    low, high = process.vss_v, process.vdd_v + SWEEP_STEP_V / 2
    current = 1.2 * full_scale_a
    bench.analyses["ivc"] = Analysis(f"dc iin {-current:g} {current * 1.0001:g} {current / 50:g}", ["v(ivcm)"])
    bench.analyses["inverter"] = Analysis(f"dc vinv {low:g} {high:g} {SWEEP_STEP_V:g}", ["v(invm)"])
    bench.analyses["activation"] = Analysis(f"dc vact {low:g} {high:g} {SWEEP_STEP_V:g}", ["v(actm)"])
    return bench, ivc


def measured_gain(current_a: np.ndarray, v_out: np.ndarray, feedback_ohm: float) -> tuple[float, float]:
    """(A, offset): the OpAmp gain from the IVC's closed-loop slope -R_f A / (1 + A) through zero current (the
    middle of its linear range), and the output at zero current."""
    middle = np.abs(current_a) <= 0.25 * np.abs(current_a).max()
    slope, offset = np.polyfit(current_a[middle], v_out[middle], 1)
    closed = -slope
    return float(closed / (feedback_ohm - closed)), float(offset)


def check_tile(architecture: Architecture, rows: int = 16, columns: int = 4, vectors: int = 8, function: str = "relu",
               seed: int = 0, corner: str = "tt", temperature_c: float = 27.0) -> TileCheck:
    """Random sign-crossbar weights of the architecture's device and random row inputs within +-V_r, through the
    sky130 periphery in ngspice and through the model with the measured figures."""
    process = load_process("sky130")
    rng = np.random.default_rng(seed)
    cell = Cell.of(architecture.device, WeightEncoding.sign_crossbar)
    tile = encode_weights(rng.uniform(-1, 1, (rows, columns)), cell)
    v_read = architecture.read_voltage_v
    full_scale_a = rows * v_read * cell.g_on
    inputs_v = rng.uniform(-v_read, v_read, (vectors, rows))
    bench, ivc = tile_bench(process, tile.main, tile.second, inputs_v, function, full_scale_a)
    data = run_bench(bench, reduced_models(corner), temperature_c)
    feedback = ivc.design["rf_ohm"]
    gain, offset = measured_gain(data["ivc"]["scale"], data["ivc"]["v(ivcm)"], feedback)
    periphery = dataclasses.replace(Periphery.of(with_technology(architecture, "sky130", None)), opamp_gain=gain,
                                    feedback_ohm=feedback, headroom=0.0)
    # the model's IVC output is the inverted one (a positive current, a positive voltage); the circuit's IVC is not
    ivc_model = -tile_outputs(inputs_v, tile.main, tile.second, cell, Readout.opamp_ivc, periphery)
    inverter = data["inverter"]
    after_inverter = np.interp(ivc_model, inverter["scale"], inverter["v(invm)"])
    curve = data["activation"]
    out_model = np.interp(after_inverter, curve["scale"], curve["v(actm)"])
    spice = {stage: np.array([[data[f"op{index}"][f"v({stage}{k})"][0] for k in range(columns)]
                              for index in range(vectors)]) for stage in ("ivc", "act")}
    return TileCheck(spice["ivc"], ivc_model, spice["act"], out_model, gain, offset, feedback,
                     feedback * full_scale_a)


TOLERANCE_OF_FULL_SCALE = 0.01  # the stated criterion: every column within 1 % of the IVC's full-scale output


def sky130_tile_check(arch: Architecture, out_dir, quick: bool = True, seed: int = 0, progress=None) -> dict:
    """`spice --check sky130_tile`: a 16 x 4 tile (8 x 2 quick) per activation, its error per column against the
    model with the measured figures, written to sky130_tile.csv."""
    rows, columns, vectors = (8, 2, 4) if quick else (16, 4, 8)
    lines, results = ["activation,column,max_error_v,ivc_max_error_v,output_range_v"], {}
    for function in ACTIVATIONS:
        if progress:
            progress(f"sky130 tile, {function}")
        check = check_tile(arch, rows, columns, vectors, function, seed)
        full_scale_v = check.ivc_full_scale_v
        errors, ivc_errors = check.column_errors_v(), check.ivc_errors_v()
        for k in range(columns):
            span = np.ptp(check.out_spice[:, k])
            lines.append(f"{function},{k},{errors[k]:.6g},{ivc_errors[k]:.6g},{span:.6g}")
        results[function] = {"column_errors_v": errors.tolist(), "ivc_column_errors_v": ivc_errors.tolist(),
                             "column_spans_v": np.ptp(check.out_spice, axis=0).tolist(),
                             "full_scale_v": full_scale_v, "opamp_gain": check.opamp_gain,
                             "ivc_offset_v": check.ivc_offset_v, "feedback_ohm": check.feedback_ohm}
    worst = max(max(result["column_errors_v"]) / result["full_scale_v"] for result in results.values())
    path = Path(out_dir) / "sky130_tile.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "\n".join(lines) + "\n")
    return {"tile": [rows, columns], "vectors": vectors, "activations": results, "csv": str(path),
            "worst_error_of_full_scale": worst,
            "criterion": f"every column within {TOLERANCE_OF_FULL_SCALE:.0%} of the IVC's full-scale output",
            "holds": worst <= TOLERANCE_OF_FULL_SCALE}
