"""Write the full-process record sheet (全流程记录表): every step, actor, time, days, documents.

The sheet is built from the audit log and the rows it refers to, as a JSON-able dict, and
drawn as a PDF with matplotlib's ``PdfPages`` in the Noto CJK font (fonts-noto-cjk), so the
Chinese titles render and every string stays extractable text.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
from matplotlib import font_manager
from matplotlib import pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals import calendar
from api.approvals.enums import PERMIT_TITLES
from api.approvals.enums import STAGE_TITLES
from api.approvals.enums import STAGE_WORKING_DAYS
from api.approvals.enums import PermitType
from api.approvals.enums import Stage
from api.approvals.models import AcceptanceRecord
from api.approvals.models import Application
from api.approvals.models import Attachment
from api.approvals.models import AuditLog
from api.approvals.models import ConstructionAgreement
from api.approvals.models import Dispatch
from api.approvals.models import Organisation
from api.approvals.models import Permit
from api.approvals.models import PermitDecision
from api.approvals.models import RouteVersion
from api.approvals.models import SurveyOpinion

__all__ = ["CJK_FONT", "build_record_sheet", "render_record_sheet_pdf"]

logger = logging.getLogger(__name__)

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
_LINES_PER_PAGE = 58
_PAGE_IN = (8.27, 11.69)  # A4

# stage -> (the action that starts it, the actions that may end it)
_STAGE_BOUNDS: dict[Stage, tuple[set[str], set[str]]] = {
    Stage.acceptance: ({"submit", "resubmit"}, {"start_survey"}),
    Stage.joint_survey: ({"start_survey"}, {"fix_route"}),
    Stage.permits: ({"fix_route"}, {"permits_done"}),
    Stage.construction: ({"start_construction"}, {"finish_construction"}),
    Stage.final_acceptance: ({"finish_construction"}, {"complete"}),
}


def build_record_sheet(session: Session, app: Application) -> dict[str, Any]:
    """Return the record sheet of ``app`` as plain JSON-able data."""
    audit = session.scalars(
        select(AuditLog).where(AuditLog.application_id == app.id).order_by(AuditLog.id)
    ).all()
    orgs = {o.id: o for o in session.scalars(select(Organisation))}
    permits = session.scalars(
        select(Permit).where(Permit.application_id == app.id).order_by(Permit.id)
    ).all()
    decisions = session.scalars(
        select(PermitDecision)
        .where(PermitDecision.permit_id.in_([p.id for p in permits]))
        .order_by(PermitDecision.id)
    ).all()
    routes = session.scalars(
        select(RouteVersion)
        .where(RouteVersion.application_id == app.id)
        .order_by(RouteVersion.version_no)
    ).all()
    attachments = session.scalars(
        select(Attachment).where(Attachment.application_id == app.id).order_by(Attachment.id)
    ).all()
    return {
        "title": "全流程记录表",
        "application": {
            "number": app.number,
            "project_name": app.project_name,
            "project_code": app.project_code,
            "district": app.district,
            "applicant": app.applicant,
            "responsible_person": app.responsible_person,
            "commitment": app.commitment,
            "utilities": [d.utility for d in app.demands],
            "status": app.status,
            "submitted_at": _iso(app.submitted_at),
            "completed_at": _iso(app.completed_at),
        },
        "stages": _stages(audit, permits, app),
        "steps": [
            {
                "seq": i + 1,
                "at": _iso(a.at),
                "actor": a.actor_name,
                "role": a.actor_role,
                "entity": f"{a.entity_kind}:{a.entity_id}",
                "action": a.action,
                "from": a.from_status,
                "to": a.to_status,
                "reason": a.reason,
            }
            for i, a in enumerate(audit)
        ],
        "dispatches": _dispatches(session, app, orgs),
        "opinions": [
            {
                "organisation": orgs[o.organisation_id].name,
                "by": o.real_name,
                "agrees": o.agrees,
                "opinion": o.opinion,
                "at": _iso(o.recorded_at),
            }
            for o in session.scalars(
                select(SurveyOpinion)
                .where(SurveyOpinion.application_id == app.id)
                .order_by(SurveyOpinion.id)
            )
        ],
        "route_versions": [
            {
                "version": r.version_no,
                "sha256": r.sha256,
                "crs": r.crs,
                "total_length_m": r.quantities.get("route", {}).get("total_length_m"),
                "plan_id": r.plan_id,
                "plan_version": r.plan_version,
                "fixed_at": _iso(r.fixed_at),
                "superseded_at": _iso(r.superseded_at),
            }
            for r in routes
        ],
        "permits": [
            {
                "type": p.permit_type,
                "title": PERMIT_TITLES[PermitType(p.permit_type)],
                "department": orgs[p.department_id].name,
                "status": p.status,
                "conditions": p.conditions,
                "decided_at": _iso(p.decided_at),
                "levels": [
                    {
                        "level": d.level,
                        "by": d.real_name,
                        "outcome": d.outcome,
                        "at": _iso(d.decided_at),
                    }
                    for d in decisions
                    if d.permit_id == p.id
                ],
            }
            for p in permits
        ],
        "acceptances": [
            {
                "mode": r.mode,
                "utilities": r.utilities,
                "passed": r.passed,
                "by": r.real_name,
                "inspection": r.inspection,
                "pressure_test": r.pressure_test,
                "appointment_at": _iso(r.appointment_at),
                "at": _iso(r.recorded_at),
            }
            for r in session.scalars(
                select(AcceptanceRecord)
                .where(AcceptanceRecord.application_id == app.id)
                .order_by(AcceptanceRecord.id)
            )
        ],
        "documents": [
            {
                "filename": a.filename,
                "owner": f"{a.owner_kind}:{a.owner_id}",
                "size_bytes": a.size_bytes,
                "sha256": a.sha256,
            }
            for a in attachments
            if a.owner_kind != "record_sheet"
        ],
    }


def render_record_sheet_pdf(sheet: dict[str, Any]) -> bytes:
    """Draw ``sheet`` on A4 pages; return the PDF bytes (text stays extractable)."""
    font = font_manager.FontProperties(fname=CJK_FONT) if CJK_FONT.exists() else None
    if font is None:
        logger.warning("%s missing (install fonts-noto-cjk): Chinese will not render", CJK_FONT)
    lines = _sheet_lines(sheet)
    buf = io.BytesIO()
    with PdfPages(
        buf, metadata={"Title": f"{sheet['title']} {sheet['application']['number']}"}
    ) as pdf:
        for start in range(0, len(lines), _LINES_PER_PAGE):
            fig = plt.figure(figsize=_PAGE_IN)
            y = 0.96
            for text, size in lines[start : start + _LINES_PER_PAGE]:
                fig.text(0.06, y, text, fontproperties=font, fontsize=size, va="top")
                y -= 0.0163
            pdf.savefig(fig)
            plt.close(fig)
    return buf.getvalue()


def _sheet_lines(sheet: dict[str, Any]) -> list[tuple[str, float]]:
    a = sheet["application"]
    out: list[tuple[str, float]] = [
        (f"{sheet['title']}  {a['number']}", 14),
        (
            f"项目: {a['project_name']}  区: {a['district']}  "
            f"承诺制: {'是' if a['commitment'] else '否'}",
            8,
        ),
        (f"申请人: {a['applicant'].get('name')}  负责人: {a['responsible_person'].get('name')}", 8),
        (
            f"报装: {', '.join(a['utilities'])}  "
            f"提交: {a['submitted_at']}  办结: {a['completed_at']}",
            8,
        ),
        ("阶段 (工作日: 已用/时限)", 10),
    ]
    for s in sheet["stages"]:
        allowed = "不计时" if s["allowed_working_days"] is None else s["allowed_working_days"]
        flag = "" if s["on_time"] is not False else "  超时"
        out.append(
            (
                f"  {s['title']}: {s['started_at']} → {s['finished_at']}  "
                f"{s['used_working_days']}/{allowed}{flag}",
                7.5,
            )
        )
    out.append(("审批", 10))
    for p in sheet["permits"]:
        levels = "; ".join(f"{lv['level']} {lv['by']} {lv['outcome']}" for lv in p["levels"])
        out.append((f"  {p['title']} [{p['department']}] {p['status']}  {levels}", 7.5))
    out.append(("全部步骤", 10))
    for st in sheet["steps"]:
        out.append(
            (
                f"  {st['seq']:>3} {st['at'][:19]} {st['actor']} ({st['role']}) {st['entity']} "
                f"{st['action']} {st['from'] or ''}→{st['to'] or ''}",
                7,
            )
        )
    out.append(("文件", 10))
    for d in sheet["documents"]:
        out.append((f"  {d['filename']} {d['size_bytes']} B sha256 {d['sha256'][:16]}…", 7))
    return out


def _stages(
    audit: Sequence[AuditLog], permits: Sequence[Permit], app: Application
) -> list[dict[str, Any]]:
    app_rows = [a for a in audit if a.entity_kind == "application"]
    granted = [p.decided_at for p in permits if p.decided_at is not None]
    result = []
    for stage, (starts, ends) in _STAGE_BOUNDS.items():
        begin = next((a.at for a in reversed(app_rows) if a.action in starts), None)
        if stage is Stage.permits:
            end = max(granted) if granted and len(granted) == len(permits) else None
        else:
            end = next(
                (a.at for a in app_rows if a.action in ends and begin and a.at >= begin), None
            )
        allowed = STAGE_WORKING_DAYS[stage]
        used = calendar.working_days_between(begin, end) if begin and end else None
        result.append(
            {
                "stage": str(stage),
                "title": STAGE_TITLES[stage],
                "started_at": _iso(begin),
                "finished_at": _iso(end),
                "allowed_working_days": allowed,
                "used_working_days": used,
                "on_time": None if used is None or allowed is None else used <= allowed,
            }
        )
    return result


def _dispatches(
    session: Session, app: Application, orgs: dict[int, Organisation]
) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Dispatch, ConstructionAgreement)
        .outerjoin(ConstructionAgreement, ConstructionAgreement.dispatch_id == Dispatch.id)
        .where(Dispatch.application_id == app.id)
        .order_by(Dispatch.id)
    ).all()
    return [
        {
            "utility": d.utility,
            "company": orgs[d.company_id].name,
            "status": d.status,
            "dispatched_at": _iso(d.dispatched_at),
            "accepted_at": _iso(d.accepted_at),
            "agreement_no": ag.agreement_no if ag else None,
            "agreement_signed_on": ag.signed_on.isoformat() if ag else None,
        }
        for d, ag in rows
    ]


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(calendar.TZ).isoformat()
