"""One circuit, one physics: every backend computes the same tile for the same conductances and inputs.

Over both weight encodings x both readouts x every weighted layer of both reference architectures and of one that is
neither (odd sizes, row and column splits):
(a) the GAN's crossbar layer (torch) against hdl's numpy model of the layer's tiles, relative error <= 1e-6;
(b) hdl's numpy tile model (`hdl.electrical.tile_outputs`) against ngspice running hdl's tile netlist, one tile per
    layer cut to at most 128 rows x 16 columns: relative error <= 1e-3;
(c) hdl's read power (`read_power_w`, `sign_read_power_w`) against the supply power of the crossbars in ngspice (the
    row and sign-column drivers' sensed currents): <= 2 %;
(d) the conductances the GAN programs for given weights against the ones hdl's encoding gives (which the netlist
    writer writes);
and whole accelerator netlists holding a run's conductances (`amdcgan netlist --bench --weights RUN`): plain
`ngspice -b` runs them, every node stays within the rails and every layer's outputs equal
`hdl.electrical.layer_outputs` for the bench's inputs.
"""

from __future__ import annotations

import subprocess
import zlib
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from amdcgan.cli import main
from amdcgan.fileio import write_bytes_atomic
from amdcgan.gan.config import make_config
from amdcgan.gan.devices import DeviceModel
from amdcgan.gan.layers import build_network
from amdcgan.hdl.electrical import (
    RUN_CONDUCTANCES, Cell, Conductances, Periphery, encode_weights, layer_outputs, save_run_conductances,
)
from amdcgan.hdl.loader import load_architecture
from amdcgan.hdl.mapping import plan_tiles
from amdcgan.hdl.netlist import bench_inputs, column_read_steps, layer_outputs_nets, tile_netlist
from amdcgan.hdl.spec import WEIGHTED_TYPES, Readout, WeightEncoding
from amdcgan.sim.checks import TileBench, read_tile
from amdcgan.sim.results import relative_error
from amdcgan.sim.runner import run_netlist

# ---------------------------------------------------------------------------------------------------------------------
# (a), (d): the GAN's layers and programming against hdl's model


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


def numpy_layer(layer, layer_plan, x: torch.Tensor, device, periphery: Periphery, circuit: Periphery | None = None):
    """hdl's numpy model of a GAN crossbar layer: its devices' conductances, its row drivers' reads of `x` (bias
    row at V_r), the layer's tiles in `circuit` (default: the periphery itself); (batch, positions, columns)."""
    main, second = (part.double().numpy() for part in layer.devices.conductances())
    conductances = Conductances(Cell.of(device, layer_plan.encoding), main, second)
    rows = windows(x, layer_plan).numpy() * periphery.v_read
    driven = periphery.drive_rows(rows, layer.read_gain)
    if layer_plan.bias:
        driven[..., -1] = periphery.v_read  # the bias row is driven at V_r
    outputs = layer_outputs(driven.reshape(-1, driven.shape[-1]), conductances, layer_plan, circuit or periphery)
    return (outputs / periphery.v_read).reshape(x.shape[0], -1, layer_plan.weight_columns), rows


def layer_cases():
    return [(which, encoding, readout) for which in ARCHITECTURES for encoding, readout in CIRCUITS]


@pytest.mark.parametrize("which,encoding,readout", layer_cases())
def test_gan_layers_compute_the_numpy_tile_model(architectures, which, encoding, readout):
    """(a) Same conductances (levels, variability), same inputs: relative error <= 1e-6 in float64, every layer."""
    check_layers_against_numpy(variant(architectures[which], encoding, readout))


@pytest.mark.parametrize("which", ["reference", "odd"])  # the small system's layers are one row split each
@pytest.mark.parametrize("encoding", list(WeightEncoding))
def test_ivc_tiles_that_clip_compute_the_numpy_tile_model(architectures, which, encoding):
    """(a) with an IVC feedback resistor 20x its full-scale value, so that tiles clip one by one before the summing
    amplifier: the GAN takes its tile-by-tile path and still equals hdl's model."""
    arch = variant(architectures[which], encoding, Readout.opamp_ivc)
    rows = arch.tiles.max_rows
    full_scale = Periphery.of(arch).feedback(rows)
    arch = arch.model_copy(update={"periphery": arch.periphery.model_copy(
        update={"ivc_feedback_ohm": 20 * full_scale})})
    clipping = check_layers_against_numpy(arch)
    assert clipping, "some layer's tiles reach their clip"


def check_layers_against_numpy(arch) -> list[str]:
    """Every layer of `arch` against hdl's numpy model; returns the layers whose tiles can reach their clip."""
    plan = plan_tiles(arch)
    clipping = []
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
                if len(layer_plan.row_splits) > 1 and layer.tiles_reach_clip(layer.matrix()):
                    clipping.append(layer_plan.name)
            expected, rows = numpy_layer(layer, layer_plan, x, devices.device, periphery)
            ours = ours.reshape(x.shape[0], layer_plan.weight_columns, -1).transpose(1, 2).numpy()
            scale = np.abs(expected).max()
            assert scale > 0
            assert np.abs(ours - expected).max() <= 1e-6 * scale, f"{network_plan.name}.{layer_plan.name}"
            limited = np.abs(rows * layer.read_gain) > periphery.v_read
            assert np.any(limited) == (layer.driver is None), "only inputs of unknown bound reach the limit"
    return clipping


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


# ---------------------------------------------------------------------------------------------------------------------
# (b), (c) and whole netlists: hdl's model against ngspice

ROOT = Path(__file__).resolve().parents[1]
SPICE_ARCHITECTURES = {
    "am_dcgan_mnist": ROOT / "examples" / "am_dcgan_mnist.yaml",
    "small_system": ROOT / "examples" / "small_system.yaml",
    "odd_system": ROOT / "tests" / "data" / "odd_system.yaml",
}
MAX_ROWS, MAX_COLUMNS = 128, 16
TILE_TOLERANCE, POWER_TOLERANCE, LAYER_TOLERANCE = 1e-3, 0.02, 1e-3


@lru_cache(maxsize=None)
def _architecture(name: str):
    return load_architecture(SPICE_ARCHITECTURES[name])


def _layer_cases() -> list[tuple[str, str]]:
    return [(name, f"{layer.network}.{layer.name}") for name in SPICE_ARCHITECTURES
            for layer in plan_tiles(_architecture(name)).layers()]


def _seed(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode())


def _random_run(architecture, seed: int) -> dict:
    """Conductances of random weights for every layer, as a training run would leave them."""
    rng = np.random.default_rng(seed)
    return {f"{layer.network}.{layer.name}": encode_weights(
        rng.uniform(-1.0, 1.0, (layer.weight_rows, layer.weight_columns)), Cell.of(architecture.device, layer.encoding))
        for layer in plan_tiles(architecture).layers()}


# ---------------------------------------------------------------------------------------------------------------------
# The numpy tile model and the read power against ngspice, one tile per layer


@lru_cache(maxsize=None)
def _tile_reading(arch_name: str, layer_key: str, encoding: WeightEncoding, readout: Readout):
    architecture = _architecture(arch_name)
    network, name = layer_key.split(".")
    tile = plan_tiles(architecture).layer(network, name).tiles[0]
    rows, columns = min(tile.n_rows, MAX_ROWS), min(tile.n_columns, MAX_COLUMNS)
    rng = np.random.default_rng(_seed(arch_name, layer_key, encoding.value, readout.value))
    periphery = Periphery.of(architecture)
    conductances = encode_weights(rng.uniform(-1.0, 1.0, (rows, columns)), Cell.of(architecture.device, encoding))
    bench = TileBench(conductances, rng.uniform(-1.0, 1.0, rows) * periphery.v_read, readout, periphery,
                      f"{layer_key}.0")
    return bench, read_tile(bench)


TILE_CASES = pytest.mark.parametrize("arch_name,layer_key", _layer_cases())
ENCODINGS = pytest.mark.parametrize("encoding", list(WeightEncoding), ids=lambda value: value.value)
READOUTS = pytest.mark.parametrize("readout", list(Readout), ids=lambda value: value.value)


@pytest.mark.spice
@TILE_CASES
@ENCODINGS
@READOUTS
def test_tile_model_equals_ngspice(arch_name, layer_key, encoding, readout):
    bench, spice = _tile_reading(arch_name, layer_key, encoding, readout)
    assert relative_error(spice.outputs, bench.model_outputs()) <= TILE_TOLERANCE


@pytest.mark.spice
@TILE_CASES
@ENCODINGS
@READOUTS
def test_read_power_equals_ngspice_supply_power(arch_name, layer_key, encoding, readout):
    bench, spice = _tile_reading(arch_name, layer_key, encoding, readout)
    assert spice.power_w > 0
    assert spice.power_w == pytest.approx(bench.model_power_w(), rel=POWER_TOLERANCE)
    if encoding is WeightEncoding.sign_crossbar:
        assert spice.sign_power_w > 0
    assert spice.sign_power_w == pytest.approx(bench.model_sign_power_w(), rel=POWER_TOLERANCE)


@pytest.mark.spice
@ENCODINGS
def test_full_height_tile_and_clipping_ivc_agree_with_ngspice(encoding):
    # A 128 x 16 tile whose IVC feedback is 100 times the default: most columns clip at the swing, and the summing
    # nodes float off virtual ground by what KCL gives for the clipped output, which the read power must include.
    # Open-loop gain 1e3: at 1e4 ngspice's Newton iteration cycles between the two clip levels in the sign-crossbar
    # column sweep (`read_tile` reports that as no convergence).
    architecture = _architecture("am_dcgan_mnist")
    periphery = Periphery.of(architecture)
    clipping = replace(periphery, feedback_ohm=100 * periphery.feedback(MAX_ROWS), opamp_gain=1e3)
    rng = np.random.default_rng(_seed("clipping", encoding.value))
    cell = Cell.of(architecture.device, encoding)
    conductances = encode_weights(rng.uniform(-1.0, 1.0, (MAX_ROWS, MAX_COLUMNS)), cell)
    bench = TileBench(conductances, rng.uniform(-1.0, 1.0, MAX_ROWS) * periphery.v_read, Readout.opamp_ivc, clipping,
                      "clipping")
    spice, model = read_tile(bench), bench.model_outputs()
    assert np.sum(np.abs(model) >= clipping.swing()[1] - 1e-12) >= MAX_COLUMNS // 4
    assert relative_error(spice.outputs, model) <= TILE_TOLERANCE
    assert spice.power_w == pytest.approx(bench.model_power_w(), rel=1e-6)


@pytest.mark.parametrize("arch_name", list(SPICE_ARCHITECTURES))
def test_netlist_and_spice_write_the_same_tile(arch_name):
    # `amdcgan netlist --tile` and the SPICE checks' tile bench are one writer: the same conductances and inputs
    # give the same circuit, line for line.
    architecture = _architecture(arch_name)
    plan = plan_tiles(architecture)
    layers = _random_run(architecture, 1)
    layer = plan.layers()[-1]
    tile = layer.tiles[-1]
    periphery = Periphery.of(architecture)
    inputs = bench_inputs(layer.weight_rows, periphery)
    inputs[-1] = periphery.v_read  # the bias row
    bench = TileBench(layers[f"{layer.network}.{layer.name}"].block(tile.rows, tile.columns),
                      inputs[tile.rows[0]:tile.rows[1]], layer.readout, periphery, tile.id)
    written = tile_netlist(plan, tile.id, layers).splitlines()[1:]
    assert written == bench.netlist()[0].text().splitlines()[1:]


# ---------------------------------------------------------------------------------------------------------------------
# Whole accelerator netlists holding a run's conductances


def _write_run(tmp_path: Path, architecture) -> tuple[Path, dict]:
    layers = _random_run(architecture, 2)
    run = tmp_path / "run"
    write_bytes_atomic(run / RUN_CONDUCTANCES, save_run_conductances(layers, 1.0))
    return run, layers


@pytest.mark.spice
@pytest.mark.parametrize("arch_name", ["small_system", "odd_system"])
def test_accelerator_bench_with_run_weights_equals_the_layer_model(tmp_path, arch_name):
    architecture = _architecture(arch_name)
    run, layers = _write_run(tmp_path, architecture)
    path = tmp_path / "accelerator.cir"
    arch_file = SPICE_ARCHITECTURES[arch_name]
    assert main(["netlist", str(arch_file), "-o", str(path), "--bench", "--weights", str(run)]) == 0
    vectors = run_netlist(path.read_text(), arch_name, timeout_s=200)
    periphery = Periphery.of(architecture)
    nodes = [values for name, values in vectors.items() if name.startswith("v(")]
    assert max(float(np.max(np.abs(values))) for values in nodes) <= periphery.rail + 1e-9
    for layer in plan_tiles(architecture).layers():
        inputs = bench_inputs(layer.weight_rows - (1 if layer.bias else 0), periphery)
        rows_v = np.append(inputs, periphery.v_read) if layer.bias else inputs
        model = layer_outputs(rows_v[None], layers[f"{layer.network}.{layer.name}"], layer, periphery)[0]
        swept = np.array([vectors[f"v({name})"] for name in layer_outputs_nets(layer)])
        spice = swept[np.arange(layer.weight_columns), column_read_steps(layer)]
        assert relative_error(spice, model) <= LAYER_TOLERANCE, f"{layer.network}.{layer.name}"


@pytest.mark.spice
def test_summing_amplifier_clips_at_the_supplies_as_the_model_does(tmp_path):
    # A summing gain of 40 drives the row-split layers' sums past the supplies: the netlist clips them there, as
    # `Periphery.sum_partials` does, instead of leaving a bare adder tens of volts outside the rails.
    loud = tmp_path / "loud.yaml"
    loud.write_text(SPICE_ARCHITECTURES["odd_system"].read_text().replace(
        "weight_encoding: sign_crossbar\n", "weight_encoding: sign_crossbar\nperiphery: {summing_gain: 40}\n"))
    architecture = load_architecture(loud)
    run, layers = _write_run(tmp_path, architecture)
    path = tmp_path / "loud.cir"
    assert main(["netlist", str(loud), "-o", str(path), "--bench", "--weights", str(run)]) == 0
    vectors = run_netlist(path.read_text(), "loud", timeout_s=200)
    periphery = Periphery.of(architecture)
    assert max(float(np.max(np.abs(values))) for name, values in vectors.items() if name.startswith("v(")) \
        <= periphery.rail + 1e-9
    clipped = 0
    for layer in (layer for layer in plan_tiles(architecture).layers() if len(layer.row_splits) > 1):
        rows_v = np.append(bench_inputs(layer.weight_rows - 1, periphery), periphery.v_read)
        model = layer_outputs(rows_v[None], layers[f"{layer.network}.{layer.name}"], layer, periphery)[0]
        swept = np.array([vectors[f"v({name})"] for name in layer_outputs_nets(layer)])
        spice = swept[np.arange(layer.weight_columns), column_read_steps(layer)]
        assert relative_error(spice, model) <= LAYER_TOLERANCE
        clipped += int(np.sum(np.isclose(np.abs(model), periphery.vdd)))
    assert clipped > 0


@pytest.mark.spice
def test_a_layers_own_summing_gain_reaches_netlist_numpy_and_torch(tmp_path):
    # Two row-split layers set their own summing amplifier's gain (one below 1, one above; the others keep the
    # periphery's 1): ngspice's bench, hdl's numpy model and the GAN's torch layer all take each layer's own.
    text = SPICE_ARCHITECTURES["odd_system"].read_text()
    text = text.replace("name: deconv1, filters: 1,", "name: deconv1, summing_gain: 0.5, filters: 1,")
    text = text.replace("readout: load_memristor}", "readout: load_memristor, summing_gain: 3}")
    source = tmp_path / "gains.yaml"
    source.write_text(text.replace("name: odd_system", "name: gains"))
    architecture = load_architecture(source)
    layers_plan = {layer.name: layer for layer in plan_tiles(architecture).layers()}
    assert {name: layer.summing_gain for name, layer in layers_plan.items() if len(layer.row_splits) > 1} == \
        {"deconv1": 0.5, "conv1": 1.0, "dense2": 3.0}
    run, layers = _write_run(tmp_path, architecture)
    path = tmp_path / "gains.cir"
    assert main(["netlist", str(source), "-o", str(path), "--bench", "--weights", str(run)]) == 0
    vectors = run_netlist(path.read_text(), "gains", timeout_s=200)
    periphery = Periphery.of(architecture)
    for name in ("deconv1", "dense2"):
        layer = layers_plan[name]
        rows_v = np.append(bench_inputs(layer.weight_rows - 1, periphery), periphery.v_read)
        model = layer_outputs(rows_v[None], layers[f"{layer.network}.{name}"], layer, periphery)[0]
        unity = layer_outputs(rows_v[None], layers[f"{layer.network}.{name}"], replace(layer, summing_gain=1.0),
                              periphery)[0]
        assert relative_error(model, unity) > 0.3  # the gain changes what the layer computes
        swept = np.array([vectors[f"v({net_name})"] for net_name in layer_outputs_nets(layer)])
        spice = swept[np.arange(layer.weight_columns), column_read_steps(layer)]
        assert relative_error(spice, model) <= LAYER_TOLERANCE, name
    dense2 = layers_plan["dense2"]
    network = build_network(architecture, plan_tiles(architecture).network("discriminator"), tile=True).double()
    crossbar = network.crossbars()["dense2"]
    seeded = torch.Generator().manual_seed(4)
    crossbar.program(0.1 * torch.randn(crossbar.weight.shape, generator=seeded, dtype=torch.float64))
    x = torch.rand(3, *dense2.input_shape, generator=seeded, dtype=torch.float64)
    with torch.no_grad():
        ours = crossbar(x).numpy()
    expected, _ = numpy_layer(crossbar, dense2, x, architecture.device, periphery)
    assert crossbar.periphery.summing_gain == 3.0
    np.testing.assert_allclose(ours, expected[:, 0], rtol=1e-9, atol=1e-12)


@pytest.mark.spice
@pytest.mark.parametrize("bench", [False, True], ids=["plain", "bench"])
def test_plain_ngspice_runs_the_accelerator_netlist(tmp_path, bench):
    run, _ = _write_run(tmp_path, _architecture("odd_system"))
    path = tmp_path / "odd.cir"
    assert main(["netlist", str(SPICE_ARCHITECTURES["odd_system"]), "-o", str(path), "--weights", str(run),
                 *(["--bench"] if bench else [])]) == 0
    done = subprocess.run(["ngspice", "-b", path.name], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-2000:]
    assert "error" not in log.lower(), log[-2000:]
    if bench:  # the outputs' tables: one row per sweep step (the widest sign-crossbar tile has 6 columns)
        assert "No. of Data Rows : 6" in log and "DC transfer characteristic" in log


# ---------------------------------------------------------------------------------------------------------------------
# Wire resistance: the GAN layer against hdl's numpy tile model with the same wires, and the zero-wire path unchanged

WIRES = {"row_wire_ohm": 2.5, "column_wire_ohm": 7.0}  # large for small tiles, so the wires matter in every tile


def wired(arch, **ohms):
    return arch.model_copy(update={"periphery": arch.periphery.model_copy(update=ohms)})


def gan_and_numpy_layers(arch, seed: int):
    """For every weighted layer: (name, the GAN layer's outputs, hdl's numpy outputs, ideal-wire numpy outputs)."""
    plan = plan_tiles(arch)
    config = make_config(levels=16, variability=0.3, weight_max=0.1)
    devices = DeviceModel.from_memristor(arch.device, config)
    periphery = Periphery.of(arch)
    generator = torch.Generator().manual_seed(seed)
    for network_plan in plan.networks:
        network = build_network(arch, network_plan, tile=True, devices=devices, generator=generator).double()
        for layer_plan in network_plan.layers:
            layer = network.crossbars()[layer_plan.name]
            layer.program(0.1 * torch.randn(layer.weight.shape, generator=generator, dtype=torch.float64))
            layer.driver, layer.limits_inputs = None, True  # inputs of unknown bound: the drivers limit them
            x = 2.0 * torch.randn(2, *layer_plan.input_shape, generator=generator, dtype=torch.float64)
            with torch.no_grad():
                ours = layer(x)
            expected, _ = numpy_layer(layer, layer_plan, x, devices.device, periphery)
            ideal, _ = numpy_layer(layer, layer_plan, x, devices.device, periphery, periphery.ideal_wires())
            ours = ours.reshape(x.shape[0], layer_plan.weight_columns, -1).transpose(1, 2).numpy()
            yield f"{network_plan.name}.{layer_plan.name}", ours, expected, ideal


@pytest.mark.parametrize("which,encoding,readout", [
    pytest.param(which, encoding, readout, marks=[pytest.mark.slow] if which == "small" else [])
    for which in ("odd", "small") for encoding, readout in CIRCUITS])
def test_gan_layers_with_wires_compute_the_numpy_tile_model(architectures, which, encoding, readout):
    """(a) with wires: relative error <= 1e-6 in float64 on every layer, where the wires change the outputs."""
    arch = wired(variant(architectures[which], encoding, readout), **WIRES)
    for name, ours, expected, ideal in gan_and_numpy_layers(arch, seed=11):
        scale = np.abs(expected).max()
        assert scale > 0
        assert np.abs(ours - expected).max() <= 1e-6 * scale, name
        assert np.abs(ideal - expected).max() > 1e-4 * scale, f"{name}: the wires must matter here"


@pytest.mark.parametrize("encoding,readout", CIRCUITS)
def test_zero_wires_take_the_ideal_path_unchanged(architectures, encoding, readout):
    """At 0 ohm no wire factor exists: the GAN never solves a mesh, and its outputs are the ideal model's."""
    arch = variant(architectures["odd"], encoding, readout)
    assert not Periphery.of(arch).wired
    for name, ours, expected, ideal in gan_and_numpy_layers(arch, seed=5):
        np.testing.assert_array_equal(expected, ideal)
        assert np.abs(ours - expected).max() <= 1e-6 * np.abs(expected).max(), name
    network = build_network(arch, plan_tiles(arch).network("generator"), tile=True)
    layer = next(iter(network.crossbars().values()))
    layer(torch.randn(2, *layer.plan.input_shape))
    assert layer._factors is None and not layer.wired


@pytest.mark.parametrize("encoding,readout", CIRCUITS)
def test_gradients_flow_through_the_wired_matrix(architectures, encoding, readout):
    """The weight gradient with wires is the ideal one's path times the wires' attenuation: nonzero, finite, and
    different from the ideal-wire gradient on the same devices."""
    gradients = []
    for ohms in (WIRES, {}):
        arch = wired(variant(architectures["small"], encoding, readout), **ohms)
        network = build_network(arch, plan_tiles(arch).network("discriminator"), tile=True,
                                generator=torch.Generator().manual_seed(2)).double()
        layer = next(iter(network.crossbars().values()))
        layer.program(0.1 * torch.randn(layer.weight.shape, generator=torch.Generator().manual_seed(4),
                                        dtype=torch.float64))
        x = torch.randn(3, *layer.plan.input_shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
        layer(x).square().sum().backward()
        gradients.append(layer.weight.grad.clone())
    assert torch.isfinite(gradients[0]).all() and gradients[0].abs().max() > 0
    assert (gradients[0] - gradients[1]).abs().max() > 1e-4 * gradients[1].abs().max()


def test_in_situ_writes_refresh_the_wires_every_k_rounds(architectures):
    """Between solves the kept factors are stale by a measured amount; after K write rounds the layer solves again
    and computes the numpy model of its new devices exactly."""
    periphery = architectures["small"].periphery.model_copy(update={**WIRES, "wire_refresh_writes": 3})
    arch = architectures["small"].model_copy(update={"periphery": periphery})
    config = make_config(levels=16, variability=0.3, weight_max=0.1)
    devices = DeviceModel.from_memristor(arch.device, config)
    network = build_network(arch, plan_tiles(arch).network("discriminator"), tile=True, devices=devices).double()
    layer = network.crossbars()["dense2"]
    layer.program(0.05 * torch.randn(layer.weight.shape, generator=torch.Generator().manual_seed(1),
                                     dtype=torch.float64))
    x = torch.randn(4, *layer.plan.input_shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    layer(x)
    kept = layer._factors
    changes = []
    for round_ in range(3):
        with torch.no_grad():
            layer.weight.add_(0.02 * torch.randn(layer.weight.shape, generator=torch.Generator().manual_seed(round_),
                                                 dtype=torch.float64))
        layer.commit_update()
        changes.append(layer.wire_staleness(x))
        layer(x)
    assert changes[0] > 0 and changes[1] > 0  # rounds 1 and 2 keep the solve
    assert layer._factors is not kept and layer.writes_since_solve == 0  # round 3 solved again
    assert changes[2] == 0.0
    main, second = (part.double().numpy() for part in layer.devices.conductances())
    driven = layer.drive(x).flatten(1).numpy() * layer.v_read
    rows = np.concatenate([driven, np.full((len(driven), 1), layer.v_read)], 1)  # the bias row at V_r
    expected = layer_outputs(rows, Conductances(layer.cell, main, second), layer.plan,
                             Periphery.of(arch)) / layer.v_read
    with torch.no_grad():
        ours = layer(x).numpy()
    assert np.abs(ours - expected).max() <= 1e-6 * np.abs(expected).max()


def test_netlists_carry_the_architectures_wires(architectures):
    """`amdcgan netlist` writes every crossbar of a wired architecture as the mesh the model solves: a row segment
    per cell and a column segment per cell, of the periphery's resistances."""
    arch = wired(architectures["small"], **WIRES)
    plan = plan_tiles(arch)
    tile = plan.layers()[0].tiles[0]
    physical = tile.n_rows * tile.physical_columns
    lines = tile_netlist(plan, tile.id).splitlines()
    row_segments = [line for line in lines if "_rw" in line.split()[0] and line.endswith(" 2.5")]
    column_segments = [line for line in lines if "_cw" in line.split()[0] and line.endswith(" 7")]
    assert len(row_segments) == len(column_segments) == physical
    assert not any("_rw" in line.split()[0] for line in tile_netlist(plan_tiles(architectures["small"]),
                                                                       tile.id).splitlines() if line)
