"""Power: static power of the peripheral circuits (Table I), crossbar read power, and what dropout saves.

Stated assumptions (they go into the report):
- "all on": every circuit is powered and every crossbar read all the time.
- "duty-cycled": a network's layers compute one after another, and a layer's circuits and crossbars are powered only
  while it computes: duty = the layer's cycles per image / its network's cycles per image. The Generator and the
  Discriminator run at the same time (the Discriminator judges real images while the Generator makes fakes), so
  their powers add.
- crossbar read power = sum over devices of V^2 x G with every row driven at v_read / 2 (the mean of an input spread
  over 0..v_read) and the column held at virtual ground. Without weights every device is at the mean conductance
  (G_on + G_off) / 2; with weights, |w| / max|w| of a layer maps linearly onto G_off..G_on, a sign device is at G_on
  for a negative weight and G_off otherwise, and a differential pair holds |w| in the device of its sign and G_off in
  the other. Load and averaging memristors sit in series with these currents and are not counted again.
- dropout: a dropped neuron's switch turns off the circuits after it, i.e. the row circuits (crossbar switch,
  thresholding, sign switch) and the crossbar row of the next weighted layer that it feeds; the expected saving is
  rate x their power (bias rows never drop). A dropout after a network's last layer saves nothing on chip.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from amdcgan.errors import UserError
from amdcgan.hdl.graph import Counts, HardwareGraph
from amdcgan.hdl.mapping import LayerPlan, TilePlan
from amdcgan.hdl.spec import Architecture, Dropout, WeightEncoding

MW = 1e-3


def static_power_w(counts: Counts, architecture: Architecture) -> dict[str, float]:
    library = architecture.components.components
    return {kind: count * library[kind].power_mw * MW for kind, count in counts.components.items()}


def layer_key(layer: LayerPlan) -> str:
    return f"{layer.network}.{layer.name}"


def _read_voltage_squared(architecture: Architecture) -> float:
    return (architecture.device.v_read_v / 2) ** 2


def _conductances(matrix: np.ndarray, layer: LayerPlan, architecture: Architecture) -> float:
    """Sum of conductances of the layer's weight devices and sign devices holding `matrix`."""
    g_on, g_off = architecture.device.g_on_s, architecture.device.g_off_s
    largest = float(np.max(np.abs(matrix)))
    magnitude = np.abs(matrix) / largest if largest > 0 else np.zeros_like(matrix)
    weight_devices = float(np.sum(g_off + (g_on - g_off) * magnitude))
    if layer.encoding is WeightEncoding.differential_pair:
        return weight_devices + matrix.size * g_off  # the other device of each pair rests at G_off
    negative = int(np.count_nonzero(matrix < 0))
    return weight_devices + negative * g_on + (matrix.size - negative) * g_off


def crossbar_read_power_w(layer: LayerPlan, architecture: Architecture, weights: np.ndarray | None) -> float:
    if weights is None:
        g_mean = (architecture.device.g_on_s + architecture.device.g_off_s) / 2
        devices = sum(tile.crossbar_devices + tile.sign_devices for tile in layer.tiles)
        return _read_voltage_squared(architecture) * g_mean * devices
    return _read_voltage_squared(architecture) * _conductances(weights, layer, architecture)


def _row_circuit_power_w(layer: LayerPlan, architecture: Architecture) -> float:
    library = architecture.components.components
    return sum(
        bank.count * library[bank.kind].power_mw * MW
        for tile in layer.tiles for bank in tile.banks
        if bank.side == "row" and bank.kind in library
    )


def _dropout_rate(layer: LayerPlan, architecture: Architecture) -> float:
    """Probability that a neuron of this layer's output is dropped (several dropouts compound)."""
    network = architecture.networks()[layer.network]
    stages = dict(zip(network.layer_names(), network.layers))
    kept = math.prod(1 - stages[name].rate for name in layer.stages if isinstance(stages[name], Dropout))
    return 1 - kept


def _layer_power(layer: LayerPlan, hardware: HardwareGraph, weights: np.ndarray | None, network_cycles: int) -> dict:
    architecture = hardware.plan.architecture
    static = static_power_w(hardware.counts(layer.network, layer.name), architecture)
    static_total = sum(static.values())
    read = crossbar_read_power_w(layer, architecture, weights)
    duty = layer.cycles_per_image / network_cycles
    return {
        "static_w": static,
        "static_total_w": static_total,
        "crossbar_read_w": read,
        "duty": duty,
        "all_on_w": static_total + read,
        "duty_cycled_w": (static_total + read) * duty,
    }


def _dropout_savings(plan: TilePlan, layers: dict[str, dict]) -> dict:
    architecture = plan.architecture
    savings = {}
    for network in plan.networks:
        for layer, following in zip(network.layers, (*network.layers[1:], None)):
            rate = _dropout_rate(layer, architecture)
            if rate == 0:
                continue
            if following is None:
                savings[layer_key(layer)] = {"rate": rate, "switched_off": None, "saved_all_on_w": 0.0,
                                             "saved_duty_cycled_w": 0.0}
                continue
            droppable = (following.weight_rows - following.bias) / following.weight_rows
            after = _row_circuit_power_w(following, architecture) + layers[layer_key(following)]["crossbar_read_w"]
            saved = rate * droppable * after
            savings[layer_key(layer)] = {
                "rate": rate,
                "switched_off": f"row circuits and crossbar rows of {layer_key(following)}",
                "power_after_switch_w": after,
                "saved_all_on_w": saved,
                "saved_duty_cycled_w": saved * layers[layer_key(following)]["duty"],
            }
    return {
        "layers": savings,
        "saved_all_on_w": sum(row["saved_all_on_w"] for row in savings.values()),
        "saved_duty_cycled_w": sum(row["saved_duty_cycled_w"] for row in savings.values()),
    }


def _sum(rows: list[dict]) -> dict:
    static: dict[str, float] = {}
    for row in rows:
        for kind, watts in row["static_w"].items():
            static[kind] = static.get(kind, 0.0) + watts
    return {
        "static_w": static,
        "static_total_w": sum(row["static_total_w"] for row in rows),
        "crossbar_read_w": sum(row["crossbar_read_w"] for row in rows),
        "all_on_w": sum(row["all_on_w"] for row in rows),
        "duty_cycled_w": sum(row["duty_cycled_w"] for row in rows),
    }


def power_estimate(hardware: HardwareGraph, weights: dict[str, np.ndarray] | None = None) -> dict:
    plan = hardware.plan
    weights = weights or {}
    layers = {
        layer_key(layer): _layer_power(layer, hardware, weights.get(layer_key(layer)), network.cycles_per_image)
        for network in plan.networks for layer in network.layers
    }
    networks = {
        network.name: _sum([layers[layer_key(layer)] for layer in network.layers]) for network in plan.networks
    }
    return {
        "conductances": (f"from weights for {', '.join(sorted(weights))}, mean (G_on + G_off) / 2 elsewhere"
                         if weights else "mean (G_on + G_off) / 2"),
        "read_voltage_v": plan.architecture.device.v_read_v / 2,
        "layers": layers,
        "networks": networks,
        "total": _sum(list(networks.values())),
        "dropout": _dropout_savings(plan, layers),
        "assumptions": __doc__.split("Stated assumptions (they go into the report):\n", 1)[1].strip(),
    }


def load_weights(path: str | Path, plan: TilePlan) -> dict[str, np.ndarray]:
    """Weight matrices from an .npz file: one array per layer named NETWORK.LAYER, shaped (weight rows incl. the bias
    row, columns) in the tile plan's row order; layers left out are estimated at the mean conductance."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: np.asarray(archive[name], dtype=float) for name in archive.files}
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: not a readable .npz file of arrays ({error})") from None
    expected = {layer_key(layer): (layer.weight_rows, layer.weight_columns) for layer in plan.layers()}
    for name, array in arrays.items():
        if name not in expected:
            raise UserError(f"{path}: array {name!r} names no layer; expected one of {', '.join(expected)}")
        if array.shape != expected[name]:
            raise UserError(
                f"{path}: array {name!r} has shape {list(array.shape)}, expected {list(expected[name])} "
                "(weight rows including the bias row, columns)"
            )
        if not np.all(np.isfinite(array)):
            raise UserError(f"{path}: array {name!r} holds NaN or infinite values")
    return arrays
