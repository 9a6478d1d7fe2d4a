"""`amdcgan characterize`: every periphery circuit at transistor level, simulated across corners and temperatures,
written as a component library in the project's own format.

For each circuit kind: the netlist (`hdl.circuits`), a test bench, and what is measured from it:
- power_mw: supply currents at the operating point (signal inputs at 0 V, switches closed; the comparator resting
  with its input 10 mV below the reference) times the supply voltages;
- area_um2: the rule-based estimate of `hdl.process` (no layout drawn);
- opamp (the column IVC): open-loop DC gain, unity-gain frequency and phase margin with the IVC's feedback
  resistor as load; transfer error against -Rf i_in; slew rate and 1 % settling time of a half-scale current step;
- summing amplifier, batch norm, averager, sign switch: transfer error against the function they compute;
- thresholding: input offset (switching point of a DC sweep) and delay of a +-10 mV step (input crossing to output
  crossing 0 V);
- relu, relu_switch (on and off), tanh: transfer curves v_in -> v_out over vss..vdd as CSV, and their error against
  min(max(v, 0), vdd), 0 and vdd tanh(v / vdd);
- dropout and crossbar switches: on-resistance over the signal range (10 mV across) and off-state leakage.
The library's power of each kind is the tt, 27 C value (the first corner and the temperature nearest 27 C when tt
or 27 C are not simulated); every simulated condition is kept under `measured`.
"""

from __future__ import annotations

import csv
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from amdcgan.errors import UserError
from amdcgan.fileio import write_text_atomic
from amdcgan.hdl import circuits
from amdcgan.hdl.process import Process, load_process
from amdcgan.hdl.spec import Component, ComponentKind, ComponentLibrary, Measurement

from .sky130 import find_models, reduced_models
from .spicebench import Analysis, Bench, run_bench

TECHNOLOGIES = ("sky130",)
NOMINAL = ("tt", 27.0)


@dataclass
class Result:
    power_mw: float
    figures: dict[str, float]
    curves: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Characterization:
    """A circuit kind: its netlist, its bench and how figures are read from the bench's vectors."""

    kind: ComponentKind
    circuit: circuits.Subcircuit
    bench: Callable[[bool], Bench]
    measure: Callable[[dict], Result]


def _supplies(process: Process) -> list[str]:
    """The circuit under test on vdd/vss (its power is measured there), helpers of the bench on vdda/vssa."""
    return [f"vdd vdd 0 {process.vdd_v:g}", f"vss vss 0 {process.vss_v:g}",
            f"vdda vdda 0 {process.vdd_v:g}", f"vssa vssa 0 {process.vss_v:g}"]


def _power_mw(process: Process, op: dict) -> float:
    """Power drawn from both supplies (a source delivering power carries a negative branch current)."""
    watts = -(process.vdd_v * op["i(vdd)"][0] + process.vss_v * op["i(vss)"][0])
    return max(0.0, float(watts)) * 1e3


def _sweep(process: Process, quick: bool) -> str:
    """A DC sweep from vss to vdd: 5 mV steps (20 mV quick)."""
    step = 0.02 if quick else 0.005
    return f"{process.vss_v:g} {process.vdd_v + step / 2:g} {step:g}"


def _bench(title: str, process: Process, circuit: circuits.Subcircuit, lines: list[str]) -> Bench:
    return Bench(title, [circuit.text(), *_supplies(process), *lines])


# ---------------------------------------------------------------------------------------------------------------------
# The circuits


def _ivc(process: Process, circuit: circuits.Subcircuit) -> Characterization:
    rf, full = circuit.design["rf_ohm"], circuit.design["i_full_scale_a"]
    amplifier = circuit.instances[0][2]

    def bench(quick: bool) -> Bench:
        b = _bench("IVC", process, circuit, [
            "iin 0 col dc 0", f"xu col out vdd vss {circuit.name}",
            # the open-loop amplifier with the IVC's feedback resistor as its load: DC loop through 1 Gohm / 1 F
            "vac acin 0 dc 0 ac 1", f"xb acin nb bout vdda vssa {amplifier.name}", f"rloadb bout 0 {rf:g}",
            "rdcb bout nb 1e9", "cdcb nb 0 1",
            # a half-scale current step into a column of 1 pF
            f"istep 0 scol dc 0 pulse(0 {full / 2:g} 20n 1n 1n 1 2)", "ccol scol 0 1p",
            f"xs scol sout vdda vssa {circuit.name}",
        ])
        b.analyses["op"] = Analysis("op", ["i(vdd)", "i(vss)", "v(out)"])
        b.analyses["dc"] = Analysis(f"dc iin {-full:g} {full * 1.001:g} {full / (10 if quick else 25):g}", ["v(out)"])
        b.analyses["ac"] = Analysis("ac dec 20 10 10g", ["vdb(bout)", "vp(bout)"])
        b.analyses["tran"] = Analysis(f"tran 0.5n {300 if quick else 600}n", ["v(sout)"])
        return b

    def measure(data: dict) -> Result:
        current, v_out = data["dc"]["scale"], data["dc"]["v(out)"]
        error = np.max(np.abs(v_out + rf * current)) / (rf * full)
        gain_db, phase = data["ac"]["vdb(bout)"], np.degrees(np.unwrap(data["ac"]["vp(bout)"]))
        frequency = data["ac"]["scale"]
        crossing = int(np.argmax(gain_db < 0))
        unity = float(np.interp(0, gain_db[crossing::-1][:2], frequency[crossing::-1][:2])) if crossing else 0.0
        margin = 180 + float(np.interp(unity, frequency, phase)) - float(phase[0])  # phase relative to DC
        time_s, step = data["tran"]["scale"], data["tran"]["v(sout)"]
        return Result(_power_mw(process, data["op"]), {
            "transfer_error_of_full_scale": float(error), "dc_gain_db": float(gain_db[0]),
            "unity_gain_hz": unity, "phase_margin_deg": margin, **_step_figures(time_s, step, 20e-9),
            "rf_ohm": rf, "i_full_scale_a": full})

    return Characterization(ComponentKind.opamp, circuit, bench, measure)


def _step_figures(time_s: np.ndarray, v: np.ndarray, start_s: float) -> dict[str, float]:
    """Slew rate (steepest 10..90 % slope) and time to settle within 1 % of the step after `start_s`."""
    before, after = v[time_s < start_s][-1], v[-1]
    swing = after - before
    progress = (v - before) / swing
    slope = np.abs(np.gradient(v, time_s))
    inside = time_s > start_s
    transition = inside & (progress > 0.1) & (progress < 0.9)
    outside = inside & (np.abs(v - after) > 0.01 * abs(swing))
    settle = float(time_s[outside][-1] - start_s) if outside.any() else 0.0
    slew = float(slope[transition].max()) if transition.any() else math.nan
    return {"slew_v_per_us": slew * 1e-6, "settling_1pct_s": settle, "step_v": float(swing)}


def _adder(process: Process, kind: ComponentKind, circuit: circuits.Subcircuit) -> Characterization:
    """Both inputs at weight 1 (summing amplifier: in0 + in1; batch norm at gain 1: in + bias), one held fixed."""
    fixed = 0.1 if kind is ComponentKind.batch_norm else 0.2
    return _linear(process, kind, circuit, [f"vfix vfix 0 {fixed:g}", f"xu vin vfix out vdd vss {circuit.name}"],
                   -0.5, 0.5, lambda v: -(v + fixed))


def _averager(process: Process, circuit: circuits.Subcircuit) -> Characterization:
    lines = ["vfix1 f1 0 0.3", "vfix2 f2 0 -0.1", "vfix3 f3 0 0.2", "xu vin f1 f2 f3 out vdd vss averager"]
    return _linear(process, ComponentKind.averager, circuit, lines, -0.8, 0.8, lambda v: (v + 0.3 - 0.1 + 0.2) / 4)


def _sign_switch(process: Process, circuit: circuits.Subcircuit) -> Characterization:
    lines = [f"vctl ctl 0 {process.vdd_v:g}", "xu vin out ctl vdd vss sign_switch", "rl out 0 1e9",
             f"vctlb ctlb 0 {process.vss_v:g}", "xn vin outn ctlb vdda vssa sign_switch", "rln outn 0 1e9"]

    def bench(quick: bool) -> Bench:
        b = _bench("sign switch", process, circuit, ["vin vin 0 0", *lines])
        b.analyses["op"] = Analysis("op", ["i(vdd)", "i(vss)"])
        b.analyses["dc"] = Analysis(f"dc vin -0.6 0.601 {0.05 if quick else 0.01}", ["v(out)", "v(outn)"])
        return b

    def measure(data: dict) -> Result:
        v, out, negated = data["dc"]["scale"], data["dc"]["v(out)"], data["dc"]["v(outn)"]
        return Result(_power_mw(process, data["op"]), {
            "pass_error_v": float(np.max(np.abs(out - v))), "invert_error_v": float(np.max(np.abs(negated + v)))})

    return Characterization(ComponentKind.sign_switch, circuit, bench, measure)


def _linear(process: Process, kind: ComponentKind, circuit: circuits.Subcircuit, lines: list[str], low: float,
            high: float, expected: Callable[[np.ndarray], np.ndarray]) -> Characterization:
    def bench(quick: bool) -> Bench:
        b = _bench(kind.value, process, circuit, ["vin vin 0 0", *lines])
        b.analyses["op"] = Analysis("op", ["i(vdd)", "i(vss)"])
        b.analyses["dc"] = Analysis(f"dc vin {low:g} {high + 1e-3:g} {0.05 if quick else 0.01}", ["v(out)"])
        return b

    def measure(data: dict) -> Result:
        v, out = data["dc"]["scale"], data["dc"]["v(out)"]
        return Result(_power_mw(process, data["op"]), {"transfer_error_v": float(np.max(np.abs(out - expected(v))))})

    return Characterization(kind, circuit, bench, measure)


def _thresholding(process: Process, circuit: circuits.Subcircuit) -> Characterization:
    overdrive = 0.01

    def bench(quick: bool) -> Bench:
        b = _bench("thresholding", process, circuit, [
            f"vin vin 0 {-overdrive:g}", "xu vin 0 out vdd vss thresholding",
            f"vstep sin 0 pulse({-overdrive:g} {overdrive:g} 20n 0.1n 0.1n 130n 300n)",
            "xs sin 0 sout vdda vssa thresholding"])
        b.analyses["op"] = Analysis("op", ["i(vdd)", "i(vss)"])
        b.analyses["dc"] = Analysis(f"dc vin -0.02 0.02 {0.0005 if quick else 0.0002}", ["v(out)"])
        b.analyses["tran"] = Analysis("tran 0.2n 280n", ["v(sout)"])
        return b

    def measure(data: dict) -> Result:
        v, out = data["dc"]["scale"], data["dc"]["v(out)"]
        # the input at which the output first crosses 0 V on the way up (the DC sweep rises through the reference)
        switching = _crossing(v, out, v[0], rising=True)
        time_s, step = data["tran"]["scale"], data["tran"]["v(sout)"]
        rise = _crossing(time_s, step, 20e-9, rising=True) - 20.05e-9
        fall = _crossing(time_s, step, 150e-9, rising=False) - 150.05e-9
        return Result(_power_mw(process, data["op"]), {
            "offset_v": switching, "delay_rise_s": rise, "delay_fall_s": fall,
            "high_v": float(out[-1]), "low_v": float(out[0])})

    return Characterization(ComponentKind.thresholding, circuit, bench, measure)


def _crossing(time_s: np.ndarray, v: np.ndarray, after_s: float, rising: bool) -> float:
    """First scale value (time, or the swept input) after `after_s` at which v crosses 0 V in the given sense
    (nan if never)."""
    sign = 1 if rising else -1
    for k in np.nonzero(time_s >= after_s)[0][1:]:
        if sign * v[k - 1] < 0 <= sign * v[k]:
            return float(np.interp(0, [sign * v[k - 1], sign * v[k]], [time_s[k - 1], time_s[k]]))
    return math.nan


def _activation(process: Process, kind: ComponentKind, circuit: circuits.Subcircuit) -> Characterization:
    vdd = process.vdd_v
    if kind is ComponentKind.tanh:
        instances = {"tanh": "xu vin tanh vdd vss tanh"}
        targets = {"tanh": lambda v: vdd * np.tanh(v / vdd)}
    elif kind is ComponentKind.relu:
        instances = {"relu": "xu vin relu vdd vss relu"}
        targets = {"relu": lambda v: np.clip(v, 0, vdd)}
    else:
        instances = {"relu_switch": "xu vin relu_switch on vdd vss relu_switch",
                     "relu_switch_off": "xo vin relu_switch_off off vdda vssa relu_switch"}
        targets = {"relu_switch": lambda v: np.clip(v, 0, vdd), "relu_switch_off": np.zeros_like}

    def bench(quick: bool) -> Bench:
        sweep = _sweep(process, quick)
        b = _bench(kind.value, process, circuit, ["vin vin 0 0", f"von on 0 {vdd:g}", f"voff off 0 {process.vss_v:g}",
                                                  *instances.values()])
        b.analyses["op"] = Analysis("op", ["i(vdd)", "i(vss)"])
        b.analyses["dc"] = Analysis(f"dc vin {sweep}", [f"v({curve})" for curve in instances])
        return b

    def measure(data: dict) -> Result:
        v = data["dc"]["scale"]
        curves = {curve: np.column_stack([v, data["dc"][f"v({curve})"]]) for curve in instances}
        figures = {f"{curve}_error_v": float(np.max(np.abs(curves[curve][:, 1] - targets[curve](v))))
                   for curve in instances}
        if kind is ComponentKind.tanh:
            figures.update(fit_tanh(v, curves["tanh"][:, 1]))
        return Result(_power_mw(process, data["op"]), figures, curves)

    return Characterization(kind, circuit, bench, measure)


def fit_tanh(v: np.ndarray, out: np.ndarray) -> dict[str, float]:
    """The closest amplitude tanh(v / scale) + offset (least squares in amplitude and offset, scale searched), and
    the largest deviation from it: how tanh-shaped the curve is, apart from its design values."""
    best = None
    for scale in np.linspace(0.3, 3.0, 541) * np.max(np.abs(v)):
        basis = np.column_stack([np.tanh(v / scale), np.ones_like(v)])
        (amplitude, offset), *_ = np.linalg.lstsq(basis, out, rcond=None)
        residual = float(np.max(np.abs(basis @ [amplitude, offset] - out)))
        if best is None or residual < best[0]:
            best = (residual, float(amplitude), float(scale), float(offset))
    residual, amplitude, scale, offset = best
    return {"fit_amplitude_v": amplitude, "fit_scale_v": scale, "fit_offset_v": offset, "fit_residual_v": residual}


def _switch(process: Process, kind: ComponentKind, circuit: circuits.Subcircuit) -> Characterization:
    drop, r_on_ohm = 0.01, circuit.design["r_on_target_ohm"]

    def bench(quick: bool) -> Bench:
        sweep = _sweep(process, quick)
        b = _bench(kind.value, process, circuit, [
            "vin a 0 0", "eb bb 0 a 0 1", f"vdrop bb b {-drop:g}", f"xu a b on vdd vss {kind.value}",
            f"von on 0 {process.vdd_v:g}",
            "eo ob 0 a 0 -1", f"xo a ob off vdda vssa {kind.value}", f"voff off 0 {process.vss_v:g}",
            "vsense ob obs 0"])
        b.analyses["op"] = Analysis("op", ["i(vdd)", "i(vss)"])
        b.analyses["dc"] = Analysis(f"dc vin {sweep}", ["i(vdrop)", "i(eo)"])
        return b

    def measure(data: dict) -> Result:
        r_on = drop / np.abs(data["dc"]["i(vdrop)"])
        leakage = np.abs(data["dc"]["i(eo)"])
        return Result(_power_mw(process, data["op"]), {
            "r_on_max_ohm": float(r_on.max()), "r_on_min_ohm": float(r_on.min()),
            "r_on_target_ohm": r_on_ohm, "off_leakage_max_a": float(leakage.max())})

    return Characterization(kind, circuit, bench, measure)


def characterizations(process: Process, **design_points) -> dict[ComponentKind, Characterization]:
    """Every component kind of the library (`hdl.circuits.library_circuits`) with its bench."""
    built = {ComponentKind(kind): circuit for kind, circuit in circuits.library_circuits(process, **design_points).items()}
    benches = {
        ComponentKind.opamp: _ivc, ComponentKind.averager: _averager, ComponentKind.thresholding: _thresholding,
        ComponentKind.sign_switch: _sign_switch,
        **{kind: partial(_adder, kind=kind) for kind in (ComponentKind.summing_amplifier, ComponentKind.batch_norm)},
        **{kind: partial(_activation, kind=kind)
           for kind in (ComponentKind.relu, ComponentKind.relu_switch, ComponentKind.tanh)},
        **{kind: partial(_switch, kind=kind) for kind in (ComponentKind.dropout_switch, ComponentKind.crossbar_switch)},
    }
    return {kind: benches[kind](process, circuit=circuit) for kind, circuit in built.items()}


# ---------------------------------------------------------------------------------------------------------------------
# Running and writing


@dataclass
class CharacterizedLibrary:
    library: ComponentLibrary
    results: dict[ComponentKind, dict[tuple[str, float], Result]]
    circuits: dict[ComponentKind, circuits.Subcircuit]
    nominal: tuple[str, float]  # the condition of the library's headline power
    seconds: float


def simulate(item: Characterization, corner: str, temperature_c: float, quick: bool = False) -> Result:
    """One circuit at one corner and temperature."""
    data = run_bench(item.bench(quick), reduced_models(corner), temperature_c)
    return item.measure(data)


def _parse_conditions(corners: tuple[str, ...], temperatures: tuple[float, ...]) -> list[tuple[str, float]]:
    from .sky130 import CORNERS

    unknown = [corner for corner in corners if corner not in CORNERS]
    if unknown or not corners:
        raise UserError(f"--corners: unknown corner(s) {', '.join(unknown) or '(none given)'}; "
                        f"sky130 corners: {', '.join(CORNERS)}")
    bad = [t for t in temperatures if not -55 <= t <= 150]
    if bad or not temperatures:
        raise UserError(f"--temperatures: give one or more temperatures between -55 and 150 C, got {bad or 'none'}")
    return [(corner, float(t)) for corner in corners for t in temperatures]


def characterize(technology: str = "sky130", corners: tuple[str, ...] = ("tt", "ff", "ss"),
                 temperatures: tuple[float, ...] = (-40.0, 27.0, 85.0), quick: bool = False, jobs: int = 1,
                 progress: Callable[[str], None] | None = None) -> CharacterizedLibrary:
    """Simulates every circuit at every condition; the library's headline figures are at tt, 27 C."""
    if technology not in TECHNOLOGIES:
        raise UserError(f"--technology: no transistor models for {technology!r}; characterized: "
                        f"{', '.join(TECHNOLOGIES)}")
    conditions = _parse_conditions(tuple(corners), tuple(temperatures))
    process = load_process(technology)
    source = find_models()
    for corner in corners:
        reduced_models(corner, source)  # build the cached model files once, before the threads start
    chosen = list(characterizations(process).values())
    started = time.perf_counter()
    tasks = [(item, corner, t) for item in chosen for corner, t in conditions]

    def run(task):
        item, corner, t = task
        result = simulate(item, corner, t, quick)
        if progress:
            progress(f"{item.kind.value} {corner} {t:g} C")
        return task, result

    results: dict[ComponentKind, dict[tuple[str, float], Result]] = {item.kind: {} for item in chosen}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for (item, corner, t), result in pool.map(run, tasks):
            results[item.kind][(corner, t)] = result
    seconds = time.perf_counter() - started
    nominal = _nominal(conditions)
    components = {}
    for item in chosen:
        label = item.kind.value
        components[item.kind] = Component(
            power_mw=_finite(results[item.kind][nominal].power_mw, f"{label} power"),
            area_um2=_finite(item.circuit.area_um2(), f"{label} area"),
            source=f"sky130 transistor level, simulated at {nominal[0]} {nominal[1]:g} C; area rule-based "
                   f"(hdl/process.py)",
            netlist_sha256=item.circuit.netlist_sha256(),
            measured=[Measurement(corner=corner, temperature_c=t,
                                  power_mw=_finite(result.power_mw, f"{label} power at {corner} {t:g} C"),
                                  figures={name: _finite(value, f"{label} {name} at {corner} {t:g} C")
                                           for name, value in result.figures.items()},
                                  curves={name: curve_path(corner, t, name) for name in result.curves})
                      for (corner, t), result in results[item.kind].items()])
    provenance = (f"ngspice on the sky130 {source.version} models of sky130_fd_pr__nfet_01v8 and pfet_01v8 "
                  f"(corners {', '.join(corners)}; temperatures {', '.join(f'{t:g}' for t in temperatures)} C; "
                  f"supplies {process.vdd_v:g} V / {process.vss_v:g} V){'; quick sweeps' if quick else ''}")
    library = ComponentLibrary(name="sky130_measured", components=components, provenance=provenance)
    return CharacterizedLibrary(library, results, {item.kind: item.circuit for item in chosen}, nominal, seconds)


def _finite(value: float, what: str) -> float:
    """Six significant digits (more than any measurement here holds); a non-finite figure is an error."""
    if not math.isfinite(value):
        raise UserError(f"{what} could not be measured ({value}): the circuit did not behave as its bench expects")
    return float(f"{value:.6g}")


def _nominal(conditions: list[tuple[str, float]]) -> tuple[str, float]:
    if NOMINAL in conditions:
        return NOMINAL
    corner = "tt" if any(c == "tt" for c, _ in conditions) else conditions[0][0]
    return min((c for c in conditions if c[0] == corner), key=lambda c: abs(c[1] - NOMINAL[1]))


def curve_path(corner: str, temperature_c: float, name: str) -> str:
    return f"curves/{corner}_{temperature_c:g}C/{name}.csv"


def write_csv(path: Path, header: list[str], table: np.ndarray) -> Path:
    lines = [",".join(header), *(",".join(f"{value:.9g}" for value in row) for row in table)]
    return write_text_atomic(path, "\n".join(lines) + "\n")


def write_characterization(result: CharacterizedLibrary, folder: Path) -> list[Path]:
    """The library YAML, the transfer curves as CSV and every circuit's netlist, under `folder`."""
    import yaml

    folder = Path(folder)
    written = []
    for kind, by_condition in result.results.items():
        for (corner, t), measured in by_condition.items():
            for name, table in measured.curves.items():
                written.append(write_csv(folder / curve_path(corner, t, name), ["v_in", "v_out"], table))
    for kind, circuit in result.circuits.items():
        written.append(write_text_atomic(folder / "netlists" / f"{kind.value}.sp",
                                         f"* {kind.value}: sky130 transistor level (amdcgan)\n{circuit.text()}"))
    data = result.library.model_dump(mode="json", exclude_none=True)
    header = (f"# Component library measured at transistor level on SkyWater 130 nm ({result.library.provenance}).\n"
              f"# Written by `amdcgan characterize`; {result.seconds:.1f} s of simulation.\n")
    written.append(write_text_atomic(folder / f"{result.library.name}.yaml",
                                     header + yaml.safe_dump(data, sort_keys=False)))
    return written


ACTIVATION_KINDS = (ComponentKind.relu, ComponentKind.relu_switch, ComponentKind.tanh)


def characterized_hardware(architecture, folder: Path, technology: str = "sky130"):
    """(the architecture on `technology` with the component library `characterize` wrote under `folder`, the
    activation curves measured at that library's nominal condition as {function: CSV}), for training on the
    characterized circuits."""
    from amdcgan.hdl.loader import resolve_library, with_technology

    folder = Path(folder)
    if folder.is_file():
        raise UserError(f"{folder}: a file; give the folder `amdcgan characterize -o DIR` wrote (it holds the "
                        f"library and its curves)")
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder; write a characterized library there with "
                        f"`amdcgan characterize -o {folder}`")
    found = sorted(folder.glob("*_measured.yaml"))
    if len(found) != 1:
        raise UserError(f"{folder}: expected one characterized library (*_measured.yaml) there, found {len(found)}; "
                        f"write one with `amdcgan characterize -o {folder}`")
    if architecture.periphery.tanh_amplitude_v is not None:
        raise UserError(f"periphery.tanh_amplitude_v: {folder} holds the tanh circuit characterized at amplitude vdd; "
                        f"train on these circuits without it")
    library = resolve_library("components", str(found[0]), "--characterized", None)
    tables = {}
    for kind in ACTIVATION_KINDS:
        component = library.components.get(kind)
        measured = [m for m in (component.measured if component else []) if kind.value in m.curves]
        if not measured:
            continue
        nominal = next((m for m in measured if (m.corner, m.temperature_c) == ("tt", 27.0)), measured[0])
        path = folder / nominal.curves[kind.value]
        if not path.is_file():
            raise UserError(f"{path}: the library names this curve but the file is missing")
        tables[kind.value] = path
    return with_technology(architecture, technology, str(found[0])), tables


# ---------------------------------------------------------------------------------------------------------------------
# Process data


GM_ID_LENGTHS_UM = (0.15, 0.5, 1.0)


def device_tables(process: Process, models: Path, vds_v: float = 0.6, width: float = 5.0) -> list[tuple]:
    """gm/ID tables (device, L, gm/ID, ID/W, |VGS|) at |VDS| = vds_v, source and bulk at 0 V, for one finger of a
    characterized width (the model bins differ a little from width to width)."""
    rows = []
    for kind in ("n", "p"):
        sign = 1 if kind == "n" else -1
        bench = Bench(f"{kind}fet gm/ID", ["vg g 0 0", f"egate gate 0 g 0 {sign}"])
        for k, length in enumerate(GM_ID_LENGTHS_UM):
            bench.lines += [f"vd{k} d{k} 0 {sign * vds_v:g}",
                            f"x{k} d{k} gate 0 0 {process.device(kind).model} w={width:g} l={length:g}"]
        bench.analyses["sweep"] = Analysis("dc vg 0 1.8 0.002", [f"i(vd{k})" for k in range(len(GM_ID_LENGTHS_UM))])
        data = run_bench(bench, models, process.temperature_c)["sweep"]
        vgs = data["scale"]
        for k, length in enumerate(GM_ID_LENGTHS_UM):
            current = np.abs(data[f"i(vd{k})"])
            gm_id = np.gradient(current, vgs) / current
            usable = np.nonzero((vgs > 0.2) & (gm_id >= 3))[0]
            start = usable[np.argmax(gm_id[usable])]  # from the peak (weak inversion) towards strong inversion
            for index in usable[usable >= start][::5]:
                rows.append((kind, length, round(float(gm_id[index]), 4), float(f"{current[index] / width:.6g}"),
                             round(float(vgs[index]), 4)))
    return rows


def switch_ohm_um(process: Process, models: Path, width: float = 5.0) -> float:
    """Worst on-resistance x width of a transmission gate over vss..vdd (process.switch_ohm_um)."""
    length = process.nfet.min_length_um
    bench = Bench("transmission gate on-resistance", [
        *_supplies(process), "vs s 0 0", "vd d s 0.01",
        f"xn d vdd s vss {process.nfet.model} w={width:g} l={length:g}",
        f"xp d vss s vdd {process.pfet.model} w={width:g} l={length:g}"])
    bench.analyses["dc"] = Analysis(f"dc vs {process.vss_v:g} {process.vdd_v - 0.01:g} 0.01", ["i(vd)"])
    current = np.abs(run_bench(bench, models, process.temperature_c)["dc"]["i(vd)"])
    return float(0.01 / current.min() * width)


def main(argv: list[str] | None = None) -> None:
    import argparse
    from importlib import resources

    parser = argparse.ArgumentParser(description="Regenerate the shipped process tables of sky130 from its models.")
    parser.add_argument("--write-tables", action="store_true", help="rewrite hdl/data/process/sky130_gmid.csv and "
                        "print the transmission-gate figure for sky130.yaml")
    args = parser.parse_args(argv)
    if not args.write_tables:
        parser.print_help()
        return
    process = load_process("sky130")
    models = reduced_models("tt")
    rows = device_tables(process, models)
    path = Path(str(resources.files("amdcgan.hdl") / "data" / "process" / process.gm_id_table))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["device", "length_um", "gm_id_per_v", "id_per_w_a_per_um", "vgs_v"])
        writer.writerows(rows)
    print(f"wrote {path} ({len(rows)} rows)")
    print(f"switch_ohm_um: {switch_ohm_um(process, models):.0f}")


if __name__ == "__main__":
    main()
