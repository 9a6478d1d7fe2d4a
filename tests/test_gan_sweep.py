"""Sweeps: one point per value (epochs: one run with snapshots), figures and tables written, findings computed by
the stated criterion, and points that are pure functions of their inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from amdcgan.cli import app
from amdcgan.errors import UserError
from amdcgan.gan.config import make_config
from amdcgan.gan.sweep import parse_values, sweep, tolerance_finding
from amdcgan.gan.train import run_point
from amdcgan.hdl.spec import WeightEncoding

QUICK = dict(limit=64, batch=32, eval_samples=32)


def test_levels_sweep_writes_grid_plot_and_tables(small_arch, tmp_path):
    summary = sweep(small_arch, tmp_path, "levels", [2, 16], make_config(**QUICK))
    assert [point["value"] for point in summary["points"]] == [2, 16]
    assert all(point["fid"] > 0 and 0 <= point["classes"] <= 10 for point in summary["points"])
    assert summary["float_baseline"]["fid"] > 0
    for key in ("grid", "plot", "csv"):
        assert (tmp_path / summary["paths"][key]).stat().st_size > 0
    assert json.loads((tmp_path / "sweep_levels.json").read_text())["points"] == summary["points"]
    assert (tmp_path / "levels_2" / "config.json").exists() and (tmp_path / "levels_16" / "config.json").exists()
    # Every point's raw samples, and the sweep's rows undecorated: 10 digits of 28 px per row, 2 px black gaps.
    arrays = [np.load(path) for path in summary["paths"]["samples"]]
    assert all(array.shape == (32, 1, 28, 28) and array.dtype == np.float32 for array in arrays)
    assert np.array_equal(arrays[1], np.load(tmp_path / "levels_16" / "samples_epoch001.npy"))
    digits = np.asarray(Image.open(summary["paths"]["digits"]))
    assert digits.shape == (2 * 30 + 2, 10 * 30 + 2)
    second_row_third_digit = digits[32:60, 62:90] / 255
    assert np.allclose(second_row_third_digit, (arrays[1][2, 0].clip(-1, 1) + 1) / 2, atol=1 / 255)


def test_epochs_sweep_is_one_run_with_snapshots(small_arch, tmp_path):
    summary = sweep(small_arch, tmp_path, "epochs", [1, 2], make_config(**QUICK))
    run = tmp_path / "epochs_run"
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    for epoch in (0, 1, 2):  # every scored epoch keeps its raw samples and an undecorated grid
        assert np.load(run / f"samples_epoch{epoch:03d}.npy").shape == (32, 1, 28, 28)
        assert Image.open(run / f"samples_epoch{epoch:03d}_grid.png").size == (16 * 30 + 2, 2 * 30 + 2)
    metrics = {row["epoch"]: row["fid"] for row in json.loads((run / "metrics.json").read_text())}
    assert [point["fid"] for point in summary["points"]] == [metrics[1], metrics[2]]


def test_a_point_is_a_pure_function_of_its_inputs(small_arch, tmp_path):
    config = make_config(**QUICK, levels=4, variability=0.3, score=False)
    first = run_point(small_arch, config, tmp_path / "a")
    second = run_point(small_arch, config, tmp_path / "b")
    assert first["metrics"] == second["metrics"]
    samples = [np.load(tmp_path / name / "samples_epoch001.npy") for name in ("a", "b")]
    assert np.array_equal(*samples)
    assert run_point(small_arch, config, tmp_path / "a")["metrics"] == first["metrics"]  # a rerun reuses the point


def test_tolerance_finding_by_hand():
    points = [{"value": 0.0, "fid": 100.0, "classes": 9}, {"value": 0.1, "fid": 110.0, "classes": 9},
              {"value": 0.2, "fid": 124.0, "classes": 8}, {"value": 0.3, "fid": 140.0, "classes": 9},
              {"value": 0.4, "fid": 120.0, "classes": 9}]
    finding = tolerance_finding("variability", points)
    assert finding["values_keeping_quality"] == [0.0, 0.1, 0.2, 0.4]
    assert finding["ours"] == 0.2  # the first failing value (0.3) ends the tolerated range
    levels = [{"value": 4, "fid": 300.0, "classes": 3}, {"value": 64, "fid": 105.0, "classes": 9},
              {"value": 256, "fid": 100.0, "classes": 9}]
    assert tolerance_finding("levels", levels)["ours"] == 64
    assert tolerance_finding("levels", levels)["paper"]["value"] == 64
    untrained = [{**point, "untrained_fid": 2000.0} for point in levels]
    assert tolerance_finding("levels", untrained)["ours"] == 64
    barely = [{**point, "untrained_fid": 105.0} for point in levels]
    assert tolerance_finding("levels", barely)["ours"] is None


def test_bad_sweep_values_are_user_errors():
    with pytest.raises(UserError, match="comma-separated"):
        parse_values("levels", "2,four")
    assert parse_values("variability", "0,0.1") == [0.0, 0.1]


def test_cli_sweep_and_train_reject_bad_input(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["sweep", "examples/small_system.yaml", "-o", str(tmp_path), "--levels", "2",
                                 "--epochs", "1"])
    assert isinstance(result.exception, UserError) and "exactly one" in str(result.exception)
    result = runner.invoke(app, ["train", "examples/small_system.yaml", "-o", str(tmp_path), "--levels", "many"])
    assert isinstance(result.exception, UserError)


def test_programming_sweep_programs_one_trained_generator(small_arch, tmp_path):
    from amdcgan.gan.sweep import programming_sweep

    # A differential pair holds small weights exactly (a sign crossbar's floor of G_off would hide the levels).
    arch = small_arch.model_copy(update={"weight_encoding": WeightEncoding.differential_pair})
    trained = tmp_path / "exsitu"
    run_point(arch, make_config(**QUICK, mode="exsitu"), trained)
    summary = programming_sweep(arch, tmp_path / "sweep", "levels", [2, 4096], make_config(**QUICK), trained)
    coarse, fine = summary["points"]
    # Fine levels reproduce the ideal-device generator's images closely; two levels spoil them more.
    assert fine["rms_to_ideal"] < 0.1 * coarse["rms_to_ideal"]
    assert (tmp_path / "sweep" / "sweep_levels.png").stat().st_size > 0
    assert [np.load(path).shape for path in summary["paths"]["samples"]] == [(32, 1, 28, 28)] * 2
    assert not (tmp_path / "sweep" / "levels_2").exists()  # nothing was trained per point
    with pytest.raises(UserError, match="no training run there"):
        programming_sweep(arch, tmp_path / "x", "levels", [2], make_config(**QUICK), tmp_path / "sweep")
    run_point(arch, make_config(**QUICK, mode="float"), tmp_path / "float")
    with pytest.raises(UserError, match="do not fit the circuit"):
        programming_sweep(arch, tmp_path / "y", "levels", [2], make_config(**QUICK), tmp_path / "float")


def test_wire_sweep_reads_each_trained_circuit_through_every_resistance(small_arch, tmp_path):
    """One run per tile size on ideal wires, read through each resistance: the 0-ohm read is the trained circuit
    itself (no change), wires change the images and lower the read power (their series drop), and the finding
    follows the stated criterion."""
    from amdcgan.estimators.power import run_read_power_w
    from amdcgan.gan.sweep import wire_finding, wire_sweep

    summary = wire_sweep(small_arch, tmp_path, [0.0, 2.5], [16, 64], make_config(**QUICK),
                         read_power=run_read_power_w)
    assert [(p["tile_rows"], p["wire_ohm"]) for p in summary["points"]] == [(16, 0), (16, 2.5), (64, 0), (64, 2.5)]
    assert sorted(path.name for path in tmp_path.iterdir() if path.is_dir()) == ["rows16", "rows64"]
    for point in summary["points"]:
        assert point["fid"] > 0
        if point["wire_ohm"] == 0:
            assert point["output_change"] == 0.0
            assert point["read_power_w"] == point["read_power_ideal_wires_w"]
        else:
            assert point["output_change"] > 0
            assert point["read_power_w"] < point["read_power_ideal_wires_w"]
    config = json.loads((tmp_path / "rows16" / "config.json").read_text())
    assert config["mode"] == "insitu"
    assert "| 64 |" in (tmp_path / "sweep_wires.md").read_text()
    assert (tmp_path / "sweep_wires.png").stat().st_size > 0
    by_hand = [{"tile_rows": rows, "wire_ohm": ohm, "fid": fid, "classes": 9, "untrained_fid": 400.0,
                "output_change": change}
               for rows, ohm, fid, change in [(32, 0.0, 100.0, 0.0), (64, 0.0, 100.0, 0.0), (128, 0.0, 100.0, 0.0),
                                              (32, 1.0, 110.0, 0.05), (64, 1.0, 130.0, 0.05),
                                              (128, 1.0, 120.0, 0.05), (32, 2.0, 101.0, 0.2),
                                              (64, 2.0, 101.0, 0.01)]]
    assert wire_finding(by_hand)["largest_tile_rows"] == {"0.0": 128, "1.0": 32, "2.0": None}


def test_wire_sweep_can_train_each_point_on_its_wires(small_arch, tmp_path):
    from amdcgan.gan.sweep import wire_sweep

    summary = wire_sweep(small_arch, tmp_path, [1.0], [16], make_config(**QUICK), method="retrain")
    point, = summary["points"]
    assert point["output_change"] is None and point["stale_wire_output_change"] is not None
    assert (tmp_path / "rows16_ohm1").is_dir()


def test_wire_sweep_on_the_command_line(small_arch, tmp_path):
    result = CliRunner().invoke(app, ["sweep", "examples/small_system.yaml", "-o", str(tmp_path), "--wires", "0,1",
                                      "--tile-rows", "16", "--limit", "64", "--batch", "32"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sweep_wires.json").exists()
    bad = CliRunner().invoke(app, ["sweep", "examples/small_system.yaml", "-o", str(tmp_path), "--tile-rows", "16"])
    assert isinstance(bad.exception, UserError) and "go with --wires" in str(bad.exception)


def test_wire_sweep_refuses_bad_points_before_any_training(small_arch, tmp_path):
    from amdcgan.gan.sweep import parse_wire_sweep, wire_sweep

    for wires, rows in (("nan", None), ("inf", None), ("-1", None), ("1", "1")):
        with pytest.raises(UserError, match="finite|at least 2 rows|>= 0"):
            parse_wire_sweep(wires, rows, small_arch)
    with pytest.raises(UserError, match="finite"):
        wire_sweep(small_arch, tmp_path, [float("inf")], [16], make_config(**QUICK))
    assert not any(tmp_path.iterdir())


def test_tile_size_sweeps_keep_a_layers_output_scale_by_scaling_its_own_summing_gain():
    # The reference's deconv2 sums 13 load-readout tiles with gain 13. On 32-row tiles the same weights and inputs
    # give outputs of about the same scale once the gain follows the rows per tile (13 x 32 / 128); kept at 13 they
    # would be about 4 times larger (51 partial means, each of 32 rows).
    import torch

    from amdcgan.gan.layers import build_network
    from amdcgan.gan.sweep import wired_architecture
    from amdcgan.hdl.loader import load_architecture
    from amdcgan.hdl.mapping import plan_tiles
    from pathlib import Path

    reference = load_architecture(Path(__file__).resolve().parents[1] / "examples" / "am_dcgan_mnist.yaml")
    seeded = torch.Generator().manual_seed(7)
    weights = 0.05 * torch.randn(64 * 25 + 1, 1, generator=seeded)
    x = torch.rand(16, 64, 14, 14, generator=seeded)  # ReLU outputs, in units of V_r

    def output_std(architecture) -> float:
        layer = build_network(architecture, plan_tiles(architecture).network("generator"), tile=True).crossbars()[
            "deconv2"]
        layer.program(weights)
        with torch.no_grad():
            return float(layer(x).std())

    small = wired_architecture(reference, 32, 0.0)
    assert {layer.name: layer.summing_gain for layer in plan_tiles(small).layers()}["deconv2"] == 13 * 32 / 128
    ratio = output_std(small) / output_std(reference)
    assert 0.6 <= ratio <= 1.6, ratio
    unscaled = small.model_copy(update={"generator": reference.generator})
    assert output_std(unscaled) / output_std(reference) > 2.5
