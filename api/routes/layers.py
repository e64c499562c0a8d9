"""Upload GIS layers into a city, list them, and serve their features as GeoJSON."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from typing import Any

from fastapi import APIRouter
from fastapi import File
from fastapi import Form
from fastapi import Query
from fastapi import UploadFile
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.deps import EngineDep
from api.deps import SessionDep
from api.responses import GeoJSONResponse
from geodata import storage
from geodata.errors import InvalidBBoxError
from geodata.errors import LayerReadError
from geodata.importer import import_layer
from geodata.layers import READ_FORMATS
from geodata.storage import LayerInfo

__all__ = ["LayerImportPublic", "LayerKind", "LayerPublic", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/layers", tags=["layers"])

MAX_FEATURES_PER_PAGE = 50_000
# the sidecar files a shapefile upload may bring along
_SHAPEFILE_PARTS = {".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".qmd"}


class LayerKind(StrEnum):
    roads = "roads"
    underground_lines = "underground_lines"
    trees = "trees"
    poles = "poles"
    protected_areas = "protected_areas"
    proposed_lines = "proposed_lines"


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


class LayerImportPublic(BaseModel):
    layer: LayerPublic
    report: dict[str, Any]


@router.post(
    "",
    status_code=201,
    operation_id="layers-create",
    responses={422: {"description": "the file was refused; `detail` is the validation report"}},
)
def create_layer(
    *,
    engine: EngineDep,
    file: Annotated[
        list[UploadFile],
        File(description="one GIS file (.gpkg .geojson .fgb .dxf .zip), or a shapefile set"),
    ],
    kind: Annotated[LayerKind, Form()],
    city: Annotated[str, Form(description="name of an existing city, e.g. harbin")],
    crs: Annotated[str | None, Form(description="CRS of the coordinates, e.g. EPSG:4547")] = None,
    encoding: Annotated[str | None, Form(description="text encoding, e.g. gbk")] = None,
    layer: Annotated[str | None, Form(description="layer to read from a multi-layer file")] = None,
    name: Annotated[str | None, Form(description="name for the stored layer")] = None,
) -> LayerImportPublic:
    """Import a layer; refused files get 422 with the validation report."""
    with tempfile.TemporaryDirectory(prefix="cotrench-upload-") as tmp:
        main = _save_uploads(file, Path(tmp))
        with Session(engine, expire_on_commit=False) as session, session.begin():
            result = import_layer(
                session,
                main,
                kind=kind.value,
                city=city,
                crs=crs or None,
                encoding=encoding or None,
                layer=layer or None,
                name=name or None,
            )
    return LayerImportPublic(layer=_public(result.layer), report=result.report.to_dict())


@router.get("", operation_id="layers-list")
def list_layers(
    session: SessionDep,
    city: Annotated[str | None, Query(description="only this city's layers")] = None,
    kind: Annotated[LayerKind | None, Query()] = None,
) -> list[LayerPublic]:
    """List the stored layers."""
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
    layer_id: int,
    bbox: Annotated[
        str | None, Query(description="minx,miny,maxx,maxy in bbox-crs (lon/lat by default)")
    ] = None,
    bbox_crs: Annotated[str, Query(alias="bbox-crs")] = "EPSG:4326",
    crs: Annotated[
        str, Query(description="output CRS; EPSG:4326 gives RFC 7946 lon/lat")
    ] = "EPSG:4326",
    limit: Annotated[int, Query(ge=1, le=MAX_FEATURES_PER_PAGE)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> GeoJSONResponse:
    """Return a layer's features as a GeoJSON FeatureCollection."""
    collection = storage.layer_features(
        session,
        layer_id,
        bbox=_parse_bbox(bbox) if bbox else None,
        bbox_crs=bbox_crs,
        crs=crs,
        limit=limit,
        offset=offset,
    )
    return GeoJSONResponse(collection)


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or values[0] > values[2] or values[1] > values[3]:
        msg = f"bbox {text!r} must be minx,miny,maxx,maxy with min <= max"
        raise InvalidBBoxError(msg)
    return values


def _save_uploads(files: list[UploadFile], into: Path) -> Path:
    saved: list[Path] = []
    for upload in files:
        name = Path(upload.filename or "").name
        if not name or name in {".", ".."}:
            msg = "an uploaded file has no name"
            raise LayerReadError(msg)
        target = into / name
        with target.open("wb") as out:
            shutil.copyfileobj(upload.file, out)
        saved.append(target)
    if len(saved) == 1:
        return saved[0]
    data = [p for p in saved if p.suffix.lower() in {*READ_FORMATS, ".zip"}]
    parts = {p.suffix.lower() for p in saved}
    if len(data) == 1 and (data[0].suffix.lower() != ".shp" or parts <= _SHAPEFILE_PARTS):
        return data[0]
    names = ", ".join(p.name for p in saved)
    msg = (
        f"uploaded {names}: send one data file, a .zip, or one shapefile set "
        "(.shp with .shx, .dbf, .prj, .cpg)"
    )
    raise LayerReadError(msg)


def _public(info: LayerInfo) -> LayerPublic:
    return LayerPublic.model_validate(info, from_attributes=True)
