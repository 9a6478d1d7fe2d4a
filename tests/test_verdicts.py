"""Verdicts follow the data: each flips when the numbers it judges flip, against hand-made signals."""

from __future__ import annotations

import numpy as np
import pytest

from amdcgan import reproduce as job
from amdcgan.report import Verdict
from amdcgan.verdicts import cells_verdict, growth, growth_verdict, ratio_verdict, settling_times, \
    settling_verdict, spearman

STEP = 100e-9


def _pulses(tau_s: float, levels=(0.0, 1.0, 0.3, 0.8)) -> tuple[np.ndarray, np.ndarray]:
    """First-order responses to pulses of STEP each, sampled every 1 ns: x(t) approaches each level with tau_s."""
    time_s = np.arange(0, len(levels) * STEP, 1e-9)
    signal, value = np.empty_like(time_s), 0.0
    for index, t in enumerate(time_s):
        target = levels[min(int(t // STEP), len(levels) - 1)]
        value += (target - value) * (1 - np.exp(-1e-9 / tau_s))
        signal[index] = value
    return time_s, signal


def test_settling_time_of_a_first_order_step_is_tau_times_log_of_the_band():
    time_s, signal = _pulses(5e-9, levels=(0.0, 1.0))
    # From 0 to 1 with range 1: |x - 1| <= 0.01 after tau ln(100) = 23 ns.
    assert settling_times(time_s, signal, STEP)[1] == pytest.approx(5e-9 * np.log(100), abs=1.5e-9)


def test_settling_verdict_flips_when_the_signal_is_too_slow():
    fast = settling_verdict("fast", *_pulses(5e-9)[:1], {"out": _pulses(5e-9)[1]}, STEP)
    slow = settling_verdict("slow", *_pulses(40e-9)[:1], {"out": _pulses(40e-9)[1]}, STEP)
    assert fast.outcome == "agree" and fast.figures["settling_time_s"]["out"] < 90e-9
    assert slow.outcome == "differ" and slow.figures["settling_time_s"]["out"] >= 90e-9


def test_a_settling_time_the_trace_cannot_resolve_is_reported_as_a_bound():
    """A signal that jumps to each level at once settles by the first sample after a pulse's start; one that
    follows inputs with 2 ns edges settles when an edge ends. The report gives that as a bound, not as a settling
    time; a slow signal keeps its measured time."""
    time_s, slow = _pulses(5e-9)
    levels = (0.0, 1.0, 0.3, 0.8)
    instant = np.array([levels[min(int(t // STEP), 3)] for t in time_s + 1e-12])
    verdict = settling_verdict("paths", time_s, {"instant": instant, "slow": slow}, STEP)
    assert verdict.figures["earliest_settling_s"] == pytest.approx(1e-9)
    assert verdict.figures["following_the_input"] == ["instant"]
    assert "instant <= 1.0 ns" in verdict.measured and "slow 2" in verdict.measured
    assert "1 of 2 settled by the trace's first sample" in verdict.measured
    edge = 2e-9  # a ramp over each edge, as the ngspice sources have
    since = time_s % STEP
    index = np.minimum((time_s // STEP).astype(int), 3)
    before = np.array(levels)[np.maximum(index - 1, 0)]
    ramped = before + (np.array(levels)[index] - before) * np.minimum(since / edge, 1.0)
    verdict = settling_verdict("edges", time_s, {"ramped": ramped, "slow": slow}, STEP, edge_s=edge)
    assert verdict.figures["earliest_settling_s"] == pytest.approx(edge)
    assert "ramped <= 2.0 ns" in verdict.measured and "settled when the input's 2 ns edge ends" in verdict.measured


def test_spearman_matches_hand_values():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # Ranks (1, 2, 3, 4) against (1, 3, 2, 4): 1 - 6 * 2 / (4 * 15) = 0.8.
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)


def test_growth_within_noise_agrees_and_a_large_fall_does_not():
    x = [0, 10, 20, 30, 40, 50]
    small_dip = [0.0, 1.4, 2.9, 4.35, 4.30, 5.8]  # falls by 0.05 where the noise is about 1.5
    assert growth(x, small_dip, 1.5)["monotone_within_noise"]
    assert growth_verdict("g", x, small_dip, 1.5).outcome == "agree"
    assert growth_verdict("g", x, small_dip, 0.0).outcome == "inconclusive"  # trend, but a fall with no noise
    assert growth_verdict("g", x, small_dip[::-1], 0.1).outcome == "differ"
    assert growth_verdict("g", x, [1, 1, 1, 1, 1, 1], 0.1).outcome == "differ"
    # what the verdict says it measured: the fall against the noise it allows, every standard error kept
    noisy = growth_verdict("g", x, small_dip, 1.5)
    assert "largest step down 0.05 (within the noise)" in noisy.measured and "4.3 +- 1.5" in noisy.measured
    assert noisy.figures["standard_error"] == [1.5] * len(x)
    assert "largest step down 0.05;" in growth_verdict("g", x, small_dip, 0.0).measured
    assert "no step down;" in growth_verdict("g", x, sorted(small_dip), 0.0).measured


def test_ratio_and_cells_verdicts_flip_at_the_tolerance():
    assert ratio_verdict("r", 1.1, 1.0, 0.15).outcome == "agree"
    assert ratio_verdict("r", 1.2, 1.0, 0.15).outcome == "differ"
    assert cells_verdict("c", {"a": (1.0, 1.0, 0.05), "b": (2.0, 2.05, 0.05)}).outcome == "agree"
    found = cells_verdict("c", {"a": (1.0, 1.0, 0.05), "b": (3.0, 2.0, 0.05)})
    assert found.outcome == "differ" and "b" in found.measured


def test_a_verdict_must_have_a_known_outcome():
    with pytest.raises(ValueError):
        Verdict("x", "agrees", "c", "m")


def _sweep(baseline_fid: float, ours, parameter="variability", values=(0.0, 0.1, 0.2, 0.3, 0.4)) -> dict:
    points = [{"value": value, "fid": 100.0, "classes": 10} for value in values]
    return {"float_baseline": {"fid": baseline_fid, "classes": 10}, "points": points,
            "finding": {"ours": ours, "criterion": "FID <= 1.25 x best", "paper": {"value": 0.3 if parameter ==
                                                                                    "variability" else 64}}}


def test_sweep_on_a_weak_baseline_is_inconclusive_whatever_it_reads():
    assert job.sweep_verdict("v", "variability", _sweep(372.0, 0.3)).outcome == "inconclusive"
    assert job.sweep_verdict("v", "variability", _sweep(100.0, 0.3)).outcome == "agree"
    assert job.sweep_verdict("v", "variability", _sweep(100.0, 0.1)).outcome == "differ"
    levels = (2, 4, 8, 16, 32, 64, 128, 256)
    assert job.sweep_verdict("l", "levels", _sweep(100.0, 32, "levels", levels)).outcome == "agree"
    assert job.sweep_verdict("l", "levels", _sweep(100.0, 4, "levels", levels)).outcome == "differ"


def _metrics(fids: list[float], classes: int = 10) -> list[dict]:
    return [{"epoch": epoch, "fid": fid, "classes": classes} for epoch, fid in enumerate(fids)]


def test_fig_9_quotes_the_best_epoch_and_needs_the_papers_50():
    short = _metrics([400, 380, 335, 350, 370, 380, 391], classes=9)
    verdict, best = job.epochs_verdict(short, 6)
    assert verdict.outcome == "inconclusive" and best["epoch"] == 2 and "best epoch 2" in verdict.measured
    good = _metrics([400] + [120.0] * 50)
    assert job.epochs_verdict(good, 50)[0].outcome == "agree"
    worse_at_50 = _metrics([400] + [100.0] * 49 + [140.0])
    assert job.epochs_verdict(worse_at_50, 50)[0].outcome == "differ"  # 140 > 1.25 x 100


def test_transient_verdict_reads_the_csv(tmp_path):
    time_s, signal = _pulses(5e-9)
    path = tmp_path / "transient.csv"
    np.savetxt(path, np.column_stack([time_s, signal, 2 * signal]), delimiter=",", header="time_s,a_v,b_v",
               comments="")
    assert job.transient_verdict(path, STEP).outcome == "agree"
    np.savetxt(path, np.column_stack([time_s, _pulses(60e-9)[1], signal]), delimiter=",", header="time_s,a_v,b_v",
               comments="")
    assert job.transient_verdict(path, STEP).outcome == "differ"


def test_variability_verdicts_flip_with_the_data():
    rising = [[sigma, sigma / 10, sigma / 10, sigma / 10, sigma / 10] for sigma in (0, 10, 20, 30, 40, 50)]
    assert {v.outcome for v in job.variability_verdicts({"table": rising, "trials": 4})} == {"agree"}
    falling = [[row[0], *[5 - value for value in row[1:]]] for row in rising]
    assert {v.outcome for v in job.variability_verdicts({"table": falling, "trials": 4})} == {"differ"}


def test_settling_is_judged_against_full_scale_and_reports_the_drift():
    time_s = np.arange(0, 2 * STEP, 1e-9)
    # 100 uA with a slow ramp inside each pulse: 0.5% per pulse settles; 20% still moves 1.7% in the last tenth.
    for ramp, outcome in ((0.005, "agree"), (0.2, "differ")):
        current = 100e-6 * (1 + ramp * (time_s % STEP) / STEP)
        verdict = settling_verdict("ramp", time_s, {"i": current}, STEP)
        assert verdict.outcome == outcome
        assert verdict.figures["tail_drift_of_full_scale"]["i"] == pytest.approx(ramp * 0.1 / (1 + ramp), rel=0.15)  # the last tenth, sampled every ns
