"""Building the hardware graph and counts: time for the reference architecture, and how the cost grows.

Two families of architectures, each 1x, 10x and 100x the reference's memristors:
- "same tiles": layers widened and tile limits raised together, so the tile count stays about the same;
- "more tiles": layers widened at fixed 128x128 tiles, so the tile count grows with the memristors.
The ratios show that the cost follows the number of tiles, not of memristors. Run: python benchmarks/bench_graph.py
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import yaml

from amdcgan.hdl.floorplan import build_floorplan
from amdcgan.hdl.graph import build_graph
from amdcgan.hdl.loader import build_architecture

REFERENCE = Path(__file__).resolve().parents[1] / "examples" / "am_dcgan_mnist.yaml"


def scaled(scale: int, grow_tiles: bool) -> dict:
    """The reference with every channel count and the dense width multiplied by sqrt(scale) (weights ~ x scale)."""
    data = yaml.safe_load(REFERENCE.read_text())
    factor = math.sqrt(scale)
    widen = lambda n: max(1, round(n * factor))  # noqa: E731
    channels = widen(128)
    generator = data["generator"]["layers"]
    generator[0]["units"] = channels * 49
    generator[1]["shape"] = [channels, 7, 7]
    generator[4]["filters"] = widen(64)
    discriminator = data["discriminator"]["layers"]
    discriminator[0]["filters"] = widen(64)
    discriminator[4]["filters"] = channels
    if not grow_tiles:
        limit = min(65536, round(128 * factor))
        data["tiles"] = {"max_rows": limit, "max_columns": limit}
    return data


def timed(data: dict, repeats: int = 3) -> tuple[float, int, int]:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        arch = build_architecture(data, "bench")
        graph = build_graph(arch)
        graph.summary()
        build_floorplan(graph.plan)
        best = min(best, time.perf_counter() - start)
    total = graph.counts()
    return best, total.tiles, total.total_memristors


def main() -> None:
    base_time, base_tiles, base_devices = timed(yaml.safe_load(REFERENCE.read_text()))
    print(f"reference: {base_time * 1e3:.1f} ms for graph + counts + floorplan "
          f"({base_tiles} tiles, {base_devices:,} memristors)")
    print(f"{'family':<11}{'scale':>6}{'tiles':>8}{'memristors':>14}{'time ms':>10}{'time ratio':>12}"
          f"{'tile ratio':>12}{'device ratio':>14}")
    for grow_tiles in (False, True):
        family = "more tiles" if grow_tiles else "same tiles"
        for scale in (1, 10, 100):
            seconds, tiles, devices = timed(scaled(scale, grow_tiles), repeats=1 if scale == 100 else 3)
            print(f"{family:<11}{scale:>6}{tiles:>8}{devices:>14,}{seconds * 1e3:>10.1f}"
                  f"{seconds / base_time:>12.2f}{tiles / base_tiles:>12.2f}{devices / base_devices:>14.2f}")


if __name__ == "__main__":
    main()
