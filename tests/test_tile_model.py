"""The numpy tile model and the weight encoding against hand-derived circuit values (no ngspice needed)."""

from __future__ import annotations

import numpy as np
import pytest

from amdcgan.errors import UserError
from amdcgan.hdl.spec import Readout, WeightEncoding
from amdcgan.sim.encoding import Periphery, TileConductances, encode_weights, quantise, scale_inputs
from amdcgan.sim.tile_model import activation, tile_outputs


@pytest.fixture
def device(small_arch):
    return small_arch.device


@pytest.fixture
def tech(small_arch):
    return small_arch.technology


def test_quantise_gives_equally_spaced_levels(device):
    values = quantise(np.linspace(0, 1e-3, 10_001), device)
    levels = np.unique(np.round(values, 15))
    assert len(levels) == device.levels
    assert levels[0] == pytest.approx(device.g_off_s) and levels[-1] == pytest.approx(device.g_on_s)
    assert np.allclose(np.diff(levels), (device.g_on_s - device.g_off_s) / (device.levels - 1))


def test_sign_crossbar_maps_magnitude_onto_the_conductance_range(device):
    ideal = device.model_copy(update={"levels": None})
    g = encode_weights(np.array([[1.0, -0.5, 0.0]]), WeightEncoding.sign_crossbar, ideal)
    span = device.g_on_s - device.g_off_s
    assert np.allclose(g.crossbar, [[device.g_on_s, device.g_off_s + 0.5 * span, device.g_off_s]])
    assert np.array_equal(g.signs, [[1, -1, 1]])


def test_differential_pair_difference_is_proportional_to_the_weight(device):
    ideal = device.model_copy(update={"levels": None})
    weights = np.array([[1.0, -0.25], [0.5, 0.0]])
    g = encode_weights(weights, WeightEncoding.differential_pair, ideal)
    assert np.allclose(g.signed_conductances(), weights * (device.g_on_s - device.g_off_s))
    assert np.allclose(g.crossbar[:, 0::2] + g.crossbar[:, 1::2], device.g_on_s + device.g_off_s)


def test_load_memristor_column_is_a_conductance_weighted_divider(device, tech):
    # Two rows into one column with a load g_L: V = (g1 v1 - g2 v2) / (g1 + g2 + g_L), by KCL at the column.
    g = TileConductances(WeightEncoding.sign_crossbar, np.array([[1e-4], [2e-4]]), np.array([[1.0], [-1.0]]))
    periphery = Periphery(load_conductance_s=1e-4)
    out = tile_outputs(np.array([[0.4, 0.3]]), g, Readout.load_memristor, device, tech, periphery)
    assert out[0, 0] == pytest.approx((1e-4 * 0.4 - 2e-4 * 0.3) / 4e-4)


def test_ivc_with_finite_gain_and_clipping(device, tech):
    # Ideal op amp limit: V = R_f * I. Finite gain A: the summing node moves by -V/A, so the output shrinks by
    # 1 + (1 + G R_f) / A.
    g = TileConductances(WeightEncoding.sign_crossbar, np.array([[1e-4]]), np.array([[1.0]]))
    periphery = Periphery(feedback_ohm=10_000.0, opamp_gain=100.0)
    out = tile_outputs(np.array([[0.5]]), g, Readout.opamp_ivc, device, tech, periphery)
    assert out[0, 0] == pytest.approx(0.5 / (1 + (1 + 1e-4 * 1e4) / 100))
    big = tile_outputs(np.array([[0.5]]), g, Readout.opamp_ivc, device, tech, Periphery(feedback_ohm=1e6))
    assert big[0, 0] == pytest.approx(tech.vdd_v - Periphery().opamp_headroom_v)


def test_default_feedback_keeps_full_scale_inside_the_swing(device, tech):
    rows = 64
    g = encode_weights(np.ones((rows, 2)), WeightEncoding.sign_crossbar, device)
    out = tile_outputs(np.full((1, rows), device.v_read_v), g, Readout.opamp_ivc, device, tech)
    assert np.all(out < tech.vdd_v - Periphery().opamp_headroom_v)
    assert np.all(out > 0.99 * (tech.vdd_v - Periphery().opamp_headroom_v))


def test_inputs_scale_to_the_read_voltage_and_mismatches_are_refused(device, tech):
    assert np.allclose(scale_inputs(np.array([-2.0, 0.5, 1.0]), device), [-device.v_read_v, 0.25, 0.5])
    g = encode_weights(np.ones((3, 1)), WeightEncoding.sign_crossbar, device)
    with pytest.raises(UserError, match="rows"):
        tile_outputs(np.zeros((1, 4)), g, Readout.load_memristor, device, tech)


def test_activations(tech):
    volts = np.array([-3.0, -0.2, 0.3, 5.0])
    assert np.allclose(activation(volts, "relu", tech), [0, 0, 0.3, tech.vdd_v])
    assert np.allclose(activation(volts, "relu_switch", tech, enabled=False), 0)
    assert np.all(np.abs(activation(volts, "tanh", tech)) < tech.vdd_v)
