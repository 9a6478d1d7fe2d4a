"""Sweep points as Ray tasks on a local Ray (2 CPUs, started once for the module): the same numbers as the sweep in
one process, and a sweep that completes when a worker dies mid-sweep (the point is retried)."""

from __future__ import annotations

import json
import os
import sys
from functools import partial

import pytest
import torch
from typer.testing import CliRunner

from amdcgan.cli import app
from amdcgan.errors import UserError
from amdcgan.gan.config import make_config
from amdcgan.gan.distributed import run_points_on_ray, sweep_on_ray
from amdcgan.gan.sweep import sweep

QUICK = dict(limit=64, batch=16, eval_samples=32)


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_without_ray_installed_the_sweep_says_what_to_install(small_arch, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(UserError, match=r"pip install 'amdcgan\[ray\]'"):
        sweep_on_ray(small_arch, tmp_path, "levels", [4], make_config(**QUICK))


def test_cli_sweep_with_ray(local_ray, tmp_path):
    result = CliRunner().invoke(app, ["sweep", "examples/small_system.yaml", "-o", str(tmp_path), "--levels", "4,8",
                                      "--mode", "float", "--limit", "32", "--batch", "16", "--ray", "local"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "levels_4" / "summary.json").exists() and (tmp_path / "levels_8" / "summary.json").exists()


def test_a_sweep_on_ray_gives_the_numbers_of_the_sweep_here(local_ray, small_arch, tmp_path):
    config = make_config(**QUICK, mode="exsitu")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a one-CPU Ray task, so that float sums run in the same order
    try:
        here = sweep(small_arch, tmp_path / "here", "variability", [0.0, 0.3], config)
    finally:
        torch.set_num_threads(threads)
    on_ray = sweep_on_ray(small_arch, tmp_path / "ray", "variability", [0.0, 0.3], config)
    # Training is identical bit for bit; the quality score's numpy linear algebra may use other BLAS threads.
    for ray_point, here_point in zip(on_ray["points"], here["points"], strict=True):
        assert ray_point == pytest.approx(here_point, rel=1e-6)
    assert on_ray["float_baseline"] == pytest.approx(here["float_baseline"], rel=1e-6)
    for folder in ("variability_0.0", "variability_0.3", "float_baseline"):
        ray_state, here_state = (torch.load(tmp_path / side / folder / "checkpoint.pt", weights_only=False)
                                 for side in ("ray", "here"))
        for network in ("generator", "discriminator"):
            for key, value in here_state[network].items():
                assert torch.equal(ray_state[network][key], value), f"{folder} {network}.{key}"


def dying_point(levels: int, attempts: int):
    """A point function whose worker process dies on the first `attempts` attempts of the `levels` point; a marker
    file per attempt beside the point's folder counts them. Defined in a function so that Ray ships it by value."""

    def point(architecture, config, out_dir):
        from amdcgan.gan.train import run_point

        markers = out_dir.parent / f"{out_dir.name}.died"
        died = int(markers.read_text()) if markers.exists() else 0
        if config.levels == levels and died < attempts:
            markers.write_text(str(died + 1))
            os._exit(1)
        return run_point(architecture, config, out_dir)

    return point


def test_a_point_whose_worker_dies_is_retried_and_the_sweep_completes(local_ray, small_arch, tmp_path):
    config = make_config(**QUICK)
    runner = partial(run_points_on_ray, point=dying_point(levels=4, attempts=1))
    summary = sweep(small_arch, tmp_path, "levels", [4, 16], config, runner=runner)
    assert (tmp_path / "levels_4.died").read_text() == "1"
    assert [point["value"] for point in summary["points"]] == [4, 16]
    for folder in ("levels_4", "levels_16", "float_baseline"):
        assert json.loads((tmp_path / folder / "summary.json").read_text())["epochs"] == 1


def test_a_point_that_keeps_failing_is_reported_and_the_others_are_kept(local_ray, small_arch, tmp_path):
    config = make_config(**QUICK, score=False)
    jobs = [(config.replace(levels=levels), tmp_path / f"levels_{levels}") for levels in (4, 16)]
    with pytest.raises(UserError, match=r"(?s)1 of 2 sweep points failed.*levels_4: WorkerCrashedError"):
        run_points_on_ray(small_arch, jobs, max_retries=1, point=dying_point(levels=4, attempts=9))
    assert (tmp_path / "levels_4.died").read_text() == "2"  # the first attempt and one retry
    assert (tmp_path / "levels_16" / "summary.json").exists() and not (tmp_path / "levels_4").exists()


def test_bad_input_inside_a_task_is_one_user_error_without_retries(local_ray, small_arch, tmp_path):
    config = make_config(**QUICK, levels="ideal", write_noise=0.1)  # write noise needs finite levels
    with pytest.raises(UserError, match="write noise"):
        run_points_on_ray(small_arch, [(config, tmp_path / "point")])
