"""Layout at scale: the whole reference accelerator as a hierarchical GDS, against a flat crossbar.

Run: python benchmarks/bench_layout.py. Prints times and sizes measured in this one run, and their ratios.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from amdcgan.hdl.floorplan import build_floorplan
from amdcgan.hdl.loader import load_architecture
from amdcgan.hdl.mapping import plan_tiles
from amdcgan.layout import cells
from amdcgan.layout.chip import build_chip, write_gds
from amdcgan.layout.design_rules import drc
from amdcgan.layout.measure import placements
from amdcgan.layout.names import MEMRISTOR_CELLS
from amdcgan.layout.pdk import activate_pdk

ROOT = Path(__file__).resolve().parents[1]
FLAT_SIZE = 128


def timed(action):
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def main() -> None:
    arch = load_architecture(ROOT / "examples" / "am_dcgan_mnist.yaml")
    floorplan = build_floorplan(plan_tiles(arch))
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        chip, build_s = timed(lambda: build_chip(arch, floorplan))
        chip_gds, write_s = timed(lambda: write_gds(chip, folder / "chip.gds", arch.technology, arch.name))
        placed = placements(chip_gds)
        memristors = sum(n for name, n in placed.items() if name in MEMRISTOR_CELLS)
        violations, drc_s = timed(lambda: drc(chip_gds, arch.technology))
        chip_bytes = chip_gds.stat().st_size
        print(f"reference chip: {len(floorplan.tiles)} tiles, {memristors:,} memristors")
        print(f"  hierarchical GDS: build {build_s:.2f} s + write {write_s:.2f} s, {chip_bytes / 1e6:.3f} MB; "
              f"rule check {drc_s:.2f} s, {len(violations)} violations")

        activate_pdk(arch.technology)
        array = cells.crossbar(rows=FLAT_SIZE, columns=FLAT_SIZE)
        hier_gds, hier_s = timed(lambda: write_gds(array, folder / "array.gds", arch.technology, "array"))
        flat = array.dup()
        flat.flatten()
        flat_gds, flat_s = timed(lambda: write_gds(flat, folder / "flat.gds", arch.technology, "flat"))
        hier_bytes, flat_bytes = hier_gds.stat().st_size, flat_gds.stat().st_size
        print(f"{FLAT_SIZE}x{FLAT_SIZE} crossbar ({FLAT_SIZE * FLAT_SIZE:,} junctions):")
        print(f"  flat GDS: write {flat_s:.3f} s, {flat_bytes / 1e6:.3f} MB; "
              f"hierarchical: write {hier_s:.3f} s, {hier_bytes / 1e6:.4f} MB")
        print(f"  bytes per memristor: flat {flat_bytes / FLAT_SIZE**2:.1f}, "
              f"whole hierarchical chip {chip_bytes / memristors:.3f} "
              f"(ratio {flat_bytes / FLAT_SIZE**2 / (chip_bytes / memristors):,.0f}x)")
        print(f"  the flat array's bytes per memristor at the chip's {memristors:,} memristors would make "
              f"{flat_bytes / FLAT_SIZE**2 * memristors / 1e6:,.0f} MB")


if __name__ == "__main__":
    main()
