"""Time the whole estimate of the reference architecture (target: under a second), beside its parts.

Run: python benchmarks/bench_estimate.py [ARCH.yaml]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from amdcgan.estimators import estimate, scaling_comparison, write_estimate_report
from amdcgan.hdl.floorplan import build_floorplan
from amdcgan.hdl.graph import HardwareGraph
from amdcgan.hdl.loader import load_architecture
from amdcgan.hdl.mapping import plan_tiles

ROOT = Path(__file__).resolve().parents[1]


def best_of(function, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "examples" / "am_dcgan_mnist.yaml"
    architecture = load_architecture(path)
    plan = plan_tiles(architecture)
    parts = {
        "tile plan": lambda: plan_tiles(architecture),
        "hardware graph": lambda: HardwareGraph(plan),
        "floorplan": lambda: build_floorplan(plan),
        "estimate (area, power, Table II)": lambda: estimate(architecture),
        "scaling re-run (180 -> 45 nm)": lambda: scaling_comparison(architecture),
    }
    timings = {name: best_of(function) for name, function in parts.items()}
    with tempfile.TemporaryDirectory() as folder:  # plots and files, timed once (matplotlib's first use included)
        timings["report with plots (written once)"] = best_of(lambda: write_estimate_report(architecture, folder), 1)
    whole = timings["estimate (area, power, Table II)"]
    print(f"{architecture.name}: {len(plan.tiles())} tiles")
    for name, seconds in timings.items():
        print(f"  {name:34s} {seconds * 1e3:8.1f} ms  ({seconds / whole:5.2f} x the estimate)")
    verdict = "under" if whole < 1.0 else "OVER"
    print(f"whole estimate: {whole:.3f} s ({verdict} the 1 s target)")


if __name__ == "__main__":
    main()
