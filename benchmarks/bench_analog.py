"""Forward + backward time of `amdcgan.analog` layers against the torch layers they replace, one run, batch 64.

Each analog layer is `from_float` of its torch layer on the default hardware (cmos180, wo2, 128 x 128 tiles, sign
crossbar); the layers are the MNIST DCGAN's and LeNet's. Torch and analog passes alternate, so machine load falls on
both alike. Prints each pair's medians and their ratio (aim: at most 1.5 on CPU).
Run: python benchmarks/bench_analog.py [--repeats N] [--device cpu|cuda] [--threads N]
(On 2 cores torch's own time for the tiny dense layers varies 2x from run to run with 2 threads; `--threads 1` gives
steady ratios.)
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch import nn

from amdcgan.analog import AnalogConv2d, AnalogConvTranspose2d, AnalogLinear

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


def timer(layer: nn.Module, x: torch.Tensor):
    def once() -> float:
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        layer(x).sum().backward()
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    once()  # warm-up
    return once


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    print(f"forward + backward, batch {BATCH}, {args.device}, median of {args.repeats}, "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'layer':40s} {'torch ms':>9s} {'analog ms':>10s} {'ratio':>6s}")
    ratios = []
    for name, (build, shape) in LAYERS.items():
        reference = build().to(device)
        analog = ANALOG[type(reference)].from_float(reference)
        x = (torch.rand(BATCH, *shape, device=device) * 2 - 1).requires_grad_()  # the input gradient too
        steps = timer(reference, x), timer(analog, x)
        times: tuple[list[float], list[float]] = ([], [])
        for _ in range(args.repeats):
            for index, step in enumerate(steps):
                times[index].append(step())
        torch_s, analog_s = median(times[0]), median(times[1])
        ratios.append(analog_s / torch_s)
        print(f"{name:40s} {torch_s * 1e3:9.2f} {analog_s * 1e3:10.2f} {ratios[-1]:6.2f}")
    worst = max(ratios)
    print(f"worst ratio {worst:.2f}: {'within' if worst <= 1.5 else 'above'} the 1.5x goal")


if __name__ == "__main__":
    main()
