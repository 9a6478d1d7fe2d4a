"""Analog layers for any PyTorch model: dense and convolution layers computed as memristive crossbar tiles.

`AnalogLinear`, `AnalogConv2d` and `AnalogConvTranspose2d` take their torch counterparts' constructor arguments and
forward contract, plus the hardware they run on; `convert(model, hardware)` replaces every supported layer of a
model; `AnalogOptimizer` (or `commit_updates` after each step) trains them in situ, writing every update to the
devices as counted pulses; `write_statistics` reports those pulses as `amdcgan train` does.

Each layer is `amdcgan.gan.layers.CrossbarLayer`, the tile-accurate layer `amdcgan train` runs, on a plan of that
layer alone (`amdcgan.hdl.mapping.plan_layer`): tiles, readouts, row drivers, clipping and summing amplifier are hdl's
one electrical model (`amdcgan.hdl.electrical`).

Hardware: the hardware parts of an architecture file (technology, device, components, tiles, weight_encoding,
periphery), a readout per layer type or layer name, and the in-situ update rule (weight_max, max_steps_per_update,
stochastic_rounding, as `amdcgan train` takes them); given as a `Hardware`, an architecture or hardware YAML file,
a mapping with the same fields, or an `Architecture`. None means the shipped defaults (cmos180, wo2, table1_180nm,
128 x 128 tiles).

Signals: torch tensors in, torch tensors out, in units of the read voltage V_r: 1.0 is V_r volts on a row. A
layer's row drivers multiply its input by the read gain min(1, 1 / input_bound) and limit the result to +-1 (+-V_r),
so inputs within +-input_bound units never read above V_r; the bias row is driven at 1. Its outputs are the column
voltages of its readout over V_r (a load memristor divides the column current by the column's conductance, an IVC by
its feedback), not W x: the circuit's scale, which in-situ training learns with. `convert` sets each layer's
input_bound from the stage before it, as the architecture file's rules do (`hdl.electrical.row_drivers`), when the
model traces with torch.fx; else every layer keeps the `input_bound` given. The drivers' limit always applies: unlike
the architecture's networks, a model's inputs are not known to stay within their bound.

Weights: `weight` is the crossbar matrix (`gan.layers.weight_matrix` layout): rows are the inputs (in_channel, ky, kx)
with the bias row last, columns the outputs; a transposed convolution holds its equivalent convolution kernel. It is
what the devices hold (their nominal weights, within +-weight_max). `to_float()` gives the torch layer back.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable

import torch
from pydantic import Field, ValidationError, model_validator
from torch import nn

from amdcgan.errors import UserError
from amdcgan.gan.config import GanConfig
from amdcgan.gan.devices import DeviceModel
from amdcgan.gan.importer import DEFAULT_HARDWARE, LAYER, fx_steps, module_step
from amdcgan.gan.layers import CircuitActivation, CrossbarLayer, SwitchDropout, View, supply_clip, weight_matrix
from amdcgan.gan.train import crossbar_statistics, run_statistics
from amdcgan.hdl import spec
from amdcgan.hdl.electrical import Periphery as Circuits
from amdcgan.hdl.electrical import RowDriver, stage_bound
from amdcgan.hdl.loader import LIBRARY_KINDS, format_validation_error, read_yaml, resolve_library, validate
from amdcgan.hdl.mapping import plan_layer

__all__ = ["AnalogBatchNorm1d", "AnalogBatchNorm2d", "AnalogActivation", "AnalogConv2d", "AnalogConvTranspose2d",
           "AnalogLinear", "AnalogOptimizer", "ConversionReport", "Hardware", "analog_layers", "commit_updates",
           "convert", "write_statistics"]

_TRAINING = GanConfig.model_fields
# Only a placeholder: the validators of a whole architecture check the hardware; layers are planned one by one.
_PLACEHOLDER_NETWORK = {"input_shape": [1], "layers": [{"type": "dense", "units": 1}]}
_NETWORK_FIELDS = ("schema_version", "name", "description", "generator", "discriminator")


# ---------------------------------------------------------------------------------------------------------------------
# Hardware


class Hardware(spec.Strict):
    """What analog layers are built on: an architecture file's hardware, readouts per layer, the update rule."""

    technology: spec.Technology
    device: spec.Memristor
    components: spec.ComponentLibrary
    tiles: spec.TileLimits
    weight_encoding: spec.WeightEncoding = spec.WeightEncoding.sign_crossbar
    periphery: spec.Periphery = spec.Periphery()
    readout: dict[str, spec.Readout] = Field(
        default_factory=dict, description="layer type (dense, conv2d, deconv2d) or layer name (convert: the module's "
        "name in the model) -> readout; a name wins over a type; default: load memristor for convolutions, IVC for "
        "dense layers")
    summing_gain: dict[str, Annotated[float, Field(gt=0, le=spec.MAX_SUMMING_GAIN)]] = Field(
        default_factory=dict, description="layer type or layer name (as for readout) -> gain of the amplifier adding "
        "that layer's row-split partials; default: periphery.summing_gain")
    weight_max: float = Field(default=_TRAINING["weight_max"].default, gt=0,
                              description="the weight that the largest conductance represents")
    max_steps_per_update: int = Field(default=_TRAINING["max_steps_per_update"].default, ge=1,
                                      description="level steps one device may move per in-situ update")
    stochastic_rounding: bool = _TRAINING["stochastic_rounding"].default

    @model_validator(mode="after")
    def _whole_architecture_valid(self) -> "Hardware":
        self.architecture()
        return self

    @classmethod
    def load(cls, source: Any = None) -> "Hardware":
        """A Hardware from itself, an Architecture, a YAML file (an architecture file, or its hardware fields
        alone), or a mapping; technology, device and components may be shipped names, paths or mappings (with a
        `base:`); what a file or mapping leaves out is the default (cmos180, wo2, table1_180nm, 128 x 128 tiles)."""
        if isinstance(source, Hardware):
            return source
        if isinstance(source, spec.Architecture):
            return cls.model_validate(source.model_dump(exclude=set(_NETWORK_FIELDS)))
        relative_to = None
        if source is None:
            data, where = dict(DEFAULT_HARDWARE), "default hardware"
        elif isinstance(source, (str, Path)):
            data, where, relative_to = read_yaml(source), str(source), Path(source).parent
        elif isinstance(source, dict):
            data, where = source, "hardware"
        else:
            raise UserError(f"hardware: expected a Hardware, an Architecture, a YAML path or a mapping, got "
                            f"{type(source).__name__}")
        if not isinstance(data, dict):
            raise UserError(f"{where}: expected a mapping at the top level")
        data = {**DEFAULT_HARDWARE, **{key: value for key, value in data.items() if key not in _NETWORK_FIELDS}}
        for kind in LIBRARY_KINDS:
            reference = data[kind]
            if isinstance(reference, (str, dict)):
                data[kind] = resolve_library(kind, reference, where, relative_to)
        return validate(cls, data, where)

    def architecture(self) -> spec.Architecture:
        """This hardware as an architecture (with placeholder networks), for hdl's planning and electrical model."""
        fields = self.model_dump(include={"technology", "device", "components", "tiles", "weight_encoding",
                                          "periphery"})
        return validate(spec.Architecture, {"schema_version": spec.SCHEMA_VERSION, "name": "analog", **fields,
                                            "generator": _PLACEHOLDER_NETWORK,
                                            "discriminator": _PLACEHOLDER_NETWORK}, "hardware")

    def device_model(self) -> DeviceModel:
        return DeviceModel(self.device, self.weight_max, self.max_steps_per_update, self.stochastic_rounding)

    def readout_of(self, layer_type: str, name: str | None = None) -> spec.Readout | None:
        return self.readout.get(name or "", self.readout.get(layer_type))

    def summing_gain_of(self, layer_type: str, name: str | None = None) -> float | None:
        return self.summing_gain.get(name or "", self.summing_gain.get(layer_type))


_default_hardware: Hardware | None = None


def _hardware(source: Any) -> Hardware:
    global _default_hardware
    if source is None:
        _default_hardware = _default_hardware or Hardware.load(None)
        return _default_hardware
    return Hardware.load(source)


def _seeded_generator() -> torch.Generator:
    """Device variability drawn from torch's global generator, so `torch.manual_seed` repeats it."""
    return torch.Generator().manual_seed(int(torch.randint(0, 2**62, ())))


# ---------------------------------------------------------------------------------------------------------------------
# The layers


class _AnalogLayer(CrossbarLayer):
    """A CrossbarLayer planned from one torch layer's shape; counts its in-situ updates."""

    float_type: type[nn.Module]

    def _build(self, reference: nn.Module, hardware: Any, input_bound: float, readout: Any, encoding: Any,
               generator: torch.Generator | None, name: str | None) -> None:
        hardware = _hardware(hardware)
        if weight_matrix(reference).shape[0] == 0:
            raise UserError(f"{type(self).__name__}: no inputs and no bias, so no crossbar rows")
        step = module_step(reference, name or self.float_type.__name__)
        if step.kind == "unsupported":
            raise UserError(f"{type(self).__name__}: {step.problem}")
        layer_type = step.kind
        fields = {"type": layer_type, **step.fields, "readout": readout or hardware.readout_of(layer_type, name),
                  "encoding": encoding, "summing_gain": hardware.summing_gain_of(layer_type, name)}
        try:
            layer = LAYER.validate_python(fields)
        except ValidationError as error:
            raise UserError(format_validation_error(type(self).__name__, error)) from None
        architecture = hardware.architecture()
        circuits = Circuits.of(architecture)
        plan = plan_layer(architecture, layer, self._plan_input(reference))
        CrossbarLayer.__init__(self, plan, hardware.device_model(), circuits, None, generator or _seeded_generator())
        self.hardware = hardware
        self.set_input_bound(input_bound)
        self.updates = 0
        self.programming = self.program(weight_matrix(reference).to(self.weight))

    @staticmethod
    def _plan_input(reference: nn.Module) -> tuple[int, ...]:
        """A nominal input shape: the plan's tiles need only the channels (positions only matter to estimates)."""
        if isinstance(reference, nn.Linear):
            return (reference.in_features,)
        if isinstance(reference, nn.ConvTranspose2d):
            return (reference.in_channels, 1, 1)
        return (reference.in_channels, reference.kernel_size[0], reference.kernel_size[0])

    def set_input_bound(self, input_bound: float) -> None:
        """Inputs within +-input_bound units: the row drivers' gain min(1, 1 / input_bound) (hdl's rule)."""
        if not input_bound > 0:
            raise UserError(f"{type(self).__name__}: input_bound must be positive, got {input_bound}")
        self.input_bound = float(input_bound)
        volts = self.input_bound * self.v_read
        self.driver = RowDriver(self.periphery.read_gain(volts), volts)
        self.read_gain, self.limits_inputs = self.driver.gain, True

    def _place(self, device, dtype) -> None:
        """On torch's `device`; cast only to a `dtype` other than the weights' (which casts every floating buffer,
        the float64 write-energy counters too)."""
        self.to(device=device)
        if dtype is not None and dtype != self.weight.dtype:
            self.to(dtype=dtype)

    @property
    def bias(self) -> torch.Tensor | None:
        """The bias row of the crossbar matrix (a view of `weight`), or None."""
        return self.weight[-1] if self.plan.bias else None

    @torch.no_grad()
    def commit_update(self) -> None:
        super().commit_update()
        self.updates += 1

    def to_float(self) -> nn.Module:
        """The torch layer with the weights the devices hold (nominal: no variability, no write noise)."""
        reference = self._float_reference()
        body = self.weight.detach()[: self.inputs]
        with torch.no_grad():
            reference.to(body).weight.copy_(self._torch_weight(body.t()))
            if self.plan.bias:
                reference.bias.copy_(self.weight.detach()[-1])
        return reference

    @classmethod
    def from_float(cls, module: nn.Module, hardware: Any = None, **options) -> "_AnalogLayer":
        """The analog twin of a (trained) torch layer: its devices programmed once with the layer's weights."""
        if type(module) is not cls.float_type:
            raise UserError(f"{cls.__name__}.from_float takes an nn.{cls.float_type.__name__}, got "
                            f"{type(module).__name__}")
        analog = cls(*cls._arguments(module), hardware=hardware, device=module.weight.device,
                     dtype=module.weight.dtype, **options)
        analog.programming = analog.program(weight_matrix(module).to(analog.weight))
        return analog

    def extra_repr(self) -> str:
        plan = self.plan
        return (f"{self._float_reference_repr()}, tiles={len(plan.tiles)}, encoding={plan.encoding.value}, "
                f"readout={plan.readout.value}, read_gain={self.read_gain:.4g}")


class AnalogLinear(_AnalogLayer):
    """nn.Linear as crossbar tiles (see the module's notes on signals and weights)."""

    float_type = nn.Linear

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None, *,
                 hardware: Any = None, input_bound: float = 1.0, readout: Any = None, encoding: Any = None,
                 generator: torch.Generator | None = None, name: str | None = None):
        nn.Module.__init__(self)
        self.in_features, self.out_features = in_features, out_features
        self._build(nn.Linear(in_features, out_features, bias), hardware, input_bound, readout, encoding, generator,
                    name)
        self._place(device, dtype)

    @staticmethod
    def _arguments(module: nn.Linear) -> tuple:
        return module.in_features, module.out_features, module.bias is not None

    def _float_reference(self) -> nn.Linear:
        return nn.Linear(self.in_features, self.out_features, self.plan.bias)

    def _float_reference_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.plan.bias}"

    @staticmethod
    def _torch_weight(body_t: torch.Tensor) -> torch.Tensor:
        return body_t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # a batch of vectors as it is: no view nodes to back through
            return super().forward(x)
        leading = x.shape[:-1]
        return super().forward(x.reshape(-1, self.in_features)).reshape(*leading, self.out_features)


class _AnalogConvolution(_AnalogLayer):
    def _remember(self, reference: nn.Module) -> None:
        for attribute in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                          "padding_mode", "output_padding"):
            setattr(self, attribute, getattr(reference, attribute))

    def _float_reference_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, bias={self.plan.bias}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:  # one unbatched image, as torch's convolutions accept
            return super().forward(x[None])[0]
        return super().forward(x)


class AnalogConv2d(_AnalogConvolution):
    """nn.Conv2d (square kernel, equal strides and paddings, no dilation or groups) as crossbar tiles."""

    float_type = nn.Conv2d

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None, *,
                 hardware: Any = None, input_bound: float = 1.0, readout: Any = None, encoding: Any = None,
                 generator: torch.Generator | None = None, name: str | None = None):
        nn.Module.__init__(self)
        reference = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                              padding_mode)
        self._remember(reference)
        self._build(reference, hardware, input_bound, readout, encoding, generator, name)
        self._place(device, dtype)

    @staticmethod
    def _arguments(module: nn.Conv2d) -> tuple:
        return (module.in_channels, module.out_channels, module.kernel_size, module.stride, module.padding,
                module.dilation, module.groups, module.bias is not None, module.padding_mode)

    def _float_reference(self) -> nn.Conv2d:
        return nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding,
                         bias=self.plan.bias)

    def _torch_weight(self, body_t: torch.Tensor) -> torch.Tensor:
        return body_t.reshape(self.out_channels, self.in_channels, *self.kernel_size)


class AnalogConvTranspose2d(_AnalogConvolution):
    """nn.ConvTranspose2d (square kernel, equal strides and paddings, no dilation or groups) as crossbar tiles,
    mapped as the equivalent convolution over the zero-inserted input."""

    float_type = nn.ConvTranspose2d

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None, *, hardware: Any = None, input_bound: float = 1.0, readout: Any = None,
                 encoding: Any = None, generator: torch.Generator | None = None, name: str | None = None):
        nn.Module.__init__(self)
        reference = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, output_padding,
                                       groups, bias, dilation, padding_mode)
        self._remember(reference)
        self._build(reference, hardware, input_bound, readout, encoding, generator, name)
        self._place(device, dtype)

    @staticmethod
    def _arguments(module: nn.ConvTranspose2d) -> tuple:
        return (module.in_channels, module.out_channels, module.kernel_size, module.stride, module.padding,
                module.output_padding, module.groups, module.bias is not None, module.dilation, module.padding_mode)

    def _float_reference(self) -> nn.ConvTranspose2d:
        return nn.ConvTranspose2d(self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding,
                                  self.output_padding, bias=self.plan.bias)

    def _torch_weight(self, body_t: torch.Tensor) -> torch.Tensor:
        kernel = body_t.reshape(self.out_channels, self.in_channels, *self.kernel_size)
        return kernel.transpose(0, 1).flip(-1, -2)


# ---------------------------------------------------------------------------------------------------------------------
# The periphery's circuits between crossbars


class AnalogActivation(CircuitActivation):
    """An activation circuit's transfer (hdl's behavioural model: ReLU clips at V_dd, tanh is A tanh(V / A) with A
    `periphery.tanh_amplitude_v`, default V_dd), its output held within the supply rails; signals in units of V_r."""

    def __init__(self, function: str, periphery: Circuits, rails: tuple[float, float]):
        super().__init__(function, periphery)
        self.rails = rails
        reach = periphery.activation_bound(function, math.inf) / periphery.v_read  # ReLU and tanh stay within it
        self.within_rails = -reach >= rails[0] and reach <= rails[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        return out if self.within_rails else out.clamp(*self.rails)

    def extra_repr(self) -> str:
        return f"{self.function}, rails={self.rails}"


class _RailBatchNorm:
    """Batch norm whose circuit's output stays within the supply rails (units of V_r)."""

    rails: tuple[float, float]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).clamp(*self.rails)

    @classmethod
    def from_float(cls, module: nn.Module, rails: tuple[float, float]) -> nn.Module:
        analog = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        analog.load_state_dict(module.state_dict())
        analog.rails = rails
        reference = next(iter(module.buffers()), None) if module.weight is None else module.weight
        return analog.to(reference) if reference is not None else analog


class AnalogBatchNorm1d(_RailBatchNorm, nn.BatchNorm1d):
    pass


class AnalogBatchNorm2d(_RailBatchNorm, nn.BatchNorm2d):
    pass


# ---------------------------------------------------------------------------------------------------------------------
# Converting a model


@dataclass
class ConversionReport:
    """What `convert` did, by module name: crossbars, periphery circuits, what stays digital, the read gains."""

    analog: dict[str, str] = field(default_factory=dict)  # name -> dense | conv2d | deconv2d
    circuits: dict[str, str] = field(default_factory=dict)  # name -> activation / batch norm / dropout switch
    digital: dict[str, str] = field(default_factory=dict)  # name -> why it has no circuit
    read_gains: dict[str, float] = field(default_factory=dict)
    bounds_traced: bool = False
    output_bound: float | None = None  # units of V_r; traced models only (a Discriminator fed by this model: its bound)
    note: str = ""  # why the bounds were not traced

    def __str__(self) -> str:
        lines = [f"{len(self.analog)} crossbar layer(s), {len(self.circuits)} periphery circuit(s), "
                 f"{len(self.digital)} digital module(s)"]
        lines += [f"  analog  {name}: {kind}, read gain {self.read_gains[name]:.4g}"
                  for name, kind in self.analog.items()]
        lines += [f"  circuit {name}: {kind}" for name, kind in self.circuits.items()]
        lines += [f"  digital {name}: {why}" for name, why in self.digital.items()]
        if not self.bounds_traced:
            lines.append(f"  read gains from input_bound, not traced: {self.note}")
        return "\n".join(lines)


ANALOG_TYPES: dict[type[nn.Module], type[_AnalogLayer]] = {
    nn.Linear: AnalogLinear, nn.Conv2d: AnalogConv2d, nn.ConvTranspose2d: AnalogConvTranspose2d}
# Modules that compute nothing the circuit does differently (wiring, the averager's exact mean) or already are
# the circuit's.
EXACT_TYPES = (nn.Flatten, nn.Unflatten, nn.Identity, nn.AvgPool2d, View, SwitchDropout, AnalogActivation,
               _RailBatchNorm, CrossbarLayer)


def convert(model: nn.Module, hardware: Any = None, *, input_shape: tuple[int, ...] | None = None,
            input_bound: float = 1.0, generator: torch.Generator | None = None,
            inplace: bool = False) -> tuple[nn.Module, ConversionReport]:
    """The analog twin of a model, and what was converted.

    nn.Linear, nn.Conv2d and nn.ConvTranspose2d become crossbar layers (their weights programmed once into the
    devices); nn.ReLU and nn.Tanh modules become their circuits (functional calls such as F.relu stay torch's);
    batch norm keeps its arithmetic with the output held within the rails; nn.Dropout becomes the dropout switches
    (no rescaling). Whatever else computes stays digital and is listed. The model's input, in units of V_r, is taken
    to stay within +-input_bound; each layer's read gain follows the bounds through the model when torch.fx traces it
    (input_shape per sample, else the model's `input_shape` attribute or a first nn.Linear's in_features).
    Device variability is drawn from `generator` layer by layer in module order (default: from torch's seed)."""
    hardware = _hardware(hardware)
    architecture = hardware.architecture()
    circuits, rails = Circuits.of(architecture), supply_clip(architecture, True)
    model = model if inplace else copy.deepcopy(model)
    generator = generator or _seeded_generator()
    report = ConversionReport()
    crossbars: list[str] = []  # modules already crossbars: their device arrays are no digital layers
    try:  # the torch model's chain of stages, traced before its layers become crossbars
        steps, _ = fx_steps(model, input_shape or getattr(model, "input_shape", None), "model")
    except UserError as error:
        steps, report.note = None, str(error)
    for name, module in list(model.named_modules()):
        if any(name.startswith(f"{outer}.") for outer in crossbars):
            continue
        if isinstance(module, CrossbarLayer):
            crossbars.append(name)
        replacement = _replacement(name, module, hardware, circuits, rails, input_bound, generator, report)
        if replacement is not None:
            _set_module(model, name, replacement)
    if steps is not None:
        _follow_bounds(model, steps, circuits, input_bound, report)
    return model, report


def _replacement(name: str, module: nn.Module, hardware: Hardware, circuits: Circuits, rails: tuple[float, float],
                 input_bound: float, generator: torch.Generator, report: ConversionReport) -> nn.Module | None:
    label = name or "model"
    if type(module) in ANALOG_TYPES:
        step = module_step(module, label)
        if step.kind == "unsupported":
            report.digital[label] = step.problem
            return None
        analog = ANALOG_TYPES[type(module)].from_float(module, hardware, input_bound=input_bound,
                                                       generator=generator, name=name)
        report.analog[label], report.read_gains[label] = step.kind, analog.read_gain
        return analog
    if isinstance(module, (nn.ReLU, nn.Tanh)):
        function = "relu" if isinstance(module, nn.ReLU) else "tanh"
        report.circuits[label] = f"activation {function}"
        return AnalogActivation(function, circuits, rails)
    if type(module) in (nn.BatchNorm1d, nn.BatchNorm2d):
        report.circuits[label] = "batch norm"
        kind = AnalogBatchNorm1d if isinstance(module, nn.BatchNorm1d) else AnalogBatchNorm2d
        return kind.from_float(module, rails)
    if type(module) is nn.Dropout:
        report.circuits[label] = f"dropout switches, rate {module.p}"
        return SwitchDropout(module.p)
    computes = not list(module.children()) or list(module.parameters(recurse=False))
    if computes and not isinstance(module, EXACT_TYPES):
        report.digital[label] = f"{type(module).__name__} has no circuit"
    return None


def _set_module(model: nn.Module, name: str, replacement: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    parent._modules[child] = replacement


def _follow_bounds(model: nn.Module, steps: list, circuits: Circuits, input_bound: float,
                   report: ConversionReport) -> None:
    """Each crossbar's input bound from the stages before it, as `hdl.electrical.row_drivers` follows a network,
    and the model's output bound; stages that stay digital are taken to keep the bound."""
    modules = dict(model.named_modules())
    bound = input_bound * circuits.v_read
    for step in steps:
        layer = modules.get(step.label)
        if isinstance(layer, _AnalogLayer):
            layer.set_input_bound(bound / circuits.v_read)
            report.read_gains[step.label] = layer.read_gain
            bound = stage_bound(circuits, None, bound, layer.plan)
        elif step.kind in ("activation", "batch_norm"):
            bound = stage_bound(circuits, LAYER.validate_python({"type": step.kind, **step.fields}), bound)
    report.output_bound = bound / circuits.v_read
    report.bounds_traced = True


# ---------------------------------------------------------------------------------------------------------------------
# In-situ training


def analog_layers(model: nn.Module) -> dict[str, CrossbarLayer]:
    """Every crossbar layer of a model, by module name."""
    return {name or "model": module for name, module in model.named_modules() if isinstance(module, CrossbarLayer)}


@torch.no_grad()
def commit_updates(model: nn.Module) -> None:
    """In-situ: write the weights the optimiser proposed to every crossbar's devices as counted pulses; each layer's
    `weight` becomes what its devices now hold. Call after every optimiser step."""
    for layer in analog_layers(model).values():
        layer.commit_update()


class AnalogOptimizer:
    """A torch optimiser whose every step is written to the devices of the crossbars it updates (in-situ training).

    Everything else (zero_grad, param_groups, state_dict, ...) is the wrapped optimiser's; give learning-rate
    schedulers `.optimizer`."""

    def __init__(self, optimizer: torch.optim.Optimizer, model: nn.Module):
        self.optimizer = optimizer
        updated = {id(parameter) for group in optimizer.param_groups for parameter in group["params"]}
        self.layers = [layer for layer in analog_layers(model).values() if id(layer.weight) in updated]

    def step(self, closure: Callable[[], float] | None = None):
        loss = self.optimizer.step(closure)
        with torch.no_grad():
            for layer in self.layers:
                layer.commit_update()
        return loss

    def __getattr__(self, name: str):
        if name == "optimizer":  # not set yet (copying, unpickling): nothing to delegate to
            raise AttributeError(name)
        return getattr(self.optimizer, name)


def write_statistics(model: nn.Module) -> dict:
    """The in-situ write pulses per crossbar layer and merged, as `amdcgan train` reports them per network
    (`networks.model`), with the summary `amdcgan estimate --run-stats` reads (`run_statistics`) and the one-time
    programming pulses by layer."""
    layers = analog_layers(model)
    rounds = max((getattr(layer, "updates", 0) for layer in layers.values()), default=0)
    stats: dict = {"update_rounds": rounds, "networks": {"model": crossbar_statistics(layers)}}
    models = {layer.devices.model for layer in layers.values()}
    if len(models) == 1:
        stats["device"] = next(iter(models)).describe()
    stats["programming"] = {name: layer.programming for name, layer in layers.items()
                            if getattr(layer, "programming", None)}
    stats["run_statistics"] = run_statistics(stats)
    return stats
