"""Record joint or single-utility acceptance (验收); the last pass closes the application."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals.attachments import AttachmentDraft
from api.approvals.attachments import canonical_json
from api.approvals.attachments import store_attachment
from api.approvals.enums import AcceptanceMode
from api.approvals.enums import ApplicationStatus
from api.approvals.enums import EntityKind
from api.approvals.enums import Role
from api.approvals.errors import FormValidationError
from api.approvals.errors import PermissionDeniedError
from api.approvals.models import AcceptanceRecord
from api.approvals.models import Application
from api.approvals.models import User
from api.approvals.record_sheet import build_record_sheet
from api.approvals.record_sheet import render_record_sheet_pdf
from api.approvals.schemas import AcceptanceCreate
from api.approvals.service import close_application
from api.approvals.service import get_or_404
from api.approvals.service import lock_application
from api.approvals.service import notify_companies
from api.approvals.transitions import apply_transition

__all__ = ["accepted_utilities", "record_acceptance"]

logger = logging.getLogger(__name__)


def accepted_utilities(session: Session, app: Application) -> set[str]:
    """The utilities with a passed acceptance record."""
    rows = session.scalars(
        select(AcceptanceRecord).where(
            AcceptanceRecord.application_id == app.id, AcceptanceRecord.passed
        )
    )
    return {u for r in rows for u in r.utilities}


def record_acceptance(
    *, session: Session, actor: User, application_id: int, body: AcceptanceCreate, now: dt.datetime
) -> AcceptanceRecord:
    """Record one acceptance; when every utility has passed, close and write the record sheet.

    A company records the utilities it serves: one (单项验收), or in a joint acceptance
    (联合验收) every utility of the companies that went together, its own among them.

    Raises
    ------
    FormValidationError
        If a utility is not in the application.
    PermissionDeniedError
        If the actor's company serves none (joint) or not the one (single) utility named.
    """
    get_or_404(session, Application, application_id)
    # companies recording at once queue here; the last one sees every record and closes
    app = lock_application(session, application_id)
    demanded = {d.utility for d in app.demands}
    unknown = [u for u in body.utilities if u not in demanded]
    if unknown:
        raise FormValidationError(
            [
                {
                    "loc": ["body", "utilities"],
                    "type": "value_error",
                    "msg": f"not in this application: {', '.join(unknown)}",
                }
            ]
        )
    own = {d.utility for d in app.dispatches if d.company_id == actor.organisation_id}
    named = set(body.utilities)
    if (body.mode is AcceptanceMode.per_utility and not named <= own) or not (named & own):
        raise PermissionDeniedError(Role.utility_staff, "record_acceptance", "not your utility")
    apply_transition(
        app,
        EntityKind.application,
        "record_acceptance",
        session=session,
        actor=actor,
        now=now,
        expected_version=body.version,
        data={"mode": body.mode, "utilities": sorted(named), "passed": body.passed},
    )
    record = AcceptanceRecord(
        application_id=app.id,
        mode=body.mode,
        utilities=sorted(named),
        inspection=body.inspection,
        pressure_test=body.pressure_test.model_dump() if body.pressure_test else None,
        passed=body.passed,
        appointment_at=body.appointment_at,
        opinion=body.opinion,
        recorded_by_id=actor.id,
        real_name=actor.real_name,
        recorded_at=now,
    )
    session.add(record)
    session.flush()
    notify_companies(
        session,
        app,
        kind="acceptance_recorded",
        now=now,
        message=f"{app.number} {'/'.join(sorted(named))} 验收{'通过' if body.passed else '未通过'}",
    )
    if accepted_utilities(session, app) >= demanded:
        close_application(session=session, actor=actor, app=app, now=now)
        _write_record_sheet(session, app, actor)
    return record


def _write_record_sheet(session: Session, app: Application, actor: User) -> None:
    """工改平台自动生成全流程记录表: store it as JSON and PDF with the application."""
    assert app.status == ApplicationStatus.completed
    sheet = build_record_sheet(session, app)
    for draft in (
        AttachmentDraft(
            f"{app.number}_record_sheet.json", "application/json", canonical_json(sheet)
        ),
        AttachmentDraft(
            f"{app.number}_record_sheet.pdf", "application/pdf", render_record_sheet_pdf(sheet)
        ),
    ):
        store_attachment(
            draft,
            session=session,
            owner_kind="record_sheet",
            owner_id=app.id,
            application_id=app.id,
            uploaded_by_id=actor.id,
        )
    logger.info("record sheet written for %s", app.number)
