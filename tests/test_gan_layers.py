"""The crossbar layer's structure (row order, whole product against tile by tile, gradients through the readout) and
the device state's levels, scale and pulse counting. Its agreement with hdl's model is tests/test_physics_agreement.py.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from amdcgan.hdl.mapping import plan_tiles
from amdcgan.hdl.spec import WEIGHTED_TYPES, Readout, WeightEncoding
from amdcgan.gan.config import make_config
from amdcgan.gan.devices import DeviceModel, WeightDevices
from amdcgan.gan.layers import build_network, float_layer, weight_matrix
from amdcgan.gan import kernels
from amdcgan.gan import layers as layers_module


def tiny_tiles(arch, max_rows=7, max_columns=3, encoding=None):
    """The architecture with tiny tiles, so that every layer has row splits that cut through channels."""
    changes = {"tiles": arch.tiles.model_copy(update={"max_rows": max_rows, "max_columns": max_columns})}
    if encoding:
        changes["weight_encoding"] = encoding
    return arch.model_copy(update=changes)


def device_model(arch, **changes):
    config = make_config(**{"levels": "ideal", "variability": 0.0, "write_noise": 0.0, "weight_max": 1.0, **changes})
    return DeviceModel.from_memristor(arch.device, config)


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


def test_whole_product_equals_the_tile_by_tile_circuit_where_tiles_do_not_clip(small_arch):
    """A sign-crossbar load readout cannot clip, so one whole product gives the split circuit's values."""
    arch = tiny_tiles(small_arch)
    for layer_plan in plan_tiles(arch).layers():
        if layer_plan.readout is not Readout.load_memristor:
            continue
        network = build_network(arch, plan_tiles(arch).network(layer_plan.network), tile=True).double()
        tile = network.crossbars()[layer_plan.name]
        assert len(layer_plan.row_splits) > 1 and not tile.readout_clips
        tile.program(0.1 * torch.randn(layer_plan.weight_rows, layer_plan.weight_columns, dtype=torch.float64))
        x = torch.randn(3, *layer_plan.input_shape, dtype=torch.float64)
        rows = tile.drive(x)
        split = tile.combine(tile.partials(rows, tile.matrix()).sum(1))
        torch.testing.assert_close(tile(x), split, atol=1e-12, rtol=0)


def test_gradients_flow_through_the_readout(small_arch):
    """The effective matrix depends on the column sums (load readout): weights outside a column's own entry get
    gradient through the normalisation, which a straight-through copy of the weights would miss."""
    network = build_network(small_arch, plan_tiles(small_arch).network("discriminator"), tile=True).double()
    tile = next(iter(network.crossbars().values()))
    tile.program(0.05 * torch.randn(tile.weight.shape, dtype=torch.float64))
    matrix = tile.effective()
    matrix[0, 0].backward()
    assert tile.weight.grad[1:, 0].abs().sum() > 0  # other rows of column 0, through G_j
    assert tile.weight.grad[:, 1:].abs().sum() == 0  # other columns do not enter


@pytest.mark.parametrize("encoding", [WeightEncoding.sign_crossbar, WeightEncoding.differential_pair])
@pytest.mark.parametrize("levels", [2, 5, 64])
def test_programmed_conductances_are_allowed_levels(reference_arch, encoding, levels):
    model = device_model(reference_arch, levels=levels, weight_max=0.1)
    devices = WeightDevices(model, encoding, (40, 30), torch.Generator().manual_seed(1))
    devices.program(0.05 * torch.randn(40, 30))
    allowed = 1 / 25_000 + torch.arange(levels, dtype=torch.float64) * (1 / 4000 - 1 / 25_000) / (levels - 1)
    arrays = 1 if encoding is WeightEncoding.sign_crossbar else 2  # a sign crossbar's second part is its signs

    def check():
        for conductance in devices.programmed_conductances()[:arrays]:
            distance = (conductance.double()[..., None] - allowed).abs().amin(-1)
            assert distance.max() < 1e-6 / 4000

    check()
    for _ in range(5):
        devices.update(devices.nominal() + 0.02 * torch.randn(40, 30))
        check()


def test_sign_crossbar_scale_and_pulse_counts(reference_arch):
    """Hand-derived: with 5 levels and weight_max 1, G_off/G_on = 4/25 so |w| takes 0.16 + k * 0.21; a device that
    states no switching rate moves one level per pulse, and a pulse costs V^2 t (G_before + G_after) / 2."""
    arch = reference_arch.model_copy(update={"device": reference_arch.device.model_copy(
        update={"switching_rate_s_per_v": 0.0})})
    model = device_model(arch, levels=5, stochastic_rounding=False)
    devices = WeightDevices(model, WeightEncoding.sign_crossbar, (1, 3), torch.Generator())
    devices.program(torch.tensor([[1.0, -0.37, 0.0]]))
    torch.testing.assert_close(devices.nominal(), torch.tensor([[1.0, -0.37, 0.16]]))
    devices.update(torch.tensor([[0.58, -0.58, -0.10]]))  # two steps down, one up, a sign flip at G_off
    torch.testing.assert_close(devices.nominal(), torch.tensor([[0.58, -0.58, -0.16]]))
    stats = devices.stats()
    assert stats["crossbar"]["total_pulses"] == 3 and stats["crossbar"]["max_pulses_per_device"] == 2
    g_on, g_off = 1 / 4000, 1 / 25_000
    step = (g_on - g_off) / 4
    assert stats["sign"]["total_pulses"] == 4  # a full-range flip of the sign device: 4 level steps of the rate
    per_joule = arch.device.v_write_v ** 2 * arch.device.t_write_s / 2
    crossbar_energy = (2 * ((g_off + 4 * step) + (g_off + 2 * step)) + 1 * ((g_off + 1 * step) + (g_off + 2 * step)))
    assert stats["crossbar"]["write_energy_j"] == pytest.approx(crossbar_energy * per_joule)
    assert stats["sign"]["write_energy_j"] == pytest.approx(4 * (g_on + g_off) * per_joule)


def test_updates_are_capped_and_unbiased(reference_arch):
    model = device_model(reference_arch, levels=128, weight_max=1.0, max_steps_per_update=3)
    devices = WeightDevices(model, WeightEncoding.differential_pair, (200, 200), torch.Generator())
    devices.program(torch.zeros(200, 200))
    step = model.weight_max / 127  # one level step of a differential pair
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
    ratio = first.magnitude.read() / first.magnitude.programmed()
    torch.testing.assert_close(ratio, first.magnitude.variation)


def test_networks_build_for_both_models(reference_arch):
    plan = plan_tiles(reference_arch)
    for name in ("generator", "discriminator"):
        tile = build_network(reference_arch, plan.network(name), tile=True)
        plain = build_network(reference_arch, plan.network(name), tile=False)
        x = torch.randn(2, *plan.network(name).input_shape)
        assert tile(x).shape == plain(x).shape
    generator = build_network(reference_arch, plan.network("generator"), tile=True)
    vdd, v_read = reference_arch.technology.vdd_v, reference_arch.read_voltage_v
    assert generator(1000 * torch.randn(2, 100)).abs().max() <= vdd / v_read  # the tanh circuit stays in the rails


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


def test_read_disturb_moves_devices_by_the_write_model(small_arch):
    """Reads above the threshold move a row's devices by rate x (|V| - V_th) x t_read per read (sign crossbar: summed
    over the column reads with the row's sign for each column); below the threshold nothing moves."""
    device = small_arch.device.model_copy(update={"levels": None})
    periphery = small_arch.periphery.model_copy(update={"read_voltage_v": 0.9, "read_disturb": True,
                                                         "read_pulse_s": 1e-12})
    arch = small_arch.model_copy(update={"device": device, "periphery": periphery})
    network = build_network(arch, plan_tiles(arch).network("discriminator"), tile=True).double()
    layer = list(network.crossbars().values())[-1]  # the dense layer
    layer.program(0.05 * torch.ones(layer.weight.shape, dtype=torch.float64))
    before = layer.devices.conductances()[0].clone()
    inputs = layer.inputs
    x = torch.zeros(3, inputs, dtype=torch.float64)
    x[:, 0] = layer.driver.input_bound / 0.9  # row 0 at the largest input the network gives it
    layer.train()
    layer(x.view(3, *layer.plan.input_shape))
    layer.commit_update()
    after = layer.devices.conductances()[0]
    rate, span = layer.cell.switching_rate, layer.cell.span
    row_v = layer.driver.input_bound * layer.read_gain
    assert row_v > device.v_threshold_v
    per_read = rate * (row_v - device.v_threshold_v) * 1e-12
    signs = layer.devices.sign.sum(1).to(after.dtype)
    torch.testing.assert_close(after[0] - before[0], (3 * per_read * signs[0] * span).expand_as(before[0]),
                               rtol=1e-6, atol=0)
    assert torch.equal(after[1:inputs], before[1:inputs])  # rows at 0 V
    bias_read = rate * (0.9 - device.v_threshold_v) * 1e-12  # the bias row at V_r = 0.9 V, once per read
    bias_change = 3 * layer.plan.positions * bias_read * signs[-1] * span
    torch.testing.assert_close(after[-1] - before[-1], bias_change.expand_as(before[-1]), rtol=1e-6, atol=0)


@pytest.mark.parametrize("encoding", list(WeightEncoding))
def test_continuous_slopes_are_the_derivatives_of_the_continuous_encoding(small_arch, encoding):
    from amdcgan.hdl.electrical import Cell
    cell = Cell.of(small_arch.device, encoding)
    unit = torch.tensor([-0.7, -0.1, 0.2, 0.9], dtype=torch.float64, requires_grad=True)
    slopes = cell.continuous_slopes(0.3 * unit.detach())  # any positive multiple of u gives them
    for part, slope in zip(cell.continuous(unit), slopes):
        (derivative,) = torch.autograd.grad(part.sum(), unit)
        torch.testing.assert_close(derivative, torch.as_tensor(slope, dtype=torch.float64).expand(4), rtol=0,
                                   atol=0)


@pytest.mark.parametrize("readout", list(Readout))
@pytest.mark.parametrize("max_rows, summing_gain, amplifier_always", [(7, 1.0, False), (7, 1.0, True),
                                                                       (7, 400.0, False), (512, 1.0, False)])
def test_the_fused_dense_product_equals_autograd_through_the_readout(small_arch, readout, max_rows, summing_gain,
                                                                     amplifier_always, monkeypatch, compiled_or_torch,
                                                                     fused_path):
    """`_SignCrossbarProduct` (a dense sign crossbar, one row tile or row splits, whose summing amplifier it applies
    itself) against the same layer computed through the autograd graph of `effective` and `sum_partials`: same
    outputs, same gradients for the weights and the inputs, also where a summing gain drives outputs to the rails.
    At unity gain the amplifier is skipped where every output is strictly within its rails (`amplifier_always`:
    applied all the same, which must change nothing). On the compiled loops and on torch's ops."""
    torch.manual_seed(0)  # the programmed weights decide which layers' tiles cannot clip: the same ones every run
    if amplifier_always:
        monkeypatch.setattr(layers_module, "_strictly_within", lambda *args: False)
    arch = tiny_tiles(small_arch, max_rows=max_rows, max_columns=64, encoding=WeightEncoding.sign_crossbar)
    arch = arch.model_copy(update={name: network.model_copy(update={"layers": [
        layer.model_copy(update={"readout": readout, "summing_gain": summing_gain})
        if isinstance(layer, WEIGHTED_TYPES) else layer
        for layer in network.layers]}) for name, network in arch.networks().items()})
    devices = device_model(arch, levels=16, variability=0.3, weight_max=0.1)
    checked, clipped = 0, 0
    for network_plan in plan_tiles(arch).networks:
        network = build_network(arch, network_plan, tile=True, devices=devices).double()
        for name, layer in network.crossbars().items():
            if layer.plan.type != "dense":
                continue
            layer.program(0.05 * torch.randn(layer.weight.shape, dtype=torch.float64))
            x = torch.randn(5, *layer.plan.input_shape, dtype=torch.float64, requires_grad=True)
            probe = torch.randn(5, layer.plan.weight_columns, dtype=torch.float64)
            if layer.tiles_reach_clip(layer.read_matrix()):
                continue  # the fused product is for tiles that cannot clip
            fused = layer(x)
            assert fused_path(fused) == ("compiled" if kernels.fused_product() else "torch"), name
            low, high = layer.periphery.summing_rails(layer.v_read)
            clipped += int(((fused <= low) | (fused >= high)).sum())
            fused_grads = torch.autograd.grad((fused * probe).sum(), (layer.weight, x))
            layer._fused_product, layer.matrix = (lambda: False), layer.effective  # the plain autograd graph
            graph = layer(x)
            graph_grads = torch.autograd.grad((graph * probe).sum(), (layer.weight, x))
            # (a summing gain multiplies the rounding of the two paths' different order of summation)
            torch.testing.assert_close(fused, graph, rtol=1e-12, atol=0 if summing_gain == 1 else 1e-14 * summing_gain,
                                       msg=name)
            for ours, expected in zip(fused_grads, graph_grads):
                torch.testing.assert_close(ours, expected, rtol=1e-9, atol=1e-12 * expected.abs().max(), msg=name)
            checked += 1
    assert checked >= 1  # (with IVC readouts 7-row tiles can often clip, and the draw leaves one layer or two)
    assert (clipped > 0) == (summing_gain > 1), "a large summing gain must drive some outputs to the rails"


@pytest.mark.parametrize("readout", list(Readout))
@pytest.mark.parametrize("max_rows", [7, 512])
def test_the_fast_sign_crossbar_gradient_equals_autograd_through_the_readout(small_arch, readout, max_rows,
                                                                           compiled_or_torch):
    """`_SignCrossbarMatrix` (value from the devices, gradient in a few passes) against the autograd graph of
    `effective`: same matrix, same weight gradients, for one tile and for row splits, dense and convolution, on the
    compiled loops and on torch's ops."""
    arch = tiny_tiles(small_arch, max_rows=max_rows, max_columns=64, encoding=WeightEncoding.sign_crossbar)
    arch = arch.model_copy(update={name: network.model_copy(update={"layers": [
        layer.model_copy(update={"readout": readout}) if isinstance(layer, WEIGHTED_TYPES) else layer
        for layer in network.layers]}) for name, network in arch.networks().items()})
    devices = device_model(arch, levels=16, variability=0.3, weight_max=0.1)
    for network_plan in plan_tiles(arch).networks:
        network = build_network(arch, network_plan, tile=True, devices=devices).double()
        for name, layer in network.crossbars().items():
            assert layer.plan.readout is readout
            layer.program(0.05 * torch.randn(layer.weight.shape, dtype=torch.float64))
            probe = torch.randn(layer.weight.shape, dtype=torch.float64)
            fast = layer.matrix()
            (fast_grad,) = torch.autograd.grad((fast * probe).sum(), layer.weight)
            graph = layer.effective()
            (graph_grad,) = torch.autograd.grad((graph * probe).sum(), layer.weight)
            assert fast.grad_fn is not None and type(fast.grad_fn).__name__ != type(graph.grad_fn).__name__
            torch.testing.assert_close(fast, graph, rtol=1e-12, atol=0, msg=name)
            torch.testing.assert_close(fast_grad, graph_grad, rtol=1e-9, atol=1e-12 * graph_grad.abs().max(),
                                       msg=name)


def test_row_drivers_limit_inputs_of_unknown_bound_as_their_clip_does(small_arch):
    """Inputs of unknown bound: the drivers clip them at +-V_r. Where none reaches the limit it is skipped, so value
    and gradient must still be the clip's, also for an input exactly at the limit (the clip passes no gradient)."""
    network = build_network(small_arch, plan_tiles(small_arch).network("discriminator"), tile=True).double()
    layer = list(network.crossbars().values())[-1]
    layer.driver, layer.limits_inputs, layer.read_gain = None, True, 0.5  # the limit at inputs of +-2 units
    within = 1.9 * (2 * torch.rand(4, layer.inputs, dtype=torch.float64) - 1)
    at_limit = within.clone()
    at_limit[0, 0] = 2.0
    beyond = 3 * within
    for x in (within, at_limit, beyond):
        ours, clipped = x.clone().requires_grad_(), x.clone().requires_grad_()
        rows = layer.drive(ours)
        expected = F.hardtanh(clipped * 0.5, -1.0, 1.0)
        torch.testing.assert_close(rows, expected, rtol=0, atol=0)
        weights = torch.randn_like(x)
        (rows * weights).sum().backward()
        (expected * weights).sum().backward()
        torch.testing.assert_close(ours.grad, clipped.grad, rtol=0, atol=0)
    assert layer._within_limit(within) and not layer._within_limit(at_limit) and not layer._within_limit(beyond)


def test_the_summing_amplifier_is_skipped_only_strictly_within_its_rails():
    from amdcgan.gan.layers import _strictly_within

    values = torch.tensor([-0.5, 0.0, 0.5])
    assert _strictly_within(values, -1.0, 1.0)
    assert not _strictly_within(values, -0.5, 1.0)  # at a rail the clip passes no gradient: not the identity
    assert not _strictly_within(values, -1.0, 0.5)
    assert not _strictly_within(values[:0], -1.0, 1.0)


@pytest.mark.parametrize("module, shape", [(lambda: nn.Linear(300, 7), (300,)), (lambda: nn.Linear(40, 5), (40,)),
                                           (lambda: nn.Conv2d(3, 4, 3, padding=1), (3, 6, 6))],
                         ids=["dense row tiles", "dense one tile", "convolution"])
def test_gradients_of_gradients_follow_the_layers_autograd_graph(module, shape, compiled_or_torch, fused_path):
    """A gradient penalty (WGAN-GP: the input gradient's norm, differentiated again) through the fused product and
    the fast matrix gradient equals the one through the plain autograd graph of `effective`, for the weights and the
    inputs; also for a weight handed in for the call (`functional_call`, as parametrizations such as spectral norm
    do), not the layer's own."""
    from amdcgan.analog import AnalogConv2d, AnalogLinear

    torch.manual_seed(0)
    reference = module()
    analog = {nn.Linear: AnalogLinear, nn.Conv2d: AnalogConv2d}[type(reference)]
    layer = analog.from_float(reference, hardware={"tiles": {"max_rows": 64, "max_columns": 128}}).double()
    x = (0.9 * (2 * torch.rand(5, *shape, dtype=torch.float64) - 1)).requires_grad_()

    def penalty_gradients():
        (input_gradient,) = torch.autograd.grad(layer(x).square().sum(), x, create_graph=True)
        return torch.autograd.grad(input_gradient.square().sum(), (layer.weight, x))

    if isinstance(reference, nn.Linear):
        compiled = compiled_or_torch == "compiled" and kernels.fused_product() is not None
        assert fused_path(layer(x)) == ("compiled" if compiled else "torch")
    ours = penalty_gradients()
    weight = layer.weight.detach().clone().requires_grad_()  # a weight handed in for the call, not the layer's own
    (input_gradient,) = torch.autograd.grad(torch.func.functional_call(layer, {"weight": weight}, (x,)).square().sum(),
                                            x, create_graph=True)
    handed_in = torch.autograd.grad(input_gradient.square().sum(), (weight, x))
    layer._fused_product, layer.matrix = (lambda: None), layer.effective  # the plain autograd graph
    expected = penalty_gradients()
    for got, wanted in [*zip(ours, expected), *zip(handed_in, expected)]:
        assert wanted.abs().max() > 0
        torch.testing.assert_close(got, wanted, rtol=1e-9, atol=1e-12 * wanted.abs().max())
