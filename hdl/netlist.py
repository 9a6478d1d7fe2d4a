"""Hierarchical SPICE netlists of the accelerator and of single tiles, for plain `ngspice -b` and PySpice.

One `.subckt` per distinct circuit (a crossbar of a given size, a bank of N circuits of one kind), one instance per
tile and bank. Device and macro models live in a library file written beside the netlist. Every name in a netlist is
built from validated identifiers (letters, digits, underscores) and numbers: nothing from a user's file reaches a
netlist as free text, so no user input can become a SPICE control line.

The peripheral circuits are behavioural macromodels (B-sources and switches), not transistor-level designs:
- memristor: a linear resistor at its programmed conductance (reads stay below the switching threshold);
- opamp (the IVC): a virtual-ground transimpedance stage, V_out = -R_f * I_in, clipped at the supplies; R_f is
  sized per tile so that full scale (every row at V_read on G_on devices) just reaches the supply;
- relu / relu_switch: V_out = min(max(V_in, 0), VDD), the switch variant gated by a control input;
- tanh: V_out = VDD * tanh(V_in / VDD); thresholding: a current comparator with a virtual-ground input, VDD when
  current flows in (the sign device of the column being read is at G_on) else VSS;
- sign_switch: passes V_in or -V_in as the thresholding output says; dropout / crossbar switch: ngspice `sw`;
- summing_amplifier, batch_norm, averager: ideal adders and gain stages, clipped at the supplies.
The sim backend adds finite gain and bandwidth where a check needs them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from amdcgan.errors import UserError
from amdcgan.fileio import write_text_atomic

from .mapping import Bank, LayerPlan, Tile, TilePlan
from .spec import Architecture, ComponentKind

SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_]+$")


def net(*parts: object) -> str:
    """A SPICE node or instance name from identifier parts; refuses anything but letters, digits and underscores."""
    name = "_".join(str(part).replace(".", "_") for part in parts)
    if not SAFE_TOKEN.fullmatch(name):
        raise ValueError(f"unsafe SPICE name {name!r}")
    return name.lower()


def _number(value: float) -> str:
    return f"{float(value):.9g}"


def model_library(architecture: Architecture) -> str:
    """The device and macro models every netlist of this architecture includes."""
    tech, device = architecture.technology, architecture.device
    g_mid = 0.5 * (device.g_on_s + device.g_off_s)
    return f"""* amdcgan model library for architecture {net(architecture.name)}
* technology {net(tech.name)} ({_number(tech.node_nm)} nm), device {net(device.name)}
.param vdd_v={_number(tech.vdd_v)} vss_v={_number(tech.vss_v)} v_read={_number(device.v_read_v)}
.param r_on={_number(device.r_on_ohm)} r_off={_number(device.r_off_ohm)} g_mid={_number(g_mid)}
* row switches carry a whole row's current (tens of mA in a 128-column tile): 1 ohm keeps their drop negligible
.model switch_model sw vt={_number(tech.vdd_v / 2)} vh=0.05 ron=1 roff=1e12

.subckt memristor p n params: g={{g_mid}}
r1 p n {{1/g}}
.ends memristor

.subckt load_memristor col params: g={{g_mid}}
r1 col 0 {{1/g}}
.ends load_memristor

.subckt opamp in out params: rf={{r_on}}
vsense in 0 0
bout out 0 v = max(min(-i(vsense)*rf, vdd_v), vss_v)
.ends opamp

.subckt summing_amplifier in out params: gain=1
bout out 0 v = max(min(gain*v(in), vdd_v), vss_v)
.ends summing_amplifier

.subckt relu in out
bout out 0 v = max(min(v(in), vdd_v), 0)
.ends relu

.subckt relu_switch in out ctl
bout out 0 v = v(ctl) > vdd_v/2 ? max(min(v(in), vdd_v), 0) : 0
.ends relu_switch

.subckt tanh in out
bout out 0 v = vdd_v*tanh(v(in)/vdd_v)
.ends tanh

.subckt thresholding in out
vsense in 0 0
bout out 0 v = i(vsense) > 0 ? vdd_v : vss_v
.ends thresholding

.subckt sign_switch in out ctl
bout out 0 v = v(ctl) > 0 ? v(in) : -v(in)
.ends sign_switch

.subckt dropout_switch in out ctl
s1 in out ctl 0 switch_model
.ends dropout_switch

.subckt crossbar_switch in out ctl
s1 in out ctl 0 switch_model
.ends crossbar_switch

.subckt batch_norm in out params: gain=1 offset=0
bout out 0 v = max(min(gain*v(in)+offset, vdd_v), vss_v)
.ends batch_norm

.subckt averager in out
bout out 0 v = max(min(v(in), vdd_v), vss_v)
.ends averager
"""


# Ports of one circuit of each kind, beyond `in` and `out`.
CONTROLLED = {"relu_switch", "sign_switch", "dropout_switch", "crossbar_switch"}


@dataclass
class NetlistBuilder:
    """Collects distinct subcircuits once and the instances that use them."""

    architecture: Architecture
    subckts: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)  # switch control nets, driven by the controller
    sign_columns: list[list[str]] = field(default_factory=list)  # each tile's sign-crossbar columns

    def crossbar(self, rows: int, columns: int) -> str:
        name = f"xbar_{rows}x{columns}"
        if name not in self.subckts:
            ports = " ".join([*(f"r{r}" for r in range(rows)), *(f"c{c}" for c in range(columns))])
            body = [
                f"xm{r}_{c} r{r} c{c} memristor" for r in range(rows) for c in range(columns)
            ]
            self.subckts[name] = "\n".join([f".subckt {name} {ports}", *body, f".ends {name}"])
        return name

    def bank(self, kind: str, count: int) -> str:
        """A bank of `count` circuits: ports in0.. out0.. [ctl0..] (load memristors: col0.. only)."""
        name = f"bank_{kind}_{count}"
        if name in self.subckts:
            return name
        if kind == "load_memristor":
            ports = [f"col{k}" for k in range(count)]
            body = [f"xu{k} col{k} load_memristor" for k in range(count)]
        else:
            controlled = kind in CONTROLLED
            ports = [*(f"in{k}" for k in range(count)), *(f"out{k}" for k in range(count))]
            ports += [f"ctl{k}" for k in range(count)] if controlled else []
            passed = " rf={rf}" if kind == ComponentKind.opamp.value else ""
            body = [
                f"xu{k} in{k} out{k}{f' ctl{k}' if controlled else ''} {kind}{passed}" for k in range(count)
            ]
            ports += ["params: rf=1"] if passed else []
        self.subckts[name] = "\n".join([f".subckt {name} {' '.join(ports)}", *body, f".ends {name}"])
        return name

    def text(self, title: str, library: str, tail: list[str]) -> str:
        return "\n".join([f"* {title}", f".include {library}", "", *self.subckts.values(), "", *self.lines, *tail, ".end", ""])


def _add_bank(builder: NetlistBuilder, bank: Bank, inputs: list[str], prefix: str, controls: list[str] | None = None,
              params: str = "") -> list[str]:
    """One bank instance fed by `inputs`; returns the nets its outputs drive. Controlled banks get control nets
    of their own unless `controls` names the nets that drive them."""
    instance = f"x{prefix}_{bank.kind}"
    if bank.kind == "load_memristor":
        builder.lines.append(f"{instance} {' '.join(inputs)} {builder.bank(bank.kind, bank.count)}")
        return inputs
    outputs = [net(prefix, bank.kind, "o", k) for k in range(bank.count)]
    ports = [*inputs, *outputs]
    if bank.kind in CONTROLLED:
        if controls is None:
            controls = [net(prefix, bank.kind, "ctl", k) for k in range(bank.count)]
            builder.controls += controls
        ports += controls
    builder.lines.append(f"{instance} {' '.join(ports)} {builder.bank(bank.kind, bank.count)}{params}")
    return outputs


def add_tile(builder: NetlistBuilder, layer: LayerPlan, tile: Tile) -> list[str]:
    """Instances of one tile; returns the nets of its (partial or finished) column outputs."""
    prefix = net(tile.id)
    layer_prefix = net(layer.network, layer.name)
    row_inputs = [net(layer_prefix, "x", row) for row in range(*tile.rows)]
    columns = [net(prefix, "c", k) for k in range(tile.physical_columns)]
    row_banks = [bank for bank in tile.banks if bank.side == "row"]
    column_banks = [bank for bank in tile.banks if bank.side == "column"]

    sign_controls = [net(prefix, "sign_ctl", k) for k in range(tile.n_rows)]
    current = row_inputs
    for bank in row_banks:
        if bank.kind == ComponentKind.thresholding.value:
            continue  # drives the sign switches' controls, wired below
        controls = sign_controls if bank.kind == ComponentKind.sign_switch.value else None
        current = _add_bank(builder, bank, current, prefix, controls)
    builder.lines.append(f"x{prefix}_xbar {' '.join([*current, *columns])} {builder.crossbar(tile.n_rows, tile.physical_columns)}")
    if tile.sign_crossbar:
        sign_columns = [net(prefix, "sc", k) for k in range(tile.n_columns)]
        sign_rows = [net(prefix, "sr", k) for k in range(tile.n_rows)]
        builder.lines.append(
            f"x{prefix}_sign {' '.join([*sign_rows, *sign_columns])} {builder.crossbar(tile.n_rows, tile.n_columns)}"
        )
        builder.lines.append(
            f"x{prefix}_thresholding {' '.join([*sign_rows, *sign_controls])} "
            f"{builder.bank('thresholding', tile.n_rows)}"
        )
        builder.sign_columns.append(sign_columns)

    current = columns
    for bank in column_banks:
        if bank.kind == ComponentKind.summing_amplifier.value:
            break  # the layer's partial sums meet at the host's summing amplifiers (added by the caller)
        params = f" rf={_number(_feedback_ohm(builder.architecture, tile.n_rows))}" if bank.kind == "opamp" else ""
        current = _add_bank(builder, bank, current, net(prefix, bank.layer), params=params)
    return current


def _feedback_ohm(architecture: Architecture, rows: int) -> float:
    """IVC feedback that maps full scale (every row at V_read on G_on devices) onto the positive supply."""
    device = architecture.device
    return architecture.technology.vdd_v / (rows * device.v_read_v * device.g_on_s)


def add_layer(builder: NetlistBuilder, layer: LayerPlan) -> None:
    """All tiles of a layer, with the summing amplifiers that add row-split partial results and the folded stages."""
    layer_prefix = net(layer.network, layer.name)
    builder.lines.append(f"* layer {layer_prefix}: {layer.type} {layer.weight_rows}x{layer.weight_columns}, "
                         f"{len(layer.tiles)} tile(s)")
    if layer.bias:
        builder.lines.append(f"v{layer_prefix}_bias {net(layer_prefix, 'x', layer.weight_rows - 1)} 0 v_read")
    partials: dict[int, list[list[str]]] = {}
    for tile in layer.tiles:
        partials.setdefault(tile.column_tile, []).append(add_tile(builder, layer, tile))
    for tile in (tile for tile in layer.tiles if tile.row_tile == 0):
        prefix = net(tile.id)
        banks = [bank for bank in tile.banks if bank.side == "column"]
        tail = next((i for i, bank in enumerate(banks) if bank.kind == ComponentKind.summing_amplifier.value), None)
        if tail is None:
            current = partials[tile.column_tile][0]
            stage_banks: list[Bank] = []
        else:
            current = _sum_partials(builder, prefix, partials[tile.column_tile], banks[tail].count)
            stage_banks = banks[tail + 1:]
        for bank in stage_banks:
            current = _add_bank(builder, bank, current, net(prefix, bank.layer))
        for offset, source in enumerate(current):
            column = tile.columns[0] + offset
            builder.lines.append(f"e{layer_prefix}_y{column} {net(layer_prefix, 'y', column)} 0 {source} 0 1")


def _sum_partials(builder: NetlistBuilder, prefix: str, partials: list[list[str]], count: int) -> list[str]:
    """Adds the row tiles' partial results column by column (a differential pair's halves are taken + and -)."""
    outputs = []
    for column in range(count):
        terms = []
        for nets in partials:
            if len(nets) == 2 * count:  # differential pair: + and - devices side by side
                terms += [f"v({nets[2 * column]})", f"-v({nets[2 * column + 1]})"]
            else:
                terms.append(f"v({nets[column]})")
        summed = net(prefix, "sum", column)
        builder.lines.append(f"b{summed} {summed} 0 v = {' + '.join(terms).replace('+ -', '- ')}")
        outputs.append(summed)
    return outputs


def _bench(builder: NetlistBuilder, architecture: Architecture, inputs: list[str]) -> list[str]:
    """A test bench: inputs at half the read voltage, every switch closed, sign columns read, an operating point."""
    device, vdd = architecture.device, _number(architecture.technology.vdd_v)
    bench = [f"vin{k} {name} 0 {_number(device.v_read_v / 2)}" for k, name in enumerate(inputs)]
    bench += [f"vctl{k} {name} 0 {vdd}" for k, name in enumerate(builder.controls)]
    # The sign crossbar is read one column at a time: the first column at V_read, the others held at 0 V.
    first_columns = {names[0] for names in builder.sign_columns}
    bench += [f"vsign{k} {name} 0 {_number(device.v_read_v) if name in first_columns else 0}"
              for k, name in enumerate(name for names in builder.sign_columns for name in names)]
    return [*bench, ".op"]


def accelerator_netlist(plan: TilePlan, library: str, bench: bool = False) -> str:
    builder = NetlistBuilder(plan.architecture)
    tech = plan.architecture.technology
    builder.lines += [f"vdd vdd 0 {_number(tech.vdd_v)}", f"vss vss 0 {_number(tech.vss_v)}"]
    inputs = []
    for layer in plan.layers():
        add_layer(builder, layer)
        prefix = net(layer.network, layer.name)
        inputs += [net(prefix, "x", row) for row in range(layer.weight_rows - (1 if layer.bias else 0))]
    title = (f"amdcgan accelerator {net(plan.architecture.name)}: {len(plan.tiles())} tiles. Layer inputs (nets *_x*) "
             f"are driven by the line buffers and DACs outside this netlist; outputs are the nets *_y*.")
    return builder.text(title, library, _bench(builder, plan.architecture, inputs) if bench else [])


def tile_netlist(plan: TilePlan, tile_id: str, library: str) -> str:
    """One tile with a test bench (see `_bench`)."""
    layer, tile = find_tile(plan, tile_id)
    builder = NetlistBuilder(plan.architecture)
    outputs = add_tile(builder, layer, tile)
    prefix = net(layer.network, layer.name)
    inputs = [net(prefix, "x", row) for row in range(*tile.rows)]
    return builder.text(
        f"amdcgan tile {net(tile_id)}: {tile.n_rows}x{tile.physical_columns} with its periphery; outputs "
        f"{outputs[0]}..{outputs[-1]}", library, _bench(builder, plan.architecture, inputs)
    )


def find_tile(plan: TilePlan, tile_id: str) -> tuple[LayerPlan, Tile]:
    for layer in plan.layers():
        for tile in layer.tiles:
            if tile.id == tile_id:
                return layer, tile
    known = ", ".join(tile.id for tile in plan.tiles()[:6])
    raise UserError(f"no tile {tile_id!r}; tiles are named NETWORK.LAYER.INDEX, e.g. {known}, ...")


def _write(netlist_path: Path, architecture: Architecture, text_for_library) -> list[Path]:
    netlist_path = Path(netlist_path)
    library_path = netlist_path.with_suffix(".lib.sp")
    written = [write_text_atomic(library_path, model_library(architecture))]
    written.append(write_text_atomic(netlist_path, text_for_library(library_path.name)))
    return written


def write_accelerator_netlist(plan: TilePlan, path: str | Path, bench: bool = False) -> list[Path]:
    return _write(Path(path), plan.architecture, lambda library: accelerator_netlist(plan, library, bench))


def write_tile_netlist(plan: TilePlan, tile_id: str, path: str | Path) -> list[Path]:
    find_tile(plan, tile_id)  # fail before writing anything
    return _write(Path(path), plan.architecture, lambda library: tile_netlist(plan, tile_id, library))
