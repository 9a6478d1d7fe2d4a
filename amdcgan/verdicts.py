"""Verdicts computed from data: each function measures what the data show and decides agree / differ / not
comparable / inconclusive against a criterion it states, so that no report writes a verdict by hand.

Only numpy: the measurements (settling time, rank correlation, monotone growth) work on plain arrays that any stage
hands over.
"""

from __future__ import annotations

import numpy as np

from amdcgan.report import Verdict

# Fig. 4: a signal has settled once it stays within this fraction of its trace's full range around the value it
# holds over the last tenth of the pulse; it "settles within the pulse" when that happens before the last tenth.
SETTLING_BAND = 0.01
SETTLED_TAIL = 0.1
# Growth with variability: Spearman's rank correlation at least this, and no step down larger than NOISE_SIGMAS
# standard errors of the Monte Carlo estimate.
GROWTH_RANK = 0.9
NOISE_SIGMAS = 2.0


def ratio_verdict(claim: str, ours: float, paper: float, tolerance: float, unit: str = "",
                  back_solved: bool = False) -> Verdict:
    """Agree when ours is within `tolerance` (a fraction) of the paper's figure."""
    ratio = ours / paper if paper else float("inf")
    outcome = "agree" if abs(ratio - 1) <= tolerance else "differ"
    return Verdict(claim, outcome, f"|ours / paper - 1| <= {100 * tolerance:g}%",
                   f"ours {ours:.4g}{unit}, paper {paper:.4g}{unit}, ratio {ratio:.3g}.",
                   {"ours": ours, "paper": paper, "ratio": ratio, "tolerance": tolerance}, back_solved)


def cells_verdict(claim: str, cells: dict[str, tuple[float, float, float]], back_solved: bool = False,
                  criterion: str = "") -> Verdict:
    """Agree when every cell {name: (ours, paper, tolerance)} is within its tolerance; the worst cell is quoted.
    `criterion` words the tolerances for people (default: the tolerances found)."""
    ratios = {name: (ours / paper if paper else float("inf"), tolerance) for name, (ours, paper, tolerance) in
              cells.items()}
    misses = {name: ratio for name, (ratio, tolerance) in ratios.items() if abs(ratio - 1) > tolerance}
    worst = max(ratios, key=lambda name: abs(np.log(ratios[name][0])) if ratios[name][0] > 0 else np.inf)
    tolerances = sorted({f"{100 * tolerance:g}%" for _, tolerance in ratios.values()})
    measured = (f"{len(cells) - len(misses)} of {len(cells)} figures within tolerance; furthest: {worst} ours / paper "
                f"= {ratios[worst][0]:.3g}" + (f" (outside: {', '.join(misses)})." if misses else "."))
    return Verdict(claim, "differ" if misses else "agree",
                   criterion or f"every figure within tolerance: |ours / paper - 1| <= {' or '.join(tolerances)}",
                   measured, {name: {"ours": ours, "paper": paper, "ratio": ratios[name][0], "tolerance": tolerance}
                              for name, (ours, paper, tolerance) in cells.items()}, back_solved)


# ---------------------------------------------------------------------------------------------------------------------
# Settling (Fig. 4)


def full_scale(signal: np.ndarray) -> float:
    """A signal's full scale: its largest magnitude in the trace."""
    return float(np.max(np.abs(signal))) or np.finfo(float).eps


def settling_times(time_s: np.ndarray, signal: np.ndarray, step_s: float, band: float = SETTLING_BAND,
                   tail: float = SETTLED_TAIL) -> list[float]:
    """For each input pulse [k step, (k+1) step): the time from its start after which `signal` stays within
    `band` x its full scale of its final value (the mean over the pulse's last `tail`)."""
    tolerance = band * full_scale(signal)
    times = []
    for start in np.arange(0.0, float(time_s[-1]) - step_s / 2, step_s):
        inside = (time_s >= start) & (time_s < start + step_s)
        t, x = time_s[inside] - start, signal[inside]
        final = float(np.mean(x[t >= (1 - tail) * step_s]))
        outside = np.nonzero(np.abs(x - final) > tolerance)[0]
        times.append(0.0 if outside.size == 0 else float(t[min(outside[-1] + 1, len(t) - 1)]))
    return times


def tail_drift(time_s: np.ndarray, signal: np.ndarray, step_s: float, tail: float = SETTLED_TAIL) -> float:
    """The largest change of `signal` over the last `tail` of any pulse, as a fraction of its full scale: what is
    still moving when the pulse is read."""
    drifts = []
    for start in np.arange(0.0, float(time_s[-1]) - step_s / 2, step_s):
        late = (time_s >= start + (1 - tail) * step_s) & (time_s < start + step_s)
        drifts.append(float(np.ptp(signal[late])) if late.any() else 0.0)
    return max(drifts) / full_scale(signal)


def earliest_settling(time_s: np.ndarray, step_s: float, edge_s: float = 0.0) -> float:
    """The shortest settling time a trace can tell: over the pulses after the first, the longest wait from a pulse's
    start to the trace's first sample at which the input has stopped moving (the end of its edge, or without an edge
    the first sample after the start). A signal settled by then follows the input as fast as it moves."""
    starts = np.arange(step_s, float(time_s[-1]) - step_s / 2, step_s)
    tolerance = 1e-6 * step_s  # a sample at a start or an edge's end, to rounding
    if edge_s > 0:
        first = np.searchsorted(time_s, starts + edge_s - tolerance, side="left")
    else:
        first = np.searchsorted(time_s, starts + tolerance, side="right")
    inside = first < len(time_s)
    return float(np.max(time_s[first[inside]] - starts[inside])) if inside.any() else 0.0


def settling_verdict(claim: str, time_s: np.ndarray, signals: dict[str, np.ndarray], step_s: float,
                     edge_s: float = 0.0) -> Verdict:
    """Agree when every signal settles (see `settling_times`) before the last tenth of every pulse. `edge_s`: the
    input pulses' edge time; a signal settled when an edge ends is reported as following the input."""
    limit = (1 - SETTLED_TAIL) * step_s
    worst = {name: max(settling_times(time_s, values, step_s)) for name, values in signals.items()}
    drift = {name: tail_drift(time_s, values, step_s) for name, values in signals.items()}
    slowest = max(worst, key=worst.get)
    outcome = "agree" if worst[slowest] < limit and max(drift.values()) <= SETTLING_BAND else "differ"
    earliest = earliest_settling(time_s, step_s, edge_s)
    following = [name for name, value in worst.items() if value <= earliest * (1 + 1e-9)]

    def shown(seconds: float) -> str:
        return f"<= {earliest * 1e9:.1f} ns" if seconds <= earliest * (1 + 1e-9) else f"{seconds * 1e9:.1f} ns"

    cause = (f"when the input's {edge_s * 1e9:.1g} ns edge ends" if edge_s > 0
             else "by the trace's first sample after a pulse's start")
    return Verdict(
        claim, outcome,
        f"settling time (until the signal stays within {SETTLING_BAND:.0%} of its full scale, its largest magnitude "
        f"in the trace, around its final value) below {limit * 1e9:.0f} ns of each {step_s * 1e9:.0f} ns pulse, and "
        f"no more than {SETTLING_BAND:.0%} of full scale of change over the pulse's last tenth",
        f"slowest: {slowest} after {shown(worst[slowest])}; per signal (worst pulse): "
        + ", ".join(f"{name} {shown(value)}" for name, value in worst.items())
        + (f" ({len(following)} of {len(worst)} settled {cause}: they follow the input as fast as it moves)"
           if following else "")
        + f". Still moving over a pulse's last tenth: at most {100 * max(drift.values()):.2g}% of full scale "
          f"({max(drift, key=drift.get)}).",
        {"settling_time_s": worst, "tail_drift_of_full_scale": drift, "limit_s": limit, "step_s": step_s,
         "edge_s": edge_s, "earliest_settling_s": earliest, "following_the_input": following})


# ---------------------------------------------------------------------------------------------------------------------
# Growth (Figs. 6 and 7)


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their mean rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x, y) -> float:
    """Spearman's rank correlation (Pearson's on the ranks); 0 when either side is constant."""
    rx, ry = _ranks(np.asarray(x, float)), _ranks(np.asarray(y, float))
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def growth(x, y, standard_error) -> dict:
    """Rank correlation of y with x, and whether y never falls (in x order) by more than NOISE_SIGMAS standard
    errors of the two points compared."""
    order = np.argsort(np.asarray(x, float))
    ys = np.asarray(y, float)[order]
    errors = np.broadcast_to(np.asarray(standard_error, float), ys.shape)[order]
    falls = ys[:-1] - ys[1:]
    allowed = NOISE_SIGMAS * np.hypot(errors[:-1], errors[1:])
    return {"spearman": spearman(x, y), "largest_fall": float(max(falls.max(initial=0.0), 0.0)),
            "monotone_within_noise": bool(np.all(falls <= allowed)),
            "grows": bool(spearman(x, y) >= GROWTH_RANK and np.all(falls <= allowed))}


def growth_verdict(claim: str, x, y, standard_error, unit: str = "") -> Verdict:
    """Agree when y grows with x: rank correlation >= GROWTH_RANK and monotone within the noise; inconclusive when
    the trend is there but a step falls beyond the noise; differ when there is no such trend."""
    found = growth(x, y, standard_error)
    if found["grows"]:
        outcome = "agree"
    elif found["spearman"] >= GROWTH_RANK:
        outcome = "inconclusive"
    else:
        outcome = "differ"
    errors = np.broadcast_to(np.asarray(standard_error, float), np.shape(y))
    noisy = bool(np.any(errors > 0))
    values = ", ".join(f"{a:g}: {b:.3g}{unit}" + (f" +- {e:.2g}" if noisy else "") for a, b, e in zip(x, y, errors))
    within = found["monotone_within_noise"]
    return Verdict(
        claim, outcome,
        f"grows: Spearman rank correlation >= {GROWTH_RANK} and "
        + (f"no step down larger than {NOISE_SIGMAS:g} standard errors of the Monte Carlo estimate" if noisy
           else "no step down at all (no noise allowance)"),
        f"Spearman {found['spearman']:.2f}, " + ("no step down" if within and not noisy else
                                                 f"largest step down {found['largest_fall']:.3g}{unit}"
                                                 + (f" ({'within' if within else 'beyond'} the noise)" if noisy else ""))
        + "; values" + (" +- standard error" if noisy else "") + f" {values}.",
        {**found, "x": list(map(float, x)), "y": list(map(float, y)), "standard_error": list(map(float, errors))})
