"""Run the joint survey (联合勘察), fix the route as a frozen version, open the parallel permits."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals import calendar
from api.approvals.attachments import QUANTITY_HOOKS
from api.approvals.attachments import AttachmentDraft
from api.approvals.attachments import canonical_json
from api.approvals.attachments import permit_attachments
from api.approvals.attachments import route_quantities
from api.approvals.attachments import store_attachment
from api.approvals.attachments import validate_route
from api.approvals.enums import PERMIT_OWNER
from api.approvals.enums import STAGE_WORKING_DAYS
from api.approvals.enums import ApplicationStatus
from api.approvals.enums import DepartmentKind
from api.approvals.enums import EntityKind
from api.approvals.enums import PermitStatus
from api.approvals.enums import PermitType
from api.approvals.enums import Stage
from api.approvals.errors import FormValidationError
from api.approvals.errors import PreconditionError
from api.approvals.errors import TransitionNotAllowedError
from api.approvals.models import Application
from api.approvals.models import Organisation
from api.approvals.models import Permit
from api.approvals.models import RouteVersion
from api.approvals.models import SurveyOpinion
from api.approvals.models import User
from api.approvals.schemas import OpinionCreate
from api.approvals.schemas import RouteCreate
from api.approvals.service import dispatched_companies
from api.approvals.service import get_or_404
from api.approvals.service import lock_application
from api.approvals.service import notify_companies
from api.approvals.transitions import allowed_actions
from api.approvals.transitions import apply_transition
from api.approvals.transitions import record_event
from api.services.analysis import analyse_frames
from api.services.analysis import quantity_table
from api.services.analysis import route_city
from api.services.documents import DocumentDraft
from api.services.documents import SheetTitle
from api.services.documents import manifest
from api.services.documents import render_documents
from api.services.documents import store_documents
from geodata.plan_tables import TrenchPlanRow
from geodata.storage import CityInfo
from maps.frames import TrenchFrames
from maps.frames import route_frames

__all__ = ["fix_route", "record_opinion", "required_survey_organisations"]

logger = logging.getLogger(__name__)

_CITY_DEPARTMENTS = (
    DepartmentKind.city_management,
    DepartmentKind.traffic_police,
    DepartmentKind.natural_resources,
    DepartmentKind.housing_construction,
)


# ---------------------------------------------------------------- 联合勘察 (1 working day)
def required_survey_organisations(session: Session, app: Application) -> list[Organisation]:
    """The city departments, the site's district and every company the application went to."""
    orgs = list(
        session.scalars(
            select(Organisation).where(Organisation.department_kind.in_(list(_CITY_DEPARTMENTS)))
        )
    )
    orgs += list(
        session.scalars(
            select(Organisation).where(
                Organisation.department_kind == DepartmentKind.district_management,
                Organisation.district == app.district,
            )
        )
    )
    orgs += dispatched_companies(session, app)
    return sorted({o.id: o for o in orgs}.values(), key=lambda o: o.code)


def record_opinion(
    *, session: Session, actor: User, application_id: int, body: OpinionCreate, now: dt.datetime
) -> SurveyOpinion:
    """Record the actor's organisation's joint-survey opinion (a second one replaces it)."""
    app = get_or_404(session, Application, application_id)
    if app.status != ApplicationStatus.surveying:
        raise TransitionNotAllowedError(
            EntityKind.application,
            app.status,
            "record_opinion",
            allowed_actions(EntityKind.application, app.status),
        )
    opinion = session.scalars(
        select(SurveyOpinion).where(
            SurveyOpinion.application_id == app.id,
            SurveyOpinion.organisation_id == actor.organisation_id,
        )
    ).one_or_none()
    action = "record_opinion" if opinion is None else "amend_opinion"
    if opinion is None:
        opinion = SurveyOpinion(application_id=app.id, organisation_id=actor.organisation_id)
        session.add(opinion)
    opinion.user_id, opinion.real_name = actor.id, actor.real_name
    opinion.opinion, opinion.agrees, opinion.recorded_at = body.opinion, body.agrees, now
    session.flush()
    record_event(
        session=session,
        actor=actor,
        now=now,
        kind=EntityKind.opinion,
        entity_id=opinion.id,
        application_id=app.id,
        action=action,
        data={"agrees": body.agrees},
    )
    return opinion


def fix_route(
    *,
    session: Session,
    actor: User,
    application_id: int,
    body: RouteCreate,
    now: dt.datetime,
    bundle_id: int | None = None,
) -> RouteVersion:
    """Fix the shared-trench route (a frozen version) and open the parallel permits.

    The first call ends the joint survey and needs every opinion; a later call makes a
    new version and re-opens every permit that depended on the old one, unless the route
    and its inputs (geometry, CRS, city, plan, quantities) are those of the current
    version: then that version is returned and nothing changes. Each version is analysed
    once in its city (stored with it) and its quantities, sheets and section drawings are
    frozen with it (``api.services.documents``), covered by its SHA-256.
    ``bundle_id`` names the bundle whose joint route this is (``api.services.bundles``).
    """
    get_or_404(session, Application, application_id)
    app = lock_application(session, application_id)  # before its permits, as decisions do
    first = app.status == ApplicationStatus.surveying
    action = "fix_route" if first else "revise_route"
    steps = allowed_actions(EntityKind.application, app.status)
    if action not in steps:
        raise TransitionNotAllowedError(EntityKind.application, app.status, action, steps)
    if first:
        have = set(
            session.scalars(
                select(SurveyOpinion.organisation_id).where(SurveyOpinion.application_id == app.id)
            )
        )
        missing = [o.code for o in required_survey_organisations(session, app) if o.id not in have]
        if missing:
            msg = f"the joint survey still lacks the opinions of: {', '.join(missing)}"
            raise PreconditionError(msg, missing)
    gdf = validate_route(body.geojson, body.crs)
    frozen = orjson.loads(canonical_json(body.geojson))
    frames = _route_frames(app, frozen, body.crs)
    _check_plan(session, body)
    city = route_city(session, app, plan_id=body.plan_id, frames=frames)
    previous = session.scalars(
        select(RouteVersion).where(
            RouteVersion.application_id == app.id, RouteVersion.superseded_at.is_(None)
        )
    ).one_or_none()
    inputs = _sha256(
        canonical_json(
            {
                "geojson": frozen,
                "crs": body.crs,
                "city": None if city is None else city.name,
                "plan": [body.plan_id, body.plan_version],
                "quantities": body.quantities,
            }
        )
    )
    if not first and previous is not None and previous.inputs_sha256 == inputs:
        # the same route from the same inputs: no new version, approved permits stay so
        logger.info("%s: route v%d fixed again unchanged", app.number, previous.version_no)
        return previous
    version_no = 1 + (
        session.scalar(
            select(func.max(RouteVersion.version_no)).where(RouteVersion.application_id == app.id)
        )
        or 0
    )
    if first:
        types = sorted(set(body.permit_types or list(PermitType)))
    else:
        types = sorted(
            set(session.scalars(select(Permit.permit_type).where(Permit.application_id == app.id)))
        )
    route, drafts = _new_version(
        session,
        app,
        body,
        route=(gdf, frames, frozen),
        city=city,
        version_no=version_no,
        permit_types=types,
        inputs_sha256=inputs,
        actor=actor,
        now=now,
    )
    route.bundle_id = bundle_id
    session.add(route)
    if previous is not None:
        previous.superseded_at = now
    session.flush()
    store_documents(session, route.id, drafts)
    sheets = {d.permit_type: d for d in drafts if d.kind == "sheet"}
    apply_transition(
        app,
        EntityKind.application,
        action,
        session=session,
        actor=actor,
        now=now,
        expected_version=body.version,
        reason=body.reason,
        data={
            "route_version": version_no,
            "sha256": route.sha256,
            "plan_id": body.plan_id,
            "plan_version": body.plan_version,
            "bundle_id": bundle_id,
        },
    )
    due = calendar.deadline_after(now, STAGE_WORKING_DAYS[Stage.permits] or 0).due_at
    if first:
        _open_permits(
            session, app, route, types=types, sheets=sheets, actor=actor, now=now, due=due
        )
    else:
        _reopen_permits(session, app, route, sheets=sheets, actor=actor, now=now, due=due)
    notify_companies(
        session,
        app,
        kind="route_fixed" if first else "route_revised",
        now=now,
        message=f"{app.number}: 路由第 {version_no} 版已确定",
    )
    return route


def _new_version(
    session: Session,
    app: Application,
    body: RouteCreate,
    *,
    route: tuple[Any, TrenchFrames, dict[str, Any]],
    city: CityInfo | None,
    version_no: int,
    permit_types: list[PermitType],
    inputs_sha256: str,
    actor: User,
    now: dt.datetime,
) -> tuple[RouteVersion, list[DocumentDraft]]:
    """A route version with its analysis' quantities and documents (not yet stored)."""
    gdf, frames, frozen = route
    # the one analysis of the route, computed once: the quantities, sheets and drawings
    # the permits carry are frozen from it (api.services.documents)
    analysed = analyse_frames(session, frames, city=city, on=calendar.local_date(now))
    quantities: dict[str, Any] = {
        "route": route_quantities(gdf),
        "plan": body.quantities,
        "cross_sections": {
            "source": "routing.analysis",
            "city": None if city is None else city.name,
            "frost_depth_m": None if city is None else city.frost_depth_m,
            **analysed.quantities.as_dict(),
        },
        "table": [list(row) for row in quantity_table(analysed.quantities)],
        "warnings": [w.as_dict() for w in analysed.analysis.warnings],
    }
    for hook in QUANTITY_HOOKS:
        extra = hook(body.geojson, body.crs)
        if extra:
            quantities.setdefault("extra", []).append(extra)
    applicant = app.applicant.get("name", "") if isinstance(app.applicant, dict) else ""
    title = SheetTitle(
        project=app.project_name,
        application_no=app.number,
        applicant=applicant,
        issued_on=calendar.local_date(now),
        route_version=version_no,
    )
    drafts = render_documents(analysed, title, permit_types=[str(t) for t in permit_types])
    version = RouteVersion(
        application_id=app.id,
        version_no=version_no,
        crs=body.crs,
        geojson=frozen,
        quantities=quantities,
        plan_id=body.plan_id,
        plan_version=body.plan_version,
        reason=body.reason,
        fixed_by_id=actor.id,
        fixed_at=now,
        city=None if city is None else city.name,
        inputs_sha256=inputs_sha256,
        sha256=_sha256(
            canonical_json(
                {
                    "geojson": frozen,
                    "crs": body.crs,
                    "city": None if city is None else city.name,
                    "q": quantities,
                    "documents": manifest(drafts),
                }
            )
        ),
    )
    return version, drafts


def _open_permits(
    session: Session,
    app: Application,
    route: RouteVersion,
    *,
    types: list[PermitType],
    sheets: Mapping[str | None, DocumentDraft],
    actor: User,
    now: dt.datetime,
    due: dt.datetime,
) -> None:
    for permit_type in types:
        department = _department_for(session, app, permit_type)
        permit = Permit(
            application_id=app.id,
            permit_type=permit_type,
            department_id=department.id,
            route_version_id=route.id,
            status=PermitStatus.submitted,
            submitted_at=now,
            due_at=due,
        )
        session.add(permit)
        session.flush()
        _attach_route(session, permit, route, actor, sheets)
        record_event(
            session=session,
            actor=actor,
            now=now,
            kind=EntityKind.permit,
            entity_id=permit.id,
            application_id=app.id,
            action="open",
            to_status=permit.status,
            data={
                "permit_type": permit_type,
                "department": department.code,
                "route_version": route.version_no,
            },
        )


def _reopen_permits(
    session: Session,
    app: Application,
    route: RouteVersion,
    *,
    sheets: Mapping[str | None, DocumentDraft],
    actor: User,
    now: dt.datetime,
    due: dt.datetime,
) -> None:
    permits = session.scalars(
        select(Permit).where(Permit.application_id == app.id).order_by(Permit.id)
    )
    for permit in permits:
        apply_transition(
            permit,
            EntityKind.permit,
            "reopen",
            session=session,
            actor=actor,
            now=now,
            reason=f"route version {route.version_no}",
            data={"route_version": route.version_no},
        )
        permit.route_version_id, permit.submitted_at, permit.due_at = route.id, now, due
        permit.decided_at, permit.conditions = None, None
        _attach_route(session, permit, route, actor, sheets)


def _attach_route(
    session: Session,
    permit: Permit,
    route: RouteVersion,
    actor: User,
    sheets: Mapping[str | None, DocumentDraft],
) -> None:
    drafts = permit_attachments(route, permit.permit_type)
    sheet = sheets.get(str(permit.permit_type))
    if sheet is not None:
        # the map permit's frozen sheet, the same bytes as the version's stored document
        name = f"sheet_{permit.permit_type}_v{route.version_no}.pdf"
        drafts.append(AttachmentDraft(name, sheet.content_type, sheet.data))
    for draft in drafts:
        store_attachment(
            draft,
            session=session,
            owner_kind="permit",
            owner_id=permit.id,
            application_id=permit.application_id,
            uploaded_by_id=actor.id,
        )


def _department_for(session: Session, app: Application, permit_type: PermitType) -> Organisation:
    kind = PERMIT_OWNER[permit_type]
    query = select(Organisation).where(Organisation.department_kind == kind)
    if kind is DepartmentKind.district_management:
        query = query.where(Organisation.district == app.district)
    org = session.scalars(query.order_by(Organisation.id)).first()
    if org is None:
        msg = f"no department of kind {kind} for {permit_type} (district {app.district})"
        raise PreconditionError(msg, [str(kind)])
    return org


def _route_frames(app: Application, geojson: dict[str, Any], crs: str) -> TrenchFrames:
    utilities = [d.utility for d in app.demands]
    try:
        return route_frames(geojson, crs, title=app.project_name, default_utilities=utilities)
    except ValueError as exc:
        raise FormValidationError([_err("geojson", str(exc))]) from None


def _check_plan(session: Session, body: RouteCreate) -> None:
    if body.plan_id is None:
        return
    row = session.get(TrenchPlanRow, body.plan_id)
    if row is None:
        msg = f"no stored trench plan with id {body.plan_id}"
        raise FormValidationError([_err("plan_id", msg)])
    if body.plan_version is not None and row.version != body.plan_version:
        msg = f"plan {body.plan_id} is version {row.version} of {row.plan_key}"
        msg += f", not {body.plan_version}"
        raise FormValidationError([_err("plan_version", msg)])


def _err(field: str, msg: str) -> dict[str, Any]:
    return {"loc": ["body", field], "msg": msg, "type": "value_error"}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
