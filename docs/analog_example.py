"""A small CNN of your own on memristive crossbars: converted, trained in situ on MNIST digits (is it 5 or above?),
its write pulses counted and its chip estimated.

Run: python docs/analog_example.py [--steps N] [--device-preset NAME]   (about 10 s on 2 CPU cores)

1. `convert` turns the CNN's convolutions and dense layer into crossbar tiles (hdl's electrical model of each tile:
   devices with 64 levels and 10 % variability, load-memristor and OpAmp readouts, row drivers, the supply rails) and
   its ReLUs into the ReLU circuit; the average pooling is the averager's exact mean.
2. `AnalogOptimizer` writes every Adam step to the devices as counted write pulses (in-situ training).
3. `write_statistics` gives the pulses per layer as `amdcgan train` reports them; the same model, imported as an
   architecture file (the CNN as the Discriminator, the Generator from examples/small_system.yaml), gets an
   `amdcgan.estimators` estimate of area, power and the training time and energy of the pulses just written.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from amdcgan.analog import AnalogOptimizer, convert, write_statistics
from amdcgan.estimators import estimate
from amdcgan.gan.data import load_mnist
from amdcgan.gan.importer import import_architecture
from amdcgan.hdl.loader import load_architecture

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "examples" / "small_system.yaml"


class SmallCNN(nn.Module):
    """A user's own binary classifier, written the usual way: one logit, so that it can also stand as a GAN's
    Discriminator in an architecture file."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
                                      nn.Conv2d(8, 16, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2))
        self.classifier = nn.Linear(16 * 7 * 7, 1)
        self.input_shape = (1, 28, 28)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1)).squeeze(1)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return float(((model(images) > 0) == labels).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device-preset", default="wo2", help="a shipped device (amdcgan devices)")
    args = parser.parse_args()
    torch.manual_seed(0)
    hardware = {"device": {"base": args.device_preset, "levels": 64, "variability_sigma": 0.1},
                "tiles": {"max_rows": 128, "max_columns": 128}}
    model = SmallCNN()
    analog, report = convert(model, hardware)  # digits in [-1, 1]: within +-V_r, the default input bound
    print(report)

    images, digits = load_mnist(limit=64 * args.steps + 512, seed=0)  # the embedded digits, pixels in [-1, 1]
    labels = (digits >= 5).float()
    test_images, test_labels = images[:512], labels[:512]
    print(f"accuracy before training: {accuracy(analog, test_images, test_labels):.2f}")
    optimiser = AnalogOptimizer(torch.optim.Adam(analog.parameters(), lr=1e-2), analog)
    for step in range(args.steps):
        batch = slice(512 + 64 * step, 512 + 64 * (step + 1))
        loss = F.binary_cross_entropy_with_logits(analog(images[batch]), labels[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()  # Adam's update, written to the devices as pulses
        if step % 10 == 0 or step == args.steps - 1:
            print(f"step {step:3d}: loss {loss.item():.3f}")
    print(f"accuracy after {args.steps} in-situ steps: {accuracy(analog, test_images, test_labels):.2f}")

    statistics = write_statistics(analog)
    print("write pulses per layer:")
    for name, layer in statistics["networks"]["model"]["layers"].items():
        crossbar = layer["crossbar"]
        print(f"  {name:12s} {crossbar['devices']:6d} devices, {crossbar['total_pulses']:8d} pulses, "
              f"at most {crossbar['max_pulses_per_device']} per device, {crossbar['write_energy_j']:.3g} J")

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "small_cnn.yaml"
        import_architecture(path, discriminator=model, base=BASE)
        architecture = load_architecture(path).model_copy(update={"device": analog_device(analog)})
    result = estimate(architecture, run_stats=statistics["run_statistics"])
    headline = result["headline"]
    print(f"estimate of a whole GAN chip ({architecture.name}: the CNN as its Discriminator, the Generator of "
          f"small_system.yaml): "
          f"chip {headline['area_floorplan_chip_mm2']:.3f} mm^2, power {headline['power_all_on_w']:.3g} W all on, "
          f"{headline['power_duty_cycled_w']:.3g} W duty-cycled")
    run = result["training"]["run"]
    print(f"training time of these {run['stats']['total_write_pulses']:.0f} pulses on that chip, by update scheme:")
    for row in run["rows"]:
        times = ", ".join(f"{seconds:.3g} s at {float(width):.0e} s pulses" for width, seconds in row["time_s"].items())
        print(f"  {row['name']}: {times}; {row['power_min_w']:.3g}-{row['power_max_w']:.3g} W")


def analog_device(analog: nn.Module):
    """The device the converted model's crossbars use (the estimate should price the same one)."""
    from amdcgan.analog import analog_layers

    return next(iter(analog_layers(analog).values())).devices.model.device


if __name__ == "__main__":
    main()
