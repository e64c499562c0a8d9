"""Lay out a printed sheet: paper sizes, frames in millimetres, what the title block says."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from maps import style

__all__ = [
    "MM_PER_INCH",
    "PAPERS",
    "PAPER_MM",
    "SheetInfo",
    "SheetLayout",
    "font_k",
    "frame_fraction",
    "frame_mm",
    "map_units_per_paper_mm",
]

PAPER_MM = {"A4": (297.0, 210.0), "A3": (420.0, 297.0)}  # landscape: width, height
PAPERS = ("A4", "A3")
MM_PER_INCH = 25.4

# sheet layout on A3 in millimetres (x, y, width, height from the bottom-left corner);
# A4 uses the same layout scaled by 297/420 so both keep the same look.
_LAYOUT_A3 = {
    "map": (12.0, 14.0, 288.0, 271.0),
    "map_excavation": (12.0, 118.0, 288.0, 167.0),
    "section": (24.0, 22.0, 158.0, 88.0),
    "quantities": (188.0, 14.0, 112.0, 96.0),
    "header": (306.0, 247.0, 102.0, 38.0),
    "legend": (306.0, 128.0, 102.0, 117.0),
    "north": (306.0, 100.0, 30.0, 26.0),
    "scalebar": (340.0, 100.0, 68.0, 26.0),
    "title": (306.0, 14.0, 102.0, 84.0),
}


@dataclass(frozen=True)
class SheetInfo:
    """What the title block of one permit sheet says."""

    project: str
    application_no: str
    permit_type: str
    applicant: str
    issued_on: dt.date
    sheet: int = 1
    sheets: int = 1
    attribution: str = style.ATTRIBUTION_OSM
    drawn_by: str = "cotrench"

    def __post_init__(self) -> None:
        style.permit_label(self.permit_type)  # raises on an unknown type
        if not 1 <= self.sheet <= self.sheets:
            msg = f"sheet {self.sheet} of {self.sheets} is impossible"
            raise ValueError(msg)


@dataclass(frozen=True)
class SheetLayout:
    """Paper, scale and map window chosen for a route."""

    paper: str
    scale: int
    frame_mm: tuple[float, float]
    window: tuple[float, float, float, float]  # minx, miny, maxx, maxy in map units (m)


def map_units_per_paper_mm(scale: int) -> float:
    """Return the map units (metres) one paper millimetre covers at ``1:scale``.

    Examples
    --------
    >>> map_units_per_paper_mm(1000)
    1.0
    """
    return scale / 1000.0


def frame_mm(paper: str, key: str) -> tuple[float, float, float, float]:
    if paper not in PAPER_MM:
        msg = f"unknown paper {paper!r}; expected one of {', '.join(PAPER_MM)}"
        raise ValueError(msg)
    k = PAPER_MM[paper][0] / PAPER_MM["A3"][0]
    x, y, w, h = _LAYOUT_A3[key]
    return x * k, y * k, w * k, h * k


def frame_fraction(paper: str, key: str) -> tuple[float, float, float, float]:
    pw, ph = PAPER_MM[paper]
    x, y, w, h = frame_mm(paper, key)
    return x / pw, y / ph, w / pw, h / ph


def font_k(paper: str) -> float:
    return PAPER_MM[paper][0] / PAPER_MM["A3"][0]
