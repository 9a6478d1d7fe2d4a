"""The estimate as a report: report.md (figures beside it), report.json, and a self-contained report.html, both
text forms rendered by the package's one report renderer from the same sections."""

from __future__ import annotations

import io
from pathlib import Path

from amdcgan.fileio import json_text
from amdcgan.report import Document, Figure, Section, Table, fmt, write_report as write_document

from .area import UM2_PER_MM2


def pulse_label(width: str) -> str:
    return f"{float(width) * 1e9:g} ns"


# ---------------------------------------------------------------------------------------------------------------------
# Figures


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return buffer.getvalue()


def _stacked_bars(title: str, unit: str, groups: dict[str, dict[str, float]], log: bool = False) -> bytes:
    """One bar per group, stacked by kind (kinds that are zero everywhere left out)."""
    import matplotlib.pyplot as plt

    kinds = [kind for kind in dict.fromkeys(k for parts in groups.values() for k in parts)
             if any(parts.get(kind, 0) for parts in groups.values())]
    figure, axes = plt.subplots(figsize=(8, 4))
    bottoms = [0.0] * len(groups)
    colours = plt.get_cmap("tab20").colors
    for index, kind in enumerate(kinds):
        values = [parts.get(kind, 0.0) for parts in groups.values()]
        axes.bar(list(groups), values, bottom=bottoms, label=kind, color=colours[index % len(colours)])
        bottoms = [b + v for b, v in zip(bottoms, values)]
    axes.set_ylabel(unit)
    axes.set_title(title)
    if log:
        axes.set_yscale("log")
    axes.tick_params(axis="x", rotation=30)
    axes.legend(fontsize=7, ncol=2)
    return _png(figure)


def _kind_bars(title: str, unit: str, values: dict[str, float]) -> bytes:
    import matplotlib.pyplot as plt

    shown = {kind: value for kind, value in values.items() if value}
    figure, axes = plt.subplots(figsize=(8, 4))
    axes.barh(list(shown), list(shown.values()))
    axes.set_xlabel(unit)
    axes.set_xscale("log")
    axes.set_title(title)
    return _png(figure)


def _training_bars(result: dict) -> bytes:
    """Training time per configuration and pulse width, ours (this architecture) and the paper's, log axis."""
    import matplotlib.pyplot as plt
    import numpy as np

    rows = result["training"]["architecture"]["rows"]
    paper = {row["name"]: row for row in result["training"]["paper_comparison"]["rows"]}
    widths = list(rows[0]["time_s"])
    figure, axes = plt.subplots(figsize=(9, 4.5))
    positions = np.arange(len(rows))
    step = 0.8 / (2 * len(widths))
    for index, width in enumerate(widths):
        ours = [row["time_s"][width] for row in rows]
        printed = [paper[row["name"]]["cells"].get(f"time_s@{float(width):g}", {}).get("paper", np.nan)
                   if row["name"] in paper else np.nan for row in rows]
        offset = -0.4 + step * (2 * index + 0.5)
        axes.bar(positions + offset, ours, step, label=f"ours {pulse_label(width)}")
        axes.bar(positions + offset + step, printed, step, label=f"paper {pulse_label(width)}", hatch="//", alpha=0.6)
    axes.set_yscale("log")
    axes.set_ylabel("training time (s)")
    axes.set_xticks(positions, [row["name"].replace("_", "\n", 2) for row in rows], fontsize=7)
    axes.set_title(f"Training time per update configuration ({result['architecture']}; paper: its own inputs)")
    axes.legend(fontsize=7, ncol=3)
    return _png(figure)


def figures(result: dict) -> dict[str, Figure]:
    import matplotlib

    matplotlib.use("Agg")
    area, power = result["area"], result["power"]
    layers = area["component_sum"]["layers"]
    area_by_layer = {
        name: {**{k: v / UM2_PER_MM2 for k, v in scope["components_um2"].items()},
               **{f"memristor {k}": v / UM2_PER_MM2 for k, v in scope["memristors_um2"].items()}}
        for name, scope in layers.items()
    }
    power_by_layer = {
        name: {**row["static_w"], "crossbar read": row["crossbar_read_w"]} for name, row in power["layers"].items()
    }
    total_area = area["component_sum"]["total"]
    area_by_kind = {**total_area["components_um2"],
                    **{f"memristor {k}": v for k, v in total_area["memristors_um2"].items()}}
    power_by_kind = {**power["total"]["static_w"], "crossbar read": power["total"]["crossbar_read_w"]}
    made = [
        Figure("Area per layer, stacked by component kind (counts x Table I areas, memristors x pitch^2).",
               png=_stacked_bars("Area per layer (component sum)", "mm^2", area_by_layer), name="area_per_layer"),
        Figure("Area per component kind over the whole accelerator.",
               png=_kind_bars("Area per component kind", "um^2 (log)", area_by_kind), name="area_per_kind"),
        Figure("Power per layer with every circuit on, stacked by component kind.",
               png=_stacked_bars("Power per layer, all on", "W", power_by_layer), name="power_per_layer"),
        Figure("Power per component kind over the whole accelerator, all on.",
               png=_kind_bars("Power per component kind, all on", "W (log)", power_by_kind), name="power_per_kind"),
        Figure("Training time per update configuration and write-pulse width: ours for this architecture beside "
               "the paper's Table II (hatched).", png=_training_bars(result), name="training_time"),
    ]
    return {figure.name: figure for figure in made}


# ---------------------------------------------------------------------------------------------------------------------
# Sections


def _summary(result: dict) -> Section:
    head = result["headline"]
    memristors = result["memristor_comparison"]
    rows = [
        ["area, component sum", f"{fmt(head['area_component_sum_mm2'])} mm^2"],
        ["area, floorplan (chip bounding box)", f"{fmt(head['area_floorplan_chip_mm2'])} mm^2"],
        ["area, floorplan (sum of tiles)", f"{fmt(head['area_floorplan_tiles_mm2'])} mm^2"],
        ["power, all on", f"{fmt(head['power_all_on_w'])} W"],
        ["power, duty-cycled", f"{fmt(head['power_duty_cycled_w'])} W"],
        ["power saved by dropout (all on)", f"{fmt(head['dropout_saves_all_on_w'])} W"],
        ["weights (ours / paper's 1.7M)", f"{memristors['our_weights']:,} / {memristors['paper_weights']:,}"],
        ["memristors, all", f"{memristors['our_all_memristors']:,}"],
        ["cycles per image", ", ".join(f"{k} {v:,}" for k, v in result["cycles_per_image"].items())],
    ]
    technology = result["technology"]
    return Section("Summary", blocks=[
        f"Architecture `{result['architecture']}` on `{technology['name']}` ({fmt(technology['node_nm'])} nm) with "
        f"the `{result['components_library']}` component library.",
        Table(["figure", "value"], rows),
        memristors["why"],
    ])


def _by_hand(result: dict) -> Section:
    rows = [
        [row["kind"], fmt(row["count"]), fmt(row["unit_area_um2"]), fmt(row["unit_power_mw"]),
         fmt(row["area_um2"]), fmt(row["power_w"]), row["source"]]
        for row in result["by_hand"]
    ]
    total_area = sum(row["area_um2"] for row in result["by_hand"])
    total_power = sum(row["power_w"] for row in result["by_hand"])
    rows.append(["total", "", "", "", fmt(total_area), fmt(total_power), "all on"])
    return Section("Counts and unit figures (redo the sum by hand)", blocks=[
        "Every circuit and memristor kind with its count from the tile plan and its unit figure from the component "
        "library; area = count x unit area, power = count x unit power (all on).",
        Table(["kind", "count", "unit area (um^2)", "unit power (mW)", "area (um^2)", "power (W)", "source"], rows),
    ])


def _area(result: dict) -> Section:
    area = result["area"]
    summed, placed = area["component_sum"], area["floorplan"]
    layer_rows = [
        [name, fmt(scope["components_total_um2"]), fmt(scope["memristors_total_um2"]), fmt(scope["total_um2"]),
         fmt(placed["by_layer_um2"].get(name, 0.0)),
         fmt(placed["by_layer_um2"].get(name, 0.0) / scope["total_um2"])]
        for name, scope in summed["layers"].items()
    ]
    for name, scope in summed["networks"].items():
        layer_rows.append([f"**{name}**", fmt(scope["components_total_um2"]), fmt(scope["memristors_total_um2"]),
                           fmt(scope["total_um2"]), fmt(placed["by_network_um2"][name]),
                           fmt(placed["by_network_um2"][name] / scope["total_um2"])])
    # A floorplan block holds a bank's circuits and its memristors (the averager's averaging memristors, say).
    by_block: dict[str, float] = dict(summed["total"]["components_um2"])
    for kind, value in summed["total"]["memristors_um2"].items():
        by_block[kind] = by_block.get(kind, 0.0) + value
    kind_rows = [[kind, fmt(value), fmt(placed["by_block_kind_um2"].get(kind))]
                 for kind, value in by_block.items() if value]
    blocks = [
        "Component sum: counts x the library's areas, plus memristors x pitch^2 (crossbar and sign-crossbar devices, "
        "load and averaging memristors). Floorplan: the tiles as `hdl.floorplan` places them (banks stretched to "
        "the tile's edge, rounded to the layout grid); the chip is the bounding box of all tiles with their gaps.",
        Table(["scope", "circuits (um^2)", "memristors (um^2)", "component sum (um^2)", "floorplan tiles (um^2)",
               "floorplan / sum"], layer_rows),
        f"Chip bounding box {fmt(placed['chip_um'][0])} x {fmt(placed['chip_um'][1])} um = "
        f"{fmt(placed['chip_area_um2'] / UM2_PER_MM2)} mm^2; tiles {fmt(placed['tiles_area_um2'] / UM2_PER_MM2)} "
        f"mm^2; the circuits fill {fmt(100 * area['floorplan_utilisation'], 3)}% of the box.",
        Table(["block kind (circuits + their memristors)", "component sum (um^2)", "floorplan blocks (um^2)"],
              kind_rows),
    ]
    layout = area["layout"]
    if layout:
        blocks += [
            f"Measured layout areas for {layout['tiles_compared']} of {layout['tiles_in_floorplan']} tiles: "
            f"{fmt(layout['layout_um2'])} um^2 against the floorplan's {fmt(layout['floorplan_um2'])} um^2 "
            f"(ratio {fmt(layout['ratio'])}).",
            Table(["tile", "floorplan (um^2)", "layout (um^2)", "layout / floorplan"],
                  [[tile, fmt(row["floorplan_um2"]), fmt(row["layout_um2"]), fmt(row["ratio"])]
                   for tile, row in list(layout["tiles"].items())[:40]]),
        ]
    return Section("Area", blocks=blocks)


def _power(result: dict) -> Section:
    power = result["power"]
    wired = "crossbar_read_ideal_wires_w" in power["total"]

    def read(row: dict) -> list[str]:
        return [fmt(row["crossbar_read_w"])] + ([fmt(row["crossbar_read_ideal_wires_w"])] if wired else [])

    rows = [
        [name, fmt(row["static_total_w"]), *read(row), fmt(row["duty"]), fmt(row["all_on_w"]),
         fmt(row["duty_cycled_w"])]
        for name, row in power["layers"].items()
    ]
    for name, row in {**power["networks"], "accelerator": power["total"]}.items():
        rows.append([f"**{name}**", fmt(row["static_total_w"]), *read(row), "",
                     fmt(row["all_on_w"]), fmt(row["duty_cycled_w"])])
    dropout = power["dropout"]
    dropout_rows = [
        [name, fmt(row["rate"]), row["switched_off"] or "nothing on chip", fmt(row.get("power_after_switch_w")),
         fmt(row["saved_all_on_w"]), fmt(row["saved_duty_cycled_w"])]
        for name, row in dropout["layers"].items()
    ]
    blocks = [
        f"Crossbar conductances: {power['conductances']}; rows driven at {fmt(power['read_voltage_v'])} V.",
        Table(["scope", "circuits (W)", "crossbar read (W)", *(["crossbar read, ideal wires (W)"] if wired else []),
               "duty", "all on (W)", "duty-cycled (W)"], rows),
        "Assumptions:\n\n" + power["assumptions"],
    ]
    if dropout_rows:
        blocks += [
            f"Dropout saves {fmt(dropout['saved_all_on_w'])} W all on, {fmt(dropout['saved_duty_cycled_w'])} W "
            "duty-cycled:",
            Table(["dropout after", "rate", "switched off", "power after switch (W)", "saved, all on (W)",
                   "saved, duty-cycled (W)"], dropout_rows),
        ]
    return Section("Power", blocks=blocks)


def _training_rows(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    widths = list(rows[0]["time_s"])
    headers = ["configuration", "cycles / image", "devices at once", "power max (W)", "power min (W)",
               *(f"time @ {pulse_label(w)} (s)" for w in widths),
               *(f"energy @ {pulse_label(w)} (J, max..min)" for w in widths), "updates / device"]
    body = [
        [row["name"], fmt(row["cycles_per_image"]), fmt(row["devices_at_once"]), fmt(row["power_max_w"]),
         fmt(row["power_min_w"]), *(fmt(row["time_s"][w]) for w in widths),
         *(f"{fmt(row['energy_max_j'][w])}..{fmt(row['energy_min_j'][w])}" for w in widths),
         fmt(row["update_cycles_per_device"])]
        for row in rows
    ]
    return headers, body


def _training(result: dict) -> Section:
    training = result["training"]
    ours = training["architecture"]
    inputs = ours["inputs"]
    headers, body = _training_rows(ours["rows"])
    comparison = training["paper_comparison"]
    blocks = [
        "Model: one write pulse per device per update round (one image); time = cycles per image x images x epochs "
        "x pulse width; power = devices written at once x V_write^2 / R_on (max) or / R_off (min); energy = device "
        "writes x V_write^2 / R x pulse width. Cycles and devices at once follow from each configuration's "
        "schedule and this architecture's layers (rows x columns of each weight matrix).",
        f"Inputs: {inputs['images']:,} images x {inputs['epochs']} epochs = {inputs['update_rounds']:,} rounds, "
        f"V_write {fmt(inputs['v_write_v'])} V, R_on {fmt(inputs['r_on_ohm'])} Ohm, R_off {fmt(inputs['r_off_ohm'])} Ohm.",
        Table(headers, body),
    ]
    if comparison["rows"]:
        paper_inputs = comparison["inputs"]
        cell_rows = []
        for row in comparison["rows"]:
            for key, cell in row["cells"].items():
                label = key if "@" not in key else f"time @ {pulse_label(key.split('@')[1])} (s)"
                cell_rows.append([row["name"], label, fmt(cell["paper"]), fmt(cell["ours"]), fmt(cell["ratio"]),
                                  f"{'yes' if cell['within_tolerance'] else 'no'} (±{cell['tolerance']:.0%})"])
        implied = [
            [row["name"], fmt(row["ours_cycles_per_image"]),
             fmt(next(iter(row["paper_implied_cycles_per_image"].values()))), fmt(row["ours_devices_at_once"]),
             f"{fmt(row['paper_implied_devices_at_once_from_max'])} / {fmt(row['paper_implied_devices_at_once_from_min'])}"]
            for row in comparison["rows"]
        ]
        blocks += [
            f"**Back-solved reading.** The paper's Table II beside the same model run on the paper's inputs "
            f"({paper_inputs['weights']:,.0f} weights over 2 x {paper_inputs['layers_per_network']} equal layers of "
            f"{paper_inputs['max_rows']} rows, a height read back from the paper's own times since it gives no layer "
            f"shapes; {paper_inputs['images']:,} images, {paper_inputs['epochs']} epochs, V_write "
            f"{fmt(paper_inputs['v_write_v'])} V, R_on {fmt(paper_inputs['r_on_ohm'])} Ohm, R_off "
            f"{fmt(paper_inputs['r_off_ohm'])} Ohm). Agreement here shows the rule can give the printed figures, "
            f"not that this architecture does; the table above is this architecture's own:",
            Table(["configuration", "cell", "paper", "ours", "ours / paper", "within tolerance"], cell_rows),
            "What the printed figures imply under this model (cycles per image = time / (rounds x pulse); devices at "
            "once = power x R / V^2):",
            Table(["configuration", "our cycles / image", "paper's implied cycles", "our devices at once",
                   "paper's implied devices at once (max / min)"], implied),
            *(f"**{row['name']}**: {row['note']}" for row in comparison["rows"] if row["note"]),
        ]
    run = training["run"]
    if run:
        widths = list(run["rows"][0]["time_s"])
        blocks += [
            f"This training run: {fmt(run['rounds'])} update rounds; updates per device max "
            f"{fmt(run['update_cycles_per_device']['max'])}, mean {fmt(run['update_cycles_per_device']['mean'])}; "
            f"write energy {fmt(run['stats']['write_energy_j'])} J as counted.",
            Table(["configuration", "power max (W)", "power min (W)", *(f"time @ {pulse_label(w)} (s)" for w in widths)],
                  [[row["name"], fmt(row["power_max_w"]), fmt(row["power_min_w"]),
                    *(fmt(row["time_s"][w]) for w in widths)] for row in run["rows"]]),
        ]
        if run["energy_from_pulses"]:
            blocks.append("Write energy from the counted pulses: " + "; ".join(
                f"{pulse_label(w)}: {fmt(e['max_j'])}..{fmt(e['min_j'])} J" for w, e in run["energy_from_pulses"].items()))
    return Section("Training time and power (Table II)", blocks=blocks)


def _small_system(comparison: dict) -> Section:
    paper = comparison["paper"]
    closing = [
        [kind, fmt(row["circuits"], 3), fmt(row["added_area_mm2"]), "yes" if row["fits_area_gap"] else "no"]
        for kind, row in comparison["circuits_closing_power_gap"].items()
    ]
    return Section("Beside the paper's small system", blocks=[
        Table(["figure", "paper", "ours", "ours / paper"], [
            ["area (mm^2), component sum", fmt(paper["area_mm2"]), fmt(comparison["ours_component_sum_mm2"]),
             fmt(comparison["area_ratio"])],
            ["area (mm^2), floorplan chip", fmt(paper["area_mm2"]), fmt(comparison["ours_floorplan_chip_mm2"]),
             fmt(comparison["ours_floorplan_chip_mm2"] / paper["area_mm2"])],
            ["power (W), all on", fmt(paper["power_w"]), fmt(comparison["ours_power_all_on_w"]),
             fmt(comparison["power_ratio"])],
            ["power (W), duty-cycled", fmt(paper["power_w"]), fmt(comparison["ours_power_duty_cycled_w"]),
             fmt(comparison["ours_power_duty_cycled_w"] / paper["power_w"])],
        ]),
        f"Gaps (paper - ours): power {fmt(comparison['power_gap_w'])} W all on, area "
        f"{fmt(comparison['area_gap_mm2'])} mm^2 (component sum). The counts and unit figures behind our sums are "
        "in the section 'Counts and unit figures'.",
        Table(["circuit kind", "circuits to close the power gap", "area they add (mm^2)", "within the area gap"],
              closing),
        comparison["why"],
    ])


def _scaling(scaling: dict) -> Section:
    before, after = scaling["from"], scaling["to"]
    keys = [key for key in before if key in scaling["ratio"] and key != "node_nm"]
    return Section(f"Technology scaling: {before['technology']} -> {after['technology']}", blocks=[
        f"The same architecture re-estimated on `{after['technology']}` with the `{after['components_library']}` "
        f"library. Rule: {scaling['rule']}. Component figures: {'; '.join(scaling['component_sources'])}.",
        Table(["figure", f"{fmt(before['node_nm'])} nm", f"{fmt(after['node_nm'])} nm", "ratio"],
              [[key, fmt(before[key]), fmt(after[key]), fmt(scaling["ratio"][key])] for key in keys]),
        scaling["note"],
    ])


def sections(result: dict, made: dict[str, Figure]) -> list[Section]:
    built = [_summary(result), _by_hand(result), _area(result), _power(result), _training(result)]
    built[2].blocks += [made["area_per_layer"], made["area_per_kind"]]
    built[3].blocks += [made["power_per_layer"], made["power_per_kind"]]
    built[4].blocks.append(made["training_time"])
    if result.get("small_system_comparison"):
        built.append(_small_system(result["small_system_comparison"]))
    if result.get("scaling"):
        built.append(_scaling(result["scaling"]))
    return built


def write_report(result: dict, out_dir: str | Path) -> dict[str, Path]:
    """report.json, report.md with figures/*.png beside it, and a self-contained report.html."""
    out_dir = Path(out_dir)
    made = figures(result)
    document = Document(f"Estimate: {result['architecture']}", sections=sections(result, made))
    report_json = out_dir / "report.json"
    *_, markdown, html = write_document(document, out_dir, "report.md", "report.html", embed_images=True,
                                        figure_folder="figures", extra={report_json: json_text(result).encode()})
    return {"json": report_json, "markdown": markdown, "html": html}
