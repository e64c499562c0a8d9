"""The scheduled deadline sweep flags an overdue permit with no one calling an endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import pytest
from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.approvals.models import AuditLog
from api.approvals.models import FeedbackEvent
from api.approvals.models import Permit
from api.jobs import SCHEDULER_USERNAME
from api.jobs import make_jobs
from tests.api.approvals.flow import Flow

pytestmark = pytest.mark.db


def test_the_scheduled_sweep_flags_an_overdue_permit(
    flow: Flow, engine: Engine, database_url: str
) -> None:
    app = flow.to_status("permitting")
    permit_id = flow.permits(app["id"])[0]["id"]
    with engine.begin() as conn:  # its deadline passed an hour ago
        conn.execute(
            text("UPDATE appr_permits SET due_at = now() - interval '1 hour' WHERE id = :i"),
            {"i": permit_id},
        )
    jobs = make_jobs(database_url, engine, sweep_cron="* * * * * *")  # every second
    stop = threading.Event()

    def run() -> None:
        async def work() -> None:
            async with jobs.open_async():
                task = asyncio.create_task(jobs.run_worker_async(queues=["deadlines"]))
                while not stop.is_set():
                    await asyncio.sleep(0.2)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

        asyncio.run(work())

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    deadline = time.monotonic() + 30
    status = None
    try:
        while time.monotonic() < deadline:
            with Session(engine) as session:
                status = session.get_one(Permit, permit_id).status
            if status == "deadline_passed":
                break
            time.sleep(0.5)
    finally:
        stop.set()
        worker.join(timeout=20)
    assert status == "deadline_passed"
    # the audit log names the scheduler, and the companies were told
    with Session(engine) as session:
        row = session.scalars(
            select(AuditLog)
            .where(AuditLog.entity_kind == "permit", AuditLog.entity_id == permit_id)
            .order_by(AuditLog.id.desc())
        ).first()
        assert row is not None and row.action == "expire"
        assert row.actor_name == "系统定时任务 / scheduler"
        told = session.scalars(
            select(FeedbackEvent.company_id).where(
                FeedbackEvent.permit_id == permit_id, FeedbackEvent.kind == "permit_overdue"
            )
        ).all()
    companies = {d["company_code"] for d in app["dispatches"]}
    assert len(told) == len(companies)  # every company of the application, at once
    # the scheduler's account cannot be logged into
    login = flow.client.post(
        "/approvals/auth/token", data={"username": SCHEDULER_USERNAME, "password": "x" * 16}
    )
    assert login.status_code == 401
