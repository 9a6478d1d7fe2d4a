"""`amdcgan layout`: the chip (or one tile) as GDS, with an optional PNG. Heavy imports happen inside the command."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from amdcgan.context import CommandContext, max_work_option


def register(app: typer.Typer, context: CommandContext) -> None:
    @app.command()
    def layout(
        arch: Path = typer.Argument(..., help="architecture YAML file (see examples/)", show_default=False),
        output: Path = typer.Option(..., "-o", "--output", help="GDS file to write"),
        png: Optional[Path] = typer.Option(None, "--png", help="also render a PNG of the layout"),
        tile: Optional[str] = typer.Option(None, "--tile", help="only this tile, as NETWORK.LAYER.INDEX"),
        max_work: float = max_work_option(),
    ) -> None:
        """Draw the accelerator's floorplan (every tile, crossbar junctions, periphery) as a hierarchical GDS."""
        from amdcgan.errors import UserError
        from amdcgan.fileio import check_output_file
        from amdcgan.layout.chip import write_layout

        check_output_file(output)
        if png is not None:
            check_output_file(png)
            if png.absolute() == output.absolute():
                raise UserError(f"{png}: the PNG and the GDS need different file names")
        architecture = context.load(arch, max_work, "layout_items")
        console = context.console
        with console.status("drawing the layout"):
            result = write_layout(architecture, output, png, tile)
        console.print(f"wrote {result['gds']} ({result['gds_bytes']:,} bytes, {result['cells']} cells, "
                      f"{result['tile_instances']} tiles, {result['memristors']:,} memristors drawn of the "
                      f"{result['memristors_in_plan']:,} the tile plan counts)")
        console.print(f"wrote {result['lyp']} (KLayout layer names and colours: File > Load Layer Properties)")
        if result["png"]:
            console.print(f"wrote {result['png']}")
        console.print(f"area: {result['areas_um2']['chip'] / 1e6:.4f} mm^2 measured in the GDS, "
                      f"{result['floorplan_areas_um2']['chip'] / 1e6:.4f} mm^2 in the floorplan")
        violations = result["drc_violations"]
        console.print(f"design rules: {len(violations)} violation(s)" + "".join(
            f"\n  {v['rule']} at ({v['x_um']:.3f}, {v['y_um']:.3f}) um: {v['found_um']:.3f} < {v['required_um']:.3f}"
            for v in violations[:10]))
