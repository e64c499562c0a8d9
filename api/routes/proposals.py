"""Submit proposed lines and get their matching, co-location groups and warnings back."""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from pathlib import Path
from typing import Annotated
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi import Body
from fastapi import File
from fastapi import Form
from fastapi import Query
from fastapi import UploadFile
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.deps import RoadGraphsDep
from api.deps import SessionDep
from api.responses import GeoJSONResponse
from api.services.colocation import import_proposals
from api.services.graphs import RoadGraphs
from api.uploads import parse_bbox
from api.uploads import save_uploads
from geodata.colocation_store import groups_geojson
from routing.errors import ProposalError

__all__ = [
    "ProposalLinePublic",
    "ProposalSubmissionPublic",
    "WarningPublic",
    "router",
]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/proposals", tags=["proposals"])


class ProposalLinePublic(BaseModel):
    proposed_line_id: int
    source_id: str
    length_m: float
    off_network_m: float
    existing_lines_crossed: int


class WarningPublic(BaseModel):
    kind: str
    line: int
    rule: str
    verification: str
    message: str
    where: dict[str, Any]
    values: dict[str, Any]
    geometry: str | None


class ProposalSubmissionPublic(BaseModel):
    layer_id: int
    lines: list[ProposalLinePublic]
    along: list[dict[str, Any]]
    crossings: list[dict[str, Any]]
    off_network: list[dict[str, Any]]
    groups: list[dict[str, Any]]
    warnings: list[WarningPublic]


_REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"description": "refused; `detail` names each bad feature and the problem"}
}


@router.post(
    "/{city}",
    status_code=201,
    operation_id="proposals-create",
    responses=_REFUSED,
)
def create_proposals(
    *,
    session: SessionDep,
    graphs: RoadGraphsDep,
    city: str,
    collection: Annotated[
        dict[str, Any], Body(description="a GeoJSON FeatureCollection of proposed lines")
    ],
    crs: Annotated[
        str | None, Query(description="CRS of the coordinates (default: lon/lat, RFC 7946)")
    ] = None,
) -> ProposalSubmissionPublic:
    """Submit proposed lines as GeoJSON; returns matching, groups and warnings."""
    if collection.get("type") != "FeatureCollection" or not collection.get("features"):
        msg = "the body must be a GeoJSON FeatureCollection with at least one feature"
        raise ProposalError(msg)
    with tempfile.TemporaryDirectory(prefix="cotrench-proposals-") as tmp:
        path = Path(tmp) / "proposals.geojson"
        path.write_bytes(orjson.dumps(collection))
        return _submit(session, graphs, path, city=city, crs=crs, display_name="request body")


@router.post(
    "/{city}/upload",
    status_code=201,
    operation_id="proposals-upload",
    responses=_REFUSED,
)
def upload_proposals(
    *,
    session: SessionDep,
    graphs: RoadGraphsDep,
    city: str,
    file: Annotated[
        list[UploadFile],
        File(description="one GIS file (.gpkg .geojson .fgb .dxf .zip), or a shapefile set"),
    ],
    crs: Annotated[str | None, Form(description="CRS of the coordinates, e.g. EPSG:4552")] = None,
    encoding: Annotated[str | None, Form(description="text encoding, e.g. gbk")] = None,
    layer: Annotated[str | None, Form(description="layer to read from a multi-layer file")] = None,
) -> ProposalSubmissionPublic:
    """Submit proposed lines as any file the layer import accepts."""
    with tempfile.TemporaryDirectory(prefix="cotrench-proposals-") as tmp:
        main = save_uploads(file, Path(tmp))
        return _submit(
            session,
            graphs,
            main,
            city=city,
            crs=crs or None,
            encoding=encoding or None,
            layer=layer or None,
        )


@router.get(
    "/{city}/groups",
    operation_id="proposals-groups",
    response_class=GeoJSONResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def list_groups(
    *,
    session: SessionDep,
    city: str,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat")] = None,
    start: Annotated[dt.date | None, Query(description="groups whose window ends on/after")] = None,
    end: Annotated[
        dt.date | None, Query(description="groups whose window starts on/before")
    ] = None,
) -> GeoJSONResponse:
    """List co-location groups by bbox and date range as GeoJSON."""
    collection = groups_geojson(
        session, city=city, bbox=parse_bbox(bbox) if bbox else None, start=start, end=end
    )
    return GeoJSONResponse(collection)


def _submit(
    session: Session,
    graphs: RoadGraphs,
    path: Path,
    *,
    city: str,
    crs: str | None = None,
    encoding: str | None = None,
    layer: str | None = None,
    display_name: str | None = None,
    application_id: int | None = None,
) -> ProposalSubmissionPublic:
    # one transaction (the request's): import, match, warn, group -- or nothing at all
    outcome = import_proposals(
        session,
        graphs,
        path,
        city=city,
        crs=crs,
        encoding=encoding,
        layer=layer,
        display_name=display_name,
        application_id=application_id,
    )
    assert outcome.layer_id is not None
    return ProposalSubmissionPublic(layer_id=outcome.layer_id, **outcome.as_dict())
