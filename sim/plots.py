"""Publication-style plots of the SPICE checks (matplotlib, Agg), laid out like the paper's Figs. 4-7."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np

from amdcgan.fileio import write_bytes_atomic
from amdcgan.hdl.electrical import Cell


# Applied around each plot, never to the process's global settings, so other plots in the same run keep theirs.
STYLE = {"font.size": 9, "axes.grid": True, "grid.alpha": 0.3, "lines.linewidth": 1.3, "savefig.dpi": 200,
         "figure.constrained_layout.use": True}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def styled(plot):
    """Runs a plotting function inside the SPICE figures' style."""

    @functools.wraps(plot)
    def wrapper(*args, **kwargs):
        with _pyplot().rc_context(STYLE):
            return plot(*args, **kwargs)

    return wrapper


def _save(figure, path: Path) -> Path:
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png")
    finally:
        _pyplot().close(figure)
    return write_bytes_atomic(path, buffer.getvalue())


@styled
def plot_transient(trace: dict[str, np.ndarray], path: Path) -> Path:
    """Fig. 4: (a) filter inputs, (b) filter output, (c) mean-filter inputs, (d) mean-filter output, (e) dense
    input, (f) dense column current, against time in ns."""
    plt = _pyplot()
    figure, axes = plt.subplots(3, 2, figsize=(7.2, 6.4), sharex=True)
    time_ns = trace["time_s"] * 1e9
    panels = [
        ("(a) convolution filter inputs", [k for k in trace if k.startswith("filter_input")], "V", 1.0),
        ("(b) convolution filter output", ["filter_output_v"], "V", 1.0),
        ("(c) mean filter inputs (ReLU outputs)", [k for k in trace if k.startswith("mean_input")], "V", 1.0),
        ("(d) mean filter output", ["mean_output_v"], "V", 1.0),
        ("(e) dense layer input", ["dense_input_v"], "V", 1.0),
        ("(f) dense layer column current", ["dense_current_a"], "µA", 1e6),
    ]
    for axis, (title, keys, unit, scale) in zip(axes.ravel(), panels):
        for key in keys:
            axis.plot(time_ns, trace[key] * scale, label=key.replace("_v", "").replace("_", " "))
        axis.set_title(title, fontsize=9, loc="left")
        axis.set_ylabel(f"{'current' if unit == 'µA' else 'voltage'} ({unit})")
        if len(keys) > 1:
            axis.legend(fontsize=6, loc="upper right")
    for axis in axes[-1]:
        axis.set_xlabel("time (ns)")
    return _save(figure, path)


@styled
def plot_activation_curves(curves: dict[str, np.ndarray], path: Path) -> Path:
    """Fig. 5: (a) tanh, (b) ReLU with switch (switch on and off)."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(7.2, 3.0))
    left.plot(curves["tanh"][:, 0], curves["tanh"][:, 1], color="C0")
    left.set_title("(a) hyperbolic tangent", fontsize=9, loc="left")
    right.plot(curves["relu_switch"][:, 0], curves["relu_switch"][:, 1], color="C1", label="switch on")
    right.plot(curves["relu_switch_off"][:, 0], curves["relu_switch_off"][:, 1], color="C2", ls="--",
               label="switch off")
    right.set_title("(b) ReLU with switch", fontsize=9, loc="left")
    right.legend(fontsize=7)
    for axis in (left, right):
        axis.set_xlabel("input voltage (V)")
        axis.set_ylabel("output voltage (V)")
    return _save(figure, path)


@styled
def plot_leakage(table: np.ndarray, path: Path) -> Path:
    """Fig. 6: RMS leakage current against noise level per crossbar size; floating-line sneak current dashed."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(4.8, 3.9))
    for n, size in enumerate(np.unique(table[:, 0])):
        rows = table[table[:, 0] == size]
        axis.plot(rows[:, 1], rows[:, 2] * 1e6, marker="o", color=f"C{n}", label=f"{int(size)}x{int(size)} held")
        axis.axhline(abs(rows[0, 3]) * 1e6, color=f"C{n}", ls="--", lw=0.9,
                     label=f"{int(size)}x{int(size)} floating")
    axis.set_xlabel("noise on unselected lines (% of V_read, RMS)")
    axis.set_ylabel("leakage current (µA)")
    axis.set_title("Leakage current in memristive crossbars", fontsize=9)
    axis.legend(fontsize=6, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    return _save(figure, path)


@styled
def plot_variability(table: np.ndarray, keys: list[str], path: Path) -> Path:
    """Fig. 7a-d: error against memristor variability, one panel per point of the path."""
    plt = _pyplot()
    titles = {"conv_output": "(a) convolution filter output", "mean_output": "(b) mean filter output",
              "dense_input": "(c) dense layer input", "dense_current": "(d) dense layer output current"}
    figure, axes = plt.subplots(2, 2, figsize=(7.2, 5.2), sharex=True)
    for n, (axis, key) in enumerate(zip(axes.ravel(), keys)):
        axis.plot(table[:, 0], table[:, n + 1], marker="o", color=f"C{n}")
        axis.set_title(titles[key], fontsize=9, loc="left")
        axis.set_ylabel("RMS error (% of full scale)")
    for axis in axes[-1]:
        axis.set_xlabel("memristor variability (%)")
    return _save(figure, path)


@styled
def plot_irdrop(table: np.ndarray, encodings: list[str], readouts: list[str], path: Path) -> Path:
    """The ideal-wire model's error against tile size, one line per encoding, readout and wire resistance; filled
    markers where ngspice solved the tile, open ones where hdl's wire model stands in for it."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5.6, 3.8))
    cases = sorted({(int(row[1]), int(row[2]), row[3]) for row in table})
    for n, (encoding, readout, wire) in enumerate(cases):
        rows = table[(table[:, 1] == encoding) & (table[:, 2] == readout) & (table[:, 3] == wire)]
        color = f"C{n % 10}"
        axis.plot(rows[:, 0], rows[:, 4], color=color, lw=0.9,
                  label=f"{encodings[encoding].replace('_', ' ')}, {readouts[readout].replace('_', ' ')}, "
                        f"{wire:g} Ω/cell")
        checked = ~np.isnan(rows[:, 5])
        axis.plot(rows[checked, 0], rows[checked, 4], "o", color=color, ms=4)
        axis.plot(rows[~checked, 0], rows[~checked, 4], "o", color=color, ms=4, mfc="none")
    axis.set_xscale("log", base=2)
    sizes = sorted({int(size) for size in table[:, 0]})
    axis.set_xticks(sizes, [str(size) for size in sizes])
    axis.set_yscale("log")
    axis.set_xlabel("tile size (rows = physical columns)")
    axis.set_ylabel("ideal-wire output error (% of full scale)")
    axis.set_title("IR drop: filled = ngspice, open = hdl's wire model", fontsize=9)
    axis.legend(fontsize=5.5, ncol=2)
    return _save(figure, path)


@styled
def plot_write(traces: dict, cell: Cell, path: Path) -> Path:
    """Write pulses and the conductance they move, set and reset."""
    plt = _pyplot()
    figure, axes = plt.subplots(2, 1, figsize=(4.8, 4.2), sharex=True)
    for name, trace in traces.items():
        time_ns = trace["time_s"] * 1e9
        axes[0].plot(time_ns, trace["volts"], label=name)
        axes[1].plot(time_ns, cell.state_conductance(trace["state"]) * 1e6, label=name)
    axes[0].axhline(cell.v_threshold, color="grey", ls=":", lw=0.9)
    axes[0].axhline(-cell.v_threshold, color="grey", ls=":", lw=0.9)
    axes[0].set_ylabel("pulse voltage (V)")
    axes[1].set_ylabel("conductance (µS)")
    axes[1].set_xlabel("time (ns)")
    axes[0].legend(fontsize=7)
    return _save(figure, path)
