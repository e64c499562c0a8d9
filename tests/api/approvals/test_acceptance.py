"""验收 by the right company: a company records its own utilities only; a failed inspection or
pressure test keeps the application open and the retest counts; joint acceptance completes
(and writes the record sheet) only when every utility has passed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.api.approvals.flow import Flow


def _sheets(engine: Engine, app: dict[str, Any]) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM appr_attachments"
                    " WHERE owner_kind = 'record_sheet' AND application_id = :a"
                ),
                {"a": app["id"]},
            ).scalar_one()
        )


def test_a_company_cannot_record_another_utilitys_acceptance(flow: Flow) -> None:
    app = flow.to_status("acceptance")
    refused = flow.acceptance(app, "water", user="power-1-staff", mode="per_utility", expect=403)
    why = refused["why"]
    # names the company refused, the utility and the company that records it
    assert "示例供电公司" in why and "给水" in why and "示例供水集团有限公司" in why, why
    assert refused["message"].startswith("示例供电公司只能记录本企业承担专业的验收")
    assert refused["error"] == "WrongCompanyError" and refused["utilities"] == ["water"]
    # a joint record naming another company's utility is refused the same way
    refused = flow.acceptance(app, "power", utilities=["power", "gas"], expect=403)
    assert "燃气" in refused["why"] and "示例燃气集团有限公司" in refused["why"]
    # nothing was recorded: the application is still in acceptance, its clock unchanged
    assert flow.read(app["id"])["status"] == "acceptance"
    flow.acceptance(app, "power")  # its own: fine


def test_failed_pressure_test_keeps_the_application_open(flow: Flow, engine: Engine) -> None:
    app = flow.to_status("acceptance")
    # a pass with a failed pressure test is a contradiction, refused naming the field
    bad = flow.acceptance(app, "water", pressure_passed=False, expect=422)
    assert bad["errors"][0]["loc"] == ["body", "passed"] and "压力试验" in bad["errors"][0]["msg"]
    failed = flow.acceptance(app, "water", passed=False, pressure_passed=False)
    assert failed["passed"] is False
    flow.acceptance(app, "power")
    flow.acceptance(app, "gas")
    # water failed: every other utility passed, yet the application stays open, no sheet
    assert flow.read(app["id"])["status"] == "acceptance"
    assert _sheets(engine, app) == 0
    events = flow.call("gas-1-staff", "GET", "/feedback")
    assert any("给水验收未通过" in e["message"] for e in events if e["application_id"] == app["id"])
    # the retest passes: now the application completes and the sheet is written
    flow.acceptance(app, "water")
    assert flow.read(app["id"])["status"] == "completed"
    assert _sheets(engine, app) == 2  # JSON and PDF
    events = flow.call("gas-1-staff", "GET", "/feedback")
    assert any("给水复验通过" in e["message"] for e in events if e["application_id"] == app["id"])
    sheet = flow.call("applicant", "GET", f"/applications/{app['id']}/record-sheet")
    water = [a for a in sheet["acceptances"] if a["utilities"] == ["water"]]
    assert [a["passed"] for a in water] == [False, True]
    assert water[1]["retest"] and not water[0]["retest"]


def test_joint_acceptance_completes_only_when_every_utility_passed(
    flow: Flow, engine: Engine
) -> None:
    app = flow.to_status("acceptance", utilities=("water", "power", "gas", "telecom"))
    for utility in ("water", "power", "gas"):
        flow.acceptance(app, utility)
        assert flow.read(app["id"])["status"] == "acceptance", utility
        assert _sheets(engine, app) == 0
    # an inspection failed without a pressure test: still open
    flow.acceptance(app, "telecom", passed=False, pressure_passed=None)
    assert flow.read(app["id"])["status"] == "acceptance"
    flow.acceptance(app, "telecom", pressure_passed=None)
    assert flow.read(app["id"])["status"] == "completed"
    assert _sheets(engine, app) == 2
