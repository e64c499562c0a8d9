"""Background jobs on the project's own PostgreSQL: procrastinate, no extra server.

Chosen because the jobs live in the database the service already runs (tables, LISTEN/
NOTIFY, locks), so a city adds no broker to operate, a job is deferred in the same
transaction as the change that needs it, and a restart loses nothing.

Jobs:

- ``sweep_deadlines`` runs on a schedule (``COTRENCH_JOBS_SWEEP_CRON``, every five minutes
  by default): every permit past its working-day deadline is marked overdue and every
  company of the application is told (同步反馈), with no one calling an endpoint. It acts
  as the scheduler's own account (an inactive user that cannot log in), so the audit log
  names who did it.

``cotrench worker`` runs the worker; ``make demo`` starts it beside the server.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets

import procrastinate
from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals.auth import hash_password
from api.approvals.enums import Role
from api.approvals.models import User
from api.approvals.permits import sweep_deadlines
from geodata.db import libpq_uri

__all__ = ["SCHEDULER_USERNAME", "SWEEP_CRON", "make_jobs", "scheduler_user"]

logger = logging.getLogger(__name__)

SWEEP_CRON = os.environ.get("COTRENCH_JOBS_SWEEP_CRON", "*/5 * * * *")
SCHEDULER_USERNAME = "system-scheduler"


def scheduler_user(session: Session) -> User:
    """The scheduler's account: named in the audit log, inactive, no usable password."""
    user = session.scalars(select(User).where(User.username == SCHEDULER_USERNAME)).first()
    if user is None:
        user = User(
            username=SCHEDULER_USERNAME,
            password_hash=hash_password(secrets.token_urlsafe(32)),
            real_name="系统定时任务 / scheduler",
            role=Role.admin.value,
            is_active=False,
        )
        session.add(user)
        session.flush()
    return user


def make_jobs(url: str, engine: Engine, *, sweep_cron: str = SWEEP_CRON) -> procrastinate.App:
    """The job app on the database at ``url``; its tasks work through ``engine``."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq_uri(url)))

    @app.periodic(cron=sweep_cron)
    @app.task(name="sweep_deadlines", queue="deadlines", queueing_lock="sweep_deadlines")
    def sweep(timestamp: int) -> int:
        now = dt.datetime.fromtimestamp(timestamp, dt.UTC)
        with Session(engine, expire_on_commit=False) as session, session.begin():
            late = sweep_deadlines(session=session, actor=scheduler_user(session), now=now)
        logger.info("scheduled deadline sweep at %s: %d permits overdue", now, len(late))
        return len(late)

    return app
