"""Request shared-trench plans for sites and applications; re-plan as new versions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Annotated
from typing import Any
from typing import Literal

from fastapi import APIRouter
from fastapi import Query
from fastapi import Response
from pydantic import BaseModel
from pydantic import Field
from pydantic import model_validator
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.deps import RoadGraphsDep
from api.deps import SessionDep
from api.deps import SettingsDep
from api.limits import check_plan_seconds
from api.policy import AccessDep
from api.responses import GeoJSONResponse
from api.responses import content_disposition
from api.services.exports import EXPORT_MEDIA
from api.services.exports import Encoding
from api.services.exports import ExportFormat
from api.services.exports import export_plan
from api.services.graphs import RoadGraphs
from geodata.plan_store import StoredPlan
from geodata.plan_store import add_plan_version
from geodata.plan_store import create_plan
from geodata.plan_store import get_plan
from geodata.plan_store import list_plan_versions
from geodata.storage import CityInfo
from geodata.storage import get_city
from routing.errors import TrenchRequestError
from routing.graph import nearest_nodes
from routing.results import Site
from routing.results import TrenchPlan
from routing.section_types import SiteConditions
from routing.sections import dig_width_rule
from routing.trench import plan_shared_trench

__all__ = [
    "PlanBase",
    "PlanCreate",
    "PlanPublic",
    "PlanVersionPublic",
    "PointIn",
    "SiteIn",
    "router",
]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/plans", tags=["plans"])

_REFUSED: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such city or plan"},
    422: {"description": "bad request: the message names the site, utility or point"},
}


class PointIn(BaseModel):
    """A place on the road graph: a node id, lon/lat (WGS 84), or x/y in the city's CRS.

    Points are snapped to the nearest graph node within the request's ``max_snap_m``.
    Node ids belong to the current road graph and change when the roads are re-imported.
    """

    node: int | str | None = None
    lon: float | None = None
    lat: float | None = None
    x: float | None = None
    y: float | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> PointIn:
        kinds = [
            self.node is not None,
            self.lon is not None or self.lat is not None,
            self.x is not None or self.y is not None,
        ]
        if sum(kinds) != 1:
            msg = "give exactly one of: node, lon+lat, x+y"
            raise ValueError(msg)
        if (self.lon is None) != (self.lat is None) or (self.x is None) != (self.y is None):
            msg = "lon needs lat and x needs y"
            raise ValueError(msg)
        return self


class SiteIn(PointIn):
    utilities: list[str] = Field(min_length=1)
    name: str | None = None
    project: str | None = None


class PlanBase(BaseModel):
    sites: list[SiteIn] = Field(min_length=1)
    supplies: dict[str, list[PointIn]] = Field(description="candidate supply points per utility")
    method: Literal["milp", "heuristic"] = "milp"
    time_limit_s: float = Field(default=30.0, gt=0, le=600)
    on_date: dt.date | None = None
    emergency_repair: bool = False
    sharing: Literal["proportional", "shapley"] = "proportional"
    application_ids: list[int] | None = None
    max_snap_m: float = Field(default=200.0, gt=0)


class PlanCreate(PlanBase):
    city: str


class PlanVersionPublic(BaseModel):
    plan_key: str
    version: int
    method: str
    status: str
    total_cost_cny: float
    gap: float | None
    application_ids: list[int]
    created_at: dt.datetime


class PlanPublic(PlanVersionPublic):
    city: str
    summary: dict[str, Any]
    geojson: dict[str, Any]


@router.post("", status_code=201, operation_id="plans-create", responses=_REFUSED)
def create(
    *,
    graphs: RoadGraphsDep,
    session: SessionDep,
    access: AccessDep,
    settings: SettingsDep,
    body: PlanCreate,
) -> PlanPublic:
    """Plan a shared trench for sites and applications; stored as version 1."""
    access.city(body.city)
    check_plan_seconds(access.signed_in, body.time_limit_s, settings.limits)
    city = get_city(session, body.city)
    plan, inputs = _plan(graphs, session, city, body)
    stored = create_plan(
        session,
        city_id=city.id,
        srid=city.srid,
        plan=plan,
        inputs=inputs,
        application_ids=body.application_ids or (),
    )
    return _public(stored, city)


@router.get("/{plan_key}", operation_id="plans-get", responses=_REFUSED)
def read(
    *,
    session: SessionDep,
    plan_key: str,
    version: Annotated[int | None, Query(ge=1, description="default: the latest")] = None,
) -> PlanPublic:
    """One version of a plan (the latest by default): summary and GeoJSON."""
    stored = get_plan(session, plan_key, version)
    return _public(stored, _city_by_id(session, stored.city_id))


@router.get(
    "/{plan_key}/geojson",
    operation_id="plans-geojson",
    response_class=GeoJSONResponse,
    responses=_REFUSED,
)
def read_geojson(
    *,
    session: SessionDep,
    plan_key: str,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> GeoJSONResponse:
    """The plan's trench edges as a GeoJSON FeatureCollection in lon/lat."""
    stored = get_plan(session, plan_key, version)
    return GeoJSONResponse(TrenchPlan.from_dict(stored.result).to_geojson(to_crs="EPSG:4326"))


@router.get(
    "/{plan_key}/export",
    operation_id="plans-export",
    response_class=Response,
    responses={200: {"content": {m: {} for m in EXPORT_MEDIA.values()}}, **_REFUSED},
)
def export(
    *,
    session: SessionDep,
    plan_key: str,
    format: Annotated[ExportFormat, Query(description="gpkg, shp, kml, geojson, csv or dxf")],
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    crs: Annotated[
        str | None, Query(max_length=100, description="output CRS (default: the city's)")
    ] = None,
    encoding: Annotated[Encoding, Query(description="Shapefile text encoding")] = "utf-8",  # type: ignore[assignment]
) -> Response:
    """Download the plan's trench (one feature per edge, its utilities) as a GIS or CAD file."""
    out = export_plan(
        session,
        plan_key,
        version=version,
        fmt=str(format),
        crs=crs or None,
        encoding=str(encoding),
    )
    return Response(out.data, media_type=out.media_type, headers=content_disposition(out.filename))


@router.get("/{plan_key}/versions", operation_id="plans-versions", responses=_REFUSED)
def versions(*, session: SessionDep, plan_key: str) -> list[PlanVersionPublic]:
    """Every version of a plan, oldest first."""
    return [_version(s) for s in list_plan_versions(session, plan_key)]


@router.post(
    "/{plan_key}/versions", status_code=201, operation_id="plans-replan", responses=_REFUSED
)
def replan(
    *,
    graphs: RoadGraphsDep,
    session: SessionDep,
    access: AccessDep,
    settings: SettingsDep,
    plan_key: str,
    body: PlanBase,
) -> PlanPublic:
    """Re-plan after an edit: stored as the next version; older versions stay."""
    check_plan_seconds(access.signed_in, body.time_limit_s, settings.limits)
    latest = get_plan(session, plan_key)
    city = _city_by_id(session, latest.city_id)
    plan, inputs = _plan(graphs, session, city, body)
    stored = add_plan_version(
        session, plan_key, plan=plan, inputs=inputs, application_ids=body.application_ids
    )
    return _public(stored, city)


# ---------------------------------------------------------------------------------------------


def _plan(
    graphs: RoadGraphs, session: Session, city: CityInfo, body: PlanBase
) -> tuple[Any, dict[str, Any]]:
    G = graphs.get(session, city).G  # noqa: N806 - networkx's name
    to_city = Transformer.from_crs(4326, city.srid, always_xy=True)
    snapped: dict[str, Any] = {"sites": [], "supplies": {}}
    sites = []
    for i, s in enumerate(body.sites):
        label = s.name or f"#{i + 1}"
        node, dist = _snap(G, s, to_city, f"site {label!r}", body.max_snap_m)
        sites.append(Site(node, frozenset(s.utilities), name=s.name or label, project=s.project))
        snapped["sites"].append({"name": label, "node": node, "snap_m": dist})
    supplies: dict[str, list[Any]] = {}
    for utility, points in sorted(body.supplies.items()):
        if not points:
            msg = f"utility {utility!r} has an empty list of supply points"
            raise TrenchRequestError(msg)
        for j, p in enumerate(points):
            node, dist = _snap(G, p, to_city, f"supply #{j + 1} of {utility!r}", body.max_snap_m)
            supplies.setdefault(utility, []).append(node)
            snapped["supplies"].setdefault(utility, []).append({"node": node, "snap_m": dist})
    plan = plan_shared_trench(
        G,
        sites,
        supplies,
        method=body.method,
        on_date=body.on_date,
        emergency_repair=body.emergency_repair,
        time_limit_s=body.time_limit_s,
        sharing=body.sharing,
        required_width_m=dig_width_rule(SiteConditions(frost_depth_m=city.frost_depth_m)),
    )
    plan = dataclasses.replace(plan, crs=f"EPSG:{city.srid}")
    inputs = {"request": body.model_dump(mode="json"), "snapped": snapped, "city": city.name}
    return plan, inputs


def _snap(
    G: Any,  # noqa: N803 - networkx's name
    point: PointIn,
    to_city: Transformer,
    what: str,
    max_snap_m: float,
) -> tuple[Any, float]:
    if point.node is not None:
        node: Any = point.node
        if node not in G:
            alt = int(node) if isinstance(node, str) and node.isdigit() else None
            if alt is None or alt not in G:
                msg = f"{what}: node {point.node!r} is not in the road graph"
                raise TrenchRequestError(msg)
            node = alt
        return node, 0.0
    if point.lon is not None and point.lat is not None:
        x, y = to_city.transform(point.lon, point.lat)
    else:
        x, y = float(point.x), float(point.y)  # type: ignore[arg-type]
    node, dist = nearest_nodes(G, x, y, return_dist=True)
    if dist > max_snap_m:
        msg = f"{what}: the nearest road node is {dist:.0f} m away (max_snap_m is {max_snap_m:g})"
        raise TrenchRequestError(msg)
    return node, dist


def _city_by_id(session: Session, city_id: int) -> CityInfo:
    name = session.scalar(text("SELECT name FROM cities WHERE id = :i"), {"i": city_id})
    return get_city(session, str(name))


def _version(stored: StoredPlan) -> PlanVersionPublic:
    return PlanVersionPublic(
        plan_key=stored.plan_key,
        version=stored.version,
        method=stored.method,
        status=stored.status,
        total_cost_cny=stored.total_cost_cny,
        gap=stored.gap,
        application_ids=list(stored.application_ids),
        created_at=stored.created_at,
    )


def _public(stored: StoredPlan, city: CityInfo) -> PlanPublic:
    plan = TrenchPlan.from_dict(stored.result)
    return PlanPublic(
        **_version(stored).model_dump(),
        city=city.name,
        summary=plan.summary(),
        geojson=plan.to_geojson(to_crs="EPSG:4326"),
    )
