"""Step time of the in-situ DCGAN with wire resistance against the same run with ideal wires, one run, batch 64.

The wired run solves every tile's mesh (`electrical.wire_factors`, the batched torch ladder) after every K write
rounds (`periphery.wire_refresh_writes`); a step that refreshes costs one solve of every tile of both networks, so
the mean step over K steps is what training pays. Steps of the ideal-wire run and of each wired run alternate, so
machine load falls on all alike. Also measured: what keeping a solve for K rounds costs in accuracy, the relative
change of each layer's outputs (on one generator and discriminator pass) when the kept factors are refreshed,
the largest before any step of the run.
Run: python benchmarks/bench_gan_wires.py [ARCH] [--ohm 1.0] [--refresh 1,10,50] [--steps N] [--device cpu|cuda]
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


def with_wires(architecture, ohm: float, refresh: int):
    periphery = architecture.periphery.model_copy(update={"row_wire_ohm": ohm, "column_wire_ohm": ohm,
                                                          "wire_refresh_writes": refresh})
    return architecture.model_copy(update={"periphery": periphery})


class Trainer:
    """One in-situ run; `step()` times one training step in seconds."""

    def __init__(self, architecture, device: torch.device):
        seed_everything(0)
        config = make_config(mode="insitu", device=device.type, activation_tables=TABLES)
        self.models = build_models(architecture, config, device)
        self.optimisers = tuple(torch.optim.Adam(network.parameters(), lr=2e-4, betas=(0.5, 0.999))
                                for network in (self.models.generator, self.models.discriminator))
        self.real = torch.rand(BATCH, *architecture.discriminator.input_shape, device=device) * 2 - 1
        self.noise = architecture.generator.input_shape[0]
        self.device = device

    def step(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        gan_step(self.models, self.optimisers, self.real, self.noise, True)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    @torch.no_grad()
    def staleness(self) -> float:
        """The largest relative output change over the crossbar layers when their kept wire solve is refreshed,
        on the inputs of one generator and discriminator pass."""
        generator, discriminator = self.models.generator, self.models.discriminator
        for network in (generator, discriminator):
            network.track_reads(True)
        discriminator(generator(torch.randn(BATCH, self.noise, device=self.device)))
        stats = [layer for network in (generator, discriminator) for layer in network.read_statistics().values()]
        for network in (generator, discriminator):
            network.track_reads(False)
        return max(layer["stale_wire_output_change"] for layer in stats)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("arch", nargs="?", default=str(ROOT / "examples" / "am_dcgan_mnist.yaml"))
    parser.add_argument("--ohm", type=float, default=1.0, help="wire resistance per cell segment, rows and columns")
    parser.add_argument("--refresh", default="1,10,50", help="K values: solve the wires every K write rounds")
    parser.add_argument("--steps", type=int, default=0, help="steps per run (default: the largest K, at least 5)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    architecture = load_architecture(args.arch)
    device = resolve_device(args.device)
    refreshes = [int(value) for value in args.refresh.split(",")]
    steps = args.steps or max(5, max(refreshes))
    ideal = Trainer(architecture, device)
    wired = {k: Trainer(with_wires(architecture, args.ohm, k), device) for k in refreshes}
    ideal.step(), [trainer.step() for trainer in wired.values()]  # warm-up (and each run's first solve)
    times = {"ideal": [], **{k: [] for k in refreshes}}
    stale = {k: 0.0 for k in refreshes}
    for index in range(steps):
        times["ideal"].append(ideal.step())
        for k, trainer in wired.items():
            if k > 1:  # untimed: what the kept solve is off by before this step
                stale[k] = max(stale[k], trainer.staleness())
            times[k].append(trainer.step())
    mean = {key: sum(values) / len(values) for key, values in times.items()}
    print(f"{architecture.name} on {device.type}, batch {BATCH}, {args.ohm:g} ohm per segment, {steps} alternating "
          f"steps each, mean step (a refresh every K steps included)")
    print(f"ideal wires:                        {mean['ideal'] * 1e3:9.1f} ms")
    for k in refreshes:
        print(f"wires, solve every K = {k:<4}         {mean[k] * 1e3:9.1f} ms   ratio {mean[k] / mean['ideal']:5.2f}  "
              f"(aim <= 2)   largest stale output change {stale[k]:.2e}")


if __name__ == "__main__":
    main()
