"""OGC API – Features (Part 1 core, GeoJSON, OpenAPI 3.0; Part 2 CRS) over the stored data.

QGIS, GDAL (``OAPIF:``) and ArcGIS read the city's layers, co-location groups and plans
from here, authenticated like every other endpoint (a bearer token or the workbench
cookie). Built on the product's own storage rather than tipg or pygeoapi: the feature
tables hold several cities in several SRIDs in one geometry column, which neither models
(they read one SRID per column from ``geometry_columns``), and reads must pass the same
per-city policy as the rest of the API.

Collections: ``layer-<id>``, ``groups-<city>``, ``plans-<city>``
(:mod:`geodata.ogc_sources`). Coordinates: CRS84 (lon, lat; RFC 7946) by default; any
EPSG CRS by ``crs=http://www.opengis.net/def/crs/EPSG/0/<code>`` in that CRS's own axis
order (latitude first for EPSG:4326), named in the ``Content-Crs`` header.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from typing import Any

from fastapi import APIRouter
from fastapi import Path
from fastapi import Query
from fastapi import Request
from fastapi import Response
from pyproj import CRS
from pyproj.exceptions import CRSError as ProjCRSError

from api.deps import SessionDep
from api.errors import register
from api.policy import AccessDep
from api.problems import problem
from api.responses import GeoJSONResponse
from api.responses import etagged
from api.uploads import parse_bbox
from geodata.errors import GeodataError
from geodata.features import query_features
from geodata.ogc_sources import Collection
from geodata.ogc_sources import collection as find_collection
from geodata.ogc_sources import collections as list_collections
from geodata.ogc_sources import spatial_extent
from geodata.ogc_sources import temporal_extent

__all__ = ["OgcParameterError", "router"]

router = APIRouter(prefix="/ogc", tags=["ogc-api-features"])

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
_ITEM_PARAMS = frozenset({"limit", "offset", "bbox", "bbox-crs", "datetime", "crs", "f"})
_GEOJSON = "application/geo+json"
_JSON = "application/json"


class OgcParameterError(GeodataError, ValueError):
    """A query parameter OGC API – Features does not know, or a value it cannot use (400)."""


register(OgcParameterError, 400)

CollectionId = Annotated[
    str,
    Path(
        max_length=120,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="layer-<id>, groups-<city> or plans-<city>",
    ),
]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


@router.get("", operation_id="ogc-landing")
def landing(request: Request) -> dict[str, Any]:
    """The landing page: where the API's description, conformance and collections are."""
    base = _base(request)
    return {
        "title": "cotrench OGC API – Features",
        "description": "城市道路、地下管线、共沟协同组与共同沟方案 / the city's roads, "
        "underground lines, co-location groups and shared-trench plans",
        "links": [
            {"rel": "self", "type": _JSON, "href": base},
            {
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
                "href": str(request.base_url).rstrip("/") + "/openapi.json",
            },
            {"rel": "conformance", "type": _JSON, "href": f"{base}/conformance"},
            {"rel": "data", "type": _JSON, "href": f"{base}/collections"},
        ],
    }


@router.get("/conformance", operation_id="ogc-conformance")
def conformance() -> dict[str, Any]:
    """The conformance classes this API implements."""
    return {"conformsTo": CONFORMANCE}


@router.get("/collections", operation_id="ogc-collections")
def collections(request: Request, session: SessionDep, access: AccessDep) -> dict[str, Any]:
    """Every collection the caller may read (a city-bound user: their city's)."""
    base = _base(request)
    items = list_collections(session, access.cities())
    return {
        "links": [{"rel": "self", "type": _JSON, "href": f"{base}/collections"}],
        "crs": [CRS84],
        "collections": [_describe(session, base, c) for c in items],
    }


@router.get(
    "/collections/{collection_id}",
    operation_id="ogc-collection",
    responses={404: {"description": "no such collection"}},
)
def collection(
    request: Request, session: SessionDep, access: AccessDep, collection_id: CollectionId
) -> dict[str, Any]:
    """One collection: its extent, CRSs and the link to its items."""
    item = _readable(session, access, collection_id)
    return _describe(session, _base(request), item)


@router.get(
    "/collections/{collection_id}/items",
    operation_id="ogc-items",
    response_class=GeoJSONResponse,
    responses={
        200: {"content": {_GEOJSON: {}}},
        400: {"description": "a parameter unknown or unusable; the message names it"},
        404: {"description": "no such collection"},
    },
)
def items(
    *,
    request: Request,
    session: SessionDep,
    access: AccessDep,
    collection_id: CollectionId,
    limit: Annotated[int, Query(ge=1, description=f"at most {MAX_LIMIT}")] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    bbox: Annotated[str | None, Query(max_length=200)] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", max_length=200)] = None,
    datetime: Annotated[str | None, Query(max_length=100)] = None,
    crs: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The collection's features, a page at a time (follow the ``next`` link)."""
    _known_params(request)
    item = _readable(session, access, collection_id)
    out_srid, lat_lon, out_uri = _crs(crs or CRS84, "crs", item)
    box, box_srid = _bbox(bbox, bbox_crs, item)
    page = query_features(
        session,
        item.source,
        bbox=box,
        bbox_srid=box_srid,
        out_srid=out_srid,
        interval=_interval(datetime),
        limit=min(limit, MAX_LIMIT),
        offset=offset,
        lat_lon=lat_lon,
    )
    returned = len(page.features)
    links = [{"rel": "self", "type": _GEOJSON, "href": str(request.url)}]
    if offset + returned < page.matched and returned:
        nxt = request.url.include_query_params(
            offset=offset + returned, limit=min(limit, MAX_LIMIT)
        )
        links.append({"rel": "next", "type": _GEOJSON, "href": str(nxt)})
    if offset > 0:
        prev = request.url.include_query_params(offset=max(0, offset - min(limit, MAX_LIMIT)))
        links.append({"rel": "prev", "type": _GEOJSON, "href": str(prev)})
    links.append(
        {"rel": "collection", "type": _JSON, "href": f"{_base(request)}/collections/{item.id}"}
    )
    body = {
        "type": "FeatureCollection",
        "timeStamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "numberMatched": page.matched,
        "numberReturned": returned,
        "features": page.features,
        "links": links,
    }
    response = GeoJSONResponse(body, headers={"Content-Crs": f"<{out_uri}>"})
    return etagged(request, response)


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    operation_id="ogc-item",
    response_class=GeoJSONResponse,
    responses={200: {"content": {_GEOJSON: {}}}, 404: {"description": "no such feature"}},
)
def item_by_id(
    *,
    request: Request,
    session: SessionDep,
    access: AccessDep,
    collection_id: CollectionId,
    feature_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    crs: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """One feature of the collection."""
    item = _readable(session, access, collection_id)
    out_srid, lat_lon, out_uri = _crs(crs or CRS84, "crs", item)
    page = query_features(
        session, item.source, out_srid=out_srid, ids=[feature_id], limit=1, lat_lon=lat_lon
    )
    if not page.features:
        return problem(
            404,
            "FeatureNotFound",
            f"集合 {item.id} 中没有要素 {feature_id} / no feature {feature_id} in {item.id}",
            instance=request.url.path,
        )
    feature = page.features[0]
    base = f"{_base(request)}/collections/{item.id}"
    feature["links"] = [
        {"rel": "self", "type": _GEOJSON, "href": str(request.url)},
        {"rel": "collection", "type": _JSON, "href": base},
    ]
    return GeoJSONResponse(feature, headers={"Content-Crs": f"<{out_uri}>"})


# -------------------------------------------------------------------------------- helpers


def _readable(session: SessionDep, access: AccessDep, collection_id: str) -> Collection:
    item = find_collection(session, collection_id)
    access.city(item.city.name)
    return item


def _describe(session: SessionDep, base: str, item: Collection) -> dict[str, Any]:
    href = f"{base}/collections/{item.id}"
    extent: dict[str, Any] = {}
    box = spatial_extent(session, item)
    if box is not None:
        extent["spatial"] = {"bbox": [box], "crs": CRS84}
    times = temporal_extent(session, item)
    if times is not None:
        extent["temporal"] = {
            "interval": [times],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        }
    storage = f"{EPSG_URI}{item.city.srid}"
    return {
        "id": item.id,
        "title": item.title,
        "description": item.description,
        "itemType": "feature",
        "extent": extent,
        "crs": [CRS84, f"{EPSG_URI}4326", storage, f"{EPSG_URI}3857"],
        "storageCrs": storage,
        "links": [
            {"rel": "self", "type": _JSON, "href": href},
            {"rel": "items", "type": _GEOJSON, "href": f"{href}/items"},
        ],
    }


def _known_params(request: Request) -> None:
    unknown = sorted(set(request.query_params) - _ITEM_PARAMS)
    if unknown:
        msg = (
            f"未知的查询参数 / unknown query parameter(s): {', '.join(unknown)[:200]}; "
            f"known are {', '.join(sorted(_ITEM_PARAMS))}"
        )
        raise OgcParameterError(msg)


def _crs(uri: str, name: str, item: Collection) -> tuple[int, bool, str]:
    """``(EPSG code, latitude/northing first, the URI)`` of a CRS URI in ``name``."""
    if uri in {CRS84, "CRS84", "OGC:CRS84"}:
        return 4326, False, CRS84
    code = uri.removeprefix(EPSG_URI) if uri.startswith(EPSG_URI) else None
    if code is None and uri.upper().startswith("EPSG:"):
        code = uri[5:]
    if code is None or not code.isdigit() or len(code) > 6:
        msg = (
            f"{name}={uri[:120]!r}: 应为 CRS URI / must be a CRS URI such as {CRS84} or "
            f"{EPSG_URI}{item.city.srid}"
        )
        raise OgcParameterError(msg)
    try:
        parsed = CRS.from_epsg(int(code))
    except ProjCRSError as exc:
        msg = f"{name}={uri[:120]!r}: 未知的 EPSG 代码 / unknown EPSG code {code}"
        raise OgcParameterError(msg) from exc
    if not (parsed.is_geographic or parsed.is_projected) or len(parsed.axis_info) != 2:
        msg = f"{name}={uri[:120]!r}: 不是平面坐标系 / not a 2D horizontal CRS"
        raise OgcParameterError(msg)
    first_axis = parsed.axis_info[0].direction.lower()
    return int(code), first_axis in {"north", "south"}, f"{EPSG_URI}{code}"


def _bbox(
    text: str | None, bbox_crs: str | None, item: Collection
) -> tuple[tuple[float, float, float, float] | None, int]:
    if text is None:
        if bbox_crs is not None:
            raise OgcParameterError("bbox-crs 需与 bbox 同用 / bbox-crs needs a bbox")
        return None, 4326
    srid, lat_lon, _ = _crs(bbox_crs or CRS84, "bbox-crs", item)
    if lat_lon:
        # the box is written in the CRS's axis order: put it back to x, y for PostGIS
        try:
            y0, x0, y1, x1 = (float(v) for v in text.split(","))
        except ValueError:
            pass
        else:
            text = f"{x0},{y0},{x1},{y1}"
    try:
        box = parse_bbox(text, crs=f"EPSG:{srid}")
    except GeodataError as exc:
        raise OgcParameterError(str(exc)) from exc
    return box, srid


def _interval(text: str | None) -> tuple[dt.date | None, dt.date | None] | None:
    """``datetime``: an instant or ``start/end`` (``..`` or empty: open), RFC 3339."""
    if text is None:
        return None
    parts = text.split("/")
    if len(parts) > 2:
        raise OgcParameterError(f"datetime {text[:100]!r}: 应为时刻或 起/止 / instant or start/end")
    try:
        days = [None if p in {"", ".."} else _day(p) for p in parts]
    except ValueError as exc:
        msg = f"datetime {text[:100]!r}: 不是 RFC 3339 日期时间 / not an RFC 3339 date-time"
        raise OgcParameterError(msg) from exc
    if len(days) == 1:
        if days[0] is None:
            raise OgcParameterError(f"datetime {text!r}: 缺少时刻 / an instant is needed")
        return days[0], days[0]
    if days[0] and days[1] and days[0] > days[1]:
        raise OgcParameterError(f"datetime {text[:100]!r}: 起始晚于终止 / start after end")
    return days[0], days[1]


def _day(value: str) -> dt.date:
    if len(value) == 10:
        return dt.date.fromisoformat(value)
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).date()
