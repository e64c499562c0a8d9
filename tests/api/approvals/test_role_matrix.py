"""Every endpoint called by every role (and by nobody): only the allowed calls succeed.

The expectation is this file's own table, written from the reform plan's division of work,
not read from ``api.approvals.auth.POLICY``. A refused call must change nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals.auth import issue_token
from api.approvals.models import User
from geodata.db import session_scope
from geodata.importer import import_layer
from geodata.storage import create_city
from tests.api.approvals.flow import AFTER_PROTECTION
from tests.api.approvals.flow import CITY
from tests.api.approvals.flow import PREFIX
from tests.api.approvals.flow import Flow
from tests.api.approvals.flow import form
from tests.api.approvals.flow import route
from tests.helpers import read_sample
from tests.helpers import sample_path

APPLICANT, ACCEPTOR, STAFF, CLERK, CHIEF, COORD, ADMIN = (
    "applicant",
    "acceptor",
    "utility_staff",
    "dept_clerk",
    "dept_chief",
    "responsible_person",
    "admin",
)
ROLES = (APPLICANT, ACCEPTOR, STAFF, CLERK, CHIEF, COORD, ADMIN)
ALL = frozenset(ROLES)

# operation id -> the roles that may call it (on an item of their own)
ALLOWED: dict[str, frozenset[str]] = {
    "me": ALL,
    "logout": ALL,
    "list-organisations": ALL,
    "list-users": frozenset({ADMIN}),
    "create-user": frozenset({ADMIN}),
    "ask-consultation": frozenset({APPLICANT}),
    "list-consultations": frozenset({APPLICANT, ACCEPTOR, COORD, ADMIN}),
    "answer-consultation": frozenset({ACCEPTOR, COORD}),
    "submit-application": frozenset({APPLICANT}),
    "list-applications": ALL,
    "read-application": ALL,
    "resubmit-application": frozenset({APPLICANT}),
    "accept-application": frozenset({ACCEPTOR}),
    "return-application": frozenset({ACCEPTOR}),
    "reject-application": frozenset({ACCEPTOR}),
    "not-competent-application": frozenset({ACCEPTOR}),
    "accept-dispatch": frozenset({STAFF}),
    "record-opinion": frozenset({STAFF, CLERK}),
    "list-opinions": ALL,
    "fix-route": frozenset({ACCEPTOR, COORD}),
    "list-routes": ALL,
    "list-permits": ALL,
    "read-permit": ALL,
    "review-permit": frozenset({CLERK}),
    "decide-permit": frozenset({CHIEF}),
    "resubmit-permit": frozenset({ACCEPTOR, COORD}),
    "read-attachment": ALL,
    "list-feedback": frozenset({STAFF, ACCEPTOR, ADMIN}),
    "start-construction": frozenset({STAFF, COORD}),
    "finish-construction": frozenset({STAFF, COORD}),
    "record-acceptance": frozenset({STAFF}),
    "read-record-sheet": ALL,
    "read-record-sheet-pdf": ALL,
    "list-audit": frozenset({ACCEPTOR, COORD, ADMIN}),
    "list-due": ALL,
    "sweep-deadlines": frozenset({ADMIN}),
    # a utility company's designer submits its own lines for an application dispatched to it
    "submit-proposals": frozenset({STAFF}),
    "upload-proposals": frozenset({STAFF}),
    "list-proposals": ALL,
    "plan-route": frozenset({ACCEPTOR, COORD}),
    "read-planning": ALL,
    "fix-planned-route": frozenset({ACCEPTOR, COORD}),
    "list-opportunities": frozenset({ACCEPTOR, COORD}),
    "create-bundle": frozenset({ACCEPTOR, COORD}),
    "read-bundle": ALL,
    "fix-bundle-route": frozenset({ACCEPTOR, COORD}),
}

DEFAULT_USER = {
    APPLICANT: "applicant",
    ACCEPTOR: "acceptor",
    STAFF: "water-1-staff",
    CLERK: "cgj-clerk",
    CHIEF: "cgj-chief",
    COORD: "coordinator",
    ADMIN: "admin",
}


@dataclass
class Call:
    method: str
    path: str
    body: Any = None
    users: dict[str, str] = field(default_factory=dict)  # role -> username overrides
    check: Callable[[], Any] | None = None  # state snapshot: refused calls must not change it
    files: Any = None  # multipart uploads (then no JSON body)


class World:
    """Targets in the states the endpoints need; shared ones made once."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self._cache: dict[str, Any] = {}
        self._n = itertools.count()

    def shared(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self._cache:
            self._cache[name] = make()
        return self._cache[name]

    def permitting(self) -> dict[str, Any]:
        return self.shared("permitting", lambda: self.flow.to_status("permitting"))

    def permit(self, permit_type: str) -> dict[str, Any]:
        app = self.permitting()
        return next(p for p in self.flow.permits(app["id"]) if p["permit_type"] == permit_type)

    def app_in(self, status: str, **kw: Any) -> dict[str, Any]:
        return self.flow.to_status(status, **kw)

    def surveyed(self, **kw: Any) -> dict[str, Any]:
        app = self.flow.to_status("surveying", **kw)
        self.flow.opinions(app)
        return app

    def returned_permit(self, permit_type: str) -> dict[str, Any]:
        p = self.permit(permit_type)
        return self.flow.approve(p, "returned")

    def throwaway_login(self, role: str) -> str:
        """A second token for the role's user, so logging it out spares the shared one."""
        user = DEFAULT_USER[role]
        engine = self.flow.client.app.state.engine  # type: ignore[attr-defined]
        with Session(engine) as session, session.begin():
            row = session.scalars(select(User).where(User.username == user)).one()
            token, _ = issue_token(
                session=session, user=row, now=dt.datetime.now(dt.UTC), ttl_minutes=60
            )
        name = f"{user}#logout"
        self.flow.tokens = {**self.flow.tokens, name: token}
        return name

    def snapshot(self, app_id: int) -> Callable[[], Any]:
        def read() -> Any:
            a = self.flow.read(app_id)
            return a["status"], a["version"]

        return read


def _setups(w: World, role: str) -> dict[str, Callable[[], Call]]:
    f = w.flow

    def app_call(status: str, method: str, suffix: str, body: Any = None, **kw: Any) -> Call:
        app = w.app_in(status, **kw) if status != "shared" else w.permitting()
        return Call(method, f"/applications/{app['id']}{suffix}", body, check=w.snapshot(app["id"]))

    def permit_call(permit: dict[str, Any], suffix: str, body: Any = None) -> Call:
        code = permit["department_code"]
        return Call(
            "POST" if suffix else "GET",
            f"/permits/{permit['id']}{suffix}",
            body,
            users={CLERK: f"{code}-clerk", CHIEF: f"{code}-chief"},
        )

    def consultation() -> Call:
        q = f.call(
            "applicant",
            "POST",
            "/consultations",
            {"project_name": "前置咨询", "utilities": ["heat"], "question": "供热能力?"},
            expect=201,
        )
        return Call("POST", f"/consultations/{q['id']}/answer", {"answer": "可以"})

    def dispatch() -> Call:
        app = w.app_in("dispatched")
        d = next(d for d in app["dispatches"] if d["company_code"] == "water-1")
        return Call(
            "POST",
            f"/dispatches/{d['id']}/accept",
            {"agreement": {"agreement_no": "WT-1", "signed_on": "2026-11-25"}},
            check=w.snapshot(app["id"]),
        )

    def reviewed(permit_type: str) -> Call:
        p = w.permit(permit_type)
        if p["status"] == "submitted":
            p = f.call(
                f"{p['department_code']}-clerk",
                "POST",
                f"/permits/{p['id']}/review",
                {"recommendation": "approved"},
            )
        return permit_call(p, "/decide", {"outcome": "approved"})

    def attachment() -> Call:
        p = w.permit("road_excavation")
        return Call("GET", f"/attachments/{p['attachments'][0]['id']}")

    def planning_call(app: dict[str, Any]) -> Call:
        body = {"on_date": AFTER_PROTECTION, "time_limit_s": 10}
        return Call("POST", f"/applications/{app['id']}/plans", body, check=w.snapshot(app["id"]))

    def planned_route() -> Call:
        app, run = w.planned()
        joint = next(a for a in run["alternatives"] if a["name"] == "joint")
        return Call(
            "POST",
            f"/applications/{app['id']}/routes/from-plan",
            {"plan_key": joint["plan_key"]},
            check=w.snapshot(app["id"]),
        )

    def bundle_call(apps: list[dict[str, Any]]) -> Call:
        body = {
            "application_ids": [a["id"] for a in apps],
            "not_before": AFTER_PROTECTION,
            "time_limit_s": 10,
        }
        return Call("POST", "/bundles", body, check=w.snapshot(apps[0]["id"]))

    def bundle_route(bundle: dict[str, Any]) -> Call:
        first = bundle["members"][0]["application_id"]
        return Call("POST", f"/bundles/{bundle['id']}/routes", {}, check=w.snapshot(first))

    shared_app = w.permitting
    resubmit_types = {ACCEPTOR: "traffic_opinion", COORD: "pipeline_attachment"}
    return {
        "me": lambda: Call("GET", "/me"),
        "logout": lambda: Call("POST", "/auth/logout", users={role: w.throwaway_login(role)}),
        "list-organisations": lambda: Call("GET", "/organisations"),
        "list-users": lambda: Call("GET", "/users"),
        "create-user": lambda: Call(
            "POST",
            "/users",
            {
                "username": f"matrix-user-{next(w._n)}",
                "password": "a-long-password",
                "real_name": "测试",
                "role": "applicant",
            },
        ),
        "ask-consultation": lambda: Call(
            "POST",
            "/consultations",
            {"project_name": "前置咨询", "utilities": ["water"], "question": "能否超前建设?"},
        ),
        "list-consultations": lambda: Call("GET", "/consultations"),
        "answer-consultation": consultation,
        "submit-application": lambda: Call("POST", "/applications", form()),
        "list-applications": lambda: Call("GET", "/applications"),
        "read-application": lambda: Call("GET", f"/applications/{shared_app()['id']}"),
        "resubmit-application": lambda: _returned(w),
        "accept-application": lambda: app_call(
            "submitted",
            "POST",
            "/accept",
            {"companies": {"water": "water-1", "power": "power-1", "gas": "gas-1"}},
        ),
        "return-application": lambda: app_call("submitted", "POST", "/return", {"reason": "补正"}),
        "reject-application": lambda: app_call("submitted", "POST", "/reject", {"reason": "不符"}),
        "not-competent-application": lambda: app_call(
            "submitted", "POST", "/not-competent", {"reason": "市政基础设施工程"}
        ),
        "accept-dispatch": dispatch,
        "record-opinion": lambda: Call(
            "POST",
            f"/applications/{w.shared('surveying', lambda: w.app_in('surveying'))['id']}/opinions",
            {"opinion": "同意"},
        ),
        "list-opinions": lambda: Call("GET", f"/applications/{shared_app()['id']}/opinions"),
        "fix-route": lambda: Call(
            "POST", f"/applications/{w.shared('surveyed', w.surveyed)['id']}/routes", route()
        ),
        "list-routes": lambda: Call("GET", f"/applications/{shared_app()['id']}/routes"),
        "list-permits": lambda: Call("GET", "/permits"),
        "read-permit": lambda: permit_call(w.permit("road_excavation"), ""),
        "review-permit": lambda: permit_call(
            w.permit("planning_opinion"), "/review", {"recommendation": "approved"}
        ),
        "decide-permit": lambda: reviewed("construction_opinion"),
        "resubmit-permit": lambda: permit_call(
            w.returned_permit(resubmit_types.get(role, "traffic_opinion"))
            if w.permit(resubmit_types.get(role, "traffic_opinion"))["status"] != "returned"
            else w.permit(resubmit_types.get(role, "traffic_opinion")),
            "/resubmit",
            {"reason": "已补正"},
        ),
        "read-attachment": attachment,
        "list-feedback": lambda: Call("GET", "/feedback"),
        "start-construction": lambda: Call(
            "POST", f"/applications/{w.surveyed_fixed(role)['id']}/construction/start", {}
        ),
        "finish-construction": lambda: app_call("construction", "POST", "/construction/finish", {}),
        "record-acceptance": lambda: app_call(
            "acceptance",
            "POST",
            "/acceptances",
            {
                "mode": "per_utility",
                "utilities": ["water"],
                "passed": True,
                "inspection": {"外观": "合格"},
            },
        ),
        "read-record-sheet": lambda: Call(
            "GET", f"/applications/{shared_app()['id']}/record-sheet"
        ),
        "read-record-sheet-pdf": lambda: Call(
            "GET", f"/applications/{shared_app()['id']}/record-sheet.pdf"
        ),
        "list-audit": lambda: Call("GET", f"/applications/{shared_app()['id']}/audit"),
        "list-due": lambda: Call("GET", "/due"),
        "sweep-deadlines": lambda: Call("POST", "/deadlines/sweep"),
        "submit-proposals": lambda: _proposals(w, upload=False),
        "upload-proposals": lambda: _proposals(w, upload=True),
        "list-proposals": lambda: Call("GET", f"/applications/{shared_app()['id']}/proposals"),
        "plan-route": lambda: planning_call(f.proposed("P03")),
        "read-planning": lambda: Call(
            "GET", f"/applications/{w.shared('planned', w.planned)[0]['id']}/plans"
        ),
        "fix-planned-route": planned_route,
        "list-opportunities": lambda: Call("GET", f"/opportunities?city={CITY}"),
        "create-bundle": lambda: bundle_call(w.pair()),
        "read-bundle": lambda: Call("GET", f"/bundles/{w.shared('bundle', w.bundle)['id']}"),
        "fix-bundle-route": lambda: bundle_route(w.bundle()),
    }


def _proposals(w: World, *, upload: bool) -> Call:
    """water-1's lines for an application dispatched to it, in a city with roads."""
    city = w.shared("roads-city", lambda: _roads_city(w.flow.client))
    app = w.app_in("dispatched", city=city)
    sample = read_sample("proposed_lines")
    lines = sample[sample["id"] == "P03-water"].to_crs(4326)
    if upload:
        data = lines.to_json().encode()
        return Call(
            "POST",
            f"/applications/{app['id']}/proposals/upload",
            files=[("file", ("lines.geojson", data))],
            check=w.snapshot(app["id"]),
        )
    return Call(
        "POST",
        f"/applications/{app['id']}/proposals",
        lines.__geo_interface__,
        check=w.snapshot(app["id"]),
    )


def _roads_city(client: TestClient) -> str:
    """A city with the sample roads (the flow's city has none to match lines against)."""
    name = f"matrix_roads_{uuid.uuid4().hex[:8]}"
    with session_scope(client.app.state.engine) as session:  # type: ignore[attr-defined]
        create_city(
            session, name=name, crs="EPSG:32652", extent=read_sample("city").geometry.iloc[0]
        )
        import_layer(session, sample_path("roads"), kind="roads", city=name, layer="roads")
    return name


def _returned(w: World) -> Call:
    app = w.app_in("submitted")
    app = w.flow.call("acceptor", "POST", f"/applications/{app['id']}/return", {"reason": "补正"})
    return Call(
        "PUT",
        f"/applications/{app['id']}",
        {**form(), "version": app["version"]},
        check=w.snapshot(app["id"]),
    )


def _surveyed_fixed(self: World, role: str) -> dict[str, Any]:
    """A commitment-based application with the route fixed (construction may start)."""
    app = self.surveyed(commitment=True)
    self.flow.fix_route(app)
    return app


World.surveyed_fixed = _surveyed_fixed  # type: ignore[attr-defined]


def _planned(self: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """An application in the survey with its lines, planned (the planning run)."""
    app = self.flow.proposed("P03")
    return app, self.flow.plan(app)


def _pair(self: World) -> list[dict[str, Any]]:
    """P03 and P05 in the survey with their lines: a coordination opportunity."""
    return [self.flow.proposed("P03"), self.flow.proposed("P05")]


def _bundle(self: World) -> dict[str, Any]:
    """P03 and P05 bundled into one joint plan (not fixed yet)."""
    body = {
        "application_ids": [a["id"] for a in _pair(self)],
        "not_before": AFTER_PROTECTION,
        "time_limit_s": 10,
    }
    bundle: dict[str, Any] = self.flow.call("coordinator", "POST", "/bundles", body, expect=201)
    return bundle


World.planned = _planned  # type: ignore[attr-defined]
World.pair = _pair  # type: ignore[attr-defined]
World.bundle = _bundle  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def world(client: TestClient, tokens: dict[str, str]) -> World:
    return World(Flow(client, tokens))


def test_the_table_lists_every_endpoint(client: TestClient) -> None:
    spec = client.app.openapi()  # type: ignore[attr-defined]
    ops = {
        op["operationId"].removeprefix("approvals-")
        for path, item in spec["paths"].items()
        if path.startswith(PREFIX)
        for op in item.values()
    }
    assert ops - {"login"} == set(ALLOWED)


@pytest.mark.parametrize("name", list(ALLOWED))
def test_endpoint_by_every_role(world: World, name: str) -> None:
    """Nobody gets 401; refused roles 403 with nothing changed; each allowed role succeeds."""
    flow, allowed = world.flow, ALLOWED[name]
    failures = []
    # refused roles first, all on one target, then each allowed role on a fresh one
    refused = [r for r in ROLES if r not in allowed]
    target = _setups(world, refused[0] if refused else ROLES[0])[name]()
    before = target.check() if target.check else None
    anon = flow.client.request(
        target.method, PREFIX + target.path, json=target.body, files=target.files
    )
    if anon.status_code != 401:
        failures.append(("anonymous", anon.status_code))
    for role in refused:
        user = target.users.get(role, DEFAULT_USER[role])
        r = flow.client.request(
            target.method,
            PREFIX + target.path,
            json=target.body,
            files=target.files,
            headers=flow.h(user),
        )
        if r.status_code != 403:
            failures.append((role, r.status_code, r.text[:200]))
    if target.check:
        assert target.check() == before, f"a refused {name} changed the application"
    for role in sorted(allowed):
        call = _setups(world, role)[name]()
        user = call.users.get(role, DEFAULT_USER[role])
        r = flow.client.request(
            call.method, PREFIX + call.path, json=call.body, files=call.files, headers=flow.h(user)
        )
        if r.status_code not in (200, 201, 204):
            failures.append((role, r.status_code, r.text[:300]))
    assert not failures, "\n".join(map(str, failures))


def test_scope_other_company_and_department(flow: Flow) -> None:
    """Each company and department sees and acts on its own items only."""
    app = flow.to_status("permitting", utilities=("water", "power"))
    # a company the application was not sent to: cannot read it, list it or record an opinion
    r = flow.call("heat-1-staff", "GET", f"/applications/{app['id']}", expect=403)
    assert r["action"] == "read_application"
    assert app["id"] not in {a["id"] for a in flow.call("heat-1-staff", "GET", "/applications")}
    assert not [
        e for e in flow.call("heat-1-staff", "GET", "/feedback") if e["application_id"] == app["id"]
    ]
    # another district's bureau sees neither the application nor its permits
    assert app["id"] not in {a["id"] for a in flow.call("dist-daoli-clerk", "GET", "/applications")}
    mine = flow.call("dist-nangang-clerk", "GET", f"/permits?application_id={app['id']}")
    assert {p["permit_type"] for p in mine} == {"road_occupation", "tree_felling"}
    # a department cannot decide another department's permit
    excavation = next(p for p in flow.permits(app["id"]) if p["permit_type"] == "road_excavation")
    flow.call(
        "zjj-clerk",
        "POST",
        f"/permits/{excavation['id']}/review",
        {"recommendation": "approved"},
        expect=403,
    )
    # the applicant reads their own application and its permits
    assert flow.call("applicant", "GET", f"/applications/{app['id']}")["id"] == app["id"]
    flow.call("applicant", "GET", f"/permits/{excavation['id']}")
