"""The one electrical model of a tile: the cell and its periphery, written once for numpy arrays and torch tensors.

Every backend computes with these functions and restates none of them: sim's numpy tile model and its ngspice
benches, the GAN's crossbar layers (torch tensors, with autograd), the estimators' read power and write energy, and
the netlist writer's component values. Only arithmetic operators and methods that numpy arrays and torch tensors
share are used (`abs`, `.clip`, `.round`, `.sum`, `@`), so one formula serves both.

Conventions, one for every backend:
- Signals are voltages. A crossbar's row drivers scale its input by `read_gain` (fixed by the bound of the stage
  before it, `row_drivers`) and limit it to +-V_r, the read voltage, so no read reaches the device threshold; the
  limit never acts on an input within the bound. The bias row is driven at V_r.
- Sign crossbar cell (Fig. 3): a weight w in [-w_max, w_max] is u = w / w_max; its device holds G = |u| g_on, kept
  within [g_off, g_on] and on the level grid, and its sign device g_on for + and g_off for -. The column computes
  sum_i s_i G_i x_i, so a device stands for the weight s G w_max / g_on: no |w| below w_max g_off / g_on exists.
- Differential pair: G+ = g_off + max(u, 0) span, G- = g_off + max(-u, 0) span (span = g_on - g_off): the idle
  device of a pair rests at g_off, the least read power, and w = (G+ - G-) w_max / span.
- Levels: `levels` equally spaced conductances g_off + k span / (levels - 1); none = continuous.
- Variability: a fixed factor per device, exp(sigma z) (lognormal, median 1) or max(1 + sigma z, 0.01) (normal);
  write noise: an offset sigma_w (one level step) z drawn at each write. A device reads
  G = clip(G_programmed + offset, g_off, g_on) x factor.
- Writes: threshold switching dx/dt = k (|V| - V_th) on the state x in [0, 1] (G = g_off + x span). A pulse of
  t_write at V_write moves x by k (V_write - V_th) t_write; a change dx takes max(1, round(|dx| / that)) pulses, each
  costing V_write^2 t_write (G_before + G_after) / 2.
- Readouts, column j, N_j = sum_i s_ij G_ij x_i, G_j = sum_i G_ij over the tile's own rows:
  load memristor (Fig. 2): V_j = N_j / (G_j + g_L), never beyond the inputs; a differential pair's difference
  amplifier gives V+_j - V-_j, clipped to the supplies.
  OpAmp IVC (Fig. 3), finite gain A, feedback R_f, output swing [lo, hi], re-inverted by a unity stage:
  V_j = clip(N_j / (1/R_f + (G_j + 1/R_f) / A), -hi, -lo); R_f is sized per tile so that rows x V_r x g_on reaches
  hi. A differential pair's G- column is mirrored out of the summing node, which sees G+ only.
  Row-split tiles meet at the summing amplifier: clip(gain x sum of the partials, vss, vdd).
- Sign read (Fig. 3): the sign column at V_r, the rows at the thresholding circuits' virtual grounds; a row current
  above V_r (g_on + g_off) / 2 reads +.
- Read power: what the row drivers deliver, sum_ij G_ij x_i (x_i - V_col_j), plus the sign column's read.
- Wires: rows and columns of resistance r_row, r_col per cell segment (`amdcgan.hdl.wires`). The tile is then a
  resistive mesh whose outputs are still linear in the row voltages, x @ T, T solved exactly (numpy arrays: sparse
  direct solve; torch tensors: the batched ladder solve of `amdcgan.hdl.wires_torch`, with autograd). Sign crossbar:
  s * T, every column read with the rows sign-switched for it; differential pair, load memristors: T over both
  device columns, T+ - T-; differential pair, IVC: the mirrored pairs solved exactly by superposition
  (`mirrored_pair_transfers`). The wired matrix is written as the ideal one times a factor per device position
  (`wire_factors`), so that a trainer may keep the factors of its last solve while devices change. With both
  resistances 0 nothing of this runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .spec import Activation, Architecture, BatchNorm, Memristor, Readout, WeightEncoding

PAPER_LEVELS = 128  # the paper's levels: the write rate of a device that states none moves one of them per pulse
NORMAL_FLOOR = 0.01  # a normal variability draw keeps at least 1 % of the conductance


def _tanh(values):
    return values.tanh() if hasattr(values, "tanh") else np.tanh(values)


# ---------------------------------------------------------------------------------------------------------------------
# The cell


@dataclass(frozen=True)
class Cell:
    """One weight held in devices: conductances, levels, variability, write pulses and their energy."""

    encoding: WeightEncoding
    g_on: float
    g_off: float
    levels: int | None
    variability: float
    distribution: str
    write_noise: float
    v_write: float
    v_threshold: float
    t_write: float
    switching_rate: float

    @classmethod
    def of(cls, device: Memristor, encoding: WeightEncoding) -> "Cell":
        rate = device.switching_rate_s_per_v
        if rate <= 0:  # one level step per pulse at V_write
            rate = 1.0 / (((device.levels or PAPER_LEVELS) - 1) * device.t_write_s
                          * (device.v_write_v - device.v_threshold_v))
        return cls(encoding, device.g_on_s, device.g_off_s, device.levels, device.variability_sigma,
                   device.variability_distribution, device.write_noise_sigma, device.v_write_v,
                   device.v_threshold_v, device.t_write_s, rate)

    @property
    def differential(self) -> bool:
        return self.encoding is WeightEncoding.differential_pair

    @property
    def span(self) -> float:
        return self.g_on - self.g_off

    @property
    def g_step(self) -> float:
        """One level step (the whole range for continuous devices)."""
        return self.span / (self.levels - 1) if self.levels else self.span

    def state_conductance(self, state):
        """The conductance of a device whose state (in [0, 1]) is `state`."""
        return self.g_off + state * self.span

    @property
    def state_per_pulse(self) -> float:
        return self.switching_rate * (self.v_write - self.v_threshold) * self.t_write

    # -- weights <-> conductances ----------------------------------------------------------------------------------
    def conductance(self, level):
        """The conductance of a level coordinate: an integer 0..levels-1, or the state in [0, 1] when continuous."""
        return self.g_off + level * self.g_step

    def level(self, conductance):
        return (conductance - self.g_off) / self.g_step

    def quantise(self, conductance):
        """Within [g_off, g_on] and, with finite levels, the nearest level."""
        g = conductance.clip(self.g_off, self.g_on)
        if not self.levels:
            return g
        return self.g_off + ((g - self.g_off) / self.g_step).round() * self.g_step

    def encode(self, unit):
        """(main, second) conductances for unit weights u = w / w_max: (magnitudes, signs +-1) or (G+, G-)."""
        if self.differential:
            return (self.quantise(self.g_off + unit.clip(0, None) * self.span),
                    self.quantise(self.g_off + (-unit).clip(0, None) * self.span))
        return self.quantise(abs(unit) * self.g_on), (unit >= 0) * 2.0 - 1.0

    def continuous(self, unit):
        """The encoding on a continuous device of unlimited range: the differentiable stand-in whose gradients
        training follows while the devices' own conductances supply the values. Sign crossbar: (|u| g_on, u g_on),
        magnitudes and signed conductances, so that a device whose sign differs from u's still passes the gradient
        of u; differential pair: (G+, G-)."""
        if self.differential:
            return self.g_off + unit.clip(0, None) * self.span, self.g_off + (-unit).clip(0, None) * self.span
        return abs(unit) * self.g_on, unit * self.g_on

    def continuous_slopes(self, unit):
        """d(main)/du and d(second)/du of `continuous` (a fast gradient path uses them; a test holds them to it).
        They depend on u only through its sign, so any positive multiple of u (the weights) gives them."""
        if self.differential:
            sign = unit.sign()  # in u's own precision
            return sign.clip(0, None) * self.span, sign.clip(None, 0) * self.span
        return unit.sign() * self.g_on, self.g_on

    def signed(self, main, second):
        """The signed conductance each weight presents to its column: s G, or G+ - G-."""
        return main - second if self.differential else second * main

    def decode(self, main, second):
        """The unit weights u = w / w_max that conductances stand for."""
        return self.signed(main, second) / (self.span if self.differential else self.g_on)

    def sign_conductance(self, signs):
        """The binary sign device: g_on holds +, g_off holds -."""
        return self.g_off + (signs > 0) * self.span

    # -- non-idealities --------------------------------------------------------------------------------------------
    def variation(self, z):
        """The fixed device-to-device factor for standard normal draws z."""
        if self.distribution == "lognormal":
            return (self.variability * z).exp() if hasattr(z, "exp") else np.exp(self.variability * z)
        return (1.0 + self.variability * z).clip(NORMAL_FLOOR, None)

    def write_offset(self, z):
        """The conductance offset a write leaves, for standard normal draws z."""
        return self.write_noise * self.g_step * z

    def read_conductance(self, programmed, offset, factor):
        return (programmed + offset).clip(self.g_off, self.g_on) * factor

    # -- writes ----------------------------------------------------------------------------------------------------
    def pulses(self, g_before, g_after):
        """Write pulses that move each device from g_before to g_after (0 where it stays)."""
        steps = abs(g_after - g_before) / (self.span * self.state_per_pulse)
        return steps.round().clip(1, None) * (g_after != g_before)

    def write_energy_j(self, pulses, g_before, g_after):
        return pulses * self.v_write ** 2 * self.t_write * (g_before + g_after) / 2

    def state_change_per_read(self, volts, read_pulse_s: float):
        """Read disturb: the state change one read of `volts` across a device causes (0 below the threshold)."""
        over = (abs(volts) - self.v_threshold).clip(0, None)
        return self.switching_rate * over * read_pulse_s * ((volts > 0) * 2.0 - 1.0)


# ---------------------------------------------------------------------------------------------------------------------
# The periphery


@dataclass(frozen=True)
class Periphery:
    """Supplies, read voltage and the readout circuits of every tile of one architecture."""

    vdd: float
    vss: float
    v_read: float
    v_threshold: float
    g_on: float
    g_off: float
    g_load: float
    opamp_gain: float
    opamp_gbw_hz: float
    headroom: float
    feedback_ohm: float | None
    summing_gain: float
    read_pulse_s: float
    read_disturb: bool
    row_wire_ohm: float = 0.0
    column_wire_ohm: float = 0.0
    tanh_amplitude: float | None = None  # the tanh circuit's amplitude and input scale (volts); None: vdd

    @classmethod
    def of(cls, architecture: Architecture) -> "Periphery":
        choice, device, technology = architecture.periphery, architecture.device, architecture.technology
        return cls(technology.vdd_v, technology.vss_v, architecture.read_voltage_v, device.v_threshold_v,
                   device.g_on_s, device.g_off_s, choice.load_conductance_s or device.g_on_s, choice.opamp_gain,
                   choice.opamp_gbw_hz, choice.opamp_headroom_v, choice.ivc_feedback_ohm, choice.summing_gain,
                   choice.read_pulse_s, choice.read_disturb, choice.row_wire_ohm, choice.column_wire_ohm,
                   choice.tanh_amplitude_v)

    @property
    def wired(self) -> bool:
        """Whether the crossbars' wires have resistance (else every tile takes the ideal forms)."""
        return self.row_wire_ohm > 0 or self.column_wire_ohm > 0

    def for_layer(self, plan) -> "Periphery":
        """The periphery of one layer (its `LayerPlan`): the layer may set its own summing amplifier's gain."""
        return self if plan.summing_gain == self.summing_gain else replace(self, summing_gain=plan.summing_gain)

    def ideal_wires(self) -> "Periphery":
        return replace(self, row_wire_ohm=0.0, column_wire_ohm=0.0)

    @property
    def rail(self) -> float:
        return max(self.vdd, -self.vss)

    def swing(self) -> tuple[float, float]:
        """The IVC OpAmp's output range."""
        return self.vss + self.headroom, self.vdd - self.headroom

    def feedback(self, rows: int) -> float:
        """IVC feedback: full scale (every row at V_r on g_on devices) just reaches the swing."""
        if self.feedback_ohm is not None:
            return self.feedback_ohm
        return self.swing()[1] / (rows * self.v_read * self.g_on)

    def column_gain(self, node_conductance, rows: int, readout: Readout):
        """Volts out per ampere of weighted column current N_j, for the conductance G_j the column node sees."""
        if readout is Readout.load_memristor:
            return 1.0 / (node_conductance + self.g_load)
        feedback_s = 1.0 / self.feedback(rows)
        return 1.0 / (feedback_s + (node_conductance + feedback_s) / self.opamp_gain)

    def output_clip(self, encoding: WeightEncoding, readout: Readout) -> tuple[float, float] | None:
        """Where a tile's column outputs clip; none for a sign-crossbar load readout (it cannot pass its inputs)."""
        if readout is Readout.opamp_ivc:
            low, high = self.swing()
            return -high, -low
        return (self.vss, self.vdd) if encoding is WeightEncoding.differential_pair else None

    def output_bound(self, encoding: WeightEncoding, readout: Readout, input_bound: float) -> float:
        """The largest |output| of a tile whose row inputs stay within +-input_bound."""
        if readout is Readout.opamp_ivc:
            return max(abs(bound) for bound in self.swing())
        if encoding is WeightEncoding.differential_pair:
            return min(2 * input_bound, self.rail)
        return input_bound

    def sum_partials(self, total, unit_v: float = 1.0):
        """The summing amplifier that adds row-split partial results (`total` is their sum, in units of unit_v)."""
        return _limit(total if self.summing_gain == 1.0 else self.summing_gain * total, *self.summing_rails(unit_v))

    def summing_rails(self, unit_v: float = 1.0) -> tuple[float, float]:
        """The summing amplifier's output limits, its supplies, in units of unit_v."""
        return self.vss / unit_v, self.vdd / unit_v

    def read_gain(self, input_bound: float) -> float:
        """Row-driver gain for inputs within +-input_bound: none above 1, reads at most V_r."""
        return min(1.0, self.v_read / input_bound) if input_bound > 0 else 1.0

    def drive_limit(self, unit_v: float = 1.0) -> float:
        """The row drivers' limit, +-V_r, in units of unit_v."""
        return self.v_read / unit_v

    def drive_rows(self, signal, gain: float, unit_v: float = 1.0):
        """Row voltages (in units of unit_v): the input scaled by the driver's gain and limited to +-V_r."""
        limit = self.drive_limit(unit_v)
        return _limit(signal if gain == 1.0 else signal * gain, -limit, limit)

    @property
    def sign_threshold_a(self) -> float:
        """The thresholding circuit's reference current: midway between a sign device at g_on and at g_off."""
        return self.v_read * (self.g_on + self.g_off) / 2

    # -- activation circuits (behavioural; a characterised transfer table replaces these where given) -------------
    def activation(self, signal, function: str, enabled: bool = True, unit_v: float = 1.0):
        """The activation circuit's output for an input `signal`, both in units of unit_v (default volts)."""
        if function in ("relu", "relu_switch"):
            out = _limit(signal, 0.0, self.vdd / unit_v)
            return out if enabled else out * 0.0
        if function == "tanh":
            amplitude = self.tanh_volts / unit_v
            return amplitude * _tanh(signal / amplitude)
        if function == "linear":
            return signal
        raise ValueError(f"unknown activation {function!r}")

    def activation_bound(self, function: str, input_bound: float) -> float:
        if function in ("relu", "relu_switch"):
            return min(input_bound, self.vdd)
        if function == "tanh":
            return float(self.tanh_volts * np.tanh(input_bound / self.tanh_volts))
        return input_bound

    @property
    def tanh_volts(self) -> float:
        """The tanh circuit's amplitude and input scale: v_out = A tanh(v_in / A)."""
        return self.vdd if self.tanh_amplitude is None else self.tanh_amplitude


@dataclass(frozen=True)
class RowDriver:
    """A crossbar layer's row drivers: their gain and the bound of the input they receive (volts)."""

    gain: float
    input_bound: float

    def may_limit(self, periphery: Periphery) -> bool:
        """Whether an input within the bound can reach the drivers' limit (never with `Periphery.read_gain`)."""
        return self.gain * self.input_bound > periphery.v_read * (1 + 1e-12)


def row_drivers(architecture: Architecture, plan) -> dict[str, RowDriver]:
    """Every crossbar layer's row drivers ('network.layer'), from the bound of the stage feeding it.

    Bounds follow the signal: the Generator's noise is clipped at the supplies; the Discriminator sees real images
    at +-V_r and the Generator's output; a tile's output is bounded by its readout (`Periphery.output_bound`), row
    splits by the summing amplifier, activations by their transfer, batch norm by the supplies; pooling, dropout
    and reshapes keep it. The gain `Periphery.read_gain` then keeps every read within V_r."""
    from .shapes import network_shapes

    periphery = Periphery.of(architecture)
    drivers: dict[str, RowDriver] = {}
    outputs: dict[str, float] = {}
    for name in ("generator", "discriminator"):
        network = next(network for network in plan.networks if network.name == name)
        bound = periphery.rail if name == "generator" else max(periphery.v_read, outputs["generator"])
        layers = {layer.name: layer for layer in network.layers}
        for shape in network_shapes(architecture.networks()[name]):
            layer = layers.get(shape.name)
            if layer is not None:
                drivers[f"{name}.{layer.name}"] = RowDriver(periphery.read_gain(bound), bound)
            bound = stage_bound(periphery, shape.layer, bound, layer)
        outputs[name] = bound
    return drivers


def stage_bound(periphery: Periphery, stage, bound: float, plan=None) -> float:
    """The bound (volts) of a stage's output for inputs within +-bound: a crossbar layer (given its plan) by its
    readout and summing amplifier, an activation by its transfer, batch norm by the supplies; others keep it."""
    if plan is not None:
        bound = periphery.output_bound(plan.encoding, plan.readout, periphery.v_read)
        if len(plan.row_splits) > 1:
            bound = min(plan.summing_gain * len(plan.row_splits) * bound, periphery.rail)
        return bound
    if isinstance(stage, Activation):
        return periphery.activation_bound(stage.function, bound)
    if isinstance(stage, BatchNorm) and stage.enabled:
        return periphery.rail
    return bound


def activation_spice(function: str, node: str, enable: str, vdd: float, tanh_volts: float) -> str:
    """The same activation transfers as `Periphery.activation`, as an ngspice B-source expression (`tanh_volts`:
    `Periphery.tanh_volts`)."""
    supply = f"{float(vdd):.12g}"
    clipped = f"max(min(v({node}), {supply}), 0)"
    if function == "relu":
        return clipped
    if function == "relu_switch":
        return f"v({enable}) > {float(vdd) / 2:.12g} ? {clipped} : 0"
    if function == "tanh":
        amplitude = f"{float(tanh_volts):.12g}"
        return f"{amplitude}*tanh(v({node})/{amplitude})"
    if function == "linear":
        return f"v({node})"
    raise ValueError(f"unknown activation {function!r}")


# ---------------------------------------------------------------------------------------------------------------------
# A tile


def effective_matrix(main, second, cell: Cell, readout: Readout, periphery: Periphery, signed=None, tiles=None,
                     factors=None):
    """(rows, columns) volts out per volt in: a tile's outputs are `x @ this`, then `periphery.output_clip`.

    `signed`: the sign crossbar's signed conductances s G when they carry gradients of their own (training).
    `tiles`: each row's row-split tile (an integer array, tiles numbered from 0), whose columns sum over its own
    rows (default: all rows are one tile).
    With wires, `factors` (`wire_factors`, of the same shape as `main`) are the wires' effect per device position;
    for one tile they are solved here from `main` and `second` by default (exact; with torch tensors, gradients
    flow through the solve)."""
    if periphery.wired and factors is None:
        if tiles is not None:
            raise ValueError("with wires, solve every tile's wire_factors and pass them (or one tile at a time)")
        factors = wire_factors(main, second, cell, readout, periphery)

    def gain(devices):
        return tile_column_gains(devices, readout, periphery, tiles)[0]

    if cell.differential:
        if readout is Readout.load_memristor:
            if factors is None:
                return main * gain(main) - second * gain(second)
            return main * gain(main) * factors[0] - second * gain(second) * factors[1]
        if factors is None:
            return (main - second) * gain(main)
        return (main * factors[0] - second * factors[1]) * gain(main)
    signed = second * main if signed is None else signed
    return signed * gain(main) if factors is None else signed * gain(main) * factors[0]


def tile_column_sums(devices, tiles=None):
    """(tiles, columns): each tile's column conductance sums (`tiles`: each row's tile; default: one tile)."""
    return devices.sum(0)[None] if tiles is None else _tile_sums(devices, tiles, int(tiles.max()) + 1)


def tile_column_gains(devices, readout: Readout, periphery: Periphery, tiles=None, sums=None):
    """(per row, per tile): each device's column gain (volts per ampere of its tile's column, for that column's
    own conductance sum) and the same per tile (tiles, columns). `tiles`: each row's tile (default: one tile);
    `sums`: `tile_column_sums` when already known (a gradient takes them as its leaf)."""
    sums = tile_column_sums(devices, tiles) if sums is None else sums
    if tiles is None:
        gains = periphery.column_gain(sums, devices.shape[0], readout)
        return gains, gains
    ones = np.ones((len(tiles), 1)) if _is_numpy(tiles) else devices.new_ones(len(tiles), 1)
    rows = _tile_sums(ones, tiles, sums.shape[0])  # (tiles, 1)
    gains = periphery.column_gain(sums, rows, readout)
    return _per_row(gains, tiles), gains


def _per_row(per_tile, tiles):
    """Each row's entry of a (tiles, ...) array (torch's index_select is the fast gather)."""
    return per_tile[tiles] if _is_numpy(per_tile) else per_tile.index_select(0, tiles)


def _limit(values, low: float, high: float):
    """`values` clipped to [low, high]; torch's in one fused pass each way (forward and gradient)."""
    if _is_numpy(values):
        return values.clip(low, high)
    from torch.nn.functional import hardtanh
    return hardtanh(values, low, high)


def _tile_sums(values, tiles, count: int):
    """(count, columns): the sums of `values`' rows over each tile (`tiles`: each row's tile)."""
    if _is_numpy(values):
        sums = np.zeros((count, values.shape[1]), dtype=values.dtype)
        np.add.at(sums, tiles, values)
        return sums
    return values.new_zeros(count, values.shape[1]).index_add(0, tiles, values)


def _is_numpy(values) -> bool:
    return isinstance(values, np.ndarray)


def _solver(values):
    """The wire-mesh solver for this kind of array: sparse direct for numpy, the batched ladder for torch."""
    if _is_numpy(values):
        from . import wires
        return wires
    from . import wires_torch
    return wires_torch


def _side_by_side(main, second):
    """A differential pair's devices as laid out: G+ and G- columns alternating."""
    if _is_numpy(main):
        return np.stack([main, second], -1).reshape(*main.shape[:-1], -1)
    import torch
    return torch.stack([main, second], -1).reshape(*main.shape[:-1], -1)


def _end_admittance(devices, periphery: Periphery):
    """Y_e (..., columns, columns): the currents column-end sources deliver into the mesh, rows grounded. It is the
    input admittance of the transposed mesh (column k becomes row C-1-k, row i becomes column R-1-i, the wires
    swap)."""
    r_row, r_col = periphery.row_wire_ohm, periphery.column_wire_ohm
    if _is_numpy(devices):
        from .wires import WireMesh
        return WireMesh(devices[::-1, ::-1].T, r_col, r_row, None).input_admittance()[::-1, ::-1]
    from .wires_torch import input_admittance
    return input_admittance(devices.flip(-2, -1).swapaxes(-1, -2), r_col, r_row, None).flip(-2, -1)


def mirrored_pair_transfers(plus, minus, periphery: Periphery):
    """(P+, P-) (..., rows, pairs): a differential pair's IVC with wires outputs x @ (P+ - P-), exactly.

    Each G- column ends at the mirror's virtual ground, whose current is drawn out of the G+ column's end, itself
    held by the finite-gain IVC's input conductance g_t = (1 + A) / R_f. By superposition, the currents the mesh
    brings into the column ends are T^T x - Y_e e: T with every end at a virtual ground, Y_e the admittance seen
    from the ends with the rows grounded. With e- = 0 the G+ ends satisfy (g_t + Y_++ - Y_-+) e+ = (T+ - T-)^T x,
    and the output is A e+."""
    from .wires import readout_termination

    rows = plus.shape[-2]
    devices = _side_by_side(plus, minus)
    transfer = _solver(plus).effective_transfer(devices, periphery.row_wire_ohm, periphery.column_wire_ohm, None)
    ends = _end_admittance(devices, periphery)
    termination, volts_per_volt = readout_termination(Readout.opamp_ivc, periphery, rows)
    nodal = ends[..., 0::2, 0::2] - ends[..., 1::2, 0::2]
    pairs = nodal.shape[-1]
    if _is_numpy(nodal):
        both = np.concatenate([transfer[..., 0::2], transfer[..., 1::2]], -2).swapaxes(-1, -2)
        solved = np.linalg.solve(nodal + termination * np.eye(pairs), both)
    else:
        import torch
        both = torch.cat([transfer[..., 0::2], transfer[..., 1::2]], -2).swapaxes(-1, -2)
        identity = torch.eye(pairs, dtype=nodal.dtype, device=nodal.device)
        solved = torch.linalg.solve(nodal + termination * identity, both)
    solved = volts_per_volt * solved.swapaxes(-1, -2)
    return solved[..., :rows, :], solved[..., rows:, :]


def wire_factors(main, second, cell: Cell, readout: Readout, periphery: Periphery):
    """(main factor, second factor or None), (..., rows, columns): the tile's exact transfer with wires divided by
    the ideal-wire term of each device array, so that `effective_matrix(..., factors=these)` is the wired matrix
    (the devices' conductances are > 0: g_off at least). Numpy arrays (one tile) or torch tensors (tiles of one
    shape stacked along leading dimensions; with autograd)."""
    from .wires import readout_termination

    rows, solver = main.shape[-2], _solver(main)
    r_row, r_col = periphery.row_wire_ohm, periphery.column_wire_ohm

    def gain(devices):
        return periphery.column_gain(devices.sum(-2), rows, readout)[..., None, :]

    if cell.differential:
        if readout is Readout.load_memristor:
            transfer = solver.effective_transfer(_side_by_side(main, second), r_row, r_col, periphery.g_load)
            return transfer[..., 0::2] / (main * gain(main)), transfer[..., 1::2] / (second * gain(second))
        plus, minus = mirrored_pair_transfers(main, second, periphery)
        return plus / (main * gain(main)), minus / (second * gain(main))
    termination, volts_per_volt = readout_termination(readout, periphery, rows)
    transfer = solver.effective_transfer(main, r_row, r_col, termination)
    return volts_per_volt * transfer / (main * gain(main)), None


def tiles_reach_clip(matrix, cell: Cell, readout: Readout, periphery: Periphery, tiles=None,
                     input_bound: float = 1.0) -> bool:
    """Whether any tile's column of this effective matrix can reach its readout's clip for row inputs within
    +-input_bound (volts): a column's largest output is input_bound * sum |E_ic| over its tile's rows. Where none
    can, the row splits' clips are idle and one whole product is exact."""
    bounds = periphery.output_clip(cell.encoding, readout)
    if bounds is None:
        return False
    peak = tile_column_sums(abs(matrix), tiles).max()
    return float(peak) * input_bound >= min(-bounds[0], bounds[1])


def clip_outputs(values, cell: Cell, readout: Readout, periphery: Periphery, unit_v: float = 1.0):
    """A tile's outputs (in units of unit_v) clipped where its readout clips."""
    bounds = periphery.output_clip(cell.encoding, readout)
    return values if bounds is None else values.clip(bounds[0] / unit_v, bounds[1] / unit_v)


def tile_outputs(rows_v, main, second, cell: Cell, readout: Readout, periphery: Periphery):
    """Column outputs (batch, columns) in volts of one tile for row voltages (batch, rows)."""
    return clip_outputs(rows_v @ effective_matrix(main, second, cell, readout, periphery), cell, readout, periphery)


def column_node_voltages(driven_v, main, readout: Readout, periphery: Periphery, rows: int, current=None):
    """Voltages of the device columns (batch, columns) for row voltages as driven onto this crossbar. `current`: what
    the column node receives (default driven_v @ main; a differential pair's IVC node also loses the mirrored G-).
    An IVC's summing node settles where KCL puts it for the amplifier's (clipped) output: V_out / A in the linear
    range, further off ground once the output clips."""
    current = driven_v @ main if current is None else current
    if readout is Readout.load_memristor:
        return current / (main.sum(0) + periphery.g_load)
    feedback_s = 1.0 / periphery.feedback(rows)
    node_s = main.sum(0) + feedback_s
    low, high = periphery.swing()
    output = (current / (feedback_s + node_s / periphery.opamp_gain)).clip(-high, -low)
    return (current - output * feedback_s) / node_s


def read_power_w(rows_v: np.ndarray, main: np.ndarray, second: np.ndarray, cell: Cell, readout: Readout,
                 periphery: Periphery) -> np.ndarray:
    """Power (batch,) the row drivers deliver to a tile's main crossbar, averaged over the reads of one cycle.

    Sign crossbar: the columns are read one after another, each with the rows sign-switched for that column (every
    column conducts in each read); the average is over the columns. Differential pair: one read; with an IVC the
    G- columns sit at the mirror's grounded input. With wires: x^T Y x, Y the mesh's input admittance
    (`amdcgan.hdl.wires`), everything the wires dissipate included; an IVC's input is taken in its linear range
    (the summing node's shift once its output clips is modelled with ideal wires only)."""
    x = np.atleast_2d(rows_v)
    rows = main.shape[0]
    if periphery.wired:
        return _wired_read_power_w(x, main, second, cell, readout, periphery)

    def delivered(driven: np.ndarray, devices: np.ndarray, columns_v: np.ndarray) -> np.ndarray:
        return (driven ** 2) @ devices.sum(1) - np.sum(columns_v * (driven @ devices), axis=-1)

    if cell.differential:
        mirrored = x @ main - x @ second if readout is Readout.opamp_ivc else None
        plus = delivered(x, main, column_node_voltages(x, main, readout, periphery, rows, mirrored))
        minus_columns = (column_node_voltages(x, second, readout, periphery, rows)
                         if readout is Readout.load_memristor else np.zeros((x.shape[0], second.shape[1])))
        return plus + delivered(x, second, minus_columns)
    driven = x[:, None, :] * second.T[None]  # (batch, column being read, rows)
    return delivered(driven, main, column_node_voltages(driven, main, readout, periphery, rows)).mean(-1)


def _wired_read_power_w(x: np.ndarray, main: np.ndarray, second: np.ndarray, cell: Cell, readout: Readout,
                       periphery: Periphery) -> np.ndarray:
    from .wires import WireMesh, readout_termination

    rows = main.shape[0]
    wires = (periphery.row_wire_ohm, periphery.column_wire_ohm)
    if cell.differential:
        termination = (periphery.g_load if readout is Readout.load_memristor
                       else readout_termination(readout, periphery, rows)[0])
        mesh = WireMesh(_side_by_side(main, second), *wires, termination,
                        mirrored_pairs=readout is Readout.opamp_ivc)
        admittance = mesh.input_admittance()
        return np.einsum("bi,ij,bj->b", x, admittance, x)
    admittance = WireMesh(main, *wires, readout_termination(readout, periphery, rows)[0]).input_admittance()
    driven = x[:, None, :] * second.T[None]  # (batch, column being read, rows)
    return np.einsum("bci,ij,bcj->bc", driven, admittance, driven).mean(-1)


def sign_read_power_w(signs: np.ndarray, cell: Cell, periphery: Periphery) -> float:
    """Power of reading a tile's sign crossbar, averaged over its columns: the column at V_r, rows at ground."""
    return float(periphery.v_read ** 2 * cell.sign_conductance(signs).sum(0).mean())


# ---------------------------------------------------------------------------------------------------------------------
# Conductances held by a tile or a layer (numpy), and the file a training run leaves them in


@dataclass(frozen=True)
class Conductances:
    """What a tile or a whole layer holds, in siemens: `main` (rows, columns) and `second` (signs +-1 of the sign
    crossbar, or the G- devices of differential pairs), in weight-matrix order (rows = inputs, bias row last)."""

    cell: Cell
    main: np.ndarray
    second: np.ndarray

    @property
    def rows(self) -> int:
        return self.main.shape[0]

    @property
    def columns(self) -> int:
        """Logical columns (weights per row)."""
        return self.main.shape[1]

    def physical(self) -> np.ndarray:
        """The main crossbar as laid out: a differential pair's G+ and G- columns side by side."""
        if not self.cell.differential:
            return self.main
        pair = np.empty((self.rows, 2 * self.columns))
        pair[:, 0::2], pair[:, 1::2] = self.main, self.second
        return pair

    def sign_devices(self) -> np.ndarray | None:
        return None if self.cell.differential else self.cell.sign_conductance(self.second)

    def block(self, rows: tuple[int, int], columns: tuple[int, int]) -> "Conductances":
        """The devices of one tile of a layer."""
        (r0, r1), (c0, c1) = rows, columns
        return Conductances(self.cell, self.main[r0:r1, c0:c1], self.second[r0:r1, c0:c1])

    def with_variability(self, rng: np.random.Generator, sigma: float | None = None) -> "Conductances":
        """Every device of the main crossbar (both of a pair) times a fresh device-to-device factor."""
        cell = self.cell if sigma is None else replace(self.cell, variability=sigma)
        main = self.main * cell.variation(rng.standard_normal(self.main.shape))
        if not self.cell.differential:
            return Conductances(self.cell, main, self.second)
        return Conductances(self.cell, main, self.second * cell.variation(rng.standard_normal(self.second.shape)))


def encode_weights(weights: np.ndarray, cell: Cell, weight_max: float | None = None) -> Conductances:
    """Conductances holding `weights` (rows, columns); weight_max (default: the largest |w|) maps onto g_on."""
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2 or weights.size == 0:
        raise ValueError(f"weights must be a non-empty (rows, columns) matrix, got shape {weights.shape}")
    scale = float(np.max(np.abs(weights))) if weight_max is None else float(weight_max)
    unit = np.clip(weights / scale, -1.0, 1.0) if scale > 0 else np.zeros_like(weights)
    return Conductances(cell, *cell.encode(unit))


def layer_outputs(rows_v: np.ndarray, layer: Conductances, plan, periphery: Periphery) -> np.ndarray:
    """A whole layer's outputs (batch, columns) in volts: its tiles (`plan`, a LayerPlan), each row split's partials
    summed by the layer's summing amplifier."""
    x = np.atleast_2d(rows_v)
    out = np.zeros((x.shape[0], layer.columns))
    periphery = periphery.for_layer(plan)
    for c0, c1 in plan.column_splits:
        partials = [tile_outputs(x[:, r0:r1], *_devices(layer.block((r0, r1), (c0, c1))), layer.cell, plan.readout,
                                 periphery) for r0, r1 in plan.row_splits]
        out[:, c0:c1] = partials[0] if len(partials) == 1 else periphery.sum_partials(sum(partials))
    return out


def _devices(tile: Conductances) -> tuple[np.ndarray, np.ndarray]:
    return tile.main, tile.second


RUN_CONDUCTANCES = "conductances.npz"


def save_run_conductances(layers: dict[str, Conductances], weight_max: float) -> bytes:
    """The .npz bytes of a run's conductances: NETWORK.LAYER.main / .second per layer, the encoding per layer."""
    import io

    arrays = {"weight_max": np.array(weight_max)}
    for name, layer in layers.items():
        arrays[f"{name}.main"] = layer.main
        arrays[f"{name}.second"] = layer.second
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def load_run_conductances(run_dir, plan, device: Memristor) -> dict[str, Conductances]:
    """The conductances a training run left in RUN/conductances.npz, checked against the tile plan."""
    from pathlib import Path

    from amdcgan.errors import UserError

    path = Path(run_dir) / RUN_CONDUCTANCES
    if not path.is_file():
        raise UserError(f"{run_dir}: no {RUN_CONDUCTANCES} there (a run of `amdcgan train` in insitu or exsitu mode "
                        "writes it)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: np.asarray(archive[name], dtype=float) for name in archive.files}
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: not a readable .npz file of arrays ({error})") from None
    layers = {}
    for layer in plan.layers():
        key = f"{layer.network}.{layer.name}"
        main, second = arrays.get(f"{key}.main"), arrays.get(f"{key}.second")
        shape = (layer.weight_rows, layer.weight_columns)
        if main is None or second is None:
            raise UserError(f"{path}: no conductances for layer {key}; was the run made with this architecture?")
        if main.shape != shape or second.shape != shape:
            raise UserError(f"{path}: layer {key} holds {list(main.shape)}, the architecture needs {list(shape)}")
        if not (np.all(np.isfinite(main)) and np.all(np.isfinite(second))):
            raise UserError(f"{path}: layer {key} holds NaN or infinite values")
        layers[key] = Conductances(Cell.of(device, layer.encoding), main, second)
    return layers
