"""Error paths: 409 naming the allowed transitions, 422 naming the fields, stale versions, 404."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals.enums import ApplicationStatus
from api.approvals.enums import EntityKind
from api.approvals.enums import PermitStatus
from api.approvals.identity import check_credit_code
from api.approvals.identity import check_id_number
from api.approvals.identity import check_phone
from api.approvals.models import Application
from api.approvals.transitions import TRANSITIONS
from tests.api.approvals.flow import Flow
from tests.api.approvals.flow import demand
from tests.api.approvals.flow import form


def test_invalid_transition_names_the_allowed_ones(flow: Flow) -> None:
    app = flow.to_status("dispatched")
    r = flow.call(
        "acceptor", "POST", f"/applications/{app['id']}/reject", {"reason": "晚了"}, expect=409
    )
    assert r["error"] == "TransitionNotAllowedError"
    assert {k: r[k] for k in ("kind", "current_status", "action", "allowed")} == {
        "kind": "application",
        "current_status": "dispatched",
        "action": "reject",
        "allowed": ["start_survey"],
    }
    assert "allowed: start_survey" in r["message"]
    # a permit cannot be decided before the clerk's review
    app = flow.to_status("permitting")
    p = flow.permits(app["id"])[0]
    r = flow.call(
        f"{p['department_code']}-chief",
        "POST",
        f"/permits/{p['id']}/decide",
        {"outcome": "approved"},
        expect=409,
    )
    assert r["allowed"] == ["expire", "reopen", "review"]
    # a finished application allows nothing
    done = flow.to_status("submitted")
    flow.call("acceptor", "POST", f"/applications/{done['id']}/reject", {"reason": "不符合"})
    r = flow.call("acceptor", "POST", f"/applications/{done['id']}/accept", {}, expect=409)
    assert r["allowed"] == [] and "final status" in r["message"]


def test_stale_version_is_409(flow: Flow) -> None:
    app = flow.submit()
    r = flow.call(
        "acceptor",
        "POST",
        f"/applications/{app['id']}/return",
        {"reason": "补正", "version": app["version"] - 1},
        expect=409,
    )
    assert r["error"] == "StaleVersionError"
    assert r["expected"] == app["version"] - 1
    assert r["actual"] == app["version"]
    assert flow.read(app["id"])["status"] == "submitted"


def test_bad_form_names_the_fields(flow: Flow, engine: Engine) -> None:
    with Session(engine) as s:
        before = s.scalar(select(func.count(Application.id)))
    bad = form()
    bad["applicant"] = {**bad["applicant"], "credit_code": "91230103MA1ABCDE0X"}
    bad["responsible_person"] = {"name": "王工", "phone": "12345"}
    bad["demands"] = [
        demand("water"),
        {**demand("power"), "voltage_kv": 11},
        {**demand("gas"), "diameter_mm": -5},
        demand("water"),
    ]
    bad["site"] = {"type": "Point", "coordinates": [500000.0, 5000000.0]}
    r = flow.client.post("/approvals/applications", json=bad, headers=flow.h("applicant"))
    assert r.status_code == 422
    locs = {tuple(e["loc"][1:]) for e in r.json()["errors"]}
    assert ("applicant", "credit_code") in locs
    assert ("responsible_person", "phone") in locs
    assert ("site",) in locs
    assert ("demands", 1, "power", "voltage_kv") in locs
    assert ("demands", 2, "gas", "diameter_mm") in locs
    # the same utility twice is its own error once the items are valid
    twice = form(utilities=("water", "water"))
    r = flow.client.post("/approvals/applications", json=twice, headers=flow.h("applicant"))
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][1:] == ["demands"]
    assert "repeated: water" in r.json()["errors"][0]["msg"]
    # checks that need the database: unknown district, a company of another utility
    other = form(district="不存在区")
    other["demands"][0]["company_code"] = "power-1"
    r = flow.call("applicant", "POST", "/applications", other, expect=422)
    assert r["error"] == "FormValidationError"
    assert [e["loc"] for e in r["errors"]] == [
        ["body", "district"],
        ["body", "demands", 0, "company_code"],
    ]
    # a person applies with an ID number
    person = form()
    person["applicant"] = {"kind": "person", "name": "李四", "phone": "13912345678"}
    r = flow.client.post("/approvals/applications", json=person, headers=flow.h("applicant"))
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][1:] == ["applicant"]
    with Session(engine) as s:
        assert s.scalar(select(func.count(Application.id))) == before  # nothing half-stored


def test_bad_route_and_missing_things(flow: Flow) -> None:
    app = flow.to_status("surveying")
    flow.opinions(app)
    bad = {"crs": "EPSG:999999", "geojson": {"type": "FeatureCollection", "features": []}}
    r = flow.call("coordinator", "POST", f"/applications/{app['id']}/routes", bad, expect=422)
    assert [e["loc"] for e in r["errors"]] == [["body", "crs"], ["body", "geojson"]]
    point = {
        "crs": "EPSG:32652",
        "geojson": {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {},
                    "geometry": {"type": "Point", "coordinates": [1.0, 2.0]},
                }
            ],
        },
    }
    r = flow.call("coordinator", "POST", f"/applications/{app['id']}/routes", point, expect=422)
    assert r["errors"][0]["loc"] == ["body", "geojson", "features", 0, "geometry"]
    assert flow.read(app["id"])["status"] == "surveying"
    r = flow.call("acceptor", "GET", "/applications/999999", expect=404)
    assert (r["kind"], r["id"]) == ("application", 999999)
    flow.call(
        "cgj-clerk", "POST", "/permits/999999/review", {"recommendation": "approved"}, expect=404
    )
    r = flow.client.get("/approvals/me", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401


def test_every_status_in_the_table() -> None:
    assert set(TRANSITIONS[EntityKind.application]) == set(ApplicationStatus)
    assert set(TRANSITIONS[EntityKind.permit]) == set(PermitStatus)
    for kind, table in TRANSITIONS.items():
        for steps in table.values():
            assert {step.next_status for step in steps.values()} <= set(table), kind


@pytest.mark.parametrize("value", ["11010519491231002X", "11010519491231002x"])
def test_id_number_ok(value: str) -> None:
    assert check_id_number(value) == "11010519491231002X"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("110105194912310021", "check character"),
        ("11010519491331002X", "birth date"),
        ("1101051949123100", "17 digits"),
    ],
)
def test_id_number_bad(value: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_id_number(value)


def test_credit_code_and_phone() -> None:
    assert check_credit_code("914403001922038216") == "914403001922038216"
    with pytest.raises(ValueError, match="check character"):
        check_credit_code("914403001922038217")
    with pytest.raises(ValueError, match="18 characters"):
        check_credit_code("91440300192203821I")
    assert check_phone("0451-86123456") == "0451-86123456"
    with pytest.raises(ValueError, match="mobile"):
        check_phone("23800138000")
