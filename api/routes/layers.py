"""Upload GIS layers into a city, list them, and serve their features as GeoJSON."""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from typing import Any

from fastapi import APIRouter
from fastapi import Depends
from fastapi import File
from fastapi import Form
from fastapi import Path as PathParam
from fastapi import Query
from fastapi import Request
from fastapi import Response
from fastapi import UploadFile
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.deps import EngineDep
from api.deps import SessionDep
from api.deps import SettingsDep
from api.policy import AccessDep
from api.responses import GeoJSONResponse
from api.responses import content_disposition
from api.responses import etagged
from api.responses import page_links
from api.services import exports
from api.services import layer_admin
from api.services.exports import Encoding
from api.services.exports import ExportFormat
from api.uploads import parse_bbox
from api.uploads import save_uploads
from geodata import storage
from geodata.storage import LayerInfo
from geodata.validate import parse_field_map

__all__ = ["LayerImportPublic", "LayerKind", "LayerPublic", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/layers", tags=["layers"])

MAX_FEATURES_PER_PAGE = 50_000
# a layer id is a PostgreSQL integer: beyond it is no layer, refused as a bad parameter
LayerId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="a stored layer's id")]
# the sidecar files a shapefile upload may bring along


class LayerKind(StrEnum):
    roads = "roads"
    underground_lines = "underground_lines"
    trees = "trees"
    poles = "poles"
    protected_areas = "protected_areas"
    proposed_lines = "proposed_lines"


class Unplanned(StrEnum):
    keep = "keep"
    skip = "skip"


class Duplicates(StrEnum):
    refuse = "refuse"
    drop = "drop"


class OffsetSystem(StrEnum):
    gcj02 = "gcj02"
    bd09 = "bd09"


class LayerPublic(BaseModel):
    id: int
    city: str
    kind: str
    name: str
    source_file: str
    source_layer: str | None
    source_format: str
    source_crs: str
    source_encoding: str | None
    feature_count: int
    imported_at: dt.datetime
    crs: str
    source_sha256: str | None = None


class LayerImportPublic(BaseModel):
    layer: LayerPublic
    report: dict[str, Any]


def import_options(  # noqa: PLR0917 - FastAPI reads each form field as a parameter
    crs: Annotated[str | None, Form(description="CRS of the coordinates, e.g. EPSG:4552")] = None,
    encoding: Annotated[str | None, Form(description="text encoding, e.g. gbk")] = None,
    layer: Annotated[str | None, Form(description="layer to read from a multi-layer file")] = None,
    name: Annotated[str | None, Form(description="name for the stored layer")] = None,
    field_map: Annotated[
        str | None,
        Form(
            alias="map",
            description="SOURCE_FIELD=column pairs, comma-separated, e.g. 管线类别=utility",
        ),
    ] = None,
    unplanned: Annotated[
        Unplanned, Form(description="keep (as 'other') or skip lines of 路灯, 信号, 工业, 不明")
    ] = "keep",  # type: ignore[assignment]
    offset_from: Annotated[
        OffsetSystem | None,
        Form(description="gcj02 or bd09: lon/lat from Chinese web maps, converted to WGS 84"),
    ] = None,
    duplicates: Annotated[
        Duplicates, Form(description="refuse or drop twin (also reversed) and covered lines")
    ] = "refuse",  # type: ignore[assignment]
) -> dict[str, Any]:
    """The import's form fields, as :func:`geodata.importer.import_layer` takes them."""
    return {
        "crs": crs or None,
        "encoding": encoding or None,
        "layer": layer or None,
        "name": name or None,
        "field_map": parse_field_map(field_map),
        "unplanned": str(unplanned),
        "offset_from": offset_from.value if offset_from else None,
        "duplicates": str(duplicates),
    }


ImportOptions = Annotated[dict[str, Any], Depends(import_options)]
UploadedFiles = Annotated[
    list[UploadFile],
    File(description="one GIS file (.gpkg .geojson .fgb .dxf .zip), or a shapefile set"),
]
_IMPORT_REFUSED: dict[int | str, dict[str, Any]] = {
    409: {"description": "the city holds this file as this kind already; `detail` names it"},
    413: {"description": "the upload or the layer is larger than a limit; `detail` names it"},
    422: {"description": "the file was refused; `detail` is the validation report"},
}


@router.post("", status_code=201, operation_id="layers-create", responses=_IMPORT_REFUSED)
def create_layer(
    *,
    engine: EngineDep,
    access: AccessDep,
    settings: SettingsDep,
    file: UploadedFiles,
    kind: Annotated[LayerKind, Form()],
    city: Annotated[str, Form(description="name of an existing city, e.g. harbin")],
    options: ImportOptions,
) -> LayerImportPublic:
    """Import a layer; refused files get 422 with the validation report."""
    access.city(city)
    with tempfile.TemporaryDirectory(prefix="cotrench-upload-") as tmp:
        main = save_uploads(file, Path(tmp))
        # committed before the answer: the next request sees the layer
        with Session(engine, expire_on_commit=False) as session, session.begin():
            result = layer_admin.import_city_layer(
                session,
                access.signed_in,
                main,
                kind=kind.value,
                city=city,
                limits=settings.limits.imports(),
                **options,
            )
    return LayerImportPublic(layer=_public(result.layer), report=result.report.to_dict())


@router.post(
    "/{layer_id}/replace",
    status_code=201,
    operation_id="layers-replace",
    responses={**_IMPORT_REFUSED, 404: {"description": "no such layer"}},
)
def replace_layer(
    *,
    engine: EngineDep,
    access: AccessDep,
    settings: SettingsDep,
    layer_id: LayerId,
    file: UploadedFiles,
    options: ImportOptions,
    reason: Annotated[
        str | None, Form(max_length=500, description="why, e.g. 2026 年复测 / the 2026 resurvey")
    ] = None,
) -> LayerImportPublic:
    """Replace a base layer by a new survey of it: the new layer in, the old one out, at once.

    A refused file leaves the old layer in place. The history keeps both.
    """
    with tempfile.TemporaryDirectory(prefix="cotrench-upload-") as tmp:
        main = save_uploads(file, Path(tmp))
        with Session(engine, expire_on_commit=False) as session, session.begin():
            result = layer_admin.replace_city_layer(
                session,
                access.signed_in,
                layer_id,
                main,
                reason=reason or None,
                limits=settings.limits.imports(),
                **options,
            )
    return LayerImportPublic(layer=_public(result.layer), report=result.report.to_dict())


@router.delete(
    "/{layer_id}",
    operation_id="layers-delete",
    responses={404: {"description": "no such layer"}, 409: {"description": "not base data"}},
)
def delete_layer(
    *,
    session: SessionDep,
    access: AccessDep,
    layer_id: LayerId,
    reason: Annotated[
        str, Query(min_length=2, max_length=500, description="why it goes, for the history")
    ],
) -> LayerPublic:
    """Delete a base layer and its features; the history keeps what it was and who deleted it."""
    return _public(
        layer_admin.delete_city_layer(session, access.signed_in, layer_id, reason=reason)
    )


class LayerEventPublic(BaseModel):
    at: dt.datetime
    action: str
    layer_id: int
    actor_name: str
    actor_role: str
    reason: str | None
    data: dict[str, Any]


@router.get(
    "/history", operation_id="layers-history", responses={404: {"description": "no such city"}}
)
def history(
    *,
    session: SessionDep,
    access: AccessDep,
    city: Annotated[str, Query(max_length=100, description="the city's layer events")],
    layer_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> list[LayerEventPublic]:
    """Every import, replacement and deletion of the city's layers, newest first."""
    access.city(city)
    return [
        LayerEventPublic(
            at=row.at,
            action=row.action,
            layer_id=row.entity_id,
            actor_name=row.actor_name,
            actor_role=row.actor_role,
            reason=row.reason,
            data=row.data or {},
        )
        for row in layer_admin.layer_history(session, city, layer_id=layer_id)
    ]


@router.get("", operation_id="layers-list")
def list_layers(
    session: SessionDep,
    access: AccessDep,
    city: Annotated[str | None, Query(description="only this city's layers")] = None,
    kind: Annotated[LayerKind | None, Query()] = None,
) -> list[LayerPublic]:
    """List the stored layers (of the caller's city, for a user bound to one)."""
    access.city(city)
    city = city or access.cities()
    found = storage.find_layers(session, city=city, kind=kind.value if kind else None)
    return [_public(info) for info in found]


@router.get(
    "/{layer_id}/features",
    operation_id="layers-features",
    response_class=GeoJSONResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def get_features(
    *,
    session: SessionDep,
    layer_id: LayerId,
    bbox: Annotated[
        str | None, Query(description="minx,miny,maxx,maxy in bbox-crs (lon/lat by default)")
    ] = None,
    bbox_crs: Annotated[str, Query(alias="bbox-crs")] = "EPSG:4326",
    crs: Annotated[
        str, Query(description="output CRS; EPSG:4326 gives RFC 7946 lon/lat")
    ] = "EPSG:4326",
    limit: Annotated[int, Query(ge=1, le=MAX_FEATURES_PER_PAGE)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
    request: Request,
) -> Response:
    """Return a layer's features as a GeoJSON FeatureCollection (paged: follow `next`)."""
    collection = storage.layer_features(
        session,
        layer_id,
        bbox=parse_bbox(bbox, crs=bbox_crs) if bbox else None,
        bbox_crs=bbox_crs,
        crs=crs,
        limit=limit,
        offset=offset,
    )
    collection["links"] = page_links(
        request,
        offset=offset,
        returned=collection["numberReturned"],
        matched=collection["numberMatched"],
    )
    return etagged(request, GeoJSONResponse(collection))


def _public(info: LayerInfo) -> LayerPublic:
    return LayerPublic.model_validate(info, from_attributes=True)


@router.get(
    "/{layer_id}/export",
    operation_id="layers-export",
    response_class=Response,
    responses={200: {"content": {m: {} for m in exports.EXPORT_MEDIA.values()}}},
)
def export_layer(
    *,
    session: SessionDep,
    layer_id: LayerId,
    format: Annotated[ExportFormat, Query(description="gpkg, shp, kml, geojson, csv or dxf")],
    crs: Annotated[
        str | None,
        Query(description="output CRS (default: the city's); KML and GeoJSON are WGS 84"),
    ] = None,
    encoding: Annotated[Encoding, Query(description="Shapefile text encoding")] = "utf-8",  # type: ignore[assignment]
) -> Response:
    """Download a layer as GeoPackage, Shapefile (zip), KML, GeoJSON, CSV (WKT) or DXF."""
    out = exports.export_layer(
        session, layer_id, fmt=format.value, crs=crs or None, encoding=str(encoding)
    )
    return Response(out.data, media_type=out.media_type, headers=content_disposition(out.filename))
