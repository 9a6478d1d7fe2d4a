"""The SPICE checks of the tiles, each a function returning its figures (and writing netlists, CSV data and plots):

- `dc_check`: tile outputs and read power in ngspice against hdl's electrical model, for the plan's tiles and a
  128 x 128 tile of both encodings and both readouts;
- `transient_check`: 100 ns input pulses through a Discriminator path (paper Fig. 4);
- `activation_check`: transfer curves of tanh and ReLU with switch (Fig. 5), as CSV tables;
- `leakage_check`: sneak-path currents in a crossbar against the noise on its unselected lines (Fig. 6);
- `variability_check`: Monte Carlo over memristor variability 0..50% along the Discriminator path (Fig. 7a-d);
- `irdrop_check`: wire resistance on rows and columns: hdl's exact wire model against ngspice where ngspice is
  tractable, and the error of ideal wires up to the architecture's tile size;
- `write_check`: the threshold-switching write model against the cell model (state change and energy per pulse, no
  change at reads).

Every random draw comes from a numpy Generator seeded by `seed` and the check's own stream, so a check gives the same
numbers twice and does not depend on which other checks ran.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from amdcgan.errors import UserError
from amdcgan.fileio import write_json_atomic
from amdcgan.hdl.electrical import (
    Cell, Conductances, Periphery, encode_weights, read_power_w, sign_read_power_w, tile_outputs,
)
from amdcgan.hdl.mapping import LayerPlan, plan_tiles
from amdcgan.hdl.netlist import Netlist, TileNets, crossbar_lines, net, number, tile_bench
from amdcgan.hdl.spec import Architecture, MeanPool, Readout, WeightEncoding

from .activations import plot_and_write_curves
from .memristor import check_write_model
from .path import PathDevices, path_circuit
from .results import relative_error, write_csv
from .runner import run_circuit
from .transistor_tile import sky130_tile_check

CHECKS = ("dc", "transient", "activations", "leakage", "variability", "irdrop", "write")
STREAMS = {name: index for index, name in enumerate(CHECKS)}
WIRE_OHMS = (0.2, 1.0)  # per cell segment: 180 nm metal 1 (~0.08 ohm/sq) over a 0.72 um pitch is ~0.2 ohm
SETTLED_V = 1e-6  # how far nodes that DC equates may differ in a solution ngspice reports as converged
Progress = Callable[[str], None] | None


def rng_for(seed: int, check: str, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, STREAMS[check], *stream])


# ---------------------------------------------------------------------------------------------------------------------
# One tile in ngspice


@dataclass(frozen=True)
class TileBench:
    """One tile holding given conductances, driven by given row voltages."""

    tile: Conductances
    inputs: np.ndarray  # (rows,) volts
    readout: Readout
    periphery: Periphery
    name: str = "tile"  # its nets' prefix: a plan's tile id gives the nets `amdcgan netlist --tile` gives

    def netlist(self) -> tuple[Netlist, TileNets]:
        cell, tile = self.tile.cell, self.tile
        return tile_bench(f"amdcgan tile {net(self.name)}: {tile.rows}x{tile.physical().shape[1]} "
                          f"{cell.encoding.value}, {self.readout.value}, wires {number(self.periphery.row_wire_ohm)} and "
                          f"{number(self.periphery.column_wire_ohm)} ohm", tile, self.readout, self.periphery,
                          self.inputs, net(self.name))

    def model_outputs(self, ideal_wires: bool = False) -> np.ndarray:
        """hdl's outputs for the tile (with the periphery's wires, or as if they were ideal)."""
        periphery = self.periphery.ideal_wires() if ideal_wires else self.periphery
        return tile_outputs(self.inputs[None], self.tile.main, self.tile.second, self.tile.cell, self.readout,
                            periphery)[0]

    def model_power_w(self) -> float:
        return float(read_power_w(self.inputs[None], self.tile.main, self.tile.second, self.tile.cell, self.readout,
                                  self.periphery)[0])

    def model_sign_power_w(self) -> float:
        if self.tile.cell.differential:
            return 0.0
        return sign_read_power_w(self.tile.second, self.tile.cell, self.periphery)


@dataclass(frozen=True)
class TileReading:
    outputs: np.ndarray  # (columns,) volts, column j from the read of column j
    power_w: float  # what the row drivers deliver to the main crossbar, averaged over the reads
    sign_power_w: float  # what the sign-column drivers deliver, averaged over the reads


def read_tile(bench: TileBench, keep: Path | None = None) -> TileReading:
    """The tile's outputs and read power from ngspice (a sign-crossbar tile: one column read per sweep step)."""
    netlist, nets = bench.netlist()
    vectors = run_circuit(netlist, f"tile {bench.name}", keep=keep)
    outputs = np.array([vectors[f"v({node})"] for node in nets.outputs])
    steps = netlist.sweep_steps or 1
    if outputs.shape[1] != steps:
        raise UserError(f"ngspice stopped early on tile {bench.name} (no convergence in its column sweep)")
    unsettled = max((float(np.max(np.abs(vectors[f"v({a})"] - vectors[f"v({b})"]))) for a, b in nets.settled),
                    default=0.0)
    if unsettled > SETTLED_V:
        raise UserError(f"ngspice did not converge on tile {bench.name}: its IVC macromodel is {unsettled:.2g} V off "
                        "its own DC solution (a high-gain OpAmp clipping in a column sweep: lower periphery."
                        "opamp_gain, or leave periphery.ivc_feedback_ohm to its default sizing, which never clips)")
    power = sum(vectors[f"v({row})"] * vectors[f"i({sense})"] for row, sense in zip(nets.rows, nets.row_senses))
    sign_power = sum((vectors[f"v({column})"] * vectors[f"i({sense})"]
                      for column, sense in zip(nets.sign_columns, nets.sign_senses)), np.zeros(steps))
    return TileReading(np.diag(outputs) if netlist.sweep_steps else outputs[:, 0], float(np.mean(power)),
                       float(np.mean(sign_power)))


def random_bench(arch: Architecture, rows: int, columns: int, encoding: WeightEncoding, readout: Readout,
                 rng: np.random.Generator, name: str, periphery: Periphery | None = None,
                 wire_ohm: float | None = None) -> TileBench:
    """Uniform random weights and row voltages within +-V_r; `wire_ohm`: wires of that resistance per cell segment
    on rows and columns (else the periphery's)."""
    periphery = periphery or Periphery.of(arch)
    if wire_ohm is not None:
        periphery = replace(periphery, row_wire_ohm=wire_ohm, column_wire_ohm=wire_ohm)
    weights = rng.uniform(-1.0, 1.0, (rows, columns))
    inputs = periphery.drive_rows(rng.uniform(-1.0, 1.0, rows), periphery.read_gain(1.0))
    tile = encode_weights(weights, Cell.of(arch.device, encoding))
    return TileBench(tile, inputs, readout, periphery, name)


# ---------------------------------------------------------------------------------------------------------------------
# DC


def dc_cases(arch: Architecture, quick: bool) -> list[tuple[str, int, int, WeightEncoding, Readout]]:
    """The first tile of every layer of the plan (cut to 32 x 32 when quick), and 128 x 128 tiles of both
    encodings and both readouts (16 x 16 when quick)."""
    cases = []
    for layer in plan_tiles(arch).layers():
        tile = layer.tiles[0]
        rows, columns = (min(tile.n_rows, 32), min(tile.n_columns, 32)) if quick else (tile.n_rows, tile.n_columns)
        cases.append((tile.id, rows, columns, layer.encoding, layer.readout))
    size = 16 if quick else 128
    for encoding in WeightEncoding:
        for readout in Readout:
            cases.append((f"square.{encoding.value}.{readout.value}", size, size, encoding, readout))
    return cases


def dc_check(arch: Architecture, out_dir: Path, quick: bool = True, seed: int = 0, progress: Progress = None) -> dict:
    """Outputs and read power of tiles in ngspice against hdl's electrical model."""
    rows_out, results = [], {}
    for index, (name, rows, columns, encoding, readout) in enumerate(dc_cases(arch, quick)):
        bench = random_bench(arch, rows, columns, encoding, readout, rng_for(seed, "dc", index), name)
        spice = read_tile(bench, keep=out_dir / "netlists" / f"dc_{net(name)}.cir")
        error = relative_error(spice.outputs, bench.model_outputs())
        power_error = abs((spice.power_w + spice.sign_power_w)
                          / (bench.model_power_w() + bench.model_sign_power_w()) - 1)
        results[name] = {"rows": rows, "columns": columns, "encoding": encoding.value, "readout": readout.value,
                         "max_relative_error": error, "power_relative_error": power_error}
        rows_out.append([index, rows, columns, error, power_error])
        _tick(progress, f"dc {name}")
    write_csv(out_dir / "dc_errors.csv", ["case", "rows", "columns", "max_relative_error", "power_relative_error"],
              rows_out)
    return {"cases": results, "max_relative_error": max(r["max_relative_error"] for r in results.values()),
            "max_power_relative_error": max(r["power_relative_error"] for r in results.values()),
            "csv": str(out_dir / "dc_errors.csv")}


def _tick(progress: Progress, label: str) -> None:
    if progress is not None:
        progress(label)


# ---------------------------------------------------------------------------------------------------------------------
# Discriminator path: transient (Fig. 4) and variability (Fig. 7)


def discriminator_layers(arch: Architecture) -> tuple[LayerPlan, LayerPlan, int]:
    """The first convolution and the dense layer of the Discriminator, and the pooling size after the convolution."""
    layers = plan_tiles(arch).network("discriminator").layers
    conv = next((layer for layer in layers if layer.type == "conv2d"), None)
    dense = next((layer for layer in layers if layer.type == "dense"), None)
    if conv is None or dense is None:
        raise UserError("the Discriminator path checks need a conv2d and a dense layer in the discriminator")
    stages = {layer.name or "": layer for layer in arch.discriminator.layers}
    pools = [stages[name].size for name in conv.stages if isinstance(stages.get(name), MeanPool)]
    return conv, dense, pools[0] if pools else 1


def nominal_path(arch: Architecture, filters: int, rng: np.random.Generator) -> tuple[PathDevices, int]:
    """Random sign-crossbar weights for the first convolution's tile and the dense column; load and averaging
    memristors at the periphery's load conductance."""
    conv, dense, pool = discriminator_layers(arch)
    rows = conv.tiles[0].n_rows
    cell = Cell.of(arch.device, WeightEncoding.sign_crossbar)
    load = Periphery.of(arch).g_load
    conv_g = encode_weights(rng.uniform(-1, 1, (rows, filters)), cell)
    dense_g = encode_weights(rng.uniform(-1, 1, (filters + 1, 1)), cell)
    devices = PathDevices(conv_g, np.full(filters, load), np.full((filters, pool * pool), load), dense_g)
    return devices, pool * pool


def path_windows(periphery: Periphery, devices: PathDevices, positions: int, steps: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Image windows (pixel values in [0, 1]) as row voltages, the bias row at V_r: `Periphery.drive_rows`."""
    rows = devices.conv.rows
    pixels = rng.uniform(0.0, 1.0, (steps, positions, rows))
    pixels[:, :, -1] = 1.0
    return periphery.drive_rows(pixels, periphery.read_gain(1.0))


def transient_check(arch: Architecture, out_dir: Path, quick: bool = True, seed: int = 0,
                    progress: Progress = None) -> dict:
    rng = rng_for(seed, "transient")
    periphery = Periphery.of(arch)
    devices, positions = nominal_path(arch, 2 if quick else 4, rng)
    steps, step_s = 8, 100e-9
    windows = path_windows(periphery, devices, positions, steps, rng)
    circuit, nodes, analysis = path_circuit("amdcgan Discriminator path: 100 ns input pulses", [devices], windows,
                                            periphery, step_s=step_s)
    vectors = run_circuit(circuit, "Discriminator path transient", keep=out_dir / "netlists" / "transient.cir",
                          analysis=analysis)
    trace = _path_traces(vectors, nodes[0], circuit.printed)
    csv_path = write_csv(out_dir / "transient.csv", list(trace), np.column_stack(list(trace.values())))
    from .plots import plot_transient

    png = plot_transient(trace, out_dir / "fig4_transient.png")
    _tick(progress, "transient")
    return {"steps": steps, "step_s": step_s, "csv": str(csv_path), "plot": str(png),
            "dense_current_peak_a": float(np.max(np.abs(trace["dense_current_a"])))}


def _path_traces(vectors: dict, nodes: dict, saved: list[str]) -> dict[str, np.ndarray]:
    inputs = [name for name in saved if name.startswith("v(w_0_")][:3]
    trace = {"time_s": vectors["scale"]}
    trace.update({f"filter_input_{n}_v": vectors[name] for n, name in enumerate(inputs)})
    trace["filter_output_v"] = vectors[f"v({nodes['conv_output'][0]})"]
    filters = len(nodes["mean_output"])
    for p in range(len(nodes["mean_input"]) // filters):
        trace[f"mean_input_{p}_v"] = vectors[f"v({nodes['mean_input'][p * filters]})"]
    trace["mean_output_v"] = vectors[f"v({nodes['mean_output'][0]})"]
    trace["dense_input_v"] = vectors[f"v({nodes['dense_input'][0]})"]
    trace["dense_current_a"] = vectors[nodes["dense_current"][0]]
    return trace


def variability_check(arch: Architecture, out_dir: Path, quick: bool = True, seed: int = 0,
                      progress: Progress = None) -> dict:
    """Monte Carlo: every memristor of the path times a device-to-device factor (`Cell.variation`, the device
    file's distribution); RMS error of each quantity against the nominal path, over its full scale (V_r for
    voltages, the current the dense IVC maps onto its swing)."""
    sigmas = np.round(np.arange(0.0, 0.51, 0.1 if quick else 0.05), 3)
    trials = 4 if quick else 20
    rng = rng_for(seed, "variability")
    periphery = Periphery.of(arch)
    nominal, positions = nominal_path(arch, 4, rng)
    windows = path_windows(periphery, nominal, positions, 1, rng)
    reference = _path_values(periphery, [nominal], windows, "nominal")[0]
    full_scale = {"conv_output": periphery.v_read, "mean_output": periphery.v_read, "dense_input": periphery.v_read,
                  "dense_current": periphery.swing()[1] / periphery.feedback(nominal.dense.rows)}
    table = []
    for index, sigma in enumerate(sigmas):
        draw = rng_for(seed, "variability", index)
        keep = out_dir / "netlists" / f"variability_{index}.cir" if index == 1 else None
        values = _path_values(periphery, [nominal.varied(float(sigma), draw) for _ in range(trials)], windows,
                              f"sigma {sigma:g}", keep)
        errors = [100 * np.sqrt(np.mean([(v[key] - reference[key]) ** 2 for v in values])) / full_scale[key]
                  for key in full_scale]
        table.append([float(sigma) * 100, *errors])
        _tick(progress, f"variability {sigma:.0%}")
    header = ["variability_percent", *(f"{key}_error_percent" for key in full_scale)]
    csv_path = write_csv(out_dir / "variability.csv", header, table)
    from .plots import plot_variability

    png = plot_variability(np.array(table), list(full_scale), out_dir / "fig7_variability.png")
    return {"sigmas": sigmas.tolist(), "trials": trials, "distribution": nominal.conv.cell.distribution,
            "table": table, "header": header, "csv": str(csv_path), "plot": str(png)}


def _path_values(periphery: Periphery, trials: list[PathDevices], windows: np.ndarray, label: str,
                 keep: Path | None = None) -> list[dict[str, np.ndarray]]:
    circuit, nodes, analysis = path_circuit(f"amdcgan Discriminator path, {label}", trials, windows, periphery)
    vectors = run_circuit(circuit, f"Discriminator path ({label})", keep=keep, analysis=analysis)

    def value(node: str) -> float:
        return float(vectors[node if node.startswith("i(") else f"v({node})"][0])

    return [{key: np.array([value(node) for node in trial[key]])
             for key in ("conv_output", "mean_output", "dense_input", "dense_current")} for trial in nodes]


# ---------------------------------------------------------------------------------------------------------------------
# Leakage (Fig. 6)


def leakage_circuit(conductances: np.ndarray, noise_v: np.ndarray | None, v_read: float) -> Netlist:
    """Reading cell (0, 0): row 0 at v_read, column 0 at a virtual ground (current sensed). Unselected lines are
    held at 0 V plus the noise `noise_v` (rows then columns), or float when `noise_v` is None."""
    rows, columns = conductances.shape
    row_nodes = [net("r", i) for i in range(rows)]
    column_nodes = [net("c", k) for k in range(columns)]
    circuit = Netlist(f"amdcgan crossbar leakage {rows}x{columns}, unselected lines "
                      f"{'floating' if noise_v is None else 'held with noise'}")
    circuit.add(f"v{row_nodes[0]} {row_nodes[0]} 0 {number(v_read)}", f"vsense {column_nodes[0]} 0 0")
    if noise_v is not None:
        lines = [*row_nodes[1:], *column_nodes[1:]]
        circuit.add(*(f"v{node} {node} 0 {number(v)}" for node, v in zip(lines, noise_v)))
    circuit.add(*crossbar_lines("m", row_nodes, column_nodes, conductances))
    return circuit


def leakage_check(arch: Architecture, out_dir: Path, quick: bool = True, seed: int = 0,
                  progress: Progress = None) -> dict:
    """Leakage = column-0 current minus the selected device's own (the current with every other line at 0 V), RMS
    over noise draws, against the noise level (RMS of the unselected lines' voltage over V_r); and the sneak
    current when they float."""
    periphery = Periphery.of(arch)
    cell = Cell.of(arch.device, WeightEncoding.differential_pair)
    sizes = (8, 16, 32) if quick else (8, 16, 32, 64)
    noise_levels = np.round(np.arange(0.0, 0.51, 0.1), 3)
    draws = 4 if quick else 16
    table, floating = [], {}
    for size_index, size in enumerate(sizes):
        rng = rng_for(seed, "leakage", size_index)
        g = cell.encode(rng.uniform(0, 1, (size, size)))[0]  # devices spread over the whole range
        selected = _sense(leakage_circuit(g, np.zeros(2 * (size - 1)), periphery.v_read), size)
        sneak = _sense(leakage_circuit(g, None, periphery.v_read), size) - selected
        floating[size] = sneak
        unit_noise = rng.standard_normal((draws, 2 * (size - 1)))
        for level in noise_levels:
            leak = [_sense(leakage_circuit(g, level * periphery.v_read * n, periphery.v_read), size) - selected
                    for n in unit_noise]
            table.append([size, level * 100, float(np.sqrt(np.mean(np.square(leak)))), sneak])
        _tick(progress, f"leakage {size}x{size}")
    header = ["size", "noise_percent_of_v_read", "rms_leakage_a", "floating_sneak_a"]
    csv_path = write_csv(out_dir / "leakage.csv", header, table)
    from .plots import plot_leakage

    png = plot_leakage(np.array(table), out_dir / "fig6_leakage.png")
    return {"table": table, "header": header, "floating_sneak_a": floating, "csv": str(csv_path), "plot": str(png)}


def _sense(circuit: Netlist, size: int) -> float:
    return float(run_circuit(circuit, f"leakage {size}x{size}")["i(vsense)"][0])


# ---------------------------------------------------------------------------------------------------------------------
# IR drop


IRDROP_TOLERANCE = 1e-3  # hdl's wire model against ngspice: the dc check's tolerance
# ngspice solves a wire mesh in 11-22 s at 64 x 64 and did not finish 128 x 128 in 130 s; a sign-crossbar bench
# solves it once per column read. The largest square tiles it checks (quick, full):
IRDROP_SPICE_SIZES = {WeightEncoding.differential_pair: (16, 64), WeightEncoding.sign_crossbar: (8, 16)}


def irdrop_sizes(arch: Architecture, quick: bool) -> tuple[int, ...]:
    """Square tiles (rows = physical columns) from 8 up to the architecture's tile rows, 128 at least."""
    largest = max(128, arch.tiles.max_rows)
    sizes = [8, 16, 32, 64, 128] if quick else [8, 16, 32, 64, 128, 256]
    return tuple(sorted({size for size in sizes if size <= largest} | {largest}))


def irdrop_check(arch: Architecture, out_dir: Path, quick: bool = True, seed: int = 0,
                 progress: Progress = None) -> dict:
    """Square tiles of both encodings and both readouts with a wire resistance per cell segment (rows and columns):
    hdl's exact wire model (`electrical.tile_outputs` with the periphery's wires) against ngspice on the same tile
    bench up to the sizes ngspice solves in reasonable time (`IRDROP_SPICE_SIZES`), and, at every size up to the
    architecture's tiles, the error the ideal-wire model makes (from ngspice where it ran, else from the wire
    model)."""
    table = []
    for size_index, size in enumerate(irdrop_sizes(arch, quick)):
        for encoding in WeightEncoding:
            columns = size // 2 if encoding is WeightEncoding.differential_pair else size
            checked = size <= IRDROP_SPICE_SIZES[encoding][0 if quick else 1]
            for readout in Readout:
                for wire in WIRE_OHMS:
                    rng = rng_for(seed, "irdrop", size_index)
                    bench = random_bench(arch, size, columns, encoding, readout, rng, f"irdrop_{size}", wire_ohm=wire)
                    start = time.perf_counter()
                    wired = bench.model_outputs()
                    model_s = time.perf_counter() - start
                    spice_error, spice_s, truth = float("nan"), float("nan"), wired
                    if checked:
                        start = time.perf_counter()
                        truth = read_tile(bench).outputs
                        spice_s = time.perf_counter() - start
                        spice_error = relative_error(wired, truth)
                    ideal_error = relative_error(bench.model_outputs(ideal_wires=True), truth)
                    table.append([size, list(WeightEncoding).index(encoding), list(Readout).index(readout), wire,
                                  ideal_error * 100, spice_error, model_s, spice_s])
        _tick(progress, f"irdrop {size}x{size}")
    header = ["size", "encoding_index", "readout_index", "wire_ohm_per_cell", "ideal_wire_error_percent",
              "wire_model_vs_ngspice_relative_error", "wire_model_s", "ngspice_s"]
    csv_path = write_csv(out_dir / "irdrop.csv", header, table)
    from .plots import plot_irdrop

    encodings, readouts = [encoding.value for encoding in WeightEncoding], [readout.value for readout in Readout]
    png = plot_irdrop(np.array(table), encodings, readouts, out_dir / "irdrop.png")
    checked = [row[5] for row in table if not np.isnan(row[5])]
    return {"table": table, "header": header, "encodings": encodings, "readouts": readouts,
            "ngspice_agreement": {"criterion": f"relative error <= {IRDROP_TOLERANCE:g}",
                                  "largest_size": max(row[0] for row in table if not np.isnan(row[5])),
                                  "max_relative_error": max(checked), "holds": max(checked) <= IRDROP_TOLERANCE},
            "csv": str(csv_path), "plot": str(png)}


# ---------------------------------------------------------------------------------------------------------------------
# Activations and the write model


def activation_check(arch: Architecture, out_dir: Path, quick: bool = True, seed: int = 0,
                     progress: Progress = None) -> dict:
    result = plot_and_write_curves(arch.technology, out_dir, points=61 if quick else 361,
                                   tanh_volts=Periphery.of(arch).tanh_volts)
    _tick(progress, "activations")
    return result


def write_check(arch: Architecture, out_dir: Path, quick: bool = True, seed: int = 0,
                progress: Progress = None) -> dict:
    cell = Cell.of(arch.device, WeightEncoding.sign_crossbar)
    result = check_write_model(cell, Periphery.of(arch).v_read, pulses=3 if quick else 10,
                               keep_dir=out_dir / "netlists")
    traces = result.pop("traces")
    # Without a rate in the device file the cell assumes one level step per pulse: then the step check is circular.
    result["switching_rate_given_in_device_file"] = arch.device.switching_rate_s_per_v > 0
    from .plots import plot_write

    result["plot"] = str(plot_write(traces, cell, out_dir / "write_pulses.png"))
    write_json_atomic(out_dir / "write_model.json", result)
    _tick(progress, "write")
    return result


CHECK_FUNCTIONS = {
    "dc": dc_check, "transient": transient_check, "activations": activation_check, "leakage": leakage_check,
    "variability": variability_check, "irdrop": irdrop_check, "write": write_check,
    "sky130_tile": sky130_tile_check,
}


def run_checks(arch: Architecture, out_dir: str | Path, checks: tuple[str, ...] = CHECKS, quick: bool = True,
               seed: int = 0, progress: Progress = None) -> dict:
    """Runs the named checks, writing netlists (`netlists/*.cir`), CSV tables and PNG plots under `out_dir`;
    returns each check's figures and file paths, also written to `spice_checks.json`."""
    unknown = [name for name in checks if name not in CHECK_FUNCTIONS]
    if unknown:
        raise UserError(f"unknown check(s) {', '.join(unknown)}: choose from {', '.join(CHECK_FUNCTIONS)}")
    out_dir = Path(out_dir)
    results = {name: CHECK_FUNCTIONS[name](arch, out_dir, quick=quick, seed=seed, progress=progress)
               for name in checks}
    write_json_atomic(out_dir / "spice_checks.json", results)
    return results
