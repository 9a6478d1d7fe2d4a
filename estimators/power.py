"""Power: static power of the peripheral circuits (Table I), crossbar read power, and what dropout saves.

Stated assumptions (they go into the report):
- "all on": every circuit is powered and every crossbar read all the time.
- "duty-cycled": a network's layers compute one after another, and a layer's circuits and crossbars are powered only
  while it computes: duty = the layer's cycles per image / its network's cycles per image. The Generator and the
  Discriminator run at the same time (the Discriminator judges real images while the Generator makes fakes), so
  their powers add.
- crossbar read power: what the row drivers deliver to each tile, from hdl's electrical model of the tile (its
  readout sets the column voltages), with every row driven at V_r / 2 (the mean of an input spread over 0..V_r);
  a sign-crossbar tile is averaged over the reads of its columns and adds its sign column's read. Without a trained
  run every device sits at the mean conductance (G_on + G_off) / 2 with the signs alternating row by row; with a
  run (`--weights RUN`) the devices hold the run's conductances. Load and averaging memristors sit in series with
  these currents and are not counted again. With wire resistance (periphery row/column_wire_ohm) the read power is
  the tile mesh's (hdl's wire model: what the drivers deliver, the wires' own loss included), given beside the same
  tile's figure with ideal wires; the sign column's read is taken with ideal wires.
- dropout: a dropped neuron's switch turns off the circuits after it, i.e. the row circuits (crossbar switch,
  thresholding, sign switch) and the crossbar row of the next weighted layer that it feeds; the expected saving is
  rate x their power (bias rows never drop). A dropout after a network's last layer saves nothing on chip.
"""

from __future__ import annotations

import math

import numpy as np

from amdcgan.hdl.electrical import (
    Cell, Conductances, Periphery, load_run_conductances, read_power_w, sign_read_power_w,
)
from amdcgan.hdl.graph import Counts, HardwareGraph
from amdcgan.hdl.mapping import LayerPlan, TilePlan, plan_tiles
from amdcgan.hdl.spec import Architecture, Dropout, Readout

MW = 1e-3
IDEAL_WIRES = "crossbar_read_ideal_wires_w"  # the same reads with wires of no resistance, beside the wired figure


def static_power_w(counts: Counts, architecture: Architecture) -> dict[str, float]:
    library = architecture.components.components
    return {kind: count * library[kind].power_mw * MW for kind, count in counts.components.items()}


def layer_key(layer: LayerPlan) -> str:
    return f"{layer.network}.{layer.name}"


def nominal_conductances(layer: LayerPlan, architecture: Architecture) -> Conductances:
    """A layer's devices when no trained run is given: the mean conductance, signs alternating row by row."""
    cell = Cell.of(architecture.device, layer.encoding)
    shape = (layer.weight_rows, layer.weight_columns)
    main = np.full(shape, (cell.g_on + cell.g_off) / 2)
    if cell.differential:
        return Conductances(cell, main, main.copy())
    return Conductances(cell, main, np.where(np.arange(shape[0])[:, None] % 2 == 0, 1.0, -1.0) * np.ones(shape))


def tile_read_power_w(tile: Conductances, readout: Readout, periphery: Periphery,
                      rows_v: np.ndarray | None = None) -> dict[str, float]:
    """A tile's read power: its main crossbar and (sign crossbar) its sign column, every row at V_r / 2 unless
    `rows_v` says otherwise."""
    rows_v = np.full(tile.rows, periphery.v_read / 2) if rows_v is None else rows_v
    crossbar = float(read_power_w(rows_v, tile.main, tile.second, tile.cell, readout, periphery)[0])
    sign = 0.0 if tile.cell.differential else sign_read_power_w(tile.second, tile.cell, periphery)
    return {"crossbar": crossbar, "sign_crossbar": sign}


def crossbar_read_power_w(layer: LayerPlan, architecture: Architecture, conductances: Conductances | None,
                          ideal_wires: bool = False) -> dict[str, float]:
    """Read power of every tile of a layer, by memristor kind (crossbar, sign_crossbar); `ideal_wires`: as if the
    architecture's wires had no resistance."""
    conductances = conductances or nominal_conductances(layer, architecture)
    periphery = Periphery.of(architecture)
    periphery = periphery.ideal_wires() if ideal_wires else periphery
    total = {"crossbar": 0.0, "sign_crossbar": 0.0}
    for tile in layer.tiles:
        for kind, watts in tile_read_power_w(conductances.block(tile.rows, tile.columns), layer.readout,
                                             periphery).items():
            total[kind] += watts
    return total


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


def _layer_power(layer: LayerPlan, hardware: HardwareGraph, conductances: Conductances | None,
                 network_cycles: int) -> dict:
    architecture = hardware.plan.architecture
    static = static_power_w(hardware.counts(layer.network, layer.name), architecture)
    static_total = sum(static.values())
    by_kind = crossbar_read_power_w(layer, architecture, conductances)
    read = sum(by_kind.values())
    duty = layer.cycles_per_image / network_cycles
    row = {
        "static_w": static,
        "static_total_w": static_total,
        "crossbar_read_w": read,
        "read_w_by_memristor_kind": by_kind,
        "duty": duty,
        "all_on_w": static_total + read,
        "duty_cycled_w": (static_total + read) * duty,
    }
    if Periphery.of(architecture).wired:
        row[IDEAL_WIRES] = sum(crossbar_read_power_w(layer, architecture, conductances, ideal_wires=True).values())
    return row


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
    wires = {IDEAL_WIRES: sum(row[IDEAL_WIRES] for row in rows)} if rows and IDEAL_WIRES in rows[0] else {}
    return {
        **wires,
        "static_w": static,
        "static_total_w": sum(row["static_total_w"] for row in rows),
        "crossbar_read_w": sum(row["crossbar_read_w"] for row in rows),
        "read_w_by_memristor_kind": {kind: sum(row["read_w_by_memristor_kind"][kind] for row in rows)
                                     for kind in ("crossbar", "sign_crossbar")},
        "all_on_w": sum(row["all_on_w"] for row in rows),
        "duty_cycled_w": sum(row["duty_cycled_w"] for row in rows),
    }


def power_estimate(hardware: HardwareGraph, conductances: dict[str, Conductances] | None = None) -> dict:
    plan = hardware.plan
    conductances = conductances or {}
    layers = {
        layer_key(layer): _layer_power(layer, hardware, conductances.get(layer_key(layer)), network.cycles_per_image)
        for network in plan.networks for layer in network.layers
    }
    networks = {
        network.name: _sum([layers[layer_key(layer)] for layer in network.layers]) for network in plan.networks
    }
    return {
        "conductances": ("a trained run's" if conductances else
                         "mean (G_on + G_off) / 2, signs alternating by row"),
        "read_voltage_v": plan.architecture.read_voltage_v / 2,
        "layers": layers,
        "networks": networks,
        "total": _sum(list(networks.values())),
        "dropout": _dropout_savings(plan, layers),
        "assumptions": __doc__.split("Stated assumptions (they go into the report):\n", 1)[1].strip(),
    }


def run_read_power_w(architecture: Architecture, run_dir) -> dict[str, float]:
    """The crossbar read power of a training run's conductances (RUN/conductances.npz), with the architecture's
    wires and with ideal ones, summed over every layer (W)."""
    plan = plan_tiles(architecture)
    layers = load_run_conductances(run_dir, plan, architecture.device)
    return {key: sum(sum(crossbar_read_power_w(layer, architecture, layers[layer_key(layer)], ideal).values())
                     for layer in plan.layers())
            for key, ideal in (("read_power_w", False), ("read_power_ideal_wires_w", True))}
