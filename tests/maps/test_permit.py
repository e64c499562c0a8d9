from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from maps import permit
from maps.style import PERMIT_TYPES
from tests.helpers import assert_pdf_pages_drawn
from tests.maps.sample import CRS
from tests.maps.sample import sample_context
from tests.maps.sample import trench_edges

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "permit"
X0, Y0 = 500_000.0, 5_068_000.0


def info(permit_type: str = "road_excavation", **kw: object) -> permit.SheetInfo:
    values: dict[str, object] = {
        "project": "道里区供水管网接入工程 (合成 synthetic)",
        "application_no": "HRB-2026-000123",
        "permit_type": permit_type,
        "applicant": "哈尔滨供水集团",
        "issued_on": dt.date(2026, 11, 25),
    }
    values.update(kw)
    return permit.SheetInfo(**values)  # type: ignore[arg-type]


def route(width_m: float, height_m: float) -> gpd.GeoDataFrame:
    line = shapely.LineString([(X0, Y0), (X0 + width_m, Y0), (X0 + width_m, Y0 + height_m)])
    return gpd.GeoDataFrame({"edge": ["e1"], "utilities": ["water, gas"]}, geometry=[line], crs=CRS)


def map_axes(fig: Figure) -> Axes:
    # the map is the one axes with a coordinate grid (ticks)
    axes = [ax for ax in fig.axes if ax.axison and len(ax.get_xticks()) and ax.get_aspect() == 1.0]
    assert len(axes) == 1
    return axes[0]


def paper_mm(fig: Figure, ax: Axes) -> tuple[float, float]:
    w_in, h_in = fig.get_size_inches()
    pos = ax.get_position()
    return pos.width * w_in * 25.4, pos.height * h_in * 25.4


@pytest.mark.parametrize(
    ("extent_m", "scale", "paper"),
    [
        ((80, 60), 500, "A4"),
        ((120, 100), 500, "A3"),
        ((150, 150), 1000, "A4"),
        ((250, 200), 1000, "A3"),
        ((300, 300), 2000, "A4"),
        ((500, 400), 2000, "A3"),
    ],
)
def test_largest_standard_scale_that_fits(
    extent_m: tuple[int, int], scale: int, paper: str
) -> None:
    # frames: A3 288 x 271 mm, A4 the same times 297/420; 6 % margin on each side
    layout = permit.choose_layout((0, 0, *extent_m))
    assert (layout.scale, layout.paper) == (scale, paper)


def test_route_too_large_for_one_frame_is_refused_with_its_size() -> None:
    with pytest.raises(permit.SheetScaleError, match=r"spans 600 m x 100 m.*1:2000"):
        permit.choose_layout((0, 0, 600, 100))


@pytest.mark.parametrize("permit_type", PERMIT_TYPES)
def test_map_is_at_true_scale(permit_type: str) -> None:
    edges = trench_edges()
    fig = permit.render_permit_sheet(edges, info(permit_type), context=sample_context(edges))
    ax = map_axes(fig)
    key = "map_excavation" if permit_type == "road_excavation" else "map"
    scale = permit.choose_layout(edges.total_bounds, frame_key=key).scale
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    assert any(f"1:{scale}" in str(t) for t in texts)
    assert scale in permit.STANDARD_SCALES
    w_mm, h_mm = paper_mm(fig, ax)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    # map units (m) per paper millimetre is exactly scale / 1000 in both directions
    assert (x1 - x0) / w_mm == pytest.approx(scale / 1000, rel=1e-9)
    assert (y1 - y0) / h_mm == pytest.approx(scale / 1000, rel=1e-9)
    minx, miny, maxx, maxy = edges.total_bounds
    assert x0 < minx and maxx < x1 and y0 < miny and maxy < y1


def test_render_permit_map_on_given_axes_keeps_the_scale() -> None:
    fig = Figure(figsize=(200 / 25.4, 150 / 25.4))
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))  # 160 mm x 120 mm
    layout = permit.SheetLayout("A4", 1000, (160.0, 120.0), (X0, Y0, X0 + 160, Y0 + 120))
    out = permit.render_permit_map(route(100, 50), ax=ax, layout=layout)
    assert out is fig
    x0, x1 = ax.get_xlim()
    assert x1 - x0 == pytest.approx(160.0) and permit.map_units_per_paper_mm(1000) == 1.0


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout


def pdf_pages_png(path: Path, out_prefix: Path, dpi: int = 40) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(path), str(out_prefix)], check=True)
    return sorted(out_prefix.parent.glob(out_prefix.name + "-*.png"))


@pytest.fixture(scope="module")
def packet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert shutil.which("pdftoppm") and shutil.which("pdftotext"), "poppler-utils is needed"
    edges = trench_edges()
    figs = permit.render_permit_packet(
        edges, [info(p) for p in PERMIT_TYPES], context=sample_context(edges)
    )
    path = tmp_path_factory.mktemp("permit") / "packet.pdf"
    permit.save_permit_packet(figs, path, title="HRB-2026-000123")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, ARTIFACTS / "packet.pdf")
    return path


def test_packet_has_one_sheet_per_permit_with_extractable_text(packet: Path) -> None:
    text = pdf_text(packet)
    pages = text.split("\f")[:-1]
    assert len(pages) == 4
    for n, (page, permit_type) in enumerate(zip(pages, PERMIT_TYPES, strict=True), start=1):
        assert "HRB-2026-000123" in page
        assert permit.style.permit_label(permit_type)[0] in page.replace("\n", "")
        assert f"sheet {n} of 4" in page
        assert "EPSG:32652" in page and "OpenStreetMap contributors" in page
    assert "工程量 Quantities" in pages[3] and "需人工复核" in pages[3].replace("\n", "")


def test_sheets_are_not_blank_and_embed_the_cjk_font(packet: Path, tmp_path: Path) -> None:
    assert_pdf_pages_drawn(packet, tmp_path, pages=4)
    fonts = subprocess.run(
        ["pdffonts", str(packet)], check=True, capture_output=True, text=True
    ).stdout
    cjk = [line for line in fonts.splitlines() if "NotoSansCJK" in line]
    assert cjk and all(" yes " in line for line in cjk)


def test_excavation_sheet_shows_section_and_quantities(tmp_path: Path) -> None:
    drawn: list[Axes] = []

    def draw_section(ax: Axes) -> None:
        drawn.append(ax)
        ax.plot([0, 1], [0, -1])

    rows = [("开挖土方 Excavation", "123.4", "m³"), ("路面恢复 Pavement", "56.7", "m²")]
    fig = permit.render_permit_sheet(
        route(100, 50), info(), draw_section=draw_section, quantities=rows
    )
    assert len(drawn) == 1
    path = permit.save_permit_sheet(fig, tmp_path / "x.pdf")
    text = pdf_text(path)
    assert "123.4" in text and "典型横断面" in text and "需人工复核" not in text


def test_long_route_is_split_into_numbered_map_sheets(tmp_path: Path) -> None:
    figs = permit.render_permit_packet(route(1500, 100), [info("road_occupation")])
    assert len(figs) >= 3
    path = permit.save_permit_packet(figs, tmp_path / "long.pdf")
    pages = pdf_text(path).split("\f")[:-1]
    assert [f"sheet {n} of {len(figs)}" in p for n, p in enumerate(pages, 1)] == [True] * len(figs)
    assert all("1:2000" in p for p in pages)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: info("parking"), ValueError, "unknown permit type 'parking'"),
        (lambda: info(sheet=3, sheets=2), ValueError, "sheet 3 of 2"),
        (
            lambda: permit.render_permit_sheet(route(10, 10).to_crs(4326), info()),
            ValueError,
            "projected metric CRS",
        ),
        (lambda: permit.save_permit_packet([], "x.pdf"), ValueError, "at least one sheet"),
        (lambda: permit.choose_layout((0, 0, 10, 10), papers=["A0"]), ValueError, "unknown paper"),
    ],
)
def test_bad_sheet_input(call, error, words: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=re.escape(words)):
        call()


@pytest.mark.parametrize(
    ("max_m", "bar_m"), [(75.0, 50.0), (30.0, 25.0), (150.0, 100.0), (9.0, 5.0)]
)
def test_scale_bar_takes_a_round_length(max_m: float, bar_m: float) -> None:
    from maps.sheet_furniture import nice_length  # noqa: PLC0415

    assert nice_length(max_m) == bar_m


def test_title_block_values_wrap_to_two_lines_then_cut() -> None:
    from maps.sheet_furniture import fit_text  # noqa: PLC0415

    assert fit_text("short", 44) == "short"
    two = fit_text("依附于城市道路建设管线杆线 / Lines and poles attached to a city road", 44)
    assert two.count("\n") == 1 and two.replace("\n", "").endswith("city road")
    cut = fit_text("挖" * 100, 44)
    assert cut.count("\n") == 1 and cut.endswith("…") and len(cut) == 22 + 1 + 22
