"""Carry an application through the joint approval flow, one service function per step.

Each function takes keyword-only arguments ``(*, session, actor, ..., now)``, changes status
only through :func:`api.approvals.transitions.apply_transition` and never commits: the caller
owns the transaction, so a step is stored whole or not at all. Who may call a step is decided
by :func:`api.approvals.auth.authorize`, which the views call first.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from typing import TypeVar

import orjson
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals import calendar
from api.approvals.attachments import AttachmentDraft
from api.approvals.attachments import store_attachment
from api.approvals.enums import PERMIT_GRANTED
from api.approvals.enums import ApplicationStatus
from api.approvals.enums import DepartmentKind
from api.approvals.enums import DispatchStatus
from api.approvals.enums import EntityKind
from api.approvals.enums import OrganisationKind
from api.approvals.enums import Role
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
from api.approvals.models import User
from api.approvals.schemas import AcceptApplication
from api.approvals.schemas import ApplicationCreate
from api.approvals.schemas import ApplicationUpdate
from api.approvals.schemas import DispatchAccept
from api.approvals.transitions import allowed_actions
from api.approvals.transitions import apply_transition
from api.approvals.transitions import enter_stage
from api.approvals.transitions import record_event
from api.approvals.transitions import stage_of
from api.catalogue import deadline
from api.catalogue import label
from geodata.tables import City

__all__ = [
    "accept_application",
    "accept_dispatch",
    "close_application",
    "dispatched_companies",
    "finish_construction",
    "get_or_404",
    "lock_application",
    "notify_companies",
    "outstanding_permits",
    "resubmit_application",
    "return_application",
    "start_construction",
    "submit_application",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


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
    city_id = _check_form(session, form)
    app = Application(
        number=f"TMP-{now.timestamp()}-{actor.id}",
        applicant_id=actor.id,
        city_id=city_id,
        status=ApplicationStatus.submitted,
        submitted_at=now,
        **_form_columns(form),
    )
    enter_stage(app, stage_of(ApplicationStatus.submitted), now)
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
    city_id = _check_form(session, form)
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
    app.city_id, app.return_reason = city_id, None
    app.demands.clear()
    session.flush()
    _replace_demands(app, form)
    _store_form_attachments(session, app, form, actor)
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
                message=f"{app.number} {app.project_name}: "
                f"{label('utility', utility, lang='zh')}推送待受理 (截止 {deadline(due.due_at)}"
                + (", 日历待确认" if due.provisional else "")
                + ")",
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
    # two companies accepting at once: the application row lock makes the later one see
    # the earlier one's acceptance, so exactly one of them starts the survey
    app = lock_application(session, dispatch.application_id)
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
    pending = session.scalar(
        select(func.count())
        .select_from(Dispatch)
        .where(Dispatch.application_id == app.id, Dispatch.status != DispatchStatus.accepted)
    )
    if pending == 0:
        apply_transition(
            app,
            EntityKind.application,
            "start_survey",
            session=session,
            actor=actor,
            now=now,
            data={"automatic": True},
        )
        notify_companies(
            session,
            app,
            kind="survey_started",
            now=now,
            message=f"{app.number}: 联合勘察开始, 截止 {deadline(app.stage_due_at)}"
            + (" (日历待确认)" if app.deadline_provisional else ""),
        )
    session.flush()
    return dispatch


# ---------------------------------------------------------------- 企业施工 (untimed)
def lock_application(session: Session, application_id: int) -> Application:
    """Return the application, re-read and locked (FOR UPDATE) until the transaction ends."""
    return session.get_one(
        Application, application_id, with_for_update=True, populate_existing=True
    )


def outstanding_permits(session: Session, app: Application) -> list[Permit]:
    """Permits not yet approved (with or without conditions), as committed now."""
    permits = session.scalars(
        select(Permit)
        .where(Permit.application_id == app.id)
        .execution_options(populate_existing=True)
    ).all()
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


def _check_form(session: Session, form: ApplicationCreate | ApplicationUpdate) -> int:
    """Checks that need the database; return the city's id.

    The city exists and its extent covers the site, the district exists and any preferred
    company serves its utility.
    """
    errors: list[dict[str, Any]] = []
    city_id = _check_city(session, form, errors)
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
    assert city_id is not None
    return city_id


def _check_city(
    session: Session, form: ApplicationCreate | ApplicationUpdate, errors: list[dict[str, Any]]
) -> int | None:
    """The named city's id, or an error on ``city`` (unknown) or ``site`` (outside it)."""
    site = orjson.dumps(form.site).decode()
    row = session.execute(
        select(
            City.id,
            func.ST_CoveredBy(func.ST_SetSRID(func.ST_GeomFromGeoJSON(site), 4326), City.extent),
            func.ST_AsText(func.ST_Envelope(City.extent)),
        ).where(City.name == form.city)
    ).one_or_none()
    if row is None:
        known = ", ".join(session.scalars(select(City.name).order_by(City.name))) or "none yet"
        errors.append(
            {
                "loc": ["body", "city"],
                "type": "value_error",
                "msg": f"unknown city {form.city!r}; one of: {known}",
            }
        )
        return None
    city_id, covered, extent = row
    if not covered:
        errors.append(
            {
                "loc": ["body", "site"],
                "type": "value_error",
                "msg": f"the site lies outside city {form.city!r} (its extent is {extent})",
            }
        )
    return int(city_id)


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
