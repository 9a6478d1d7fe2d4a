"""Sweep points as Ray tasks: on a local Ray started for the sweep, or on an existing cluster.

Each task rebuilds the architecture and the point's config from plain data and calls `run_point` (or the given
point function) with the point's folder, so results and checkpoints land in the sweep folder; on a cluster that
folder must be on storage every node sees. A task whose worker dies, or that raises anything but a `UserError`, is
retried, and a retry continues from the point's last checkpoint. Bad input fails at once. When points still fail,
the others' results stay in their folders (a rerun reuses them) and one `UserError` names the failures.
Ray is imported only here, inside the runner: a sweep without Ray needs none of it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Callable

from amdcgan.errors import UserError
from amdcgan.hdl.spec import Architecture

from .config import GanConfig, make_config
from .sweep import sweep
from .train import run_point

PointFunction = Callable[[Architecture, GanConfig, Path], dict]
MAX_RETRIES = 2


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("--ray needs Ray: install the ray extra: pip install 'amdcgan[ray]'") from None
    return ray


def _run_task(point: PointFunction, architecture: dict, config: dict, out_dir: str) -> dict:
    """The task body: plain data in, the point's summary (or its bad-input message) out."""
    try:
        summary = point(Architecture.model_validate(architecture), make_config(**config), Path(out_dir))
    except UserError as error:
        return {"user_error": str(error)}
    return {"summary": summary}


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None):
    """Ray, connected: to the cluster at `address`, or (None or "local") a local Ray started here and shut down
    afterwards. An existing connection of this process is used as it is."""
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address and address != "local":
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise UserError(f"cannot reach the Ray cluster at {address}: {error}") from None
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def run_points_on_ray(architecture: Architecture, jobs: list[tuple[GanConfig, Path]], address: str | None = None,
                      num_cpus: int | None = None, max_retries: int = MAX_RETRIES,
                      point: PointFunction = run_point) -> list[dict]:
    """Run the (config, folder) points as Ray tasks, one CPU each; returns their summaries in order."""
    with ray_session(address, num_cpus) as ray:
        task = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=True)(_run_task)
        architecture_data = architecture.model_dump(mode="json")
        refs = [task.remote(point, architecture_data, config.model_dump(mode="json"), str(Path(out_dir).resolve()))
                for config, out_dir in jobs]
        results, failures = [], []
        for (_, out_dir), ref in zip(jobs, refs):
            try:
                result = ray.get(ref)
            except ray.exceptions.RayError as error:
                result = {"failed": f"{type(error).__name__}: {str(error).strip().splitlines()[-1]}"}
            problem = result.get("user_error") or result.get("failed")
            if problem:
                failures.append(f"{out_dir}: {problem}")
            results.append(result.get("summary"))
    if failures:
        raise UserError(f"{len(failures)} of {len(jobs)} sweep points failed (retries per point whose worker died "
                        f"or raised: {max_retries}); the others are finished in their folders and a rerun "
                        f"redoes only these:\n" + "\n".join(failures))
    return results


def sweep_on_ray(architecture: Architecture, out_dir: str | Path, parameter: str, values: list, config: GanConfig,
                 address: str | None = None, num_cpus: int | None = None, max_retries: int = MAX_RETRIES) -> dict:
    """`sweep` with its points as Ray tasks, connected once for the whole sweep."""
    with ray_session(address, num_cpus):
        return sweep(architecture, out_dir, parameter, values, config,
                     runner=partial(run_points_on_ray, max_retries=max_retries))
