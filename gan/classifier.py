"""A small MNIST classifier whose penultimate features define the image-quality measure (`quality.py`).

Weights ship in `data/classifier.pt`; `scripts/train_classifier.py` regenerates them from the embedded digits.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

WEIGHTS_PATH = Path(__file__).resolve().parent / "data" / "classifier.pt"
FEATURE_DIM = 64


class DigitClassifier(nn.Module):
    """Three stride-2 convolutions (16, 32, 16 channels: 28 -> 14 -> 7 -> 4 pixels), a dense layer of 64
    features, then 10 logits.

    26,778 parameters. Striding instead of pooling keeps full-resolution feature maps out of memory, so a CPU
    scores 1,000 images in tens of milliseconds.
    """

    def __init__(self) -> None:
        super().__init__()
        self.extractor = nn.Sequential(
            nn.Conv2d(1, 16, 5, stride=2, padding=2), nn.ReLU(),  # 14x14
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),  # 7x7
            nn.Conv2d(32, 16, 3, stride=2, padding=1), nn.ReLU(),  # 4x4
            nn.Flatten(), nn.Linear(16 * 4 * 4, FEATURE_DIM), nn.ReLU(),
        )
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 1, 28, 28) images in [-1, 1] -> (N, 64) penultimate features."""
        return self.extractor(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def load_classifier(device: str = "cpu", weights_path: Path = WEIGHTS_PATH) -> DigitClassifier:
    """The shipped classifier in evaluation mode on `device`."""
    with torch.random.fork_rng(devices=[]):  # the layers' default initialisation must not move a run's random state
        model = DigitClassifier()
    model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    return model.to(device).eval()


@torch.no_grad()
def accuracy(model: DigitClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of `images` whose most likely class is the label."""
    device = next(model.parameters()).device
    predictions = model(images.to(device)).argmax(dim=1).cpu()
    return (predictions == labels).float().mean().item()
