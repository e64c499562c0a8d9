"""Declare the tables of the joint approval flow on the shared declarative base."""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import CheckConstraint
from sqlalchemy import Date
from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from api.approvals import calendar
from geodata.tables import Base
from geodata.tables import City

__all__ = [
    "AcceptanceRecord",
    "ApiToken",
    "Application",
    "Attachment",
    "AuditLog",
    "Bundle",
    "BundleMember",
    "ConstructionAgreement",
    "Consultation",
    "Demand",
    "Dispatch",
    "FeedbackEvent",
    "IdempotencyKey",
    "LoginAttempt",
    "Organisation",
    "Permit",
    "PermitDecision",
    "RouteDocument",
    "RouteVersion",
    "SurveyOpinion",
    "User",
]

TS = DateTime(timezone=True)


def _now() -> Any:
    return mapped_column(TS, server_default=func.now())


class Organisation(Base):
    """A department (市城管执法局, 交警支队, 自然资源局, 住建局, 区城管) or a utility company."""

    __tablename__ = "appr_organisations"
    __table_args__ = (
        CheckConstraint("kind IN ('department', 'utility_company')", name="ck_appr_org_kind"),
        CheckConstraint(
            "(kind = 'department') = (department_kind IS NOT NULL)", name="ck_appr_org_dept"
        ),
        CheckConstraint(
            "(kind = 'utility_company') = (utility IS NOT NULL)", name="ck_appr_org_util"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    department_kind: Mapped[str | None] = mapped_column(String(30), nullable=True)
    district: Mapped[str | None] = mapped_column(String(40), nullable=True)
    utility: Mapped[str | None] = mapped_column(String(20), nullable=True)


class User(Base):
    """A real-name user (实名制): every decision records who took it."""

    __tablename__ = "appr_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    real_name: Mapped[str] = mapped_column(String(100))
    id_number: Mapped[str | None] = mapped_column(String(18), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    role: Mapped[str] = mapped_column(String(30))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("appr_organisations.id"), nullable=True
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = _now()
    # the city whose GIS data the user works on; None = none
    city: Mapped[str | None] = mapped_column(String(80), nullable=True)

    organisation: Mapped[Organisation | None] = relationship(lazy="joined")


class LoginAttempt(Base):
    """One login try: throttling and lock-out count the recent failures per name and address."""

    __tablename__ = "appr_login_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(TS)
    username: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)


class ApiToken(Base):
    """An opaque bearer token; only its SHA-256 is stored."""

    __tablename__ = "appr_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("appr_users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = _now()
    expires_at: Mapped[dt.datetime] = mapped_column(TS)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Consultation(Base):
    """前置咨询: a question about a planned project, answered before any application."""

    __tablename__ = "appr_consultations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asker_id: Mapped[int] = mapped_column(ForeignKey("appr_users.id"))
    project_name: Mapped[str] = mapped_column(String(200))
    utilities: Mapped[list[str]] = mapped_column(JSONB)
    question: Mapped[str] = mapped_column(Text)
    site_geojson: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("appr_users.id"), nullable=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column(TS, nullable=True)
    created_at: Mapped[dt.datetime] = _now()
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Application(Base):
    """The one combined form (一张表单) and where it stands in the flow."""

    __tablename__ = "appr_applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("appr_users.id"))
    project_name: Mapped[str] = mapped_column(String(200))
    project_code: Mapped[str | None] = mapped_column(String(60), nullable=True)
    district: Mapped[str] = mapped_column(String(40))
    # the city the works are in (its roads, proposals and context); set on every submission,
    # NULL only if an operator dropped the city afterwards (fixed route versions are frozen)
    city_id: Mapped[int | None] = mapped_column(
        ForeignKey("cities.id", ondelete="SET NULL"), nullable=True, index=True
    )
    site_geojson: Mapped[dict[str, Any]]
    site: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=True))
    applicant: Mapped[dict[str, Any]]  # kind, name, id_number / credit_code, phone
    responsible_person: Mapped[dict[str, Any]]  # the applicant's 负责人: name, phone
    commitment: Mapped[bool] = mapped_column(Boolean, default=False)
    acceptance_mode: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(30))
    stage: Mapped[str] = mapped_column(String(30))
    stage_started_at: Mapped[dt.datetime] = mapped_column(TS)
    stage_due_at: Mapped[dt.datetime | None] = mapped_column(TS, nullable=True)
    coordinator_id: Mapped[int | None] = mapped_column(ForeignKey("appr_users.id"), nullable=True)
    submitted_at: Mapped[dt.datetime] = mapped_column(TS)
    completed_at: Mapped[dt.datetime | None] = mapped_column(TS, nullable=True)
    return_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer)

    demands: Mapped[list[Demand]] = relationship(
        order_by="Demand.id", cascade="all, delete-orphan", lazy="selectin"
    )
    dispatches: Mapped[list[Dispatch]] = relationship(order_by="Dispatch.id", lazy="selectin")
    city: Mapped[City | None] = relationship(lazy="select")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def deadline_provisional(self) -> bool:
        """The stage deadline counted a year no calendar (library or city file) knows."""
        return calendar.is_provisional(self.stage_started_at, self.stage_due_at)


class Demand(Base):
    """One utility's demand inside the combined form."""

    __tablename__ = "appr_demands"
    __table_args__ = (UniqueConstraint("application_id", "utility"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("appr_applications.id", ondelete="CASCADE")
    )
    utility: Mapped[str] = mapped_column(String(20))
    company_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    fields: Mapped[dict[str, Any]]  # flow/load, diameter/voltage, connection point, ...


class Dispatch(Base):
    """The push of an application to one utility company (推送), accepted at once (实时受理)."""

    __tablename__ = "appr_dispatches"
    __table_args__ = (UniqueConstraint("application_id", "utility"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("appr_applications.id"))
    utility: Mapped[str] = mapped_column(String(20))
    company_id: Mapped[int] = mapped_column(ForeignKey("appr_organisations.id"))
    status: Mapped[str] = mapped_column(String(20))
    dispatched_at: Mapped[dt.datetime] = mapped_column(TS)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(TS, nullable=True)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("appr_users.id"), nullable=True)
    version: Mapped[int] = mapped_column(Integer)

    company: Mapped[Organisation] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def company_code(self) -> str:
        return self.company.code


class ConstructionAgreement(Base):
    """委托施工协议 signed between the applicant and one company."""

    __tablename__ = "appr_agreements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dispatch_id: Mapped[int] = mapped_column(ForeignKey("appr_dispatches.id"), unique=True)
    agreement_no: Mapped[str] = mapped_column(String(60))
    signed_on: Mapped[dt.date] = mapped_column(Date)
    amount_cny: Mapped[float | None] = mapped_column(nullable=True)
    attachment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appr_attachments.id"), nullable=True
    )
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("appr_users.id"))
    recorded_at: Mapped[dt.datetime] = _now()


class SurveyOpinion(Base):
    """One department's or company's joint-survey opinion (联合踏勘意见)."""

    __tablename__ = "appr_survey_opinions"
    __table_args__ = (UniqueConstraint("application_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("appr_applications.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("appr_organisations.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("appr_users.id"))
    real_name: Mapped[str] = mapped_column(String(100))
    opinion: Mapped[str] = mapped_column(Text)
    agrees: Mapped[bool] = mapped_column(Boolean)
    recorded_at: Mapped[dt.datetime] = mapped_column(TS)


class RouteVersion(Base):
    """A frozen copy of the fixed route; a change makes a new version, never an edit."""

    __tablename__ = "appr_route_versions"
    __table_args__ = (UniqueConstraint("application_id", "version_no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("appr_applications.id"))
    version_no: Mapped[int] = mapped_column(Integer)
    crs: Mapped[str] = mapped_column(String(50))
    geojson: Mapped[dict[str, Any]]
    quantities: Mapped[dict[str, Any]]
    sha256: Mapped[str] = mapped_column(String(64))
    # the trench optimiser's stored plan (geodata.plan_tables); no FK on purpose
    plan_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    plan_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # the joint route of several applications this version is (dig once), if any
    bundle_id: Mapped[int | None] = mapped_column(
        ForeignKey("appr_bundles.id"), nullable=True, index=True
    )
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    fixed_by_id: Mapped[int] = mapped_column(ForeignKey("appr_users.id"))
    fixed_at: Mapped[dt.datetime] = mapped_column(TS)
    superseded_at: Mapped[dt.datetime | None] = mapped_column(TS, nullable=True)
    # migration 0005_analysis: the city the version was analysed in (stored, never guessed
    # again) and the hash of what it was fixed from (an identical re-fix is no new version)
    city: Mapped[str | None] = mapped_column(String(100), nullable=True)
    inputs_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RouteDocument(Base):
    """A document frozen with a route version: a permit's sheet PDF, the packet, a section
    drawing or the quantities (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "appr_route_documents"
    __table_args__ = (
        UniqueConstraint("route_version_id", "name"),
        CheckConstraint(
            "kind IN ('sheet', 'packet', 'section', 'quantities')", name="ck_appr_route_doc_kind"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    route_version_id: Mapped[int] = mapped_column(ForeignKey("appr_route_versions.id"))
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(255))
    permit_type: Mapped[str | None] = mapped_column(String(30), nullable=True)
    edge: Mapped[str | None] = mapped_column(String(255), nullable=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)


class Bundle(Base):
    """Dig once across applications: one joint route for co-located applications of a city.

    The joint shared-trench plan (``plan_id``; no FK on purpose, like ``RouteVersion``) is
    paid in the ``shares`` of each member (per utility, summing to ``total_cost_cny``), in
    one joint construction window; fixing it gives every member a route version of it.
    """

    __tablename__ = "appr_bundles"
    __table_args__ = (CheckConstraint("window_end >= window_start", name="ck_appr_bundles_window"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True)
    city_id: Mapped[int | None] = mapped_column(
        ForeignKey("cities.id", ondelete="SET NULL"), nullable=True, index=True
    )
    plan_id: Mapped[int] = mapped_column(Integer)
    plan_key: Mapped[str] = mapped_column(String(40))
    plan_version: Mapped[int] = mapped_column(Integer)
    total_cost_cny: Mapped[float]
    alone_cost_cny: Mapped[float]  # each member planning its own shared trench
    window_start: Mapped[dt.date] = mapped_column(Date)
    window_end: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("appr_users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(TS)

    members: Mapped[list[BundleMember]] = relationship(
        order_by="BundleMember.application_id", cascade="all, delete-orphan", lazy="selectin"
    )


class BundleMember(Base):
    """One application of a bundle and what it pays, per utility."""

    __tablename__ = "appr_bundle_members"

    bundle_id: Mapped[int] = mapped_column(
        ForeignKey("appr_bundles.id", ondelete="CASCADE"), primary_key=True
    )
    application_id: Mapped[int] = mapped_column(
        ForeignKey("appr_applications.id"), primary_key=True, index=True
    )
    shares: Mapped[dict[str, float]] = mapped_column(JSONB)  # utility -> CNY
    alone_cost_cny: Mapped[float]  # its own shared trench, planned alone
    window_start: Mapped[dt.date] = mapped_column(Date)  # its own lines' window
    window_end: Mapped[dt.date] = mapped_column(Date)


class Permit(Base):
    """One of the parallel permits or opinions, owned by one department."""

    __tablename__ = "appr_permits"
    __table_args__ = (UniqueConstraint("application_id", "permit_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("appr_applications.id"))
    permit_type: Mapped[str] = mapped_column(String(30))
    department_id: Mapped[int] = mapped_column(ForeignKey("appr_organisations.id"))
    route_version_id: Mapped[int] = mapped_column(ForeignKey("appr_route_versions.id"))
    status: Mapped[str] = mapped_column(String(30))
    submitted_at: Mapped[dt.datetime] = mapped_column(TS)
    due_at: Mapped[dt.datetime] = mapped_column(TS)
    decided_at: Mapped[dt.datetime | None] = mapped_column(TS, nullable=True)
    conditions: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer)

    department: Mapped[Organisation] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def deadline_provisional(self) -> bool:
        """The permit's deadline counted a year no calendar (library or city file) knows."""
        return calendar.is_provisional(self.submitted_at, self.due_at)


class PermitDecision(Base):
    """One level of the hierarchical approval (层级审批): clerk review or chief decision."""

    __tablename__ = "appr_permit_decisions"
    __table_args__ = (
        CheckConstraint("level IN ('clerk', 'chief')", name="ck_appr_decision_level"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    permit_id: Mapped[int] = mapped_column(ForeignKey("appr_permits.id"))
    route_version_id: Mapped[int] = mapped_column(ForeignKey("appr_route_versions.id"))
    level: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[int] = mapped_column(ForeignKey("appr_users.id"))
    real_name: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(30))
    comment: Mapped[str] = mapped_column(Text, default="")
    conditions: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_at: Mapped[dt.datetime] = mapped_column(TS)


class FeedbackEvent(Base):
    """同步反馈: one row per company, so each company lists its own events."""

    __tablename__ = "appr_feedback_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("appr_applications.id"))
    company_id: Mapped[int] = mapped_column(ForeignKey("appr_organisations.id"))
    permit_id: Mapped[int | None] = mapped_column(ForeignKey("appr_permits.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str | None] = mapped_column(String(30), nullable=True)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(TS)


class AcceptanceRecord(Base):
    """验收: a joint or a single-utility acceptance with inspection and pressure test."""

    __tablename__ = "appr_acceptances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("appr_applications.id"))
    mode: Mapped[str] = mapped_column(String(20))
    utilities: Mapped[list[str]] = mapped_column(JSONB)
    inspection: Mapped[dict[str, Any]]
    pressure_test: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    passed: Mapped[bool] = mapped_column(Boolean)
    appointment_at: Mapped[dt.datetime | None] = mapped_column(TS, nullable=True)
    opinion: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("appr_users.id"))
    real_name: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime] = mapped_column(TS)


class Attachment(Base):
    """A document kept in the database with its SHA-256 (form files, agreements, permit maps)."""

    __tablename__ = "appr_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("appr_applications.id"), nullable=True
    )
    owner_kind: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("appr_users.id"), nullable=True)
    created_at: Mapped[dt.datetime] = _now()


class AuditLog(Base):
    """Append-only (a trigger refuses UPDATE, DELETE and TRUNCATE): who, action, from, to, when."""

    __tablename__ = "appr_audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(TS)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("appr_users.id"), nullable=True)
    actor_name: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(30))
    entity_kind: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int] = mapped_column(Integer)
    application_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(30), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(30), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)


class IdempotencyKey(Base):
    """A stored response per (user, Idempotency-Key): a retried request is answered from here."""

    __tablename__ = "appr_idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("appr_users.id"))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[Any | None] = mapped_column(JSONB, nullable=True)
    created_at: Mapped[dt.datetime] = _now()
