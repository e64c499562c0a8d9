"""One catalogue of what users read: labels of codes, Chinese first, and Beijing time.

Pages, PDFs (record sheet, permits), feedback messages and API errors take their words from
here, so an enum value is never shown as its code (``dept_clerk``, ``approved_with_conditions``)
and a time is never shown in UTC. Times are stored in UTC and shown in Asia/Shanghai with the
zone named.

>>> label("status", "permitting")
'并联审批 permits'
>>> label("role", "dept_chief", lang="en")
'department chief'
>>> beijing(dt.datetime(2026, 12, 2, 16, 0, tzinfo=dt.UTC))
'2026-12-03 00:00 北京时间'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "BEIJING",
    "CATALOGUE",
    "Lang",
    "beijing",
    "deadline",
    "label",
    "labels",
]

BEIJING = ZoneInfo("Asia/Shanghai")
Lang = Literal["zh", "en", "both"]

# kind -> code -> (Chinese, English)
CATALOGUE: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "status": {
        "submitted": ("已提交", "submitted"),
        "returned": ("退回修改", "returned"),
        "rejected": ("不予受理", "rejected"),
        "not_competent": ("非本部门", "not competent"),
        "dispatched": ("已分派", "dispatched"),
        "surveying": ("联合勘察", "joint survey"),
        "permitting": ("并联审批", "permits"),
        "construction": ("施工", "construction"),
        "acceptance": ("验收", "acceptance"),
        "completed": ("办结", "completed"),
    },
    "permit_status": {
        "submitted": ("待审", "submitted"),
        "in_review": ("审核中", "in review"),
        "approved": ("批准", "approved"),
        "approved_with_conditions": ("附条件批准", "approved with conditions"),
        "returned": ("退回", "returned"),
        "rejected": ("不予许可", "rejected"),
        "deadline_passed": ("逾期", "deadline passed"),
        "not_competent": ("非本部门", "not competent"),
    },
    "stage": {
        "acceptance": ("申请受理", "acceptance"),
        "joint_survey": ("联合勘察", "joint survey"),
        "permits": ("许可审批", "permits"),
        "construction": ("企业施工", "construction"),
        "final_acceptance": ("验收服务", "final acceptance"),
        "closed": ("办结", "closed"),
    },
    "role": {
        "applicant": ("申请人", "applicant"),
        "acceptor": ("综合受理", "acceptance window"),
        "utility_staff": ("企业受理人员", "utility company staff"),
        "dept_clerk": ("部门经办人", "department clerk"),
        "dept_chief": ("部门负责人", "department chief"),
        "responsible_person": ("项目负责人", "responsible person"),
        "admin": ("用户管理员", "user administrator"),
        "data_admin": ("数据管理员", "data administrator"),
        "designer": ("设计人员", "designer"),
        "auditor": ("审计", "auditor"),
        "system": ("系统", "system"),
    },
    "utility": {
        "water": ("给水", "water"),
        "power": ("电力", "power"),
        "heat": ("热力", "heat"),
        "gas": ("燃气", "gas"),
        "drainage": ("排水", "drainage"),
        "telecom": ("通信", "telecom"),
    },
    "permit_type": {
        "road_occupation": ("占用城市道路审批", "road occupation"),
        "tree_felling": ("砍伐城市树木审批", "tree felling"),
        # the reform plan's words (hegang_reform_plan.txt)
        "pipeline_attachment": (
            "依附于城市道路建设各种管线、杆线等审批",
            "lines and poles on the road",
        ),
        "road_excavation": ("挖掘城市道路审批", "road excavation"),
        "traffic_opinion": ("占挖道路交通安全意见", "traffic safety opinion"),
        "planning_opinion": ("建设工程规划意见", "planning opinion"),
        "construction_opinion": ("建筑工程施工意见", "construction opinion"),
    },
    "dispatch_status": {
        "pending": ("待受理", "pending"),
        "accepted": ("已受理", "accepted"),
    },
    "acceptance_mode": {
        "joint": ("联合验收", "joint acceptance"),
        "per_utility": ("单项验收", "per-utility acceptance"),
    },
    # a clerk's recommendation or a chief's decision on a permit
    "decision": {
        "approved": ("批准", "approved"),
        "approved_with_conditions": ("附条件批准", "approved with conditions"),
        "rejected": ("不予许可", "rejected"),
        "returned": ("退回修改", "returned for changes"),
        "not_competent": ("非本部门职责", "not competent"),
        "send_back": ("退回经办人重审", "sent back to the clerk"),
    },
    "decision_level": {
        "clerk": ("经办人审核", "clerk review"),
        "chief": ("负责人审批", "chief decision"),
    },
    # what an audit row records (the record sheet's 全部步骤)
    "action": {
        "submit": ("提交申请", "submit"),
        "resubmit": ("补正后重新提交", "resubmit"),
        "accept": ("综合受理并推送", "accept and dispatch"),
        "return": ("退回修改", "return for changes"),
        "reject": ("不予受理", "reject"),
        "not_competent": ("非本部门受理", "not competent"),
        "start_survey": ("开始联合勘察", "start joint survey"),
        "record_opinion": ("提交踏勘意见", "record survey opinion"),
        "amend_opinion": ("修改踏勘意见", "amend survey opinion"),
        "fix_route": ("确定路由", "fix route"),
        "revise_route": ("修改路由", "revise route"),
        "open": ("发起审批", "open permit"),
        "review": ("经办人审核", "clerk review"),
        "approve": ("批准", "approve"),
        "approve_with_conditions": ("附条件批准", "approve with conditions"),
        "send_back": ("退回经办人", "send back to the clerk"),
        "reopen": ("补正后重新审批", "reopen"),
        "expire": ("逾期", "deadline passed"),
        "start_construction": ("开始施工", "start construction"),
        "finish_construction": ("施工完成", "finish construction"),
        "record_acceptance": ("记录验收", "record acceptance"),
        "complete": ("办结", "complete"),
        "ask": ("前置咨询", "ask"),
        "answer": ("答复咨询", "answer"),
    },
    "entity": {
        "application": ("申请", "application"),
        "dispatch": ("推送", "dispatch"),
        "permit": ("审批", "permit"),
        "consultation": ("咨询", "consultation"),
        "route": ("路由", "route"),
        "opinion": ("踏勘意见", "survey opinion"),
        "acceptance": ("验收", "acceptance"),
        "user": ("用户", "user"),
        "layer": ("图层", "layer"),
    },
    "applicant_kind": {
        "person": ("个人", "person"),
        "organisation": ("单位", "organisation"),
    },
    # the utility-specific fields of the combined form, with their units
    "demand_field": {
        "flow_m3_per_day": ("用水/排水量 (m³/日)", "flow (m³/day)"),
        "flow_m3_per_h": ("用气量 (m³/时)", "flow (m³/h)"),
        "diameter_mm": ("管径 (mm)", "diameter (mm)"),
        "load_kw": ("负荷 (kW)", "load (kW)"),
        "voltage_kv": ("电压等级 (kV)", "voltage (kV)"),
        "bandwidth_mbps": ("带宽 (Mbps)", "bandwidth (Mbps)"),
        "duct_count": ("管孔数", "ducts"),
        "pressure_class": ("压力级制", "pressure class"),
        "system": ("排水体制", "system"),
        "note": ("备注", "note"),
    },
    "demand_value": {
        "low": ("低压", "low pressure"),
        "medium_b": ("中压B", "medium pressure B"),
        "medium_a": ("中压A", "medium pressure A"),
        "high": ("高压", "high pressure"),
        "sewage": ("污水", "sewage"),
        "storm": ("雨水", "storm water"),
        "combined": ("合流", "combined"),
    },
    # the title of an error answer (RFC 9457 problem+json), by HTTP status
    "problem": {
        "400": ("请求参数有误", "bad request"),
        "401": ("请先登录", "authentication required"),
        "403": ("无权进行此操作", "forbidden"),
        "404": ("未找到", "not found"),
        "405": ("不支持的请求方法", "method not allowed"),
        "409": ("与当前状态冲突", "conflict"),
        "413": ("内容超过上限", "content too large"),
        "415": ("不支持的内容类型", "unsupported media type"),
        "422": ("输入有误", "unprocessable input"),
        "429": ("尝试过于频繁", "too many requests"),
        "500": ("服务器内部错误", "internal server error"),
        "503": ("服务暂不可用", "service unavailable"),
    },
    "layer_kind": {
        "proposed_lines": ("拟建管线", "Proposed lines"),
        "underground_lines": ("现状地下管线", "Existing underground lines"),
        "roads": ("道路中心线", "Road centrelines"),
        "trees": ("树木", "Trees"),
        "poles": ("杆线", "Poles"),
        "protected_areas": ("桥梁/保护区", "Bridges and protected areas"),
    },
}


def label(kind: str, code: str | None, *, lang: Lang = "both") -> str:
    """The words for ``code`` of ``kind``: Chinese, English, or both (Chinese first).

    An unknown code is returned as written (never an error on a page), so a new enum value
    shows up as its code until the catalogue names it; ``tests`` check every enum is named.
    """
    if code is None:
        return ""
    words = CATALOGUE.get(kind, {}).get(str(code))
    if words is None:
        return str(code)
    zh, en = words
    return {"zh": zh, "en": en}.get(lang, f"{zh} {en}")


def labels(kind: str, *, lang: Lang = "both") -> dict[str, str]:
    """Every label of ``kind`` (for a template's lookup table)."""
    return {code: label(kind, code, lang=lang) for code in CATALOGUE[kind]}


def beijing(
    when: dt.datetime | None, *, seconds: bool = False, zone: bool = True, lang: Lang = "zh"
) -> str:
    """``when`` in Beijing time to the minute (or second), with the zone named.

    A naive datetime is taken as UTC (how the database returns ``timestamp`` columns).
    """
    if when is None:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    local = when.astimezone(BEIJING)
    text = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    if not zone:
        return text
    return f"{text} {'Beijing time' if lang == 'en' else '北京时间'}"


def deadline(when: dt.datetime | None, *, lang: Lang = "zh") -> str:
    """A working-day deadline in Beijing time: midnight is shown as 24:00 of the day it ends.

    >>> deadline(dt.datetime(2026, 12, 2, 16, 0, tzinfo=dt.UTC))
    '2026-12-02 24:00 北京时间'
    >>> deadline(dt.datetime(2026, 12, 2, 8, 30, tzinfo=dt.UTC))
    '2026-12-02 16:30 北京时间'
    """
    if when is None:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    local = when.astimezone(BEIJING)
    if (local.hour, local.minute, local.second, local.microsecond) != (0, 0, 0, 0):
        return beijing(when, lang=lang)
    day = (local - dt.timedelta(days=1)).strftime("%Y-%m-%d")
    return f"{day} 24:00 {'Beijing time' if lang == 'en' else '北京时间'}"
