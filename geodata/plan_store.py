"""Store shared-trench plans as numbered versions and read them back."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import Protocol

import orjson
import shapely
from geoalchemy2.shape import from_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata.errors import GeodataError
from geodata.plan_tables import TrenchPlanRow

__all__ = [
    "PlanNotFoundError",
    "PlanResult",
    "StoredPlan",
    "add_plan_version",
    "create_plan",
    "get_plan",
    "list_plan_versions",
    "plans_for_application",
]

logger = logging.getLogger(__name__)

_JSON = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class PlanNotFoundError(GeodataError, LookupError):
    """No plan (or no such version of it) is stored; the message names the key."""


class PlanResult(Protocol):
    """What is stored of a plan (``routing.results.TrenchPlan`` has it; geodata does not
    import routing, so the shape is named here)."""

    @property
    def method(self) -> str:
        """The method that made the plan."""

    @property
    def status(self) -> str:
        """``optimal``, ``feasible``, ``time_limit``, ..."""

    @property
    def total_cost_cny(self) -> float:
        """Total cost."""

    @property
    def gap(self) -> float | None:
        """Relative optimality gap, when known."""

    @property
    def edges(self) -> Any:
        """The plan's edges; each has a ``geometry`` (a line, or None)."""

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain JSON-able data."""


@dataclass(frozen=True)
class StoredPlan:
    """One stored version of a plan."""

    id: int
    city_id: int
    plan_key: str
    version: int
    method: str
    status: str
    total_cost_cny: float
    gap: float | None
    inputs: Mapping[str, Any]
    result: Mapping[str, Any]
    application_ids: tuple[int, ...]
    created_at: dt.datetime


def create_plan(
    session: Session,
    *,
    city_id: int,
    srid: int,
    plan: PlanResult,
    inputs: Mapping[str, Any],
    application_ids: Iterable[int] = (),
) -> StoredPlan:
    """Store a new plan as version 1 under a fresh ``plan_key``."""
    key = uuid.uuid4().hex[:16]
    return _insert(session, key, 1, city_id, srid, plan, inputs, application_ids)


def add_plan_version(
    session: Session,
    plan_key: str,
    *,
    plan: PlanResult,
    inputs: Mapping[str, Any],
    application_ids: Iterable[int] | None = None,
) -> StoredPlan:
    """Store a re-plan as the next version of ``plan_key``; earlier versions stay.

    ``application_ids`` defaults to the previous version's links.

    Raises
    ------
    PlanNotFoundError
        If no plan has that key.
    """
    latest = get_plan(session, plan_key)
    links = latest.application_ids if application_ids is None else application_ids
    srid = session.scalar(select(TrenchPlanRow.srid).where(TrenchPlanRow.id == latest.id))
    return _insert(
        session, plan_key, latest.version + 1, latest.city_id, int(srid or 0), plan, inputs, links
    )


def get_plan(session: Session, plan_key: str, version: int | None = None) -> StoredPlan:
    """Return one version of a plan (the latest if ``version`` is None).

    Raises
    ------
    PlanNotFoundError
        If the key or the version is unknown; the message lists the versions there are.
    """
    query = select(TrenchPlanRow).where(TrenchPlanRow.plan_key == plan_key)
    if version is None:
        query = query.order_by(TrenchPlanRow.version.desc()).limit(1)
    else:
        query = query.where(TrenchPlanRow.version == version)
    row = session.scalars(query).one_or_none()
    if row is None:
        versions = session.scalars(
            select(TrenchPlanRow.version)
            .where(TrenchPlanRow.plan_key == plan_key)
            .order_by(TrenchPlanRow.version)
        ).all()
        if not versions:
            msg = f"no trench plan {plan_key!r}"
        else:
            msg = f"trench plan {plan_key!r} has no version {version} (versions: {list(versions)})"
        raise PlanNotFoundError(msg)
    return _stored(row)


def list_plan_versions(session: Session, plan_key: str) -> list[StoredPlan]:
    """Every version of a plan, oldest first.

    Raises
    ------
    PlanNotFoundError
        If no plan has that key.
    """
    rows = session.scalars(
        select(TrenchPlanRow)
        .where(TrenchPlanRow.plan_key == plan_key)
        .order_by(TrenchPlanRow.version)
    ).all()
    if not rows:
        msg = f"no trench plan {plan_key!r}"
        raise PlanNotFoundError(msg)
    return [_stored(r) for r in rows]


def plans_for_application(session: Session, application_id: int) -> list[StoredPlan]:
    """Plan versions linked to one application, newest first."""
    rows = session.scalars(
        select(TrenchPlanRow)
        .where(TrenchPlanRow.application_ids.contains([application_id]))
        .order_by(TrenchPlanRow.created_at.desc(), TrenchPlanRow.id.desc())
    ).all()
    return [_stored(r) for r in rows]


def _insert(  # noqa: PLR0917 - private; every caller passes all eight
    session: Session,
    plan_key: str,
    version: int,
    city_id: int,
    srid: int,
    plan: PlanResult,
    inputs: Mapping[str, Any],
    application_ids: Iterable[int],
) -> StoredPlan:
    lines = [e.geometry for e in plan.edges if e.geometry is not None and not e.geometry.is_empty]
    geom = None
    if lines:
        multi = shapely.MultiLineString(
            [g for line in lines for g in getattr(line, "geoms", [line])]
        )
        geom = from_shape(multi, srid=srid)
    row = TrenchPlanRow(
        city_id=city_id,
        plan_key=plan_key,
        version=version,
        method=plan.method,
        status=plan.status,
        total_cost_cny=float(plan.total_cost_cny),
        gap=None if plan.gap is None else float(plan.gap),
        inputs=_json(inputs),
        result=_json(plan.to_dict()),
        application_ids=sorted({int(a) for a in application_ids}),
        srid=srid,
        geom=geom,
    )
    with session.begin_nested():
        session.add(row)
        session.flush()
    session.refresh(row)
    logger.info("stored trench plan %s v%d (%s)", plan_key, version, plan.status)
    return _stored(row)


def _stored(row: TrenchPlanRow) -> StoredPlan:
    return StoredPlan(
        id=row.id,
        city_id=row.city_id,
        plan_key=row.plan_key,
        version=row.version,
        method=row.method,
        status=row.status,
        total_cost_cny=row.total_cost_cny,
        gap=row.gap,
        inputs=row.inputs,
        result=row.result,
        application_ids=tuple(row.application_ids or ()),
        created_at=row.created_at,
    )


def _json(value: Any) -> Any:
    # numpy scalars, dates and tuples become plain JSON before they reach JSONB
    return orjson.loads(orjson.dumps(value, option=_JSON, default=str))
