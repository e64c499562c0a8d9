"""Declare the table of versioned shared-trench plans."""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger
from sqlalchemy import CheckConstraint
from sqlalchemy import DateTime
from sqlalchemy import Float
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from geodata.tables import Base

__all__ = ["TrenchPlanRow"]


class TrenchPlanRow(Base):
    """One version of a plan: its inputs, its result and the trench edges' geometry.

    A re-plan adds a row with the same ``plan_key`` and the next ``version``; old versions
    stay. ``application_ids`` links approvals without a foreign key (the approvals side keeps
    its own frozen copy of the fixed route).
    """

    __tablename__ = "trench_plans"
    __table_args__ = (
        UniqueConstraint("plan_key", "version", name="uq_trench_plans_key_version"),
        CheckConstraint("version >= 1", name="ck_trench_plans_version"),
        CheckConstraint("geom IS NULL OR srid = ST_SRID(geom)", name="ck_trench_plans_srid"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    plan_key: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(30))
    total_cost_cny: Mapped[float] = mapped_column(Float)
    gap: Mapped[float | None] = mapped_column(Float, nullable=True)
    inputs: Mapped[dict[str, Any]] = mapped_column()
    result: Mapped[dict[str, Any]] = mapped_column()
    application_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), default=list)
    srid: Mapped[int] = mapped_column(Integer)
    geom: Mapped[Any] = mapped_column(
        Geometry("MULTILINESTRING", srid=-1, spatial_index=True), nullable=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
