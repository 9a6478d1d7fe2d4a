"""Sweep points trained together as one batched model against the same points trained one after another.

For 4 and 8 levels-sweep points of a small architecture, prints both wall times (training, per-epoch evaluation and
files included; quality scoring off) and the speed-up, in float and in-situ mode. Threads: torch's default.
Run: python benchmarks/bench_sweep_batched.py [ARCH] [--points 4,8] [--limit 512] [--batch 32]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from amdcgan.gan.batched import train_batched
from amdcgan.gan.config import make_config
from amdcgan.gan.train import run_point
from amdcgan.hdl.loader import load_architecture

ROOT = Path(__file__).resolve().parents[1]
LEVELS = (2, 4, 8, 16, 32, 64, 128, 256)


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def compare(architecture, mode: str, points: int, limit: int, batch: int) -> tuple[float, float]:
    config = make_config(mode=mode, limit=limit, batch=batch, score=False, eval_samples=16)
    configs = [config.replace(levels=LEVELS[index % len(LEVELS)], seed=index // len(LEVELS)) for index in range(points)]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        one_by_one = timed(lambda: [run_point(architecture, point, root / f"lone{index}")
                                    for index, point in enumerate(configs)])
        together = timed(lambda: train_batched(architecture, [(point, root / f"batched{index}")
                                                              for index, point in enumerate(configs)]))
    return one_by_one, together


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("arch", nargs="?", default=str(ROOT / "examples" / "small_system.yaml"))
    parser.add_argument("--points", default="4,8")
    parser.add_argument("--limit", type=int, default=512)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    architecture = load_architecture(args.arch)
    print(f"{architecture.name}, 1 epoch of {args.limit} images, batch {args.batch}; {platform.processor() or 'cpu'}"
          f" with {os.cpu_count()} cores, torch {torch.__version__} using {torch.get_num_threads()} threads")
    compare(architecture, "insitu", 2, args.batch * 2, args.batch)  # warm-up: data, kernels, first allocations
    print(f"{'mode':8} {'points':>6} {'one by one':>11} {'batched':>9} {'speed-up':>9}")
    for mode in ("float", "insitu"):
        for points in (int(item) for item in args.points.split(",")):
            one_by_one, together = compare(architecture, mode, points, args.limit, args.batch)
            print(f"{mode:8} {points:6d} {one_by_one:10.2f}s {together:8.2f}s {one_by_one / together:8.2f}x")


if __name__ == "__main__":
    main()
