"""Carry an application through the joint approval flow, one service function per step.

Each function takes keyword-only arguments ``(*, session, actor, ..., now)``, changes status
only through :func:`api.approvals.transitions.apply_transition` and never commits: the caller
owns the transaction, so a step is stored whole or not at all. Who may call a step is decided
by :func:`api.approvals.auth.authorize`, which the views call first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any
from typing import TypeVar

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
from api.approvals.enums import PERMIT_GRANTED
from api.approvals.enums import PERMIT_OWNER
from api.approvals.enums import STAGE_WORKING_DAYS
from api.approvals.enums import ApplicationStatus
from api.approvals.enums import DepartmentKind
from api.approvals.enums import DispatchStatus
from api.approvals.enums import EntityKind
from api.approvals.enums import OrganisationKind
from api.approvals.enums import PermitStatus
from api.approvals.enums import PermitType
from api.approvals.enums import Role
from api.approvals.enums import Stage
from api.approvals.errors import FormValidationError
from api.approvals.errors import NotFoundError
from api.approvals.errors import PreconditionError
from api.approvals.errors import TransitionNotAllowedError
from api.approvals.models import Application
from api.approvals.models import ConstructionAgreement
from api.approvals.models import Demand
from api.approvals.models import Dispatch
from api.approvals.models import FeedbackEvent
from api.approvals.models import Organisation
from api.approvals.models import Permit
from api.approvals.models import RouteVersion
from api.approvals.models import SurveyOpinion
from api.approvals.models import User
from api.approvals.schemas import AcceptApplication
from api.approvals.schemas import ApplicationCreate
from api.approvals.schemas import ApplicationUpdate
from api.approvals.schemas import DispatchAccept
from api.approvals.schemas import OpinionCreate
from api.approvals.schemas import RouteCreate
from api.approvals.transitions import allowed_actions
from api.approvals.transitions import apply_transition
from api.approvals.transitions import record_event

__all__ = [
    "accept_application",
    "accept_dispatch",
    "close_application",
    "dispatched_companies",
    "finish_construction",
    "fix_route",
    "get_or_404",
    "notify_companies",
    "outstanding_permits",
    "record_opinion",
    "required_survey_organisations",
    "resubmit_application",
    "return_application",
    "start_construction",
    "submit_application",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_CITY_DEPARTMENTS = (
    DepartmentKind.city_management,
    DepartmentKind.traffic_police,
    DepartmentKind.natural_resources,
    DepartmentKind.housing_construction,
)


def get_or_404(session: Session, model: type[_T], key: int) -> _T:
    """Return the row or raise ``NotFoundError`` naming what was missing."""
    row = session.get(model, key)
    if row is None:
        table: str = getattr(model, "__tablename__", model.__name__)
        raise NotFoundError(table.removeprefix("appr_").rstrip("s"), key)
    return row


# ---------------------------------------------------------------- 申请受理 (即办)
def submit_application(
    *, session: Session, actor: User, form: ApplicationCreate, now: dt.datetime
) -> Application:
    """File the combined form; the same-day acceptance clock (即办) starts."""
    _check_form(session, form)
    app = Application(
        number=f"TMP-{now.timestamp()}-{actor.id}",
        applicant_id=actor.id,
        status=ApplicationStatus.submitted,
        stage=Stage.acceptance,
        submitted_at=now,
        **_form_columns(form),
    )
    _start_stage(app, Stage.acceptance, now)
    session.add(app)
    session.flush()
    app.number = f"JL{calendar.local_date(now).year}{app.id:06d}"
    _replace_demands(app, form)
    _store_form_attachments(session, app, form, actor)
    session.flush()
    record_event(
        session=session,
        actor=actor,
        now=now,
        kind=EntityKind.application,
        entity_id=app.id,
        application_id=app.id,
        action="submit",
        to_status=app.status,
        data={"utilities": [d.utility for d in form.demands]},
    )
    return app


def resubmit_application(
    *, session: Session, actor: User, application_id: int, form: ApplicationUpdate, now: dt.datetime
) -> Application:
    """Send a returned application again, corrected; the acceptance clock restarts."""
    app = get_or_404(session, Application, application_id)
    _check_form(session, form)
    apply_transition(
        app,
        EntityKind.application,
        "resubmit",
        session=session,
        actor=actor,
        now=now,
        expected_version=form.version,
    )
    for key, value in _form_columns(form).items():
        setattr(app, key, value)
    app.return_reason = None
    app.demands.clear()
    session.flush()
    _replace_demands(app, form)
    _store_form_attachments(session, app, form, actor)
    _start_stage(app, Stage.acceptance, now)
    session.flush()
    return app


def return_application(
    *,
    session: Session,
    actor: User,
    application_id: int,
    action: str,
    reason: str,
    expected_version: int | None,
    now: dt.datetime,
) -> Application:
    """Return for changes, reject or declare not competent (``action``), with the reason."""
    app = get_or_404(session, Application, application_id)
    apply_transition(
        app,
        EntityKind.application,
        action,
        session=session,
        actor=actor,
        now=now,
        expected_version=expected_version,
        reason=reason,
    )
    app.return_reason = reason
    if action != "return":
        app.stage, app.stage_due_at, app.completed_at = Stage.closed, None, now
    session.flush()
    return app


def accept_application(
    *, session: Session, actor: User, application_id: int, body: AcceptApplication, now: dt.datetime
) -> Application:
    """综合受理: accept, name the project's 负责人 and push to each utility company concerned."""
    app = get_or_404(session, Application, application_id)
    steps = allowed_actions(EntityKind.application, app.status)
    if "accept" not in steps:  # check before choosing companies, so the 409 comes first
        raise TransitionNotAllowedError(EntityKind.application, app.status, "accept", steps)
    companies = _choose_companies(session, app, body.companies)
    coordinator = _choose_coordinator(session, body.coordinator_id)
    apply_transition(
        app,
        EntityKind.application,
        "accept",
        session=session,
        actor=actor,
        now=now,
        expected_version=body.version,
        data={
            "companies": {u: c.code for u, c in companies.items()},
            "coordinator": coordinator.username if coordinator else None,
        },
    )
    app.coordinator_id = coordinator.id if coordinator else None
    due = calendar.deadline_after(now, 0)
    for utility, company in companies.items():
        dispatch = Dispatch(
            application_id=app.id,
            utility=utility,
            company_id=company.id,
            status=DispatchStatus.pending,
            dispatched_at=now,
        )
        session.add(dispatch)
        session.add(
            FeedbackEvent(
                application_id=app.id,
                company_id=company.id,
                kind="dispatched",
                status=DispatchStatus.pending,
                created_at=now,
                message=f"{app.number} {app.project_name}: {utility} 推送待受理"
                f" (截止 {due.due_date})",
            )
        )
    session.flush()
    session.refresh(app, ["dispatches"])
    return app


def accept_dispatch(
    *, session: Session, actor: User, dispatch_id: int, body: DispatchAccept, now: dt.datetime
) -> Dispatch:
    """实时受理 by the company, with the signed 委托施工协议; the last one starts the survey."""
    dispatch = get_or_404(session, Dispatch, dispatch_id)
    apply_transition(
        dispatch,
        EntityKind.dispatch,
        "accept",
        session=session,
        actor=actor,
        now=now,
        expected_version=body.version,
        data={"agreement_no": body.agreement.agreement_no},
    )
    dispatch.accepted_at, dispatch.accepted_by_id = now, actor.id
    attachment_id = None
    if body.agreement.attachment is not None:
        a = body.agreement.attachment
        attachment_id = store_attachment(
            AttachmentDraft(a.filename, a.content_type, a.content()),
            session=session,
            owner_kind="agreement",
            owner_id=dispatch.id,
            application_id=dispatch.application_id,
            uploaded_by_id=actor.id,
        ).id
    session.add(
        ConstructionAgreement(
            dispatch_id=dispatch.id,
            agreement_no=body.agreement.agreement_no,
            signed_on=body.agreement.signed_on,
            amount_cny=body.agreement.amount_cny,
            attachment_id=attachment_id,
            recorded_by_id=actor.id,
        )
    )
    session.flush()
    app = session.get_one(Application, dispatch.application_id)
    session.refresh(app, ["dispatches"])
    if all(d.status == DispatchStatus.accepted for d in app.dispatches):
        apply_transition(
            app,
            EntityKind.application,
            "start_survey",
            session=session,
            actor=actor,
            now=now,
            data={"automatic": True},
        )
        _start_stage(app, Stage.joint_survey, now)
        notify_companies(
            session,
            app,
            kind="survey_started",
            now=now,
            message=f"{app.number}: 联合勘察开始, 截止 {app.stage_due_at}",
        )
    session.flush()
    return dispatch


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
    *, session: Session, actor: User, application_id: int, body: RouteCreate, now: dt.datetime
) -> RouteVersion:
    """Fix the shared-trench route (a frozen version) and open the parallel permits.

    The first call ends the joint survey and needs every opinion; a later call makes a
    new version and re-opens every permit that depended on the old one.
    """
    app = get_or_404(session, Application, application_id)
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
    quantities: dict[str, Any] = {"route": route_quantities(gdf), "plan": body.quantities}
    for hook in QUANTITY_HOOKS:
        extra = hook(body.geojson, body.crs)
        if extra:
            quantities.setdefault("extra", []).append(extra)
    previous = session.scalars(
        select(RouteVersion).where(
            RouteVersion.application_id == app.id, RouteVersion.superseded_at.is_(None)
        )
    ).one_or_none()
    version_no = 1 + (
        session.scalar(
            select(func.max(RouteVersion.version_no)).where(RouteVersion.application_id == app.id)
        )
        or 0
    )
    frozen = orjson.loads(canonical_json(body.geojson))
    route = RouteVersion(
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
        sha256=_sha256(canonical_json({"geojson": frozen, "crs": body.crs, "q": quantities})),
    )
    session.add(route)
    if previous is not None:
        previous.superseded_at = now
    session.flush()
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
        },
    )
    if app.status == ApplicationStatus.permitting:
        _start_stage(app, Stage.permits, now)
    due = calendar.deadline_after(now, STAGE_WORKING_DAYS[Stage.permits] or 0).due_at
    if first:
        types = body.permit_types or list(PermitType)
        _open_permits(session, app, route, types=sorted(set(types)), actor=actor, now=now, due=due)
    else:
        _reopen_permits(session, app, route, actor=actor, now=now, due=due)
    notify_companies(
        session,
        app,
        kind="route_fixed" if first else "route_revised",
        now=now,
        message=f"{app.number}: 路由第 {version_no} 版已确定",
    )
    return route


# ---------------------------------------------------------------- 企业施工 (untimed)
def outstanding_permits(session: Session, app: Application) -> list[Permit]:
    """Permits not yet approved (with or without conditions)."""
    permits = session.scalars(select(Permit).where(Permit.application_id == app.id)).all()
    return [p for p in permits if p.status not in PERMIT_GRANTED]


def start_construction(
    *,
    session: Session,
    actor: User,
    application_id: int,
    expected_version: int | None,
    now: dt.datetime,
) -> Application:
    """The explicit 施工 button: needs every permit, unless the project is 承诺制."""
    app = get_or_404(session, Application, application_id)
    steps = allowed_actions(EntityKind.application, app.status)
    if "start_construction" not in steps:
        raise TransitionNotAllowedError(
            EntityKind.application, app.status, "start_construction", steps
        )
    pending = outstanding_permits(session, app)
    if pending and not app.commitment:
        msg = "construction needs every permit first (or a commitment-based project)"
        raise PreconditionError(msg, [f"{p.permit_type}:{p.status}" for p in pending])
    apply_transition(
        app,
        EntityKind.application,
        "start_construction",
        session=session,
        actor=actor,
        now=now,
        expected_version=expected_version,
        data={
            "commitment": app.commitment,
            "outstanding": [f"{p.permit_type}:{p.status}" for p in pending],
        },
    )
    _start_stage(app, Stage.construction, now)
    notify_companies(
        session,
        app,
        kind="construction_started",
        now=now,
        message=f"{app.number}: 进入施工阶段" + (" (承诺制, 尚有审批未办结)" if pending else ""),
    )
    return app


def finish_construction(
    *,
    session: Session,
    actor: User,
    application_id: int,
    expected_version: int | None,
    now: dt.datetime,
) -> Application:
    """Construction done: the 1-working-day acceptance clock starts."""
    app = get_or_404(session, Application, application_id)
    steps = allowed_actions(EntityKind.application, app.status)
    if "finish_construction" not in steps:
        raise TransitionNotAllowedError(
            EntityKind.application, app.status, "finish_construction", steps
        )
    pending = outstanding_permits(session, app)
    if pending:
        msg = "the outstanding approvals of this commitment-based project are not all granted"
        raise PreconditionError(msg, [f"{p.permit_type}:{p.status}" for p in pending])
    apply_transition(
        app,
        EntityKind.application,
        "finish_construction",
        session=session,
        actor=actor,
        now=now,
        expected_version=expected_version,
    )
    _start_stage(app, Stage.final_acceptance, now)
    session.flush()
    return app


def close_application(*, session: Session, actor: User, app: Application, now: dt.datetime) -> None:
    """The last acceptance passed: close the application (the record sheet follows)."""
    apply_transition(
        app,
        EntityKind.application,
        "complete",
        session=session,
        actor=actor,
        now=now,
        data={"automatic": True},
    )
    app.stage, app.stage_due_at, app.completed_at = Stage.closed, None, now
    session.flush()


# ---------------------------------------------------------------- helpers shared by the steps
def dispatched_companies(session: Session, app: Application) -> list[Organisation]:
    ids = [d.company_id for d in app.dispatches]
    if not ids:
        return []
    return list(session.scalars(select(Organisation).where(Organisation.id.in_(ids))))


def notify_companies(
    session: Session,
    app: Application,
    *,
    kind: str,
    now: dt.datetime,
    message: str,
    permit: Permit | None = None,
) -> None:
    """同步反馈: the same event to every company the application went to, at once."""
    for company in dispatched_companies(session, app):
        session.add(
            FeedbackEvent(
                application_id=app.id,
                company_id=company.id,
                kind=kind,
                message=message,
                permit_id=permit.id if permit else None,
                status=permit.status if permit else None,
                created_at=now,
            )
        )
    session.flush()


def _start_stage(app: Application, stage: Stage, now: dt.datetime) -> None:
    app.stage, app.stage_started_at = stage, now
    days = STAGE_WORKING_DAYS[stage]
    app.stage_due_at = None if days is None else calendar.deadline_after(now, days).due_at


def _form_columns(form: ApplicationCreate | ApplicationUpdate) -> dict[str, Any]:
    site = orjson.dumps(form.site).decode()
    return {
        "project_name": form.project_name,
        "project_code": form.project_code,
        "district": form.district,
        "site_geojson": form.site,
        "site": func.ST_SetSRID(func.ST_GeomFromGeoJSON(site), 4326),
        "applicant": form.applicant.model_dump(mode="json", exclude_none=True),
        "responsible_person": form.responsible_person.model_dump(mode="json", exclude_none=True),
        "commitment": form.commitment,
        "acceptance_mode": form.acceptance_mode,
    }


def _replace_demands(app: Application, form: ApplicationCreate | ApplicationUpdate) -> None:
    for d in form.demands:
        fields = d.model_dump(mode="json", exclude={"utility", "company_code"})
        app.demands.append(Demand(utility=d.utility, company_code=d.company_code, fields=fields))


def _store_form_attachments(
    session: Session, app: Application, form: ApplicationCreate | ApplicationUpdate, actor: User
) -> None:
    for a in form.attachments:
        store_attachment(
            AttachmentDraft(a.filename, a.content_type, a.content()),
            session=session,
            owner_kind="application",
            owner_id=app.id,
            application_id=app.id,
            uploaded_by_id=actor.id,
        )


def _check_form(session: Session, form: ApplicationCreate | ApplicationUpdate) -> None:
    """Checks that need the database: the district and any preferred companies exist."""
    errors: list[dict[str, Any]] = []
    districts = set(
        session.scalars(
            select(Organisation.district).where(
                Organisation.department_kind == DepartmentKind.district_management
            )
        )
    )
    if form.district not in districts:
        errors.append(
            {
                "loc": ["body", "district"],
                "type": "value_error",
                "msg": f"unknown district; one of: {', '.join(sorted(d for d in districts if d))}",
            }
        )
    for i, d in enumerate(form.demands):
        if d.company_code is None:
            continue
        org = session.scalars(
            select(Organisation).where(Organisation.code == d.company_code)
        ).one_or_none()
        if org is None or org.utility != d.utility:
            errors.append(
                {
                    "loc": ["body", "demands", i, "company_code"],
                    "type": "value_error",
                    "msg": f"no {d.utility} company with code {d.company_code!r}",
                }
            )
    if errors:
        raise FormValidationError(errors)


def _choose_companies(
    session: Session, app: Application, chosen: dict[Any, str]
) -> dict[str, Organisation]:
    companies = list(
        session.scalars(
            select(Organisation)
            .where(Organisation.kind == OrganisationKind.utility_company)
            .order_by(Organisation.code)
        )
    )
    result: dict[str, Organisation] = {}
    errors: list[dict[str, Any]] = []
    for demand in app.demands:
        serving = [c for c in companies if c.utility == demand.utility]
        code = chosen.get(demand.utility) or demand.company_code
        pick = [c for c in serving if c.code == code] if code else serving
        if len(pick) != 1:
            errors.append(
                {
                    "loc": ["body", "companies", demand.utility],
                    "type": "value_error",
                    "msg": "choose one of: " + ", ".join(c.code for c in serving),
                }
            )
        else:
            result[demand.utility] = pick[0]
    if errors:
        raise FormValidationError(errors)
    return result


def _choose_coordinator(session: Session, coordinator_id: int | None) -> User | None:
    """The named 负责人, or the responsible person with the fewest open applications."""
    if coordinator_id is not None:
        user = session.get(User, coordinator_id)
        if user is None or user.role != Role.responsible_person:
            raise FormValidationError(
                [
                    {
                        "loc": ["body", "coordinator_id"],
                        "type": "value_error",
                        "msg": "not a responsible person (负责人)",
                    }
                ]
            )
        return user
    open_count = (
        select(func.count(Application.id))
        .where(Application.coordinator_id == User.id, Application.completed_at.is_(None))
        .scalar_subquery()
    )
    return session.scalars(
        select(User)
        .where(User.role == Role.responsible_person, User.is_active)
        .order_by(open_count, User.id)
        .limit(1)
    ).first()


def _open_permits(
    session: Session,
    app: Application,
    route: RouteVersion,
    *,
    types: list[PermitType],
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
        _attach_route(session, permit, route, actor)
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
        _attach_route(session, permit, route, actor)


def _attach_route(session: Session, permit: Permit, route: RouteVersion, actor: User) -> None:
    for draft in permit_attachments(route, permit.permit_type):
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


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
