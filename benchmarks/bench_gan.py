"""Step time of the tile-accurate in-situ DCGAN against the same network in plain float PyTorch, one run, batch 64.

The in-situ model is configured as `amdcgan reproduce` runs it: the circuit's readouts and the activation circuits'
transfer tables (sim/data). Float and in-situ steps alternate, so machine load falls on both alike. Prints both
medians, their ratio (aim: at most 1.5 on CPU) and the estimated time of 50 epochs of 60,000 images.
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


TABLES = {name: ROOT / "sim" / "data" / f"{name}.csv" for name in ("tanh", "relu", "relu_switch")}


def stepper(architecture, mode: str, device: torch.device):
    """A function that runs one training step of `mode` and returns its time in seconds."""
    seed_everything(0)
    config = make_config(mode=mode, device=device.type, activation_tables=TABLES if mode == "insitu" else {})
    models = build_models(architecture, config, device)
    optimisers = tuple(torch.optim.Adam(network.parameters(), lr=2e-4, betas=(0.5, 0.999))
                       for network in (models.generator, models.discriminator))
    real = torch.rand(BATCH, *architecture.discriminator.input_shape, device=device) * 2 - 1
    noise = architecture.generator.input_shape[0]

    def step() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        gan_step(models, optimisers, real, noise, mode != "float")
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    step()  # warm-up
    return step


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("arch", nargs="?", default=str(ROOT / "examples" / "am_dcgan_mnist.yaml"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    architecture = load_architecture(args.arch)
    device = resolve_device(args.device)
    float_step, tile_step = stepper(architecture, "float", device), stepper(architecture, "insitu", device)
    pairs = [(float_step(), tile_step()) for _ in range(args.steps)]
    float_s, tile_s = median([pair[0] for pair in pairs]), median([pair[1] for pair in pairs])
    steps_50_epochs = 50 * 60_000 // BATCH
    print(f"{architecture.name} on {device.type}, batch {BATCH}, median of {args.steps} alternating steps each")
    print(f"float PyTorch DCGAN step:        {float_s * 1e3:8.1f} ms")
    print(f"tile-accurate in-situ step:      {tile_s * 1e3:8.1f} ms")
    print(f"ratio tile / float:              {tile_s / float_s:8.2f}  (aim <= 1.5)")
    print(f"50 epochs x 60,000 images:       float {float_s * steps_50_epochs / 3600:.1f} h, "
          f"tile {tile_s * steps_50_epochs / 3600:.1f} h ({steps_50_epochs:,} steps)")


if __name__ == "__main__":
    main()
