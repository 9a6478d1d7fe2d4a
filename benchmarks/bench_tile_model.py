"""Speed of the numpy tile model (hdl.electrical) against ngspice on the same 128 x 128 tile, and their disagreement.

Run: python benchmarks/bench_tile_model.py. Prints, per encoding, the time per input vector of each and the ratio.
ngspice (in process, PySpice's shared mode) reads one input vector per run (a sign-crossbar tile needs one step per
column); numpy takes a batch.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from amdcgan.hdl.electrical import tile_outputs
from amdcgan.hdl.loader import load_architecture
from amdcgan.hdl.spec import Readout, WeightEncoding
from amdcgan.sim.checks import random_bench, read_tile
from amdcgan.sim.results import relative_error

ROOT = Path(__file__).resolve().parents[1]
SIZE, BATCH = 128, 4096


def main() -> None:
    arch = load_architecture(ROOT / "examples" / "am_dcgan_mnist.yaml")
    rng = np.random.default_rng(0)
    print(f"{SIZE}x{SIZE} tile, OpAmp IVC readout; numpy batch {BATCH}")
    for encoding in WeightEncoding:
        bench = random_bench(arch, SIZE, SIZE, encoding, Readout.opamp_ivc, rng, f"bench_{encoding.value}")
        start = time.perf_counter()
        spice = read_tile(bench).outputs
        spice_s = time.perf_counter() - start
        batch = rng.uniform(-1, 1, (BATCH, SIZE)) * bench.periphery.v_read
        batch[0] = bench.inputs
        tile = bench.tile
        start = time.perf_counter()
        model = tile_outputs(batch, tile.main, tile.second, tile.cell, Readout.opamp_ivc, bench.periphery)
        numpy_s = (time.perf_counter() - start) / BATCH
        error = relative_error(spice, model[0])
        print(f"{encoding.value:18s} ngspice {spice_s * 1e3:9.1f} ms/vector   numpy {numpy_s * 1e6:7.2f} us/vector   "
              f"speed-up {spice_s / numpy_s:10.0f}x   max relative error {error:.1e}")


if __name__ == "__main__":
    main()
