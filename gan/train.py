"""Training the DCGAN: in-situ on the memristive tile model, ex-situ (float, then programmed once), or plain float.

Losses and optimiser are the standard DCGAN's (BCE with logits, Adam lr 2e-4, beta1 0.5). In-situ, Adam's proposed
weights are written to the devices as counted level-step pulses after every step (see devices.py), so the
optimiser always continues from what the devices hold. Each epoch ends with the fixed noise batch scored by
`QualityScorer`, a sample grid, the metrics files and an atomically written checkpoint from which `resume`
continues bit-for-bit: model, optimisers, the RNG states of torch, numpy and Python, epoch, counters and metrics.
"""

from __future__ import annotations

import csv
import io
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from amdcgan.errors import UserError
from amdcgan.fileio import MAX_JSON_BYTES, read_text_capped, write_bytes_atomic, write_json_atomic, write_text_atomic
from amdcgan.hdl.mapping import plan_tiles
from amdcgan.hdl.spec import Architecture

from .config import GanConfig
from .data import as_images
from .devices import DeviceModel, merge_stats
from .layers import Network, build_network, initialise, restore_wire_solves, transfer, wire_solves
from .plots import save_sample_grid, save_samples

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_KEYS = ("config", "epoch", "rounds", "metrics", "programming", "generator", "discriminator",
                   "optimiser_g", "optimiser_d", "rng")
MAX_CHECKPOINT_BYTES = 4 * 2**30
Progress = Callable[[dict], None]


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but PyTorch sees no CUDA device here; use --device cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_states() -> dict:
    """Every random state as tensors and plain data (what a `weights_only` load accepts)."""
    _, key, position, has_gauss, cached_gaussian = np.random.get_state()
    numpy_state = {"key": torch.from_numpy(key.astype(np.int64)), "position": int(position),
                   "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)}
    states = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    numpy_state = states["numpy"]
    np.random.set_state(("MT19937", numpy_state["key"].numpy().astype(np.uint32), numpy_state["position"],
                         numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


@dataclass
class Models:
    """The networks being trained, and (ex-situ) the hardware networks their weights are programmed into."""

    generator: Network
    discriminator: Network
    device_model: DeviceModel | None
    hardware_generator: Network | None = None
    programming: dict = field(default_factory=dict)


def build_models(architecture: Architecture, config: GanConfig, device: torch.device) -> Models:
    """The networks a mode trains: float (plain PyTorch), in-situ (the circuit on the run's devices, every update
    written as pulses) or ex-situ (the circuit on ideal devices, programmed once into the run's devices to score)."""
    plan = plan_tiles(architecture)
    variability = torch.Generator().manual_seed(config.seed + 1)  # device-to-device deviations: fixed per run
    init = torch.Generator().manual_seed(config.seed + 2)
    device_model = None if config.mode == "float" else DeviceModel.from_memristor(architecture.device, config)
    if device_model and device_model.device.write_noise_sigma and not device_model.device.levels:
        raise UserError("write noise is a fraction of one level step: give a number of levels, not 'ideal'")
    tile = config.mode != "float"
    training_devices = device_model if config.mode == "insitu" else None  # ex-situ trains on ideal devices
    networks = {}
    for name in ("generator", "discriminator"):
        networks[name] = build_network(
            architecture, plan.network(name), tile=tile, devices=training_devices,
            clip=config.clip, activation_tables=config.activation_tables, generator=variability,
        )
    programming = {name: initialise(network, init) for name, network in networks.items()}
    models = Models(networks["generator"], networks["discriminator"], device_model,
                    programming=programming if config.mode == "insitu" else {})
    if config.mode == "exsitu":
        models.hardware_generator = build_network(
            architecture, plan.network("generator"), tile=True, devices=device_model, clip=config.clip,
            activation_tables=config.activation_tables, generator=variability,
        )
    for network in (models.generator, models.discriminator, models.hardware_generator):
        if network is not None:
            network.to(device)
    return models


def gan_step(models: Models, optimisers: tuple, real: torch.Tensor, noise_dim: int, on_circuit: bool) -> dict:
    """One DCGAN step: the discriminator on real and fake, then the generator; on the circuit (in-situ, or ex-situ's
    ideal devices) each update is written to the devices."""
    generator, discriminator = models.generator, models.discriminator
    optimiser_g, optimiser_d = optimisers
    batch = real.shape[0]
    ones, zeros = real.new_ones(batch), real.new_zeros(batch)
    fake = generator(torch.randn(batch, noise_dim, device=real.device))
    loss_d = (F.binary_cross_entropy_with_logits(discriminator(real).view(-1), ones)
              + F.binary_cross_entropy_with_logits(discriminator(fake.detach()).view(-1), zeros))
    optimiser_d.zero_grad(set_to_none=True)
    loss_d.backward()
    optimiser_d.step()
    if on_circuit:
        discriminator.commit_updates()
    loss_g = F.binary_cross_entropy_with_logits(discriminator(fake).view(-1), ones)
    optimiser_g.zero_grad(set_to_none=True)
    loss_g.backward()
    optimiser_g.step()
    if on_circuit:
        generator.commit_updates()
    return {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach())}


def update_statistics(models: Models, config: GanConfig, rounds: int, images: int) -> dict:
    """Per layer and per network: write pulses counted in training, and the one-time programming pulses."""
    stats: dict = {"mode": config.mode, "update_rounds": rounds, "images_seen": images, "networks": {}}
    if models.device_model:
        stats["device"] = models.device_model.describe()
    networks = {"generator": models.generator, "discriminator": models.discriminator}
    for name, network in networks.items():
        stats["networks"][name] = crossbar_statistics(network.crossbars() if config.mode == "insitu" else {})
    stats["programming"] = models.programming
    return stats


def crossbar_statistics(crossbars: dict) -> dict:
    """Write pulses counted in training, per crossbar layer (name -> CrossbarLayer) and merged over them."""
    layers = {name: layer.devices.stats() for name, layer in crossbars.items()}
    entry: dict = {"layers": layers}
    if layers:
        entry["crossbar"] = merge_stats([layer["crossbar"] for layer in layers.values()])
        signs = [layer["sign"] for layer in layers.values() if "sign" in layer]
        if signs:
            entry["sign"] = merge_stats(signs)
    return entry


def run_statistics(update_stats: dict) -> dict | None:
    """A run's write counts over every crossbar of both networks, in the form `amdcgan estimate --run-stats` reads;
    None for a float run, which writes no devices."""
    crossbars = [network["crossbar"] for network in update_stats["networks"].values() if "crossbar" in network]
    if not crossbars:
        return None
    devices = sum(entry["devices"] for entry in crossbars)
    return {
        "update_rounds": update_stats["update_rounds"],
        "max_updates_per_device": max(entry["max_pulses_per_device"] for entry in crossbars),
        "mean_updates_per_device": sum(entry["mean_pulses_per_device"] * entry["devices"] for entry in crossbars)
        / devices,
        "total_write_pulses": sum(entry["total_pulses"] for entry in crossbars),
        "write_energy_j": sum(entry["write_energy_j"] for entry in crossbars),
    }


class Run:
    """One training run in a folder: state, files, checkpoint."""

    def __init__(self, architecture: Architecture, out_dir: Path, config: GanConfig, progress: Progress | None):
        from .data import MAX_IDX_IMAGES, load_mnist

        self.architecture, self.out_dir, self.config = architecture, Path(out_dir), config
        self.progress = progress or (lambda event: None)
        self.device = resolve_device(config.device)
        self.images, _ = load_mnist(config.data_dir, limit=config.limit, seed=config.seed,
                                    max_images=int(MAX_IDX_IMAGES * config.max_work))
        seed_everything(config.seed)
        self.models = build_models(architecture, config, self.device)
        self.noise_dim = config.noise_dim or architecture.generator.input_shape[0]
        self.fixed_noise = sample_noise(config, architecture).to(self.device)
        betas = (config.beta1, 0.999)
        self.optimisers = (torch.optim.Adam(self.models.generator.parameters(), lr=config.lr, betas=betas),
                           torch.optim.Adam(self.models.discriminator.parameters(), lr=config.lr, betas=betas))
        self.epoch, self.rounds, self.metrics = 0, 0, []
        # wall seconds of each epoch's training steps (scoring excluded), kept apart from the metrics, which a
        # resumed or repeated run reproduces exactly; None for epochs a checkpoint without times trained
        self.epoch_seconds: list[float | None] = []
        self.scorer = None
        self.read_stats: dict = {}

    # -- checkpoint ----------------------------------------------------------------------------------------------
    def state(self) -> dict:
        """Tensors and plain data only, so that `torch.load(weights_only=True)` reads it back."""
        return {
            "config": self.config.result_fields(), "epoch": self.epoch, "rounds": self.rounds,
            "metrics": plain_data(self.metrics), "programming": plain_data(self.models.programming),
            "epoch_seconds": list(self.epoch_seconds),
            "architecture": self.architecture.model_dump(mode="json"),
            "generator": self.models.generator.state_dict(), "discriminator": self.models.discriminator.state_dict(),
            "optimiser_g": self.optimisers[0].state_dict(), "optimiser_d": self.optimisers[1].state_dict(),
            "rng": rng_states(),
            "wire_solves": {"generator": wire_solves(self.models.generator),
                            "discriminator": wire_solves(self.models.discriminator)},
        }

    def save_checkpoint(self) -> None:
        buffer = io.BytesIO()
        torch.save(self.state(), buffer)
        write_bytes_atomic(self.out_dir / CHECKPOINT, buffer.getvalue())  # a temporary file, then os.replace

    def load_checkpoint(self, path: Path) -> None:
        state = read_checkpoint(path, self.device)
        config = state["config"] if isinstance(state["config"], dict) else {}
        differing = sorted(key for key, value in self.config.result_fields().items() if config.get(key) != value)
        if differing:
            raise UserError(f"{path.parent}: the run there was made with other settings ({', '.join(differing)}); "
                            f"resume with the same settings or choose another output folder")
        check_same_architecture(path, state, self.architecture)
        for name, network in (("generator", self.models.generator), ("discriminator", self.models.discriminator)):
            load_network_state(path, name, network, state[name])
        try:
            self.optimisers[0].load_state_dict(state["optimiser_g"])
            self.optimisers[1].load_state_dict(state["optimiser_d"])
            self.epoch, self.rounds, self.metrics = int(state["epoch"]), int(state["rounds"]), list(state["metrics"])
            self.models.programming = state["programming"]
            seconds = [None if value is None else float(value) for value in state.get("epoch_seconds", [])]
            self.epoch_seconds = ([None] * self.epoch + seconds)[-self.epoch:] if self.epoch else []
            restore_rng_states(state["rng"])
            for name, solves in state.get("wire_solves", {}).items():  # older checkpoints: solved afresh
                restore_wire_solves({"generator": self.models.generator,
                                     "discriminator": self.models.discriminator}[name], solves)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as error:
            raise UserError(f"{path}: the optimiser or random state in this checkpoint is damaged "
                            f"({type(error).__name__}); remove the checkpoint to start the run over") from None

    # -- evaluation ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def samples(self, network: Network) -> torch.Tensor:
        network.eval()
        images = as_images(network(self.fixed_noise)).cpu()
        network.train()
        return images

    def _score(self, images: torch.Tensor) -> dict:
        if not self.config.score:
            return {}
        if self.scorer is None:
            from .quality import QualityScorer

            self.scorer = QualityScorer(device=self.config.device)
        return self.scorer.score(images)

    def evaluate(self) -> dict:
        """Score the generator the hardware would run (ex-situ: the float one programmed into devices now)."""
        row: dict = {"epoch": self.epoch, "update_rounds": self.rounds}
        generator = self.models.generator
        if self.config.mode == "exsitu":
            float_quality = self._score(self.samples(generator))
            row.update({f"float_{key}": value for key, value in float_quality.items()})
            self.models.programming = {"generator": transfer(generator, self.models.hardware_generator)}
            generator = self.models.hardware_generator
        images = self.samples(generator)
        row.update(self._score(images))
        if self.config.mode != "float":
            self.read_stats = self.measure_reads(generator, images)
        title = f"{self.architecture.name} {self.config.mode}, epoch {self.epoch}"
        if "fid" in row:
            title += f": FID {row['fid']:.1f}, {row['classes']} classes"
        save_sample_grid(images, self.out_dir / f"samples_epoch{self.epoch:03d}.png", title)
        save_samples(images, self.out_dir / f"samples_epoch{self.epoch:03d}")
        return row

    @torch.no_grad()
    def measure_reads(self, generator: Network, fakes: torch.Tensor) -> dict:
        """Row inputs of every crossbar on the evaluation batch (the generator on the fixed noise, the discriminator
        on as many real and generated images): how many the row drivers limit, how many reach the threshold."""
        discriminator = self.models.discriminator
        real = self.images[: len(fakes)].to(self.device)
        for network in (generator, discriminator):
            network.eval()
            network.track_reads(True)
            for layer in network.crossbars().values():
                layer.read_counts.zero_()
        generator(self.fixed_noise)
        discriminator(real)
        discriminator(fakes.to(self.device))
        stats = {"generator": generator.read_statistics(), "discriminator": discriminator.read_statistics()}
        for network in (generator, discriminator):
            network.track_reads(False)
            network.train()
        return stats

    def hardware_conductances(self) -> dict:
        """The conductances of the circuit the run ends with, 'network.layer' -> electrical.Conductances."""
        from amdcgan.hdl.electrical import Conductances

        networks = {"generator": self.models.hardware_generator or self.models.generator,
                    "discriminator": self.models.discriminator}
        layers = {}
        for name, network in networks.items():
            for layer_name, layer in network.crossbars().items():
                main, second = (part.detach().double().cpu().numpy() for part in layer.devices.conductances())
                layers[f"{name}.{layer_name}"] = Conductances(layer.cell, main, second)
        return layers

    # -- files ---------------------------------------------------------------------------------------------------
    def write_metrics(self) -> None:
        write_json_atomic(self.out_dir / "metrics.json", self.metrics)
        columns = [key for key in self.metrics[0] if not isinstance(self.metrics[0][key], list)]
        text = io.StringIO()
        writer = csv.DictWriter(text, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.metrics)
        write_text_atomic(self.out_dir / "metrics.csv", text.getvalue())

    def update_stats(self) -> dict:
        batches = self.rounds
        return update_statistics(self.models, self.config, batches, batches * self.config.batch)

    # -- training ------------------------------------------------------------------------------------------------
    def batches_per_epoch(self) -> int:
        return max(1, len(self.images) // self.config.batch)

    def train_epoch(self) -> dict:
        start = time.perf_counter()
        order = torch.randperm(len(self.images))
        batch, on_circuit = self.config.batch, self.config.mode != "float"
        losses = []
        for index in range(self.batches_per_epoch()):
            real = self.images[order[index * batch: (index + 1) * batch]].to(self.device)
            losses.append(gan_step(self.models, self.optimisers, real, self.noise_dim, on_circuit))
            self.rounds += 1
            self.progress({"event": "step", "epoch": self.epoch + 1, **losses[-1]})
        self.epoch_seconds.append(time.perf_counter() - start)
        return {key: float(np.mean([loss[key] for loss in losses])) for key in losses[0]}

    def start(self, resume: bool) -> None:
        """Before the first epoch: continue from the checkpoint, record the config, score the untrained point."""
        path = self.out_dir / CHECKPOINT
        if path.exists():
            if not resume:
                raise UserError(f"{self.out_dir} already holds a run; pass --resume to continue it, "
                                f"or choose another output folder")
            self.load_checkpoint(path)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.out_dir / "config.json", self.config.model_dump(mode="json"))
        self.progress({"event": "start", "epoch": self.epoch, "epochs": self.config.epochs,
                       "steps_per_epoch": self.batches_per_epoch()})
        if not self.metrics:
            self.metrics.append(self.evaluate())
            self.write_metrics()

    def finish_epoch(self, losses: dict) -> None:
        """After each epoch: score, metrics, update statistics, checkpoint."""
        self.epoch += 1
        self.metrics.append({**self.evaluate(), **losses})
        self.write_metrics()
        write_json_atomic(self.out_dir / "update_stats.json", self.update_stats())
        if self.config.mode != "float":
            from amdcgan.hdl.electrical import RUN_CONDUCTANCES, save_run_conductances

            write_json_atomic(self.out_dir / "read_stats.json", self.read_stats)
            write_bytes_atomic(self.out_dir / RUN_CONDUCTANCES,
                               save_run_conductances(self.hardware_conductances(), self.config.weight_max))
        self.save_checkpoint()
        self.progress({"event": "epoch", "epoch": self.epoch, "metrics": self.metrics[-1]})

    def run(self, resume: bool) -> dict:
        self.start(resume)
        while self.epoch < self.config.epochs:
            self.finish_epoch(self.train_epoch())
        return self.summary()

    def summary(self) -> dict:
        plan = plan_tiles(self.architecture)
        stats = self.update_stats()
        write_json_atomic(self.out_dir / "update_stats.json", stats)
        run_stats = run_statistics(stats)
        if run_stats:
            write_json_atomic(self.out_dir / "run_stats.json", run_stats)
        summary = {
            "architecture": self.architecture.name, "mode": self.config.mode,
            "config": self.config.model_dump(mode="json"), "epochs": self.epoch,
            "final": self.metrics[-1], "untrained": self.metrics[0], "metrics": self.metrics,
            "update_stats": stats, "run_stats": run_stats, "read_stats": self.read_stats,
            "epoch_seconds": list(self.epoch_seconds),
            "hardware": {"technology": self.architecture.technology.name,
                         "components": self.architecture.components.name,
                         "device": self.architecture.device.name, "tiles": len(plan.tiles()),
                         "weights": sum(layer.weights for layer in plan.layers()),
                         "memristors": sum(layer.memristors for layer in plan.layers()),
                         "cycles_per_image": {network.name: network.cycles_per_image for network in plan.networks}},
            "paths": {
                "out_dir": str(self.out_dir), "checkpoint": str(self.out_dir / CHECKPOINT),
                "metrics_csv": str(self.out_dir / "metrics.csv"), "metrics_json": str(self.out_dir / "metrics.json"),
                "update_stats": str(self.out_dir / "update_stats.json"),
                "samples": [str(self.out_dir / f"samples_epoch{row['epoch']:03d}.png") for row in self.metrics],
                "arrays": [str(self.out_dir / f"samples_epoch{row['epoch']:03d}.npy") for row in self.metrics],
            },
        }
        write_json_atomic(self.out_dir / "summary.json", summary)
        return summary


def train(architecture: Architecture, out_dir: str | Path, config: GanConfig, resume: bool = False,
          progress: Progress | None = None) -> dict:
    """Train (or continue) one run in `out_dir`; returns its summary (metrics, update statistics, paths)."""
    summary = Run(architecture, Path(out_dir), config, progress).run(resume)
    if config.baseline and config.mode != "float":
        baseline_config = config.replace(mode="float", baseline=False)
        baseline = Run(architecture, Path(out_dir) / "float_baseline", baseline_config, progress).run(resume=True)
        summary["baseline"] = {"final": baseline["final"], "out_dir": baseline["paths"]["out_dir"]}
        write_json_atomic(Path(out_dir) / "summary.json", summary)
    return summary


def sample_noise(config: GanConfig, architecture: Architecture) -> torch.Tensor:
    """The fixed noise batch a run scores its generator on (the same draw as `Run.fixed_noise`)."""
    noise_dim = config.noise_dim or architecture.generator.input_shape[0]
    return torch.randn(config.eval_samples, noise_dim, generator=torch.Generator().manual_seed(config.seed + 3))


def load_generator(architecture: Architecture, run_dir: Path,
                   modes: tuple[str, ...] = ("exsitu",)) -> tuple[Network, GanConfig]:
    """The generator a run trained on the circuit (by default an ex-situ run: on ideal devices; `modes` admits
    in-situ runs, whose devices come back as they were left), and that run's config."""
    from .config import make_config

    checkpoint = run_dir / CHECKPOINT
    if not checkpoint.exists():
        raise UserError(f"{run_dir}: no training run there (no {CHECKPOINT})")
    config_path = run_dir / "config.json"
    try:
        fields = json.loads(read_text_capped(config_path, MAX_JSON_BYTES, "run configuration"))
    except (json.JSONDecodeError, RecursionError):
        raise UserError(f"{config_path}: not a valid JSON file") from None
    if not isinstance(fields, dict):
        raise UserError(f"{config_path}: expected a JSON object of training settings")
    try:
        config = make_config(**fields)
    except UserError as error:
        raise UserError(f"{config_path}: {error}") from None
    if config.mode not in modes:
        wanted = " or ".join(modes)
        raise UserError(f"{run_dir}: this needs an {wanted} run (trained on the circuit); this one is {config.mode}"
                        + (": a float network's weights do not fit the circuit's readouts"
                           if config.mode == "float" else ""))
    devices = DeviceModel.from_memristor(architecture.device, config) if config.mode == "insitu" else None
    generator = build_network(architecture, plan_tiles(architecture).network("generator"), tile=True,
                              devices=devices, clip=config.clip, activation_tables=config.activation_tables)
    state = read_checkpoint(checkpoint, torch.device("cpu"))
    check_same_architecture(checkpoint, state, architecture, sections=("generator",))
    load_network_state(checkpoint, "generator", generator, state["generator"])
    return generator, config


def run_point(architecture: Architecture, point_config: GanConfig, out_dir: str | Path,
              progress: Progress | None = None) -> dict:
    """One sweep point: a pure function of its inputs (seeded); reruns continue or reuse what is on disk."""
    return train(architecture, out_dir, point_config, resume=True, progress=progress)


def plain_data(value):
    """`value` as JSON's plain data (numpy numbers become Python numbers), fit for a `weights_only` checkpoint."""
    return json.loads(json.dumps(value, default=lambda item: item.item() if hasattr(item, "item") else str(item)))


def read_checkpoint(path: Path, device: torch.device) -> dict:
    """A checkpoint as tensors and plain data. Anything else is refused with one message: a folder, an empty or
    truncated file, a file that is not a checkpoint, or one holding objects (which are never unpickled)."""
    import pickle

    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a checkpoint file")
    if not path.is_file():
        raise UserError(f"{path}: is not a regular file, not a checkpoint")
    size = path.stat().st_size
    if size == 0:
        raise UserError(f"{path}: the checkpoint is empty (0 bytes), not one this program wrote (it writes "
                        f"checkpoints whole or not at all); remove it to start the run over")
    if size > MAX_CHECKPOINT_BYTES:
        raise UserError(f"{path}: {size:,} bytes is more than a checkpoint may have ({MAX_CHECKPOINT_BYTES:,})")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        if "unsupported global" in str(error).lower():  # a class or function named to be called: never run
            raise UserError(f"{path}: refused: the checkpoint holds objects other than tensors and plain data, "
                            f"and such objects are never loaded (they could run code). Checkpoints of earlier "
                            f"versions held numpy states and cannot be resumed: start the run in a new "
                            f"folder") from None
        raise UserError(f"{path}: not a readable checkpoint (damaged, or not written by this program)") from None
    except (RuntimeError, EOFError, ValueError, OSError, KeyError, TypeError, AttributeError, IndexError,
            MemoryError):
        raise UserError(f"{path}: not a readable checkpoint (truncated, damaged, or not written by this "
                        f"program); remove it to start the run over") from None
    missing = [key for key in CHECKPOINT_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise UserError(f"{path}: not a training checkpoint of this program (missing {', '.join(missing)})")
    return state


def _differences(saved, current, prefix: str = "") -> list[str]:
    if isinstance(saved, dict) and isinstance(current, dict):
        return [difference for key in sorted(set(saved) | set(current), key=str)
                for difference in _differences(saved.get(key), current.get(key), f"{prefix}{key}.")]
    if isinstance(saved, list) and isinstance(current, list) and len(saved) == len(current):
        return [difference for index, (old, new) in enumerate(zip(saved, current))
                for difference in _differences(old, new, f"{prefix}{index}.")]
    return [] if saved == current else [prefix.rstrip(".")]


def check_same_architecture(path: Path, state: dict, architecture: Architecture,
                            sections: tuple[str, ...] | None = None) -> None:
    """The checkpoint was trained on this architecture (its networks, tiles, technology and device), else one
    message naming the fields that differ."""
    saved = state.get("architecture")
    if not isinstance(saved, dict):
        return  # written before checkpoints recorded their architecture; the parameter shapes are still checked
    current = architecture.model_dump(mode="json")
    keys = sections or tuple(key for key in current if key not in ("name", "description"))
    differing = [item for key in keys for item in _differences(saved.get(key), current.get(key), f"{key}.")]
    if differing:
        shown = ", ".join(differing[:6]) + (f" and {len(differing) - 6} more" if len(differing) > 6 else "")
        raise UserError(f"{path}: the checkpoint was trained on another architecture: {shown} differ; use the "
                        f"architecture file of that run or choose another output folder")


def load_network_state(path: Path, name: str, network: Network, state) -> None:
    """The saved parameters into `network`, or one message naming the first one that does not fit."""
    expected = network.state_dict()
    if not isinstance(state, dict):
        raise UserError(f"{path}: the {name} in this checkpoint is damaged")
    for key in sorted(set(expected) | set(state)):
        saved, wanted = state.get(key), expected.get(key)
        if saved is None or wanted is None:
            where = "in the checkpoint only" if wanted is None else "missing from the checkpoint"
            raise UserError(f"{path}: {name} parameter {key} is {where}: the checkpoint is of another architecture")
        if not isinstance(saved, torch.Tensor) or saved.shape != wanted.shape:
            shape = list(saved.shape) if isinstance(saved, torch.Tensor) else type(saved).__name__
            raise UserError(f"{path}: {name} parameter {key} is {shape} in the checkpoint but {list(wanted.shape)} "
                            f"here: the checkpoint is of another architecture")
    network.load_state_dict(state)
