"""Training time, write power and energy of on-chip weight updates (the paper's Table II), for any update schedule.

The model (our reading of Table II, see DESIGN.md): every device gets one write pulse per update round (one image),
so a run is images x epochs rounds. An update configuration is a schedule saying which devices are written in the
same cycle; from it and the layers' rows and columns follow
- cycles per round, so training time = cycles x rounds x pulse width;
- devices written at once (the peak over the round), so write power = devices x V_write^2 / R, the maximum with
  every device at R_on and the minimum at R_off;
- energy = device writes x V_write^2 / R x pulse width, which does not depend on the schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from amdcgan.hdl.loader import parse_yaml, read_yaml, validate
from amdcgan.hdl.mapping import TilePlan
from amdcgan.hdl.spec import NAME_PATTERN, Architecture, physical

# Agreement asked of our model on the paper's own inputs (rows it can reproduce).
TIME_TOLERANCE = 0.05
POWER_TOLERANCE = 0.15
DEFAULT_PULSE_WIDTHS_S = (1e-8, 1e-7, 1e-6)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Order(str, Enum):
    parallel = "parallel"
    series = "series"


CyclesPerLayer = Union[Annotated[int, Field(gt=0)], Literal["rows", "columns", "devices"]]


class PaperRow(Strict):
    power_max_w: float = Field(ge=0)
    power_min_w: float = Field(ge=0)
    time_s: dict[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] = Field(
        description="training time by write-pulse width (s)"
    )
    note: str = ""


class UpdateConfig(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    label: str = ""
    networks: Order = Field(description="Generator and Discriminator written together or one after the other")
    layers: Order = Field(description="a network's layers written together or one after the other")
    cycles_per_layer: CyclesPerLayer = Field(
        description="N write phases per layer, or one row / one column / one device per cycle"
    )
    parallel_tiles: bool = Field(default=False, description="a layer's tiles are written together")
    paper: PaperRow | None = None


class PaperInputs(Strict):
    weights: float = Field(gt=0)
    layers_per_network: int = Field(gt=0)
    max_rows: int = Field(gt=0)
    images: int = Field(gt=0)
    epochs: int = Field(gt=0)
    v_write_v: float = Field(gt=0)
    r_on_ohm: float = Field(gt=0)
    r_off_ohm: float = Field(gt=0)


class UpdateConfigFile(Strict):
    schema_version: Literal[1]
    paper_inputs: PaperInputs | None = None
    configs: list[UpdateConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> "UpdateConfigFile":
        names = [config.name for config in self.configs]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"configuration names used twice: {', '.join(repeated)}")
        return self


class TrainingInputs(Strict):
    """What a training run is: how many update rounds, and the write pulse's voltage and the device's resistances."""

    images: int = Field(default=60000, gt=0, le=10**12)
    epochs: int = Field(default=50, gt=0, le=10**6)
    v_write_v: float = physical(gt=0, le=100)
    r_on_ohm: float = physical(ge=1, le=1e12)
    r_off_ohm: float = physical(ge=1, le=1e12)
    pulse_widths_s: tuple[Annotated[float, physical(ge=1e-15, le=1)], ...] = Field(
        default=DEFAULT_PULSE_WIDTHS_S, min_length=1)

    @property
    def rounds(self) -> int:
        return self.images * self.epochs

    @classmethod
    def for_architecture(cls, architecture: Architecture, **overrides) -> "TrainingInputs":
        device = architecture.device
        values = {"v_write_v": device.v_write_v, "r_on_ohm": device.r_on_ohm, "r_off_ohm": device.r_off_ohm}
        values.update({key: value for key, value in overrides.items() if value is not None})
        return validate(cls, values, "training inputs")


class RunStats(Strict):
    """Write statistics counted by a training run (all optional; the rounds come from update_rounds or the
    busiest device's update count)."""

    update_rounds: int | None = Field(default=None, gt=0, le=10**18)
    max_updates_per_device: float | None = physical(None, ge=0, le=1e18)
    mean_updates_per_device: float | None = physical(None, ge=0, le=1e18)
    total_write_pulses: float | None = physical(None, ge=0, le=1e24)
    write_energy_j: float | None = physical(None, ge=0, le=1e12)

    @model_validator(mode="after")
    def _has_rounds(self) -> "RunStats":
        if self.update_rounds is None and self.max_updates_per_device is None:
            raise ValueError("give update_rounds or max_updates_per_device")
        return self

    @property
    def rounds(self) -> float:
        return self.update_rounds if self.update_rounds is not None else self.max_updates_per_device


# ---------------------------------------------------------------------------------------------------------------------
# What the schedule writes: networks of layers of crossbars (rows x columns of devices)


@dataclass(frozen=True)
class Crossbar:
    rows: float
    columns: float  # logical columns (weights per row)
    devices_per_weight: int = 1

    @property
    def devices(self) -> float:
        return self.rows * self.columns * self.devices_per_weight


@dataclass(frozen=True)
class WriteLayer:
    network: str
    name: str
    matrix: Crossbar  # the whole weight matrix
    tiles: tuple[Crossbar, ...]


def architecture_layers(plan: TilePlan) -> list[WriteLayer]:
    """Every weighted layer of the tile plan: its weight matrix and its tiles. The devices written are the weight
    devices (one, or two for a differential pair); the binary sign devices flip only when a weight changes sign."""
    return [
        WriteLayer(
            layer.network, layer.name,
            Crossbar(layer.weight_rows, layer.weight_columns, layer.tiles[0].devices_per_weight),
            tuple(Crossbar(tile.n_rows, tile.n_columns, tile.devices_per_weight) for tile in layer.tiles),
        )
        for layer in plan.layers()
    ]


def paper_layers(inputs: PaperInputs) -> list[WriteLayer]:
    """The paper's inputs as layers: the weights shared equally by 2 x layers_per_network layers, each as tall as the
    largest layer (max_rows), since the paper gives no per-layer shapes."""
    count = 2 * inputs.layers_per_network
    matrix = Crossbar(inputs.max_rows, inputs.weights / count / inputs.max_rows)
    return [
        WriteLayer(network, f"layer{index}", matrix, (matrix,))
        for network in ("generator", "discriminator")
        for index in range(inputs.layers_per_network)
    ]


# ---------------------------------------------------------------------------------------------------------------------
# The schedule


@dataclass(frozen=True)
class Phase:
    """A unit's write: cycles it takes and devices written at once (the peak)."""

    cycles: float
    at_once: float


def _crossbar_phase(crossbar: Crossbar, cycles_per_layer: CyclesPerLayer) -> Phase:
    devices = crossbar.devices
    cycles = {
        "rows": crossbar.rows,
        "columns": crossbar.columns,
        "devices": devices,
    }.get(cycles_per_layer, cycles_per_layer)
    return Phase(cycles, devices / cycles)


def _combine(phases: list[Phase], order: Order) -> Phase:
    if order is Order.parallel:
        return Phase(max(p.cycles for p in phases), sum(p.at_once for p in phases))
    return Phase(sum(p.cycles for p in phases), max(p.at_once for p in phases))


def _layer_phase(layer: WriteLayer, config: UpdateConfig) -> Phase:
    if config.parallel_tiles:
        return _combine([_crossbar_phase(tile, config.cycles_per_layer) for tile in layer.tiles], Order.parallel)
    return _crossbar_phase(layer.matrix, config.cycles_per_layer)


def schedule(layers: list[WriteLayer], config: UpdateConfig) -> Phase:
    networks = []
    for network in dict.fromkeys(layer.network for layer in layers):
        phases = [_layer_phase(layer, config) for layer in layers if layer.network == network]
        networks.append(_combine(phases, config.layers))
    return _combine(networks, config.networks)


def config_figures(layers: list[WriteLayer], config: UpdateConfig, inputs: TrainingInputs) -> dict:
    """Table II's figures for one configuration, plus cycles, devices at once, energy and update cycles per device."""
    phase = schedule(layers, config)
    device_writes = sum(layer.matrix.devices for layer in layers)
    v2 = inputs.v_write_v**2
    rounds = inputs.rounds
    return {
        "name": config.name,
        "label": config.label,
        "cycles_per_image": phase.cycles,
        "devices_at_once": phase.at_once,
        "devices_written_per_image": device_writes,
        "power_max_w": phase.at_once * v2 / inputs.r_on_ohm,
        "power_min_w": phase.at_once * v2 / inputs.r_off_ohm,
        "time_s": {str(width): phase.cycles * rounds * width for width in inputs.pulse_widths_s},
        "energy_max_j": {str(width): device_writes * rounds * v2 / inputs.r_on_ohm * width for width in inputs.pulse_widths_s},
        "energy_min_j": {str(width): device_writes * rounds * v2 / inputs.r_off_ohm * width for width in inputs.pulse_widths_s},
        "update_cycles_per_device": rounds,
    }


def training_table(layers: list[WriteLayer], configs: list[UpdateConfig], inputs: TrainingInputs) -> dict:
    return {
        "inputs": {**inputs.model_dump(mode="json"), "update_rounds": inputs.rounds},
        "rows": [config_figures(layers, config, inputs) for config in configs],
    }


def run_figures(layers: list[WriteLayer], configs: list[UpdateConfig], inputs: TrainingInputs, stats: RunStats) -> dict:
    """Table II-style figures for the rounds a training run actually did, with its counted writes."""
    v2 = inputs.v_write_v**2
    pulses = stats.total_write_pulses
    rows = []
    for config in configs:
        phase = schedule(layers, config)
        rows.append({
            "name": config.name,
            "power_max_w": phase.at_once * v2 / inputs.r_on_ohm,
            "power_min_w": phase.at_once * v2 / inputs.r_off_ohm,
            "time_s": {str(width): phase.cycles * stats.rounds * width for width in inputs.pulse_widths_s},
        })
    energy = None
    if pulses is not None:
        energy = {
            str(width): {"max_j": pulses * v2 / inputs.r_on_ohm * width, "min_j": pulses * v2 / inputs.r_off_ohm * width}
            for width in inputs.pulse_widths_s
        }
    return {
        "stats": stats.model_dump(),
        "rounds": stats.rounds,
        "rows": rows,
        "energy_from_pulses": energy,
        "update_cycles_per_device": {
            "max": stats.max_updates_per_device,
            "mean": stats.mean_updates_per_device,
        },
    }


# ---------------------------------------------------------------------------------------------------------------------
# The paper's Table II beside ours


def _ratio(ours: float, paper: float) -> float | None:
    return ours / paper if paper else None


def _within(ratio: float | None, tolerance: float) -> bool:
    return ratio is not None and abs(ratio - 1) <= tolerance


def paper_comparison(config_file: UpdateConfigFile) -> dict:
    """Each preset with a published row, run on the paper's inputs, cell by cell beside the paper."""
    inputs = config_file.paper_inputs
    if inputs is None:
        return {"inputs": None, "rows": []}
    training = TrainingInputs(
        images=inputs.images, epochs=inputs.epochs, v_write_v=inputs.v_write_v, r_on_ohm=inputs.r_on_ohm,
        r_off_ohm=inputs.r_off_ohm,
    )
    layers = paper_layers(inputs)
    v2 = inputs.v_write_v**2
    rows = []
    for config in (c for c in config_file.configs if c.paper is not None):
        paper = config.paper
        widths = tuple(sorted(paper.time_s))
        ours = config_figures(layers, config, training.model_copy(update={"pulse_widths_s": widths}))
        cells = {
            "power_max_w": (ours["power_max_w"], paper.power_max_w, POWER_TOLERANCE),
            "power_min_w": (ours["power_min_w"], paper.power_min_w, POWER_TOLERANCE),
            **{f"time_s@{width:g}": (ours["time_s"][str(width)], paper.time_s[width], TIME_TOLERANCE) for width in widths},
        }
        compared = {
            key: {"ours": value, "paper": published, "ratio": _ratio(value, published),
                  "within_tolerance": _within(_ratio(value, published), tolerance), "tolerance": tolerance}
            for key, (value, published, tolerance) in cells.items()
        }
        rows.append({
            "name": config.name,
            "label": config.label,
            "cells": compared,
            "agrees": all(cell["within_tolerance"] for cell in compared.values()),
            "ours_cycles_per_image": ours["cycles_per_image"],
            "ours_devices_at_once": ours["devices_at_once"],
            # What the printed figures imply under the same model: a check of which reading they fit.
            "paper_implied_devices_at_once_from_max": paper.power_max_w * inputs.r_on_ohm / v2,
            "paper_implied_devices_at_once_from_min": paper.power_min_w * inputs.r_off_ohm / v2,
            "paper_implied_cycles_per_image": {
                str(width): paper.time_s[width] / (training.rounds * width) for width in widths
            },
            "note": paper.note,
        })
    return {"inputs": inputs.model_dump(), "tolerances": {"time": TIME_TOLERANCE, "power": POWER_TOLERANCE},
            "rows": rows}


# ---------------------------------------------------------------------------------------------------------------------
# Files


def load_update_configs(path: str | Path | None = None) -> UpdateConfigFile:
    """The shipped presets (the paper's four rows), or a user's file of the same form."""
    if path is None:
        text = (resources.files("amdcgan.estimators") / "data" / "update_configs.yaml").read_text(encoding="utf-8")
        source = "shipped update_configs.yaml"
        return validate(UpdateConfigFile, parse_yaml(text, source), source)
    return validate(UpdateConfigFile, read_yaml(path), str(path))


def load_run_stats(data: dict | RunStats | None, source: str = "run statistics") -> RunStats | None:
    if data is None or isinstance(data, RunStats):
        return data
    return validate(RunStats, data, source)
