"""`amdcgan.analog`: converted torch models compute what `amdcgan train`'s tile model computes, train in situ from
plain PyTorch with counted pulses, and models the project never saw convert and train.

(The architecture files `amdcgan import` makes of the unseen models below go through describe, estimate, netlist
and layout in test_import.py.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from amdcgan.analog import (
    AnalogConv2d,
    AnalogConvTranspose2d,
    AnalogLinear,
    AnalogOptimizer,
    Hardware,
    analog_layers,
    commit_updates,
    convert,
    write_statistics,
)
from amdcgan.cli import main
from amdcgan.errors import UserError
from amdcgan.gan.config import make_config
from amdcgan.gan.layers import build_network, weight_matrix
from amdcgan.gan.train import Models, build_models, gan_step, seed_everything, update_statistics
from amdcgan.hdl.electrical import row_drivers
from amdcgan.hdl.loader import build_architecture, read_yaml
from amdcgan.hdl.mapping import plan_tiles

ROOT = Path(__file__).resolve().parents[1]
ARCH = ROOT / "examples" / "am_dcgan_mnist.yaml"
MODELS = ROOT / "tests" / "data" / "import_models.py"
sys.path.insert(0, str(MODELS.parent))
import import_models as models  # noqa: E402

# Devices with something to get wrong: 64 levels, 30 % device-to-device variability, write noise.
DEVICE = {"base": "wo2", "levels": 64, "variability_sigma": 0.3, "write_noise_sigma": 0.2}


def architecture_with_device():
    return build_architecture({**read_yaml(ARCH), "device": DEVICE}, str(ARCH), ARCH.parent)


def relative_error(expected: torch.Tensor, got: torch.Tensor) -> float:
    expected, got = expected.detach(), got.detach()
    return float((expected - got).norm() / expected.norm())


SMALL_TILES = {"tiles": {"max_rows": 64, "max_columns": 128}}  # row tiles for layers of a few hundred inputs


# ---------------------------------------------------------------------------------------------------------------------
# The converted float DCGAN against the model `amdcgan train` builds


@pytest.fixture(scope="module")
def twins():
    """`amdcgan train`'s in-situ models, and the float DCGAN converted on the same devices and programmed alike."""
    architecture = architecture_with_device()
    seed = 3
    seed_everything(seed)
    trained = build_models(architecture, make_config(mode="insitu", seed=seed, score=False), torch.device("cpu"))
    plan = plan_tiles(architecture)
    variability = torch.Generator().manual_seed(seed + 1)  # as build_models draws the devices' factors
    converted = convert_float_dcgan(architecture, torch.Generator().manual_seed(seed + 1))
    for name, network in converted.items():
        program_alike(getattr(trained, name), network)
    return architecture, trained, converted


def convert_float_dcgan(architecture, variability: torch.Generator) -> dict[str, nn.Module]:
    """The float DCGAN converted, its devices' factors drawn as build_models draws them. Input bounds as hdl states
    them: the Generator's noise clipped at the supplies; the Discriminator sees images within +-V_r and the
    Generator's output."""
    plan = plan_tiles(architecture)
    rail = max(architecture.technology.vdd_v, -architecture.technology.vss_v) / architecture.read_voltage_v
    converted = {}
    bound = rail
    for name, input_shape in (("generator", None), ("discriminator", (1, 28, 28))):
        float_network = build_network(architecture, plan.network(name), tile=False)
        hardware = Hardware.load(architecture).model_copy(update={"summing_gain": own_summing_gains(
            architecture, name, float_network)})
        converted[name], report = convert(float_network, hardware, input_shape=input_shape, input_bound=bound,
                                          generator=variability)
        assert report.bounds_traced and not report.digital
        bound = max(1.0, report.output_bound)
    return converted


def own_summing_gains(architecture, network: str, float_network) -> dict[str, float]:
    """The summing gains the architecture file gives its layers, by the float network's module names."""
    gains = {layer.name: layer.summing_gain for layer in architecture.networks()[network].layers
             if getattr(layer, "summing_gain", None)}
    return {f"stages.{index}": gains[name.removesuffix("_rail")] for index, (name, module)
            in enumerate(zip(float_network.names, float_network.stages))
            if name.removesuffix("_rail") in gains and isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))}


def program_alike(tile_network: nn.Module, analog_network: nn.Module) -> None:
    """Both networks' devices programmed with the tile network's weights (same write noise); batch norms copied."""
    for tile_layer, analog in zip(tile_network.crossbars().values(), analog_layers(analog_network).values(),
                                  strict=True):
        weights = tile_layer.weight.detach().clone()
        torch.manual_seed(0)
        tile_layer.program(weights)
        torch.manual_seed(0)
        analog.program(weights)
    norms = [[module for module in network.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
             for network in (tile_network, analog_network)]
    for tile_norm, analog_norm in zip(*norms, strict=True):
        analog_norm.load_state_dict(tile_norm.state_dict())


def test_converted_read_gains_are_the_architectures(twins):
    architecture, trained, converted = twins
    expected = row_drivers(architecture, plan_tiles(architecture))
    for name in ("generator", "discriminator"):
        drivers = [layer.driver for layer in analog_layers(converted[name]).values()]
        assert drivers == [expected[f"{name}.{layer}"] for layer in getattr(trained, name).crossbars()]


@pytest.mark.parametrize("name", ["generator", "discriminator"])
def test_converted_layers_compute_what_train_builds(twins, name):
    _, trained, converted = twins
    tile_network, analog_network = getattr(trained, name).double(), converted[name].double()
    pairs = list(zip(tile_network.crossbars().items(), analog_layers(analog_network).items(), strict=True))
    for (layer_name, tile_layer), (_, analog) in pairs:
        assert analog.plan.row_splits == tile_layer.plan.row_splits, layer_name
        within = tile_layer.driver.input_bound / tile_layer.v_read  # the inputs the tile model is built for
        x = (torch.rand(8, *tile_layer.plan.input_shape, generator=torch.Generator().manual_seed(1),
                        dtype=torch.float64) * 2 - 1) * within
        flat = x.flatten(1) if isinstance(analog, AnalogLinear) else x  # the float model's nn.Flatten, as nn.Linear
        with torch.no_grad():
            assert relative_error(tile_layer(x), analog(flat)) <= 1e-6, layer_name


@pytest.mark.parametrize("name", ["generator", "discriminator"])
def test_converted_network_computes_what_train_builds(twins, name):
    architecture, trained, converted = twins
    tile_network, analog_network = getattr(trained, name).double(), converted[name].double()
    draw = torch.randn if name == "generator" else lambda *shape, **options: torch.rand(*shape, **options) * 2 - 1
    x = draw(16, *getattr(architecture, name).input_shape, generator=torch.Generator().manual_seed(2),
             dtype=torch.float64)  # noise, or images within +-V_r
    outputs = []
    for network in (tile_network, analog_network):
        network.train()  # batch statistics, and the dropout switches drawn from the same seed
        torch.manual_seed(7)
        with torch.no_grad():
            outputs.append(network(x))
    assert outputs[0].abs().max() > 0
    assert relative_error(*outputs) <= 1e-6


@pytest.mark.slow
def test_in_situ_steps_write_the_pulses_train_writes():
    """Two DCGAN steps: `gan_step` on train's models, and the same step written by AnalogOptimizer on the converted
    ones; the devices take the same pulses, layer by layer."""
    architecture = architecture_with_device()
    config = make_config(mode="insitu", seed=0, score=False)
    seed_everything(0)
    trained = build_models(architecture, config, torch.device("cpu"))
    converted = convert_float_dcgan(architecture, torch.Generator().manual_seed(1))
    for name, network in converted.items():
        program_alike(getattr(trained, name), network)
    twin = Models(converted["generator"], converted["discriminator"], trained.device_model)
    real = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(4)) * 2 - 1
    for models, on_circuit in ((trained, True), (twin, False)):
        optimisers = tuple(torch.optim.Adam(network.parameters(), lr=2e-3, betas=(0.5, 0.999))
                           for network in (models.generator, models.discriminator))
        if not on_circuit:
            optimisers = (AnalogOptimizer(optimisers[0], models.generator),
                          AnalogOptimizer(optimisers[1], models.discriminator))
        torch.manual_seed(11)
        for _ in range(2):
            gan_step(models, optimisers, real, 100, on_circuit)
    expected = update_statistics(trained, config, 2, 16)["networks"]
    for name in ("generator", "discriminator"):
        got = write_statistics(getattr(twin, name))
        assert got["update_rounds"] == 2
        entry = got["networks"]["model"]
        assert entry["crossbar"] == expected[name]["crossbar"] and entry["crossbar"]["total_pulses"] > 0
        assert list(entry["layers"].values()) == list(expected[name]["layers"].values())


# ---------------------------------------------------------------------------------------------------------------------
# The layers one by one


@pytest.mark.parametrize("torch_layer, shape", [
    (nn.Linear(12, 5), (3, 12)),
    (nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 9, 9)),
    (nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1, output_padding=1), (2, 4, 5, 5)),
])
def test_from_float_keeps_shapes_and_weights(torch_layer, shape):
    kind = {nn.Linear: AnalogLinear, nn.Conv2d: AnalogConv2d, nn.ConvTranspose2d: AnalogConvTranspose2d}
    hardware = Hardware.load({"device": {"base": "wo2", "levels": None}, "tiles": {"max_rows": 8, "max_columns": 8}})
    with torch.no_grad():
        for parameter in torch_layer.parameters():
            parameter.mul_(0.2)  # inside +-weight_max
    analog = kind[type(torch_layer)].from_float(torch_layer, hardware)
    x = torch.rand(*shape)
    assert analog(x).shape == torch_layer(x).shape
    # continuous devices hold the weights exactly (sign crossbar: magnitudes above w_max g_off / g_on)
    kept = weight_matrix(torch_layer).abs() > hardware.weight_max * hardware.device.g_off_s / hardware.device.g_on_s
    assert torch.allclose(weight_matrix(analog.to_float())[kept], weight_matrix(torch_layer)[kept], atol=1e-7)
    assert len(analog.plan.row_splits) > 1  # small tiles: the rows are split


def test_ideal_readout_scale_is_the_electrical_model():
    """One tile, continuous devices, differential pairs read by an IVC of large gain: outputs are W x times the
    IVC's transimpedance over the conductance of one weight unit (derived by hand from the readout's formula)."""
    hardware = Hardware.load({"device": {"base": "wo2", "levels": None}, "weight_encoding": "differential_pair",
                              "periphery": {"opamp_gain": 1e9, "ivc_feedback_ohm": 1000.0}})
    torch_layer = nn.Linear(6, 3)
    with torch.no_grad():
        torch_layer.weight.uniform_(-0.09, 0.09)
        torch_layer.bias.uniform_(-0.09, 0.09)
    analog = AnalogLinear.from_float(torch_layer, hardware).double()
    x = torch.rand(4, 6, dtype=torch.float64) * 0.5
    span = hardware.device.g_on_s - hardware.device.g_off_s
    expected = torch_layer.double()(x) * span / hardware.weight_max * 1000.0
    assert relative_error(expected, analog(x)) < 1e-6


def test_readouts_by_layer_type_and_name_and_what_stays_digital():
    hardware = {"readout": {"dense": "load_memristor", "head": "opamp_ivc", "conv2d": "opamp_ivc"}}
    model = nn.Sequential()
    model.add_module("body", nn.Conv2d(1, 2, 3))
    model.add_module("pool", nn.MaxPool2d(2))
    model.add_module("flat", nn.Flatten())
    model.add_module("hidden", nn.Linear(8, 4))
    model.add_module("act", nn.LeakyReLU())
    model.add_module("head", nn.Linear(4, 1))
    analog, report = convert(model, hardware, input_shape=(1, 6, 6))
    layers = analog_layers(analog)
    assert {name: layer.plan.readout.value for name, layer in layers.items()} == {
        "body": "opamp_ivc", "hidden": "load_memristor", "head": "opamp_ivc"}
    assert report.digital == {"pool": "MaxPool2d has no circuit", "act": "LeakyReLU has no circuit"}
    _, second = convert(analog, hardware, input_shape=(1, 6, 6))  # crossbars stay as they are
    assert not second.analog and set(second.digital) == {"pool", "act"}
    assert analog(torch.rand(2, 1, 6, 6)).shape == (2, 1)


@pytest.mark.parametrize("periphery", [{}, {"tanh_amplitude_v": 0.5}])
def test_activation_circuits_are_hdls_transfer_within_the_rails(periphery):
    """ReLU and tanh modules become hdl's transfer (`Periphery.activation`, in volts here) and, far beyond any
    input a crossbar gives, stay within the supply rails without a clip of their own."""
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.Tanh())
    analog, _ = convert(model, {"periphery": periphery}, input_shape=(3,))
    circuits = analog_layers(analog)["0"].periphery
    x = torch.linspace(-1e4, 1e4, 2001, dtype=torch.float64)
    for module, function in ((analog[1], "relu"), (analog[3], "tanh")):
        assert module.within_rails  # (a circuit that could leave them would be clipped there)
        volts = module(x) * circuits.v_read
        torch.testing.assert_close(volts, circuits.activation(x * circuits.v_read, function), rtol=1e-12, atol=1e-12)
        assert circuits.vss <= float(volts.min()) and float(volts.max()) <= circuits.vdd
    tanh_reach = float(analog[3](x).abs().max()) * circuits.v_read
    assert tanh_reach == pytest.approx(periphery.get("tanh_amplitude_v", circuits.vdd))


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")  # torch's, for the layer with no rows
def test_bad_hardware_and_layers_are_named():
    with pytest.raises(UserError, match="tiles.max_rows"):
        Hardware.load({"tiles": {"max_rows": 0, "max_columns": 8}})
    with pytest.raises(UserError, match="groups=2"):
        AnalogConv2d(4, 4, 3, groups=2)
    with pytest.raises(UserError, match="neither a file nor a shipped device"):
        Hardware.load({"device": "no_such_device", "tiles": {"max_rows": 8, "max_columns": 8}})
    with pytest.raises(UserError, match="no crossbar rows"):
        AnalogLinear(0, 3, bias=False)


@pytest.mark.parametrize("build, shape", [(lambda: AnalogLinear(300, 7, hardware=SMALL_TILES), (300,)),
                                          (lambda: AnalogConv2d(3, 4, 3, hardware=SMALL_TILES), (3, 8, 8))])
def test_layers_evaluate_under_inference_mode_as_under_no_grad(build, shape):
    """`torch.inference_mode()`, torch's usual way to evaluate: the same outputs as `no_grad`, and the device state
    read under it still serves training after."""
    torch.manual_seed(0)
    layer, x = build(), torch.rand(4, *shape)
    with torch.inference_mode():
        evaluated = layer(x)
    with torch.no_grad():
        torch.testing.assert_close(evaluated, layer(x), rtol=0, atol=0)
    layer(x).square().sum().backward()
    assert layer.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------------------------------
# Models the project never saw


def lenet():
    return models.lenet_discriminator(), (1, 28, 28)


def mlp():
    return models.MLP((196, 32, 16, 1)), (196,)


def dcgan32():
    return models.DCGAN32Discriminator(), (3, 32, 32)


def dcgan32_generator():
    return models.DCGAN32Generator(), (16, 1, 1)


@pytest.mark.parametrize("build", [lenet, mlp, dcgan32, dcgan32_generator], ids=lambda build: build.__name__)
def test_unseen_model_converts_and_trains_in_situ(build):
    torch.manual_seed(0)
    model, input_shape = build()
    analog, report = convert(model, input_shape=input_shape)
    expected = {name for name, module in model.named_modules()
                if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))}
    assert set(report.analog) == expected and report.bounds_traced
    x = torch.rand(16, *input_shape) * 2 - 1
    output = analog(x).detach()
    target = output + 0.1 * torch.randn(output.shape)
    optimiser = AnalogOptimizer(torch.optim.Adam(analog.parameters(), lr=5e-3), analog)
    losses = []
    for _ in range(8):
        loss = F.mse_loss(analog(x), target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    stats = write_statistics(analog)
    layers = analog_layers(analog)
    assert stats["update_rounds"] == 8 and stats["run_statistics"]["total_write_pulses"] > 0
    assert stats["run_statistics"]["total_write_pulses"] == sum(
        int(layer.devices.magnitude.pulses.sum()) for layer in layers.values())  # the default: sign crossbar
    for layer in layers.values():  # every weight is what its devices hold
        assert torch.equal(layer.weight.detach(), layer.devices.nominal())


def test_converted_layers_match_the_imported_architecture(tmp_path, capsys):
    """`convert` and `amdcgan import` map LeNet onto the same crossbars: weight matrices and tiles per layer."""
    output = tmp_path / "lenet.yaml"
    assert main(["import", "--discriminator", f"{MODELS}:lenet_discriminator", "--base",
                 str(ROOT / "examples" / "small_system.yaml"), "-o", str(output)]) == 0
    capsys.readouterr()
    assert main(["describe", str(output), "--json"]) == 0
    described = json.loads(capsys.readouterr().out)["networks"]["discriminator"]["layers"]
    analog, _ = convert(models.lenet_discriminator(), output, input_shape=(1, 28, 28))
    layers = analog_layers(analog)
    assert [list(layer.weight.shape) for layer in layers.values()] == [
        list(entry["weight_matrix"]) for entry in described.values()]


def test_commit_updates_without_the_wrapper():
    torch.manual_seed(1)
    analog, _ = convert(nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2)))
    optimiser = torch.optim.SGD(analog.parameters(), lr=0.5)
    before = [layer.weight.detach().clone() for layer in analog_layers(analog).values()]
    analog(torch.rand(5, 8)).square().sum().backward()
    optimiser.step()
    commit_updates(analog)
    after = analog_layers(analog).values()
    assert any(not torch.equal(old, layer.weight) for old, layer in zip(before, after))
    assert write_statistics(analog)["update_rounds"] == 1


@pytest.mark.slow
def test_documented_example_runs():
    """docs/analog_example.py as a user runs it (fewer steps): converted, trained in situ, statistics, estimate."""
    import subprocess

    done = subprocess.run([sys.executable, str(ROOT / "docs" / "analog_example.py"), "--steps", "3"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "accuracy after 3 in-situ steps" in done.stdout and "write pulses per layer" in done.stdout
    assert "estimate of a whole GAN chip (small_cnn" in done.stdout
