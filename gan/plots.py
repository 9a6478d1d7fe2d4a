"""Figures: sample grids (the paper's Fig. 1b), one row of samples per sweep value (Figs. 7-9), quality curves."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from amdcgan.fileio import write_bytes_atomic


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def tile_images(images: torch.Tensor, columns: int, gap: int = 2) -> np.ndarray:
    """(N, 1, H, W) in [-1, 1] -> one grey image in [0, 1], `columns` digits per row, black gaps."""
    pixels = ((images.detach().cpu().float().clamp(-1, 1) + 1) / 2).numpy()[:, 0]
    count, height, width = pixels.shape
    rows = -(-count // columns)
    canvas = np.zeros((rows * (height + gap) + gap, columns * (width + gap) + gap))
    for index, digit in enumerate(pixels):
        top, left = gap + (index // columns) * (height + gap), gap + (index % columns) * (width + gap)
        canvas[top: top + height, left: left + width] = digit
    return canvas


def _save(figure, path: Path) -> Path:
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    finally:
        _pyplot().close(figure)
    return write_bytes_atomic(path, buffer.getvalue())


def save_digit_grid(images: torch.Tensor, path: Path, columns: int = 8, gap: int = 2) -> Path:
    """The digits alone: a grey PNG at one pixel per pixel, `columns` digits per row, `gap` black pixels around
    each, no title or axes, so that digit i sits at row i // columns, column i % columns of the grid."""
    from PIL import Image

    grid = tile_images(images, columns, gap)
    buffer = io.BytesIO()
    Image.fromarray(np.round(grid * 255).astype(np.uint8)).save(buffer, format="PNG")
    return write_bytes_atomic(path, buffer.getvalue())


def save_samples(images: torch.Tensor, stem: Path) -> dict[str, Path]:
    """A batch of samples (images: `data.as_images`) as its raw array (STEM.npy: N x 1 x H x W, float32 in [-1, 1])
    and its undecorated grid (STEM_grid.png)."""
    buffer = io.BytesIO()
    np.save(buffer, images.detach().cpu().float().numpy())
    return {"npy": write_bytes_atomic(stem.with_name(stem.name + ".npy"), buffer.getvalue()),
            "grid": save_digit_grid(images, stem.with_name(stem.name + "_grid.png"), columns=16)}


def load_samples(stem: Path) -> torch.Tensor:
    """The array `save_samples` wrote (plain numpy, no pickle)."""
    return torch.from_numpy(np.load(stem.with_name(stem.name + ".npy"), allow_pickle=False))


def save_sample_grid(images: torch.Tensor, path: Path, title: str, columns: int = 8) -> Path:
    """An 8x8 grid of generated digits, white on black like MNIST and the paper's Fig. 1b."""
    plt = _pyplot()
    grid = tile_images(images[: columns * columns], columns)
    figure, axes = plt.subplots(figsize=(4.2, 4.5))
    axes.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes.set_title(title, fontsize=9)
    axes.axis("off")
    return _save(figure, path)


def save_sweep_grid(rows: list[tuple[str, torch.Tensor]], path: Path, title: str, per_row: int = 10) -> Path:
    """One row of `per_row` samples per sweep value, each row labelled (the paper's Figs. 7-9); beside it
    (PATH_digits.png) the same rows undecorated."""
    save_digit_grid(torch.cat([images[:per_row] for _, images in rows]), path.with_name(path.stem + "_digits.png"),
                    per_row)
    plt = _pyplot()
    figure, axes = plt.subplots(len(rows), 1, figsize=(per_row * 0.55 + 1.8, len(rows) * 0.62 + 0.5), squeeze=False)
    for axis, (label, images) in zip(axes[:, 0], rows):
        axis.imshow(tile_images(images[:per_row], per_row), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return _save(figure, path)


def save_quality_plot(points: list[dict], parameter: str, path: Path, baseline: dict | None,
                      log_x: bool = False, title: str = "") -> Path:
    """FID (lower is better) and the number of digit classes generated against the swept parameter."""
    plt = _pyplot()
    values = [point["value"] for point in points]
    figure, (fid_axis, class_axis) = plt.subplots(1, 2, figsize=(9, 3.4))
    fid_axis.plot(values, [point["fid"] for point in points], "o-", label="memristive")
    class_axis.plot(values, [point["classes"] for point in points], "o-", label="memristive")
    if baseline:
        fid_axis.axhline(baseline["fid"], color="grey", linestyle="--", label="float DCGAN")
        class_axis.axhline(baseline["classes"], color="grey", linestyle="--", label="float DCGAN")
    for axis, label in ((fid_axis, "FID (lower is better)"), (class_axis, "digit classes generated")):
        axis.set_xlabel(parameter)
        axis.set_ylabel(label)
        if log_x:
            axis.set_xscale("log", base=2)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    class_axis.set_ylim(0, 10.5)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return _save(figure, path)


def save_learning_curves(runs: dict[str, list[dict]], path: Path, best: dict | None = None) -> Path:
    """FID and digit classes against the epoch for each run's metrics rows, `best` (a row) marked."""
    plt = _pyplot()
    figure, (fid_axis, class_axis) = plt.subplots(1, 2, figsize=(9, 3.4))
    for label, rows in runs.items():
        scored = [row for row in rows if "fid" in row]
        epochs = [row["epoch"] for row in scored]
        fid_axis.plot(epochs, [row["fid"] for row in scored], "o-", label=label)
        class_axis.plot(epochs, [row["classes"] for row in scored], "o-", label=label)
    if best:
        fid_axis.plot([best["epoch"]], [best["fid"]], "r*", markersize=12, label=f"best: epoch {best['epoch']}")
    from matplotlib.ticker import MaxNLocator

    for axis, label in ((fid_axis, "FID (lower is better)"), (class_axis, "digit classes generated")):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fid_axis.set_yscale("log")
    class_axis.set_ylim(0, 10.5)
    figure.tight_layout()
    return _save(figure, path)
