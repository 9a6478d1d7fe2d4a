"""Layout: the GDS holds the floorplan (one instance per tile, areas within one grid step), the memristors the tile
plan counts, clean design rules, and a broken cell is caught."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import gdstk
import klayout.db as kdb
import klayout.lay as lay
import pytest
from PIL import Image

from amdcgan.cli import main
from amdcgan.hdl.floorplan import build_floorplan
from amdcgan.hdl.graph import build_graph
from amdcgan.hdl.loader import resolve_library, shipped_names
from amdcgan.hdl.mapping import plan_tiles
from amdcgan.hdl.spec import TileLimits
from amdcgan.layout import cells, drc, measure_areas, write_layout
from amdcgan.layout.chip import build_tile
from amdcgan.layout.lyp import write_layer_properties
from amdcgan.layout.measure import TILE_ID_PROPERTY, placements, read_gds
from amdcgan.layout.pdk import activate_pdk

SMALL_TILE = "generator.deconv1.0"  # has a load-memristor bank under its crossbar


@pytest.fixture(scope="module")
def small_chip(small_arch, tmp_path_factory):
    folder = tmp_path_factory.mktemp("layout")
    return write_layout(small_arch, folder / "chip.gds", folder / "chip.png")


def _tile_instances(gds_path) -> dict[str, tuple[kdb.DBox, str]]:
    """Tile id -> (bounding box in um, cell name) of each instance of the top cell."""
    _, top = read_gds(gds_path)
    return {instance.property(TILE_ID_PROPERTY): (instance.dbbox(), instance.cell.name) for instance in top.each_inst()}


def test_top_cell_holds_one_instance_per_tile(small_arch, small_chip):
    plan = plan_tiles(small_arch)
    _, top = read_gds(small_chip["gds"])
    assert top.name == small_chip["top_cell"]
    assert top.child_instances() == len(plan.tiles()) == 6
    assert set(_tile_instances(small_chip["gds"])) == {tile.id for tile in plan.tiles()}


def test_gdstk_sees_a_single_top_cell(small_chip):
    library = gdstk.read_gds(small_chip["gds"])
    assert [cell.name for cell in library.top_level()] == [small_chip["top_cell"]]


def test_tiles_and_chip_match_the_floorplan_within_one_grid_step(small_arch, small_chip):
    floorplan = build_floorplan(plan_tiles(small_arch))
    step = floorplan.grid_um
    for tile_id, (box, _) in _tile_instances(small_chip["gds"]).items():
        rect = floorplan.tile(tile_id).rect
        for measured, planned in ((box.left, rect.x), (box.bottom, rect.y), (box.width(), rect.width),
                                  (box.height(), rect.height)):
            assert abs(measured - floorplan.um(planned)) <= step, tile_id
    areas = measure_areas(small_chip["gds"])
    for tile in floorplan.tiles:
        slack = step * (floorplan.um(tile.rect.width) + floorplan.um(tile.rect.height) + step)
        assert areas[tile.tile_id] == pytest.approx(floorplan.um2(tile.rect.area), abs=slack)
    chip_slack = step * (floorplan.um(floorplan.width) + floorplan.um(floorplan.height) + step)
    assert areas["chip"] == pytest.approx(floorplan.chip_area_um2, abs=chip_slack)


def test_gds_draws_every_memristor_the_hardware_graph_counts(small_arch, small_chip):
    counted = build_graph(small_arch).summary()["total"]["memristors"]
    assert counted["averager"] > 0  # the small system pools, so its averagers' memristors must be drawn too
    layout, top = read_gds(small_chip["gds"])
    drawn = placements(small_chip["gds"])
    assert drawn["crossbar_memristor"] == counted["crossbar"] + counted["sign_crossbar"]
    assert drawn["load_memristor"] == counted["load_memristor"]
    assert drawn["averaging_memristor"] == counted["averager"]
    assert small_chip["memristors"] == small_chip["memristors_in_plan"] == counted["total"]
    # Each is a real crossing: its switching layer lies inside both electrodes.
    switching = small_arch.technology.layers.switching
    cell = layout.cell("averaging_memristor")
    assert not cell.shapes(layout.find_layer(switching.layer, switching.datatype)).is_empty()


def test_cells_are_named_after_what_they_hold(small_arch, small_chip):
    layout, top = read_gds(small_chip["gds"])
    names = [cell.name for cell in layout.each_cell()]
    assert top.name == small_arch.name == small_chip["top_cell"]
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", name) for name in names), names
    assert len(set(names)) == len(names)
    for tile_id, (_, cell_name) in _tile_instances(small_chip["gds"]).items():
        assert cell_name == "tile_" + tile_id.replace(".", "_")
    tile = plan_tiles(small_arch).tiles()[0]
    assert f"crossbar_{tile.n_rows}x{tile.physical_columns}" in names


def test_layer_properties_name_every_layer_of_the_technology(small_arch, small_chip):
    lyp = small_chip["lyp"]
    assert lyp == small_chip["gds"].replace(".gds", ".lyp")
    root = ElementTree.parse(lyp).getroot()
    assert root.tag == "layer-properties"
    by_source = {node.findtext("source"): node.findtext("name") for node in root.iter("properties")}
    technology = small_arch.technology
    for field, spec in technology.layers:
        assert by_source[f"{spec.layer}/{spec.datatype}@1"].startswith(f"{field} {spec.layer}/{spec.datatype}")
    # KLayout itself reads the file and shows those names.
    view = lay.LayoutView()
    view.load_layout(small_chip["gds"], True)
    view.load_layer_props(lyp)
    shown = {node.source: node.name for node in view.each_layer()}
    assert {source.split("@")[0] for source in shown} >= {f"{spec.layer}/{spec.datatype}" for _, spec in
                                                          technology.layers}
    assert all(name for name in shown.values())


def _text_box(text: kdb.Text, dbu: float) -> kdb.DBox:
    """A label's footprint in um: KLayout's default font at the text's size, placed by its transformation."""
    generator = kdb.TextGenerator.default_generator()
    glyphs = generator.text(text.string, dbu, text.size * dbu / generator.dheight())
    return glyphs.bbox().transformed(text.trans).to_dtype(dbu)


def test_labels_fit_inside_what_they_name(small_arch, small_chip):
    layout, top = read_gds(small_chip["gds"])
    text = small_arch.technology.layers.text
    layer = layout.find_layer(text.layer, text.datatype)
    tiles = [box for box, _ in _tile_instances(small_chip["gds"]).values()]
    checked = 0
    for cell in layout.each_cell():
        for shape in cell.shapes(layer).each():
            box = _text_box(shape.text, layout.dbu)
            room = cell.dbbox() if cell.cell_index() != top.cell_index() else next(
                tile for tile in tiles if tile.contains(box.center()))
            assert room.enlarged(1e-3).contains(box.p1) and room.enlarged(1e-3).contains(box.p2), \
                (cell.name, shape.text.string, box, room)
            checked += 1
    assert checked >= len(tiles) * 2


def test_identical_tiles_share_one_cell(small_arch, tmp_path):
    # 101 rows over tiles of at most 32 rows: 26 + 25 + 25 + 25, so the dense layer has two tile shapes, not four.
    arch = small_arch.model_copy(update={"tiles": TileLimits(max_rows=32, max_columns=128)})
    floorplan = build_floorplan(plan_tiles(arch))
    distinct = {(t.rect.width, t.rect.height, t.rows, t.blocks) for t in floorplan.tiles}
    result = write_layout(arch, tmp_path / "split.gds")
    cells_used = {name for _, name in _tile_instances(result["gds"]).values()}
    assert len(floorplan.tiles) > len(distinct)
    assert result["tile_instances"] == len(floorplan.tiles)
    assert len(cells_used) == len(distinct)


def test_generated_chip_and_tile_pass_the_design_rules(small_arch, small_chip):
    assert small_chip["drc_violations"] == []
    assert drc(build_tile(small_arch, SMALL_TILE), small_arch.technology) == []


def test_crossbar_at_too_small_a_pitch_fails_spacing(small_arch):
    activate_pdk(small_arch.technology)
    # Electrodes 0.36 um wide at a 0.60 um pitch leave 0.24 um between lines; the rule asks 0.36.
    broken = cells.crossbar(rows=4, columns=4, pitch=0.6, electrode_width=0.36, enclosure=0.05)
    violations = drc(broken, small_arch.technology)
    assert {v.rule for v in violations} == {"bottom_electrode.min_space", "top_electrode.min_space"}
    assert all(v.found_um == pytest.approx(0.24) and v.required_um == pytest.approx(0.36) for v in violations)
    # Lines start 0.12 um into their cell, so the gaps between 4 rows (and 4 columns) are centred at 0.6, 1.2, 1.8.
    gaps = {0.6, 1.2, 1.8}
    assert {round(v.y_um, 3) for v in violations if v.rule.startswith("bottom")} == gaps
    assert {round(v.x_um, 3) for v in violations if v.rule.startswith("top")} == gaps


def test_thin_electrodes_and_missing_enclosure_are_caught(small_arch):
    activate_pdk(small_arch.technology)
    thin = cells.crossbar(rows=2, columns=2, pitch=0.72, electrode_width=0.30, enclosure=0.05)
    assert {v.rule for v in drc(thin, small_arch.technology)} == {
        "bottom_electrode.min_width", "top_electrode.min_width"}
    bare = cells.junction(pitch=0.72, electrode_width=0.36, enclosure=0.0)
    assert {v.rule for v in drc(bare, small_arch.technology)} == {
        "bottom_electrode.switching_enclosure", "top_electrode.switching_enclosure"}


def _colours(path) -> int:
    image = Image.open(path).convert("RGB")
    assert image.width >= 400 and image.height >= 400
    return len(image.getcolors(maxcolors=1 << 20))


def test_chip_png_is_rendered(small_chip):
    assert _colours(small_chip["png"]) > 8


def test_cli_writes_a_tile_with_its_close_up(tmp_path):
    gds, png = tmp_path / "tile.gds", tmp_path / "tile.png"
    assert main(["layout", "examples/small_system.yaml", "-o", str(gds), "--png", str(png), "--tile", SMALL_TILE]) == 0
    assert list(measure_areas(gds)) == [SMALL_TILE, "chip"]
    # The close-up shows the junctions: both electrode colours of the renderer's palette are in the picture.
    colours = {colour for _, colour in Image.open(png).convert("RGB").getcolors(maxcolors=1 << 20)}
    assert (0x3B, 0x6F, 0xD8) in colours and (0xD8, 0x55, 0x3B) in colours


def test_cli_rejects_an_unknown_tile(tmp_path):
    assert main(["layout", "examples/small_system.yaml", "-o", str(tmp_path / "x.gds"), "--tile", "generator.x.0"]) == 2
    assert not (tmp_path / "x.gds").exists()


@pytest.mark.slow
def test_reference_chip_holds_every_memristor(reference_arch, tmp_path):
    plan = plan_tiles(reference_arch)
    result = write_layout(reference_arch, tmp_path / "reference.gds")
    assert result["memristors"] == build_graph(reference_arch).summary()["total"]["memristors"]["total"]
    assert result["tile_instances"] == len(plan.tiles())
    assert result["drc_violations"] == []


@pytest.mark.parametrize("name", shipped_names("technology"))
def test_every_shipped_technology_gets_layer_properties_for_all_its_layers(name, tmp_path):
    technology = resolve_library("technology", name, "test", None)
    path = write_layer_properties(technology, tmp_path / f"{name}.lyp")
    nodes = ElementTree.parse(path).getroot().findall("properties")
    sources = {node.findtext("source") for node in nodes}
    assert sources == {f"{spec.layer}/{spec.datatype}@1" for _, spec in technology.layers}
    assert all(node.findtext("name") and node.findtext("fill-color").startswith("#") for node in nodes)


def test_gds_layer_properties_and_picture_are_written_as_one_set(small_arch, tmp_path):
    """A layout whose picture cannot be written (its name is taken by a folder) replaces none of the previous
    set: the GDS and its .lyp stay the earlier run's."""
    from amdcgan.errors import UserError
    from amdcgan.layout import write_layout

    gds, png = tmp_path / "chip.gds", tmp_path / "chip.png"
    write_layout(small_arch, gds, png)
    before = {path: path.read_bytes() for path in (gds, gds.with_suffix(".lyp"), png)}
    png.unlink()
    png.mkdir()
    with pytest.raises(UserError, match="chip.png"):
        write_layout(small_arch.model_copy(update={"name": "renamed"}), gds, png)
    assert gds.read_bytes() == before[gds] and gds.with_suffix(".lyp").read_bytes() == before[gds.with_suffix(".lyp")]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["chip.gds", "chip.lyp", "chip.png"]
