"""One application of the sample city through every stage over HTTP, each step by its role."""

from __future__ import annotations

import subprocess

import pytest
from sqlalchemy import Engine
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.approvals.schemas import ApplicationPublic
from api.approvals.schemas import PermitPublic
from api.approvals.seed import DEMO_PASSWORD
from maps.style import PERMIT_TYPES as MAP_PERMITS
from tests.api.approvals.flow import COMPANY_FOR
from tests.api.approvals.flow import PREFIX
from tests.api.approvals.flow import Flow
from tests.api.approvals.flow import form
from tests.api.approvals.flow import route

SEVEN = {
    "road_occupation",
    "tree_felling",
    "pipeline_attachment",
    "road_excavation",
    "traffic_opinion",
    "planning_opinion",
    "construction_opinion",
}


def test_application_goes_through_every_stage(  # noqa: PLR0915 - one scenario, every stage
    flow: Flow, engine: Engine, owner_engine: Engine, stored_plan: tuple[int, int]
) -> None:
    c = flow.client
    # real login: argon2 password, opaque bearer token
    r = c.post(f"{PREFIX}/auth/token", data={"username": "applicant", "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    flow.tokens = {**flow.tokens, "applicant": r.json()["access_token"]}
    bad = c.post(f"{PREFIX}/auth/token", data={"username": "applicant", "password": "wrong-pass"})
    assert bad.status_code == 401

    # 前置咨询: asked and answered before any application
    q = flow.call(
        "applicant",
        "POST",
        "/consultations",
        {
            "project_name": "示例小区二期",
            "utilities": ["water", "power", "gas"],
            "question": "外线工程能否超前建设?",
        },
        expect=201,
    )
    q = flow.call(
        "coordinator",
        "POST",
        f"/consultations/{q['id']}/answer",
        {"answer": "可以, 需求确定后可超前建设", "version": q["version"]},
    )
    assert q["status"] == "answered"

    # 一张表单, returned once for changes, resubmitted
    app = flow.submit(utilities=("water", "power", "gas"))
    ApplicationPublic.model_validate(app)
    assert app["status"] == "submitted" and app["stage"] == "acceptance"
    assert app["number"].startswith("JL2026")
    app = flow.call(
        "acceptor",
        "POST",
        f"/applications/{app['id']}/return",
        {"reason": "负责人电话有误", "version": app["version"]},
    )
    assert app["status"] == "returned"
    app = flow.call(
        "applicant",
        "PUT",
        f"/applications/{app['id']}",
        {**form(utilities=("water", "power", "gas")), "version": app["version"]},
    )
    assert app["status"] == "submitted"

    # 综合受理 and 推送; 实时受理 with the 委托施工协议
    app = flow.accept(app)
    assert app["status"] == "dispatched" and app["coordinator_id"] is not None
    assert {d["company_code"] for d in app["dispatches"]} == {"water-1", "power-1", "gas-1"}
    app = flow.accept_dispatches(app)
    assert app["status"] == "surveying" and app["stage"] == "joint_survey"
    assert app["stage_due_at"] is not None

    # 联合勘察: the route cannot be fixed while an opinion is missing
    flow.opinions(app, skip=("jjzd-clerk",))
    r = (
        flow.fix_route(app)
        if False
        else flow.call(
            "coordinator", "POST", f"/applications/{app['id']}/routes", route(), expect=409
        )
    )
    assert r["missing"] == ["jjzd"]
    flow.call(
        "jjzd-clerk",
        "POST",
        f"/applications/{app['id']}/opinions",
        {"opinion": "夜间占道, 设置围挡", "agrees": True},
        expect=201,
    )
    plan_id, plan_version = stored_plan
    r = flow.call(
        "coordinator",
        "POST",
        f"/applications/{app['id']}/routes",
        {**route(), "plan_id": plan_id, "plan_version": plan_version + 1},
        expect=422,
    )
    assert r["errors"][0]["loc"] == ["body", "plan_version"]
    v1 = flow.fix_route(app, plan_id=plan_id, plan_version=plan_version)
    assert v1["version_no"] == 1 and v1["plan_id"] == plan_id
    assert v1["quantities"]["route"]["total_length_m"] == pytest.approx(200.0)
    # the quantities from the plan's cross-sections (routing.quantities) travel with it
    sections = v1["quantities"]["cross_sections"]
    assert sections["source"] == "routing.analysis"
    assert sections["totals"]["trench_length_m"] == pytest.approx(200.0)
    assert sections["totals"]["excavation_m3"] > 0
    assert {r["road"] for r in v1["quantities"]["route"]["per_road"]} == {"西大直街", "红军街"}

    # parallel permits, each owned by its department, with the route attached
    permits = flow.permits(app["id"])
    assert {p["permit_type"] for p in permits} == SEVEN
    owners = {p["permit_type"]: p["department_code"] for p in permits}
    assert owners["road_occupation"] == owners["tree_felling"] == "dist-nangang"
    assert owners["road_excavation"] == owners["pipeline_attachment"] == "cgj"
    assert owners["traffic_opinion"] == "jjzd"
    assert owners["planning_opinion"] == "zrzyj" and owners["construction_opinion"] == "zjj"
    for p in permits:
        PermitPublic.model_validate(p)
        # a map permit also carries its sheet, frozen with the version
        sheet = {f"sheet_{p['permit_type']}_v1.pdf"} if p["permit_type"] in MAP_PERMITS else set()
        assert {a["filename"] for a in p["attachments"]} == {
            "route_v1.geojson",
            "quantities_v1.json",
            *sheet,
        }
    # the owning department reads its permit's attachments; another department may not
    own = next(p for p in permits if p["department_code"] == "cgj")
    other = next(p for p in permits if p["department_code"] == "jjzd")
    geo = c.get(f"{PREFIX}/attachments/{own['attachments'][-1]['id']}", headers=flow.h("cgj-clerk"))
    assert geo.status_code == 200 and geo.headers["x-content-sha256"]
    theirs = c.get(
        f"{PREFIX}/attachments/{other['attachments'][-1]['id']}", headers=flow.h("cgj-clerk")
    )
    assert theirs.status_code == 403, theirs.text

    # one decision, then the route changes: a new version re-opens what depended on v1
    first = flow.approve(permits[0])
    assert first["status"] == "approved"
    # the same route fixed again from the same inputs: no new version, nothing re-opened
    same = flow.fix_route(app, plan_id=plan_id, plan_version=plan_version)
    assert (same["id"], same["version_no"], same["sha256"]) == (v1["id"], 1, v1["sha256"])
    assert flow.permits(app["id"])[0]["status"] == "approved"
    assert len(flow.call("acceptor", "GET", f"/applications/{app['id']}/routes")) == 1
    v2 = flow.call(
        "coordinator",
        "POST",
        f"/applications/{app['id']}/routes",
        {**route(offset_m=5.0), "reason": "避让既有燃气管"},
        expect=201,
    )
    assert v2["version_no"] == 2
    versions = flow.call("acceptor", "GET", f"/applications/{app['id']}/routes")
    assert versions[0]["superseded_at"] is not None and versions[1]["superseded_at"] is None
    permits = flow.permits(app["id"])
    assert {p["status"] for p in permits} == {"submitted"}
    assert {p["route_version_id"] for p in permits} == {v2["id"]}

    # hierarchical approval: clerk, then chief; one with conditions
    outcomes = {}
    for p in permits:
        outcome = (
            "approved_with_conditions" if p["permit_type"] == "road_occupation" else "approved"
        )
        outcomes[p["permit_type"]] = flow.approve(p, outcome)["status"]
    assert outcomes["road_occupation"] == "approved_with_conditions"

    # 同步反馈: every company lists every decision, its own events only
    for utility, company in COMPANY_FOR.items():
        if utility not in {"water", "power", "gas"}:
            continue
        events = flow.call(f"{company}-staff", "GET", "/feedback")
        mine = [e for e in events if e["application_id"] == app["id"]]
        decided = [e for e in mine if e["kind"] == "permit_decided"]
        assert len(decided) == 8  # one v1 decision + seven v2 decisions
        assert any(e["kind"] == "permits_complete" for e in mine)
        assert all(e["company_id"] == events[0]["company_id"] for e in events)

    # construction (explicit button), then acceptance: one single, one joint
    app = flow.call(
        "water-1-staff",
        "POST",
        f"/applications/{app['id']}/construction/start",
        {"version": flow.read(app["id"])["version"]},
    )
    assert app["status"] == "construction" and app["stage_due_at"] is None
    app = flow.call("coordinator", "POST", f"/applications/{app['id']}/construction/finish", {})
    assert app["status"] == "acceptance" and app["stage"] == "final_acceptance"
    flow.call(
        "water-1-staff",
        "POST",
        f"/applications/{app['id']}/acceptances",
        {
            "mode": "per_utility",
            "utilities": ["water"],
            "passed": True,
            "inspection": {"管材": "合格", "埋深": "合格"},
            "pressure_test": {
                "test_pressure_mpa": 0.9,
                "duration_min": 30,
                "pressure_drop_mpa": 0.01,
                "passed": True,
            },
            "appointment_at": "2026-11-27T09:00:00+08:00",
        },
        expect=201,
    )
    assert flow.read(app["id"])["status"] == "acceptance"
    # joint acceptance: each company records its own utility (flow/test_acceptance.py)
    for user, utility in (("power-1-staff", "power"), ("gas-1-staff", "gas")):
        flow.call(
            user,
            "POST",
            f"/applications/{app['id']}/acceptances",
            {
                "mode": "joint",
                "utilities": [utility],
                "passed": True,
                "inspection": {utility: "合格"},
                "pressure_test": {
                    "test_pressure_mpa": 0.1,
                    "duration_min": 1440,
                    "pressure_drop_mpa": 0.0,
                    "passed": True,
                },
                "appointment_at": "2026-11-28T09:00:00+08:00",
            },
            expect=201,
        )
    app = flow.read(app["id"])
    assert app["status"] == "completed" and app["stage"] == "closed"

    # 全流程记录表, generated automatically: JSON and a PDF with the number as text
    sheet = flow.call("applicant", "GET", f"/applications/{app['id']}/record-sheet")
    assert sheet["application"]["number"] == app["number"]
    stages = {s["stage"]: s for s in sheet["stages"]}
    assert [s["stage"] for s in sheet["stages"]] == [
        "acceptance",
        "joint_survey",
        "permits",
        "construction",
        "final_acceptance",
    ]
    assert stages["acceptance"]["allowed_working_days"] == 0
    assert stages["joint_survey"]["allowed_working_days"] == 1
    assert stages["construction"]["allowed_working_days"] is None
    assert all(s["finished_at"] for s in sheet["stages"])
    assert all(s["on_time"] in (True, None) for s in sheet["stages"])
    actions = [s["action"] for s in sheet["steps"]]
    for step in (
        "submit",
        "return",
        "resubmit",
        "accept",
        "start_survey",
        "record_opinion",
        "fix_route",
        "revise_route",
        "review",
        "approve",
        "approve_with_conditions",
        "reopen",
        "start_construction",
        "finish_construction",
        "record_acceptance",
        "complete",
    ):
        assert step in actions, step
    assert all(s["actor"] and s["at"] for s in sheet["steps"])
    chief = next(p for p in sheet["permits"] if p["type"] == "road_excavation")["levels"]
    assert [lv["level"] for lv in chief[-2:]] == ["clerk", "chief"]
    assert {d["filename"] for d in sheet["documents"]} >= {"site_plan.txt", "route_v2.geojson"}
    assert len(sheet["acceptances"]) == 3 and len(sheet["dispatches"]) == 3
    pdf = c.get(f"{PREFIX}/applications/{app['id']}/record-sheet.pdf", headers=flow.h("applicant"))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    txt = subprocess.run(
        ["pdftotext", "-", "-"], input=pdf.content, capture_output=True, check=True
    ).stdout.decode()
    assert app["number"] in txt and "全流程记录表" in txt and "挖掘城市道路审批" in txt

    # the audit log is append-only, in the database itself: even its owner meets the trigger
    # (the app's role is refused before it: tests/geodata/test_db_hardening.py)
    audit = flow.call("acceptor", "GET", f"/applications/{app['id']}/audit")
    assert len(audit) == len(sheet["steps"])
    with owner_engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(
            text("UPDATE appr_audit_log SET reason = 'x' WHERE id = :i"), {"i": audit[0]["id"]}
        )
    # logging out revokes the token
    r = c.post(f"{PREFIX}/auth/logout", headers=flow.h("applicant"))
    assert r.status_code == 204
    assert c.get(f"{PREFIX}/me", headers=flow.h("applicant")).status_code == 401
    with engine.connect() as conn, pytest.raises(DBAPIError, match="frozen"):
        conn.execute(
            text("UPDATE appr_route_versions SET geojson = '{}' WHERE id = :i"), {"i": v1["id"]}
        )


def test_commitment_project_starts_before_permits(flow: Flow) -> None:
    """承诺制: construction may start once the route is fixed; outstanding approvals tracked."""
    plain = flow.to_status("surveying")
    flow.opinions(plain)
    flow.fix_route(plain)
    r = flow.call(
        "water-1-staff", "POST", f"/applications/{plain['id']}/construction/start", {}, expect=409
    )
    assert len(r["missing"]) == 7

    app = flow.to_status("surveying", commitment=True)
    flow.opinions(app)
    flow.fix_route(app)
    app = flow.call("water-1-staff", "POST", f"/applications/{app['id']}/construction/start", {})
    assert app["status"] == "construction"
    assert len(app["outstanding_permits"]) == 7
    # finishing needs the outstanding approvals
    r = flow.call(
        "coordinator", "POST", f"/applications/{app['id']}/construction/finish", {}, expect=409
    )
    assert "outstanding" in r["message"]
    for p in flow.permits(app["id"]):
        flow.approve(p)
    app = flow.read(app["id"])
    assert app["outstanding_permits"] == []
    flow.call("coordinator", "POST", f"/applications/{app['id']}/construction/finish", {})


def test_permit_outcomes_returned_rejected_not_competent(flow: Flow) -> None:
    """Every chief outcome, a send-back to the clerk, and a returned permit resubmitted."""
    app = flow.to_status("permitting")
    permits = {p["permit_type"]: p for p in flow.permits(app["id"])}
    assert flow.approve(permits["tree_felling"], "rejected")["status"] == "rejected"
    assert flow.approve(permits["planning_opinion"], "not_competent")["status"] == "not_competent"
    p = flow.approve(permits["traffic_opinion"], "returned")
    assert p["status"] == "returned"
    p = flow.call(
        "coordinator",
        "POST",
        f"/permits/{p['id']}/resubmit",
        {"reason": "已补充交通组织方案", "version": p["version"]},
    )
    assert p["status"] == "submitted" and p["decided_at"] is None
    assert flow.approve(p)["status"] == "approved"
    # the chief sends it back to the clerk instead of deciding
    q = permits["road_excavation"]
    q = flow.call("cgj-clerk", "POST", f"/permits/{q['id']}/review", {"recommendation": "approved"})
    q = flow.call(
        "cgj-chief",
        "POST",
        f"/permits/{q['id']}/decide",
        {"outcome": "send_back", "comment": "补勘"},
    )
    assert q["status"] == "submitted"
    # every company saw each decision with its status
    events = flow.call("gas-1-staff", "GET", "/feedback")
    seen = {(e["permit_id"], e["status"]) for e in events if e["kind"] == "permit_decided"}
    assert (permits["tree_felling"]["id"], "rejected") in seen
    assert (permits["planning_opinion"]["id"], "not_competent") in seen
    assert (permits["traffic_opinion"]["id"], "returned") in seen
    # rejected permits block construction of a non-commitment project
    r = flow.call(
        "water-1-staff", "POST", f"/applications/{app['id']}/construction/start", {}, expect=409
    )
    assert "tree_felling:rejected" in r["missing"]
