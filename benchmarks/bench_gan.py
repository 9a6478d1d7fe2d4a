"""Step time of the tile-accurate in-situ DCGAN against the same network in plain float PyTorch, one run, batch 64.

Prints both times, their ratio (aim: at most 1.5 on CPU) and the estimated time of 50 epochs of 60,000 images.
Run: python benchmarks/bench_gan.py [ARCH] [--device cpu|cuda] [--steps N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from amdcgan.gan.config import make_config
from amdcgan.gan.train import build_models, gan_step, resolve_device, seed_everything
from amdcgan.hdl.loader import load_architecture

ROOT = Path(__file__).resolve().parents[1]
BATCH = 64


def step_time(architecture, mode: str, device: torch.device, steps: int) -> float:
    seed_everything(0)
    config = make_config(mode=mode, device=device.type)
    models = build_models(architecture, config, device)
    optimisers = tuple(torch.optim.Adam(network.parameters(), lr=2e-4, betas=(0.5, 0.999))
                       for network in (models.generator, models.discriminator))
    real = torch.rand(BATCH, *architecture.discriminator.input_shape, device=device) * 2 - 1
    noise = architecture.generator.input_shape[0]
    gan_step(models, optimisers, real, noise, mode == "insitu")  # warm-up
    times = []
    for _ in range(steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        gan_step(models, optimisers, real, noise, mode == "insitu")
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("arch", nargs="?", default=str(ROOT / "examples" / "am_dcgan_mnist.yaml"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    architecture = load_architecture(args.arch)
    device = resolve_device(args.device)
    float_s = step_time(architecture, "float", device, args.steps)
    tile_s = step_time(architecture, "insitu", device, args.steps)
    steps_50_epochs = 50 * 60_000 // BATCH
    print(f"{architecture.name} on {device.type}, batch {BATCH}, median of {args.steps} steps")
    print(f"float PyTorch DCGAN step:        {float_s * 1e3:8.1f} ms")
    print(f"tile-accurate in-situ step:      {tile_s * 1e3:8.1f} ms")
    print(f"ratio tile / float:              {tile_s / float_s:8.2f}  (aim <= 1.5)")
    print(f"50 epochs x 60,000 images:       float {float_s * steps_50_epochs / 3600:.1f} h, "
          f"tile {tile_s * steps_50_epochs / 3600:.1f} h ({steps_50_epochs:,} steps)")


if __name__ == "__main__":
    main()
