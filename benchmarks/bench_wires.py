"""Speed of the exact wire-mesh solves against ngspice, and the column error that ideal wires make.

One run, one CPU core (BLAS and torch held to one thread), random conductances between g_off and g_on:
1. ngspice's operating point of the mesh (one input vector) against the effective transfer T (every input vector)
   by the sparse solve and by the torch ladder, at sizes where ngspice finishes; ratio = ngspice / fast.
2. T of one 128 x 128 tile.
3. T of every tile of each layer of the reference architecture (the sparse solve tile by tile; the ladder batched
   over the tiles of one shape).
4. The column error of ideal wires against real ones: max |x T - x T_ideal| / max |x T_ideal| over random row
   voltages in [-v_read, v_read], per wire resistance (both axes) and square tile size, for both terminations.

Run: python benchmarks/bench_wires.py [--spice-sizes 16 32 64] [--skip-layers]
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from amdcgan.hdl import wires, wires_torch  # noqa: E402
from amdcgan.hdl.loader import load_architecture  # noqa: E402
from amdcgan.hdl.mapping import plan_tiles  # noqa: E402
from amdcgan.hdl.spec import Readout  # noqa: E402
from amdcgan.sim.wire_mesh import spice_mesh  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WIRE_OHM = 0.2  # per cell segment, both axes: 180 nm metal 1 over a 0.72 um pitch
TABLE_OHMS, TABLE_SIZES = (0.2, 1.0, 2.5), (32, 64, 128, 256)


def best_time(function, repeats: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def relative_error(measured: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(measured - reference)) / np.max(np.abs(reference)))


def ladder(conductances: np.ndarray, termination: float | None, dtype: torch.dtype = torch.float64,
           row_ohm: float = WIRE_OHM, column_ohm: float = WIRE_OHM) -> np.ndarray:
    return wires_torch.effective_transfer(torch.tensor(conductances, dtype=dtype), row_ohm, column_ohm,
                                          termination).double().numpy()


def against_spice(sizes: list[int], g_off: float, g_on: float, v_read: float, rng: np.random.Generator) -> None:
    print(f"1. The mesh against ngspice, {WIRE_OHM} ohm per segment. One input vector: ngspice's operating point and "
          f"the sparse solve for it.\n   T (every input vector): the sparse solve and the ladder; ngspice would need "
          f"one operating point per row, so its time for T is rows x its measured one")
    print(f"{'size':>7} {'readout':>15} {'ngspice s':>10} {'sparse s':>9} {'ratio':>7} | {'sparse T s':>10} "
          f"{'ladder T s':>10} {'ratio T':>8} | {'error vs ngspice':>16}")
    for size in sizes:
        conductances = rng.uniform(g_off, g_on, (size, size))
        inputs = rng.uniform(-v_read, v_read, size)
        for readout, termination in (("load", g_on), ("virtual ground", None)):
            start = time.perf_counter()
            spice = spice_mesh(conductances, inputs, WIRE_OHM, WIRE_OHM, termination, timeout_s=600).outputs
            spice_s = time.perf_counter() - start
            vector_s, outputs = best_time(lambda: wires.WireMesh(conductances, WIRE_OHM, WIRE_OHM,
                                                                 termination).outputs(inputs)[0])
            sparse_s, transfer = best_time(lambda: wires.effective_transfer(conductances, WIRE_OHM, WIRE_OHM,
                                                                            termination))
            ladder_s, _ = best_time(lambda: ladder(conductances, termination))
            error = max(relative_error(outputs, spice), relative_error(inputs @ transfer, spice))
            print(f"{size:>3}x{size:<3} {readout:>15} {spice_s:10.3f} {vector_s:9.4f} {spice_s / vector_s:6.0f}x | "
                  f"{sparse_s:10.4f} {ladder_s:10.4f} {size * spice_s / min(sparse_s, ladder_s):7.0f}x | "
                  f"{error:16.1e}")


def one_tile(g_off: float, g_on: float, rng: np.random.Generator) -> None:
    conductances = rng.uniform(g_off, g_on, (128, 128))
    print("\n2. T of one 128x128 tile (load termination), best of 3")
    sparse_s, reference = best_time(lambda: wires.effective_transfer(conductances, WIRE_OHM, WIRE_OHM, g_on))
    print(f"   sparse direct (scipy SuperLU)   {sparse_s:.3f} s")
    for dtype in (torch.float64, torch.float32):
        ladder_s, transfer = best_time(lambda: ladder(conductances, g_on, dtype))
        print(f"   torch ladder {str(dtype):15s}    {ladder_s:.3f} s   (against sparse: "
              f"{relative_error(transfer, reference):.1e})")
    for dtype in (torch.float64, torch.float32):
        tracked_s, _ = best_time(lambda: with_gradient(conductances, g_on, dtype))
        print(f"   torch ladder {str(dtype):15s}    {tracked_s:.3f} s   with the gradient of a loss on T (forward "
              f"and backward)")


def with_gradient(conductances: np.ndarray, termination: float, dtype: torch.dtype) -> None:
    tile = torch.tensor(conductances, dtype=dtype, requires_grad=True)
    wires_torch.effective_transfer(tile, WIRE_OHM, WIRE_OHM, termination).square().sum().backward()


def layers(architecture, rng: np.random.Generator) -> None:
    device = architecture.device
    print(f"\n3. T of every tile of each layer of {architecture.name}, {WIRE_OHM} ohm per segment")
    print(f"{'layer':>24} {'tiles':>5} {'shapes (rows x device columns)':>31} {'sparse s':>9} {'ladder f64 s':>13} "
          f"{'ladder f32 s':>13}")
    for layer in plan_tiles(architecture).layers():
        termination = device.g_on_s if layer.readout is Readout.load_memristor else None
        groups = defaultdict(list)
        for tile in layer.tiles:
            shape = (tile.n_rows, tile.n_columns * tile.devices_per_weight)
            groups[shape].append(rng.uniform(device.g_off_s, device.g_on_s, shape))
        start = time.perf_counter()
        for tiles in groups.values():
            for conductances in tiles:
                wires.effective_transfer(conductances, WIRE_OHM, WIRE_OHM, termination)
        sparse_s = time.perf_counter() - start
        ladder_s = []
        for dtype in (torch.float64, torch.float32):
            start = time.perf_counter()
            for tiles in groups.values():
                ladder(np.stack(tiles), termination, dtype)
            ladder_s.append(time.perf_counter() - start)
        shapes = ", ".join(f"{len(tiles)}x({r}x{c})" for (r, c), tiles in groups.items())
        print(f"{layer.network + '.' + layer.name:>24} {len(layer.tiles):>5} {shapes:>31} {sparse_s:9.2f} "
              f"{ladder_s[0]:13.2f} {ladder_s[1]:13.2f}")


def error_table(g_off: float, g_on: float, v_read: float, rng: np.random.Generator) -> None:
    print("\n4. Column error of ideal wires against real ones (percent), square tiles, same ohms on rows and columns")
    print(f"{'rows':>6} " + " ".join(f"{readout + ' ' + format(ohm, 'g') + ' ohm':>22}"
                                     for readout in ("load", "virtual ground") for ohm in TABLE_OHMS)
          + f" {'ladder s (f64)':>15}")
    for size in TABLE_SIZES:
        conductances = rng.uniform(g_off, g_on, (size, size))
        inputs = rng.uniform(-v_read, v_read, (256, size))
        cells, seconds = [], []
        for termination in (g_on, None):
            ideal = inputs @ wires.effective_transfer(conductances, 0.0, 0.0, termination)
            for ohm in TABLE_OHMS:
                start = time.perf_counter()
                transfer = ladder(conductances, termination, row_ohm=ohm, column_ohm=ohm)
                seconds.append(time.perf_counter() - start)
                cells.append(100 * relative_error(inputs @ transfer, ideal))
        print(f"{size:>6} " + " ".join(f"{cell:22.1f}" for cell in cells) + f" {min(seconds):15.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spice-sizes", type=int, nargs="*", default=[16, 32, 64])
    parser.add_argument("--skip-layers", action="store_true", help="leave out the reference layers (part 3)")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    architecture = load_architecture(ROOT / "examples" / "am_dcgan_mnist.yaml")
    device = architecture.device
    rng = np.random.default_rng(0)
    against_spice(arguments.spice_sizes, device.g_off_s, device.g_on_s, device.v_read_v, rng)
    one_tile(device.g_off_s, device.g_on_s, rng)
    if not arguments.skip_layers:
        layers(architecture, rng)
    error_table(device.g_off_s, device.g_on_s, device.v_read_v, rng)


if __name__ == "__main__":
    main()
