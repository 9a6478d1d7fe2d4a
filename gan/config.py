"""What one training run is: the mode, the device non-idealities it overrides, and the training settings.

Defaults suit a quick CPU run. `levels` and `variability` default to the architecture's device file; give a number
to override it, or `levels="ideal"` for continuous conductances.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from amdcgan.context import MAX_SEED
from amdcgan.errors import UserError

MODES = ("insitu", "exsitu", "float")
ACTIVATION_FUNCTIONS = ("relu", "relu_switch", "tanh")
# Every run field that changes the trained result; `epochs` and bookkeeping fields may differ on --resume.
RESUME_FREE_FIELDS = {"epochs", "snapshot_epochs", "baseline", "max_work"}


class GanConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["insitu", "exsitu", "float"] = "insitu"
    epochs: int = Field(default=1, ge=1, le=10_000)
    batch: int = Field(default=64, ge=2, le=65_536)
    limit: int | None = Field(default=1000, ge=2, description="images used per epoch; None = all loaded")
    data_dir: Path | None = Field(default=None, description="folder of MNIST IDX files; None = embedded 5,000 digits")
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    device: Literal["cpu", "cuda"] = "cpu"
    noise_dim: int | None = Field(default=None, description="None = the generator's input size")
    lr: float = Field(default=2e-4, gt=0)
    beta1: float = Field(default=0.5, ge=0, lt=1)
    # Device model (None = the architecture's device file)
    levels: int | Literal["ideal"] | None = Field(default=None, description="resistive levels, 'ideal', or None")
    variability: float | None = Field(default=None, ge=0, le=1, description="device-to-device sigma (0.3 = 30%)")
    variability_distribution: Literal["lognormal", "normal"] | None = Field(
        default=None, description="None = the device file's"
    )
    write_noise: float | None = Field(default=None, ge=0, le=1, description="sigma as a fraction of one level step")
    weight_max: float = Field(default=0.1, gt=0, description="the weight that the largest conductance represents")
    max_steps_per_update: int = Field(default=16, ge=1, description="level steps one device may move per update")
    stochastic_rounding: bool = True
    clip: bool = Field(default=True, description="clip column outputs and activations at the supply rails")
    activation_tables: dict[str, Path] = Field(
        default_factory=dict, description="function -> CSV (v_in,v_out) of its circuit; else ideal tanh/ReLU"
    )
    # Evaluation and bookkeeping
    eval_samples: int = Field(default=256, ge=10, description="fixed noise batch scored after each epoch")
    score: bool = Field(default=True, description="score image quality (FID, classes) after each epoch")
    snapshot_epochs: tuple[int, ...] = Field(default=(), description="epochs whose samples are kept for sweeps")
    baseline: bool = Field(default=False, description="also train the float DCGAN in RUN/float_baseline")
    max_work: float = Field(default=1.0, gt=0, allow_inf_nan=False, description="scales the limit on the data read")

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and not 2 <= value <= 65536:
            raise ValueError("levels must be between 2 and 65536")
        return value

    @field_validator("activation_tables")
    @classmethod
    def _tables(cls, value: dict[str, Path]) -> dict[str, Path]:
        unknown = sorted(set(value) - set(ACTIVATION_FUNCTIONS))
        if unknown:
            raise ValueError(f"no activation circuit named {', '.join(unknown)}; use {', '.join(ACTIVATION_FUNCTIONS)}")
        return value

    def replace(self, **changes) -> "GanConfig":
        return make_config(**{**self.model_dump(), **changes})

    def result_fields(self) -> dict:
        """The fields that decide the trained result, as JSON-able data (for checking a resumed run)."""
        data = self.model_dump(mode="json")
        return {key: value for key, value in data.items() if key not in RESUME_FREE_FIELDS}


def make_config(**fields) -> GanConfig:
    """A validated config, or one UserError that names every bad field."""
    from pydantic import ValidationError

    try:
        return GanConfig(**fields)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, item['loc'])) or 'config'}: {item['msg'].removeprefix('Value error, ')}"
            for item in error.errors()
        )
        raise UserError(f"bad training settings: {problems}") from None


def parse_levels(text: str) -> int | str:
    """`--levels 64` or `--levels ideal`."""
    if text.strip().lower() in ("ideal", "none"):
        return "ideal"
    try:
        return int(text)
    except ValueError:
        raise UserError(f"--levels takes a whole number (2..65536) or 'ideal', got {text!r}") from None
