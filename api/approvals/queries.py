"""List what a user may see, and turn rows into the public schemas (with overdue flags)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals import calendar
from api.approvals.auth import application_scope
from api.approvals.auth import permit_scope
from api.approvals.enums import PERMIT_TITLES
from api.approvals.enums import ApplicationStatus
from api.approvals.enums import DispatchStatus
from api.approvals.enums import EntityKind
from api.approvals.enums import PermitStatus
from api.approvals.enums import PermitType
from api.approvals.enums import Role
from api.approvals.models import Application
from api.approvals.models import Attachment
from api.approvals.models import AuditLog
from api.approvals.models import Consultation
from api.approvals.models import Dispatch
from api.approvals.models import FeedbackEvent
from api.approvals.models import Permit
from api.approvals.models import RouteVersion
from api.approvals.models import SurveyOpinion
from api.approvals.models import User
from api.approvals.schemas import ApplicationPublic
from api.approvals.schemas import AttachmentPublic
from api.approvals.schemas import DueItem
from api.approvals.schemas import PermitPublic
from api.approvals.service import outstanding_permits
from api.approvals.transitions import FINAL_STATUSES

__all__ = [
    "application_public",
    "due_items",
    "list_applications",
    "list_audit",
    "list_consultations",
    "list_feedback",
    "list_permits",
    "permit_public",
]

_FINAL = FINAL_STATUSES[EntityKind.application]
_PERMIT_OPEN = frozenset(
    {PermitStatus.submitted, PermitStatus.in_review, PermitStatus.deadline_passed}
)


def application_public(session: Session, app: Application, now: dt.datetime) -> ApplicationPublic:
    out = ApplicationPublic.model_validate(app)
    out.overdue = bool(app.stage_due_at and app.stage_due_at < now and app.status not in _FINAL)
    if app.status in {ApplicationStatus.permitting, ApplicationStatus.construction}:
        out.outstanding_permits = [p.permit_type for p in outstanding_permits(session, app)]
    return out


def permit_public(session: Session, permit: Permit, now: dt.datetime) -> PermitPublic:
    out = PermitPublic.model_validate(permit)
    out.title = PERMIT_TITLES[PermitType(permit.permit_type)]
    out.department_code = permit.department.code
    out.overdue = permit.status in _PERMIT_OPEN and permit.due_at < now
    out.attachments = [
        AttachmentPublic.model_validate(a)
        for a in session.scalars(
            select(Attachment)
            .where(Attachment.owner_kind == "permit", Attachment.owner_id == permit.id)
            .order_by(Attachment.id.desc())
        )
    ]
    return out


def list_applications(
    *, session: Session, user: User, status: str | None = None
) -> list[Application]:
    query = select(Application).where(application_scope(user)).order_by(Application.id)
    if status:
        query = query.where(Application.status == status)
    return list(session.scalars(query))


def list_permits(
    *, session: Session, user: User, application_id: int | None = None, status: str | None = None
) -> list[Permit]:
    query = select(Permit).where(permit_scope(user)).order_by(Permit.id)
    if application_id is not None:
        query = query.where(Permit.application_id == application_id)
    if status:
        query = query.where(Permit.status == status)
    return list(session.scalars(query))


def list_feedback(*, session: Session, user: User, since_id: int = 0) -> list[FeedbackEvent]:
    """同步反馈 events: a company sees its own; the bureau and the admin see all."""
    query = select(FeedbackEvent).where(FeedbackEvent.id > since_id).order_by(FeedbackEvent.id)
    if user.role == Role.utility_staff:
        query = query.where(FeedbackEvent.company_id == user.organisation_id)
    return list(session.scalars(query))


def list_consultations(*, session: Session, user: User) -> list[Consultation]:
    query = select(Consultation).order_by(Consultation.id)
    if user.role == Role.applicant:
        query = query.where(Consultation.asker_id == user.id)
    return list(session.scalars(query))


def list_audit(*, session: Session, application_id: int) -> list[AuditLog]:
    return list(
        session.scalars(
            select(AuditLog).where(AuditLog.application_id == application_id).order_by(AuditLog.id)
        )
    )


def due_items(*, session: Session, user: User, now: dt.datetime) -> list[DueItem]:
    """What ``user`` has to act on that is due today (Beijing time) or already overdue."""
    today = calendar.local_date(now)
    role = Role(user.role)
    apps = {a.id: a for a in list_applications(session=session, user=user)}
    candidates: list[DueItem] = []
    wanted = _APPLICATION_DUE.get(role, {})
    for app in apps.values():
        title = wanted.get(ApplicationStatus(app.status))
        if title is None or app.stage_due_at is None:
            continue
        if app.status == ApplicationStatus.surveying and _has_opinion(session, app, user):
            continue
        candidates.append(
            _item(
                "application",
                app.id,
                app,
                title=title,
                status=app.status,
                due=app.stage_due_at,
                now=now,
            )
        )
    if role is Role.utility_staff:
        pending = select(Dispatch).where(
            Dispatch.company_id == user.organisation_id, Dispatch.status == DispatchStatus.pending
        )
        for d in session.scalars(pending):
            app = apps[d.application_id]
            if app.stage_due_at is None:
                continue
            title = f"实时受理 {d.utility}"
            candidates.append(
                _item(
                    "dispatch",
                    d.id,
                    app,
                    title=title,
                    status=d.status,
                    due=app.stage_due_at,
                    now=now,
                )
            )
    permit_statuses = _PERMIT_DUE.get(role, frozenset())
    for p in list_permits(session=session, user=user) if permit_statuses else []:
        if p.status in permit_statuses:
            app = session.get_one(Application, p.application_id)
            title = PERMIT_TITLES[PermitType(p.permit_type)]
            candidates.append(
                _item("permit", p.id, app, title=title, status=p.status, due=p.due_at, now=now)
            )
    # due today or earlier: the deadline is midnight at the end of the due date
    items = [
        i
        for i in candidates
        if i.due_at is not None
        and calendar.local_date(i.due_at - dt.timedelta(microseconds=1)) <= today
    ]
    return sorted(items, key=lambda i: (i.due_at, i.kind, i.id))


# role -> application status -> what the role must do (the clock is the stage's)
_TRACKED = {
    ApplicationStatus.dispatched: "跟踪: 申请受理",
    ApplicationStatus.surveying: "跟踪: 联合勘察",
    ApplicationStatus.permitting: "跟踪: 许可审批",
    ApplicationStatus.acceptance: "跟踪: 验收",
}
_APPLICATION_DUE: dict[Role, dict[ApplicationStatus, str]] = {
    Role.acceptor: {ApplicationStatus.submitted: "综合受理"},
    Role.applicant: {ApplicationStatus.returned: "退回修改"},
    Role.responsible_person: _TRACKED,
    Role.utility_staff: {
        ApplicationStatus.surveying: "联合勘察意见",
        ApplicationStatus.acceptance: "验收",
    },
    Role.dept_clerk: {ApplicationStatus.surveying: "联合勘察意见"},
}
_PERMIT_DUE: dict[Role, frozenset[PermitStatus]] = {
    Role.dept_clerk: frozenset({PermitStatus.submitted, PermitStatus.deadline_passed}),
    Role.dept_chief: frozenset({PermitStatus.in_review}),
}


def _has_opinion(session: Session, app: Application, user: User) -> bool:
    found = session.scalar(
        select(SurveyOpinion.id).where(
            SurveyOpinion.application_id == app.id,
            SurveyOpinion.organisation_id == user.organisation_id,
        )
    )
    return found is not None


def _item(
    kind: str,
    key: int,
    app: Application,
    *,
    title: str,
    status: str,
    due: dt.datetime,
    now: dt.datetime,
) -> DueItem:
    return DueItem(
        kind=kind,
        id=key,
        application_id=app.id,
        application_number=app.number,
        title=title,
        status=status,
        due_at=due,
        overdue=due < now,
    )


def latest_route(session: Session, application_id: int) -> RouteVersion | None:
    """The application's fixed route: its latest version (None before the survey fixes one)."""
    return session.scalars(
        select(RouteVersion)
        .where(RouteVersion.application_id == application_id)
        .order_by(RouteVersion.version_no.desc())
        .limit(1)
    ).first()
