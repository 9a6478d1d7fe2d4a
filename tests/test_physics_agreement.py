"""One circuit, one physics: every backend computes the same tile for the same conductances and inputs.

(a) the GAN's crossbar layer (torch) against hdl's numpy model of the layer's tiles, and (d) the conductances the
GAN programs for given weights against the ones hdl's encoding gives (which the netlist writer writes).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from amdcgan.gan.config import make_config
from amdcgan.gan.devices import DeviceModel
from amdcgan.gan.layers import build_network
from amdcgan.hdl.electrical import Cell, Conductances, Periphery, encode_weights, layer_outputs
from amdcgan.hdl.mapping import plan_tiles
from amdcgan.hdl.spec import WEIGHTED_TYPES, Readout, WeightEncoding

ARCHITECTURES = ("reference", "small", "odd")
CIRCUITS = [(encoding, readout) for encoding in WeightEncoding for readout in Readout]


def variant(arch, encoding: WeightEncoding, readout: Readout):
    """The architecture with every weighted layer on the given encoding and readout."""
    networks = {}
    for name, network in arch.networks().items():
        layers = [layer.model_copy(update={"encoding": encoding, "readout": readout})
                  if isinstance(layer, WEIGHTED_TYPES) else layer for layer in network.layers]
        networks[name] = network.model_copy(update={"layers": layers})
    return arch.model_copy(update={**networks, "weight_encoding": encoding})


@pytest.fixture(scope="module")
def architectures(reference_arch, small_arch):
    """Both references and one that is neither: odd tile limits that split rows through channels and columns."""
    odd = small_arch.model_copy(update={"tiles": small_arch.tiles.model_copy(update={"max_rows": 7,
                                                                                     "max_columns": 3})})
    return {"reference": reference_arch, "small": small_arch, "odd": odd}


def windows(x: torch.Tensor, plan) -> torch.Tensor:
    """(batch, positions, rows) crossbar row inputs of a layer, bias row included: the hardware's read per cycle."""
    if plan.type == "dense":
        patches = x.flatten(1)[:, None, :]
    else:
        padding, stride = plan.padding, plan.stride
        if plan.type == "deconv2d":  # the convolution over the zero-inserted input (hdl.mapping)
            batch, channels, height, width = x.shape
            inserted = x.new_zeros(batch, channels, (height - 1) * stride + 1, (width - 1) * stride + 1)
            inserted[:, :, ::stride, ::stride] = x
            edge = plan.kernel - 1 - plan.padding
            x = F.pad(inserted, (edge, edge + plan.output_padding, edge, edge + plan.output_padding))
            padding, stride = 0, 1
        patches = F.unfold(x, plan.kernel, padding=padding, stride=stride).transpose(1, 2)
    return torch.cat([patches, patches.new_ones(*patches.shape[:2], 1)], 2) if plan.bias else patches


def layer_cases():
    return [(which, encoding, readout) for which in ARCHITECTURES for encoding, readout in CIRCUITS]


@pytest.mark.parametrize("which,encoding,readout", layer_cases())
def test_gan_layers_compute_the_numpy_tile_model(architectures, which, encoding, readout):
    """(a) Same conductances (levels, variability), same inputs: relative error <= 1e-6 in float64, every layer."""
    arch = variant(architectures[which], encoding, readout)
    plan = plan_tiles(arch)
    config = make_config(levels=16, variability=0.3, weight_max=0.1)
    devices = DeviceModel.from_memristor(arch.device, config)
    periphery = Periphery.of(arch)
    generator = torch.Generator().manual_seed(7)
    for network_plan in plan.networks:
        network = build_network(arch, network_plan, tile=True, devices=devices, generator=generator).double()
        for layer_plan in network_plan.layers:
            layer = network.crossbars()[layer_plan.name]
            layer.program(0.1 * torch.randn(layer.weight.shape, generator=generator, dtype=torch.float64))
            if layer_plan.name == network_plan.layers[-1].name:
                layer.driver, layer.limits_inputs = None, True  # inputs of unknown bound: the drivers limit them
                bound = 4.0
            else:  # within the bound the network guarantees: the drivers never limit
                bound = layer.driver.input_bound / periphery.v_read
            x = bound * (2 * torch.rand(2, *layer_plan.input_shape, generator=generator, dtype=torch.float64) - 1)
            with torch.no_grad():
                ours = layer(x)
            main, second = (part.double().numpy() for part in layer.devices.conductances())
            conductances = Conductances(Cell.of(devices.device, layer_plan.encoding), main, second)
            rows = windows(x, layer_plan).numpy() * periphery.v_read
            driven = periphery.drive_rows(rows, layer.read_gain)
            if layer_plan.bias:
                driven[..., -1] = periphery.v_read  # the bias row is driven at V_r
            expected = layer_outputs(driven.reshape(-1, driven.shape[-1]), conductances, layer_plan.row_splits,
                                     layer_plan.column_splits, layer_plan.readout, periphery) / periphery.v_read
            expected = expected.reshape(x.shape[0], -1, layer_plan.weight_columns)
            ours = ours.reshape(x.shape[0], layer_plan.weight_columns, -1).transpose(1, 2).numpy()
            scale = np.abs(expected).max()
            assert scale > 0
            assert np.abs(ours - expected).max() <= 1e-6 * scale, f"{network_plan.name}.{layer_plan.name}"
            limited = np.abs(rows * layer.read_gain) > periphery.v_read
            assert np.any(limited) == (layer.driver is None), "only inputs of unknown bound reach the limit"


@pytest.mark.parametrize("encoding", list(WeightEncoding))
@pytest.mark.parametrize("levels", [None, 8, 128])
def test_gan_programs_the_conductances_hdl_encodes(reference_arch, encoding, levels):
    """(d) The GAN's one-time programming of weights gives hdl's encoding of them, device for device."""
    config = make_config(levels=levels or "ideal", weight_max=0.1, variability=0.0, write_noise=0.0)
    devices = DeviceModel.from_memristor(reference_arch.device, config)
    arch = variant(reference_arch, encoding, Readout.load_memristor)
    network = build_network(arch, plan_tiles(arch).network("discriminator"), tile=True, devices=devices).double()
    layer = next(iter(network.crossbars().values()))
    weights = 0.1 * torch.randn(layer.weight.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    weights[0, 0] = 0.0
    layer.program(weights)
    programmed = [part.double().numpy() for part in layer.devices.conductances()]
    expected = encode_weights(weights.numpy(), Cell.of(devices.device, encoding), weight_max=0.1)
    np.testing.assert_allclose(programmed[0], expected.main, rtol=1e-6, atol=0)
    np.testing.assert_allclose(programmed[1], expected.second, rtol=1e-6, atol=0)
