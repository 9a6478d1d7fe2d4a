"""Compiled loops for the analog layers' per-element work on the CPU (`kernels.c`), called through ctypes.

Each replaces a chain of small torch ops whose dispatch and temporaries cost more than their arithmetic: on a small
dense layer they are most of what the analog layer pays over torch's own. The library is built on first use with the
system's C compiler (`$CC`, else `cc`) into the cache folder (`$AMDCGAN_CACHE/kernels`, default
`~/.cache/amdcgan/kernels`), one file per source, compiler and flags, named with its content's digest, and loaded from
there after (a damaged file is built again, never loaded). Without a compiler, where the build fails (one warning), with
AMDCGAN_KERNELS=0, or for tensors the loops do not take (not on the CPU, not float32 or float64, not contiguous), the
callers take their torch paths, which give the same results within rounding.

A dense sign crossbar's fused product is also built, with these loops linked in, as a torch operator with its own
autograd node (`product.cpp`, with the C++ compiler, `$CXX` else `c++`, against torch's headers; `fused_product`):
one call each way, no Python in between. That build takes about ten seconds, once per torch version; where it cannot
be had, the product takes torch's ops and these loops from Python.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import fcntl
import functools
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import warnings
import weakref
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from amdcgan.errors import UserError
from amdcgan.fileio import cache_root, make_folder, remove_stale_temporaries, staging_folder

SOURCE = Path(__file__).with_name("kernels.c")
PRODUCT_SOURCE = Path(__file__).with_name("product.cpp")
FLAGS = ("-O3", "-shared", "-fPIC")
CXX_FLAGS = ("-O2", "-shared", "-fPIC", "-std=c++20", "-w")  # (-w: torch's headers warn by the hundred)
_POINTER, _INDEX = ctypes.c_void_p, ctypes.c_int64
_VALUE = {torch.float32: ctypes.c_float, torch.float64: ctypes.c_double}
_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}


@dataclasses.dataclass(frozen=True)
class _Loops:
    """The library's functions by dtype."""

    strictly_within: dict[torch.dtype, ctypes._CFuncPtr]
    column_product_within: dict[torch.dtype, ctypes._CFuncPtr]
    sign_crossbar_gradient: dict[torch.dtype, ctypes._CFuncPtr]

    @classmethod
    def bind(cls, library: ctypes.CDLL) -> "_Loops":
        within, product, gradient = {}, {}, {}
        for dtype, suffix in _SUFFIX.items():
            value = _VALUE[dtype]
            within[dtype] = getattr(library, f"strictly_within_{suffix}")
            within[dtype].argtypes = [_POINTER, _INDEX, value, value]
            product[dtype] = getattr(library, f"column_product_within_{suffix}")
            product[dtype].argtypes = [_POINTER] * 3 + [_INDEX, _INDEX, value, value, _POINTER]
            gradient[dtype] = getattr(library, f"sign_crossbar_gradient_{suffix}")
            gradient[dtype].argtypes = [_POINTER] * 6 + [_INDEX] * 4 + [_POINTER] + [_INDEX] * 3
            within[dtype].restype = product[dtype].restype = gradient[dtype].restype = ctypes.c_int
        return cls(within, product, gradient)


@functools.cache
def loops() -> _Loops | None:
    """The compiled loops, built on first use; None where they cannot be had (the torch paths serve)."""
    if os.environ.get("AMDCGAN_KERNELS", "1") == "0":
        return None
    try:
        compiler = _compiler("CC", "cc")
        if compiler is None:
            return None
        key = _digest(b"\0".join([SOURCE.read_bytes(), *map(str.encode, compiler), " ".join(FLAGS).encode(),
                                   platform.machine().encode()]))
        library = _cached_library("kernels", key, compiler,
                                  lambda staged: _run([*compiler, *FLAGS, "-o", str(staged), str(SOURCE)], compiler))
        return _Loops.bind(ctypes.CDLL(str(library)))
    except (OSError, AttributeError, ValueError, subprocess.SubprocessError, UserError) as error:
        warnings.warn(f"the compiled analog-layer loops are not available ({error}); torch's ops do their work",
                      RuntimeWarning, stacklevel=2)
        return None


def fused_product() -> Callable | None:
    """The fused product's operator, amdcgan::sign_crossbar_product (`product.cpp`), built on first use; None where
    it or the loops cannot be had. Its arguments: rows, weight, the matrix, the product where formed already (or
    None), the `GradientFactors` tensors with main_slopes after S, whether the last row is the bias row, and
    `layer_key(layer)`."""
    return _product_operator() if loops() is not None else None


@functools.cache
def _product_operator() -> Callable | None:
    try:
        compilers = _compiler("CC", "cc"), _compiler("CXX", "c++")
        if None in compilers:
            return None
        if not _registered():  # (a process registers the operators once; a second library would clash)
            torch.ops.load_library(str(_product_library(*compilers)))
        _register_graph_gradients()
        return torch.ops.amdcgan.sign_crossbar_product.default
    except (OSError, AttributeError, ValueError, RuntimeError, subprocess.SubprocessError, UserError) as error:
        warnings.warn(f"the analog layers' compiled product is not available ({error}); torch's ops do its work",
                      RuntimeWarning, stacklevel=3)
        return None


_LAYERS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_REGISTRATIONS: list = []  # (a registration lasts as long as its Library object)


@functools.cache
def _register_graph_gradients() -> None:
    library = torch.library.Library("amdcgan", "IMPL")
    library.impl("product_graph_gradients", _graph_gradients, "CompositeImplicitAutograd")
    _REGISTRATIONS.append(library)


def layer_key(layer: torch.nn.Module) -> int:
    """The number by which the operator's backward names `layer` to `product_graph_gradients`."""
    key = id(layer)
    if _LAYERS.get(key) is not layer:
        _LAYERS[key] = layer
    return key


def _graph_gradients(grad: torch.Tensor, rows: torch.Tensor, weight: torch.Tensor,
                     key: int) -> tuple[torch.Tensor, torch.Tensor]:
    """dL/d(rows) and dL/d(weight) of the layer's product as its plain autograd graph computes it, with a graph of
    their own (the operator's backward under create_graph); zeros for rows that need no gradient."""
    layer = _LAYERS.get(key)
    if layer is None:
        raise RuntimeError("the analog layer this gradient graph was recorded through no longer exists")
    with torch.enable_grad():
        out = layer.unclipped_product(rows, weight)
        if not rows.requires_grad:
            return torch.zeros_like(rows), torch.autograd.grad(out, weight, grad, create_graph=True)[0]
        found = torch.autograd.grad(out, (rows, weight), grad, create_graph=True)
    return found[0], found[1]


def _registered() -> bool:
    try:
        return torch.ops.amdcgan.sign_crossbar_product.default is not None
    except (AttributeError, RuntimeError):  # not (yet) in this process
        return False


def _product_library(c_compiler: list[str], cxx_compiler: list[str]) -> Path:
    """The library of `product.cpp` with `kernels.c` linked in, against this torch's headers and libraries."""
    torch_root = Path(torch.__file__).parent
    libraries = torch_root / "lib"
    flags = [*CXX_FLAGS, f"-D_GLIBCXX_USE_CXX11_ABI={int(torch.compiled_with_cxx11_abi())}",
             f"-I{torch_root / 'include'}", f"-L{libraries}", f"-Wl,-rpath,{libraries}"]
    key = _digest(b"\0".join([SOURCE.read_bytes(), PRODUCT_SOURCE.read_bytes(), *map(str.encode, c_compiler),
                               *map(str.encode, cxx_compiler), " ".join(flags).encode(), torch.__version__.encode(),
                               platform.machine().encode()]))

    def build(staged: Path) -> None:
        print("amdcgan: building the analog layers' compiled product for this torch (once, about ten seconds)",
              file=sys.stderr, flush=True)
        loops_object = staged.with_name("kernels.o")
        _run([*c_compiler, *FLAGS[:1], "-fPIC", "-c", "-o", str(loops_object), str(SOURCE)], c_compiler)
        _run([*cxx_compiler, *flags, "-o", str(staged), str(PRODUCT_SOURCE), str(loops_object), "-lc10",
              "-ltorch_cpu"], cxx_compiler)

    return _cached_library("product", key, cxx_compiler, build)


def _compiler(variable: str, default: str) -> list[str] | None:
    """The compiler that `variable` names (arguments allowed), else `default`; None where it is not installed."""
    command = shlex.split(os.environ.get(variable) or default)
    found = shutil.which(command[0]) if command else None
    return None if found is None else [found, *command[1:]]


def _cached_library(stem: str, key: str, linker: list[str], build: Callable[[Path], None]) -> Path:
    """The library `stem` for `key` (its sources, compilers and flags): found in the cache intact (its name carries
    its digest), or built there by `build(path)`, whose last step `linker` writes it. Builds take a lock, so
    concurrent first uses build once."""
    folder = cache_root() / "kernels"
    found = _intact(folder, stem, key)
    if found is not None:
        return found
    make_folder(folder)
    with _build_lock(folder):
        return _intact(folder, stem, key) or _build(folder, stem, key, linker, build)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _intact(folder: Path, stem: str, key: str) -> Path | None:
    """A built library for `key` whose content matches the digest in its name (a damaged file is never loaded:
    loading a truncated library can crash the process)."""
    for path in sorted(folder.glob(f"{stem}-{key}-*.so")):
        if path.is_file() and _digest(path.read_bytes()) == path.stem.rsplit("-", 1)[1]:
            return path
    return None


@contextlib.contextmanager
def _build_lock(folder: Path):
    fd = os.open(folder / "build.lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a build takes a second (the loops) or ten (the product): wait for it
        yield
    finally:
        os.close(fd)


def _build(folder: Path, stem: str, key: str, linker: list[str], build: Callable[[Path], None]) -> Path:
    """Build in a private staging folder, sync, then move the library into place under its digest. Holding the build
    lock, it first removes what a killed build or a damaged file left."""
    remove_stale_temporaries(folder, depth=1)
    for damaged in folder.glob(f"{stem}-{key}-*.so"):
        damaged.unlink(missing_ok=True)
    with staging_folder(folder / f"{stem}-{key}.so") as staging:
        staged = staging / f"{stem}.so"
        build(staged)
        if not staged.is_file():
            raise subprocess.SubprocessError(f"{Path(linker[0]).name} wrote no library")
        with open(staged, "rb") as built:
            digest = _digest(built.read())
            os.fsync(built.fileno())
        path = folder / f"{stem}-{key}-{digest}.so"
        os.replace(staged, path)
    return path


def _run(command: list[str], compiler: list[str]) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=300)
    except subprocess.CalledProcessError as error:
        lines = [line for line in error.stderr.decode(errors="replace").splitlines() if "error" in line.lower()]
        lines = lines or error.stderr.decode(errors="replace").strip().splitlines()
        reason = lines[0] if lines else f"exit status {error.returncode}"
        raise subprocess.SubprocessError(f"{Path(compiler[0]).name} failed: {reason}") from None


def _on_cpu(tensor: torch.Tensor) -> bool:
    """Whether the loops can read `tensor`'s values straight from its memory (a negated view's memory holds them
    with the other sign)."""
    return tensor.device.type == "cpu" and tensor.dtype in _SUFFIX and tensor.is_contiguous() and not tensor.is_neg()


def strictly_within(values: torch.Tensor, low: float, high: float) -> bool | None:
    """Whether every value lies strictly between `low` and `high`; None where the loops do not take `values`."""
    compiled = loops()
    if compiled is None or not _on_cpu(values):
        return None
    if values.dtype == torch.float32:
        low, high = _float32_outward(low, high)
    return bool(compiled.strictly_within[values.dtype](values.data_ptr(), values.numel(), low, high))


def column_product_within(x: torch.Tensor, column: torch.Tensor, bias: torch.Tensor | None, low: float,
                          high: float) -> tuple[torch.Tensor | None, bool | None]:
    """x (batch, rows) times a one-column matrix `column` (rows, 1), plus `bias` (one value), in the pass over x that
    also asks whether every x lies strictly between `low` and `high`: (the product, True) if so, (None, False) if
    not, (None, None) where the loops do not take these tensors or this CPU lacks the vector unit they need."""
    compiled = loops()
    if (compiled is None or x.dim() != 2 or column.shape != (x.shape[1], 1) or not _on_cpu(x) or not _on_cpu(column)
            or column.dtype != x.dtype
            or bias is not None and (bias.numel() != 1 or not _on_cpu(bias) or bias.dtype != x.dtype)):
        return None, None
    if x.dtype == torch.float32:
        low, high = _float32_outward(low, high)
    out = x.new_empty(x.shape[0], 1)
    answer = compiled.column_product_within[x.dtype](x.data_ptr(), column.data_ptr(),
                                                     None if bias is None else bias.data_ptr(), x.shape[0],
                                                     x.shape[1], low, high, out.data_ptr())
    return {1: (out, True), 0: (None, False)}.get(answer, (None, None))


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


@dataclasses.dataclass(frozen=True, eq=False)
class GradientFactors:
    """What a sign crossbar's weight gradient takes that stays fixed while its devices do (`_SignCrossbarSlopes`):
    S (rows, columns), the tiles' scales `tile_scale` and `main_scale` (tiles, columns), and `starts`, each tile's
    first row then the row count. Whether the loop takes them is checked once, here, not on every backward pass."""

    signed: torch.Tensor
    tile_scale: torch.Tensor
    main_scale: torch.Tensor
    starts: torch.Tensor
    taken: bool = dataclasses.field(init=False)

    def __post_init__(self):
        signed, starts = self.signed, self.starts
        taken = (signed.dim() == 2 and all(_on_cpu(t) and t.dtype == signed.dtype
                                           for t in (signed, self.tile_scale, self.main_scale))
                 and self.tile_scale.shape == self.main_scale.shape == (starts.numel() - 1, signed.shape[1])
                 and starts.dtype == torch.int64 and starts.device.type == "cpu" and starts.is_contiguous())
        object.__setattr__(self, "taken", taken)

    def gradient(self, grad: torch.Tensor, main_slopes: torch.Tensor, *, in_place: bool,
                 bias_from: torch.Tensor | None = None) -> torch.Tensor | None:
        """dL/dw of a sign crossbar (`_SignCrossbarSlopes.weight_gradient`) from dL/dE, `grad` (rows, columns), in
        its memory when `in_place` (it must then be contiguous), else in a copy; `bias_from`: dL/dy (batch, columns,
        any strides), whose column sums are the bias row's dL/dE, not yet in `grad`'s last row. None where the loops
        do not take these tensors, or a graph of the gradient is being recorded."""
        compiled, signed, dtype = loops(), self.signed, self.signed.dtype
        if (compiled is None or not self.taken or torch.is_grad_enabled()
                or grad.shape != signed.shape or grad.dtype != dtype or grad.device.type != "cpu"
                or in_place and not grad.is_contiguous()
                or main_slopes.shape != signed.shape or main_slopes.dtype != dtype or not _on_cpu(main_slopes)
                or bias_from is not None and (bias_from.dim() != 2 or bias_from.shape[1] != grad.shape[1]
                                              or bias_from.dtype != dtype or bias_from.device.type != "cpu")):
            return None
        out = grad if in_place else grad.clone(memory_format=torch.contiguous_format)
        bias = ((0, None, 0, 0, 0) if bias_from is None
                else (1, bias_from.data_ptr(), bias_from.shape[0], *bias_from.stride()))
        status = compiled.sign_crossbar_gradient[dtype](
            out.data_ptr(), signed.data_ptr(), main_slopes.data_ptr(), self.tile_scale.data_ptr(),
            self.main_scale.data_ptr(), self.starts.data_ptr(), self.starts.numel() - 1, *out.shape, *bias)
        if status == -2:
            raise ValueError(f"row tiles starting at {self.starts.tolist()} do not cover rows 0 to "
                             f"{out.shape[0] - 1} in order")
        if status != 0:
            raise MemoryError("the sign crossbar's gradient loop could not allocate its scratch row")
        return out


def sign_crossbar_gradient(grad: torch.Tensor, signed: torch.Tensor, main_slopes: torch.Tensor,
                           tile_scale: torch.Tensor, main_scale: torch.Tensor, starts: torch.Tensor, *,
                           in_place: bool, bias_from: torch.Tensor | None = None) -> torch.Tensor | None:
    """`GradientFactors.gradient` with the fixed factors given one by one."""
    return GradientFactors(signed, tile_scale, main_scale, starts).gradient(grad, main_slopes, in_place=in_place,
                                                                            bias_from=bias_from)
