"""Serve trench cross-sections, permit quantities (JSON, CSV) and section drawings (SVG, PNG).

Three inputs (posted segments, a posted plan, a stored plan), each analysed by the one
route analysis (``api.services.analysis`` → ``routing.analysis.analyse_route``), and one
renderer table for the documents of a result (``_RENDERERS``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated
from typing import Any
from typing import Literal

import geopandas as gpd
from fastapi import APIRouter
from fastapi import Query
from fastapi.responses import Response
from pydantic import BaseModel
from pydantic import Field
from shapely.errors import ShapelyError
from shapely.geometry import LineString
from shapely.geometry import Point
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.errors import register
from api.policy import AccessDep
from api.responses import error_response
from api.services.analysis import analyse_frames
from api.services.analysis import analyse_segments
from api.services.analysis import city_by_id
from geodata import storage
from geodata.crs import parse_crs
from geodata.errors import CRSError
from geodata.plan_store import get_plan
from maps.frames import trench_frames
from maps.section_drawing import section_png
from maps.section_drawing import section_svg
from routing.analysis import RouteAnalysis
from routing.errors import SectionError
from routing.quantities import quantities_frame
from routing.results import TrenchPlan
from routing.sections import CrossSection
from routing.sections import ExistingLine
from routing.sections import LineSpec
from routing.sections import SiteConditions
from routing.sections import TrenchSegment

__all__ = [
    "LineIn",
    "PlanSectionsRequest",
    "SectionsPublic",
    "SectionsRequest",
    "SegmentIn",
    "router",
]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/sections", tags=["sections"])

register(SectionError, 422)


class LineIn(BaseModel):
    """A line to lay: utility, D0 and subtype (see ``routing.sections.LineSpec``)."""

    utility: str
    outside_diameter_mm: float = Field(gt=0)
    subtype: str | None = None
    dn_mm: float | None = Field(default=None, gt=0)
    role: Literal["distribution", "transmission"] = "distribution"
    material: str = "metal_or_plastic"
    tags: list[str] = Field(default_factory=list)
    formwork_mm: float = Field(default=0.0, ge=0)
    label: str = ""


class ExistingLineIn(BaseModel):
    """An existing line crossing the segment (depth to its top)."""

    utility: str
    top_depth_m: float = Field(ge=0)
    outside_diameter_mm: float = Field(gt=0)
    subtype: str | None = None
    label: str = ""


class SegmentIn(BaseModel):
    """A trench segment: its lines and the road that hosts it (coordinates in ``crs``)."""

    segment_id: str
    lines: list[LineIn] = Field(min_length=1)
    coordinates: list[tuple[float, float]] | None = Field(default=None, min_length=2)
    length_m: float | None = Field(default=None, ge=0)
    road_width_m: float | None = Field(default=None, gt=0)
    lane: Literal["motor", "non_motor", "sidewalk"] = "motor"
    pavement: str | None = None
    road_class: str | None = None
    crossings: list[ExistingLineIn] = Field(default_factory=list)


class SiteIn(BaseModel):
    """City parameters: frost depth (m) and soil (see ``routing.sections.SiteConditions``)."""

    frost_depth_m: float | None = Field(default=None, ge=0)
    slope_soil: str = "stiff_silty_clay_or_clay"
    wall_soil: str = "clay"
    top_load: str = "dynamic_load_at_top"
    support: Literal["auto", "slope", "shoring", "vertical"] = "auto"


class PointIn(BaseModel):
    """A tree or pole in ``crs``."""

    id: str | int
    x: float
    y: float
    pole_kind: str | None = None


class SectionsRequest(BaseModel):
    """Trench segments and their lines, with optional trees and poles for the quantities.

    With ``city``, its frost depth (unless ``site`` gives one) and CRS are used, and its stored
    trees, poles and underground lines near the segments join the quantities and the
    vertical-clearance checks.
    """

    segments: list[SegmentIn] = Field(min_length=1)
    city: str | None = None
    site: SiteIn = Field(default_factory=SiteIn)
    method: Literal["lp", "milp"] = "lp"
    crs: str | None = Field(default=None, description="metric CRS of coordinates, e.g. EPSG:32652")
    trees: list[PointIn] = Field(default_factory=list)
    poles: list[PointIn] = Field(default_factory=list)


class SectionsPublic(BaseModel):
    """Sections (every value with clause and verification), the permit quantities, the
    warnings and the existing lines each edge crosses."""

    sections: list[dict[str, Any]]
    quantities: dict[str, Any]
    warnings: list[dict[str, Any]] = Field(default_factory=list)
    crossings: list[dict[str, Any]] = Field(default_factory=list)


class PlanSectionsRequest(BaseModel):
    """A trench plan (``TrenchPlan.to_dict()``) to lay out, edge by edge.

    With ``city``, road widths and pavements come from its stored road segments (the plan's
    ``segment_id`` is the row id), and its frost depth, trees, poles and underground lines
    are used. ``lines`` gives the real lines per utility; others use the documented default
    sizes (``routing/data/line_defaults.yaml``).
    """

    plan: dict[str, Any]
    city: str | None = None
    site: SiteIn = Field(default_factory=SiteIn)
    method: Literal["lp", "milp"] = "lp"
    lines: dict[str, list[LineIn]] = Field(default_factory=dict)


Document = Literal["quantities.csv", "drawing.svg", "drawing.png"]
SegmentQuery = Annotated[str | None, Query(description="segment to draw; the first if omitted")]
DpiQuery = Annotated[int, Query(ge=30, le=600, description="PNG resolution")]
VersionQuery = Annotated[int | None, Query(description="the latest if omitted")]
_NO_CITY: dict[int | str, dict[str, Any]] = {
    404: error_response("城市不存在 / no city of that name (body.city)")
}
_DOCUMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}, "image/svg+xml": {}, "image/png": {}}},
    **_NO_CITY,
}


@router.post("", operation_id="sections-compute", response_model=SectionsPublic, responses=_NO_CITY)
def compute_sections(
    body: SectionsRequest, session: SessionDep, access: AccessDep
) -> dict[str, Any]:
    """Lay out the lines of each segment and derive the permit quantities."""
    access.city(body.city)
    return _segments_analysis(body, session).as_dict()


@router.post(
    "/plan", operation_id="sections-plan", response_model=SectionsPublic, responses=_NO_CITY
)
def plan_sections(
    body: PlanSectionsRequest, session: SessionDep, access: AccessDep
) -> dict[str, Any]:
    """Sections and permit quantities of every edge of a trench plan."""
    access.city(body.city)
    return _plan_analysis(body, session).as_dict()


@router.get(
    "/plans/{plan_key}",
    operation_id="sections-stored-plan",
    response_model=SectionsPublic,
    responses={404: error_response("方案不存在 / no such plan or version")},
)
def stored_plan_sections(
    session: SessionDep,
    plan_key: str,
    version: VersionQuery = None,
    method: Literal["lp", "milp"] = "lp",
) -> dict[str, Any]:
    """Sections and permit quantities of a stored trench plan (its city's roads and layers)."""
    return _stored_analysis(session, plan_key, version, method).as_dict()


@router.post(
    "/plan/{document}",
    operation_id="sections-plan-document",
    response_class=Response,
    responses=_DOCUMENT_RESPONSES,
)
def plan_document(
    *,
    document: Document,
    body: PlanSectionsRequest,
    session: SessionDep,
    access: AccessDep,
    segment_id: SegmentQuery = None,
    dpi: DpiQuery = 150,
) -> Response:
    """A trench plan's quantities (CSV, one row per edge) or an edge's drawing (SVG, PNG)."""
    access.city(body.city)
    return _RENDERERS[document](_plan_analysis(body, session), segment_id=segment_id, dpi=dpi)


@router.get(
    "/plans/{plan_key}/{document}",
    operation_id="sections-stored-plan-document",
    response_class=Response,
    responses={**_DOCUMENT_RESPONSES, 404: error_response("方案不存在 / no such plan")},
)
def stored_plan_document(
    session: SessionDep,
    plan_key: str,
    document: Document,
    *,
    segment_id: SegmentQuery = None,
    version: VersionQuery = None,
    dpi: DpiQuery = 150,
) -> Response:
    """A stored plan's quantities (CSV) or one edge's drawing (SVG, PNG)."""
    analysis = _stored_analysis(session, plan_key, version, "lp")
    return _RENDERERS[document](analysis, segment_id=segment_id, dpi=dpi)


@router.post(
    "/{document}",
    operation_id="sections-document",
    response_class=Response,
    responses=_DOCUMENT_RESPONSES,
)
def segments_document(
    *,
    document: Document,
    body: SectionsRequest,
    session: SessionDep,
    access: AccessDep,
    segment_id: SegmentQuery = None,
    dpi: DpiQuery = 150,
) -> Response:
    """Posted segments' quantities (CSV, one row per segment) or a drawing (SVG, PNG)."""
    access.city(body.city)
    return _RENDERERS[document](_segments_analysis(body, session), segment_id=segment_id, dpi=dpi)


# -- renderers ----------------------------------------------------------------------------------


def _csv(analysis: RouteAnalysis, **_: Any) -> Response:
    text = quantities_frame(analysis.quantities).to_csv(index=False, lineterminator="\n")
    return Response(
        content=text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="quantities.csv"'},
    )


def _svg(analysis: RouteAnalysis, *, segment_id: str | None, **_: Any) -> Response:
    return Response(section_svg(_chosen(analysis, segment_id)), media_type="image/svg+xml")


def _png(analysis: RouteAnalysis, *, segment_id: str | None, dpi: int, **_: Any) -> Response:
    return Response(section_png(_chosen(analysis, segment_id), dpi=dpi), media_type="image/png")


_RENDERERS: dict[str, Callable[..., Response]] = {
    "quantities.csv": _csv,
    "drawing.svg": _svg,
    "drawing.png": _png,
}


def _chosen(analysis: RouteAnalysis, segment_id: str | None) -> CrossSection:
    if not analysis.sections:
        msg = "the plan has no trench edges to draw"
        raise SectionError(msg)
    if segment_id is None:
        return analysis.sections[0]
    try:
        return analysis.section(segment_id)
    except KeyError:
        known = ", ".join(s.segment_id for s in analysis.sections[:10])
        msg = f"no segment {segment_id!r} (first ones: {known})"
        raise SectionError(msg) from None


# -- inputs -------------------------------------------------------------------------------------


def _segments_analysis(body: SectionsRequest, session: Session) -> RouteAnalysis:
    crs = _crs(body.crs)
    city = None if body.city is None else storage.get_city(session, body.city)
    if city is not None:
        if crs is None:
            crs = city.crs
        elif parse_crs(crs) != parse_crs(city.crs):
            msg = f"city {city.name!r} stores {city.crs}; send coordinates in it, not {crs}"
            raise SectionError(msg)
    return analyse_segments(
        session,
        _segments(body, crs),
        city=city,
        crs=crs,
        site=_site(body.site),
        method=body.method,
        extra_trees=_points(body.trees, crs, poles=False),
        extra_poles=_points(body.poles, crs, poles=True),
    )


def _plan_analysis(body: PlanSectionsRequest, session: Session) -> RouteAnalysis:
    plan = _plan(body.plan)
    city = None if body.city is None else storage.get_city(session, body.city)
    return _plan_in_city(
        session, plan, city, site=_site(body.site), lines=_lines(body.lines), method=body.method
    )


def _stored_analysis(
    session: Session, plan_key: str, version: int | None, method: str
) -> RouteAnalysis:
    stored = get_plan(session, plan_key, version)
    return _plan_in_city(
        session,
        TrenchPlan.from_dict(dict(stored.result)),
        city_by_id(session, stored.city_id),
        site=None,
        lines={},
        method="milp" if method == "milp" else "lp",
    )


def _plan_in_city(
    session: Session,
    plan: TrenchPlan,
    city: storage.CityInfo | None,
    *,
    site: SiteConditions | None,
    lines: dict[str, list[LineSpec]],
    method: str,
) -> RouteAnalysis:
    if not plan.edges:
        return analyse_segments(session, [], city=None, crs=plan.crs, site=site, method=method)
    try:
        frames = trench_frames(plan)
    except (TypeError, ValueError) as exc:
        msg = f"plan is not a TrenchPlan.to_dict() document: {exc}"
        raise SectionError(msg) from exc
    analysed = analyse_frames(session, frames, city=city, site=site, lines=lines, method=method)
    return analysed.analysis


def _crs(crs: str | None) -> str | None:
    if crs is not None:
        try:
            parse_crs(crs)
        except CRSError as exc:
            msg = (
                f"未知的 crs / unknown crs {crs!r}: give an EPSG code such as 'EPSG:32652'"
                if exc.__cause__ is not None  # pyproj knows no such CRS
                else f"crs: {exc}"
            )
            raise SectionError(msg) from exc
    return crs


def _line(line: LineIn) -> LineSpec:
    return LineSpec(
        utility=line.utility,
        outside_diameter_mm=line.outside_diameter_mm,
        subtype=line.subtype,
        dn_mm=line.dn_mm,
        role=line.role,
        material=line.material,
        tags=frozenset(line.tags),
        formwork_mm=line.formwork_mm,
        label=line.label,
    )


def _lines(lines: dict[str, list[LineIn]]) -> dict[str, list[LineSpec]]:
    return {utility: [_line(line) for line in specs] for utility, specs in lines.items()}


def _segments(body: SectionsRequest, crs: str | None) -> list[TrenchSegment]:
    out = []
    for seg in body.segments:
        geometry = LineString(seg.coordinates) if seg.coordinates else None
        if geometry is not None and crs is None:
            msg = f"segment {seg.segment_id!r} has coordinates: give their metric crs"
            raise SectionError(msg)
        out.append(
            TrenchSegment(
                segment_id=seg.segment_id,
                lines=tuple(_line(line) for line in seg.lines),
                geometry=geometry,
                length_m=seg.length_m,
                road_width_m=seg.road_width_m,
                lane=seg.lane,
                pavement=seg.pavement,
                road_class=seg.road_class,
                crossings=tuple(
                    ExistingLine(
                        c.utility, c.top_depth_m, c.outside_diameter_mm, c.subtype, c.label
                    )
                    for c in seg.crossings
                ),
            )
        )
    return out


def _site(s: SiteIn) -> SiteConditions:
    return SiteConditions(
        frost_depth_m=s.frost_depth_m,
        slope_soil=s.slope_soil,
        wall_soil=s.wall_soil,
        top_load=s.top_load,
        support=s.support,
    )


def _points(points: list[PointIn], crs: str | None, *, poles: bool) -> gpd.GeoDataFrame | None:
    if not points:
        return None
    if crs is None:
        msg = "trees and poles need the crs of their coordinates"
        raise SectionError(msg)
    cols: dict[str, list[Any]] = {}
    if poles:
        cols["pole_kind"] = [p.pole_kind for p in points]
    gdf = gpd.GeoDataFrame(cols, geometry=[Point(p.x, p.y) for p in points], crs=crs)
    gdf.index = [p.id for p in points]
    return gdf


def _plan(document: dict[str, Any]) -> TrenchPlan:
    try:
        return TrenchPlan.from_dict(document)
    except (KeyError, TypeError, ValueError, ShapelyError) as exc:
        msg = f"plan is not a TrenchPlan.to_dict() document: {exc!r}"
        raise SectionError(msg) from exc
