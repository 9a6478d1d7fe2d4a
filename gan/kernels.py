"""Compiled loops for the analog layers' per-element work on the CPU (`kernels.c`), called through ctypes.

Each replaces a chain of small torch ops whose dispatch and temporaries cost more than their arithmetic: on a small
dense layer they are most of what the analog layer pays over torch's own. The library is built on first use with the
system's C compiler (`$CC`, else `cc`) into the cache folder (`$AMDCGAN_CACHE/kernels`, default
`~/.cache/amdcgan/kernels`), one file per source, compiler and flags, and loaded from there after. Without a
compiler, where the build fails (one warning), with AMDCGAN_KERNELS=0, or for tensors the loops do not take (not on
the CPU, not float32 or float64, not contiguous), the callers take their torch paths, which give the same results
within rounding.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import torch

from amdcgan.errors import UserError
from amdcgan.fileio import cache_root, staged_file

SOURCE = Path(__file__).with_name("kernels.c")
FLAGS = ("-O3", "-shared", "-fPIC")
_POINTER, _INDEX = ctypes.c_void_p, ctypes.c_int64
_VALUE = {torch.float32: ctypes.c_float, torch.float64: ctypes.c_double}
_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}


@dataclasses.dataclass(frozen=True)
class _Loops:
    """The library's functions by dtype."""

    strictly_within: dict[torch.dtype, ctypes._CFuncPtr]
    sign_crossbar_gradient: dict[torch.dtype, ctypes._CFuncPtr]


@functools.cache
def loops() -> _Loops | None:
    """The compiled loops, built on first use; None where they cannot be had (the torch paths serve)."""
    if os.environ.get("AMDCGAN_KERNELS", "1") == "0":
        return None
    compiler = shutil.which(os.environ.get("CC") or "cc")
    if compiler is None:
        return None
    key = hashlib.sha256(b"\0".join([SOURCE.read_bytes(), compiler.encode(), " ".join(FLAGS).encode(),
                                     platform.machine().encode()])).hexdigest()[:16]
    path = cache_root() / "kernels" / f"kernels-{key}.so"
    try:
        if not path.exists():
            _build(compiler, path)
        library = ctypes.CDLL(str(path))
    except (OSError, subprocess.SubprocessError, UserError) as error:
        warnings.warn(f"the compiled analog-layer loops are not available ({error}); torch's ops do their work",
                      RuntimeWarning, stacklevel=2)
        return None
    within, gradient = {}, {}
    for dtype, suffix in _SUFFIX.items():
        within[dtype] = getattr(library, f"strictly_within_{suffix}")
        within[dtype].argtypes = [_POINTER, _INDEX, _VALUE[dtype], _VALUE[dtype]]
        gradient[dtype] = getattr(library, f"sign_crossbar_gradient_{suffix}")
        gradient[dtype].argtypes = [_POINTER] * 6 + [_INDEX, _INDEX]
        within[dtype].restype = gradient[dtype].restype = ctypes.c_int
    return _Loops(within, gradient)


def _build(compiler: str, path: Path) -> None:
    """Compile into a private staging folder, then move the library into place: a concurrent build or reader never
    sees a partial file."""
    with staged_file(path) as staged:
        try:
            subprocess.run([compiler, *FLAGS, "-o", str(staged), str(SOURCE)], check=True, capture_output=True,
                           timeout=120)
        except subprocess.CalledProcessError as error:
            message = error.stderr.decode(errors="replace").strip().splitlines()
            raise subprocess.SubprocessError(f"{Path(compiler).name} failed: {message[0] if message else ''}") from None


def _on_cpu(tensor: torch.Tensor) -> bool:
    return tensor.device.type == "cpu" and tensor.dtype in _SUFFIX and tensor.is_contiguous()


def strictly_within(values: torch.Tensor, low: float, high: float) -> bool | None:
    """Whether every value lies strictly between `low` and `high`; None where the loops do not take `values`."""
    compiled = loops()
    if compiled is None or not _on_cpu(values):
        return None
    if values.dtype == torch.float32:
        low, high = _float32_outward(low, high)
    return bool(compiled.strictly_within[values.dtype](values.data_ptr(), values.numel(), low, high))


@functools.lru_cache(maxsize=64)
def _float32_outward(low: float, high: float) -> tuple[float, float]:
    """`low` and `high` rounded outward to float32: a float32 x exceeds `low` exactly where it exceeds the float32
    at or below `low` (and likewise below `high`), so the loop compares in float32 and answers as exact arithmetic."""
    with np.errstate(over="ignore"):  # beyond float32's range: the infinity on that side, which no float exceeds
        below, above = np.float32(low), np.float32(high)
    if float(below) > low:
        below = np.nextafter(below, np.float32(-np.inf))
    if float(above) < high:
        above = np.nextafter(above, np.float32(np.inf))
    return float(below), float(above)


def sign_crossbar_gradient(grad: torch.Tensor, signed: torch.Tensor, main_slopes: torch.Tensor,
                           tile_scale: torch.Tensor, main_scale: torch.Tensor, starts: torch.Tensor, *,
                           in_place: bool) -> torch.Tensor | None:
    """dL/dw of a sign crossbar (`_SignCrossbarSlopes.weight_gradient`) from dL/dE, `grad` (rows, columns), in its
    memory when `in_place` (it must then be contiguous), else in a copy; `starts`: each tile's first row, then the
    row count. None where the loops do not take these tensors, or a graph of the gradient is being recorded."""
    compiled = loops()
    if (compiled is None or torch.is_grad_enabled()
            or not all(_on_cpu(t) and t.dtype == grad.dtype for t in (signed, main_slopes, tile_scale, main_scale))
            or grad.device.type != "cpu" or in_place and not grad.is_contiguous()
            or not grad.shape == signed.shape == main_slopes.shape
            or not tile_scale.shape == main_scale.shape == (starts.numel() - 1, grad.shape[1])
            or starts.dtype != torch.int64 or starts.device.type != "cpu" or not starts.is_contiguous()):
        return None
    out = grad if in_place else grad.clone(memory_format=torch.contiguous_format)
    status = compiled.sign_crossbar_gradient[out.dtype](
        out.data_ptr(), signed.data_ptr(), main_slopes.data_ptr(), tile_scale.data_ptr(), main_scale.data_ptr(),
        starts.data_ptr(), starts.numel() - 1, out.shape[1])
    if status != 0:
        raise MemoryError("the sign crossbar's gradient loop could not allocate its scratch row")
    return out
