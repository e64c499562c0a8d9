"""The record sheet (全流程记录表) a city archives: read back from the PDF with pdftotext, it
shows every stage, Chinese labels (never enum or department codes), Beijing time to the
minute, the route's SHA-256 and page numbers."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest

from tests.api.approvals.flow import PREFIX
from tests.api.approvals.flow import Flow

# codes a person must never read on the sheet (enum values, roles, department codes)
CODES = (
    "approved_with_conditions",
    "approve_with_conditions",
    "per_utility",
    "in_review",
    "permitting",
    "surveying",
    "dept_clerk",
    "dept_chief",
    "utility_staff",
    "responsible_person",
    "record_acceptance",
    "start_construction",
    "finish_construction",
    "start_survey",
    "fix_route",
    "road_excavation",
    "planning_opinion",
    "zjj",
    "cgj",
    "jjzd",
    "zrzyj",
    "water",
    "power",
    "gas",
    "joint",
    "flow_m3_per_day",
)


@pytest.fixture(scope="module")
def completed(client, tokens) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """One application through every stage: a permit with conditions, a failed pressure test
    and its retest; returns the JSON sheet and the PDF's text."""
    flow = Flow(client, tokens)
    app = flow.to_status("surveying")
    flow.opinions(app)
    flow.fix_route(app)
    for p in flow.permits(app["id"]):
        flow.approve(
            p, "approved_with_conditions" if p["permit_type"] == "road_excavation" else "approved"
        )
    company = f"{app['dispatches'][0]['company_code']}-staff"
    flow.call(company, "POST", f"/applications/{app['id']}/construction/start", {})
    flow.call("coordinator", "POST", f"/applications/{app['id']}/construction/finish", {})
    flow.acceptance(app, "water", passed=False, pressure_passed=False)
    for utility in ("power", "gas", "water"):
        flow.acceptance(app, utility)
    assert flow.read(app["id"])["status"] == "completed"
    sheet = flow.call("applicant", "GET", f"/applications/{app['id']}/record-sheet")
    pdf = client.get(
        f"{PREFIX}/applications/{app['id']}/record-sheet.pdf", headers=flow.h("applicant")
    )
    assert pdf.status_code == 200, pdf.text
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf.content, capture_output=True, check=True
    ).stdout.decode()
    return {"app": app, "sheet": sheet, "text": text, "flat": re.sub(r"\s+", "", text)}


@pytest.mark.parametrize(
    "words",
    [
        "一张表单",  # the form
        "负责人:王工电话:0451-86123456",
        "报装给水",
        "综合受理:综合受理并推送",  # who, when, decision
        "委托施工协议WT-",  # each company's agreement
        "推送燃气→示例燃气集团有限公司",
        "踏勘意见",  # each department's, district's and company's
        "联合踏勘意见:",  # the combined one
        "路由第1版",
        "挖掘城市道路审批",
        "附条件批准",
        "条件:夜间施工,当日回填",
        "经办人审核",
        "负责人审批",
        "开始施工:",
        "承诺制:否",
        "施工完成:",
        "给水联合验收",
        "未通过",
        "压力试验0.9MPa",
        "不合格",
        "给水复验",
        "接通预约",
        "验收意见:验收合格,同意接通",
    ],
)
def test_every_stage_is_on_the_sheet(completed: dict[str, Any], words: str) -> None:
    assert words in completed["flat"], words


def test_route_hash_and_department_names(completed: dict[str, Any]) -> None:
    sheet, text = completed["sheet"], completed["text"]
    assert sheet["route_versions"] and all(r["sha256"] in text for r in sheet["route_versions"])
    for permit in sheet["permits"]:
        assert permit["department"] in completed["flat"].replace(" ", "")
    for opinion in sheet["opinions"]:
        assert opinion["organisation"] in completed["flat"]


def test_beijing_time_to_the_minute(completed: dict[str, Any]) -> None:
    text = completed["text"]
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} 北京时间", text)
    assert "24:00 北京时间" in text  # a working-day deadline ends at the end of its day
    # no UTC offsets, ISO separators, seconds or microseconds
    assert not re.search(r"\d{2}:\d{2}:\d{2}|\+0[08]:00|\d{4}-\d{2}-\d{2}T\d", text)


def test_page_numbers(completed: dict[str, Any]) -> None:
    pages = re.findall(r"第 (\d+) 页 共 (\d+) 页", completed["text"])
    total = int(pages[0][1])
    assert total >= 2 and [int(n) for n, _ in pages] == list(range(1, total + 1))
    assert {int(t) for _, t in pages} == {total}


def test_no_english_codes(completed: dict[str, Any]) -> None:
    text = completed["text"]
    found = [c for c in CODES if re.search(rf"(?<![A-Za-z_]){c}(?![A-Za-z_])", text)]
    assert not found, found
