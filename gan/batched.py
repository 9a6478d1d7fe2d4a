"""Several sweep points trained together as one batched model, each giving the numbers it gives trained alone.

The points' networks are folded into one: activations are laid out (batch, point x channel, ...), so every weighted
layer becomes a grouped convolution or a batched matmul with one group per point (times the crossbar's row splits),
and batch norm, activations, rails, pooling and reshapes act per point unchanged. Parameters, batch-norm statistics
and Adam's moments are the points' tensors concatenated along their first dimension; Adam is elementwise, so one
optimiser steps every point as its own would.

What is batched: the forward and backward passes of both networks and the optimiser steps. What runs point by point:
every random draw (noise, epoch order, dropout switches, stochastic rounding, write noise), each from that point's
own random state in the order its lone run draws them; the in-situ device writes (the points' `WeightDevices`,
whose level counts differ from point to point); and the evaluation, files and checkpoints of each epoch (the
points' own `Run`s). A batched crossbar always computes tile by tile, where a lone run takes one whole-matrix product
when its tiles' readout cannot clip; both give the same values up to float rounding, so batched points agree with
lone runs to float tolerance, not bit for bit.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from amdcgan.errors import UserError
from amdcgan.hdl.spec import Architecture

from .config import GanConfig
from .layers import CrossbarLayer, Network, SwitchDropout, View, grouped_convolution
from .train import Progress, Run, restore_rng_states, rng_states

# Fields in which points trained together may differ: they change devices or random draws, not the model's shape.
POINT_FIELDS = {"seed", "levels", "variability", "variability_distribution", "write_noise", "weight_max",
                "max_steps_per_update", "stochastic_rounding", "epochs", "snapshot_epochs"}


class PointRandomness:
    """Each point's random state (torch, numpy, Python), swapped in for the draws its lone run would make."""

    def __init__(self, states: list[dict]):
        self.states = states

    @contextmanager
    def point(self, index: int):
        restore_rng_states(self.states[index])
        try:
            yield
        finally:
            self.states[index] = rng_states()


# ---------------------------------------------------------------------------------------------------------------------
# Batched stages


def _concatenated_state(module: nn.Module, stages: list[nn.Module]) -> dict:
    """The stages' tensors for `module`'s state keys, concatenated along dim 0 (counters, 0-d, taken once)."""
    sources = [stage.state_dict() for stage in stages]
    return {key: torch.cat([source[key] for source in sources]) if sources[0][key].dim() else sources[0][key]
            for key in module.state_dict()}


@torch.no_grad()
def _split_state(module: nn.Module, stages: list[nn.Module]) -> None:
    """Write `module`'s concatenated tensors back into the stages (the inverse of `_concatenated_state`)."""
    for key, value in module.state_dict().items():
        parts = value.chunk(len(stages)) if value.dim() else [value] * len(stages)
        for stage, part in zip(stages, parts):
            stage.load_state_dict({key: part.clone()}, strict=False)


def _grouped(stage: nn.Module, points: int) -> nn.Module:
    """A float layer or batch norm widened to `points` independent groups."""
    if isinstance(stage, nn.Linear):
        return BatchedLinear(stage, points)
    if isinstance(stage, (nn.Conv2d, nn.ConvTranspose2d)):
        kind = type(stage)
        extra = {"output_padding": stage.output_padding} if isinstance(stage, nn.ConvTranspose2d) else {}
        return kind(points * stage.in_channels, points * stage.out_channels, stage.kernel_size, stage.stride,
                    stage.padding, groups=points, bias=stage.bias is not None, **extra)
    return type(stage)(points * stage.num_features, eps=stage.eps, momentum=stage.momentum)


class BatchedLinear(nn.Module):
    """`points` dense layers: weight (points x out, in), bias (points x out)."""

    def __init__(self, stage: nn.Linear, points: int):
        super().__init__()
        self.points, self.out_features = points, stage.out_features
        self.weight = nn.Parameter(torch.zeros(points * stage.out_features, stage.in_features))
        self.bias = nn.Parameter(torch.zeros(points * stage.out_features)) if stage.bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        out = torch.einsum("bpi,poi->bpo", x.view(batch, self.points, -1),
                           self.weight.view(self.points, self.out_features, -1))
        if self.bias is not None:
            out = out + self.bias.view(self.points, -1)
        return out.reshape(batch, -1)


class BatchedDropout(nn.Module):
    """Dropout switches whose masks each point draws from its own random state."""

    def __init__(self, rate: float, points: int, randomness: PointRandomness):
        super().__init__()
        self.rate, self.points, self.randomness = rate, points, randomness

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0:
            return x
        shape = (x.shape[0], x.shape[1] // self.points, *x.shape[2:])
        masks = []
        for index in range(self.points):
            with self.randomness.point(index):
                masks.append(torch.rand(shape, dtype=x.dtype, device=x.device) >= self.rate)
        return x * torch.cat(masks, 1)


class BatchedCrossbar(nn.Module):
    """The points' crossbar layers (same plan, own devices): weight (points x rows, columns), tile by tile."""

    def __init__(self, layers: list[CrossbarLayer], randomness: PointRandomness):
        super().__init__()
        self.layers, self.randomness, self.points = layers, randomness, len(layers)  # a list: not submodules
        self.weight = nn.Parameter(torch.zeros(self.points * layers[0].weight.shape[0], layers[0].weight.shape[1]))

    @property
    def template(self) -> CrossbarLayer:
        return self.layers[0]

    def matrices(self) -> torch.Tensor:
        """(points, rows, columns): each point's effective matrix on its own devices, gradients to its weights."""
        weight = self.weight.view(self.points, *self.template.weight.shape)
        return torch.stack([layer.effective(weight[index]) for index, layer in enumerate(self.layers)])

    @torch.no_grad()
    def commit_updates(self) -> None:
        """Each point's devices take its proposed weights (its own draws), as `CrossbarLayer.commit_update`."""
        weights = self.weight.view(self.points, *self.template.weight.shape)
        for index, layer in enumerate(self.layers):
            layer.weight.copy_(weights[index])
            with self.randomness.point(index):
                layer.commit_update()
            weights[index].copy_(layer.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Every point's row splits as groups; each split's partial clipped where its readout clips, then summed."""
        layer = self.template
        rows = layer.drive(x)
        partial = (self._dense(rows, self.matrices()) if layer.plan.type == "dense"
                   else self._convolution(rows, self.matrices()))  # (batch, points, splits, columns, ...)
        if layer.readout_clips and len(layer.plan.row_splits) > 1:
            partial = layer.tile_clip(partial)
        out = layer.combine(partial.sum(2))
        return out.flatten(1, 2)

    def _dense(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        batch, plan = x.shape[0], self.template.plan
        x = x.reshape(batch, self.points, -1)
        if plan.bias:
            x = torch.cat([x, x.new_ones(batch, self.points, 1)], 2)
        rows = torch.cat([x, x.new_zeros(batch, self.points, 1)], 2)
        padded = torch.cat([weights, weights.new_zeros(self.points, 1, weights.shape[2])], 1)
        index = self.template.row_index
        grouped = rows[:, :, index].permute(1, 2, 0, 3)  # (points, splits, batch, rows per split)
        return (grouped @ padded[:, index]).permute(2, 0, 1, 3)

    def _convolution(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        layer, plan = self.template, self.template.plan
        splits, columns, k, points = len(plan.row_splits), plan.weight_columns, plan.kernel, self.points
        groups, in_channels = points * splits, layer.inputs // (k * k)
        padded = torch.cat([weights[:, : layer.inputs], weights.new_zeros(points, 1, columns)], 1)
        kernel = padded[:, layer.row_index].transpose(2, 3).reshape(groups * columns, layer.group_width, k, k)
        if not layer.identity_channels:
            channels = (torch.arange(points, device=x.device)[:, None] * in_channels + layer.channel_index).flatten()
            x = x[:, channels]
        out = grouped_convolution(x, kernel, plan, groups, layer.group_width)
        if plan.bias:
            bias = layer.bias_split[None, :, None] * weights[:, layer.inputs][:, None]  # (points, splits, columns)
            out = out + bias.reshape(1, -1, 1, 1)
        return out.view(out.shape[0], points, splits, columns, *out.shape[2:])


def _batched_stage(stages: list[nn.Module], randomness: PointRandomness) -> nn.Module:
    first, points = stages[0], len(stages)
    if isinstance(first, CrossbarLayer):
        return BatchedCrossbar(stages, randomness)
    if isinstance(first, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm1d, nn.BatchNorm2d)):
        return _grouped(first, points)
    if isinstance(first, SwitchDropout):
        return BatchedDropout(first.rate, points, randomness)
    if isinstance(first, View):
        return View((points * first.shape[0], *first.shape[1:]))
    return first  # parameterless and per element or per channel: activations, rails, pooling, flatten


class BatchedNetwork(nn.Module):
    """The points' copies of one network as one model on (batch, point x channel, ...) activations."""

    def __init__(self, networks: list[Network], randomness: PointRandomness):
        super().__init__()
        self.networks = networks
        self.input_clip = networks[0].input_clip
        self.stages = nn.ModuleList(_batched_stage([network.stages[index] for network in networks], randomness)
                                    for index in range(len(networks[0].stages)))
        with torch.no_grad():
            for index in self._own_stages():
                stage = self.stages[index]
                stage.load_state_dict(_concatenated_state(stage, self._point_stages(index)), strict=False)

    def _point_stages(self, index: int) -> list[nn.Module]:
        return [network.stages[index] for network in self.networks]

    def _own_stages(self) -> list[int]:
        """The stages that hold the points' state (the others are the first point's, shared)."""
        return [index for index, stage in enumerate(self.stages) if stage is not self.networks[0].stages[index]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_clip(x)
        for stage in self.stages:
            x = stage(x)
        return x

    def commit_updates(self) -> None:
        for stage in self.stages:
            if isinstance(stage, BatchedCrossbar):
                stage.commit_updates()

    def parameter_sources(self) -> list[tuple[nn.Parameter, list[nn.Parameter]]]:
        """Each batched parameter with the points' parameters it concatenates."""
        pairs = []
        for index in self._own_stages():
            points = [dict(point.named_parameters()) for point in self._point_stages(index)]
            pairs += [(parameter, [point[name] for point in points])
                      for name, parameter in self.stages[index].named_parameters()]
        return pairs

    def write_back(self) -> None:
        for index in self._own_stages():
            _split_state(self.stages[index], self._point_stages(index))


def _stack_adam(batched: torch.optim.Adam, optimisers: list[torch.optim.Adam], network: BatchedNetwork) -> None:
    for parameter, sources in network.parameter_sources():
        states = [optimiser.state[source] for optimiser, source in zip(optimisers, sources)]
        if states[0]:
            batched.state[parameter] = {key: torch.cat([state[key] for state in states]) if value.dim()
                                        else value.clone() for key, value in states[0].items()}


def _split_adam(batched: torch.optim.Adam, optimisers: list[torch.optim.Adam], network: BatchedNetwork) -> None:
    for parameter, sources in network.parameter_sources():
        state = batched.state[parameter]
        for index, (optimiser, source) in enumerate(zip(optimisers, sources)):
            optimiser.state[source] = {key: value.chunk(len(sources))[index].clone() if value.dim() else value.clone()
                                       for key, value in state.items()}


# ---------------------------------------------------------------------------------------------------------------------
# Training the points together


def _per_point_loss(logits: torch.Tensor, target: float, points: int) -> torch.Tensor:
    logits = logits.reshape(logits.shape[0], points)
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction="none").mean(0)


class BatchedEpoch:
    """One epoch of several runs (same epoch, same shapes) trained as one model; written back at the end."""

    def __init__(self, runs: list[Run], randomness: PointRandomness):
        self.runs, self.randomness, self.points = runs, randomness, len(runs)
        networks = {name: [getattr(run.models, name) for run in runs] for name in ("generator", "discriminator")}
        self.generator = BatchedNetwork(networks["generator"], randomness)
        self.discriminator = BatchedNetwork(networks["discriminator"], randomness)
        config = runs[0].config
        betas = (config.beta1, 0.999)
        self.optimisers = (torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=betas),
                           torch.optim.Adam(self.discriminator.parameters(), lr=config.lr, betas=betas))
        for optimiser, network, index in zip(self.optimisers, (self.generator, self.discriminator), (0, 1)):
            _stack_adam(optimiser, [run.optimisers[index] for run in runs], network)
        self.generator.to(runs[0].device)
        self.discriminator.to(runs[0].device)

    def _noise(self, batch: int) -> torch.Tensor:
        draws = []
        for index, run in enumerate(self.runs):
            with self.randomness.point(index):
                draws.append(torch.randn(batch, run.noise_dim, device=run.device))
        return torch.cat(draws, 1)

    def step(self, real: torch.Tensor) -> torch.Tensor:
        """One DCGAN step of every point (as `train.gan_step`); returns (points, 2) losses D, G."""
        optimiser_g, optimiser_d = self.optimisers
        in_situ = self.runs[0].config.mode != "float"  # on the circuit: each update is written to the devices
        fake = self.generator(self._noise(real.shape[0]))
        loss_d = (_per_point_loss(self.discriminator(real), 1.0, self.points)
                  + _per_point_loss(self.discriminator(fake.detach()), 0.0, self.points))
        optimiser_d.zero_grad(set_to_none=True)
        loss_d.sum().backward()
        optimiser_d.step()
        if in_situ:
            self.discriminator.commit_updates()
        loss_g = _per_point_loss(self.discriminator(fake), 1.0, self.points)
        optimiser_g.zero_grad(set_to_none=True)
        loss_g.sum().backward()
        optimiser_g.step()
        if in_situ:
            self.generator.commit_updates()
        return torch.stack([loss_d.detach(), loss_g.detach()], 1)

    def train(self) -> list[dict]:
        """Every point's epoch; returns each point's mean losses."""
        orders = []
        for index, run in enumerate(self.runs):
            with self.randomness.point(index):
                orders.append(torch.randperm(len(run.images)))
        batch, losses = self.runs[0].config.batch, []
        for step in range(self.runs[0].batches_per_epoch()):
            real = torch.cat([run.images[order[step * batch: (step + 1) * batch]]
                              for run, order in zip(self.runs, orders)], 1).to(self.runs[0].device)
            losses.append(self.step(real))
            for index, run in enumerate(self.runs):
                run.rounds += 1
                run.progress({"event": "step", "epoch": run.epoch + 1, "loss_d": float(losses[-1][index, 0]),
                              "loss_g": float(losses[-1][index, 1])})
        self.write_back()
        means = np.mean([step.tolist() for step in losses], axis=0)  # in float64, as `Run.train_epoch`
        return [{"loss_d": float(row[0]), "loss_g": float(row[1])} for row in means]

    def write_back(self) -> None:
        self.generator.write_back()
        self.discriminator.write_back()
        for optimiser, network, index in zip(self.optimisers, (self.generator, self.discriminator), (0, 1)):
            _split_adam(optimiser, [run.optimisers[index] for run in self.runs], network)


def check_batchable(configs: list[GanConfig]) -> None:
    shared = [{key: value for key, value in config.model_dump(mode="json").items() if key not in POINT_FIELDS}
              for config in configs]
    differing = sorted(key for key in shared[0] if any(other[key] != shared[0][key] for other in shared[1:]))
    if differing:
        raise UserError(f"points trained together may differ only in {', '.join(sorted(POINT_FIELDS))}; "
                        f"these differ: {', '.join(differing)}")


def train_batched(architecture: Architecture, jobs: list[tuple[GanConfig, Path]],
                  progress: Progress | None = None) -> list[dict]:
    """Train the (config, folder) points together; each folder ends as `run_point` would leave it (it continues
    or reuses what is there). Returns the points' summaries in order."""
    check_batchable([config for config, _ in jobs])
    runs, states = [], []
    for config, out_dir in jobs:  # each Run seeds the global random state; keep each point's copy
        run = Run(architecture, Path(out_dir), config, progress)
        run.start(resume=True)
        runs.append(run)
        states.append(rng_states())
    randomness = PointRandomness(states)
    while True:
        pending = [index for index, run in enumerate(runs) if run.epoch < run.config.epochs]
        if not pending:
            break
        lowest = min(runs[index].epoch for index in pending)
        group = [index for index in pending if runs[index].epoch == lowest]
        epoch = BatchedEpoch([runs[index] for index in group], PointRandomness([states[index] for index in group]))
        losses = epoch.train()
        for position, index in enumerate(group):
            states[index] = epoch.randomness.states[position]
            with randomness.point(index):
                runs[index].finish_epoch(losses[position])
    return [run.summary() for run in runs]
