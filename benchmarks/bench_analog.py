"""Forward + backward time of `amdcgan.analog` layers against the torch layers they replace, one run, batch 64.

Each analog layer is `from_float` of its torch layer on the default hardware (cmos180, wo2, 128 x 128 tiles, sign
crossbar); the layers are the MNIST DCGAN's and LeNet's. Whole models follow, each against its `convert`ed twin
(crossbars, activation circuits, batch norm within the rails): what a user's training step pays. Torch and analog
steps alternate, so machine load falls on both alike; each then also runs as many steps in a row as fill 5 ms
("in runs": each at its own warm steady state, as a loop over one layer sees it). Prints each pair's medians and
their ratios (aim: at most 1.5 on CPU).
The analog layers run on the compiled loops and product (`amdcgan.gan.kernels`) where C and C++ compilers are at
hand; `--torch-ops` runs them on the torch ops those replace, for comparison.
Run: python benchmarks/bench_analog.py [--repeats N] [--device cpu|cuda] [--threads N] [--torch-ops]
(On 2 cores torch's own time for the tiny dense layers varies 2x from run to run with 2 threads; `--threads 1` gives
steady ratios.)
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch import nn

from amdcgan.analog import AnalogConv2d, AnalogConvTranspose2d, AnalogLinear, convert
from amdcgan.gan import kernels

BATCH = 64
ANALOG = {nn.Linear: AnalogLinear, nn.Conv2d: AnalogConv2d, nn.ConvTranspose2d: AnalogConvTranspose2d}
LAYERS = {  # name: (torch layer, input shape per sample)
    "dcgan G project  Linear(100, 6272)": (lambda: nn.Linear(100, 6272), (100,)),
    "dcgan G deconv1  ConvT(128, 64, 5, 2)": (lambda: nn.ConvTranspose2d(128, 64, 5, 2, 2, 1), (128, 7, 7)),
    "dcgan G deconv2  ConvT(64, 1, 5, 2)": (lambda: nn.ConvTranspose2d(64, 1, 5, 2, 2, 1), (64, 14, 14)),
    "dcgan D conv0    Conv(1, 64, 5)": (lambda: nn.Conv2d(1, 64, 5, padding=2), (1, 28, 28)),
    "dcgan D conv1    Conv(64, 128, 5)": (lambda: nn.Conv2d(64, 128, 5, padding=2), (64, 14, 14)),
    "dcgan D dense2   Linear(6272, 1)": (lambda: nn.Linear(6272, 1), (6272,)),
    "lenet fc1        Linear(400, 120)": (lambda: nn.Linear(400, 120), (400,)),
}


def lenet() -> nn.Module:
    features = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5),
                             nn.ReLU(), nn.AvgPool2d(2), nn.Flatten())
    return nn.Sequential(features, nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


MODELS = {  # name: (torch model, input shape per sample)
    "dcgan generator (MNIST)": (lambda: nn.Sequential(
        nn.Linear(100, 6272), nn.BatchNorm1d(6272), nn.ReLU(), nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 5, 2, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 5, 2, 2, 1), nn.Tanh()), (100,)),
    "dcgan discriminator (MNIST)": (lambda: nn.Sequential(
        nn.Conv2d(1, 64, 5, 2, 2), nn.ReLU(), nn.Conv2d(64, 128, 5, 2, 2), nn.ReLU(), nn.Flatten(),
        nn.Linear(6272, 1)), (1, 28, 28)),
    "lenet-5 (ReLU, average pooling)": (lenet, (1, 28, 28)),
    "mlp 784-256-128-10": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
                                                 nn.ReLU(), nn.Linear(128, 10)), (1, 28, 28)),
}


RUN_S = 0.005  # a back-to-back sample runs as many steps of one layer as fill this


def timer(layer: nn.Module, x: torch.Tensor):
    """A function timing `steps` forward + backward passes in a row, giving their mean time per step; and the
    number of steps that fill `RUN_S`."""
    def run(steps: int = 1) -> float:
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            layer(x).sum().backward()
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / steps

    return run, max(1, round(RUN_S / run()))  # (the first pass also warms up)


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--torch-ops", action="store_true", help="without the compiled loops")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.torch_ops:
        kernels.loops = lambda: None
    device = torch.device(args.device)
    torch.manual_seed(0)
    loops = ("torch ops only" if kernels.loops() is None else
             "compiled loops and product" if kernels.fused_product() is not None else "compiled loops")
    print(f"forward + backward, batch {BATCH}, {args.device}, median of {args.repeats}, "
          f"{torch.get_num_threads()} threads, {loops}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
          f"cores")
    ratios: tuple[list[float], list[float]] = ([], [])
    for title, pairs in (("layer", _layers()), ("model", _models())):
        print(f"{title:40s} {'torch ms':>9s} {'analog ms':>10s} {'ratio':>6s} {'in runs':>8s}")
        for name, reference, analog, x in pairs:
            torch_s, analog_s, torch_run_s, analog_run_s = _medians(reference.to(device), analog.to(device),
                                                                    x.to(device), args.repeats)
            ratios[0].append(analog_s / torch_s)
            ratios[1].append(analog_run_s / torch_run_s)
            print(f"{name:40s} {torch_s * 1e3:9.2f} {analog_s * 1e3:10.2f} {ratios[0][-1]:6.2f} "
                  f"{ratios[1][-1]:8.2f}")
    for label, values in zip(("steps in turn", "steps in runs"), ratios):
        print(f"worst ratio, {label}: {max(values):.2f}, {'within' if max(values) <= 1.5 else 'above'} the 1.5x goal")


def _input(shape: tuple[int, ...]) -> torch.Tensor:
    return (torch.rand(BATCH, *shape) * 2 - 1).requires_grad_()  # the input gradient too


def _layers():
    for name, (build, shape) in LAYERS.items():
        reference = build()
        yield name, reference, ANALOG[type(reference)].from_float(reference), _input(shape)


def _models():
    for name, (build, shape) in MODELS.items():
        reference = build().train()
        yield name, reference, convert(reference, input_shape=shape)[0], _input(shape)


def _medians(reference: nn.Module, analog: nn.Module, x: torch.Tensor, repeats: int) -> list[float]:
    """Median step times: torch and analog one step each in turn, then each in runs of its own steps (in turn)."""
    timers = timer(reference, x), timer(analog, x)
    times: list[list[float]] = [[], [], [], []]
    for first in (0, 2):
        for _ in range(repeats):
            for index, (run, steps) in enumerate(timers):
                times[first + index].append(run(steps if first else 1))
    return [median(values) for values in times]


if __name__ == "__main__":
    main()
