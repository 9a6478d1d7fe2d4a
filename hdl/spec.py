"""The architecture description: pydantic models for architecture, technology, device and component-library files.

Every model forbids unknown fields and carries its units in field names, so a typo or a unit mix-up is an error at
load time, not a wrong number later.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1
MAX_SUMMING_GAIN = 1e3  # the largest gain an architecture file may give a summing amplifier

# Names reach SPICE netlists and GDS labels: letters, digits and underscores only, and never a SPICE or ngspice
# control word, so that nothing a user writes can become a control line.
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,39}$"
SPICE_RESERVED = frozenset(
    "control endc shell include inc lib endl end subckt ends param func model options option global "
    "op tran ac dc noise print plot save measure meas alter temp ic nodeset exec system source run "
    "write quit exit set unset let echo load".split()
)


def check_name(value: str) -> str:
    if not re.fullmatch(NAME_PATTERN, value):
        raise ValueError(
            f"{value!r} is not a valid name: use a letter followed by up to 39 letters, digits or underscores"
        )
    if value.lower() in SPICE_RESERVED:
        raise ValueError(f"{value!r} is a SPICE control word and cannot be used as a name")
    return value


def physical(default=..., **bounds) -> Any:
    """A finite number within a stated physical range: enforced on load and written into the JSON Schema."""
    return Field(default, allow_inf_nan=False, **bounds)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # every number finite


# ---------------------------------------------------------------------------------------------------------------------
# Technology, device and component library


class GdsLayer(Strict):
    layer: int = Field(ge=0, le=65535)
    datatype: int = Field(default=0, ge=0, le=65535)


class LayerRule(Strict):
    min_width_um: float = physical(gt=0, le=1000)
    min_space_um: float = physical(gt=0, le=1000)


class LayerMap(Strict):
    bottom_electrode: GdsLayer = GdsLayer(layer=1)
    top_electrode: GdsLayer = GdsLayer(layer=2)
    switching: GdsLayer = GdsLayer(layer=3)
    periphery: GdsLayer = GdsLayer(layer=10)
    tile_outline: GdsLayer = GdsLayer(layer=11)
    pin: GdsLayer = GdsLayer(layer=20)
    text: GdsLayer = GdsLayer(layer=21)


class Technology(Strict):
    """A CMOS node with a memristive back-end: supplies, the memristor cell pitch and the rules the floorplan needs."""

    schema_version: Literal[1] = 1
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    node_nm: float = physical(ge=1, le=100_000)
    vdd_v: float = physical(gt=0, le=100, description="positive supply; analog outputs clip here")
    vss_v: float = physical(lt=0, ge=-100, description="negative supply; analog outputs clip here")
    grid_um: float = physical(0.005, ge=0.001, le=1, description="layout database unit")
    memristor_pitch_um: float = physical(gt=0, le=1000, description="crossbar cell pitch in both directions")
    electrode: LayerRule = Field(description="rules of both electrode metals (bottom and top)")
    switching_enclosure_um: float = physical(ge=0, le=100, description="electrode overlap around the switching layer")
    tile_spacing_um: float = physical(gt=0, le=10_000, description="gap between neighbouring tiles and blocks")
    periphery_aspect: float = physical(
        1.0, ge=0.01, le=100, description="height/width of one peripheral block when drawn as a rectangle"
    )
    layers: LayerMap = LayerMap()
    scaling_rule: str = Field(default="", max_length=4000, description="how this node's figures were derived, and the source")

    @model_validator(mode="after")
    def _pitch_fits_rules(self) -> "Technology":
        needed = self.electrode.min_width_um + self.electrode.min_space_um
        if self.memristor_pitch_um + 1e-12 < needed:
            raise ValueError(
                f"memristor_pitch_um={self.memristor_pitch_um} is below electrode min_width_um + min_space_um "
                f"= {needed}"
            )
        if self.electrode.min_width_um < 2 * self.switching_enclosure_um + self.grid_um:
            raise ValueError("electrode min_width_um leaves no room for the switching layer inside its enclosure")
        return self


class Memristor(Strict):
    """A memristive device as the paper uses it (WO2 by default)."""

    schema_version: Literal[1] = 1
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    r_on_ohm: float = physical(ge=1, le=1e12)
    r_off_ohm: float = physical(ge=1, le=1e12)
    levels: int | None = Field(default=128, ge=2, le=65536, description="stable resistive levels; null = ideal")
    variability_sigma: float = physical(
        0.0, ge=0, le=1, description="device-to-device deviation, a fraction of the conductance (0.3 = 30%)"
    )
    write_noise_sigma: float = physical(
        0.0, ge=0, le=1, description="cycle-to-cycle write noise, a fraction of one level step"
    )
    v_threshold_v: float = physical(gt=0, le=100)
    v_write_v: float = physical(gt=0, le=100)
    v_read_v: float = physical(gt=0, le=100, description="read voltage at full scale; must stay below the threshold")
    t_write_s: float = physical(ge=1e-15, le=1, description="write pulse width")
    switching_rate_s_per_v: float = physical(
        0.0,
        ge=0,
        le=1e15,
        description="threshold-switching model: dx/dt = rate * (|V| - V_threshold) for |V| above threshold, x the "
        "state in [0, 1]; 0 means one level step per pulse at V_write",
    )
    variability_distribution: Literal["lognormal", "normal"] = Field(
        default="lognormal",
        description="device-to-device factor on the conductance: exp(sigma z) (median 1) or 1 + sigma z (floored)",
    )
    citation: str = Field(default="", description="the publication the parameters come from")

    @model_validator(mode="after")
    def _physical(self) -> "Memristor":
        if self.r_on_ohm >= self.r_off_ohm:
            raise ValueError(f"r_on_ohm ({self.r_on_ohm}) must be below r_off_ohm ({self.r_off_ohm})")
        if self.v_write_v <= self.v_threshold_v:
            raise ValueError(f"v_write_v ({self.v_write_v}) must exceed v_threshold_v ({self.v_threshold_v})")
        if self.v_read_v >= self.v_threshold_v:
            raise ValueError(
                f"v_read_v ({self.v_read_v}) must stay below v_threshold_v ({self.v_threshold_v}) or reads disturb"
            )
        return self

    @property
    def g_on_s(self) -> float:
        return 1.0 / self.r_on_ohm

    @property
    def g_off_s(self) -> float:
        return 1.0 / self.r_off_ohm


class ComponentKind(str, Enum):
    """Every peripheral circuit the mapping can place. Memristors are counted apart (their area is the pitch)."""

    opamp = "opamp"  # current-to-voltage converter of a column (Fig. 3)
    summing_amplifier = "summing_amplifier"  # adds the partial results of row-split tiles
    relu = "relu"
    relu_switch = "relu_switch"  # ReLU with switch (Fig. 5b)
    tanh = "tanh"
    thresholding = "thresholding"  # reads the sign crossbar (Fig. 3)
    sign_switch = "sign_switch"  # inverts a dense-layer input (Fig. 3)
    dropout_switch = "dropout_switch"
    crossbar_switch = "crossbar_switch"  # connects a crossbar row to its input for the current cycle
    batch_norm = "batch_norm"
    averager = "averager"  # mean-pooling output stage (its memristors are counted as memristors)


class Measurement(Strict):
    """A transistor-level circuit simulated at one process corner and temperature."""

    corner: str = Field(pattern=r"^[a-z]{2}$")
    temperature_c: float
    power_mw: float = Field(ge=0, description="from the simulated supply currents at the operating point")
    figures: dict[str, float] = Field(default_factory=dict, description="measured figures, units in their names")
    curves: dict[str, str] = Field(
        default_factory=dict, description="transfer curves: name -> CSV (v_in,v_out), relative to the library file"
    )


class Component(Strict):
    power_mw: float = physical(ge=0, le=1e6)
    area_um2: float = physical(gt=0, le=1e12)
    source: str = Field(default="", max_length=4000, description="where the figure comes from (Table I, or the stated assumption)")
    netlist_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$",
                                       description="SHA-256 of the transistor-level netlist the figures come from")
    measured: list[Measurement] = Field(default_factory=list, description="simulated corners and temperatures")


class ComponentLibrary(Strict):
    """Area and static power of every peripheral circuit kind at one technology node."""

    schema_version: Literal[1] = 1
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    components: dict[ComponentKind, Component]
    provenance: str = Field(default="", description="how the figures were obtained (models, simulator, conditions)")

    @field_validator("components")
    @classmethod
    def _complete(cls, value: dict[ComponentKind, Component]) -> dict[ComponentKind, Component]:
        missing = [kind.value for kind in ComponentKind if kind not in value]
        if missing:
            raise ValueError(f"missing component kinds: {', '.join(missing)}")
        return value


# ---------------------------------------------------------------------------------------------------------------------
# Layers


class LayerBase(Strict):
    name: str | None = Field(default=None, description="unique within its network; defaults to type + index")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value)


class Readout(str, Enum):
    load_memristor = "load_memristor"  # Fig. 2: the column current develops a voltage on a load memristor
    opamp_ivc = "opamp_ivc"  # Fig. 3: an OpAmp current-to-voltage converter per column


class WeightEncoding(str, Enum):
    sign_crossbar = "sign_crossbar"  # Fig. 3: |w| in one device, its sign in a binary sign crossbar
    differential_pair = "differential_pair"  # w ~ G+ - G-, two devices per weight


class WeightedLayer(LayerBase):
    bias: bool = True
    readout: Readout | None = Field(default=None, description="default: load memristor for convolutions, IVC for dense")
    encoding: WeightEncoding | None = Field(default=None, description="default: the architecture's weight_encoding")
    summing_gain: float | None = Field(
        default=None, gt=0, le=MAX_SUMMING_GAIN,
        description="gain of the amplifier adding this layer's row-split partials; default: the periphery's",
    )


class Dense(WeightedLayer):
    type: Literal["dense"]
    units: int = Field(gt=0, le=10_000_000)


class ConvolutionLayer(WeightedLayer):
    filters: int = Field(gt=0, le=100_000)
    kernel: int = Field(gt=0, le=64)
    stride: int = Field(default=1, gt=0, le=64)
    padding: int = Field(default=0, ge=0, le=64)


class Conv2d(ConvolutionLayer):
    type: Literal["conv2d"]


class Deconv2d(ConvolutionLayer):
    """Transposed convolution, mapped as a convolution over the zero-inserted input (see mapping.py)."""

    type: Literal["deconv2d"]
    output_padding: int = Field(default=0, ge=0, le=63)

    @model_validator(mode="after")
    def _output_padding(self) -> "Deconv2d":
        if self.output_padding >= self.stride:
            raise ValueError(f"output_padding ({self.output_padding}) must be below stride ({self.stride})")
        return self


class MeanPool(LayerBase):
    type: Literal["mean_pool"]
    size: int = Field(default=2, gt=0, le=64)


class BatchNorm(LayerBase):
    type: Literal["batch_norm"]
    enabled: bool = Field(default=True, description="false removes the circuit, as the paper allows")


class Activation(LayerBase):
    type: Literal["activation"]
    function: Literal["relu", "relu_switch", "tanh", "linear"]


class Dropout(LayerBase):
    type: Literal["dropout"]
    rate: float = physical(ge=0, lt=1)


class Reshape(LayerBase):
    type: Literal["reshape"]
    shape: list[Annotated[int, Field(gt=0)]] = Field(min_length=1, max_length=3)


Layer = Annotated[
    Union[Dense, Conv2d, Deconv2d, MeanPool, BatchNorm, Activation, Dropout, Reshape], Field(discriminator="type")
]
WEIGHTED_TYPES = (Dense, Conv2d, Deconv2d)


class Network(Strict):
    input_shape: list[Annotated[int, Field(gt=0, le=100_000)]] = Field(
        min_length=1, max_length=3, description="[features] or [channels, height, width]"
    )
    layers: list[Layer] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> "Network":
        seen: set[str] = set()
        for name in self.layer_names():
            if name in seen:
                raise ValueError(f"layer name {name!r} is used twice")
            seen.add(name)
        if not any(isinstance(layer, WEIGHTED_TYPES) for layer in self.layers):
            raise ValueError("a network needs at least one dense, conv2d or deconv2d layer")
        return self

    def layer_names(self) -> list[str]:
        return [layer.name or f"{layer.type}{index}" for index, layer in enumerate(self.layers)]


class Periphery(Strict):
    """The designer's choices about a tile's periphery (the paper fixes none of them). Defaults follow Figs. 2-3."""

    load_conductance_s: float | None = Field(
        default=None, gt=0, le=1.0,
        description="load memristor of a column; null = the device's g_on, the largest a device can give",
    )
    opamp_gain: float = Field(default=1.0e4, gt=1, le=1e9, description="open-loop DC gain of the IVC OpAmp")
    opamp_gbw_hz: float = Field(default=100.0e6, gt=0, le=1e12, description="gain-bandwidth of the IVC OpAmp")
    opamp_headroom_v: float = Field(default=0.2, ge=0, le=10, description="IVC output swing stops this far from "
                                    "each supply")
    ivc_feedback_ohm: float | None = Field(
        default=None, gt=0, le=1e12,
        description="IVC feedback resistor; null = sized per tile so full scale (every row at the read voltage on "
        "g_on devices) just reaches the output swing",
    )
    summing_gain: float = Field(default=1.0, gt=0, le=MAX_SUMMING_GAIN,
                                description="gain of the amplifier adding row-split partials")
    tanh_amplitude_v: float | None = Field(
        default=None, gt=0, le=100,
        description="the tanh circuit's amplitude and input scale, v_out = A tanh(v_in / A); null = vdd, near linear "
        "over the read range. The read voltage makes the output saturate at +-V_r, as float's tanh does at +-1",
    )
    read_voltage_v: float | None = Field(
        default=None, gt=0, le=100,
        description="full-scale row read voltage; null = the device's v_read_v. Row drivers scale every layer's "
        "input so that no read exceeds it",
    )
    read_disturb: bool = Field(
        default=False, description="apply the write model to reads above the device threshold (only possible when "
        "read_voltage_v exceeds v_threshold_v)",
    )
    read_pulse_s: float = Field(default=1.0e-8, gt=0, le=1.0, description="duration of one crossbar read")
    row_wire_ohm: float = Field(
        default=0.0, ge=0, le=1000.0,
        description="wire resistance of one cell segment of a crossbar row (metal line between neighbouring cells; "
        "about 0.1-10 ohm in nanoscale crossbars); 0 = ideal rows",
    )
    column_wire_ohm: float = Field(
        default=0.0, ge=0, le=1000.0,
        description="wire resistance of one cell segment of a crossbar column; 0 = ideal columns",
    )
    wire_refresh_writes: int = Field(
        default=1, ge=1, le=1_000_000,
        description="in-situ training with wires: the tiles' exact transfers are solved again after every this many "
        "write rounds (between solves the wires' correction of the last solve is kept); 1 = after every write",
    )


class TileLimits(Strict):
    max_rows: int = Field(gt=0, le=65536)
    max_columns: int = Field(gt=0, le=65536, description="physical columns; a differential pair takes two")


class Architecture(Strict):
    """One GAN accelerator: its two networks, how they are tiled, and what they are built from."""

    schema_version: Literal[1] = Field(description="this file format's version")
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    description: str = Field(default="", max_length=4000)
    technology: Technology
    device: Memristor
    components: ComponentLibrary
    tiles: TileLimits
    weight_encoding: WeightEncoding = WeightEncoding.sign_crossbar
    periphery: Periphery = Periphery()
    generator: Network
    discriminator: Network

    @model_validator(mode="after")
    def _tiles_hold_a_pair(self) -> "Architecture":
        if self.weight_encoding is WeightEncoding.differential_pair and self.tiles.max_columns < 2:
            raise ValueError("tiles.max_columns must be at least 2 to hold a differential pair")
        return self

    @model_validator(mode="after")
    def _reads_below_threshold(self) -> "Architecture":
        read = self.read_voltage_v
        if read >= self.device.v_threshold_v and not self.periphery.read_disturb:
            raise ValueError(
                f"periphery.read_voltage_v ({read}) reaches the device threshold ({self.device.v_threshold_v}): "
                "reads would rewrite devices; lower it, or set periphery.read_disturb: true to study that"
            )
        return self

    @model_validator(mode="after")
    def _tanh_within_supplies(self) -> "Architecture":
        amplitude = self.periphery.tanh_amplitude_v
        if amplitude is not None and amplitude > min(self.technology.vdd_v, -self.technology.vss_v):
            raise ValueError(f"periphery.tanh_amplitude_v ({amplitude}) exceeds a supply "
                             f"({self.technology.vdd_v}, {self.technology.vss_v}): the output cannot swing that far")
        return self

    @property
    def read_voltage_v(self) -> float:
        return self.periphery.read_voltage_v or self.device.v_read_v

    def networks(self) -> dict[str, Network]:
        return {"generator": self.generator, "discriminator": self.discriminator}


class ArchitectureFile(Strict):
    """What an architecture file holds before its named technology, device and library are resolved.

    `technology`, `device` and `components` name a shipped file (`cmos180`), give a path, or are a mapping with a
    `base:` (name or path) and any fields to override.
    """

    schema_version: Literal[1]
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    description: str = Field(default="", max_length=4000)
    technology: str | dict = "cmos180"
    device: str | dict = "wo2"
    components: str | dict = "table1_180nm"
    tiles: TileLimits
    weight_encoding: WeightEncoding = WeightEncoding.sign_crossbar
    periphery: Periphery = Periphery()
    generator: Network
    discriminator: Network
