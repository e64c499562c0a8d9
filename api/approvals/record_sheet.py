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
from api.approvals.models import User
from api.catalogue import beijing
from api.catalogue import deadline
from api.catalogue import label

__all__ = ["CJK_FONT", "build_record_sheet", "render_record_sheet_pdf", "sheet_lines"]

logger = logging.getLogger(__name__)

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
_LINES_PER_PAGE = 55  # leaves the bottom for the page number
_PAGE_IN = (8.27, 11.69)  # A4
_LINE_UNITS = 120  # a line's width in half-width characters at the body's size
_INTAKE_ACTIONS = {"accept", "return", "reject", "not_competent"}

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
    names = _user_names(session, app, routes)
    opinions = session.scalars(
        select(SurveyOpinion)
        .where(SurveyOpinion.application_id == app.id)
        .order_by(SurveyOpinion.id)
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
            "demands": [{"utility": d.utility, "fields": d.fields} for d in app.demands],
            "site_bbox": _bbox(app.site_geojson),
            "acceptance_mode": app.acceptance_mode,
            "status": app.status,
            "submitted_at": _iso(app.submitted_at),
            "completed_at": _iso(app.completed_at),
        },
        "stages": _stages(audit, permits, app),
        "intake": _intake(audit),
        "construction": _construction(audit),
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
        "dispatches": _dispatches(session, app, orgs, names),
        "opinions": [
            {
                "organisation": orgs[o.organisation_id].name,
                "organisation_kind": orgs[o.organisation_id].kind,
                "by": o.real_name,
                "agrees": o.agrees,
                "opinion": o.opinion,
                "at": _iso(o.recorded_at),
            }
            for o in opinions
        ],
        "joint_survey_opinion": _joint_opinion(opinions, orgs, routes),
        "route_versions": [
            {
                "version": r.version_no,
                "sha256": r.sha256,
                "crs": r.crs,
                "total_length_m": r.quantities.get("route", {}).get("total_length_m"),
                "plan_id": r.plan_id,
                "plan_version": r.plan_version,
                "reason": r.reason,
                "fixed_by": names.get(r.fixed_by_id, ""),
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
                "submitted_at": _iso(p.submitted_at),
                "due_at": _iso(p.due_at),
                "decided_at": _iso(p.decided_at),
                "levels": [
                    {
                        "level": d.level,
                        "by": d.real_name,
                        "outcome": d.outcome,
                        "comment": d.comment,
                        "conditions": d.conditions,
                        "at": _iso(d.decided_at),
                    }
                    for d in decisions
                    if d.permit_id == p.id
                ],
            }
            for p in permits
        ],
        "acceptances": _acceptances(session, app),
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


def _acceptances(session: Session, app: Application) -> list[dict[str, Any]]:
    """Each acceptance in order; a record for a utility that failed before is a retest."""
    failed: set[str] = set()
    out = []
    for r in session.scalars(
        select(AcceptanceRecord)
        .where(AcceptanceRecord.application_id == app.id)
        .order_by(AcceptanceRecord.id)
    ):
        out.append(
            {
                "mode": r.mode,
                "utilities": r.utilities,
                "passed": r.passed,
                "retest": bool(failed & set(r.utilities)),
                "by": r.real_name,
                "inspection": r.inspection,
                "pressure_test": r.pressure_test,
                "opinion": r.opinion,
                "appointment_at": _iso(r.appointment_at),
                "at": _iso(r.recorded_at),
            }
        )
        if not r.passed:
            failed |= set(r.utilities)
    return out


def _intake(audit: Sequence[AuditLog]) -> list[dict[str, Any]]:
    """综合受理: each decision of the window on the form (accept, return, reject, ...)."""
    return [
        {"action": a.action, "by": a.actor_name, "at": _iso(a.at), "reason": a.reason}
        for a in audit
        if a.entity_kind == "application" and a.action in _INTAKE_ACTIONS
    ]


def _construction(audit: Sequence[AuditLog]) -> dict[str, Any]:
    rows = [a for a in audit if a.entity_kind == "application"]
    start = next((a for a in reversed(rows) if a.action == "start_construction"), None)
    finish = next((a for a in reversed(rows) if a.action == "finish_construction"), None)
    data = (start.data or {}) if start else {}
    return {
        "started_by": start.actor_name if start else None,
        "started_at": _iso(start.at) if start else None,
        "commitment": bool(data.get("commitment")),
        "outstanding_at_start": len(data.get("outstanding") or []),
        "finished_by": finish.actor_name if finish else None,
        "finished_at": _iso(finish.at) if finish else None,
    }


def _joint_opinion(
    opinions: Sequence[SurveyOpinion],
    orgs: dict[int, Organisation],
    routes: Sequence[RouteVersion],
) -> str:
    """联合踏勘意见: the opinions summed up, and the route the survey decided on."""
    if not opinions:
        return ""
    against = [o for o in opinions if not o.agrees]
    text = f"{len(opinions)} 家单位参加联合踏勘, {len(opinions) - len(against)} 家同意"
    if against:
        text += "; 不同意: " + "; ".join(
            f"{orgs[o.organisation_id].name}: {o.opinion}" for o in against
        )
    if routes:
        first = routes[0]
        text += f"。确定路由第 {first.version_no} 版"
        if first.reason:
            text += f" ({first.reason})"
    return text


def _user_names(
    session: Session, app: Application, routes: Sequence[RouteVersion]
) -> dict[int, str]:
    ids = {r.fixed_by_id for r in routes} | {
        d.accepted_by_id for d in app.dispatches if d.accepted_by_id
    }
    if not ids:
        return {}
    return {u.id: u.real_name for u in session.scalars(select(User).where(User.id.in_(ids)))}


def _bbox(geojson: dict[str, Any]) -> list[float] | None:
    points: list[tuple[float, float]] = []

    def walk(c: Any) -> None:
        if isinstance(c, list) and len(c) >= 2 and all(isinstance(v, int | float) for v in c[:2]):
            points.append((float(c[0]), float(c[1])))
        elif isinstance(c, list):
            for item in c:
                walk(item)

    walk(geojson.get("coordinates"))
    if not points:
        return None
    xs, ys = zip(*points, strict=True)
    return [min(xs), min(ys), max(xs), max(ys)]


def render_record_sheet_pdf(sheet: dict[str, Any]) -> bytes:
    """Draw ``sheet`` on numbered A4 pages; return the PDF bytes (text stays extractable)."""
    font = font_manager.FontProperties(fname=CJK_FONT) if CJK_FONT.exists() else None
    if font is None:
        logger.warning("%s missing (install fonts-noto-cjk): Chinese will not render", CJK_FONT)
    lines = [(part, size) for text, size in sheet_lines(sheet) for part in _wrap(text, size)]
    pages = [lines[i : i + _LINES_PER_PAGE] for i in range(0, len(lines), _LINES_PER_PAGE)]
    buf = io.BytesIO()
    with PdfPages(
        buf, metadata={"Title": f"{sheet['title']} {sheet['application']['number']}"}
    ) as pdf:
        for n, page in enumerate(pages, start=1):
            fig = plt.figure(figsize=_PAGE_IN)
            y = 0.96
            for text, size in page:
                fig.text(0.06, y, text, fontproperties=font, fontsize=size, va="top")
                y -= 0.0163
            footer = f"{sheet['application']['number']}  第 {n} 页 共 {len(pages)} 页"
            fig.text(0.5, 0.025, footer, fontproperties=font, fontsize=8, ha="center")
            pdf.savefig(fig)
            plt.close(fig)
    return buf.getvalue()


def sheet_lines(sheet: dict[str, Any]) -> list[tuple[str, float]]:
    """The sheet as (text, font size) lines for people: Chinese labels, Beijing time."""
    a = sheet["application"]
    # the title is taller than a line: an empty line under it
    out: list[tuple[str, float]] = [(f"{sheet['title']}  {a['number']}", 14), ("", _BODY)]
    out += _form_lines(a)
    out += _intake_lines(sheet)
    out += _stage_lines(sheet)
    out += _survey_lines(sheet)
    out += _permit_lines(sheet)
    out += _construction_lines(sheet, a)
    out += _acceptance_lines(sheet)
    out.append(("全部步骤", 10))
    for st in sheet["steps"]:
        kind = _STATUS_KIND.get(st["entity"].split(":")[0], "status")
        change = f"{label(kind, st['from'], lang='zh')}→{label(kind, st['to'], lang='zh')}"
        entity, _, key = st["entity"].partition(":")
        out.append(
            (
                f"  {st['seq']:>3} {_bj(st['at'])} {st['actor']} ({_zh('role', st['role'])}) "
                f"{_zh('entity', entity)} {key} {_zh('action', st['action'])} "
                f"{change if st['from'] or st['to'] else ''}"
                + (f" 理由: {st['reason']}" if st["reason"] else ""),
                7,
            )
        )
    out.append(("文件", 10))
    for d in sheet["documents"]:
        out.append((f"  {d['filename']} {d['size_bytes']} 字节 SHA-256 {d['sha256']}", 7))
    return out


_BODY = 7.5
_STATUS_KIND = {"application": "status", "permit": "permit_status", "dispatch": "dispatch_status"}


def _form_lines(a: dict[str, Any]) -> list[tuple[str, float]]:
    applicant, person = a["applicant"], a["responsible_person"]
    code = applicant.get("credit_code") or applicant.get("id_number") or ""
    bbox = a.get("site_bbox")
    site = (
        f"经度 {bbox[0]:.5f}-{bbox[2]:.5f}, 纬度 {bbox[1]:.5f}-{bbox[3]:.5f}" if bbox else "未给出"
    )
    out: list[tuple[str, float]] = [
        ("一、一张表单 (申请)", 10),
        (
            f"  项目: {a['project_name']}  项目代码: {a['project_code'] or '无'}  "
            f"区: {a['district']}",
            _BODY,
        ),
        (
            f"  申请人: {applicant.get('name')} ({_zh('applicant_kind', applicant.get('kind'))}"
            f" {code})  电话: {applicant.get('phone', '')}",
            _BODY,
        ),
        (f"  负责人: {person.get('name')}  电话: {person.get('phone', '')}", _BODY),
        (f"  用地范围: {site}", _BODY),
        (
            f"  承诺制: {'是' if a['commitment'] else '否'}  验收方式: "
            f"{_zh('acceptance_mode', a.get('acceptance_mode'))}  "
            f"提交: {_bj(a['submitted_at'])}  办结: {_bj(a['completed_at']) or '未办结'}",
            _BODY,
        ),
    ]
    for d in a.get("demands", []):
        fields = d["fields"]
        point = fields.get("connection_point") or {}
        shown = "; ".join(
            f"{_zh('demand_field', k)} {_zh('demand_value', v)}"
            for k, v in fields.items()
            if k != "connection_point" and v not in ("", None)
        )
        out.append(
            (
                f"  报装{_zh('utility', d['utility'])}: {shown}; 接入点 "
                f"{point.get('description', '')} ({point.get('lon')}, {point.get('lat')})",
                _BODY,
            )
        )
    return out


def _intake_lines(sheet: dict[str, Any]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = [("二、综合受理与推送", 10)]
    for i in sheet.get("intake", []):
        out.append(
            (
                f"  综合受理: {_zh('action', i['action'])}  受理人: {i['by']}  "
                f"时间: {_bj(i['at'])}" + (f"  理由: {i['reason']}" if i["reason"] else ""),
                _BODY,
            )
        )
    for d in sheet["dispatches"]:
        agreement = (
            f"委托施工协议 {d['agreement_no']} 签订 {d['agreement_signed_on']}"
            + (f" 金额 {d['agreement_amount_cny']:.2f} 元" if d.get("agreement_amount_cny") else "")
            if d["agreement_no"]
            else "委托施工协议 未签订"
        )
        out.append(
            (
                f"  推送{_zh('utility', d['utility'])} → {d['company']}: "
                f"推送 {_bj(d['dispatched_at'])}, {_zh('dispatch_status', d['status'])}"
                f" {_bj(d['accepted_at'])} {d.get('accepted_by', '')}; {agreement}",
                _BODY,
            )
        )
    return out


def _stage_lines(sheet: dict[str, Any]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = [("三、各阶段用时 (工作日: 已用/时限)", 10)]
    for s in sheet["stages"]:
        allowed = "不计时" if s["allowed_working_days"] is None else s["allowed_working_days"]
        used = "—" if s["used_working_days"] is None else s["used_working_days"]
        flag = "" if s["on_time"] is not False else "  超时"
        out.append(
            (
                f"  {s['title']}: {_bj(s['started_at']) or '未开始'} → "
                f"{_bj(s['finished_at']) or '未完成'}  {used}/{allowed}{flag}",
                _BODY,
            )
        )
    return out


def _survey_lines(sheet: dict[str, Any]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = [("四、联合勘察", 10)]
    for o in sheet["opinions"]:
        out.append(
            (
                f"  踏勘意见 {o['organisation']} ({o['by']}, {_bj(o['at'])}): "
                f"{'同意' if o['agrees'] else '不同意'}。{o['opinion']}",
                _BODY,
            )
        )
    out.append((f"  联合踏勘意见: {sheet.get('joint_survey_opinion') or '无'}", _BODY))
    for r in sheet["route_versions"]:
        length = r["total_length_m"]
        out.append(
            (
                f"  路由第 {r['version']} 版: 确定 {_bj(r['fixed_at'])} {r.get('fixed_by', '')}"
                + (f", 被替代 {_bj(r['superseded_at'])}" if r["superseded_at"] else ", 现行")
                + (f", 长 {length:.1f} m" if isinstance(length, int | float) else "")
                + f", 坐标系 {r['crs']}"
                + (f", 理由: {r['reason']}" if r.get("reason") else ""),
                _BODY,
            )
        )
        out.append((f"    SHA-256 {r['sha256']}", _BODY))
    return out


def _permit_lines(sheet: dict[str, Any]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = [("五、并联审批", 10)]
    for p in sheet["permits"]:
        out.append(
            (
                f"  {p['title']} [{p['department']}]: {_zh('permit_status', p['status'])}"
                f"  发起 {_bj(p.get('submitted_at'))}  时限 {deadline(_dt(p.get('due_at')))}"
                f"  办结 {_bj(p['decided_at']) or '未办结'}"
                + (f"  条件: {p['conditions']}" if p["conditions"] else ""),
                _BODY,
            )
        )
        for lv in p["levels"]:
            out.append(
                (
                    f"    {_zh('decision_level', lv['level'])} {lv['by']} "
                    f"{_bj(lv['at'])}: {_zh('decision', lv['outcome'])}"
                    + (f"  意见: {lv['comment']}" if lv.get("comment") else "")
                    + (f"  条件: {lv['conditions']}" if lv.get("conditions") else ""),
                    _BODY,
                )
            )
    return out


def _construction_lines(sheet: dict[str, Any], a: dict[str, Any]) -> list[tuple[str, float]]:
    c = sheet.get("construction") or {}
    if c.get("started_at"):
        start = f"  开始施工: {_bj(c['started_at'])} {c['started_by']}"
        if c["commitment"]:
            start += f" (承诺制, 开工时尚有 {c['outstanding_at_start']} 项审批未办结)"
    else:
        start = "  开始施工: 未开始" + (" (承诺制)" if a["commitment"] else "")
    finish = (
        f"  施工完成: {_bj(c['finished_at'])} {c['finished_by']}"
        if c.get("finished_at")
        else "  施工完成: 未完成"
    )
    return [("六、企业施工", 10), (start, _BODY), (finish, _BODY)]


def _acceptance_lines(sheet: dict[str, Any]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = [("七、验收与接通预约", 10)]
    appointments: dict[str, str] = {}
    for r in sheet["acceptances"]:
        words = "、".join(_zh("utility", u) for u in r["utilities"])
        kind = "复验" if r.get("retest") else _zh("acceptance_mode", r["mode"])
        checks = "; ".join(f"{k}: {v}" for k, v in (r["inspection"] or {}).items())
        pt = r["pressure_test"]
        pressure = (
            f"压力试验 {pt['test_pressure_mpa']} MPa 稳压 {pt['duration_min']:g} 分钟 "
            f"压降 {pt['pressure_drop_mpa']} MPa {'合格' if pt['passed'] else '不合格'}"
            if pt
            else "无压力试验"
        )
        out.append(
            (
                f"  {words} {kind} ({r['by']}, {_bj(r['at'])}): "
                f"{'通过' if r['passed'] else '未通过'}; 检查 {checks}; {pressure}"
                + (f"; 验收意见: {r['opinion']}" if r.get("opinion") else ""),
                _BODY,
            )
        )
        if r["passed"]:
            for u in r["utilities"]:
                appointments[u] = _bj(r["appointment_at"]) or "未预约"
    for u, when in appointments.items():
        out.append((f"  接通预约 (通水/通电/通气/通讯): {_zh('utility', u)} {when}", _BODY))
    return out


def _wrap(text: str, size: float) -> list[str]:
    """Break a long line at the page's width, at a space where there is one (a CJK character
    is two half-width units); continuation lines are indented."""
    limit = int(_LINE_UNITS * _BODY / size)
    parts: list[str] = []
    rest = text
    while _width(rest) > limit:
        cut, width = 0, 0
        for i, ch in enumerate(rest):
            width += _width(ch)
            if width > limit:
                break
            cut = i + 1
        space = rest.rfind(" ", 0, cut)
        if space > limit // 2:
            cut = space
        parts.append(rest[:cut])
        rest = "      " + rest[cut:].lstrip()
    parts.append(rest)
    return parts


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _zh(kind: str, code: str | None) -> str:
    return label(kind, code, lang="zh")


def _dt(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _bj(value: str | None) -> str:
    """An ISO time of the sheet in Beijing time, to the minute."""
    return beijing(_dt(value))


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
    session: Session, app: Application, orgs: dict[int, Organisation], names: dict[int, str]
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
            "accepted_by": names.get(d.accepted_by_id, "") if d.accepted_by_id else "",
            "agreement_no": ag.agreement_no if ag else None,
            "agreement_signed_on": ag.signed_on.isoformat() if ag else None,
            "agreement_amount_cny": ag.amount_cny if ag else None,
        }
        for d, ag in rows
    ]


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(calendar.TZ).isoformat()
