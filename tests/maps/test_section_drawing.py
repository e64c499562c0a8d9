"""Cross-section drawings: SVG and PNG, bilingual labels, clauses, and the font fallback."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from matplotlib.backends.backend_pdf import FigureCanvasPdf
from matplotlib.backends.backend_pdf import RendererPdf
from matplotlib.figure import Figure

from maps import section_drawing as sd
from routing.sections import LineSpec
from routing.sections import SiteConditions
from routing.sections import TrenchSegment
from routing.sections import cross_section

LINES = (
    LineSpec("water", 320, dn_mm=300),
    LineSpec("gas", 160, subtype="medium_a", dn_mm=150),
    LineSpec("power", 200, subtype="conduit"),
    LineSpec("telecom", 300, subtype="duct"),
    LineSpec("reclaimed_water", 200),
)


@pytest.fixture(scope="module")
def section():  # type: ignore[no-untyped-def]
    seg = TrenchSegment("harbin-7", LINES, length_m=80, road_width_m=3.5)
    return cross_section(seg, site=SiteConditions(frost_depth_m=2.0))


def test_svg_has_bilingual_labels_clauses_and_flags(section) -> None:  # type: ignore[no-untyped-def]
    assert sd.cjk_font_available(), "fonts-noto-cjk is installed by the Makefile"
    svg = sd.section_svg(section).decode("utf-8")
    assert svg.lstrip().startswith(("<?xml", "<svg"))
    for text in ("给水 Water", "燃气 Gas", "再生水 Reclaimed water", "表4.1.9", "unverified"):
        assert text in svg, text
    assert "GB 50268-2008 §4.3.2" in svg
    assert "需采取安全措施并报批" in svg  # the road is too narrow
    assert "覆土 cover 2.15 m" in svg  # frost-governed water in Harbin


def test_png_is_a_png(section) -> None:  # type: ignore[no-untyped-def]
    png = sd.section_png(section, dpi=60)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 10_000


def test_svg_is_reproducible(section) -> None:  # type: ignore[no-untyped-def]
    assert sd.section_svg(section) == sd.section_svg(section)


def test_render_on_given_axes_and_save(section, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fig = Figure()
    ax = fig.add_subplot()
    assert sd.render_section(section, ax=ax) is fig
    assert sd.save_section(fig, tmp_path / "s.svg").read_bytes().startswith(b"<?xml")
    assert sd.save_section(fig, tmp_path / "s.png", dpi=50).read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match=r"\.svg or \.png"):
        sd.save_section(fig, tmp_path / "s.pdf")


def test_without_the_cjk_font_labels_fall_back_to_english(
    section, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sd, "CJK_FONT_PATH", tmp_path / "missing.ttc")
    monkeypatch.setattr(sd, "_font_state", {})
    svg = sd.section_svg(section).decode("utf-8")
    assert "CJK font missing" in svg
    assert "Water" in svg
    assert "Table 4.1.9" in svg
    assert not re.search(r"[\u4e00-\u9fff]", svg)


TIGHT = (
    LineSpec("power", 100, subtype="direct_buried"),
    LineSpec("power", 100, subtype="direct_buried"),
    LineSpec("telecom", 60, subtype="direct_buried"),
    LineSpec("telecom", 60, subtype="direct_buried"),
)


def _pdf_label_clashes(section) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Pairs of labels whose boxes intersect, as the PDF backend lays them out (its metrics).

    (Poppler's ``pdftotext -bbox`` gives line boxes padded to the CJK font's full height,
    which overlap between any two lines of one label, so it cannot measure this.)
    """
    fig = sd.render_section(section)
    with sd._rc():
        FigureCanvasPdf(fig)
        fig.savefig(io.BytesIO(), format="pdf", metadata={"CreationDate": None})
        renderer = RendererPdf(None, 72, *fig.get_size_inches())  # type: ignore[no-untyped-call]
        boxes = [
            (t.get_text(), t.get_window_extent(renderer))
            for t in fig.axes[0].texts
            if t.get_text().strip()
        ]
    assert len(boxes) > 10
    return [
        (a[0][:20], b[0][:20])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a[1].overlaps(b[1])
    ]


@pytest.mark.parametrize("lines", [LINES, TIGHT], ids=["harbin", "tight cables"])
def test_no_two_text_boxes_of_a_section_overlap_on_the_pdf_page(
    lines: tuple[LineSpec, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four direct-buried cables 0.1-0.5 m apart: their labels collide unless moved apart."""
    sec = cross_section(TrenchSegment("t", lines, length_m=50, road_width_m=6))
    assert _pdf_label_clashes(sec) == []
    if lines is TIGHT:  # the same drawing without the declutter step does clash
        monkeypatch.setattr(sd, "declutter", lambda ax, **_: 0)
        assert _pdf_label_clashes(sec) != []


def test_sub_types_are_named_in_chinese(section) -> None:  # type: ignore[no-untyped-def]
    svg = sd.section_svg(section).decode("utf-8")
    assert "中压A燃气" in svg
    assert "电力排管" in svg
    assert "medium_a" not in svg.split("unverified")[0]  # no raw key as a label
