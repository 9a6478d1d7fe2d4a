"""Tensor shapes through a network, layer by layer, and the checks that they chain."""

from __future__ import annotations

import math
from dataclasses import dataclass

from amdcgan.errors import UserError

from .spec import WEIGHTED_TYPES, Architecture, Conv2d, Deconv2d, Dense, MeanPool, Network, Reshape

Shape = tuple[int, ...]


@dataclass(frozen=True)
class LayerShape:
    name: str
    index: int
    layer: object
    input: Shape
    output: Shape


class ShapeError(ValueError):
    pass


def _spatial(shape: Shape, what: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeError(f"{what} needs a [channels, height, width] input, got {list(shape)} (add a reshape layer)")
    return shape  # type: ignore[return-value]


def output_shape(layer: object, shape: Shape) -> Shape:
    if isinstance(layer, Dense):
        return (layer.units,)
    if isinstance(layer, Conv2d):
        channels, height, width = _spatial(shape, "conv2d")
        if layer.kernel > min(height, width) + 2 * layer.padding:
            raise ShapeError(
                f"kernel {layer.kernel} is larger than the padded input {height + 2 * layer.padding}x"
                f"{width + 2 * layer.padding}"
            )
        out = [(size + 2 * layer.padding - layer.kernel) // layer.stride + 1 for size in (height, width)]
        return (layer.filters, *out)
    if isinstance(layer, Deconv2d):
        channels, height, width = _spatial(shape, "deconv2d")
        out = [
            (size - 1) * layer.stride - 2 * layer.padding + layer.kernel + layer.output_padding for size in (height, width)
        ]
        if min(out) < 1:
            raise ShapeError(f"padding {layer.padding} leaves no output (output would be {out[0]}x{out[1]})")
        if layer.padding >= layer.kernel:
            raise ShapeError(f"padding ({layer.padding}) must be below the kernel ({layer.kernel})")
        return (layer.filters, *out)
    if isinstance(layer, MeanPool):
        channels, height, width = _spatial(shape, "mean_pool")
        if layer.size > min(height, width):
            raise ShapeError(f"pool size {layer.size} is larger than the input {height}x{width}")
        return (channels, height // layer.size, width // layer.size)
    if isinstance(layer, Reshape):
        if math.prod(layer.shape) != math.prod(shape):
            raise ShapeError(
                f"cannot reshape {list(shape)} ({math.prod(shape)} values) to {layer.shape} "
                f"({math.prod(layer.shape)} values)"
            )
        return tuple(layer.shape)
    return shape  # batch norm, activation and dropout keep the shape


def network_shapes(network: Network) -> list[LayerShape]:
    """Each layer's input and output shape; raises ShapeError naming the layer index on the first mismatch."""
    shapes: list[LayerShape] = []
    shape: Shape = tuple(network.input_shape)
    seen_crossbar = False
    for index, (name, layer) in enumerate(zip(network.layer_names(), network.layers)):
        seen_crossbar = seen_crossbar or isinstance(layer, WEIGHTED_TYPES)
        if not seen_crossbar and not isinstance(layer, Reshape):
            raise ShapeError(
                f"layers.{index} ({name}): a {layer.type} layer before the first dense, conv2d or deconv2d layer "
                f"has no crossbar whose periphery could hold it"
            )
        try:
            out = output_shape(layer, shape)
        except ShapeError as error:
            raise ShapeError(f"layers.{index} ({name}): {error}") from None
        shapes.append(LayerShape(name, index, layer, shape, out))
        shape = out
    return shapes


def check_shapes(architecture: Architecture, source: str) -> None:
    """Both networks chain, and the Generator's output is an image the Discriminator takes."""
    outputs = {}
    for network_name, network in architecture.networks().items():
        try:
            shapes = network_shapes(network)
        except ShapeError as error:
            raise UserError(f"{source}: {network_name}.{error}") from None
        outputs[network_name] = shapes[-1].output
    if outputs["generator"] != tuple(architecture.discriminator.input_shape):
        raise UserError(
            f"{source}: generator: its output shape {list(outputs['generator'])} must equal "
            f"discriminator.input_shape {architecture.discriminator.input_shape}"
        )
    if math.prod(outputs["discriminator"]) != 1:
        raise UserError(
            f"{source}: discriminator: must end in one output (real or fake), got shape {list(outputs['discriminator'])}"
        )
