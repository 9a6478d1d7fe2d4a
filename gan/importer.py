"""Architecture files from PyTorch models: a module path, a TorchScript file or an ONNX file becomes layer lists.

Three readers turn a model into steps (`Step`: a layer of the architecture file, a reshape, or something with no
circuit); one assembler turns steps into a network: it tracks the tensor shape with hdl's own shape rules, drops what
costs nothing in hardware (reshapes before a dense layer, which flattens its input anyway; reshapes that change
nothing; identities before the first crossbar) and checks every layer against the architecture file's model.
Whatever has no circuit (max pooling, leaky ReLU, sigmoid, attention, branches) is named, all at once; with
`skip_unsupported` it is listed and left out instead.

A module path is imported and called (it is the user's own code, as `python -c` would run it); a TorchScript file is
loaded with `torch.jit.load` (TorchScript's restricted loader, no Python unpickling); an ONNX file is a protobuf.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import math
import operator
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import yaml
from pydantic import TypeAdapter, ValidationError
from torch import nn

from amdcgan.errors import UserError
from amdcgan.fileio import write_text_atomic
from amdcgan.hdl.loader import build_architecture, format_validation_error, read_yaml
from amdcgan.hdl.shapes import ShapeError, network_shapes, output_shape
from amdcgan.hdl.spec import NAME_PATTERN, SPICE_RESERVED, WEIGHTED_TYPES, Layer, Network

from .layers import SwitchDropout, View

Shape = tuple[int, ...]
# A reshape's target: the per-sample shape (-1 allowed once), or a function of the current per-sample shape.
Target = list[int] | Callable[[Shape], Shape]
LAYER = TypeAdapter(Layer)
WEIGHTED = ("dense", "conv2d", "deconv2d")
SCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript", ".jit")
DEFAULT_HARDWARE = {"technology": "cmos180", "device": "wo2", "components": "table1_180nm",
                    "tiles": {"max_rows": 128, "max_columns": 128}}


@dataclass
class Step:
    """One thing a model does to its activations, as the assembler needs it."""

    # a layer type of the architecture file, "reshape", "identity" (nn.Identity: a linear activation once a crossbar
    # came before it), "pass" (computes nothing: dropped), or "unsupported"
    kind: str
    label: str  # where in the model (module path or graph node), for messages and layer names
    fields: dict = field(default_factory=dict)
    target: Target | None = None  # reshape only
    problem: str = ""  # unsupported only: why


@dataclass
class ImportedNetwork:
    input_shape: list[int]
    layers: list[dict]
    output_shape: list[int]
    left_out: list[str]

    def network(self) -> dict:
        return {"input_shape": self.input_shape, "layers": self.layers}


# ---------------------------------------------------------------------------------------------------------------------
# Convolution and pooling parameters: square, symmetric, plain, or named as the reason there is no crossbar


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    values = tuple(int(v) for v in value)
    return (values[0], values[0]) if len(values) == 1 else values[:2]


def _same(what: str, value: Any, problems: list[str]) -> int:
    first, second = _pair(value)
    if first != second:
        problems.append(f"{what} {first}x{second} differs between height and width; a crossbar takes one size")
    return first


def convolution_fields(kind: str, out_channels: int, kernel: Any, stride: Any, padding: Any,
                       dilation: Any, groups: int, bias: bool, output_padding: Any = 0) -> tuple[dict, list[str]]:
    problems: list[str] = []
    size = _same("kernel", kernel, problems)
    if isinstance(padding, str):  # nn.Conv2d's 'valid' and 'same'
        if padding == "valid":
            padding = 0
        elif (size - 1) % 2 == 0 and _pair(stride) == (1, 1):
            padding = (size - 1) // 2
        else:
            problems.append("padding 'same' with an even kernel or a stride is asymmetric")
            padding = 0
    fields = {"filters": int(out_channels), "kernel": size, "stride": _same("stride", stride, problems),
              "padding": _same("padding", padding, problems)}
    if kind == "deconv2d":
        fields["output_padding"] = _same("output_padding", output_padding, problems)
    if _pair(dilation) != (1, 1):
        problems.append(f"dilation {list(_pair(dilation))} has no crossbar mapping (only dilation 1)")
    if groups != 1:
        problems.append(f"groups={groups} has no crossbar mapping (only groups=1)")
    fields["bias"] = bool(bias)
    return fields, problems


def pool_fields(kernel: Any, stride: Any, padding: Any, ceil_mode: bool,
                divisor_override: Any = None) -> tuple[dict, list[str]]:
    problems: list[str] = []
    size = _same("pool window", kernel, problems)
    if stride is not None and not (isinstance(stride, (list, tuple)) and not stride) and _pair(stride) != (size, size):
        problems.append(f"pool stride {list(_pair(stride))} differs from its window {size}: the averager "
                        f"pools non-overlapping windows")
    if _pair(padding) != (0, 0):
        problems.append(f"pool padding {list(_pair(padding))} has no averager mapping")
    if ceil_mode:
        problems.append("ceil_mode pools partial windows; the averager does not")
    if divisor_override is not None:
        problems.append(f"divisor_override={divisor_override} is not a mean")
    return {"size": size}, problems


def _unsupported(label: str, problem: str) -> Step:
    return Step("unsupported", label, problem=problem)


def _checked(kind: str, label: str, fields: dict, problems: list[str]) -> Step:
    return _unsupported(label, "; ".join(problems)) if problems else Step(kind, label, fields)


# ---------------------------------------------------------------------------------------------------------------------
# torch.fx: modules and Python code


def module_step(module: nn.Module, label: str) -> Step | None:
    """The step of a leaf module; None when it has no circuit."""
    if isinstance(module, nn.Linear):
        return Step("dense", label, {"units": module.out_features, "bias": module.bias is not None})
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        kind = "deconv2d" if isinstance(module, nn.ConvTranspose2d) else "conv2d"
        fields, problems = convolution_fields(
            kind, module.out_channels, module.kernel_size, module.stride, module.padding, module.dilation,
            module.groups, module.bias is not None, getattr(module, "output_padding", 0))
        if module.padding_mode != "zeros":
            problems.append(f"padding_mode {module.padding_mode!r} has no crossbar mapping (only zeros)")
        return _checked(kind, label, fields, problems)
    if isinstance(module, nn.AvgPool2d):
        fields, problems = pool_fields(module.kernel_size, module.stride, module.padding, module.ceil_mode,
                                       module.divisor_override)
        return _checked("mean_pool", label, fields, problems)
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return Step("batch_norm", label)
    if isinstance(module, (nn.ReLU, nn.Tanh)):
        return Step("activation", label, {"function": "relu" if isinstance(module, nn.ReLU) else "tanh"})
    if isinstance(module, nn.Identity):
        return Step("identity", label)
    if type(module) is nn.Dropout:  # Dropout2d and friends drop whole channels, which the switches do not
        return Step("dropout", label, {"rate": module.p})
    if isinstance(module, SwitchDropout):
        return Step("dropout", label, {"rate": module.rate})
    return None


FUNCTION_STEPS = {
    torch.relu: ("activation", {"function": "relu"}),
    nn.functional.relu: ("activation", {"function": "relu"}),
    torch.tanh: ("activation", {"function": "tanh"}),
    nn.functional.tanh: ("activation", {"function": "tanh"}),
}
METHOD_STEPS = {"relu": ("activation", {"function": "relu"}), "tanh": ("activation", {"function": "tanh"})}
RESHAPING_FUNCTIONS = {torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze}
RESHAPING_METHODS = {"view", "reshape", "flatten", "squeeze", "unsqueeze"}
PASS_THROUGH_METHODS = {"contiguous", "clone", "detach"}
RESHAPING_MODULES = (nn.Flatten, nn.Unflatten, View)
OFF_CHAIN = ("combines tensors other than the previous layer's output (a branch, a residual connection or a parameter "
             "used in code); a layer list is a chain")


class _Tracer(torch.fx.Tracer):
    """torch.nn modules and amdcgan's own switch dropout and reshape are leaves; everything else is traced into."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return isinstance(module, (SwitchDropout, View)) or super().is_leaf_module(module, qualified_name)


def _callable_name(target: Any) -> str:
    return getattr(target, "__name__", None) or str(target)


def fx_steps(model: nn.Module, input_shape: Shape | None, source: str) -> tuple[list[Step], Shape]:
    """The steps of an nn.Module, traced with torch.fx and run once on a zero batch to learn every shape; the
    input shape, when not given, is [in_features] of a first dense layer."""
    try:
        graph = _Tracer().trace(model)
    except Exception as error:  # fx names what it cannot trace (data-dependent control flow and the like)
        raise UserError(f"{source}: torch.fx cannot trace this model: {type(error).__name__}: {error}") from None
    traced = torch.fx.GraphModule(model, graph)
    modules = dict(traced.named_modules())
    if input_shape is None:
        input_shape = _first_dense_input(graph, modules)
    if input_shape is None:
        raise UserError(f"{source}: cannot tell the input shape of {type(model).__name__} (its first layer is not "
                        f"nn.Linear); give it (--generator-input / --discriminator-input C,H,W) or set the model's "
                        f"input_shape attribute")
    was_training = model.training
    model.eval()
    try:
        # ShapeProp prints the model's traceback itself; the message below names the error once
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            torch.fx.passes.shape_prop.ShapeProp(traced).propagate(torch.zeros(2, *input_shape))
    except Exception as error:
        while error.__cause__ is not None:  # shape propagation wraps the model's own error with a traceback
            error = error.__cause__
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise UserError(f"{source}: running the model on a batch of shape {[2, *input_shape]} failed: "
                        f"{type(error).__name__}: {message}") from None
    finally:
        model.train(was_training)
    return _chain_steps(graph, modules, source), tuple(input_shape)


def _chain_steps(graph: torch.fx.Graph, modules: dict[str, nn.Module], source: str) -> list[Step]:
    """The steps along the chain from the input to the output; whatever leaves the chain is a step with no circuit."""
    steps: list[Step] = []
    current: torch.fx.Node | None = None
    for node in graph.nodes:
        if node.op == "get_attr" or not node.users and node.op != "output":
            continue  # parameters used in code (their consumer is refused below); results nothing uses
        if node.op == "placeholder":
            if current is not None:
                raise UserError(f"{source}: the model takes several inputs; only one input tensor maps to a network")
            current = node
            continue
        tensors = [arg for arg in node.all_input_nodes if "tensor_meta" in arg.meta and arg.op != "get_attr"]
        if node.op == "output":
            if tensors != [current] or not isinstance(node.args[0], torch.fx.Node):
                raise UserError(f"{source}: the model must return one tensor, the output of its last layer")
            break
        meta = node.meta.get("tensor_meta")
        if meta is None:
            continue  # sizes and attributes feeding reshapes
        label = str(node.target) if node.op == "call_module" else node.name
        if not hasattr(meta, "shape"):  # several tensors (attention's output and weights, a split)
            steps.append(_fx_step(node, modules, label, ()) if tensors == [current] else _unsupported(label, OFF_CHAIN))
            current = node
            continue
        shape = tuple(meta.shape)
        if node.op == "call_function" and node.target is operator.getitem and tensors == [current]:
            current = node  # one tensor picked from the previous operation's several; that operation was named
            continue
        if tensors != [current] or any(arg.op == "get_attr" for arg in node.all_input_nodes):
            steps.append(_unsupported(label, OFF_CHAIN))
            current = node
            continue
        if shape[:1] != (2,):
            raise UserError(f"{source}: {label} mixes the batch dimension into a layer (output {list(shape)} for a "
                            f"batch of 2)")
        steps.append(_fx_step(node, modules, label, shape[1:]))
        current = node
    return steps


def _fx_step(node: torch.fx.Node, modules: dict[str, nn.Module], label: str, shape: Shape) -> Step:
    reshape = Step("reshape", label, target=list(shape) or [1])
    if node.op == "call_module":
        module = modules[node.target]
        if isinstance(module, RESHAPING_MODULES):
            return reshape
        step = module_step(module, label)
        return step or _unsupported(label, f"{type(module).__name__} has no circuit")
    if node.op == "call_function":
        if node.target in FUNCTION_STEPS:
            kind, fields = FUNCTION_STEPS[node.target]
            return Step(kind, label, dict(fields))
        if node.target in RESHAPING_FUNCTIONS:
            return reshape
        if node.target is nn.functional.dropout:
            rate = node.kwargs.get("p", node.args[1] if len(node.args) > 1 else 0.5)
            return Step("dropout", label, {"rate": rate})
        return _unsupported(label, f"function {_callable_name(node.target)} has no circuit")
    if node.op == "call_method":
        if node.target in METHOD_STEPS:
            kind, fields = METHOD_STEPS[node.target]
            return Step(kind, label, dict(fields))
        if node.target in RESHAPING_METHODS:
            return reshape
        if node.target in PASS_THROUGH_METHODS:
            return Step("pass", label)
        return _unsupported(label, f"tensor method .{node.target}() has no circuit")
    return _unsupported(label, f"{node.op} {node.target} has no circuit")


def _first_dense_input(graph: torch.fx.Graph, modules: dict[str, nn.Module]) -> Shape | None:
    """[in_features] when the first weighted module the model calls is nn.Linear, else None (a convolution's image
    size cannot be read from its weights)."""
    for node in graph.nodes:
        module = modules.get(node.target) if node.op == "call_module" else None
        if isinstance(module, nn.Linear):
            return (module.in_features,)
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            return None
    return None


# ---------------------------------------------------------------------------------------------------------------------
# TorchScript: the frozen graph's aten operators


def _constant(value: torch._C.Value) -> Any:
    node = value.node()
    if node.kind() == "prim::Constant":
        return value.toIValue()
    raise ValueError(f"{value.debugName()} is computed at run time")


def _script_target(value: torch._C.Value) -> Target:
    """An int[] argument of view/reshape: constants, and aten::size(x, 0) as the batch dimension."""
    node = value.node()
    if node.kind() == "prim::Constant":
        items: list[Any] = list(value.toIValue())
    elif node.kind() == "prim::ListConstruct":
        items = []
        for item in node.inputs():
            producer = item.node()
            if producer.kind() == "aten::size" and _constant(list(producer.inputs())[1]) == 0:
                items.append("batch")
            else:
                items.append(_constant(item))
    else:
        raise ValueError("the shape is computed at run time")
    return [-1 if item == "batch" else int(item) for item in items[1:]] or [1]


def _module_label(value: torch._C.Value, fallback: str) -> str:
    name = value.debugName()  # frozen parameters are named self.<module path>.weight
    return name.removeprefix("self.").rsplit(".", 1)[0] if name.startswith("self.") else fallback


def _flatten_target(start: int, end: int) -> Callable[[Shape], Shape]:
    def target(shape: Shape) -> Shape:
        dims = len(shape) + 1  # with the batch dimension
        first, last = start % dims, end % dims
        if first == 0:
            raise ValueError("flattening the batch dimension")
        return shape[: first - 1] + (math.prod(shape[first - 1: last]),) + shape[last:]
    return target


def _squeeze_target(dim: int | None, add: bool) -> Callable[[Shape], Shape]:
    def target(shape: Shape) -> Shape:
        if add:
            position = dim % (len(shape) + 2)
            return shape[: position - 1] + (1,) + shape[position - 1:]
        if dim is None:
            return tuple(size for size in shape if size != 1) or (1,)
        position = dim % (len(shape) + 1)
        squeezed = shape[: position - 1] + shape[position:] if shape[position - 1] == 1 else shape
        return squeezed or (1,)
    return target


SCRIPT_ACTIVATIONS = {"aten::relu": "relu", "aten::relu_": "relu", "aten::tanh": "tanh", "aten::tanh_": "tanh"}
SCRIPT_PASS_THROUGH = {"aten::contiguous", "aten::clone", "aten::detach", "aten::feature_dropout"}


def script_steps(path: Path) -> tuple[list[Step], Shape | None]:
    """The steps of a TorchScript file (scripted or traced), read from its frozen, inlined forward graph."""
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as error:
        raise UserError(f"{path}: not a TorchScript archive ({type(error).__name__}: {str(error).splitlines()[0]}); "
                        f"amdcgan never unpickles files: save the model with torch.jit.save, or give its module "
                        f"path (package.module:Class)") from None
    return script_module_steps(module, str(path))


def script_module_steps(module: torch.jit.ScriptModule, source: str) -> tuple[list[Step], Shape | None]:
    module.eval()
    graph = torch._C._freeze_module(module._c)._get_method("forward").graph
    torch._C._jit_pass_inline(graph)
    torch._C._jit_pass_constant_propagation(graph)
    torch._C._jit_pass_dce(graph)
    inputs = list(graph.inputs())[1:]
    if len(inputs) != 1:
        raise UserError(f"{source}: the model takes {len(inputs)} inputs; only one input tensor maps to a network")
    current, steps, first_dense = inputs[0], [], None
    for index, node in enumerate(graph.nodes()):
        kind = node.kind()
        if kind == "prim::Constant" or not any(isinstance(out.type(), torch._C.TensorType) for out in node.outputs()):
            continue  # constants, sizes, shape lists and input checks (which raise or do nothing)
        args = list(node.inputs())
        label = f"{kind.split('::')[-1]}{index}"
        if not args or args[0] is not current:
            steps.append(_unsupported(label, f"{kind} does not take the previous layer's output; a layer list is a "
                                             f"chain"))
            current = node.output() if node.outputsSize() == 1 else current
            continue
        try:
            step = _script_step(kind, args, label)
        except ValueError as error:
            step = _unsupported(label, f"{kind}: {error}")
        if step.kind == "dense" and first_dense is None and not any(s.kind in WEIGHTED for s in steps):
            first_dense = (int(_constant(args[1]).shape[1]),)
        steps.append(step)
        current = node.output()
    returned = list(graph.return_node().inputs())
    if returned != [current]:
        raise UserError(f"{source}: the model must return one tensor, the output of its last layer")
    return steps, first_dense


def _script_step(kind: str, args: list, label: str) -> Step:
    if kind in SCRIPT_ACTIVATIONS:
        return Step("activation", label, {"function": SCRIPT_ACTIVATIONS[kind]})
    if kind in SCRIPT_PASS_THROUGH:
        return Step("pass", label)
    if kind == "aten::linear":
        weight = _constant(args[1])
        return Step("dense", _module_label(args[1], label),
                    {"units": int(weight.shape[0]), "bias": _constant(args[2]) is not None})
    if kind in ("aten::conv2d", "aten::conv_transpose2d", "aten::_convolution"):
        weight, bias = _constant(args[1]), _constant(args[2])
        label = _module_label(args[1], label)
        values = [_constant(arg) for arg in args[3:]]
        if kind == "aten::conv2d":
            (stride, padding, dilation, groups), transposed, output_padding = values[:4], False, 0
        elif kind == "aten::conv_transpose2d":
            stride, padding, output_padding, groups, dilation = values[:5]
            transposed = True
        else:
            stride, padding, dilation, transposed, output_padding, groups = values[:6]
        if weight.dim() != 4:
            return _unsupported(label, f"a {weight.dim() - 2}-d convolution has no crossbar mapping (only 2-d)")
        out_channels = weight.shape[1] * groups if transposed else weight.shape[0]
        layer_kind = "deconv2d" if transposed else "conv2d"
        fields, problems = convolution_fields(layer_kind, out_channels, tuple(weight.shape[2:]), stride,
                                              padding, dilation, groups, bias is not None, output_padding)
        return _checked(layer_kind, label, fields, problems)
    if kind == "aten::avg_pool2d":
        kernel, stride, padding, ceil_mode, _, divisor = [_constant(arg) for arg in args[1:7]]
        fields, problems = pool_fields(kernel, stride or None, padding, ceil_mode, divisor)
        return _checked("mean_pool", label, fields, problems)
    if kind == "aten::batch_norm":
        return Step("batch_norm", label)
    if kind in ("aten::dropout", "aten::dropout_"):
        return Step("dropout", label, {"rate": float(_constant(args[1]))})
    if kind in ("aten::view", "aten::reshape"):
        return Step("reshape", label, target=_script_target(args[1]))
    if kind == "aten::flatten":
        return Step("reshape", label, target=_flatten_target(_constant(args[1]), _constant(args[2])))
    if kind in ("aten::squeeze", "aten::unsqueeze"):
        dim = _constant(args[1]) if len(args) > 1 else None
        return Step("reshape", label, target=_squeeze_target(dim, kind == "aten::unsqueeze"))
    return _unsupported(label, f"{kind} has no circuit")


# ---------------------------------------------------------------------------------------------------------------------
# ONNX (optional dependency)

ONNX_ACTIVATIONS = {"Relu": "relu", "Tanh": "tanh"}


def onnx_steps(path: Path) -> tuple[list[Step], Shape | None]:
    """The steps of an ONNX file, read node by node; the input shape comes from the graph's declared input."""
    try:
        import onnx
        from onnx import numpy_helper
    except ModuleNotFoundError:
        raise UserError(f"{path}: reading ONNX needs the onnx package: pip install 'amdcgan[onnx]'") from None
    try:
        model = onnx.load(str(path))
    except Exception as error:
        raise UserError(f"{path}: not a readable ONNX file ({type(error).__name__}: {error})") from None
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        elif node.op_type == "Identity" and node.input[0] in constants:  # exporters alias shared weights so
            constants[node.output[0]] = constants[node.input[0]]
    inputs = [value for value in graph.input if value.name not in constants]
    if len(inputs) != 1:
        raise UserError(f"{path}: the graph takes {len(inputs)} inputs; only one input tensor maps to a network")
    dims = inputs[0].type.tensor_type.shape.dim
    declared = tuple(dim.dim_value for dim in dims[1:])
    input_shape = declared if declared and all(size > 0 for size in declared) else None
    current, steps = inputs[0].name, []
    nodes = [node for node in graph.node if node.output[0] not in constants]
    skip_next = False
    for index, node in enumerate(nodes):
        if skip_next:
            skip_next = False
            continue
        label = node.name or f"{node.op_type}{index}"
        attributes = {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in node.attribute}
        if not node.input or node.input[0] != current or any(name not in constants for name in node.input[1:] if name):
            steps.append(_unsupported(label, f"{node.op_type} does not take the previous layer's output alone; a "
                                             f"layer list is a chain"))
        else:
            step, skip_next = _onnx_step(node, attributes, constants, label, nodes[index + 1: index + 2])
            steps.append(step)
            if skip_next:
                node = nodes[index + 1]
        current = node.output[0]
    if [output.name for output in graph.output] != [current]:
        raise UserError(f"{path}: the graph must return one tensor, the output of its last node")
    return steps, input_shape


def _onnx_step(node, attributes: dict, constants: dict, label: str, following: list) -> tuple[Step, bool]:
    """The step of one node, and whether it took the next node too (the Add of a MatMul's bias)."""
    op = node.op_type
    if op in ONNX_ACTIVATIONS:
        return Step("activation", label, {"function": ONNX_ACTIVATIONS[op]}), False
    if op == "Identity":  # exporters insert these anywhere; they compute nothing
        return Step("pass", label), False
    if op == "Shape":
        return _unsupported(label, "the graph computes a shape at run time; export with constant shapes "
                                   "(a fixed batch size and constant folding)"), False
    if op == "Gemm":
        weight = constants[node.input[1]]
        if attributes.get("transA", 0):
            return _unsupported(label, "Gemm with transA has no crossbar mapping"), False
        units = weight.shape[0] if attributes.get("transB", 0) else weight.shape[1]
        return Step("dense", label, {"units": int(units), "bias": len(node.input) > 2 and bool(node.input[2])}), False
    if op == "MatMul":  # torch exports bias-free linear layers as MatMul, and some as MatMul + Add
        weight = constants[node.input[1]]
        if weight.ndim != 2:
            return _unsupported(label, "MatMul with a weight of more than two dimensions"), False
        add = following[0] if following else None
        bias = (add is not None and add.op_type == "Add" and add.input[0] == node.output[0]
                and add.input[1] in constants)
        return Step("dense", label, {"units": int(weight.shape[1]), "bias": bias}), bias
    if op in ("Conv", "ConvTranspose"):
        weight = constants[node.input[1]]
        if weight.ndim != 4:
            return _unsupported(label, f"a {weight.ndim - 2}-d convolution has no crossbar mapping (only 2-d)"), False
        groups = attributes.get("group", 1)
        kind = "deconv2d" if op == "ConvTranspose" else "conv2d"
        pads = list(attributes.get("pads", [0, 0, 0, 0]))
        problems = [] if pads[:2] == pads[2:] else [f"pads {pads} are not symmetric"]
        if attributes.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            problems.append(f"auto_pad has no crossbar mapping; export with explicit pads")
        if kind == "deconv2d" and "output_shape" in attributes:
            problems.append(f"output_shape has no mapping; export with output_padding")
        out_channels = weight.shape[1] * groups if kind == "deconv2d" else weight.shape[0]
        fields, more = convolution_fields(kind, out_channels, tuple(weight.shape[2:]),
                                          attributes.get("strides", [1, 1]), pads[:2], attributes.get("dilations",
                                                                                                      [1, 1]),
                                          groups, len(node.input) > 2 and bool(node.input[2]),
                                          attributes.get("output_padding", [0, 0]))
        return _checked(kind, label, fields, problems + more), False
    if op == "AveragePool":
        pads = list(attributes.get("pads", [0, 0, 0, 0]))
        fields, problems = pool_fields(attributes["kernel_shape"], attributes.get("strides", [1, 1]),
                                       pads[:2], attributes.get("ceil_mode", 0))
        if pads[:2] != pads[2:]:
            problems.append(f"pads {pads} are not symmetric")
        return _checked("mean_pool", label, fields, problems), False
    if op == "BatchNormalization":
        return Step("batch_norm", label), False
    if op == "Dropout":
        ratio = constants.get(node.input[1]) if len(node.input) > 1 and node.input[1] else attributes.get("ratio", 0.5)
        return Step("dropout", label, {"rate": float(ratio)}), False
    if op == "Flatten":
        return Step("reshape", label, target=_flatten_target(attributes.get("axis", 1), -1)), False
    if op == "Reshape":
        shape = [int(size) for size in constants[node.input[1]]]
        return Step("reshape", label, target=shape[1:] or [1]), False
    if op in ("Squeeze", "Unsqueeze"):
        axes = attributes.get("axes") or (list(constants[node.input[1]]) if len(node.input) > 1 else None)
        if axes is not None and len(axes) != 1:
            return _unsupported(label, f"{op} of several axes at once"), False
        return Step("reshape", label, target=_squeeze_target(None if axes is None else int(axes[0]),
                                                              op == "Unsqueeze")), False
    return _unsupported(label, f"ONNX operator {op} has no circuit"), False


# ---------------------------------------------------------------------------------------------------------------------
# Steps -> one network of the architecture file


def layer_name(label: str, used: set[str]) -> str:
    """A valid, unique layer name from a module path or node name (letters, digits, underscores)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", label).strip("_") or "layer"
    if not name[0].isalpha():
        name = f"layer_{name}"
    name = name[:36]
    if name.lower() in SPICE_RESERVED:
        name = f"{name}_layer"
    candidate, counter = name, 1
    while candidate in used:
        candidate, counter = f"{name}_{counter}", counter + 1
    used.add(candidate)
    assert re.fullmatch(NAME_PATTERN, candidate)
    return candidate


def _resolve(target: Target, shape: Shape) -> Shape:
    resolved = tuple(target(shape)) if callable(target) else tuple(target)
    if resolved.count(-1) > 1:
        raise ValueError(f"the shape {list(resolved)} has more than one -1")
    if -1 in resolved:
        known = math.prod(size for size in resolved if size != -1)
        if known == 0 or math.prod(shape) % known:
            raise ValueError(f"cannot reshape {list(shape)} to {list(resolved)}")
        resolved = tuple(math.prod(shape) // known if size == -1 else size for size in resolved)
    if math.prod(resolved) != math.prod(shape):
        raise ValueError(f"cannot reshape {list(shape)} ({math.prod(shape)} values) to {list(resolved)}")
    return resolved


def assemble(steps: list[Step], input_shape: Shape, source: str, skip_unsupported: bool = False) -> ImportedNetwork:
    """The network's layers: every step checked against the architecture file's model and hdl's shape rules."""
    refused = [step for step in steps if step.kind == "unsupported"]
    if refused and not skip_unsupported:
        lines = "\n".join(f"  {step.label}: {step.problem}" for step in refused)
        raise UserError(f"{source}: {len(refused)} part(s) of the model have no circuit:\n{lines}\n"
                        f"(replace them, or pass --skip-unsupported to list them and leave them out)")
    layers: list[dict] = []
    problems: list[str] = []
    used: set[str] = set()
    shape = tuple(input_shape)
    seen_crossbar = False
    for step in steps:
        if step.kind in ("unsupported", "pass") or step.kind == "identity" and not seen_crossbar:
            continue
        if step.kind == "identity":  # nn.Identity after a crossbar: the linear activation (no circuit)
            step = Step("activation", step.label, {"function": "linear"})
        if step.kind == "reshape":
            try:
                target = _resolve(step.target, shape)
            except ValueError as error:
                problems.append(f"{step.label}: {error}")
                continue
            if target == shape:
                continue
            if layers and layers[-1]["type"] == "reshape":
                layers.pop()
            step = Step("reshape", step.label, {"shape": list(target)})
        fields = {"type": step.kind, "name": layer_name(step.label, used), **step.fields}
        try:
            layer = LAYER.validate_python(fields)
        except ValidationError as error:
            problems.append(format_validation_error(step.label, error).replace("\n", "\n  "))
            continue
        try:
            shape = output_shape(layer, shape)
        except ShapeError as error:
            problems.append(f"{step.label}: {error}")
            continue
        seen_crossbar = seen_crossbar or isinstance(layer, WEIGHTED_TYPES)
        if layer.type == "dense" and layers and layers[-1]["type"] == "reshape" and len(layers[-1]["shape"]) == 1:
            layers.pop()  # a dense layer flattens its input itself
        layers.append({"type": layer.type, "name": layer.name,
                       **layer.model_dump(mode="json", exclude_defaults=True, exclude={"type", "name"})})
    if problems:
        raise UserError(f"{source}: the model does not map to an architecture file:\n  " + "\n  ".join(problems))
    if not seen_crossbar:
        raise UserError(f"{source}: the model has no nn.Linear, nn.Conv2d or nn.ConvTranspose2d layer to map to a "
                        f"crossbar")
    return ImportedNetwork(list(input_shape), layers, list(shape),
                           [f"{step.label}: {step.problem}" for step in refused])


# ---------------------------------------------------------------------------------------------------------------------
# Models from module paths and files


def load_object(reference: str) -> Any:
    """`package.module:Name` or `path/file.py:Name`: the object, called with no arguments when it is a class or a
    factory (an nn.Module instance is used as is)."""
    location, _, attribute = reference.rpartition(":")
    if not location or not attribute:
        raise UserError(f"{reference}: expected package.module:Name, path/to/file.py:Name, a TorchScript file "
                        f"(.pt) or an ONNX file (.onnx)")
    try:
        if location.endswith(".py"):
            path = Path(location)
            if not path.is_file():
                raise UserError(f"{reference}: {path} is no such file")
            spec = importlib.util.spec_from_file_location(f"amdcgan_import_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            sys.path.insert(0, os.getcwd())  # like `python -m`: a package in the working folder is found
            try:
                module = importlib.import_module(location)
            finally:
                sys.path.pop(0)
    except UserError:
        raise
    except Exception as error:
        raise UserError(f"{reference}: cannot import {location}: {type(error).__name__}: {error}") from None
    try:
        value = getattr(module, attribute)
    except AttributeError:
        raise UserError(f"{reference}: {location} has no attribute {attribute!r}") from None
    if isinstance(value, nn.Module) or not callable(value):
        return value
    try:
        return value()
    except Exception as error:
        raise UserError(f"{reference}: calling {attribute}() with no arguments failed: "
                        f"{type(error).__name__}: {error}") from None


def network_from_model(model: Any, input_shape: Shape | None = None, *, source: str = "model",
                       skip_unsupported: bool = False, default_shape: Shape | None = None) -> ImportedNetwork:
    """One network of an architecture file from an nn.Module, a TorchScript module, or a path to a TorchScript or
    ONNX file. The input shape (per sample) is `input_shape`, else the model's own (its `input_shape` attribute, an
    ONNX graph's declared input), else `default_shape` (for a discriminator, the generator's output), else
    [in_features] of a first dense layer."""
    if isinstance(model, (str, Path)) and str(model).endswith(".onnx"):
        steps, declared = onnx_steps(Path(model))
        shape = input_shape or declared or default_shape
    elif isinstance(model, (str, Path)) and str(model).endswith(SCRIPT_SUFFIXES):
        steps, first_dense = script_steps(Path(model))
        shape = input_shape or default_shape or first_dense
    elif isinstance(model, torch.jit.ScriptModule):
        steps, first_dense = script_module_steps(model, source)
        shape = input_shape or default_shape or first_dense
    elif isinstance(model, nn.Module):
        shape = input_shape or _declared_shape(model, source) or default_shape
        steps, shape = fx_steps(model, shape and tuple(shape), source)
    else:
        raise UserError(f"{source}: expected an nn.Module, a TorchScript module or file, or an ONNX file; got "
                        f"{type(model).__name__}")
    if shape is None:
        raise UserError(f"{source}: cannot tell the model's input shape; give it (--generator-input / "
                        f"--discriminator-input, e.g. 1,28,28)")
    return assemble(steps, tuple(shape), source, skip_unsupported)


def _declared_shape(model: nn.Module, source: str) -> Shape | None:
    shape = getattr(model, "input_shape", None)
    if shape is None:
        return None
    if not (isinstance(shape, (list, tuple)) and shape and all(isinstance(size, int) and size > 0 for size in shape)):
        raise UserError(f"{source}: input_shape must be a list of positive integers, got {shape!r}")
    return tuple(shape)


def gan_parts(value: Any, source: str) -> tuple[Any, Any]:
    """(generator, discriminator) of a GAN object: attributes `generator` and `discriminator`, a pair, or a mapping."""
    if isinstance(value, dict) and {"generator", "discriminator"} <= set(value):
        return value["generator"], value["discriminator"]
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value[0], value[1]
    if hasattr(value, "generator") and hasattr(value, "discriminator"):
        return value.generator, value.discriminator
    raise UserError(f"{source}: a GAN must have `generator` and `discriminator` attributes (or be a pair or mapping "
                    f"of them); import one network with --generator or --discriminator")


def model_of(reference: str) -> Any:
    """A model reference from the command line: an ONNX or TorchScript path, or a module path."""
    if reference.endswith(".onnx") or reference.endswith(SCRIPT_SUFFIXES):
        if not Path(reference).is_file():
            raise UserError(f"{reference}: no such file")
        return reference
    return load_object(reference)


# ---------------------------------------------------------------------------------------------------------------------
# The architecture file


def _hardware_from(base: Path | None, output: Path) -> dict:
    """Technology, device, components, tiles, encoding and periphery from a base architecture file (paths made
    relative to the output's folder), or the project's defaults."""
    if base is None:
        return dict(DEFAULT_HARDWARE)
    data = read_yaml(base)
    if not isinstance(data, dict):
        raise UserError(f"{base}: expected a mapping at the top level")
    hardware = {}
    for key in ("technology", "device", "components", "tiles", "weight_encoding", "periphery"):
        if key in data:
            hardware[key] = _rebased(data[key], base.parent, output.parent)
    return hardware


LAYER_HARDWARE = ("readout", "encoding", "summing_gain")  # a weighted layer's circuit choices, not the model's


def carry_layer_hardware(layers: list[dict], base_layers: Any) -> list[dict]:
    """The imported layers with a base network's per-layer circuit choices (readout, encoding, summing gain), where
    the two networks' weighted layers match one for one (types and sizes, in order); otherwise unchanged."""
    def weighted(items):
        return [item for item in items if isinstance(item, dict) and item.get("type") in WEIGHTED]

    def model_part(item):
        try:
            return LAYER.validate_python({k: v for k, v in item.items() if k not in LAYER_HARDWARE}).model_dump(
                exclude={"name"})
        except ValidationError:
            return None

    ours, theirs = weighted(layers), weighted(base_layers if isinstance(base_layers, list) else [])
    if len(ours) != len(theirs) or any(model_part(a) is None or model_part(a) != model_part(b)
                                       for a, b in zip(ours, theirs)):
        return layers
    for layer, base in zip(ours, theirs):
        layer.update({key: base[key] for key in LAYER_HARDWARE if key in base})
    return layers


def _generator_output(base_data: Any) -> Shape | None:
    """The output shape of a base file's generator: the discriminator's input when only that is imported."""
    try:
        return network_shapes(Network.model_validate(base_data["generator"]))[-1].output
    except (KeyError, TypeError, ValidationError, ShapeError):
        return None  # the loader names what is wrong with the base file when the result is checked


def _rebased(value: Any, origin: Path, destination: Path) -> Any:
    if isinstance(value, dict):
        return {key: _rebased(item, origin, destination) if key == "base" else item for key, item in value.items()}
    if isinstance(value, str) and (value.endswith((".yaml", ".yml")) or (origin / value).exists()):
        return os.path.relpath((origin / value).resolve(), destination.resolve())
    return value


def architecture_text(name: str, hardware: dict, networks: dict[str, dict], sources: dict[str, str],
                      left_out: dict[str, list[str]]) -> str:
    origins = [sources[network] for network in ("generator", "discriminator")]
    lines = [f"# Imported by `amdcgan import`: generator from {origins[0]}, discriminator from {origins[1]}."]
    for network, parts in left_out.items():
        for part in parts:
            lines.append(f"# left out of the {network} (no circuit): {part}")
    head = {"schema_version": 1, "name": name, "description": f"imported from {' and '.join(dict.fromkeys(origins))}",
            **hardware}
    lines.append(yaml.safe_dump(head, sort_keys=False, default_flow_style=None, width=118).rstrip())
    for network in ("generator", "discriminator"):
        content = networks[network]
        lines += ["", f"{network}:", f"  input_shape: {list(content['input_shape'])}", "  layers:"]
        for layer in content["layers"]:
            lines.append("    - " + yaml.safe_dump(layer, sort_keys=False, default_flow_style=True, width=10_000).strip())
    return "\n".join(lines) + "\n"


def import_architecture(output: Path, *, gan: Any = None, generator: Any = None, discriminator: Any = None,
                        base: Path | None = None, name: str | None = None,
                        generator_input: Shape | None = None, discriminator_input: Shape | None = None,
                        skip_unsupported: bool = False, sources: dict[str, str] | None = None) -> dict:
    """Write the architecture file of a GAN (or of one network, the other and the hardware taken from `base`).

    Returns what was written: the networks, what was left out, and the path."""
    sources = dict(sources or {})
    if gan is not None:
        parts = gan_parts(gan, sources.get("gan", "model"))
        for network in ("generator", "discriminator"):
            sources.setdefault(network, f"{sources.get('gan', 'model')} ({network})")
        generator = parts[0] if generator is None else generator
        discriminator = parts[1] if discriminator is None else discriminator
    networks: dict[str, dict] = {}
    left_out: dict[str, list[str]] = {}
    base_data = read_yaml(base) if base is not None else {}
    imported_generator = None
    if generator is not None:
        sources.setdefault("generator", "generator")
        imported_generator = network_from_model(generator, generator_input, source=sources["generator"],
                                                skip_unsupported=skip_unsupported)
        networks["generator"], left_out["generator"] = imported_generator.network(), imported_generator.left_out
    if discriminator is not None:
        fed = tuple(imported_generator.output_shape) if imported_generator else _generator_output(base_data)
        sources.setdefault("discriminator", "discriminator")
        imported = network_from_model(discriminator, discriminator_input, default_shape=fed,
                                      source=sources["discriminator"],
                                      skip_unsupported=skip_unsupported)
        networks["discriminator"], left_out["discriminator"] = imported.network(), imported.left_out
    for network, content in networks.items():
        if isinstance(base_data, dict) and isinstance(base_data.get(network), dict):
            carry_layer_hardware(content["layers"], base_data[network].get("layers"))
    for network in ("generator", "discriminator"):
        if network not in networks:
            if not isinstance(base_data, dict) or not isinstance(base_data.get(network), dict):
                raise UserError(f"no {network}: give one (a GAN model, --{network}) or a --base architecture file "
                                f"that has it")
            networks[network] = base_data[network]
            sources.setdefault(network, f"{base} ({network})")
    name = name or layer_name(output.stem, set())
    text = architecture_text(name, _hardware_from(base, output), networks, sources,
                             {key: value for key, value in left_out.items() if value})
    build_architecture(yaml.safe_load(text), f"{output} (imported)", output.parent)
    write_text_atomic(output, text)
    return {"path": output, "networks": networks, "left_out": left_out}


def parse_shape(text: str | None, option: str) -> Shape | None:
    if text is None:
        return None
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if not shape or len(shape) > 3 or min(shape) < 1:
        raise UserError(f"{option}: expected 1 to 3 positive integers such as 100 or 1,28,28, got {text!r}")
    return shape


def run_import(model: str | None, output: Path, generator: str | None, discriminator: str | None,
               base: Path | None, name: str | None, generator_input: str | None, discriminator_input: str | None,
               skip_unsupported: bool) -> dict:
    """`amdcgan import`: references from the command line resolved, the architecture file written."""
    if model is None and generator is None and discriminator is None:
        raise UserError("give a GAN model (MODEL), or --generator and/or --discriminator")
    if output.suffix.lower() not in (".yaml", ".yml"):
        raise UserError(f"{output}: the architecture file must be .yaml or .yml")
    sources = {key: value for key, value in (("gan", model), ("generator", generator),
                                             ("discriminator", discriminator)) if value}
    return import_architecture(
        output, gan=model_of(model) if model else None, generator=model_of(generator) if generator else None,
        discriminator=model_of(discriminator) if discriminator else None, base=base, name=name,
        generator_input=parse_shape(generator_input, "--generator-input"),
        discriminator_input=parse_shape(discriminator_input, "--discriminator-input"),
        skip_unsupported=skip_unsupported, sources=sources)
