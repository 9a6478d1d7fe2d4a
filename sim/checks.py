"""The SPICE checks of the tiles, each a function returning its figures (and writing netlists, CSV data and plots):

- `dc_check`: tile outputs in ngspice against the numpy tile model, for the plan's tiles and a 128 x 128 tile of
  both encodings and both readouts;
- `transient_check`: 100 ns input pulses through a Discriminator path (paper Fig. 4);
- `activation_check`: transfer curves of tanh and ReLU with switch (Fig. 5), as CSV tables;
- `leakage_check`: sneak-path currents in a crossbar against the noise on its unselected lines (Fig. 6);
- `variability_check`: Monte Carlo over memristor variability 0..50% along the Discriminator path (Fig. 7a-d);
- `irdrop_check`: wire resistance on rows and columns: error against tile size;
- `write_check`: the threshold-switching write model (pulses per level step, energy per pulse, no change at reads).

Every random draw comes from a numpy Generator seeded by `seed` and the check's own stream, so a check gives the same
numbers twice and does not depend on which other checks ran.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np

from amdcgan.errors import UserError
from amdcgan.fileio import write_json_atomic, write_text_atomic
from amdcgan.hdl.mapping import LayerPlan, plan_tiles
from amdcgan.hdl.netlist import net
from amdcgan.hdl.spec import Architecture, MeanPool, Readout, WeightEncoding

from .encoding import Periphery, encode_weights
from .memristor import check_write_model
from .netlist import Circuit, TileBench, add_crossbar, number, tile_circuit
from .path import PathDevices, path_circuit
from .runner import run_circuit
from .tile_model import tile_outputs

CHECKS = ("dc", "transient", "activations", "leakage", "variability", "irdrop", "write")
STREAMS = {name: index for index, name in enumerate(CHECKS)}
WIRE_OHMS = (0.2, 1.0)  # per cell segment: 180 nm metal 1 (~0.08 ohm/sq) over a 0.72 um pitch is ~0.2 ohm
Progress = Callable[[str], None] | None


def rng_for(seed: int, check: str, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, STREAMS[check], *stream])


def write_csv(path: Path, header: list[str], rows: list[list[float]] | np.ndarray) -> Path:
    lines = [",".join(header)] + [",".join(f"{float(value):.9g}" for value in row) for row in rows]
    return write_text_atomic(path, "\n".join(lines) + "\n")


def relative_error(measured: np.ndarray, reference: np.ndarray) -> float:
    """Largest deviation over the largest reference magnitude (the column full scale in use)."""
    scale = float(np.max(np.abs(reference)))
    return float(np.max(np.abs(measured - reference)) / scale) if scale > 0 else float(np.max(np.abs(measured)))


# ---------------------------------------------------------------------------------------------------------------------
# DC


def run_tile(bench: TileBench, keep: Path | None = None) -> np.ndarray:
    """The tile's readout outputs (columns,) from ngspice: column j's value from the step that reads column j."""
    vectors = run_circuit(tile_circuit(bench), f"tile {bench.name}", keep=keep)
    outputs = np.array([vectors[f"v({node})"] for node in bench.outputs()])
    if outputs.shape[1] != (bench.conductances.columns if bench.sequential else 1):
        raise UserError(f"ngspice stopped early on tile {bench.name} (no convergence in its column sweep)")
    return np.diag(outputs) if bench.sequential else outputs[:, 0]


def random_bench(arch: Architecture, rows: int, columns: int, encoding: WeightEncoding, readout: Readout,
                 rng: np.random.Generator, name: str, periphery: Periphery = Periphery()) -> TileBench:
    weights = rng.uniform(-1.0, 1.0, (rows, columns))
    inputs = rng.uniform(-1.0, 1.0, rows) * arch.device.v_read_v
    conductances = encode_weights(weights, encoding, arch.device)
    return TileBench(conductances, inputs, readout, arch.device, arch.technology, periphery, name=name)


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
    rows_out, results = [], {}
    for index, (name, rows, columns, encoding, readout) in enumerate(dc_cases(arch, quick)):
        bench = random_bench(arch, rows, columns, encoding, readout, rng_for(seed, "dc", index), name)
        spice = run_tile(bench, keep=out_dir / "netlists" / f"dc_{net(name)}.cir")
        model = tile_outputs(bench.inputs, bench.conductances, readout, arch.device, arch.technology)[0]
        error = relative_error(spice, model)
        results[name] = {"rows": rows, "columns": columns, "encoding": encoding.value, "readout": readout.value,
                         "max_relative_error": error}
        rows_out.append([index, rows, columns, error])
        _tick(progress, f"dc {name}")
    write_csv(out_dir / "dc_errors.csv", ["case", "rows", "columns", "max_relative_error"], rows_out)
    return {"cases": results, "max_relative_error": max(r["max_relative_error"] for r in results.values()),
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
    conv, dense, pool = discriminator_layers(arch)
    rows = conv.tiles[0].n_rows
    device = arch.device
    conv_g = encode_weights(rng.uniform(-1, 1, (rows, filters)), WeightEncoding.sign_crossbar, device)
    dense_g = encode_weights(rng.uniform(-1, 1, (filters + 1, 1)), WeightEncoding.sign_crossbar, device)
    devices = PathDevices(conv_g, np.full(filters, device.g_on_s), np.full((filters, pool * pool), device.g_on_s),
                          dense_g)
    return devices, pool * pool


def path_windows(arch: Architecture, devices: PathDevices, positions: int, steps: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Image windows (pixel values in [0, 1]) as row voltages, with the bias row at v_read."""
    rows = devices.conv.rows
    windows = rng.uniform(0.0, 1.0, (steps, positions, rows)) * arch.device.v_read_v
    windows[:, :, -1] = arch.device.v_read_v
    return windows


def transient_check(arch: Architecture, out_dir: Path, quick: bool = True, seed: int = 0,
                    progress: Progress = None) -> dict:
    rng = rng_for(seed, "transient")
    devices, positions = nominal_path(arch, 2 if quick else 4, rng)
    steps, step_s = 8, 100e-9
    windows = path_windows(arch, devices, positions, steps, rng)
    circuit, nodes = path_circuit("amdcgan Discriminator path: 100 ns input pulses", [devices], windows,
                                  arch.device, arch.technology, step_s=step_s)
    vectors = run_circuit(circuit, "Discriminator path transient", keep=out_dir / "netlists" / "transient.cir")
    trace = _path_traces(vectors, nodes[0], circuit.saved, devices.conv.rows)
    csv_path = write_csv(out_dir / "transient.csv", list(trace), np.column_stack(list(trace.values())))
    from .plots import plot_transient

    png = plot_transient(trace, out_dir / "fig4_transient.png")
    _tick(progress, "transient")
    return {"steps": steps, "step_s": step_s, "csv": str(csv_path), "plot": str(png),
            "dense_current_peak_a": float(np.max(np.abs(trace["dense_current_a"])))}


def _path_traces(vectors: dict, nodes: dict, saved: list[str], rows: int) -> dict[str, np.ndarray]:
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
    """Monte Carlo: every memristor of the path times (1 + sigma N(0,1)); RMS error of each quantity against the
    nominal path, over its full scale (v_read for voltages, all dense rows at v_read on g_on for the current)."""
    sigmas = np.round(np.arange(0.0, 0.51, 0.1 if quick else 0.05), 3)
    trials = 4 if quick else 20
    rng = rng_for(seed, "variability")
    nominal, positions = nominal_path(arch, 4, rng)
    windows = path_windows(arch, nominal, positions, 1, rng)
    reference = _path_values(arch, [nominal], windows, "nominal")[0]
    full_scale = {"conv_output": arch.device.v_read_v, "mean_output": arch.device.v_read_v,
                  "dense_input": arch.device.v_read_v,
                  "dense_current": nominal.dense.rows * arch.device.v_read_v * arch.device.g_on_s}
    table = []
    for index, sigma in enumerate(sigmas):
        draw = rng_for(seed, "variability", index)
        values = _path_values(arch, [nominal.varied(float(sigma), draw) for _ in range(trials)], windows,
                              f"sigma {sigma:g}", out_dir / "netlists" / f"variability_{index}.cir" if index == 1 else None)
        errors = [100 * np.sqrt(np.mean([(v[key] - reference[key]) ** 2 for v in values])) / full_scale[key]
                  for key in full_scale]
        table.append([float(sigma) * 100, *errors])
        _tick(progress, f"variability {sigma:.0%}")
    header = ["variability_percent", *(f"{key}_error_percent" for key in full_scale)]
    csv_path = write_csv(out_dir / "variability.csv", header, table)
    from .plots import plot_variability

    png = plot_variability(np.array(table), list(full_scale), out_dir / "fig7_variability.png")
    return {"sigmas": sigmas.tolist(), "trials": trials, "table": table, "header": header,
            "csv": str(csv_path), "plot": str(png)}


def _path_values(arch: Architecture, trials: list[PathDevices], windows: np.ndarray, label: str,
                 keep: Path | None = None) -> list[dict[str, np.ndarray]]:
    circuit, nodes = path_circuit(f"amdcgan Discriminator path, {label}", trials, windows, arch.device,
                                  arch.technology)
    vectors = run_circuit(circuit, f"Discriminator path ({label})", keep=keep)

    def value(node: str) -> float:
        return float(vectors[node if node.startswith("i(") else f"v({node})"][0])

    return [{key: np.array([value(node) for node in trial[key]])
             for key in ("conv_output", "mean_output", "dense_input", "dense_current")} for trial in nodes]


# ---------------------------------------------------------------------------------------------------------------------
# Leakage (Fig. 6)


def leakage_circuit(conductances: np.ndarray, noise_v: np.ndarray | None, v_read: float) -> Circuit:
    """Reading cell (0, 0): row 0 at v_read, column 0 at a virtual ground (current sensed). Unselected lines are
    held at 0 V plus the noise `noise_v` (rows then columns), or float when `noise_v` is None."""
    rows, columns = conductances.shape
    row_nodes = [net("r", i) for i in range(rows)]
    column_nodes = [net("c", k) for k in range(columns)]
    circuit = Circuit(f"amdcgan crossbar leakage {rows}x{columns}, unselected lines "
                      f"{'floating' if noise_v is None else 'held with noise'}")
    circuit.add(f"v{row_nodes[0]} {row_nodes[0]} 0 {number(v_read)}", f"vsense {column_nodes[0]} 0 0")
    if noise_v is not None:
        lines = [*row_nodes[1:], *column_nodes[1:]]
        circuit.add(*(f"v{node} {node} 0 {number(v)}" for node, v in zip(lines, noise_v)))
    add_crossbar(circuit, "m", row_nodes, column_nodes, conductances)
    circuit.saved = ["i(vsense)"]
    return circuit


def leakage_check(arch: Architecture, out_dir: Path, quick: bool = True, seed: int = 0,
                  progress: Progress = None) -> dict:
    """Leakage = column-0 current minus the selected device's v_read g_00, RMS over noise draws, against the noise
    level (RMS of the unselected lines' voltage over v_read); and the sneak current when they float."""
    device = arch.device
    sizes = (8, 16, 32) if quick else (8, 16, 32, 64)
    noise_levels = np.round(np.arange(0.0, 0.51, 0.1), 3)
    draws = 4 if quick else 16
    table, floating = [], {}
    for size_index, size in enumerate(sizes):
        rng = rng_for(seed, "leakage", size_index)
        g = device.g_off_s + rng.uniform(0, 1, (size, size)) * (device.g_on_s - device.g_off_s)
        selected = device.v_read_v * g[0, 0]
        sneak = _sense(leakage_circuit(g, None, device.v_read_v), size) - selected
        floating[size] = sneak
        unit_noise = rng.standard_normal((draws, 2 * (size - 1)))
        for level in noise_levels:
            leak = [_sense(leakage_circuit(g, level * device.v_read_v * n, device.v_read_v), size) - selected
                    for n in unit_noise]
            table.append([size, level * 100, float(np.sqrt(np.mean(np.square(leak)))), sneak])
        _tick(progress, f"leakage {size}x{size}")
    header = ["size", "noise_percent_of_v_read", "rms_leakage_a", "floating_sneak_a"]
    csv_path = write_csv(out_dir / "leakage.csv", header, table)
    from .plots import plot_leakage

    png = plot_leakage(np.array(table), out_dir / "fig6_leakage.png")
    return {"table": table, "header": header, "floating_sneak_a": floating, "csv": str(csv_path), "plot": str(png)}


def _sense(circuit: Circuit, size: int) -> float:
    return float(run_circuit(circuit, f"leakage {size}x{size}")["i(vsense)"][0])


# ---------------------------------------------------------------------------------------------------------------------
# IR drop


def irdrop_check(arch: Architecture, out_dir: Path, quick: bool = True, seed: int = 0,
                 progress: Progress = None) -> dict:
    """Differential-pair tiles with a wire segment resistance per cell, against the ideal-wire numpy model.
    Sizes stop at 64: ngspice's sparse reordering of the wire mesh grows steeply (a 32 x 32 mesh takes ~1 s)."""
    sizes = (8, 16, 32) if quick else (8, 16, 32, 64)
    table = []
    for size_index, size in enumerate(sizes):
        for readout in Readout:
            for wire in WIRE_OHMS:
                rng = rng_for(seed, "irdrop", size_index)
                bench = random_bench(arch, size, size, WeightEncoding.differential_pair, readout, rng,
                                     f"irdrop_{size}", Periphery(wire_ohm=wire))
                spice = run_tile(bench)
                ideal = tile_outputs(bench.inputs, bench.conductances, readout, arch.device, arch.technology)[0]
                table.append([size, wire, list(Readout).index(readout), relative_error(spice, ideal) * 100])
        _tick(progress, f"irdrop {size}x{size}")
    header = ["size", "wire_ohm_per_cell", "readout_index", "max_relative_error_percent"]
    csv_path = write_csv(out_dir / "irdrop.csv", header, table)
    from .plots import plot_irdrop

    png = plot_irdrop(np.array(table), [readout.value for readout in Readout], out_dir / "irdrop.png")
    return {"table": table, "header": header, "readouts": [readout.value for readout in Readout],
            "csv": str(csv_path), "plot": str(png)}


# ---------------------------------------------------------------------------------------------------------------------
# Activations and the write model


def activation_check(arch: Architecture, out_dir: Path, quick: bool = True, seed: int = 0,
                     progress: Progress = None) -> dict:
    from .activations import plot_and_write_curves

    result = plot_and_write_curves(arch.technology, out_dir, points=61 if quick else 361)
    _tick(progress, "activations")
    return result


def write_check(arch: Architecture, out_dir: Path, quick: bool = True, seed: int = 0,
                progress: Progress = None) -> dict:
    result = check_write_model(arch.device, pulses=3 if quick else 10, keep_dir=out_dir / "netlists")
    traces = result.pop("traces")
    from .plots import plot_write

    result["plot"] = str(plot_write(traces, arch.device, out_dir / "write_pulses.png"))
    write_json_atomic(out_dir / "write_model.json", result)
    _tick(progress, "write")
    return result


CHECK_FUNCTIONS = {
    "dc": dc_check, "transient": transient_check, "activations": activation_check, "leakage": leakage_check,
    "variability": variability_check, "irdrop": irdrop_check, "write": write_check,
}


def run_checks(arch: Architecture, out_dir: str | Path, checks: tuple[str, ...] = CHECKS, quick: bool = True,
               seed: int = 0, progress: Progress = None) -> dict:
    """Runs the named checks, writing netlists (`netlists/*.cir`), CSV tables and PNG plots under `out_dir`;
    returns each check's figures and file paths, also written to `spice_checks.json`."""
    logging.getLogger("PySpice").setLevel(logging.ERROR)
    unknown = [name for name in checks if name not in CHECK_FUNCTIONS]
    if unknown:
        raise UserError(f"unknown check(s) {', '.join(unknown)}: choose from {', '.join(CHECKS)}")
    out_dir = Path(out_dir)
    results = {name: CHECK_FUNCTIONS[name](arch, out_dir, quick=quick, seed=seed, progress=progress)
               for name in checks}
    write_json_atomic(out_dir / "spice_checks.json", results)
    return results
