"""Hold the one transition table of the whole flow and the one function that applies it.

Every status change of an application, a dispatch, a permit or a consultation goes through
:func:`apply_transition`: it checks the table, checks the version the caller read, sets the
new status, bumps the row version (``UPDATE ... WHERE version = :read``, so a concurrent
change makes the flush fail) and appends the audit row, all in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from api.approvals.enums import ApplicationStatus as A
from api.approvals.enums import ConsultationStatus as C
from api.approvals.enums import DispatchStatus as D
from api.approvals.enums import EntityKind
from api.approvals.enums import PermitStatus as P
from api.approvals.errors import StaleVersionError
from api.approvals.errors import TransitionNotAllowedError
from api.approvals.models import AuditLog
from api.approvals.models import User

__all__ = ["TRANSITIONS", "allowed_actions", "apply_transition", "record_event"]

logger = logging.getLogger(__name__)

_PERMIT_DECISIONS = {
    "approve": P.approved,
    "approve_with_conditions": P.approved_with_conditions,
    "reject": P.rejected,
    "return": P.returned,
    "not_competent": P.not_competent,
    "send_back": P.submitted,  # the chief disagrees with the clerk's review
}

# entity kind -> status -> action -> next status. The whole flow, in one place.
TRANSITIONS: dict[EntityKind, dict[str, dict[str, str]]] = {
    EntityKind.application: {
        A.submitted: {
            "accept": A.dispatched,  # 综合受理 and 推送
            "return": A.returned,
            "reject": A.rejected,
            "not_competent": A.not_competent,
        },
        A.returned: {"resubmit": A.submitted},
        A.dispatched: {"start_survey": A.surveying},  # when every company has accepted
        A.surveying: {"fix_route": A.permitting},
        A.permitting: {
            "revise_route": A.permitting,
            "start_construction": A.construction,
        },
        A.construction: {
            "revise_route": A.construction,  # commitment-based: started before the permits
            "finish_construction": A.acceptance,
        },
        A.acceptance: {"record_acceptance": A.acceptance, "complete": A.completed},
        A.rejected: {},
        A.not_competent: {},
        A.completed: {},
    },
    EntityKind.dispatch: {
        D.pending: {"accept": D.accepted},
        D.accepted: {},
    },
    EntityKind.permit: {
        P.submitted: {"review": P.in_review, "expire": P.deadline_passed, "reopen": P.submitted},
        P.deadline_passed: {"review": P.in_review, "reopen": P.submitted},
        P.in_review: {**_PERMIT_DECISIONS, "expire": P.deadline_passed, "reopen": P.submitted},
        P.returned: {"resubmit": P.submitted, "reopen": P.submitted},
        P.approved: {"reopen": P.submitted},
        P.approved_with_conditions: {"reopen": P.submitted},
        P.rejected: {"reopen": P.submitted},
        P.not_competent: {"reopen": P.submitted},
    },
    EntityKind.consultation: {
        C.open: {"answer": C.answered},
        C.answered: {},
    },
}


def allowed_actions(kind: EntityKind, status: str) -> list[str]:
    """Return the actions the table allows from ``status``.

    Examples
    --------
    >>> allowed_actions(EntityKind.dispatch, "pending")
    ['accept']
    """
    return sorted(TRANSITIONS[kind].get(status, {}))


def apply_transition(
    entity: Any,
    kind: EntityKind,
    action: str,
    *,
    session: Session,
    actor: User,
    now: dt.datetime,
    expected_version: int | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """Move ``entity`` by ``action`` and append the audit row; return ``(from, to)``.

    Raises
    ------
    TransitionNotAllowedError
        If the table has no ``action`` from the entity's status (names the allowed ones).
    StaleVersionError
        If ``expected_version`` differs from the row's, or another transaction changed the
        row between our read and our write.
    """
    before = str(entity.status)
    steps = TRANSITIONS[kind].get(before, {})
    if action not in steps:
        raise TransitionNotAllowedError(kind, before, action, steps)
    if expected_version is not None and expected_version != entity.version:
        raise StaleVersionError(kind, entity.id, expected_version, entity.version)
    after = steps[action]
    # read before the flush: after a failed flush the row's attributes are unusable
    read_version, entity_id = entity.version, entity.id
    entity.status = after
    # a self-loop still bumps the version, so concurrent self-loops conflict too
    session.add(entity)
    try:
        if after == before:
            # the mapper bumps the version only when a column changed
            flag_modified(entity, "status")
        session.flush()
    except StaleDataError as exc:
        raise StaleVersionError(kind, entity_id, read_version, None) from exc
    application_id = (
        entity.id if kind is EntityKind.application else getattr(entity, "application_id", None)
    )
    record_event(
        session=session,
        actor=actor,
        now=now,
        kind=kind,
        entity_id=entity.id,
        application_id=application_id,
        action=action,
        from_status=before,
        to_status=after,
        reason=reason,
        data=data,
    )
    logger.info("%s %s: %s -> %s by %s", kind, entity.id, before, after, actor.username)
    return before, after


def record_event(
    *,
    session: Session,
    actor: User | None,
    now: dt.datetime,
    kind: EntityKind,
    entity_id: int,
    application_id: int | None,
    action: str,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditLog:
    """Append one row to the audit log (also for steps that change no status)."""
    row = AuditLog(
        at=now,
        actor_id=actor.id if actor else None,
        actor_name=actor.real_name if actor else "system",
        actor_role=actor.role if actor else "system",
        entity_kind=str(kind),
        entity_id=entity_id,
        application_id=application_id,
        action=action,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        data=data,
    )
    session.add(row)
    session.flush()
    return row
