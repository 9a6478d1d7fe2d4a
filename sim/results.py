"""How the checks write their tables and measure disagreement (shared by the checks and the activation tables)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from amdcgan.fileio import write_text_atomic


def write_csv(path: Path, header: list[str], rows: list[list[float]] | np.ndarray) -> Path:
    lines = [",".join(header)] + [",".join(f"{float(value):.9g}" for value in row) for row in rows]
    return write_text_atomic(path, "\n".join(lines) + "\n")


def relative_error(measured: np.ndarray, reference: np.ndarray) -> float:
    """Largest deviation over the largest reference magnitude (the column full scale in use)."""
    scale = float(np.max(np.abs(reference)))
    return float(np.max(np.abs(measured - reference)) / scale) if scale > 0 else float(np.max(np.abs(measured)))
