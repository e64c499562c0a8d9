"""同步反馈 in words a person reads: utilities, statuses and departments by their Chinese
names, deadlines in Beijing time; never a code (``water``, ``approved_with_conditions``,
``zjj``, ``cgj``) or a bare UTC timestamp."""

from __future__ import annotations

import re

from tests.api.approvals.flow import Flow

CODES = re.compile(
    r"(?<![A-Za-z_])(approved_with_conditions|approved|in_review|rejected|returned|"
    r"zjj|cgj|jjzd|zrzyj|water|power|gas|joint|per_utility)(?![A-Za-z_])"
)
UTC_STAMP = re.compile(r"\d{2}:\d{2}:\d{2}|\+00:00|\d{4}-\d{2}-\d{2}T")


def _messages(flow: Flow, app_id: int, kinds: set[str] | None = None) -> list[str]:
    events = flow.call("gas-1-staff", "GET", "/feedback")
    return [
        e["message"]
        for e in events
        if e["application_id"] == app_id and (kinds is None or e["kind"] in kinds)
    ]


def test_flow_messages_name_utilities_and_times_in_words(flow: Flow) -> None:
    app = flow.to_status("acceptance")
    flow.acceptance(app, "water", passed=False, pressure_passed=False)
    messages = _messages(
        flow,
        app["id"],
        {"dispatched", "survey_started", "construction_started", "acceptance_recorded"},
    )
    assert any("燃气推送待受理" in m and "24:00 北京时间" in m for m in messages), messages
    assert any("联合勘察开始, 截止" in m and "北京时间" in m for m in messages), messages
    assert any("给水验收未通过" in m for m in messages), messages
    for m in messages:
        assert not CODES.search(m) and not UTC_STAMP.search(m), m


def test_permit_decision_messages_use_chinese_status_words(flow: Flow) -> None:
    app = flow.to_status("permitting")
    for p in flow.permits(app["id"]):
        flow.approve(
            p, "approved_with_conditions" if p["permit_type"] == "road_excavation" else "approved"
        )
    messages = _messages(flow, app["id"], {"permit_decided"})
    assert any("附条件批准" in m for m in messages), messages
    for m in messages:
        assert not CODES.search(m), m
