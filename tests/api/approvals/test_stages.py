"""An application's city (validated against its site) and its stage (from the transition table)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals.enums import ApplicationStatus
from api.approvals.enums import EntityKind
from api.approvals.enums import Stage
from api.approvals.models import Application
from api.approvals.transitions import FINAL_STATUSES
from api.approvals.transitions import TRANSITIONS
from api.approvals.transitions import _stages
from api.approvals.transitions import stage_of
from tests.api.approvals.flow import CITY
from tests.api.approvals.flow import Flow
from tests.api.approvals.flow import form
from tests.api.approvals.flow import route

pytestmark = pytest.mark.db

# the reform plan's stages (section 四) per status, written out here, not read from the table
EXPECTED_STAGE = {
    "submitted": "acceptance",
    "returned": "acceptance",
    "dispatched": "acceptance",
    "surveying": "joint_survey",
    "permitting": "permits",
    "construction": "construction",
    "acceptance": "final_acceptance",
    "completed": "closed",
    "rejected": "closed",
    "not_competent": "closed",
}

BEIJING_SITE: dict[str, Any] = {
    "type": "Polygon",
    "coordinates": [[[116.39, 39.90], [116.40, 39.90], [116.40, 39.91], [116.39, 39.90]]],
}


def test_every_status_has_the_reform_plans_stage() -> None:
    assert {s: str(stage_of(s)) for s in ApplicationStatus} == EXPECTED_STAGE
    assert FINAL_STATUSES[EntityKind.application] == {"completed", "rejected", "not_competent"}


def test_a_row_naming_another_stage_for_the_same_status_is_refused() -> None:
    """Two rows into one status with different stages would make the stage parallel state."""
    table = dict(TRANSITIONS[EntityKind.application])
    survey = table["dispatched"]["start_survey"]
    table["dispatched"] = {"start_survey": dataclasses.replace(survey, next_status="permitting")}
    with pytest.raises(ValueError, match="rows into permitting name two stages"):
        _stages(table)
    table["dispatched"] = {"start_survey": dataclasses.replace(survey, stage=None)}
    with pytest.raises(ValueError, match="names no stage"):
        _stages(table)


@pytest.mark.parametrize("status", ["submitted", "dispatched", "surveying", "permitting"])
def test_stage_follows_the_status(flow: Flow, status: str) -> None:
    app = flow.to_status(status)
    assert app["stage"] == EXPECTED_STAGE[status]
    assert app["completed_at"] is None


def test_stage_clocks_start_restart_and_close(flow: Flow) -> None:
    app = flow.to_status("permitting")
    assert app["stage_due_at"] is not None
    # a revised route in the permits stage restarts the departments' day
    flow.fix_route(app, **route(offset_m=5.0), version=app["version"])
    revised = flow.read(app["id"])
    assert revised["stage"] == "permits"
    assert revised["stage_started_at"] > app["stage_started_at"]
    # construction is untimed; a revised route there keeps its start
    commit = flow.to_status("surveying", commitment=True)
    flow.opinions(commit)
    flow.fix_route(commit)
    started = flow.call(
        "water-1-staff", "POST", f"/applications/{commit['id']}/construction/start", {}
    )
    assert started["stage"] == "construction" and started["stage_due_at"] is None
    flow.fix_route(started, **route(offset_m=7.0))
    again = flow.read(commit["id"])
    assert again["stage_started_at"] == started["stage_started_at"]
    # returned and resubmitted: the acceptance clock starts over; rejected: closed
    sent = flow.submit()
    back = flow.call(
        "acceptor", "POST", f"/applications/{sent['id']}/return", {"reason": "补正材料"}
    )
    assert back["stage"] == "acceptance" and back["stage_started_at"] == sent["stage_started_at"]
    fixed = flow.call(
        "applicant",
        "PUT",
        f"/applications/{sent['id']}",
        {**form(), "version": back["version"]},
    )
    assert fixed["status"] == "submitted" and fixed["stage_started_at"] > sent["stage_started_at"]
    closed = flow.call(
        "acceptor", "POST", f"/applications/{sent['id']}/reject", {"reason": "不在范围"}
    )
    assert closed["stage"] == Stage.closed and closed["stage_due_at"] is None
    assert dt.datetime.fromisoformat(closed["completed_at"]) >= dt.datetime.fromisoformat(
        fixed["stage_started_at"]
    )


def test_application_names_its_city_and_its_site_lies_inside(flow: Flow, engine: Engine) -> None:
    app = flow.submit()
    assert app["city"] == CITY
    with Session(engine) as s:
        before = s.scalar(select(func.count(Application.id)))
    r = flow.call("applicant", "POST", "/applications", form(city="atlantis"), expect=422)
    assert r["error"] == "FormValidationError"
    assert [e["loc"] for e in r["errors"]] == [["body", "city"]]
    assert "unknown city 'atlantis'" in r["errors"][0]["msg"] and CITY in r["errors"][0]["msg"]
    r = flow.call("applicant", "POST", "/applications", form(site=BEIJING_SITE), expect=422)
    assert [e["loc"] for e in r["errors"]] == [["body", "site"]]
    assert f"outside city {CITY!r}" in r["errors"][0]["msg"]
    missing = form()
    del missing["city"]
    r = flow.call("applicant", "POST", "/applications", missing, expect=422)
    assert [e["loc"][1:] for e in r["errors"]] == [["city"]]
    # a returned application corrected to a site outside its city is refused the same way
    back = flow.call("acceptor", "POST", f"/applications/{app['id']}/return", {"reason": "补正"})
    r = flow.call(
        "applicant",
        "PUT",
        f"/applications/{app['id']}",
        {**form(site=BEIJING_SITE), "version": back["version"]},
        expect=422,
    )
    assert [e["loc"] for e in r["errors"]] == [["body", "site"]]
    assert flow.read(app["id"])["status"] == "returned"
    with Session(engine) as s:
        assert s.scalar(select(func.count(Application.id))) == before  # nothing half-stored
