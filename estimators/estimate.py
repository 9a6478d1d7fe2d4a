"""The whole estimate of one architecture as plain data: area, power, training time and power, paper comparisons."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from amdcgan.hdl.electrical import Conductances
from amdcgan.hdl.floorplan import build_floorplan
from amdcgan.hdl.graph import HardwareGraph
from amdcgan.hdl.loader import with_technology
from amdcgan.hdl.mapping import plan_tiles
from amdcgan.hdl.spec import Architecture

from .area import UM2_PER_MM2, area_estimate
from .power import MW, power_estimate
from .training import (
    RunStats,
    TrainingInputs,
    UpdateConfigFile,
    architecture_layers,
    load_run_stats,
    load_update_configs,
    paper_comparison,
    run_figures,
    training_table,
)

# The paper's small CNN + DCNN (Results): "total on-chip area and power consumption ... approximately 0.188 mm^2 and
# 7 W".
PAPER_SMALL_SYSTEM = {"area_mm2": 0.188, "power_w": 7.0}
DEFAULT_SCALED_TECHNOLOGY = "cmos45"
DEFAULT_SCALED_COMPONENTS = "table1_45nm"


def by_hand(hardware: HardwareGraph, power: dict) -> list[dict]:
    """Every component and memristor kind: count, unit area and power, and their products, so the sum can be redone.
    A memristor's unit power is its kind's read power (from the tile model) over its count."""
    architecture = hardware.plan.architecture
    counts = hardware.counts()
    rows = []
    for kind, count in counts.components.items():
        unit = architecture.components.components[kind]
        rows.append({
            "kind": kind, "count": count, "unit_area_um2": unit.area_um2, "unit_power_mw": unit.power_mw,
            "area_um2": count * unit.area_um2, "power_w": count * unit.power_mw * MW, "source": unit.source,
        })
    cell = architecture.technology.memristor_pitch_um**2
    read_by_kind = power["total"]["read_w_by_memristor_kind"]
    for kind, count in counts.memristors.items():
        read_w = read_by_kind.get(kind)
        rows.append({
            "kind": f"memristor ({kind})", "count": count, "unit_area_um2": cell,
            "unit_power_mw": read_w / count / MW if read_w is not None and count else 0.0,
            "area_um2": count * cell, "power_w": read_w or 0.0,
            "source": f"pitch {architecture.technology.memristor_pitch_um} um squared"
            + ("; read power of the tile model, rows at V_r/2, over the count" if read_w is not None
               else "; series element, not counted for power"),
        })
    return rows


def small_system_comparison(area: dict, power: dict, hardware: HardwareGraph) -> dict:
    """Our sums beside the paper's 0.188 mm^2 and 7 W, with the gap restated in whole circuits of each kind."""
    library = hardware.plan.architecture.components.components
    ours_area = area["component_sum"]["total"]["total_um2"] / UM2_PER_MM2
    ours_power = power["total"]["all_on_w"]
    power_gap = PAPER_SMALL_SYSTEM["power_w"] - ours_power
    area_gap = PAPER_SMALL_SYSTEM["area_mm2"] - ours_area
    # For each circuit kind: how many more of it would close the power gap, and the area those would add. A kind
    # whose added area stays within the area gap could close both gaps at once; the others could not.
    closing = {}
    for kind, unit in library.items():
        if unit.power_mw > 0:
            circuits = power_gap / (unit.power_mw * MW)
            added_mm2 = circuits * unit.area_um2 / UM2_PER_MM2
            closing[kind.value] = {"circuits": circuits, "added_area_mm2": added_mm2,
                                   "fits_area_gap": 0 <= added_mm2 <= area_gap}
    fitting = sorted(kind for kind, row in closing.items() if row["fits_area_gap"])
    return {
        "paper": PAPER_SMALL_SYSTEM,
        "ours_component_sum_mm2": ours_area,
        "ours_floorplan_chip_mm2": area["floorplan"]["chip_area_um2"] / UM2_PER_MM2,
        "ours_power_all_on_w": ours_power,
        "ours_power_duty_cycled_w": power["total"]["duty_cycled_w"],
        "area_ratio": ours_area / PAPER_SMALL_SYSTEM["area_mm2"],
        "power_ratio": ours_power / PAPER_SMALL_SYSTEM["power_w"],
        "power_gap_w": power_gap,
        "area_gap_mm2": area_gap,
        "circuits_closing_power_gap": closing,
        "kinds_closing_both_gaps": fitting,
        "why": _small_system_why(ours_power, power["total"]["duty_cycled_w"], ours_area,
                                 area["floorplan"]["chip_area_um2"] / UM2_PER_MM2, fitting),
    }


def _closer(paper: float, first: float, second: float) -> bool:
    """Whether `first` is nearer `paper` than `second` is, by ratio."""
    return abs(np.log(first / paper)) <= abs(np.log(second / paper))


def _small_system_why(all_on_w: float, duty_w: float, sum_mm2: float, chip_mm2: float, fitting: list[str]) -> str:
    paper = PAPER_SMALL_SYSTEM
    power_reading = ("counts every circuit powered at once (it is nearer our all-on sum than our duty-cycled one)"
                     if _closer(paper["power_w"], all_on_w, duty_w) else
                     "is nearer our duty-cycled figure than our all-on sum, so it counts circuits only while they work")
    area_reading = ("circuit areas without placement (it is nearer our component sum than our floorplan's box)"
                    if _closer(paper["area_mm2"], sum_mm2, chip_mm2) else
                    "a placed layout (it is nearer our floorplan's box than our component sum)")
    closing = (f"only {', '.join(fitting)} could close both gaps at once (much power in little area): a count of "
               "these that differs from the tile plan's is the one single-kind explanation that fits both" if fitting else
               "no single kind closes both gaps, so the paper's count must differ in several kinds")
    return (
        "The paper gives the totals but not the circuit count behind them. Ours follow from the layers in the "
        "architecture file, one circuit per tile row or column as the tile plan places them, times Table I's unit "
        "figures (circuits Table I leaves out take the figure of the Table I circuit named in the library's source "
        f"column); nothing is fitted to the paper. The paper's power {power_reading}; its area counts {area_reading}. "
        f"Restating the power gap as whole circuits of one kind, {closing}."
    )


def _training(architecture: Architecture, plan, config_file: UpdateConfigFile, training: dict | None,
              run_stats: dict | RunStats | None) -> dict:
    inputs = TrainingInputs.for_architecture(architecture, **(training or {}))
    layers = architecture_layers(plan)
    stats = load_run_stats(run_stats)
    return {
        "architecture": training_table(layers, config_file.configs, inputs),
        "paper_comparison": paper_comparison(load_update_configs()),
        "run": run_figures(layers, config_file.configs, inputs, stats) if stats else None,
    }


def estimate(
    architecture: Architecture,
    *,
    layout_areas: dict[str, float] | None = None,
    run_stats: dict | RunStats | None = None,
    conductances: dict[str, Conductances] | None = None,
    update_configs: UpdateConfigFile | str | Path | None = None,
    training: dict | None = None,
    paper_small_system: bool = False,
) -> dict:
    """Area, power and training figures of one architecture (pure: reads only shipped or named data files).

    layout_areas: measured tile areas (tile id -> um^2); run_stats: a GAN run's write statistics (see RunStats);
    conductances: a trained run's devices by NETWORK.LAYER (hdl.electrical.load_run_conductances); update_configs: a file or loaded set (default:
    the paper's four presets); training: overrides of images, epochs, v_write_v, r_on_ohm, r_off_ohm, pulse_widths_s;
    paper_small_system: set our totals beside the paper's small system (0.188 mm^2, 7 W).
    """
    plan = plan_tiles(architecture)
    hardware = HardwareGraph(plan)
    floorplan = build_floorplan(plan)
    if not isinstance(update_configs, UpdateConfigFile):
        update_configs = load_update_configs(update_configs)
    area = area_estimate(hardware, floorplan, layout_areas)
    power = power_estimate(hardware, conductances)
    summary = hardware.summary()
    result = {
        "architecture": architecture.name,
        "technology": {"name": architecture.technology.name, "node_nm": architecture.technology.node_nm,
                       "scaling_rule": architecture.technology.scaling_rule},
        "components_library": architecture.components.name,
        "device": architecture.device.model_dump(),
        "counts": summary["total"],
        "memristor_comparison": summary["paper_comparison"],
        "cycles_per_image": {network.name: network.cycles_per_image for network in plan.networks},
        "headline": {
            "area_component_sum_mm2": area["component_sum"]["total"]["total_um2"] / UM2_PER_MM2,
            "area_floorplan_chip_mm2": area["floorplan"]["chip_area_um2"] / UM2_PER_MM2,
            "area_floorplan_tiles_mm2": area["floorplan"]["tiles_area_um2"] / UM2_PER_MM2,
            "power_all_on_w": power["total"]["all_on_w"],
            "power_duty_cycled_w": power["total"]["duty_cycled_w"],
            "dropout_saves_all_on_w": power["dropout"]["saved_all_on_w"],
        },
        "by_hand": by_hand(hardware, power),
        "area": area,
        "power": power,
        "training": _training(architecture, plan, update_configs, training, run_stats),
    }
    if paper_small_system:
        result["small_system_comparison"] = small_system_comparison(area, power, hardware)
    return result


def scaling_comparison(
    architecture: Architecture,
    technology: str = DEFAULT_SCALED_TECHNOLOGY,
    components: str = DEFAULT_SCALED_COMPONENTS,
) -> dict:
    """Area and power of the architecture as given and re-estimated on another node, with the scaling rule named."""
    scaled = with_technology(architecture, technology, components)
    figures = {}
    for label, arch in (("from", architecture), ("to", scaled)):
        plan = plan_tiles(arch)
        hardware = HardwareGraph(plan)
        area = area_estimate(hardware, build_floorplan(plan))
        power = power_estimate(hardware)
        figures[label] = {
            "technology": arch.technology.name,
            "node_nm": arch.technology.node_nm,
            "components_library": arch.components.name,
            "area_component_sum_mm2": area["component_sum"]["total"]["total_um2"] / UM2_PER_MM2,
            "area_memristors_mm2": area["component_sum"]["total"]["memristors_total_um2"] / UM2_PER_MM2,
            "area_floorplan_chip_mm2": area["floorplan"]["chip_area_um2"] / UM2_PER_MM2,
            "power_static_w": power["total"]["static_total_w"],
            "power_crossbar_read_w": power["total"]["crossbar_read_w"],
            "power_all_on_w": power["total"]["all_on_w"],
            "power_duty_cycled_w": power["total"]["duty_cycled_w"],
        }
    ratios = {key: figures["to"][key] / figures["from"][key]
              for key, value in figures["from"].items() if isinstance(value, float) and value}
    return {
        "from": figures["from"],
        "to": figures["to"],
        "ratio": ratios,
        "rule": scaled.technology.scaling_rule,
        "component_sources": sorted({unit.source for unit in scaled.components.components.values()}),
        "note": (
            "Crossbar read power does not scale with the CMOS node: it is set by the device's read voltage and "
            "conductances, which the device file holds and this re-run leaves unchanged."
        ),
    }


def write_estimate_report(
    architecture: Architecture,
    out_dir: str | Path,
    *,
    scale_to: tuple[str, str] | None = (DEFAULT_SCALED_TECHNOLOGY, DEFAULT_SCALED_COMPONENTS),
    **options,
) -> dict:
    """`estimate` (same keyword options) plus a technology-scaling section, written as report.md, report.json and
    report.html in out_dir; returns the figures with the written paths under "files"."""
    from .report import write_report

    result = estimate(architecture, **options)
    if scale_to:
        result["scaling"] = scaling_comparison(architecture, *scale_to)
    written = write_report(result, out_dir)
    return {**result, "files": {kind: str(path) for kind, path in written.items()}}
