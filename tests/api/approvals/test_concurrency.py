"""Two approvals of the same permit at once: one wins, the other gets 409, nothing is lost.

Real concurrent transactions on PostgreSQL: two threads, two sessions (two clients).
"""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals.errors import StaleVersionError
from api.approvals.models import AuditLog
from api.approvals.models import FeedbackEvent
from api.approvals.models import Permit
from api.approvals.models import PermitDecision
from api.approvals.models import User
from api.approvals.permits import decide_permit
from api.approvals.schemas import DispatchAccept
from api.approvals.schemas import PermitDecide
from api.approvals.service import accept_dispatch
from api.main import create_app
from tests.api.approvals.flow import PREFIX
from tests.api.approvals.flow import Flow


def _reviewed_permit(flow: Flow, permit_type: str) -> tuple[dict[str, Any], dict[str, Any]]:
    app = flow.to_status("permitting")
    p = next(p for p in flow.permits(app["id"]) if p["permit_type"] == permit_type)
    p = flow.call(
        f"{p['department_code']}-clerk",
        "POST",
        f"/permits/{p['id']}/review",
        {"recommendation": "approved", "version": p["version"]},
    )
    return app, p


def _decisions(engine: Engine, permit_id: int) -> tuple[int, int, int, str]:
    with Session(engine) as s:
        chief = s.scalar(
            select(func.count()).where(
                PermitDecision.permit_id == permit_id, PermitDecision.level == "chief"
            )
        )
        audit = s.scalar(
            select(func.count()).where(
                AuditLog.entity_kind == "permit",
                AuditLog.entity_id == permit_id,
                AuditLog.action.in_(["approve", "reject"]),
            )
        )
        events = s.scalar(
            select(func.count()).where(
                FeedbackEvent.permit_id == permit_id, FeedbackEvent.kind == "permit_decided"
            )
        )
        status = s.get_one(Permit, permit_id).status
    return chief or 0, audit or 0, events or 0, status


def test_two_chiefs_at_once_over_http(flow: Flow, engine: Engine) -> None:
    app, permit = _reviewed_permit(flow, "road_excavation")
    barrier = threading.Barrier(2)
    outcomes = ["approved", "rejected"]

    def decide(arg: tuple[str, TestClient]) -> tuple[str, int, dict[str, Any]]:
        outcome, c = arg
        barrier.wait()
        r = c.post(
            f"{PREFIX}/permits/{permit['id']}/decide",
            headers=flow.h("cgj-chief"),
            json={"outcome": outcome, "version": permit["version"]},
        )
        return outcome, r.status_code, r.json()

    # two apps (two sessions, two connections), built before the threads start
    with _client(engine) as c1, _client(engine) as c2, ThreadPoolExecutor(2) as pool:
        results = list(pool.map(decide, zip(outcomes, (c1, c2), strict=True)))
    codes = sorted(code for _, code, _ in results)
    assert codes == [200, 409], results
    winner = next(o for o, code, _ in results if code == 200)
    loser = next(body for _, code, body in results if code == 409)
    assert loser["error"] in {"StaleVersionError", "TransitionNotAllowedError"}
    chief, audit, events, status = _decisions(engine, permit["id"])
    assert (chief, audit, status) == (1, 1, winner)
    assert events == len(app["dispatches"])  # every company told once, not twice


def test_overlapping_transactions_one_gets_stale_version(flow: Flow, engine: Engine) -> None:
    """Both transactions read the same version before either writes: the later write fails."""
    _, permit = _reviewed_permit(flow, "planning_opinion")
    barrier = threading.Barrier(2)
    now = dt.datetime.now(dt.UTC)

    def decide(outcome: str) -> str:
        with Session(engine, expire_on_commit=False) as s, s.begin():
            chief = s.scalars(select(User).where(User.username == "zrzyj-chief")).one()
            s.get_one(Permit, permit["id"])  # read version v in both transactions
            barrier.wait()
            try:
                decide_permit(
                    session=s,
                    actor=chief,
                    permit_id=permit["id"],
                    now=now,
                    body=PermitDecide(outcome=outcome),
                )
            except StaleVersionError:
                s.rollback()
                return "stale"
            return outcome

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(decide, ["approved", "rejected"]))
    assert sorted(results, key=lambda r: r == "stale")[1] == "stale", results
    winner = next(r for r in results if r != "stale")
    chief, audit, _, status = _decisions(engine, permit["id"])
    assert (chief, audit, status) == (1, 1, winner)


def test_retried_request_with_same_key_applies_once(flow: Flow, engine: Engine) -> None:
    app = flow.submit()
    body = {"companies": {"water": "water-1", "power": "power-1", "gas": "gas-1"}}
    first = flow.call(
        "acceptor", "POST", f"/applications/{app['id']}/accept", body, key="k-accept-1"
    )
    again = flow.call(
        "acceptor", "POST", f"/applications/{app['id']}/accept", body, key="k-accept-1"
    )
    assert again == first
    with Session(engine) as s:
        n = s.scalar(
            select(func.count()).where(
                AuditLog.entity_id == app["id"],
                AuditLog.entity_kind == "application",
                AuditLog.action == "accept",
            )
        )
    assert n == 1
    # the same key for a different request is refused
    r = flow.call(
        "acceptor",
        "POST",
        f"/applications/{app['id']}/return",
        {"reason": "x"},
        key="k-accept-1",
        expect=422,
    )
    assert r["error"] == "IdempotencyKeyReusedError"
    # without the key, the retry is a real second attempt and the table says no
    r = flow.call("acceptor", "POST", f"/applications/{app['id']}/accept", body, expect=409)
    assert r["allowed"] == ["start_survey"]


def test_concurrent_retries_with_same_key(flow: Flow, engine: Engine) -> None:
    app = flow.submit()
    body = {"reason": "请补充材料"}
    barrier = threading.Barrier(2)

    def send(c: TestClient) -> tuple[int, Any]:
        barrier.wait()
        r = c.post(
            f"{PREFIX}/applications/{app['id']}/return",
            json=body,
            headers=flow.h("acceptor", key=f"k-return-{app['id']}"),
        )
        return r.status_code, r.json()

    with _client(engine) as t1, _client(engine) as t2, ThreadPoolExecutor(2) as pool:
        (c1, b1), (c2, b2) = pool.map(send, [t1, t2])
    assert (c1, c2) == (200, 200) and b1 == b2
    audit = flow.call("acceptor", "GET", f"/applications/{app['id']}/audit")
    assert [a["action"] for a in audit].count("return") == 1


def _client(engine: Engine) -> TestClient:
    """A second app on the same engine, its routes built before any thread uses it.

    FastAPI builds a route's parameter models on the first match, which is not thread-safe;
    a request to an unknown path matches against (and so builds) every route here.
    """
    c = TestClient(create_app(engine=engine))
    assert c.get("/__warm_up__").status_code == 404
    return c


def test_companies_accepting_at_once_start_the_survey_once(flow: Flow, engine: Engine) -> None:
    """The last two companies accept at the same instant: exactly one starts the survey."""
    app = flow.accept(flow.submit(utilities=("water", "power")))
    barrier = threading.Barrier(2)

    def accept(arg: tuple[dict[str, Any], TestClient]) -> int:
        d, c = arg
        barrier.wait()
        r = c.post(
            f"{PREFIX}/dispatches/{d['id']}/accept",
            headers=flow.h(f"{d['company_code']}-staff"),
            json={"agreement": {"agreement_no": f"WT-{d['id']}", "signed_on": "2026-11-25"}},
        )
        return r.status_code

    with _client(engine) as c1, _client(engine) as c2, ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(accept, zip(app["dispatches"], (c1, c2), strict=True)))
    assert codes == [200, 200]
    assert flow.read(app["id"])["status"] == "surveying"
    audit = flow.call("acceptor", "GET", f"/applications/{app['id']}/audit")
    assert [a["action"] for a in audit].count("start_survey") == 1


def test_second_acceptance_waits_for_the_first(flow: Flow, engine: Engine) -> None:
    """Deterministic form: A accepts and keeps its transaction open while B accepts.

    B must wait for A (the application row lock) and then see A's acceptance; without the
    lock each would see the other's dispatch pending and nobody would start the survey.
    """
    app = flow.accept(flow.submit(utilities=("water", "power")))
    d_a, d_b = app["dispatches"]
    a_done, b_done = threading.Event(), threading.Event()
    now = dt.datetime.now(dt.UTC)

    def accept(d: dict[str, Any], *, first: bool) -> None:
        body = DispatchAccept(agreement={"agreement_no": "WT", "signed_on": dt.date(2026, 11, 25)})
        with Session(engine, expire_on_commit=False) as s, s.begin():
            staff = s.scalars(
                select(User).where(User.username == f"{d['company_code']}-staff")
            ).one()
            if not first:
                a_done.wait(5)
            accept_dispatch(session=s, actor=staff, dispatch_id=d["id"], body=body, now=now)
            if first:
                a_done.set()
                b_done.wait(1.0)  # B is blocked on the lock: give up waiting, commit
        if not first:
            b_done.set()

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(accept, d_a, first=True), pool.submit(accept, d_b, first=False)]
        for f in futures:
            f.result()
    assert flow.read(app["id"])["status"] == "surveying"
