"""Training runs: seeded runs repeat exactly, a killed run resumes to the uninterrupted state, in-situ updates keep
every conductance on its levels, counted pulses reach the update statistics, and a short run improves quality."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from amdcgan.errors import UserError
from amdcgan.gan.config import make_config
from amdcgan.gan.train import CHECKPOINT, train
from amdcgan.hdl.loader import load_architecture
from amdcgan.hdl.spec import WeightEncoding

ROOT = Path(__file__).resolve().parents[1]
QUICK = dict(limit=96, batch=32, epochs=2, score=False, eval_samples=16)


class Killed(Exception):
    pass


def kill_after(epoch: int):
    def progress(event: dict) -> None:
        if event["event"] == "epoch" and event["epoch"] == epoch:
            raise Killed

    return progress


def checkpoint(run: Path) -> dict:
    return torch.load(run / CHECKPOINT, weights_only=False)


def assert_same_state(first: dict, second: dict) -> None:
    for network in ("generator", "discriminator"):
        for key, value in first[network].items():
            assert torch.equal(value, second[network][key]), f"{network}.{key} differs"
    assert first["metrics"] == second["metrics"]
    assert first["rounds"] == second["rounds"]
    for network, solves in first.get("wire_solves", {}).items():
        assert solves.keys() == second["wire_solves"][network].keys()
        for layer, solve in solves.items():
            other = second["wire_solves"][network][layer]
            assert solve["writes_since_solve"] == other["writes_since_solve"], f"{network}.{layer}"
            assert torch.equal(solve["factors"][0], other["factors"][0]), f"{network}.{layer} wire factors differ"


def test_seeded_runs_agree_exactly(small_arch, tmp_path):
    config = make_config(**QUICK, seed=4)
    first = train(small_arch, tmp_path / "a", config)
    second = train(small_arch, tmp_path / "b", config)
    assert_same_state(checkpoint(tmp_path / "a"), checkpoint(tmp_path / "b"))
    assert first["update_stats"]["networks"] == second["update_stats"]["networks"]
    other = train(small_arch, tmp_path / "c", config.replace(seed=5))
    assert other["metrics"] != first["metrics"]


@pytest.mark.parametrize("mode", ["insitu", "exsitu", "insitu_wired"])
def test_a_killed_run_resumes_to_the_uninterrupted_state(small_arch, tmp_path, mode):
    """Wired: wires re-solved every 4 write rounds, killed after 2; the resumed run keeps the stale solve and the
    schedule, so it ends holding the same solve as the whole run (solved after round 4, 2 rounds old)."""
    if mode == "insitu_wired":
        mode, small_arch = "insitu", small_arch.model_copy(update={"periphery": small_arch.periphery.model_copy(
            update={"row_wire_ohm": 1.0, "column_wire_ohm": 1.0, "wire_refresh_writes": 4})})
    config = make_config(**{**QUICK, "epochs": 3}, mode=mode, variability=0.2, write_noise=0.1)
    train(small_arch, tmp_path / "whole", config)
    with pytest.raises(Killed):
        train(small_arch, tmp_path / "killed", config, progress=kill_after(1))
    assert checkpoint(tmp_path / "killed")["epoch"] == 1
    first_epoch_seconds = checkpoint(tmp_path / "killed")["epoch_seconds"]
    with pytest.raises(UserError, match="--resume"):
        train(small_arch, tmp_path / "killed", config)
    with pytest.raises(UserError, match="other settings"):
        train(small_arch, tmp_path / "killed", config.replace(seed=9), resume=True)
    resumed = train(small_arch, tmp_path / "killed", config, resume=True)
    assert_same_state(checkpoint(tmp_path / "whole"), checkpoint(tmp_path / "killed"))
    # each epoch's training time: the killed run's first epoch kept, the resumed epochs timed afresh
    assert len(first_epoch_seconds) == 1 and resumed["epoch_seconds"][:1] == first_epoch_seconds
    assert len(resumed["epoch_seconds"]) == 3 and all(seconds > 0 for seconds in resumed["epoch_seconds"])
    assert (json.loads((tmp_path / "whole" / "update_stats.json").read_text())
            == json.loads((tmp_path / "killed" / "update_stats.json").read_text()))


@pytest.mark.parametrize("encoding", ["sign_crossbar", "differential_pair"])
def test_insitu_training_writes_counted_pulses_on_allowed_levels(small_arch, tmp_path, encoding):
    arch = small_arch.model_copy(update={"weight_encoding": WeightEncoding(encoding)})
    config = make_config(**QUICK, levels=8)
    summary = train(arch, tmp_path, config)
    state = checkpoint(tmp_path)["generator"]
    levels = [value for key, value in state.items() if key.endswith(".level")]
    assert levels and all(torch.equal(level, level.round()) and level.min() >= 0 and level.max() <= 7
                          for level in levels)
    stats = json.loads((tmp_path / "update_stats.json").read_text())
    assert stats == json.loads(json.dumps(summary["update_stats"]))
    generator = stats["networks"]["generator"]["crossbar"]
    pulses = sum(int(value.sum()) for key, value in state.items() if key.endswith(".pulses"))
    assert generator["total_pulses"] == pulses > 0
    assert stats["update_rounds"] == 2 * (96 // 32)
    assert 0 < generator["mean_pulses_per_device"] <= generator["max_pulses_per_device"]
    assert generator["max_pulses_per_device"] <= stats["update_rounds"] * config.max_steps_per_update
    # energy: every pulse costs V^2 G t with G between G_off and G_on
    device = small_arch.device
    low = generator["total_pulses"] * device.v_write_v**2 * device.g_off_s * device.t_write_s
    assert low <= generator["write_energy_j"] <= low * device.r_off_ohm / device.r_on_ohm
    # run_stats.json: both networks' crossbars, in the form the estimator reads
    from amdcgan.estimators.training import load_run_stats

    run_stats = json.loads((tmp_path / "run_stats.json").read_text())
    networks = [stats["networks"][name]["crossbar"] for name in ("generator", "discriminator")]
    assert run_stats["total_write_pulses"] == sum(network["total_pulses"] for network in networks)
    assert run_stats["max_updates_per_device"] == max(network["max_pulses_per_device"] for network in networks)
    assert load_run_stats(run_stats).update_rounds == stats["update_rounds"]


def test_a_checkpoint_without_epoch_times_resumes_with_those_times_unknown(small_arch, tmp_path):
    config = make_config(**{**QUICK, "epochs": 1}, mode="float")
    train(small_arch, tmp_path, config)
    state = checkpoint(tmp_path)
    del state["epoch_seconds"]  # as a checkpoint written before epochs were timed
    torch.save(state, tmp_path / CHECKPOINT)
    summary = train(small_arch, tmp_path, config.replace(epochs=2), resume=True)
    assert summary["epoch_seconds"][0] is None and summary["epoch_seconds"][1] > 0


def test_run_files(small_arch, tmp_path):
    summary = train(small_arch, tmp_path, make_config(**{**QUICK, "epochs": 1}, mode="float"))
    assert [row["epoch"] for row in summary["metrics"]] == [0, 1]
    for name in ("metrics.csv", "metrics.json", "update_stats.json", "summary.json", "samples_epoch001.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0].startswith("epoch,update_rounds")


def test_saved_samples_are_the_outputs_read_as_images(small_arch, tmp_path, monkeypatch):
    # A generator whose outputs leave the digits' range (+-V_r): the saved array holds them as images, at the
    # darkest and brightest pixel, the same values the scorer reads.
    from amdcgan.gan import train as training

    build = training.build_models

    class Louder(torch.nn.Module):
        def forward(self, x):
            return 1e4 * x

    def loud(*args):
        models = build(*args)
        models.generator.stages.append(Louder())
        models.generator.names.append("louder")
        return models

    monkeypatch.setattr(training, "build_models", loud)
    train(small_arch, tmp_path, make_config(**{**QUICK, "epochs": 1}, mode="float"))
    samples = np.load(tmp_path / "samples_epoch001.npy", allow_pickle=False)
    assert samples.min() == -1.0 and samples.max() == 1.0


def test_cuda_without_cuda_is_a_user_error(small_arch, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(UserError, match="CUDA"):
        train(small_arch, tmp_path, make_config(**QUICK, device="cuda"))


def mini_architecture(tmp_path: Path):
    """The reference DCGAN with a quarter of its filters, so a quality check fits a CPU test."""
    text = (ROOT / "examples" / "am_dcgan_mnist.yaml").read_text()
    for old, new in (("units: 6272", "units: 1568"), ("[128, 7, 7]", "[32, 7, 7]"), ("filters: 64", "filters: 16"),
                     ("filters: 128", "filters: 32")):
        text = text.replace(old, new)
    path = tmp_path / "mini.yaml"
    path.write_text(text)
    return load_architecture(path)


@pytest.mark.slow
def test_a_short_insitu_run_improves_on_the_untrained_generator(tmp_path):
    """On the paper's circuit (load-memristor readouts in the convolutions) the GAN learns slowly: 200 steps move the
    generator measurably toward real digits, though not steadily (the reference's quick job is in the README)."""
    summary = train(mini_architecture(tmp_path), tmp_path / "run",
                    make_config(mode="insitu", limit=3200, batch=32, epochs=2, seed=0))
    best = min(row["fid"] for row in summary["metrics"][1:])
    assert best < 0.98 * summary["untrained"]["fid"]


def test_train_and_sweep_print_plain_progress_lines_off_a_terminal(tmp_path, capsys):
    from amdcgan.cli import main

    run = tmp_path / "exsitu"
    assert main(["train", "examples/small_system.yaml", "-o", str(run), "--mode", "exsitu", "--epochs", "2",
                 "--limit", "64", "--batch", "32"]) == 0
    lines = capsys.readouterr().out.splitlines()
    epochs = [line for line in lines if line.startswith("exsitu: epoch ")]
    assert [line.split(":")[1].strip() for line in epochs] == ["epoch 1/2", "epoch 2/2"]
    assert "FID" in epochs[0] and "(50%," in epochs[0] and "left)" in epochs[0] and "(100%," in epochs[1]
    assert not any("━" in line for line in lines)  # no bar drawn into a pipe
    assert main(["sweep", "examples/small_system.yaml", "-o", str(tmp_path / "sweep"), "--levels", "2,8",
                 "--from-run", str(run)]) == 0
    points = [line for line in capsys.readouterr().out.splitlines() if line.startswith("programming levels:")]
    assert len(points) == 2 and points[0].startswith("programming levels: 2 levels: FID")
