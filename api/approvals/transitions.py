"""Hold the one transition table of the whole flow and the one function that applies it.

Every status change of an application, a dispatch, a permit or a consultation goes through
:func:`apply_transition`: it checks the table, checks the version the caller read, sets the
new status (and an application's stage, from the same row), bumps the row version
(``UPDATE ... WHERE version = :read``, so a concurrent change makes the flush fail) and
appends the audit row, all in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from api.approvals import calendar
from api.approvals.enums import STAGE_WORKING_DAYS
from api.approvals.enums import ApplicationStatus as A
from api.approvals.enums import ConsultationStatus as C
from api.approvals.enums import DispatchStatus as D
from api.approvals.enums import EntityKind
from api.approvals.enums import PermitStatus as P
from api.approvals.enums import Stage
from api.approvals.errors import StaleVersionError
from api.approvals.errors import TransitionNotAllowedError
from api.approvals.models import AuditLog
from api.approvals.models import User

__all__ = [
    "FINAL_STATUSES",
    "TRANSITIONS",
    "Step",
    "allowed_actions",
    "apply_transition",
    "enter_stage",
    "record_event",
    "stage_of",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One row of the table: where an action leads and, for an application, in which stage.

    The stage's clock starts when the stage changes, or again when ``restart_clock`` is set
    (a corrected application, a revised route: the department's day starts over).
    """

    next_status: str
    stage: Stage | None = None
    restart_clock: bool = False


def _decisions() -> dict[str, Step]:
    return {
        "approve": Step(P.approved),
        "approve_with_conditions": Step(P.approved_with_conditions),
        "reject": Step(P.rejected),
        "return": Step(P.returned),
        "not_competent": Step(P.not_competent),
        "send_back": Step(P.submitted),  # the chief disagrees with the clerk's review
    }


_REOPEN = {"reopen": Step(P.submitted)}

# entity kind -> status -> action -> step. The whole flow, in one place; an application's
# stage (and its clock) follows from the row it moved by, never set by hand.
TRANSITIONS: dict[EntityKind, dict[str, dict[str, Step]]] = {
    EntityKind.application: {
        A.submitted: {
            "accept": Step(A.dispatched, Stage.acceptance),  # 综合受理 and 推送
            "return": Step(A.returned, Stage.acceptance),
            "reject": Step(A.rejected, Stage.closed),
            "not_competent": Step(A.not_competent, Stage.closed),
        },
        A.returned: {"resubmit": Step(A.submitted, Stage.acceptance, restart_clock=True)},
        # when every company has accepted
        A.dispatched: {"start_survey": Step(A.surveying, Stage.joint_survey)},
        A.surveying: {"fix_route": Step(A.permitting, Stage.permits)},
        A.permitting: {
            "revise_route": Step(A.permitting, Stage.permits, restart_clock=True),
            "start_construction": Step(A.construction, Stage.construction),
        },
        A.construction: {
            # commitment-based: started before the permits
            "revise_route": Step(A.construction, Stage.construction),
            "finish_construction": Step(A.acceptance, Stage.final_acceptance),
        },
        A.acceptance: {
            "record_acceptance": Step(A.acceptance, Stage.final_acceptance),
            "complete": Step(A.completed, Stage.closed),
        },
        A.rejected: {},
        A.not_competent: {},
        A.completed: {},
    },
    EntityKind.dispatch: {
        D.pending: {"accept": Step(D.accepted)},
        D.accepted: {},
    },
    EntityKind.permit: {
        P.submitted: {
            "review": Step(P.in_review),
            "expire": Step(P.deadline_passed),
            **_REOPEN,
        },
        P.deadline_passed: {"review": Step(P.in_review), **_REOPEN},
        P.in_review: {**_decisions(), "expire": Step(P.deadline_passed), **_REOPEN},
        P.returned: {"resubmit": Step(P.submitted), **_REOPEN},
        P.approved: {**_REOPEN},
        P.approved_with_conditions: {**_REOPEN},
        P.rejected: {**_REOPEN},
        P.not_competent: {**_REOPEN},
    },
    EntityKind.consultation: {
        C.open: {"answer": Step(C.answered)},
        C.answered: {},
    },
}

# statuses no action leaves, per entity kind (derived from the table)
FINAL_STATUSES: dict[EntityKind, frozenset[str]] = {
    kind: frozenset(status for status, steps in table.items() if not steps)
    for kind, table in TRANSITIONS.items()
}


def _stages(table: Mapping[str, Mapping[str, Step]]) -> dict[str, Stage]:
    """Application status -> its stage, from the rows that lead into the status.

    Raises
    ------
    ValueError
        If two rows into one status name different stages (the stage would be parallel
        state again), or a row names none.
    """
    out: dict[str, Stage] = {}
    for status, steps in table.items():
        for action, step in steps.items():
            if step.stage is None:
                msg = f"row {status} --{action}--> {step.next_status} names no stage"
                raise ValueError(msg)
            if out.setdefault(step.next_status, step.stage) != step.stage:
                msg = f"rows into {step.next_status} name two stages"
                raise ValueError(msg)
    return out


_STAGE_OF = _stages(TRANSITIONS[EntityKind.application])


def stage_of(status: str) -> Stage:
    """Return the stage an application in ``status`` is in (from the transition table).

    Examples
    --------
    >>> stage_of("permitting")
    <Stage.permits: 'permits'>
    """
    return _STAGE_OF[status]


def allowed_actions(kind: EntityKind, status: str) -> list[str]:
    """Return the actions the table allows from ``status``.

    Examples
    --------
    >>> allowed_actions(EntityKind.dispatch, "pending")
    ['accept']
    """
    return sorted(TRANSITIONS[kind].get(status, {}))


def enter_stage(app: Any, stage: Stage, now: dt.datetime) -> None:
    """Start ``stage``'s clock on ``app`` (its working days, or none); closing ends it."""
    app.stage, app.stage_started_at = stage, now
    days = STAGE_WORKING_DAYS[stage]
    app.stage_due_at = None if days is None else calendar.deadline_after(now, days).due_at
    if stage is Stage.closed:
        app.completed_at = now


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

    An application also moves to the row's stage: its clock starts when the stage changes
    or the row restarts it, and closing sets ``completed_at``.

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
    step = steps[action]
    after = step.next_status
    # read before the flush: after a failed flush the row's attributes are unusable
    read_version, entity_id = entity.version, entity.id
    entity.status = after
    if step.stage is not None and (step.restart_clock or step.stage != entity.stage):
        enter_stage(entity, step.stage, now)
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
