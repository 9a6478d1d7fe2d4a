"""Tile-accurate layers against torch's float layers, the split-and-clip circuit against a hand-built reference, and
the device model's levels, scale and pulse counting."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from amdcgan.hdl.mapping import plan_tiles
from amdcgan.hdl.spec import WeightEncoding
from amdcgan.gan.config import make_config
from amdcgan.gan.devices import DeviceModel, WeightDevices
from amdcgan.gan.layers import CrossbarLayer, build_network, float_layer, weight_matrix


def tiny_tiles(arch, max_rows=7, max_columns=3, encoding=None):
    """The architecture with tiny tiles, so that every layer has row splits that cut through channels."""
    changes = {"tiles": arch.tiles.model_copy(update={"max_rows": max_rows, "max_columns": max_columns})}
    if encoding:
        changes["weight_encoding"] = encoding
    return arch.model_copy(update=changes)


def representable(layer: nn.Module, weight_max: float, g_ratio: float) -> None:
    """Weights whose magnitudes a sign crossbar holds exactly: |w| in [weight_max G_off/G_on, weight_max]."""
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for parameter in layer.parameters():
            magnitude = weight_max * (g_ratio + (1 - g_ratio) * torch.rand(parameter.shape, generator=generator))
            sign = torch.where(torch.rand(parameter.shape, generator=generator) < 0.5, -1.0, 1.0)
            parameter.copy_(sign * magnitude)


def device_model(arch, **changes):
    config = make_config(**{"levels": "ideal", "variability": 0.0, "write_noise": 0.0, "weight_max": 1.0, **changes})
    return DeviceModel.from_memristor(arch.device, config)


@pytest.mark.parametrize("encoding", [WeightEncoding.sign_crossbar, WeightEncoding.differential_pair])
def test_ideal_tiles_equal_torch_layers(small_arch, encoding):
    arch = tiny_tiles(small_arch, encoding=encoding)
    model = device_model(arch)
    for layer_plan in plan_tiles(arch).layers():
        assert len(layer_plan.row_splits) > 1
        reference = float_layer(layer_plan).double()
        representable(reference, model.weight_max, model.g_off / model.g_on)
        tile = CrossbarLayer(layer_plan, model, None, torch.Generator().manual_seed(0)).double()
        tile.program(weight_matrix(reference))
        x = torch.randn(5, *layer_plan.input_shape, dtype=torch.float64)
        expected = reference(x.flatten(1) if layer_plan.type == "dense" else x)
        torch.testing.assert_close(tile(x), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(tile.split_forward(x), expected, atol=1e-5, rtol=0)


def test_weight_matrix_row_order_is_the_plans(small_arch):
    """Conv rows are (in_channel, ky, kx) with the bias last; a deconv holds its flipped, transposed kernel."""
    plans = {layer.name: layer for layer in plan_tiles(small_arch).layers()}
    conv = float_layer(plans["conv1"])
    matrix = weight_matrix(conv)
    assert matrix.shape == (plans["conv1"].weight_rows, plans["conv1"].weight_columns)
    assert matrix[1 * 9 + 2 * 3 + 1, 0] == conv.weight[0, 1, 2, 1]
    assert torch.equal(matrix[-1], conv.bias)
    deconv = float_layer(plans["deconv1"])
    matrix = weight_matrix(deconv)
    k = deconv.kernel_size[0]
    assert matrix[1 * 9 + 0 * 3 + 2, 0] == deconv.weight[1, 0, k - 1 - 0, k - 1 - 2]


def naive_split_reference(x, matrix, plan, rails):
    """Per row split: unfold the (zero-inserted) input, multiply, clip; then sum and clip. A direct loop."""
    low, high = rails
    if plan.type == "dense":
        patches = x.flatten(1)[:, None, :]
    else:
        if plan.type == "deconv2d":
            stride, k = plan.stride, plan.kernel
            batch, channels, height, width = x.shape
            inserted = x.new_zeros(batch, channels, (height - 1) * stride + 1, (width - 1) * stride + 1)
            inserted[:, :, ::stride, ::stride] = x
            edge = k - 1 - plan.padding
            x = F.pad(inserted, (edge, edge + plan.output_padding, edge, edge + plan.output_padding))
            padding, stride = 0, 1
        else:
            padding, stride = plan.padding, plan.stride
        patches = F.unfold(x, plan.kernel, padding=padding, stride=stride).transpose(1, 2)
    rows = torch.cat([patches, patches.new_ones(*patches.shape[:2], 1)], 2) if plan.bias else patches
    total = 0
    for start, stop in plan.row_splits:
        total = total + (rows[..., start:stop] @ matrix[start:stop]).clamp(low, high)
    out = total.clamp(low, high)
    if plan.type == "dense":
        return out[:, 0]
    side = int(out.shape[1] ** 0.5)
    return out.transpose(1, 2).reshape(out.shape[0], -1, side, side)


def test_partial_sums_clip_before_the_summing_amplifier(small_arch):
    arch = tiny_tiles(small_arch)
    rails = (-2.5, 3.0)
    for layer_plan in plan_tiles(arch).layers():
        tile = CrossbarLayer(layer_plan, None, rails, torch.Generator()).double()
        matrix = torch.randn(layer_plan.weight_rows, layer_plan.weight_columns, dtype=torch.float64)
        tile.program(matrix)
        x = 0.7 * torch.randn(32, *layer_plan.input_shape, dtype=torch.float64)
        expected = naive_split_reference(x, matrix, layer_plan, rails)
        torch.testing.assert_close(tile(x), expected, atol=1e-9, rtol=0)
        unclipped_sum = naive_split_reference(x, matrix, layer_plan, (-1e9, 1e9)).clamp(*rails)
        assert not torch.allclose(expected, unclipped_sum), "the example must exercise partial clipping"


def test_whole_product_is_used_only_where_no_partial_can_clip(small_arch):
    """Small inputs take the fast whole-matrix path, and it agrees with the tile-by-tile circuit."""
    layer_plan = next(layer for layer in plan_tiles(tiny_tiles(small_arch)).layers() if layer.type == "conv2d")
    tile = CrossbarLayer(layer_plan, None, (-3.6, 3.6), torch.Generator()).double()
    tile.program(0.01 * torch.randn(layer_plan.weight_rows, layer_plan.weight_columns, dtype=torch.float64))
    x = torch.randn(3, *layer_plan.input_shape, dtype=torch.float64)
    assert not tile._partials_may_clip(x, tile.matrix())
    assert tile._partials_may_clip(1e4 * x, tile.matrix())
    torch.testing.assert_close(tile(x), tile.split_forward(x), atol=1e-12, rtol=0)


@pytest.mark.parametrize("encoding", [WeightEncoding.sign_crossbar, WeightEncoding.differential_pair])
@pytest.mark.parametrize("levels", [2, 5, 64])
def test_programmed_conductances_are_allowed_levels(reference_arch, encoding, levels):
    model = device_model(reference_arch, levels=levels, weight_max=0.1)
    devices = WeightDevices(model, encoding, (40, 30), torch.Generator().manual_seed(1))
    devices.program(0.05 * torch.randn(40, 30))
    allowed = model.allowed_conductances()
    assert len(allowed) == levels and allowed[0] == pytest.approx(1 / 25_000) and allowed[-1] == pytest.approx(1 / 4000)

    def check():
        for conductance in devices.programmed_conductances():
            distance = (conductance.double()[..., None] - allowed).abs().amin(-1)
            assert distance.max() < 1e-6 * model.g_on

    check()
    for _ in range(5):
        devices.update(devices.nominal() + 0.02 * torch.randn(40, 30))
        check()


def test_sign_crossbar_scale_and_pulse_counts(reference_arch):
    """Hand-derived: with 5 levels and weight_max 1, G_off/G_on = 4/25 so |w| takes 0.16 + k * 0.21."""
    model = device_model(reference_arch, levels=5, stochastic_rounding=False)
    devices = WeightDevices(model, WeightEncoding.sign_crossbar, (1, 3), torch.Generator())
    devices.program(torch.tensor([[1.0, -0.37, 0.0]]))
    torch.testing.assert_close(devices.nominal(), torch.tensor([[1.0, -0.37, 0.16]]))
    devices.update(torch.tensor([[0.58, -0.58, -0.10]]))  # two steps down, one up, a sign flip at G_off
    torch.testing.assert_close(devices.nominal(), torch.tensor([[0.58, -0.58, -0.16]]))
    stats = devices.stats()
    assert stats["crossbar"]["total_pulses"] == 3 and stats["crossbar"]["max_pulses_per_device"] == 2
    assert stats["sign"]["total_pulses"] == 1
    g = model.g_off + torch.tensor([2, 2]) * model.g_step  # conductances written by the two moved devices
    expected_energy = float((torch.tensor([2, 1]) * g).sum()) * model.v_write**2 * model.t_write
    assert stats["crossbar"]["write_energy_j"] == pytest.approx(expected_energy)


def test_updates_are_capped_and_unbiased(reference_arch):
    model = device_model(reference_arch, levels=128, weight_max=1.0, max_steps_per_update=3)
    devices = WeightDevices(model, WeightEncoding.differential_pair, (200, 200), torch.Generator())
    devices.program(torch.zeros(200, 200))
    step = model.weight_max / model.span
    torch.manual_seed(0)
    devices.update(torch.full((200, 200), 0.3 * step))
    assert devices.nominal().mean() / step == pytest.approx(0.3, abs=0.02)  # stochastic rounding keeps the mean
    devices.update(devices.nominal() + 50 * step)
    assert int(devices.stats()["crossbar"]["max_pulses_per_device"]) <= 4


def test_variability_is_fixed_seeded_and_of_the_given_sigma(reference_arch):
    model = device_model(reference_arch, levels=128, variability=0.3)
    first = WeightDevices(model, WeightEncoding.sign_crossbar, (300, 300), torch.Generator().manual_seed(5))
    second = WeightDevices(model, WeightEncoding.sign_crossbar, (300, 300), torch.Generator().manual_seed(5))
    assert torch.equal(first.magnitude.variation, second.magnitude.variation)
    assert first.magnitude.variation.log().std() == pytest.approx(0.3, rel=0.02)  # lognormal: log-std is sigma
    first.program(torch.full((300, 300), 0.05))
    ratio = first.effective() / first.nominal()
    torch.testing.assert_close(ratio, first.magnitude.variation)


def test_networks_build_for_both_models(reference_arch):
    plan = plan_tiles(reference_arch)
    for name in ("generator", "discriminator"):
        tile = build_network(reference_arch, plan.network(name), tile=True)
        plain = build_network(reference_arch, plan.network(name), tile=False)
        x = torch.randn(2, *plan.network(name).input_shape)
        assert tile(x).shape == plain(x).shape
    generator = build_network(reference_arch, plan.network("generator"), tile=True)
    assert generator(1000 * torch.randn(2, 100)).abs().max() <= 1.0  # tanh output stays within its range


def test_activation_table_is_interpolated_in_volts(reference_arch, tmp_path):
    table = tmp_path / "tanh.csv"
    table.write_text("v_in,v_out\n-1,-0.4\n0,0\n1,0.2\n")
    plan = plan_tiles(reference_arch)
    generator = build_network(reference_arch, plan.network("generator"), tile=True, activation_tables={"tanh": table})
    curve = next(stage for stage in generator.stages if type(stage).__name__ == "TableActivation")
    v_read = reference_arch.device.v_read_v
    x = torch.tensor([-10.0, -1.0, 0.5 / v_read, 10.0])
    # x units are x * v_read volts: -0.5 V -> -0.2 V; 0.5 V -> 0.1 V; beyond the table the ends hold
    expected = torch.tensor([-0.4, -1.0 * v_read * 0.4, 0.1, 0.2]) / v_read
    torch.testing.assert_close(curve(x), expected)
