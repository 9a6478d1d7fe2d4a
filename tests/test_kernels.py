"""The compiled loops (`amdcgan.gan.kernels`) against the torch paths they replace: the same answers (exact for the
range check, within rounding for the gradient), the tensors they decline, and their build: once into the cache,
atomically, and a clean fallback without a compiler."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from amdcgan.analog import AnalogLinear
from amdcgan.gan import kernels
from amdcgan.gan import layers as layers_module

needs_compiler = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) on this machine")


@pytest.fixture
def fresh_loops(tmp_path, monkeypatch):
    """`kernels.loops` built afresh into an empty cache folder; the session's own library is restored after."""
    monkeypatch.setenv("AMDCGAN_CACHE", str(tmp_path))
    kernels.loops.cache_clear()
    yield tmp_path
    kernels.loops.cache_clear()


def exact_within(values: torch.Tensor, low: float, high: float) -> bool:
    """The reference: every value (exactly, as a double) strictly between the Python floats."""
    as_double = values.double()
    return bool(((as_double > low) & (as_double < high)).all())


@needs_compiler
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_compiled_range_check_answers_as_exact_arithmetic(dtype):
    torch.manual_seed(0)
    values = torch.rand(3, 5000, dtype=dtype) * 2 - 1  # 15,000 values: blocks of 4,096 and a remainder
    nearest, short = np.float32(0.1), np.float32(0.7)  # above 0.1 and below 0.7: bounds float32 cannot hold
    cases = [(values, -1.0, 1.0), (values, -0.5, 1.0), (values, -1.0, 0.999)]
    small = 0.05 * values  # well within every bound below, so that one edited value decides
    for index in (0, 4095, 4096, 8191, 14999):  # a value at either edge of a block
        for value, low, high in ((1.0, -1.0, 1.0), (float("nan"), -1.0, 1.0), (float("inf"), -1.0, 1e300),
                                 (float(nearest), -1.0, 0.1), (float(nearest), -1.0, float(nearest)),
                                 (float(short), -1.0, 0.7), (-float(short), -0.7, 1.0)):
            edited = small.clone()
            edited.view(-1)[index] = value
            cases.append((edited, low, high))
    below = torch.tensor([np.nextafter(np.float32(0.1), np.float32(0))], dtype=dtype)  # the float32 just below it
    cases += [(below, -1.0, 0.1), (-below, -0.1, 1.0), (values[:, :1].contiguous(), -1.0, 1.0)]
    answers = set()
    for tensor, low, high in cases:
        expected = exact_within(tensor, low, high)
        assert kernels.strictly_within(tensor, low, high) is expected, (tensor.dtype, low, high)
        assert layers_module._strictly_within(tensor, low, high) is expected
        answers.add(expected)
    assert answers == {True, False}


@needs_compiler
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rows", [5, 16, 100, 6272])
@pytest.mark.parametrize("bias", [True, False])
def test_the_one_pass_column_product_equals_torch_s_and_checks_every_input(dtype, rows, bias):
    """A one-column layer's product and its drivers' range check in one pass: torch's product where every input is
    strictly within the limit; where one is not (at the bound, beyond it, NaN; in the vector part of a row or its
    remainder) no product, and the answer that the limit acts."""
    torch.manual_seed(3)
    x = (torch.rand(64, rows, dtype=dtype) * 2 - 1) * 0.99
    matrix = torch.randn(rows + 1, 1, dtype=dtype)
    body, bias_row = matrix[:rows], (matrix[rows] if bias else None)
    product, within = kernels.column_product_within(x, body, bias_row, -1.0, 1.0)
    if within is None:
        pytest.skip("this CPU lacks the vector unit the one-pass product needs")
    expected = torch.addmm(bias_row, x, body) if bias else x @ body
    tolerance = {torch.float32: 1e-5, torch.float64: 1e-12}[dtype]
    assert within is True
    torch.testing.assert_close(product, expected, rtol=tolerance, atol=tolerance * expected.abs().max())
    for column in {0, rows // 2, rows - 1}:
        for value in (1.0, -1.5, float("nan")):
            edited = x.clone()
            edited[37, column] = value
            assert kernels.column_product_within(edited, body, bias_row, -1.0, 1.0) == (None, False)


@needs_compiler
def test_tensors_the_loops_do_not_take_are_left_to_torch():
    values = torch.rand(4, 6)
    assert kernels.strictly_within(values, -1.0, 2.0) is True  # taken: the cases below are not
    assert kernels.strictly_within(values.t(), -1.0, 2.0) is None  # not contiguous
    assert kernels.strictly_within(values.half(), -1.0, 2.0) is None
    assert kernels.strictly_within(torch.ones(3, dtype=torch.int64), 0.0, 2.0) is None
    column = torch.ones(6, 1)
    assert kernels.column_product_within(values, column, None, -1.0, 2.0)[1] is not False
    assert kernels.column_product_within(values.t(), column[:4], None, -1.0, 2.0) == (None, None)
    assert kernels.column_product_within(values, column.double(), None, -1.0, 2.0) == (None, None)
    assert kernels.column_product_within(values, torch.ones(6, 2), None, -1.0, 2.0) == (None, None)
    assert kernels.column_product_within(values, column, torch.ones(2), -1.0, 2.0) == (None, None)
    starts = torch.tensor([0, 4])
    args = (values, values, values, torch.ones(1, 6), torch.ones(1, 6), starts)  # dL/dE, S, slopes, scales, tiles
    with torch.no_grad():
        assert kernels.sign_crossbar_gradient(*args, in_place=False) is not None  # taken: the cases below are not
        assert kernels.sign_crossbar_gradient(values.t().contiguous().t(), *args[1:], in_place=True) is None
        assert kernels.sign_crossbar_gradient(values, values.double(), *args[2:], in_place=False) is None
        assert kernels.sign_crossbar_gradient(*args[:3], torch.ones(2, 6), torch.ones(2, 6), starts,
                                              in_place=False) is None  # tiles that do not match the starts
    assert kernels.sign_crossbar_gradient(*args, in_place=False) is None  # a gradient graph is being recorded


def sign_crossbar(inputs: int, outputs: int, max_rows: int, dtype: torch.dtype,
                  summing_gain: float | None = None) -> AnalogLinear:
    torch.manual_seed(1)
    hardware = {"tiles": {"max_rows": max_rows, "max_columns": 128}, "weight_encoding": "sign_crossbar",
                "summing_gain": {"dense": summing_gain} if summing_gain else {}}
    return AnalogLinear.from_float(nn.Linear(inputs, outputs), hardware=hardware).to(dtype)


@needs_compiler
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("inputs, outputs, max_rows", [(300, 20, 64), (700, 1, 64), (40, 9, 128), (33, 5, 7)])
@pytest.mark.parametrize("in_place", [True, False])
@pytest.mark.parametrize("bias_from", [None, "dense", "expanded"])
def test_the_compiled_gradient_equals_torch_s(inputs, outputs, max_rows, dtype, in_place, bias_from, monkeypatch):
    """The weight gradient of row tiles (several columns, or one, whose tiles the loop sums as runs), of one tile,
    and of tiles of unequal rows, against `_matrix_gradient`'s torch ops; with the bias row's dL/dE formed from
    dL/dy (a batch of it, or one row expanded, as `sum().backward()` hands it)."""
    layer = sign_crossbar(inputs, outputs, max_rows, dtype)
    assert (len(layer.plan.row_splits) > 1) == (inputs + 1 > max_rows)
    _, slopes = layer._read_state()
    main_slopes = layer._main_slopes(layer.weight)
    grad = torch.randn(layer.weight.shape, dtype=dtype)
    source = {None: None, "dense": torch.randn(7, outputs, dtype=dtype),
              "expanded": torch.randn(1, outputs, dtype=dtype).expand(7, outputs)}[bias_from]
    if source is not None:
        grad[-1] = float("nan")  # to be formed from dL/dy
    kept = grad.clone()
    with torch.no_grad():
        compiled = kernels.sign_crossbar_gradient(grad, slopes.signed, main_slopes, slopes.loop.tile_scale,
                                                  slopes.main_scale, slopes.loop.starts, in_place=in_place,
                                                  bias_from=source)
        monkeypatch.setattr(kernels, "loops", lambda: None)
        expected = layers_module._matrix_gradient(kept.clone(), slopes, main_slopes, bias_from=source)
    assert compiled is not None and (compiled is grad) == in_place and not compiled.isnan().any()
    if not in_place:  # the input is left as it was
        assert torch.equal(grad.nan_to_num(), kept.nan_to_num())
    tolerance = {torch.float32: 1e-5, torch.float64: 1e-12}[dtype]
    torch.testing.assert_close(compiled, expected, rtol=tolerance, atol=tolerance * expected.abs().max())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("inputs, outputs, summing_gain", [(700, 1, None), (300, 20, None), (40, 9, None),
                                                           (300, 20, 400.0)])
@pytest.mark.parametrize("input_grad", [True, False])
def test_a_layer_trains_alike_on_the_compiled_loops_and_on_torch_s_ops(dtype, inputs, outputs, summing_gain,
                                                                       input_grad, monkeypatch, fused_path):
    """Forward and backward of a layer with row tiles (one column, the discriminator's last layer, or several), of
    one tile, and of row tiles whose summing amplifier is driven to its rails, with inputs within the drivers' limit
    and beyond it, with and without the inputs' gradient: the same values and gradients on the compiled passes
    (`kernels.fused_product`, or the loops alone where it cannot be built) and on torch's ops."""
    if kernels.loops() is None:
        pytest.skip("the compiled loops cannot be built here")
    compiled = kernels.loops()
    layer = sign_crossbar(inputs, outputs, 64, dtype, summing_gain)
    for scale in (0.9, 3.0):  # within +-1 unit, and beyond it
        results = []
        for loops in (compiled, None):
            monkeypatch.setattr(kernels, "loops", lambda loops=loops: loops)
            torch.manual_seed(2)
            x = (scale * (2 * torch.rand(64, inputs, dtype=dtype) - 1)).requires_grad_(input_grad)
            y = layer(x)
            assert fused_path(y) == ("compiled" if loops and kernels.fused_product() else "torch")
            (y * torch.randn_like(y)).sum().backward()
            results.append((y.detach(), x.grad if input_grad else torch.zeros(()), layer.weight.grad))
            layer.weight.grad = None
        tolerance = {torch.float32: 1e-5, torch.float64: 1e-12}[dtype]
        for ours, theirs in zip(*results):
            torch.testing.assert_close(ours, theirs, rtol=tolerance, atol=tolerance * theirs.abs().max())
    if summing_gain:
        assert (y.detach().abs() >= layer.periphery.summing_rails(layer.v_read)[1]).any()  # the rails were reached


def built(cache) -> list:
    return sorted(path.name for path in (cache / "kernels").iterdir() if path.name != "build.lock")


@needs_compiler
def test_the_library_is_built_once_into_the_cache_and_reused(fresh_loops, monkeypatch):
    assert kernels.loops() is not None
    (library,) = built(fresh_loops)  # and no staging left behind
    assert library.endswith(".so")
    kernels.loops.cache_clear()
    monkeypatch.setattr(kernels, "_build", lambda *args: pytest.fail("built again"))
    assert kernels.loops() is not None


@needs_compiler
def test_a_damaged_library_is_built_again_not_loaded(fresh_loops):
    """A truncated library (a crash or a full disk) would crash the process that loads it: its content no longer
    matches the digest in its name, so it is replaced."""
    assert kernels.loops() is not None
    (name,) = built(fresh_loops)
    path = fresh_loops / "kernels" / name
    intact = path.read_bytes()
    damaged = path.with_name("damaged")
    damaged.write_bytes(intact[: len(intact) // 2])
    damaged.replace(path)  # a new file under the name: the library this process loaded stays whole
    (fresh_loops / "kernels" / ".kernels-x.abcdefgh.tmp").mkdir()  # what a killed build leaves
    kernels.loops.cache_clear()
    assert kernels.loops() is not None
    assert built(fresh_loops) == [name] and path.read_bytes() == intact


@needs_compiler
def test_row_tiles_that_do_not_cover_the_rows_are_refused_before_any_write():
    rows, columns = 6, 3
    grad, ones = torch.randn(rows, columns), torch.ones(rows, columns)
    kept = grad.clone()
    with torch.no_grad():
        for starts in ([0, 2, 7], [1, 3, 6], [0, 4, 2, 6], [0, 2, 5]):
            tiles = len(starts) - 1
            scales = torch.ones(tiles, columns)
            with pytest.raises(ValueError, match="do not cover rows 0 to 5"):
                kernels.sign_crossbar_gradient(grad, ones, ones, scales, scales, torch.tensor(starts), in_place=True)
            assert torch.equal(grad, kept)
        assert kernels.sign_crossbar_gradient(grad[None], ones[None], ones[None], scales, scales,
                                              torch.tensor([0, 6]), in_place=True) is None  # not a matrix


def test_without_a_compiler_torch_does_the_work(fresh_loops, monkeypatch):
    monkeypatch.setenv("CC", "no-such-compiler")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a machine without a compiler is not a fault: nothing to warn about
        assert kernels.loops() is None
    assert not (fresh_loops / "kernels").exists()
    values = torch.rand(8, 3)
    assert kernels.strictly_within(values, -1.0, 2.0) is None
    assert layers_module._strictly_within(values, -1.0, 2.0)


@pytest.mark.parametrize("compiler, reason", [("false", "false failed: exit status 1"),
                                              ("true", "true wrote no library")])
def test_a_failing_build_warns_once_and_leaves_nothing(fresh_loops, monkeypatch, compiler, reason):
    if shutil.which(compiler) is None:
        pytest.skip(f"no `{compiler}` here")
    monkeypatch.setenv("CC", compiler)
    with pytest.warns(RuntimeWarning, match=reason):
        assert kernels.loops() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kernels.loops() is None  # remembered: no second build, no second warning
    assert built(fresh_loops) == []


def test_an_unreadable_compiler_setting_warns_and_falls_back(fresh_loops, monkeypatch):
    monkeypatch.setenv("CC", "'cc -O2")  # an unclosed quote
    with pytest.warns(RuntimeWarning, match="not available"):
        assert kernels.loops() is None


@needs_compiler
def test_a_compiler_given_with_arguments_builds(fresh_loops, monkeypatch):
    monkeypatch.setenv("CC", "cc -O2")  # the build's own flags follow these
    assert kernels.loops() is not None


def test_the_loops_can_be_switched_off(fresh_loops, monkeypatch):
    monkeypatch.setenv("AMDCGAN_KERNELS", "0")
    assert kernels.loops() is None
    assert not (fresh_loops / "kernels").exists()


needs_cxx = pytest.mark.skipif(shutil.which("cc") is None or shutil.which("c++") is None,
                               reason="no C and C++ compilers (cc, c++) on this machine")


@needs_cxx
def test_the_product_library_is_built_once_into_the_cache_and_reused(fresh_loops, monkeypatch):
    """The compiled product's library, against this torch: built into the cache under its digest, then found there
    (its operators are registered once per process, so this builds without loading)."""
    compilers = kernels._compiler("CC", "cc"), kernels._compiler("CXX", "c++")
    library = kernels._product_library(*compilers)
    assert built(fresh_loops) == [library.name] and library.name.startswith("product-")
    monkeypatch.setattr(kernels, "_build", lambda *args: pytest.fail("built again"))
    assert kernels._product_library(*compilers) == library


TRAIN_ONE_STEP = """
import warnings
import torch
from torch import nn
from amdcgan.analog import AnalogLinear
warnings.simplefilter("error")
layer = AnalogLinear.from_float(nn.Linear(300, 20), hardware={"tiles": {"max_rows": 64, "max_columns": 128}})
x = torch.rand(8, 300).requires_grad_()
y = layer(x)
y.sum().backward()
print("SignCrossbarProduct>" in y.grad_fn.name(), bool(x.grad.abs().sum() > 0), bool(layer.weight.grad.abs().sum() > 0))
"""


@pytest.mark.parametrize("cxx, expected", [("no-such-compiler", None), ("false", "false failed")])
def test_without_a_working_cxx_compiler_the_product_takes_torch_s_ops(tmp_path, cxx, expected):
    """In a fresh process (operators register once per process): no C++ compiler is not a fault, so nothing is
    said; a failing one is said once; either way the layer trains on torch's ops."""
    environment = {**os.environ, "AMDCGAN_CACHE": str(tmp_path), "CXX": cxx}
    result = subprocess.run([sys.executable, "-c", TRAIN_ONE_STEP], env=environment, capture_output=True,
                            text=True, timeout=300)
    if expected is None:
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["False", "True", "True"] and not result.stderr
    else:
        assert result.returncode != 0 and "RuntimeWarning" in result.stderr and expected in result.stderr
        relaxed = TRAIN_ONE_STEP.replace('warnings.simplefilter("error")', 'warnings.simplefilter("always")')
        result = subprocess.run([sys.executable, "-c", relaxed], env=environment, capture_output=True, text=True,
                                timeout=300)
        assert result.stdout.split() == ["False", "True", "True"]
        assert result.stderr.count("compiled product is not available") == 1


@pytest.mark.parametrize("inputs", [300, 40])
def test_an_empty_batch_gives_zero_gradients(inputs, compiled_or_torch):
    """No inputs, no gradient: the bias row's dL/dE is the column sums of an empty dL/dy, zeros (an empty tensor's
    memory is no tensor at all), on row tiles and on one tile."""
    layer = sign_crossbar(inputs, 7, 64, torch.float32)
    layer(torch.rand(2, inputs)).sum().backward()  # the device state read, the libraries loaded
    for _ in range(3):
        layer.weight.grad = torch.full_like(layer.weight, float("nan"))
        layer.weight.grad = None  # its memory, freed holding NaN, is what the next gradient of its size is given
        x = torch.rand(0, inputs, requires_grad=True)
        layer(x).square().sum().backward()  # (a fresh dL/dy of no elements; y.sum() would hand an expanded one)
        assert torch.equal(layer.weight.grad, torch.zeros_like(layer.weight)) and x.grad.shape == x.shape


def test_negated_views_are_left_to_torch():
    """A negated view's memory holds its values with the other sign: the loops, which read memory, decline it."""
    values = torch.tensor([0.5, 1.5])
    negated = torch._neg_view(values)
    assert kernels.strictly_within(negated, -1.0, 2.0) is None
    assert layers_module._strictly_within(negated, -2.0, 0.0) is True  # its memory, read as it is, says otherwise
    assert layers_module._strictly_within(negated, 0.0, 2.0) is False
