"""Analyse a route in its city: read the city context, call ``routing.analysis``, wrap for maps.

The one orchestration of *city context → analyse_route → documents*: every reader of a
route's sections and quantities (the review pages, ``/sections``, the permit sheets and
quantities, the review maps, the record sheet) comes through :func:`analyse_frames`; a
fixed route version's documents are made from its result once (``api.services.documents``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.approvals.calendar import local_date
from api.approvals.models import Application
from api.approvals.models import RouteVersion
from geodata.context import CityLayers
from geodata.context import context_bbox
from geodata.context import read_city_context
from geodata.errors import CityNotFoundError
from geodata.plan_tables import TrenchPlanRow
from geodata.storage import CityInfo
from geodata.storage import get_city
from geodata.storage import list_cities
from maps.frames import MapContext
from maps.frames import TrenchFrames
from maps.frames import route_frames
from routing.analysis import CityContext
from routing.analysis import RouteAnalysis
from routing.analysis import analyse_route
from routing.quantities import PlanQuantities
from routing.section_types import CrossSection
from routing.section_types import LineSpec
from routing.section_types import SiteConditions
from routing.section_types import TrenchSegment

__all__ = [
    "KIND_KEYS",
    "AnalysedRoute",
    "analyse_frames",
    "analyse_segments",
    "city_by_id",
    "city_context",
    "data_attribution",
    "quantity_table",
    "route_city",
    "version_analysis",
    "version_frames",
]

logger = logging.getLogger(__name__)

# the store's layer kinds -> the review map's layer keys
KIND_KEYS = {
    "roads": "roads",
    "underground_lines": "existing",
    "proposed_lines": "proposed",
    "trees": "trees",
    "poles": "poles",
    "protected_areas": "protected",
}
# credit lines of the sample cities shipped in data/ (DATA_LICENSES.md); other cities are
# credited as their own layers
DATA_ATTRIBUTIONS = {
    "harbin": "© OpenStreetMap contributors (ODbL); 拟建管线为合成数据 proposals synthetic",
    "nagaoka": "3D都市モデル（Project PLATEAU）長岡市（2024年度）（国土交通省）CC BY 4.0",
}


@dataclass(frozen=True)
class AnalysedRoute:
    """A route's analysis with what its maps draw: frames and context in the city's CRS."""

    frames: TrenchFrames
    city: CityInfo | None
    analysis: RouteAnalysis
    context: MapContext

    @property
    def quantities(self) -> PlanQuantities:
        return self.analysis.quantities

    def section(self, edge: str | None = None) -> CrossSection:
        """See :meth:`routing.analysis.RouteAnalysis.section`."""
        return self.analysis.section(edge)


def analyse_frames(
    session: Session,
    frames: TrenchFrames,
    *,
    city: CityInfo | None,
    on: dt.date | None = None,
    site: SiteConditions | None = None,
    lines: Mapping[str, LineSpec | Sequence[LineSpec]] | None = None,
    method: str = "lp",
) -> AnalysedRoute:
    """Analyse a route (or plan) drawn as frames in ``city`` (none: no layers, no frost).

    ``on`` is the date protection periods are judged on (default: today in Beijing);
    ``site`` overrides the city's frost depth when it gives one.
    """
    on = on if on is not None else local_date(dt.datetime.now(dt.UTC))
    if city is not None:
        frames = frames.to_crs(city.srid)
    layers = None
    if city is not None and len(frames.edges):
        layers = read_city_context(session, city, context_bbox(frames.edges.total_bounds))
    context = city_context(layers, crs=frames.crs)
    analysis = analyse_route(
        frames.edges, context, site=_site(city, site), on=on, lines=lines, method=method
    )
    return AnalysedRoute(frames, city, analysis, _map_context(layers, analysis))


def analyse_segments(
    session: Session,
    segments: Sequence[TrenchSegment],
    *,
    city: CityInfo | None,
    crs: Any,
    site: SiteConditions | None = None,
    method: str = "lp",
    extra_trees: Any = None,
    extra_poles: Any = None,
) -> RouteAnalysis:
    """Analyse posted trench segments (lines and road given) in ``city``'s context.

    ``extra_trees``/``extra_poles`` (frames in ``crs``) join the city's stored ones.
    """
    bounds = [s.geometry.bounds for s in segments if s.geometry is not None]
    layers = None
    if city is not None and bounds:
        box = (
            min(b[0] for b in bounds),
            min(b[1] for b in bounds),
            max(b[2] for b in bounds),
            max(b[3] for b in bounds),
        )
        layers = read_city_context(session, city, context_bbox(box))
    context = city_context(layers, crs=crs)
    context = dataclasses.replace(
        context,
        trees=_merge(context.trees, extra_trees),
        poles=_merge(context.poles, extra_poles),
    )
    return analyse_route(segments, context, site=_site(city, site), method=method)


def city_context(layers: CityLayers | None, *, crs: Any) -> CityContext:
    """routing's :class:`~routing.analysis.CityContext` of the layers read by geodata."""
    if layers is None:
        return CityContext(crs=crs)
    return CityContext(
        crs=layers.city.srid,
        roads=layers.roads,
        trees=layers.trees,
        poles=layers.poles,
        existing_lines=layers.existing_lines,
        protected_areas=layers.protected_areas,
    )


def version_frames(app: Application, route: RouteVersion) -> TrenchFrames:
    """The frames of a fixed route version (segments without utilities carry the demands')."""
    utilities = [d.utility for d in app.demands]
    return route_frames(
        route.geojson, route.crs, title=app.project_name, default_utilities=utilities
    )


def version_analysis(session: Session, app: Application, route: RouteVersion) -> AnalysedRoute:
    """The analysis of a fixed route version in the city stored with it, on its fixing date.

    What a permit carries is frozen with the version; this live analysis draws the review
    map (and the sheets of a version fixed before documents were frozen). A version whose
    city has since been removed, or that names none, is analysed without city layers.
    """
    city = None
    if route.city is not None:
        try:
            city = get_city(session, route.city)
        except CityNotFoundError:
            logger.warning("route v%d: its city %s is gone", route.version_no, route.city)
    frames = version_frames(app, route)
    return analyse_frames(session, frames, city=city, on=local_date(route.fixed_at))


def route_city(
    session: Session, app: Application, *, plan_id: int | None, frames: TrenchFrames
) -> CityInfo | None:
    """The city a route is fixed in, decided once and stored with the version.

    The application's own city when it names one; else the city of the stored plan the
    route was fixed from; else (a route drawn by hand with neither) the smallest city whose
    extent holds the route's centre, looked up now and never again.
    """
    if app.city_id is not None:
        found = city_by_id(session, app.city_id)
        if found is not None:
            return found
    if plan_id is not None:
        row = session.get(TrenchPlanRow, plan_id)
        if row is not None:
            found = city_by_id(session, row.city_id)
            if found is not None:
                return found
    centre = shapely.box(*frames.edges.to_crs(4326).total_bounds).centroid
    name = session.execute(
        text(
            "SELECT name FROM cities WHERE ST_Intersects(extent, ST_GeomFromText(:p, 4326)) "
            "ORDER BY ST_Area(extent), id LIMIT 1"
        ),
        {"p": centre.wkt},
    ).scalar()
    return None if name is None else get_city(session, name)


def city_by_id(session: Session, city_id: int | None) -> CityInfo | None:
    """The stored city with id ``city_id``, or None."""
    return next((c for c in list_cities(session) if c.id == city_id), None)


def quantity_table(quantities: PlanQuantities) -> list[tuple[str, str, str]]:
    """The rows of the quantities table on the excavation sheet and the review page."""
    rows = [
        ("沟槽长度 Trench length", f"{quantities.trench_length_m:.2f}", "m"),
        ("开挖土方 Excavation", f"{quantities.excavation_m3:.2f}", "m³"),
        ("回填 Backfill", f"{quantities.backfill_m3:.2f}", "m³"),
    ]
    rows.extend(
        (f"路面恢复 Restoration ({pavement})", f"{area:.2f}", "m²")
        for pavement, area in sorted(quantities.restoration_area_m2_by_pavement.items())
    )
    rows += [
        ("占道面积 Road occupation", f"{quantities.occupation_area_m2:.2f}", "m²"),
        ("应伐树木 Trees to fell", str(quantities.trees_to_fell), "株"),
        ("需保护树木 Trees to protect", str(quantities.trees_to_protect), "株"),
        ("间距内杆线 Poles in clearance", str(quantities.poles_in_clearance), "根"),
        ("穿越道路 Road crossings", str(quantities.road_crossings), "处"),
        ("穿越既有管线 Line crossings", str(sum(quantities.line_crossings.values())), "处"),
    ]
    for key, cost in quantities.costs_cny.items():
        if cost is not None:
            rows.append((f"费用 Cost: {key}", f"{cost:,.0f}", "CNY"))
    if quantities.needs_manual_review:
        rows.append(("需人工复核 Manual review", str(len(quantities.needs_manual_review)), "段"))
    return rows


def data_attribution(city: CityInfo | None) -> str:
    """The credit line for a city's data on maps and sheets."""
    if city is None:
        return "数据 Data: 申请人提供 as filed by the applicant"
    return DATA_ATTRIBUTIONS.get(
        city.name, f"数据 Data: {city.title or city.name} 城市图层 city layers"
    )


def _site(city: CityInfo | None, site: SiteConditions | None) -> SiteConditions:
    frost = None if city is None else city.frost_depth_m
    if site is None:
        return SiteConditions(frost_depth_m=frost)
    if site.frost_depth_m is None and frost is not None:
        return dataclasses.replace(site, frost_depth_m=frost)
    return site


def _map_context(layers: CityLayers | None, analysis: RouteAnalysis) -> MapContext:
    if layers is None:
        return MapContext()
    return MapContext(
        roads=layers.roads,
        existing=layers.existing_lines,
        trees=analysis.trees,
        poles=layers.poles,
        protected=analysis.protected,
        groups=layers.groups,
        warnings=layers.warnings,
    )


def _merge(a: Any, b: Any) -> Any:
    if a is None or len(a) == 0:
        return b
    if b is None or len(b) == 0:
        return a
    return gpd.GeoDataFrame(pd.concat([a, b]), geometry="geometry", crs=a.crs)
