"""Record joint or single-utility acceptance (验收); the last pass closes the application."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals.attachments import AttachmentDraft
from api.approvals.attachments import canonical_json
from api.approvals.attachments import store_attachment
from api.approvals.enums import ApplicationStatus
from api.approvals.enums import EntityKind
from api.approvals.enums import Role
from api.approvals.errors import FormValidationError
from api.approvals.errors import PermissionDeniedError
from api.approvals.models import AcceptanceRecord
from api.approvals.models import Application
from api.approvals.models import Organisation
from api.approvals.models import User
from api.approvals.record_sheet import build_record_sheet
from api.approvals.record_sheet import render_record_sheet_pdf
from api.approvals.schemas import AcceptanceCreate
from api.approvals.service import close_application
from api.approvals.service import get_or_404
from api.approvals.service import lock_application
from api.approvals.service import notify_companies
from api.approvals.transitions import apply_transition
from api.catalogue import beijing
from api.catalogue import label

__all__ = ["WrongCompanyError", "accepted_utilities", "latest_results", "record_acceptance"]

logger = logging.getLogger(__name__)


def latest_results(session: Session, app: Application) -> dict[str, AcceptanceRecord]:
    """Each utility's latest acceptance record (a retest replaces a failed one)."""
    rows = session.scalars(
        select(AcceptanceRecord)
        .where(AcceptanceRecord.application_id == app.id)
        .order_by(AcceptanceRecord.id)
    )
    return {u: r for r in rows for u in r.utilities}


def accepted_utilities(session: Session, app: Application) -> set[str]:
    """The utilities whose latest acceptance passed."""
    return {u for u, r in latest_results(session, app).items() if r.passed}


def record_acceptance(
    *, session: Session, actor: User, application_id: int, body: AcceptanceCreate, now: dt.datetime
) -> AcceptanceRecord:
    """Record one acceptance; when every utility has passed, close and write the record sheet.

    Each utility's acceptance is recorded by the company it was dispatched to, and only by it:
    one utility (单项验收) or, in a joint acceptance (联合验收), the company's part of the joint
    inspection. A failed inspection or pressure test keeps the application in acceptance; the
    retest is a new record for the same utility, and its latest record counts. The application
    completes (and its record sheet is written) only when every utility's latest record passed.

    Raises
    ------
    FormValidationError
        If a utility is not in the application, or ``passed`` contradicts the pressure test.
    PermissionDeniedError
        If a utility named was dispatched to another company than the actor's.
    """
    get_or_404(session, Application, application_id)
    # companies recording at once queue here; the last one sees every record and closes
    app = lock_application(session, application_id)
    named = sorted(str(u) for u in body.utilities)
    _check_utilities(app, named)
    _check_company(session, app, actor, named)
    _check_results(body)
    previous = latest_results(session, app)
    retest_of = sorted({previous[u].id for u in named if u in previous and not previous[u].passed})
    apply_transition(
        app,
        EntityKind.application,
        "record_acceptance",
        session=session,
        actor=actor,
        now=now,
        expected_version=body.version,
        data={"mode": body.mode, "utilities": named, "passed": body.passed, "retest_of": retest_of},
    )
    record = AcceptanceRecord(
        application_id=app.id,
        mode=body.mode,
        utilities=named,
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
    words = "、".join(label("utility", u, lang="zh") for u in named)
    result = "通过" if body.passed else "未通过, 待复验"
    appointment = (
        f", 预约接通 {beijing(body.appointment_at)}" if body.passed and body.appointment_at else ""
    )
    notify_companies(
        session,
        app,
        kind="acceptance_recorded",
        now=now,
        message=f"{app.number} {words}{'复验' if retest_of else '验收'}{result}{appointment}",
    )
    demanded = {d.utility for d in app.demands}
    if accepted_utilities(session, app) >= demanded:
        close_application(session=session, actor=actor, app=app, now=now)
        _write_record_sheet(session, app, actor)
    return record


def _check_utilities(app: Application, named: list[str]) -> None:
    demanded = {d.utility for d in app.demands}
    unknown = [u for u in named if u not in demanded]
    if unknown:
        words = "、".join(label("utility", u, lang="zh") for u in unknown)
        raise FormValidationError(
            [
                {
                    "loc": ["body", "utilities"],
                    "type": "value_error",
                    "msg": f"本申请未报装{words} / not in this application: {', '.join(unknown)}",
                }
            ]
        )


def _check_company(session: Session, app: Application, actor: User, named: list[str]) -> None:
    """Every utility named was dispatched to the actor's company; else 403 naming both."""
    company_of = {d.utility: d.company_id for d in app.dispatches}
    foreign = [u for u in named if company_of.get(u) != actor.organisation_id]
    if not foreign:
        return
    mine = session.get(Organisation, actor.organisation_id) if actor.organisation_id else None
    mine_name = mine.name if mine else "未属企业"
    parts = []
    for u in foreign:
        owner = session.get(Organisation, company_of[u]) if u in company_of else None
        parts.append(
            f"{label('utility', u, lang='zh')}验收由{owner.name if owner else '其承担企业'}记录"
        )
    why = (
        f"{mine_name}只能记录本企业承担专业的验收: {'; '.join(parts)} / "
        f"a company records only its own utilities' acceptance: "
        f"{', '.join(foreign)} not dispatched to {mine.code if mine else 'your company'}"
    )
    raise WrongCompanyError(why, company=mine.code if mine else None, utilities=foreign)


class WrongCompanyError(PermissionDeniedError):
    """403: a company recording the acceptance of a utility dispatched to another; the message
    is the reason itself, Chinese first (the base class's begins with the role's code)."""

    def __init__(self, why: str, *, company: str | None, utilities: list[str]) -> None:
        super().__init__(Role.utility_staff, "record_acceptance", why)
        self.args = (why,)
        self.detail = {**self.detail, "company": company, "utilities": utilities}


def _check_results(body: AcceptanceCreate) -> None:
    """A pass needs a passed pressure test (when one was made)."""
    if body.passed and body.pressure_test is not None and not body.pressure_test.passed:
        raise FormValidationError(
            [
                {
                    "loc": ["body", "passed"],
                    "type": "value_error",
                    "msg": "压力试验未通过, 验收不能为通过 (记录为未通过, 复验后再记录) / "
                    "the pressure test failed: the acceptance cannot pass (record it failed, "
                    "then the retest)",
                }
            ]
        )


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
