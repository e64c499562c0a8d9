"""Ask and answer pre-consultations (前置咨询) before any application is filed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from api.approvals.enums import ConsultationStatus
from api.approvals.enums import EntityKind
from api.approvals.models import Consultation
from api.approvals.models import User
from api.approvals.schemas import ConsultationAnswer
from api.approvals.schemas import ConsultationCreate
from api.approvals.service import get_or_404
from api.approvals.transitions import apply_transition
from api.approvals.transitions import record_event

__all__ = ["answer_consultation", "ask_consultation"]


def ask_consultation(
    *, session: Session, actor: User, body: ConsultationCreate, now: dt.datetime
) -> Consultation:
    """Ask the bureau about a planned project (提前介入、提前指导)."""
    row = Consultation(
        asker_id=actor.id,
        project_name=body.project_name,
        utilities=[str(u) for u in body.utilities],
        question=body.question,
        site_geojson=body.site,
        status=ConsultationStatus.open,
        created_at=now,
    )
    session.add(row)
    session.flush()
    record_event(
        session=session,
        actor=actor,
        now=now,
        kind=EntityKind.consultation,
        entity_id=row.id,
        application_id=None,
        action="ask",
        to_status=row.status,
    )
    return row


def answer_consultation(
    *,
    session: Session,
    actor: User,
    consultation_id: int,
    body: ConsultationAnswer,
    now: dt.datetime,
) -> Consultation:
    """Answer an open question; a second answer is a 409 (ask again instead)."""
    row: Consultation = get_or_404(session, Consultation, consultation_id)
    apply_transition(
        row,
        EntityKind.consultation,
        "answer",
        session=session,
        actor=actor,
        now=now,
        expected_version=body.version,
    )
    row.answer, row.answered_by_id, row.answered_at = body.answer, actor.id, now
    session.flush()
    return row
