"""Serve the approval flow over HTTP: permits, feedback, construction, acceptance, record sheet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi import Response
from sqlalchemy import select

from api.approvals import acceptance
from api.approvals import auth
from api.approvals import permits
from api.approvals import queries
from api.approvals import service
from api.approvals.enums import Action
from api.approvals.http import NowDep
from api.approvals.http import UserDep
from api.approvals.http import WriteDep
from api.approvals.http import load
from api.approvals.http import op
from api.approvals.models import Application
from api.approvals.models import Attachment
from api.approvals.models import Permit
from api.approvals.record_sheet import build_record_sheet
from api.approvals.record_sheet import render_record_sheet_pdf
from api.approvals.schemas import AcceptanceCreate
from api.approvals.schemas import AcceptancePublic
from api.approvals.schemas import ApplicationPublic
from api.approvals.schemas import AuditPublic
from api.approvals.schemas import DueItem
from api.approvals.schemas import FeedbackPublic
from api.approvals.schemas import PermitDecide
from api.approvals.schemas import PermitPublic
from api.approvals.schemas import PermitReview
from api.approvals.schemas import ReasonBody
from api.approvals.schemas import Versioned
from api.deps import SessionDep
from api.responses import content_disposition

__all__ = ["router"]

router = APIRouter()


# ---------------------------------------------------------------- 许可审批
@router.get("/permits", response_model=list[PermitPublic], **op("list-permits"))
def list_permits(
    session: SessionDep,
    user: UserDep,
    now: NowDep,
    application_id: int | None = None,
    status: str | None = None,
) -> list[PermitPublic]:
    """List the permits you may see (a department sees its own)."""
    auth.authorize(user, Action.list_permits)
    return [
        queries.permit_public(session, p, now)
        for p in queries.list_permits(
            session=session, user=user, application_id=application_id, status=status
        )
    ]


@router.get("/permits/{permit_id}", response_model=PermitPublic, **op("read-permit"))
def read_permit(session: SessionDep, user: UserDep, now: NowDep, permit_id: int) -> PermitPublic:
    """Read one permit with its attachments."""
    return queries.permit_public(
        session, load(session, user, Action.read_permit, Permit, permit_id), now
    )


@router.post(
    "/permits/{permit_id}/review",
    response_model=PermitPublic,
    **op("review-permit", transition=True),
)
def review_permit(w: WriteDep, permit_id: int, body: PermitReview) -> Any:
    """First level (clerk): review and recommend."""
    w.load(Action.review_permit, Permit, permit_id)
    return w.once(
        body,
        lambda: w.permit(permits.review_permit(**w.ctx, permit_id=permit_id, body=body)),
    )


@router.post(
    "/permits/{permit_id}/decide",
    response_model=PermitPublic,
    **op("decide-permit", transition=True),
)
def decide_permit(w: WriteDep, permit_id: int, body: PermitDecide) -> Any:
    """Second level (chief): decide; the result goes to every company at once."""
    w.load(Action.decide_permit, Permit, permit_id)
    return w.once(
        body,
        lambda: w.permit(permits.decide_permit(**w.ctx, permit_id=permit_id, body=body)),
    )


@router.post(
    "/permits/{permit_id}/resubmit",
    response_model=PermitPublic,
    **op("resubmit-permit", transition=True),
)
def resubmit_permit(w: WriteDep, permit_id: int, body: ReasonBody) -> Any:
    """Send a permit returned for changes back to its department."""
    w.load(Action.resubmit_permit, Permit, permit_id)
    return w.once(
        body,
        lambda: w.permit(
            permits.resubmit_permit(
                **w.ctx, permit_id=permit_id, reason=body.reason, expected_version=body.version
            )
        ),
    )


@router.get("/attachments/{attachment_id}", **op("read-attachment"))
def read_attachment(session: SessionDep, user: UserDep, attachment_id: int) -> Response:
    """Download a stored document."""
    auth.authorize(user, Action.read_attachment)
    att: Attachment = service.get_or_404(session, Attachment, attachment_id)
    # by the object it belongs to: a permit, a company's agreement, the form
    auth.authorize(user, Action.read_attachment, att, session=session)
    return Response(
        att.data,
        media_type=att.content_type,
        headers={**content_disposition(att.filename), "X-Content-SHA256": att.sha256},
    )


@router.get("/feedback", response_model=list[FeedbackPublic], **op("list-feedback"))
def list_feedback(session: SessionDep, user: UserDep, since_id: int = 0) -> list[Any]:
    """同步反馈: the events sent to your company (newer than ``since_id``)."""
    auth.authorize(user, Action.list_feedback)
    return queries.list_feedback(session=session, user=user, since_id=since_id)


# ---------------------------------------------------------------- 施工, 验收
def _construction(name: str, policy: Action, fn: Callable[..., Application]) -> Callable[..., Any]:
    def endpoint(w: WriteDep, application_id: int, body: Versioned) -> Any:
        w.load(policy, Application, application_id)
        return w.once(
            body,
            lambda: w.application(
                fn(**w.ctx, application_id=application_id, expected_version=body.version)
            ),
        )

    endpoint.__name__ = name
    return endpoint


router.add_api_route(
    "/applications/{application_id}/construction/start",
    _construction("start_construction", Action.start_construction, service.start_construction),
    methods=["POST"],
    response_model=ApplicationPublic,
    **op("start-construction", transition=True),
    summary="Start construction (the explicit 施工 button).",
)
router.add_api_route(
    "/applications/{application_id}/construction/finish",
    _construction("finish_construction", Action.finish_construction, service.finish_construction),
    methods=["POST"],
    response_model=ApplicationPublic,
    **op("finish-construction", transition=True),
    summary="Construction finished: the acceptance clock starts.",
)


@router.post(
    "/applications/{application_id}/acceptances",
    response_model=AcceptancePublic,
    status_code=201,
    **op("record-acceptance", transition=True),
)
def record_acceptance(w: WriteDep, application_id: int, body: AcceptanceCreate) -> Any:
    """Record a joint or single-utility acceptance (验收) with the connection appointment."""
    w.load(Action.record_acceptance, Application, application_id)
    return w.once(
        body,
        lambda: AcceptancePublic.model_validate(
            acceptance.record_acceptance(**w.ctx, application_id=application_id, body=body)
        ),
    )


@router.get("/applications/{application_id}/record-sheet", **op("read-record-sheet"))
def read_record_sheet(session: SessionDep, user: UserDep, application_id: int) -> dict[str, Any]:
    """The full-process record sheet (全流程记录表) as JSON (so far, until the end)."""
    app = load(session, user, Action.read_record_sheet, Application, application_id)
    return build_record_sheet(session, app)


@router.get(
    "/applications/{application_id}/record-sheet.pdf",
    **op("read-record-sheet-pdf"),
    response_class=Response,
)
def read_record_sheet_pdf(session: SessionDep, user: UserDep, application_id: int) -> Response:
    """The record sheet as PDF: the one stored at completion, else drawn now."""
    app = load(session, user, Action.read_record_sheet, Application, application_id)
    stored = session.scalars(
        select(Attachment)
        .where(
            Attachment.application_id == app.id,
            Attachment.owner_kind == "record_sheet",
            Attachment.content_type == "application/pdf",
        )
        .order_by(Attachment.id.desc())
    ).first()
    data = stored.data if stored else render_record_sheet_pdf(build_record_sheet(session, app))
    return Response(
        data,
        media_type="application/pdf",
        headers=content_disposition(f"{app.number}.pdf", inline=True),
    )


@router.get(
    "/applications/{application_id}/audit", response_model=list[AuditPublic], **op("list-audit")
)
def list_audit(session: SessionDep, user: UserDep, application_id: int) -> list[Any]:
    """The append-only audit trail of an application."""
    load(session, user, Action.read_audit, Application, application_id)
    return queries.list_audit(session=session, application_id=application_id)


@router.get("/due", response_model=list[DueItem], **op("list-due"))
def list_due(session: SessionDep, user: UserDep, now: NowDep) -> list[DueItem]:
    """What you must act on today (Beijing working days), overdue first."""
    auth.authorize(user, Action.list_due)
    return queries.due_items(session=session, user=user, now=now)


@router.post("/deadlines/sweep", response_model=list[PermitPublic], **op("sweep-deadlines"))
def sweep_deadlines(session: SessionDep, user: UserDep, now: NowDep) -> list[PermitPublic]:
    """Mark permits past their deadline as ``deadline_passed`` (administrator; run by a timer)."""
    auth.authorize(user, Action.sweep_deadlines)
    return [
        queries.permit_public(session, p, now)
        for p in permits.sweep_deadlines(session=session, actor=user, now=now)
    ]
