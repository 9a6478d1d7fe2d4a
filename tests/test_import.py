"""`amdcgan import`: PyTorch models to architecture files, checked against the YAML they were built from, against
the models' own parameter counts, and through every command that reads an architecture file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from amdcgan.cli import main
from amdcgan.errors import UserError
from amdcgan.gan.importer import LAYER, import_architecture, network_from_model
from amdcgan.gan.layers import build_network
from amdcgan.hdl.loader import load_architecture
from amdcgan.hdl.mapping import plan_tiles

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MODELS = ROOT / "tests" / "data" / "import_models.py"
SMALL = EXAMPLES / "small_system.yaml"

sys.path.insert(0, str(MODELS.parent))
import import_models as models  # noqa: E402


def run(argv: list[str], capsys) -> tuple[int, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def structure(layers) -> list[dict]:
    """Layer types and parameters, names aside: every layer through the architecture file's own model."""
    parsed = [LAYER.validate_python(layer) if isinstance(layer, dict) else layer for layer in layers]
    return [layer.model_dump(exclude={"name"}) for layer in parsed]


def float_gan(path: Path) -> dict[str, nn.Module]:
    architecture = load_architecture(path)
    plan = plan_tiles(architecture)
    return {name: build_network(architecture, plan.network(name), tile=False) for name in ("generator", "discriminator")}


# ---------------------------------------------------------------------------------------------------------------------
# Round trip: the float DCGAN built from a YAML imports back to that YAML's networks


@pytest.mark.parametrize("example", ["am_dcgan_mnist.yaml", "small_system.yaml"])
def test_float_dcgan_imports_back_to_its_architecture(example, tmp_path):
    source = load_architecture(EXAMPLES / example)
    output = tmp_path / "imported.yaml"
    import_architecture(output, gan=float_gan(EXAMPLES / example), base=EXAMPLES / example)
    imported = load_architecture(output)
    for name, network in source.networks().items():
        again = imported.networks()[name]
        assert again.input_shape == network.input_shape
        assert structure(again.layers) == structure(network.layers), name
    assert imported.device == source.device and imported.tiles == source.tiles


# ---------------------------------------------------------------------------------------------------------------------
# Models the project never saw


def weighted_parameters(*networks: nn.Module) -> int:
    """Weights and biases of a model's dense and convolution layers, counted by torch."""
    kinds = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)
    return sum(p.numel() for net in networks for m in net.modules() if isinstance(m, kinds) for p in m.parameters())


UNSEEN = {
    # name: (arguments of `amdcgan import`, generator and discriminator as torch builds them)
    "dcgan32": ([f"{MODELS}:DCGAN32"], lambda: (models.DCGAN32Generator(), models.DCGAN32Discriminator())),
    "mlp_gan": ([f"{MODELS}:MLPGan"], lambda: (models.MLPGan().generator, models.MLPGan().discriminator)),
    "lenet": (["--discriminator", f"{MODELS}:lenet_discriminator", "--base", SMALL],
              lambda: (float_gan(SMALL)["generator"], models.lenet_discriminator())),
}


@pytest.mark.parametrize("name", sorted(UNSEEN))
def test_unseen_model_imports_with_every_weight(name, tmp_path, capsys):
    arguments, build = UNSEEN[name]
    output = tmp_path / f"{name}.yaml"
    code, text = run(["import", *arguments, "-o", output], capsys)
    assert code == 0, text
    code, text = run(["describe", output, "--json"], capsys)
    assert code == 0, text
    summary = json.loads(text)
    crossbar_weights = sum(rows * columns for network in summary["networks"].values()
                           for rows, columns in (layer["weight_matrix"] for layer in network["layers"].values()))
    assert crossbar_weights == weighted_parameters(*build())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(UNSEEN))
def test_unseen_model_goes_through_estimate_netlist_and_layout(name, tmp_path, capsys):
    arguments, _ = UNSEEN[name]
    output = tmp_path / f"{name}.yaml"
    assert run(["import", *arguments, "-o", output], capsys)[0] == 0
    code, text = run(["estimate", output, "-o", tmp_path / "estimate"], capsys)
    assert code == 0 and (tmp_path / "estimate" / "report.json").is_file(), text
    code, text = run(["netlist", output, "-o", tmp_path / "netlist" / f"{name}.cir"], capsys)
    assert code == 0 and (tmp_path / "netlist" / f"{name}.cir").stat().st_size > 0, text
    code, text = run(["layout", output, "-o", tmp_path / f"{name}.gds"], capsys)
    assert code == 0 and "0 violation(s)" in text, text


def test_lenet_layers_read_as_written(tmp_path):
    imported = network_from_model(models.lenet_discriminator())
    assert imported.input_shape == [1, 28, 28] and imported.output_shape == [1]
    assert structure(imported.layers) == structure([
        {"type": "conv2d", "filters": 6, "kernel": 5, "padding": 2}, {"type": "activation", "function": "tanh"},
        {"type": "mean_pool", "size": 2},
        {"type": "conv2d", "filters": 16, "kernel": 5}, {"type": "activation", "function": "tanh"},
        {"type": "mean_pool", "size": 2},
        {"type": "dense", "units": 120}, {"type": "activation", "function": "tanh"},
        {"type": "dense", "units": 84}, {"type": "activation", "function": "tanh"},
        {"type": "dense", "units": 1},
    ])
    assert [layer["name"] for layer in imported.layers][:2] == ["features_0", "features_1"]


def test_functional_code_reads_as_layers():
    imported = network_from_model(models.MLP((196, 32, 16, 1)))
    assert imported.input_shape == [196]
    assert structure(imported.layers) == structure([
        {"type": "dense", "units": 32}, {"type": "activation", "function": "relu"},
        {"type": "dense", "units": 16}, {"type": "activation", "function": "relu"}, {"type": "dropout", "rate": 0.25},
        {"type": "dense", "units": 1},
    ])


# ---------------------------------------------------------------------------------------------------------------------
# What has no circuit is named


@pytest.mark.parametrize("reference, named", [
    ("lenet_max_pool", ["features.2: MaxPool2d", "features.5: MaxPool2d"]),
    ("Odd", ["grouped: groups=2", "dilated: dilation [2, 2]", "add: combines tensors", "wide: kernel 3x5"]),
    ("Attention", ["attention: MultiheadAttention has no circuit", "sigmoid: function sigmoid has no circuit"]),
])
def test_layers_without_a_circuit_are_named(reference, named, tmp_path, capsys):
    output = tmp_path / "out.yaml"
    code, text = run(["import", "--discriminator", f"{MODELS}:{reference}", "--base", SMALL, "-o", output], capsys)
    assert code == 2 and not output.exists()
    assert f"{len(named)} part(s) of the model have no circuit" in text
    for part in named:
        assert part in text
    assert "Traceback" not in text


def test_skipping_lists_what_was_left_out(tmp_path, capsys):
    output = tmp_path / "out.yaml"
    code, text = run(["import", f"{MODELS}:DCGAN32Original", "-o", output], capsys)
    assert code == 2 and text.count("LeakyReLU has no circuit") == 3 and "main.9: Sigmoid has no circuit" in text
    code, text = run(["import", f"{MODELS}:DCGAN32Original", "-o", output, "--skip-unsupported"], capsys)
    assert code == 0, text
    assert text.count("left out of the discriminator") == 4
    assert output.read_text().count("# left out of the discriminator (no circuit)") == 4
    functions = [layer.function for layer in load_architecture(output).discriminator.layers if layer.type == "activation"]
    assert functions == []


def test_a_discriminator_takes_the_base_generators_output(tmp_path, capsys):
    base = tmp_path / "dcgan32.yaml"
    assert run(["import", f"{MODELS}:DCGAN32", "-o", base], capsys)[0] == 0
    output = tmp_path / "again.yaml"
    code, text = run(["import", "--discriminator", f"{MODELS}:DCGAN32Discriminator", "--base", base, "-o", output],
                     capsys)
    assert code == 0, text
    assert load_architecture(output).discriminator == load_architecture(base).discriminator


def test_a_classifier_is_not_a_discriminator(tmp_path, capsys):
    code, text = run(["import", "--discriminator", f"{MODELS}:LeNet", "--base", SMALL, "-o", tmp_path / "x.yaml"],
                     capsys)
    assert code == 2 and "must end in one output" in text and "[10]" in text


@pytest.mark.parametrize("arguments, message", [
    (["no_such_module_xyz:Model"], "cannot import no_such_module_xyz"),
    ([f"{MODELS}:NoSuchClass"], "has no attribute 'NoSuchClass'"),
    (["just_a_name"], "expected package.module:Name"),
    ([f"{MODELS}:LeNet"], "a GAN must have `generator` and `discriminator` attributes"),
    (["--generator", f"{MODELS}:DCGAN32Generator", "--base", SMALL], "cannot tell the input shape"),
    (["--discriminator", f"{MODELS}:DCGAN32Discriminator", "--base", SMALL], "expected input[2, 1, 28, 28] to have 3"),
    (["--generator", f"{MODELS}:DCGAN32Generator", "--generator-input", "16,0"], "--generator-input"),
    (["--generator", f"{MODELS}:DCGAN32Generator", "--generator-input", "16,1,1"], "no discriminator"),
    ([], "give a GAN model"),
])
def test_bad_references_get_one_message(arguments, message, tmp_path, capsys):
    code, text = run(["import", *arguments, "-o", tmp_path / "x.yaml"], capsys)
    assert code == 2 and message in text and "Traceback" not in text, text


def test_a_pickle_is_never_loaded(tmp_path, capsys):
    pickled = tmp_path / "weights.pt"
    torch.save(models.MLP((4, 3, 2, 1)).state_dict(), pickled)
    code, text = run(["import", "--discriminator", pickled, "--base", SMALL, "-o", tmp_path / "x.yaml"], capsys)
    assert code == 2 and "not a TorchScript archive" in text and "never unpickles" in text


# ---------------------------------------------------------------------------------------------------------------------
# TorchScript and ONNX read the same layers as torch.fx

FILE_MODELS = {
    "lenet": (models.lenet_discriminator, (1, 28, 28)),
    "dcgan32_generator": (models.DCGAN32Generator, (16, 1, 1)),
    "dcgan32_discriminator": (models.DCGAN32Discriminator, (3, 32, 32)),
    "mlp": (lambda: models.MLP((196, 32, 16, 1)), (196,)),
}


@pytest.mark.parametrize("how", ["script", "trace"])
@pytest.mark.parametrize("name", sorted(FILE_MODELS))
def test_torchscript_reads_like_fx(name, how, tmp_path):
    build, shape = FILE_MODELS[name]
    model = build().eval()
    saved = torch.jit.script(model) if how == "script" else torch.jit.trace(model, torch.zeros(2, *shape))
    path = tmp_path / f"{name}.pt"
    torch.jit.save(saved, str(path))
    from_file = network_from_model(path, shape)
    assert structure(from_file.layers) == structure(network_from_model(model, shape).layers)


@pytest.mark.parametrize("name", sorted(FILE_MODELS))
def test_onnx_reads_like_fx(name, tmp_path):
    pytest.importorskip("onnx")
    build, shape = FILE_MODELS[name]
    model = build()
    path = tmp_path / f"{name}.onnx"
    # PRESERVE keeps batch norm as its own node (an eval-mode export folds it into the convolution before it)
    torch.onnx.export(model, (torch.zeros(2, *shape),), str(path), dynamo=False,
                      training=torch.onnx.TrainingMode.PRESERVE)
    from_file = network_from_model(path)  # the input shape is the graph's declared input
    assert from_file.input_shape == list(shape)
    assert structure(from_file.layers) == structure(network_from_model(model.eval(), shape).layers)


def test_onnx_max_pool_is_named(tmp_path):
    pytest.importorskip("onnx")
    path = tmp_path / "lenet_max_pool.onnx"
    torch.onnx.export(models.lenet_max_pool(), (torch.zeros(2, 1, 28, 28),), str(path), dynamo=False)
    with pytest.raises(UserError, match="(?s)MaxPool has no circuit.*MaxPool has no circuit"):
        network_from_model(path)


def test_onnx_missing_is_one_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if not installed
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07")
    code, text = run(["import", "--discriminator", path, "--base", SMALL, "-o", tmp_path / "x.yaml"], capsys)
    assert code == 2 and "pip install 'amdcgan[onnx]'" in text


def test_a_base_files_layer_circuit_choices_carry_over_only_to_the_same_layers():
    from amdcgan.gan.importer import carry_layer_hardware

    base = [{"type": "dense", "name": "a", "units": 8, "readout": "load_memristor"},
            {"type": "activation", "name": "r", "function": "relu"},
            {"type": "dense", "name": "b", "units": 1, "summing_gain": 4.0}]
    same = [{"type": "dense", "name": "x", "units": 8}, {"type": "dense", "name": "y", "units": 1}]
    assert carry_layer_hardware([dict(layer) for layer in same], base) == [
        {"type": "dense", "name": "x", "units": 8, "readout": "load_memristor"},
        {"type": "dense", "name": "y", "units": 1, "summing_gain": 4.0}]
    wider = [{"type": "dense", "name": "x", "units": 9}, {"type": "dense", "name": "y", "units": 1}]
    assert carry_layer_hardware([dict(layer) for layer in wider], base) == wider
    assert carry_layer_hardware([dict(layer) for layer in same], base[:1]) == same
