"""Serve trench cross-sections, permit quantities (JSON, CSV) and section drawings (SVG, PNG)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Annotated
from typing import Any
from typing import Literal

import geopandas as gpd
import pandas as pd
from fastapi import APIRouter
from fastapi import Query
from fastapi.responses import Response
from pydantic import BaseModel
from pydantic import Field
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.errors import ShapelyError
from shapely.geometry import LineString
from shapely.geometry import Point
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.errors import register
from geodata import storage
from geodata.plan_store import get_plan
from maps.section_drawing import section_png
from maps.section_drawing import section_svg
from routing.errors import SectionError
from routing.plan_sections import crossing_lines
from routing.plan_sections import segments_from_plan
from routing.quantities import PlanQuantities
from routing.quantities import plan_quantities
from routing.quantities import quantities_frame
from routing.results import TrenchPlan
from routing.sections import CrossSection
from routing.sections import ExistingLine
from routing.sections import LineSpec
from routing.sections import SiteConditions
from routing.sections import TrenchSegment
from routing.sections import cross_section

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

# how far around the posted segments the city's trees, poles and lines are read (m); wider
# than any clearance in the tables, so nothing that can matter is left out
_CONTEXT_PAD_M = 50.0


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
    """Sections (every value with clause and verification) and the permit quantities."""

    sections: list[dict[str, Any]]
    quantities: dict[str, Any]


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


@router.post("/plan", operation_id="sections-plan", response_model=SectionsPublic)
def plan_sections(body: PlanSectionsRequest, session: SessionDep) -> dict[str, Any]:
    """Sections and permit quantities of every edge of a trench plan."""
    _, sections, quantities = _plan_compute(body, session)
    return {"sections": [s.as_dict() for s in sections], "quantities": quantities.as_dict()}


@router.post(
    "/plan/quantities.csv",
    operation_id="sections-plan-quantities-csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def plan_quantities_csv(body: PlanSectionsRequest, session: SessionDep) -> Response:
    """Permit quantities of a trench plan, one CSV row per edge."""
    _, _, quantities = _plan_compute(body, session)
    return _csv(quantities)


@router.post(
    "/plan/drawing.svg",
    operation_id="sections-plan-drawing-svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
def plan_drawing_svg(
    body: PlanSectionsRequest,
    session: SessionDep,
    segment_id: Annotated[
        str | None, Query(description="plan segment; the first if omitted")
    ] = None,
) -> Response:
    """Cross-section drawing of one plan edge as SVG."""
    return Response(section_svg(_plan_one(body, session, segment_id)), media_type="image/svg+xml")


@router.post(
    "/plan/drawing.png",
    operation_id="sections-plan-drawing-png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def plan_drawing_png(
    body: PlanSectionsRequest,
    session: SessionDep,
    segment_id: Annotated[
        str | None, Query(description="plan segment; the first if omitted")
    ] = None,
    dpi: Annotated[int, Query(ge=30, le=600)] = 150,
) -> Response:
    """Cross-section drawing of one plan edge as PNG."""
    return Response(
        section_png(_plan_one(body, session, segment_id), dpi=dpi), media_type="image/png"
    )


@router.get(
    "/plans/{plan_key}",
    operation_id="sections-stored-plan",
    response_model=SectionsPublic,
    responses={404: {"description": "no such plan or version"}},
)
def stored_plan_sections(
    session: SessionDep,
    plan_key: str,
    version: Annotated[int | None, Query(description="the latest if omitted")] = None,
    method: Literal["lp", "milp"] = "lp",
) -> dict[str, Any]:
    """Sections and permit quantities of a stored trench plan (its city's roads and layers)."""
    _, sections, quantities = _plan_compute(
        _stored_request(session, plan_key, version, method), session
    )
    return {"sections": [s.as_dict() for s in sections], "quantities": quantities.as_dict()}


@router.get(
    "/plans/{plan_key}/quantities.csv",
    operation_id="sections-stored-plan-quantities-csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, 404: {"description": "no such plan"}},
)
def stored_plan_quantities_csv(
    session: SessionDep,
    plan_key: str,
    version: Annotated[int | None, Query(description="the latest if omitted")] = None,
) -> Response:
    """Permit quantities of a stored trench plan, one CSV row per edge."""
    _, _, quantities = _plan_compute(_stored_request(session, plan_key, version, "lp"), session)
    return _csv(quantities)


@router.get(
    "/plans/{plan_key}/drawing.svg",
    operation_id="sections-stored-plan-drawing-svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, 404: {"description": "no such plan"}},
)
def stored_plan_drawing_svg(
    session: SessionDep,
    plan_key: str,
    segment_id: Annotated[
        str | None, Query(description="plan segment; the first if omitted")
    ] = None,
    version: Annotated[int | None, Query(description="the latest if omitted")] = None,
) -> Response:
    """Cross-section drawing of one edge of a stored plan as SVG."""
    body = _stored_request(session, plan_key, version, "lp")
    return Response(section_svg(_plan_one(body, session, segment_id)), media_type="image/svg+xml")


@router.get(
    "/plans/{plan_key}/drawing.png",
    operation_id="sections-stored-plan-drawing-png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, 404: {"description": "no such plan"}},
)
def stored_plan_drawing_png(
    session: SessionDep,
    plan_key: str,
    segment_id: Annotated[
        str | None, Query(description="plan segment; the first if omitted")
    ] = None,
    version: Annotated[int | None, Query(description="the latest if omitted")] = None,
    dpi: Annotated[int, Query(ge=30, le=600)] = 150,
) -> Response:
    """Cross-section drawing of one edge of a stored plan as PNG."""
    body = _stored_request(session, plan_key, version, "lp")
    return Response(
        section_png(_plan_one(body, session, segment_id), dpi=dpi), media_type="image/png"
    )


@router.post("", operation_id="sections-compute", response_model=SectionsPublic)
def compute_sections(body: SectionsRequest, session: SessionDep) -> dict[str, Any]:
    """Lay out the lines of each segment and derive the permit quantities."""
    sections, quantities = _compute(body, session)
    return {"sections": [s.as_dict() for s in sections], "quantities": quantities.as_dict()}


@router.post(
    "/quantities.csv",
    operation_id="sections-quantities-csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def quantities_csv(body: SectionsRequest, session: SessionDep) -> Response:
    """Permit quantities, one CSV row per segment."""
    _, quantities = _compute(body, session)
    return _csv(quantities)


@router.post(
    "/drawing.svg",
    operation_id="sections-drawing-svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
def drawing_svg(
    body: SectionsRequest,
    session: SessionDep,
    segment_id: Annotated[
        str | None, Query(description="segment to draw; the first if omitted")
    ] = None,
) -> Response:
    """Cross-section drawing of one segment as SVG."""
    return Response(section_svg(_one(body, session, segment_id)), media_type="image/svg+xml")


@router.post(
    "/drawing.png",
    operation_id="sections-drawing-png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def drawing_png(
    body: SectionsRequest,
    session: SessionDep,
    segment_id: Annotated[
        str | None, Query(description="segment to draw; the first if omitted")
    ] = None,
    dpi: Annotated[int, Query(ge=30, le=600)] = 150,
) -> Response:
    """Cross-section drawing of one segment as PNG."""
    return Response(section_png(_one(body, session, segment_id), dpi=dpi), media_type="image/png")


# -- helpers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """What a request resolves to: its CRS, site and the city layers near its segments."""

    crs: str | None
    site: SiteConditions
    trees: gpd.GeoDataFrame | None = None
    poles: gpd.GeoDataFrame | None = None
    existing_lines: gpd.GeoDataFrame | None = None
    roads: gpd.GeoDataFrame | None = None


def _context(
    session: Session,
    *,
    city_name: str | None,
    crs: str | None,
    site: SiteConditions,
    bbox: tuple[float, float, float, float] | None,
) -> _Context:
    if crs is not None:
        try:
            CRS.from_user_input(crs)
        except CRSError as exc:
            msg = f"unknown crs {crs!r}: give an EPSG code such as 'EPSG:32652'"
            raise SectionError(msg) from exc
    if city_name is None:
        return _Context(crs, site)
    city = storage.get_city(session, city_name)
    if crs is None:
        crs = city.crs
    elif CRS.from_user_input(crs) != CRS.from_user_input(city.crs):
        msg = f"city {city.name!r} stores {city.crs}; send coordinates in it, not {crs}"
        raise SectionError(msg)
    if site.frost_depth_m is None and city.frost_depth_m is not None:
        site = dataclasses.replace(site, frost_depth_m=city.frost_depth_m)
    if bbox is None:
        return _Context(crs, site)

    def layer(kind: str) -> gpd.GeoDataFrame | None:
        frame = storage.read_features(session, city=city.name, kind=kind, bbox=bbox)
        return frame if len(frame) else None

    return _Context(
        crs, site, layer("trees"), layer("poles"), layer("underground_lines"), layer("roads")
    )


def _padded(xs: list[float], ys: list[float]) -> tuple[float, float, float, float] | None:
    if not xs:
        return None
    pad = _CONTEXT_PAD_M
    return (min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad)


def _bbox(body: SectionsRequest) -> tuple[float, float, float, float] | None:
    coords = [xy for seg in body.segments for xy in (seg.coordinates or [])]
    return _padded([c[0] for c in coords], [c[1] for c in coords])


def _request_context(body: SectionsRequest, session: Session) -> _Context:
    return _context(
        session, city_name=body.city, crs=body.crs, site=_site(body.site), bbox=_bbox(body)
    )


def _segments(body: SectionsRequest, ctx: _Context) -> list[TrenchSegment]:
    seen: set[str] = set()
    out = []
    for seg in body.segments:
        if seg.segment_id in seen:
            msg = f"segment id {seg.segment_id!r} given twice"
            raise SectionError(msg)
        seen.add(seg.segment_id)
        geometry = LineString(seg.coordinates) if seg.coordinates else None
        if geometry is not None and ctx.crs is None:
            msg = f"segment {seg.segment_id!r} has coordinates: give their metric crs"
            raise SectionError(msg)
        posted = tuple(
            ExistingLine(c.utility, c.top_depth_m, c.outside_diameter_mm, c.subtype, c.label)
            for c in seg.crossings
        )
        out.append(
            TrenchSegment(
                segment_id=seg.segment_id,
                lines=tuple(
                    LineSpec(
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
                    for line in seg.lines
                ),
                geometry=geometry,
                length_m=seg.length_m,
                road_width_m=seg.road_width_m,
                lane=seg.lane,
                pavement=seg.pavement,
                road_class=seg.road_class,
                crossings=posted + crossing_lines(geometry, ctx.existing_lines),
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


def _merge(a: gpd.GeoDataFrame | None, b: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    if a is None or b is None:
        return a if b is None else b
    return gpd.GeoDataFrame(pd.concat([a, b]), geometry="geometry", crs=a.crs)


def _compute(body: SectionsRequest, session: Session) -> tuple[list[CrossSection], PlanQuantities]:
    ctx = _request_context(body, session)
    segments = _segments(body, ctx)
    sections = [cross_section(s, site=ctx.site, method=body.method) for s in segments]
    quantities = plan_quantities(
        sections,
        segments,
        trees=_merge(ctx.trees, _points(body.trees, ctx.crs, poles=False)),
        poles=_merge(ctx.poles, _points(body.poles, ctx.crs, poles=True)),
        existing_lines=ctx.existing_lines,
        crs=ctx.crs,
    )
    return sections, quantities


def _one(body: SectionsRequest, session: Session, segment_id: str | None) -> CrossSection:
    ctx = _request_context(body, session)
    segments = _segments(body, ctx)
    if segment_id is None:
        chosen = segments[0]
    else:
        found = [s for s in segments if s.segment_id == segment_id]
        if not found:
            msg = f"no segment {segment_id!r} in the request"
            raise SectionError(msg)
        chosen = found[0]
    return cross_section(chosen, site=ctx.site, method=body.method)


def _csv(quantities: PlanQuantities) -> Response:
    text = quantities_frame(quantities).to_csv(index=False, lineterminator="\n")
    return Response(
        content=text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="quantities.csv"'},
    )


def _plan(body: PlanSectionsRequest) -> TrenchPlan:
    try:
        return TrenchPlan.from_dict(body.plan)
    except (KeyError, TypeError, ValueError, ShapelyError) as exc:
        msg = f"plan is not a TrenchPlan.to_dict() document: {exc!r}"
        raise SectionError(msg) from exc


def _plan_segments(
    body: PlanSectionsRequest, session: Session
) -> tuple[list[TrenchSegment], _Context]:
    plan = _plan(body)
    xs: list[float] = []
    ys: list[float] = []
    for edge in plan.edges:
        if edge.geometry is not None and not edge.geometry.is_empty:
            x0, y0, x1, y1 = edge.geometry.bounds
            xs += [x0, x1]
            ys += [y0, y1]
    crs = None if plan.crs is None else str(plan.crs)
    ctx = _context(
        session, city_name=body.city, crs=crs, site=_site(body.site), bbox=_padded(xs, ys)
    )
    lines = {
        utility: [
            LineSpec(
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
            for line in specs
        ]
        for utility, specs in body.lines.items()
    }
    segments = segments_from_plan(
        plan, lines=lines, existing_lines=ctx.existing_lines, roads=ctx.roads
    )
    return list(segments), ctx


def _plan_compute(
    body: PlanSectionsRequest, session: Session
) -> tuple[list[TrenchSegment], list[CrossSection], PlanQuantities]:
    segments, ctx = _plan_segments(body, session)
    sections = [cross_section(s, site=ctx.site, method=body.method) for s in segments]
    quantities = plan_quantities(
        sections,
        segments,
        trees=ctx.trees,
        poles=ctx.poles,
        existing_lines=ctx.existing_lines,
        crs=ctx.crs,
    )
    return segments, sections, quantities


def _plan_one(body: PlanSectionsRequest, session: Session, segment_id: str | None) -> CrossSection:
    segments, ctx = _plan_segments(body, session)
    if not segments:
        msg = "the plan has no trench edges to draw"
        raise SectionError(msg)
    chosen = segments[0]
    if segment_id is not None:
        found = [s for s in segments if s.segment_id == segment_id]
        if not found:
            known = ", ".join(s.segment_id for s in segments[:10])
            msg = f"no segment {segment_id!r} in the plan (first ones: {known})"
            raise SectionError(msg)
        chosen = found[0]
    return cross_section(chosen, site=ctx.site, method=body.method)


def _stored_request(
    session: Session, plan_key: str, version: int | None, method: str
) -> PlanSectionsRequest:
    """The stored plan as a plan request in its city (default line sizes, city frost depth)."""
    stored = get_plan(session, plan_key, version)
    city = next((c for c in storage.list_cities(session) if c.id == stored.city_id), None)
    return PlanSectionsRequest(
        plan=dict(stored.result),
        city=None if city is None else city.name,
        method="milp" if method == "milp" else "lp",
    )
