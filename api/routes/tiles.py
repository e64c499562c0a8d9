"""Serve a city's layers as Mapbox vector tiles made by PostGIS (ST_AsMVT)."""

from __future__ import annotations

import hashlib
import logging
from typing import Annotated

from fastapi import APIRouter
from fastapi import HTTPException
from fastapi import Path
from fastapi import Request
from fastapi import Response
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.deps import SessionDep
from geodata.tables import FEATURE_TABLES

__all__ = ["MVT_MEDIA_TYPE", "TILE_COLUMNS", "router", "tile_sql"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/tiles", tags=["tiles"])

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
EXTENT = 4096
BUFFER = 64
MAX_ZOOM = 22
CACHE_CONTROL = "private, max-age=300"  # authorised data: never in a shared cache
# the attributes each layer kind carries into its tiles (kept small: tiles are for drawing)
TILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "roads": ("name", "road_class", "width_m", "bridge"),
    "underground_lines": ("utility", "diameter_mm", "depth_m"),
    "trees": ("species", "dbh_cm"),
    "poles": ("pole_kind",),
    "protected_areas": ("area_kind", "name"),
    "proposed_lines": ("utility", "project", "planned_start", "planned_end"),
}

TILE_PATH = "/{city}/{kind}/{z}/{x}/{y}.pbf"
KindPath = Annotated[str, Path(description="layer kind: " + ", ".join(TILE_COLUMNS))]


@router.get("/{city}/{kind}.json", operation_id="tiles-tilejson")
def get_tilejson(
    *, city: str, kind: KindPath, request: Request, session: SessionDep
) -> dict[str, object]:
    """Return the TileJSON 3.0 of a city's layer kind (for MapLibre, QGIS, OpenLayers)."""
    if kind not in TILE_COLUMNS:
        raise HTTPException(
            404,
            f"未知的图层类型 / unknown layer kind {kind!r}; expected one of {list(TILE_COLUMNS)}",
        )
    city_id, _ = _city(session, city)
    row = session.execute(
        text(
            "SELECT name, title, ST_XMin(extent) AS w, ST_YMin(extent) AS s, "
            "ST_XMax(extent) AS e, ST_YMax(extent) AS n FROM cities WHERE id = :id"
        ),
        {"id": city_id},
    ).one()
    template = str(request.url_for("tiles-get", city=row.name, kind=kind, z="0", x="0", y="0"))
    template = template.replace("/0/0/0.pbf", "/{z}/{x}/{y}.pbf")
    bounds = [float(row.w), float(row.s), float(row.e), float(row.n)]
    table = FEATURE_TABLES[kind].__table__  # type: ignore[attr-defined]
    fields = {c: _field_type(table.c[c].type.python_type) for c in TILE_COLUMNS[kind]}
    return {
        "tilejson": "3.0.0",
        "name": f"{row.title} {kind}",
        "scheme": "xyz",
        "tiles": [template],
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
        "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 14],
        "vector_layers": [{"id": kind, "fields": {"source_id": "String", **fields}}],
    }


def _field_type(python_type: type) -> str:
    if python_type is bool:
        return "Boolean"
    if python_type in (int, float):
        return "Number"
    return "String"


@router.get(
    TILE_PATH,
    name="tiles-get",
    operation_id="tiles-get",
    response_class=Response,
    responses={
        200: {"content": {MVT_MEDIA_TYPE: {}}, "description": "a vector tile"},
        204: {"description": "no feature in this tile"},
        304: {"description": "unchanged since the ETag sent"},
    },
)
def get_tile(
    *,
    city: str,
    kind: KindPath,
    z: Annotated[int, Path(ge=0, le=MAX_ZOOM)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    request: Request,
    session: SessionDep,
) -> Response:
    """Return one vector tile of a city's layer kind (EPSG:3857 tile grid)."""
    if kind not in TILE_COLUMNS:
        raise HTTPException(
            404,
            f"未知的图层类型 / unknown layer kind {kind!r}; expected one of {list(TILE_COLUMNS)}",
        )
    if x >= 2**z or y >= 2**z:
        raise HTTPException(404, f"瓦片超出范围 / tile {z}/{x}/{y} is outside the grid at zoom {z}")
    city_id, srid = _city(session, city)
    etag = _etag(session, city_id, kind, z=z, x=x, y=y)
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    tile = session.execute(
        text(tile_sql(kind)),
        {"z": z, "x": x, "y": y, "city_id": city_id, "srid": srid, "layer": kind},
    ).scalar_one()
    if not tile:
        return Response(status_code=204, headers=headers)
    return Response(bytes(tile), media_type=MVT_MEDIA_TYPE, headers=headers)


# HEAD answers with the GET's headers (a client checks the ETag without the body)
router.add_api_route(
    TILE_PATH, get_tile, methods=["HEAD"], name="tiles-head", include_in_schema=False
)


def tile_sql(kind: str) -> str:
    """Return the ST_AsMVT query for a layer kind (parameters z, x, y, city_id, srid, layer).

    The tile envelope (with a buffer margin) is moved into the city's SRID so the GiST
    index on the stored geometry does the filtering; only the hits are transformed to
    EPSG:3857 and clipped by ``ST_AsMVTGeom``.
    """
    table = FEATURE_TABLES[kind].__tablename__  # type: ignore[attr-defined]
    columns = ", ".join(f"t.{c}" for c in TILE_COLUMNS[kind])
    margin = BUFFER / EXTENT
    return f"""
        WITH bounds AS (
            SELECT ST_TileEnvelope(:z, :x, :y) AS env,
                   ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => {margin}), :srid) AS env_city
        ), features AS (
            SELECT t.id, t.source_id, {columns},
                   ST_AsMVTGeom(ST_Transform(t.geom, 3857), bounds.env, {EXTENT}, {BUFFER}, true)
                       AS geom
            FROM {table} AS t, bounds
            WHERE t.city_id = :city_id AND t.geom && bounds.env_city
        )
        SELECT ST_AsMVT(features.*, :layer, {EXTENT}, 'geom', 'id')
        FROM features WHERE features.geom IS NOT NULL
    """


def _city(session: Session, city: str) -> tuple[int, int]:
    row = session.execute(
        text("SELECT id, srid FROM cities WHERE name = :name OR id::text = :name"), {"name": city}
    ).first()
    if row is None:
        raise HTTPException(404, f"城市不存在 / no city {city!r}")
    return int(row.id), int(row.srid)


def _etag(session: Session, city_id: int, kind: str, *, z: int, x: int, y: int) -> str:
    # the tile changes only when a layer of this kind is imported or removed
    state = session.execute(
        text(
            "SELECT count(*), coalesce(max(id), 0), coalesce(max(imported_at)::text, '') "
            "FROM layers WHERE city_id = :city_id AND kind = :kind"
        ),
        {"city_id": city_id, "kind": kind},
    ).one()
    key = f"{city_id}/{kind}/{z}/{x}/{y}/{state[0]}/{state[1]}/{state[2]}"
    return '"' + hashlib.blake2b(key.encode(), digest_size=12).hexdigest() + '"'
