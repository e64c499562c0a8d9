"""Decide the parallel permits in two levels (clerk, then chief) and feed results back at once."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals import calendar
from api.approvals.enums import PERMIT_GRANTED
from api.approvals.enums import PERMIT_TITLES
from api.approvals.enums import STAGE_WORKING_DAYS
from api.approvals.enums import EntityKind
from api.approvals.enums import PermitStatus
from api.approvals.enums import PermitType
from api.approvals.enums import Role
from api.approvals.enums import Stage
from api.approvals.errors import PermissionDeniedError
from api.approvals.models import Application
from api.approvals.models import Permit
from api.approvals.models import PermitDecision
from api.approvals.models import User
from api.approvals.schemas import PermitDecide
from api.approvals.schemas import PermitReview
from api.approvals.service import get_or_404
from api.approvals.service import lock_application
from api.approvals.service import notify_companies
from api.approvals.service import outstanding_permits
from api.approvals.transitions import apply_transition
from api.catalogue import label

__all__ = ["decide_permit", "resubmit_permit", "review_permit", "sweep_deadlines"]

logger = logging.getLogger(__name__)

# the chief's outcome -> the transition-table action
_OUTCOME_ACTION = {
    "approved": "approve",
    "approved_with_conditions": "approve_with_conditions",
    "rejected": "reject",
    "returned": "return",
    "not_competent": "not_competent",
    "send_back": "send_back",
}


def review_permit(
    *, session: Session, actor: User, permit_id: int, body: PermitReview, now: dt.datetime
) -> Permit:
    """First level: the clerk reviews and recommends; the permit waits for the chief."""
    permit: Permit = get_or_404(session, Permit, permit_id)
    apply_transition(
        permit,
        EntityKind.permit,
        "review",
        session=session,
        actor=actor,
        now=now,
        expected_version=body.version,
        reason=body.comment or None,
        data={"recommendation": body.recommendation},
    )
    session.add(
        PermitDecision(
            permit_id=permit.id,
            route_version_id=permit.route_version_id,
            level="clerk",
            user_id=actor.id,
            real_name=actor.real_name,
            outcome=body.recommendation,
            comment=body.comment,
            conditions=body.conditions,
            decided_at=now,
        )
    )
    session.flush()
    return permit


def decide_permit(
    *, session: Session, actor: User, permit_id: int, body: PermitDecide, now: dt.datetime
) -> Permit:
    """Second level: the chief decides; the result goes to every company at once (同步反馈).

    Raises
    ------
    PermissionDeniedError
        If the chief also reviewed it as clerk (two levels means two people).
    """
    permit: Permit = get_or_404(session, Permit, permit_id)
    # lock the application first (the order a route revision takes: application, then its
    # permits), so decisions on one application are serialised and exactly one of them sees
    # "all permits granted"
    app = lock_application(session, permit.application_id)
    reviewer = session.scalars(
        select(PermitDecision.user_id)
        .where(PermitDecision.permit_id == permit.id, PermitDecision.level == "clerk")
        .order_by(PermitDecision.id.desc())
        .limit(1)
    ).first()
    if reviewer == actor.id:
        raise PermissionDeniedError(Role.dept_chief, "decide_permit", "you reviewed it yourself")
    apply_transition(
        permit,
        EntityKind.permit,
        _OUTCOME_ACTION[body.outcome],
        session=session,
        actor=actor,
        now=now,
        expected_version=body.version,
        reason=body.comment or None,
        data={"conditions": body.conditions},
    )
    session.add(
        PermitDecision(
            permit_id=permit.id,
            route_version_id=permit.route_version_id,
            level="chief",
            user_id=actor.id,
            real_name=actor.real_name,
            outcome=body.outcome,
            comment=body.comment,
            conditions=body.conditions,
            decided_at=now,
        )
    )
    if body.outcome != "send_back":
        permit.decided_at = now
        permit.conditions = body.conditions
        title = PERMIT_TITLES[PermitType(permit.permit_type)]
        notify_companies(
            session,
            app,
            kind="permit_decided",
            now=now,
            permit=permit,
            message=f"{app.number} {title}: {label('permit_status', permit.status, lang='zh')}"
            + (f" ({body.conditions})" if body.conditions else ""),
        )
        if permit.status in PERMIT_GRANTED and not outstanding_permits(session, app):
            notify_companies(
                session,
                app,
                kind="permits_complete",
                now=now,
                message=f"{app.number}: 全部审批已办结",
            )
    session.flush()
    return permit


def resubmit_permit(
    *,
    session: Session,
    actor: User,
    permit_id: int,
    reason: str,
    expected_version: int | None,
    now: dt.datetime,
) -> Permit:
    """A permit returned for changes goes back to its department; its clock restarts."""
    permit: Permit = get_or_404(session, Permit, permit_id)
    apply_transition(
        permit,
        EntityKind.permit,
        "resubmit",
        session=session,
        actor=actor,
        now=now,
        expected_version=expected_version,
        reason=reason,
    )
    permit.submitted_at = now
    permit.due_at = calendar.deadline_after(now, STAGE_WORKING_DAYS[Stage.permits] or 0).due_at
    permit.decided_at = None
    session.flush()
    return permit


def sweep_deadlines(*, session: Session, actor: User, now: dt.datetime) -> list[Permit]:
    """Mark every undecided permit past its deadline as ``deadline_passed``; return them."""
    late = session.scalars(
        select(Permit)
        .where(
            Permit.status.in_([PermitStatus.submitted, PermitStatus.in_review]),
            Permit.due_at < now,
        )
        .order_by(Permit.id)
    ).all()
    for permit in late:
        apply_transition(
            permit,
            EntityKind.permit,
            "expire",
            session=session,
            actor=actor,
            now=now,
            reason=f"due {permit.due_at.isoformat()}",
        )
        app = session.get_one(Application, permit.application_id)
        title = PERMIT_TITLES[PermitType(permit.permit_type)]
        notify_companies(
            session,
            app,
            kind="permit_overdue",
            now=now,
            permit=permit,
            message=f"{app.number} {title}: 已超时",
        )
    logger.info("deadline sweep: %d permits overdue", len(late))
    return list(late)
