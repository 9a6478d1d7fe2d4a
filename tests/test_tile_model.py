"""hdl's electrical model of a tile against hand-derived circuit values (no ngspice needed)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from amdcgan.hdl.electrical import Cell, Periphery, encode_weights, tile_outputs
from amdcgan.hdl.spec import Readout, WeightEncoding


@pytest.fixture
def device(small_arch):
    return small_arch.device


@pytest.fixture
def periphery(small_arch):
    return Periphery.of(small_arch)


def test_quantise_gives_equally_spaced_levels(device):
    cell = Cell.of(device, WeightEncoding.sign_crossbar)
    values = cell.quantise(np.linspace(0, 1e-3, 10_001))
    levels = np.unique(np.round(values, 15))
    assert len(levels) == device.levels
    assert levels[0] == pytest.approx(device.g_off_s) and levels[-1] == pytest.approx(device.g_on_s)
    assert np.allclose(np.diff(levels), (device.g_on_s - device.g_off_s) / (device.levels - 1))


def test_sign_crossbar_holds_the_magnitude_over_g_on_and_the_sign_apart(device):
    # |w| / w_max of g_on, never below g_off; + on a g_on sign device, - on a g_off one.
    cell = Cell.of(device.model_copy(update={"levels": None}), WeightEncoding.sign_crossbar)
    g = encode_weights(np.array([[1.0, -0.5, 0.0]]), cell)
    assert np.allclose(g.main, [[device.g_on_s, 0.5 * device.g_on_s, device.g_off_s]])
    assert np.array_equal(g.second, [[1, -1, 1]])
    assert np.allclose(g.sign_devices(), [[device.g_on_s, device.g_off_s, device.g_on_s]])


def test_differential_pair_difference_is_proportional_to_the_weight(device):
    cell = Cell.of(device.model_copy(update={"levels": None}), WeightEncoding.differential_pair)
    weights = np.array([[1.0, -0.25], [0.5, 0.0]])
    g = encode_weights(weights, cell)
    assert np.allclose(g.main - g.second, weights * (device.g_on_s - device.g_off_s))
    assert np.allclose(np.minimum(g.main, g.second), device.g_off_s)  # the idle device of a pair rests at g_off
    assert np.allclose(cell.decode(g.main, g.second), weights)


def test_load_memristor_column_is_a_conductance_weighted_divider(device, periphery):
    # Two rows into one column with a load g_L: V = (g1 v1 - g2 v2) / (g1 + g2 + g_L), by KCL at the column.
    cell = Cell.of(device, WeightEncoding.sign_crossbar)
    out = tile_outputs(np.array([[0.4, 0.3]]), np.array([[1e-4], [2e-4]]), np.array([[1.0], [-1.0]]), cell,
                       Readout.load_memristor, replace(periphery, g_load=1e-4))
    assert out[0, 0] == pytest.approx((1e-4 * 0.4 - 2e-4 * 0.3) / 4e-4)


def test_differential_load_readout_subtracts_two_dividers(device, periphery):
    # Each device column has its own load: V+ = g+ v / (g+ + g_L), V- likewise; the amplifier gives V+ - V-.
    cell = Cell.of(device, WeightEncoding.differential_pair)
    out = tile_outputs(np.array([[0.5]]), np.array([[2e-4]]), np.array([[1e-4]]), cell, Readout.load_memristor,
                       replace(periphery, g_load=1e-4))
    assert out[0, 0] == pytest.approx(0.5 * 2e-4 / 3e-4 - 0.5 * 1e-4 / 2e-4)


def test_ivc_with_finite_gain_and_clipping(device, periphery):
    # Ideal op amp limit: V = R_f * I. Finite gain A: the summing node moves by -V/A, so the output shrinks by
    # 1 + (1 + G R_f) / A.
    cell = Cell.of(device, WeightEncoding.sign_crossbar)
    g, signs = np.array([[1e-4]]), np.array([[1.0]])
    finite = replace(periphery, feedback_ohm=10_000.0, opamp_gain=100.0)
    out = tile_outputs(np.array([[0.5]]), g, signs, cell, Readout.opamp_ivc, finite)
    assert out[0, 0] == pytest.approx(0.5 / (1 + (1 + 1e-4 * 1e4) / 100))
    big = tile_outputs(np.array([[0.5]]), g, signs, cell, Readout.opamp_ivc, replace(periphery, feedback_ohm=1e6))
    assert big[0, 0] == pytest.approx(periphery.vdd - periphery.headroom)


def test_default_feedback_keeps_full_scale_inside_the_swing(device, periphery):
    rows = 64
    g = encode_weights(np.ones((rows, 2)), Cell.of(device, WeightEncoding.sign_crossbar))
    out = tile_outputs(np.full((1, rows), periphery.v_read), g.main, g.second, g.cell, Readout.opamp_ivc, periphery)
    assert np.all(out < periphery.vdd - periphery.headroom)
    assert np.all(out > 0.99 * (periphery.vdd - periphery.headroom))


def test_rows_are_driven_within_the_read_voltage(periphery):
    # Inputs bounded by 2 V: the driver scales them by V_r / 2 and limits every read to +-V_r.
    gain = periphery.read_gain(2.0)
    assert gain == pytest.approx(periphery.v_read / 2.0)
    assert np.allclose(periphery.drive_rows(np.array([-3.0, 1.0, 2.0]), gain),
                       [-periphery.v_read, periphery.v_read / 2, periphery.v_read])


def test_summing_amplifier_clips_at_the_supplies(periphery):
    assert np.allclose(periphery.sum_partials(np.array([-30.0, 0.25, 30.0])),
                       [periphery.vss, periphery.summing_gain * 0.25, periphery.vdd])


def test_activations(periphery):
    volts = np.array([-3.0, -0.2, 0.3, 5.0])
    assert np.allclose(periphery.activation(volts, "relu"), [0, 0, 0.3, periphery.vdd])
    assert np.allclose(periphery.activation(volts, "relu_switch", enabled=False), 0)
    assert np.all(np.abs(periphery.activation(volts, "tanh")) < periphery.vdd)
