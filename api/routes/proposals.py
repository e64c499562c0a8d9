"""Submit proposed lines and get their matching, co-location groups and warnings back.

City-wide (``/proposals/{city}``) or for an approval application
(``/approvals/applications/{id}/proposals``): there each utility company's designer submits
the company's own lines, checked by :func:`authorize_designer`. Both go through the one
pipeline, :func:`api.services.colocation.import_proposals`, and co-location runs across all
applications and dates of the city.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import tempfile
from collections.abc import Iterable
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi import Body
from fastapi import File
from fastapi import Form
from fastapi import Query
from fastapi import Response
from fastapi import UploadFile
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.approvals.enums import Action
from api.approvals.enums import Role
from api.approvals.errors import PermissionDeniedError
from api.approvals.errors import PreconditionError
from api.approvals.http import UserDep
from api.approvals.http import load
from api.approvals.models import Application
from api.approvals.models import User
from api.approvals.service import get_or_404
from api.deps import RoadGraphsDep
from api.deps import SessionDep
from api.deps import SettingsDep
from api.responses import GeoJSONResponse
from api.responses import content_disposition
from api.services import exports
from api.services.colocation import ProposalOutcome
from api.services.colocation import import_proposals
from api.services.exports import EXPORT_MEDIA
from api.services.exports import Encoding
from api.services.exports import ExportFormat
from api.uploads import parse_bbox
from api.uploads import save_uploads
from geodata.colocation_store import groups_geojson
from geodata.colocation_store import read_application_lines
from geodata.storage import get_city
from routing.errors import ProposalError

__all__ = [
    "ProposalLinePublic",
    "ProposalSubmissionPublic",
    "WarningPublic",
    "router",
]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["proposals"])


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
    413: {"description": "the upload or the layer is larger than a limit; `detail` names it"},
    422: {"description": "refused; `detail` names each bad feature and the problem"},
}
# who submits a company's lines: its designers (设计人员) and its staff on the dispatch
_DESIGNERS = frozenset({Role.designer, Role.utility_staff})
_APPLICATION_REFUSED: dict[int | str, dict[str, Any]] = {
    **_REFUSED,
    401: {"description": "no or a bad bearer token"},
    403: {"description": "not the company's staff, not dispatched, or a line of another utility"},
    404: {"description": "no such application"},
    409: {"description": "the application names no city"},
}


@router.post(
    "/proposals/{city}",
    status_code=201,
    operation_id="proposals-create",
    responses=_REFUSED,
)
def create_proposals(
    *,
    session: SessionDep,
    graphs: RoadGraphsDep,
    city: str,
    settings: SettingsDep,
    collection: Annotated[
        dict[str, Any], Body(description="a GeoJSON FeatureCollection of proposed lines")
    ],
    crs: Annotated[
        str | None, Query(description="CRS of the coordinates (default: lon/lat, RFC 7946)")
    ] = None,
) -> ProposalSubmissionPublic:
    """Submit proposed lines as GeoJSON; returns matching, groups and warnings."""
    with _geojson_file(collection) as path:
        return _public(
            import_proposals(
                session,
                graphs,
                path,
                city=city,
                crs=crs,
                display_name="request body",
                limits=settings.limits.imports(),
            )
        )


@router.post(
    "/proposals/{city}/upload",
    status_code=201,
    operation_id="proposals-upload",
    responses=_REFUSED,
)
def upload_proposals(
    *,
    session: SessionDep,
    graphs: RoadGraphsDep,
    settings: SettingsDep,
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
        return _public(
            import_proposals(
                session,
                graphs,
                main,
                city=city,
                crs=crs or None,
                encoding=encoding or None,
                layer=layer or None,
                limits=settings.limits.imports(),
            )
        )


@router.get(
    "/proposals/{city}/groups",
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


@router.get(
    "/proposals/{city}/groups/export",
    operation_id="proposals-groups-export",
    response_class=Response,
    responses={200: {"content": {m: {} for m in EXPORT_MEDIA.values()}}},
)
def export_groups(
    *,
    session: SessionDep,
    city: str,
    format: Annotated[ExportFormat, Query(description="gpkg, shp, kml, geojson, csv or dxf")],
    crs: Annotated[
        str | None, Query(max_length=100, description="output CRS (default: the city's)")
    ] = None,
    encoding: Annotated[Encoding, Query(description="Shapefile text encoding")] = "utf-8",  # type: ignore[assignment]
) -> Response:
    """Download the city's co-location groups as a GIS or CAD file."""
    out = exports.export_groups(
        session, get_city(session, city), fmt=str(format), crs=crs or None, encoding=str(encoding)
    )
    return Response(out.data, media_type=out.media_type, headers=content_disposition(out.filename))


@router.post(
    "/approvals/applications/{application_id}/proposals",
    status_code=201,
    operation_id="approvals-submit-proposals",
    responses=_APPLICATION_REFUSED,
)
def create_application_proposals(
    *,
    session: SessionDep,
    graphs: RoadGraphsDep,
    user: UserDep,
    settings: SettingsDep,
    application_id: int,
    collection: Annotated[
        dict[str, Any], Body(description="a GeoJSON FeatureCollection of the company's lines")
    ],
    crs: Annotated[
        str | None, Query(description="CRS of the coordinates (default: lon/lat, RFC 7946)")
    ] = None,
) -> ProposalSubmissionPublic:
    """Submit a company's proposed lines for an application as GeoJSON (drawn or exported)."""
    city = authorize_designer(session, user, application_id)
    with _geojson_file(collection) as path:
        outcome = import_proposals(
            session,
            graphs,
            path,
            city=city,
            crs=crs,
            display_name="request body",
            application_id=application_id,
            limits=settings.limits.imports(),
        )
    authorize_designer(session, user, application_id, utilities=outcome.utilities.values())
    return _public(outcome)


@router.post(
    "/approvals/applications/{application_id}/proposals/upload",
    status_code=201,
    operation_id="approvals-upload-proposals",
    responses=_APPLICATION_REFUSED,
)
def upload_application_proposals(
    *,
    session: SessionDep,
    graphs: RoadGraphsDep,
    user: UserDep,
    settings: SettingsDep,
    application_id: int,
    file: Annotated[
        list[UploadFile],
        File(description="one GIS file (.gpkg .geojson .fgb .dxf .zip), or a shapefile set"),
    ],
    crs: Annotated[str | None, Form(description="CRS of the coordinates, e.g. EPSG:4547")] = None,
    encoding: Annotated[str | None, Form(description="text encoding, e.g. gbk")] = None,
    layer: Annotated[str | None, Form(description="layer to read from a multi-layer file")] = None,
) -> ProposalSubmissionPublic:
    """Submit a company's proposed lines for an application as a file."""
    city = authorize_designer(session, user, application_id)
    with tempfile.TemporaryDirectory(prefix="cotrench-proposals-") as tmp:
        main = save_uploads(file, Path(tmp))
        outcome = import_proposals(
            session,
            graphs,
            main,
            city=city,
            crs=crs or None,
            encoding=encoding or None,
            layer=layer or None,
            application_id=application_id,
            limits=settings.limits.imports(),
        )
    authorize_designer(session, user, application_id, utilities=outcome.utilities.values())
    return _public(outcome)


@router.get(
    "/approvals/applications/{application_id}/proposals",
    operation_id="approvals-list-proposals",
    response_class=GeoJSONResponse,
    responses={200: {"content": {"application/geo+json": {}}}, **_APPLICATION_REFUSED},
)
def list_application_proposals(
    *, session: SessionDep, user: UserDep, application_id: int
) -> GeoJSONResponse:
    """The proposed lines submitted for an application, as GeoJSON in lon/lat."""
    load(session, user, Action.read_application, Application, application_id)
    lines = read_application_lines(session, application_id)
    features: list[Any] = []
    if not lines.empty:
        features = orjson.loads(lines.to_crs(4326).to_json(drop_id=True))["features"]
    return GeoJSONResponse({"type": "FeatureCollection", "features": features})


def authorize_designer(
    session: Session,
    user: User,
    application_id: int,
    *,
    utilities: Iterable[str] | None = None,
) -> str:
    """Allow ``user`` to submit proposed lines for the application; returns its city.

    The one place of the rule (the policy table may take it over): the user is a utility
    company's designer or staff, the application was dispatched to that company, and, once the lines
    are read (``utilities``), every line is of the company's utility.

    Raises
    ------
    PermissionDeniedError
        Not utility staff, no dispatch of the application to the user's company, or a line
        of another utility; the message says which.
    NotFoundError
        No such application.
    PreconditionError
        The application names no city.
    """
    action = "submit proposed lines for an application"
    role = Role(user.role)
    if role not in _DESIGNERS:
        raise PermissionDeniedError(role, action, "only a utility company's staff submit lines")
    app = get_or_404(session, Application, application_id)
    org = user.organisation
    if org is None or org.utility is None:
        raise PermissionDeniedError(role, action, "your account belongs to no utility company")
    if not any(d.company_id == org.id for d in app.dispatches):
        why = f"application {app.number} was not dispatched to {org.code} ({org.name})"
        raise PermissionDeniedError(role, action, why)
    other = sorted(set(utilities or ()) - {org.utility})
    if other:
        why = f"{org.code} submits {org.utility} lines only; the file has {', '.join(other)} lines"
        raise PermissionDeniedError(role, action, why)
    if app.city is None:
        msg = f"application {app.number} names no city to put its lines in"
        raise PreconditionError(msg, ["city"])
    return app.city.name


@contextlib.contextmanager
def _geojson_file(collection: dict[str, Any]) -> Iterator[Path]:
    if collection.get("type") != "FeatureCollection" or not collection.get("features"):
        msg = "the body must be a GeoJSON FeatureCollection with at least one feature"
        raise ProposalError(msg)
    with tempfile.TemporaryDirectory(prefix="cotrench-proposals-") as tmp:
        path = Path(tmp) / "proposals.geojson"
        path.write_bytes(orjson.dumps(collection))
        yield path


def _public(outcome: ProposalOutcome) -> ProposalSubmissionPublic:
    assert outcome.layer_id is not None
    return ProposalSubmissionPublic(layer_id=outcome.layer_id, **outcome.as_dict())
