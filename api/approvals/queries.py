"""List what a user may see, and turn rows into the public schemas (with overdue flags)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals import calendar
from api.approvals.auth import application_scope
from api.approvals.auth import permit_scope
from api.approvals.enums import PERMIT_TITLES
from api.approvals.enums import ApplicationStatus
from api.approvals.enums import DispatchStatus
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
from api.approvals.models import SurveyOpinion
from api.approvals.models import User
from api.approvals.schemas import ApplicationPublic
from api.approvals.schemas import AttachmentPublic
from api.approvals.schemas import DueItem
from api.approvals.schemas import PermitPublic
from api.approvals.service import outstanding_permits

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

_FINAL = frozenset(
    {
        ApplicationStatus.completed,
        ApplicationStatus.rejected,
        ApplicationStatus.not_competent,
    }
)
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
    items: list[DueItem] = []
    role = Role(user.role)
    apps = {a.id: a for a in list_applications(session=session, user=user)}

    def add(
        kind: str, key: int, app: Application, title: str, status: str, due: dt.datetime | None
    ) -> None:
        if due is not None and calendar.local_date(due - dt.timedelta(microseconds=1)) <= today:
            items.append(
                DueItem(
                    kind=kind,
                    id=key,
                    application_id=app.id,
                    application_number=app.number,
                    title=title,
                    status=status,
                    due_at=due,
                    overdue=due < now,
                )
            )

    for app in apps.values():
        if role is Role.acceptor and app.status == ApplicationStatus.submitted:
            add("application", app.id, app, "综合受理", app.status, app.stage_due_at)
        if role in {Role.responsible_person, Role.acceptor} and app.status not in _FINAL | {
            ApplicationStatus.submitted,
            ApplicationStatus.returned,
        }:
            if role is Role.responsible_person:
                add("application", app.id, app, f"跟踪: {app.stage}", app.status, app.stage_due_at)
        if role is Role.applicant and app.status == ApplicationStatus.returned:
            add("application", app.id, app, "退回修改", app.status, app.stage_due_at)
        if (
            role in {Role.utility_staff, Role.dept_clerk}
            and app.status == ApplicationStatus.surveying
        ):
            done = session.scalar(
                select(SurveyOpinion.id).where(
                    SurveyOpinion.application_id == app.id,
                    SurveyOpinion.organisation_id == user.organisation_id,
                )
            )
            if done is None:
                add("survey", app.id, app, "联合勘察意见", app.status, app.stage_due_at)
        if role is Role.utility_staff and app.status == ApplicationStatus.acceptance:
            add("acceptance", app.id, app, "验收", app.status, app.stage_due_at)
    if role is Role.utility_staff:
        for d in session.scalars(
            select(Dispatch).where(
                Dispatch.company_id == user.organisation_id,
                Dispatch.status == DispatchStatus.pending,
            )
        ):
            app = apps[d.application_id]
            add("dispatch", d.id, app, f"实时受理 {d.utility}", d.status, app.stage_due_at)
    if role in {Role.dept_clerk, Role.dept_chief}:
        wanted = (
            {PermitStatus.submitted, PermitStatus.deadline_passed}
            if role is Role.dept_clerk
            else {PermitStatus.in_review}
        )
        for p in list_permits(session=session, user=user):
            if p.status in wanted:
                app = session.get_one(Application, p.application_id)
                add(
                    "permit",
                    p.id,
                    app,
                    PERMIT_TITLES[PermitType(p.permit_type)],
                    p.status,
                    p.due_at,
                )
    return sorted(items, key=lambda i: (i.due_at, i.kind, i.id))
