"""Describe the requests and responses of the approval flow (XBase/XCreate/XUpdate/XPublic)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Annotated
from typing import Any
from typing import Literal

import shapely.geometry
from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import RootModel
from pydantic import field_validator
from pydantic import model_validator

from api.approvals.enums import AcceptanceMode
from api.approvals.enums import ApplicantKind
from api.approvals.enums import PermitType
from api.approvals.enums import Role
from api.approvals.enums import Utility
from api.approvals.identity import check_credit_code
from api.approvals.identity import check_id_number
from api.approvals.identity import check_phone

__all__ = [
    "MAX_ATTACHMENT_BYTES",
    "AcceptanceCreate",
    "AcceptancePublic",
    "AgreementCreate",
    "AlternativePublic",
    "ApplicantIdentity",
    "ApplicationCreate",
    "ApplicationPublic",
    "ApplicationUpdate",
    "AttachmentCreate",
    "AttachmentPublic",
    "BundleCreate",
    "BundleMemberPublic",
    "BundlePublic",
    "BundleRouteFix",
    "ConsultationAnswer",
    "ConsultationCreate",
    "ConsultationPublic",
    "DemandCreate",
    "DispatchAccept",
    "DispatchPublic",
    "FeedbackPublic",
    "OpinionCreate",
    "OpportunityPublic",
    "PermitDecide",
    "PermitPublic",
    "PermitReview",
    "PlanningCreate",
    "PlanningPublic",
    "ReasonBody",
    "RouteCreate",
    "RouteFromPlan",
    "RouteVersionList",
    "RouteVersionPublic",
    "TokenPublic",
    "UserCreate",
    "UserPublic",
]

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
_DISTRICT_MAX = 40
_VOLTAGES_KV = frozenset({0.22, 0.4, 10.0, 35.0, 110.0})

IdNumber = Annotated[str, AfterValidator(check_id_number)]
CreditCode = Annotated[str, AfterValidator(check_credit_code)]
Phone = Annotated[str, AfterValidator(check_phone)]
# an id or version sent in a body: PostgreSQL's ``integer`` (a larger one named nothing but
# failed the query with a 500)
DbInt = Annotated[int, Field(ge=0, le=2**31 - 1)]
Text200 = Annotated[str, Field(min_length=1, max_length=200)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ---------------------------------------------------------------- geometry
class LonLat(_Model):
    """A point in WGS 84 (the form's coordinates; the route carries its own CRS)."""

    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    description: str = Field(default="", max_length=200)


def _check_site(value: dict[str, Any]) -> dict[str, Any]:
    if value.get("type") not in {"Point", "Polygon", "MultiPolygon"}:
        msg = "the site is a GeoJSON Point, Polygon or MultiPolygon in WGS 84 (lon, lat)"
        raise ValueError(msg)
    try:
        geom = shapely.geometry.shape(value)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        msg = f"the site is not valid GeoJSON: {exc}"
        raise ValueError(msg) from None
    if geom.is_empty or not geom.is_valid:
        msg = "the site geometry is empty or invalid (self-intersecting?)"
        raise ValueError(msg)
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        msg = "the site coordinates are not lon/lat degrees (WGS 84)"
        raise ValueError(msg)
    return dict(shapely.geometry.mapping(geom))


SiteGeoJSON = Annotated[dict[str, Any], AfterValidator(_check_site)]


# ---------------------------------------------------------------- users and auth
class UserBase(_Model):
    username: Annotated[str, Field(min_length=3, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")]
    real_name: Annotated[str, Field(min_length=1, max_length=100)]
    role: Role
    organisation_code: str | None = None
    phone: Phone | None = None
    id_number: IdNumber | None = None
    city: Annotated[
        str | None,
        Field(max_length=80, description="the city whose GIS data the user works on"),
    ] = None


class UserCreate(UserBase):
    password: Annotated[str, Field(min_length=8, max_length=200)]


class UserPublic(_Public):
    id: int
    username: str
    real_name: str
    role: Role
    organisation_id: int | None
    organisation_code: str | None = None
    city: str | None = None
    is_active: bool


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: dt.datetime


class OrganisationPublic(_Public):
    id: int
    code: str
    name: str
    kind: str
    department_kind: str | None
    district: str | None
    utility: str | None


# ---------------------------------------------------------------- the combined form
class ApplicantIdentity(_Model):
    """实名: a person with an ID number, or an organisation with a credit code."""

    kind: ApplicantKind
    name: Annotated[str, Field(min_length=1, max_length=200)]
    id_number: IdNumber | None = None
    credit_code: CreditCode | None = None
    phone: Phone

    @model_validator(mode="after")
    def _one_identity(self) -> ApplicantIdentity:
        if self.kind is ApplicantKind.person and not self.id_number:
            msg = "a person applies with id_number (resident ID, GB 11643)"
            raise ValueError(msg)
        if self.kind is ApplicantKind.organisation and not self.credit_code:
            msg = "an organisation applies with credit_code (GB 32100)"
            raise ValueError(msg)
        return self


class ResponsiblePerson(_Model):
    """The applicant's 负责人 for this project."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    phone: Phone
    id_number: IdNumber | None = None


class _DemandBase(_Model):
    connection_point: LonLat
    company_code: str | None = None  # a preferred company when several serve the utility
    note: str = Field(default="", max_length=500)


class WaterDemand(_DemandBase):
    utility: Literal[Utility.water]
    flow_m3_per_day: float = Field(gt=0, le=1e6)
    diameter_mm: int = Field(ge=15, le=2000)


class PowerDemand(_DemandBase):
    utility: Literal[Utility.power]
    load_kw: float = Field(gt=0, le=1e6)
    voltage_kv: float

    @field_validator("voltage_kv")
    @classmethod
    def _standard_voltage(cls, value: float) -> float:
        if value not in _VOLTAGES_KV:
            msg = f"a supply voltage in kV, one of {sorted(_VOLTAGES_KV)}"
            raise ValueError(msg)
        return value


class HeatDemand(_DemandBase):
    utility: Literal[Utility.heat]
    load_kw: float = Field(gt=0, le=1e6)
    diameter_mm: int = Field(ge=20, le=1400)


class GasDemand(_DemandBase):
    utility: Literal[Utility.gas]
    flow_m3_per_h: float = Field(gt=0, le=1e6)
    diameter_mm: int = Field(ge=15, le=1000)
    pressure_class: Literal["low", "medium_b", "medium_a", "high"] = "low"


class DrainageDemand(_DemandBase):
    utility: Literal[Utility.drainage]
    flow_m3_per_day: float = Field(gt=0, le=1e7)
    diameter_mm: int = Field(ge=100, le=3000)
    system: Literal["sewage", "storm", "combined"] = "sewage"


class TelecomDemand(_DemandBase):
    utility: Literal[Utility.telecom]
    bandwidth_mbps: float = Field(gt=0, le=1e6)
    duct_count: int = Field(ge=1, le=48)


DemandCreate = Annotated[
    WaterDemand | PowerDemand | HeatDemand | GasDemand | DrainageDemand | TelecomDemand,
    Field(discriminator="utility"),
]


class AttachmentCreate(_Model):
    filename: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^/\\]+$")]
    content_type: Annotated[str, Field(min_length=3, max_length=100)] = "application/octet-stream"
    content_base64: str

    @field_validator("content_base64")
    @classmethod
    def _decodes(cls, value: str) -> str:
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            msg = "content_base64 is not valid base64"
            raise ValueError(msg) from None
        if len(data) > MAX_ATTACHMENT_BYTES:
            msg = f"an attachment is at most {MAX_ATTACHMENT_BYTES} bytes"
            raise ValueError(msg)
        return value

    def content(self) -> bytes:
        return base64.b64decode(self.content_base64)


class ApplicationBase(_Model):
    project_name: Text200
    project_code: Annotated[str, Field(max_length=60)] | None = None
    # the city the works are in, by its name (``GET /cities``); the site must lie in its extent
    city: Annotated[str, Field(min_length=1, max_length=100)]
    district: Annotated[str, Field(min_length=1, max_length=_DISTRICT_MAX)]
    site: SiteGeoJSON
    applicant: ApplicantIdentity
    responsible_person: ResponsiblePerson
    commitment: bool = False  # 承诺制: may start once the route is fixed
    acceptance_mode: AcceptanceMode = AcceptanceMode.joint
    demands: Annotated[list[DemandCreate], Field(min_length=1, max_length=6)]

    @field_validator("demands")
    @classmethod
    def _one_per_utility(cls, value: list[Any]) -> list[Any]:
        seen = [d.utility for d in value]
        dup = sorted({u for u in seen if seen.count(u) > 1})
        if dup:
            msg = f"one demand per utility; repeated: {', '.join(dup)}"
            raise ValueError(msg)
        return value


class ApplicationCreate(ApplicationBase):
    attachments: Annotated[list[AttachmentCreate], Field(max_length=20)] = []


class ApplicationUpdate(ApplicationBase):
    """A returned application, corrected and sent again (the whole form)."""

    version: DbInt
    attachments: Annotated[list[AttachmentCreate], Field(max_length=20)] = []


class DemandPublic(_Public):
    utility: Utility
    company_code: str | None
    fields: dict[str, Any]


class DispatchPublic(_Public):
    id: int
    application_id: int
    utility: Utility
    company_id: int
    company_code: str
    status: str
    dispatched_at: dt.datetime
    accepted_at: dt.datetime | None
    version: DbInt


class ApplicationPublic(_Public):
    id: int
    number: str
    project_name: str
    project_code: str | None
    city: str | None = None  # None only if the city was dropped after filing
    district: str
    site_geojson: dict[str, Any]
    applicant: dict[str, Any]
    responsible_person: dict[str, Any]
    commitment: bool
    acceptance_mode: AcceptanceMode
    status: str
    stage: str
    stage_started_at: dt.datetime
    stage_due_at: dt.datetime | None
    overdue: bool = False
    coordinator_id: int | None
    submitted_at: dt.datetime
    completed_at: dt.datetime | None
    return_reason: str | None
    version: DbInt
    demands: list[DemandPublic]
    dispatches: list[DispatchPublic] = []
    outstanding_permits: list[str] = []

    @field_validator("city", mode="before")
    @classmethod
    def _city_name(cls, value: Any) -> Any:
        return getattr(value, "name", value)  # the stored City row -> its name


# ---------------------------------------------------------------- acting on the flow
class Versioned(_Model):
    version: DbInt | None = None  # the version you read; a stale one gets 409
    # the deadline falls in a year the working-day calendar does not know yet
    deadline_provisional: bool = False


class ReasonBody(Versioned):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class AcceptApplication(Versioned):
    """综合受理: optional company per utility and the project's 负责人 (a user id)."""

    companies: dict[Utility, str] = {}
    coordinator_id: DbInt | None = None


class AgreementCreate(_Model):
    agreement_no: Annotated[str, Field(min_length=1, max_length=60)]
    signed_on: dt.date
    amount_cny: float | None = Field(default=None, ge=0)
    attachment: AttachmentCreate | None = None


class DispatchAccept(Versioned):
    agreement: AgreementCreate


class OpinionCreate(_Model):
    opinion: Annotated[str, Field(min_length=1, max_length=5000)]
    agrees: bool = True


class RouteCreate(_Model):
    """The shared-trench plan reviewed in the survey, as fixed: a FeatureCollection of lines."""

    geojson: dict[str, Any]
    crs: Annotated[str, Field(min_length=4, max_length=50)]  # e.g. "EPSG:32652"
    quantities: dict[str, Any] | None = None  # from the plan / cross-section work, if any
    plan_id: DbInt | None = None
    plan_version: DbInt | None = None
    reason: str | None = Field(default=None, max_length=2000)
    permit_types: list[PermitType] | None = None  # default: all seven
    version: DbInt | None = None  # the application's version


class RouteVersionPublic(_Public):
    id: int
    application_id: int
    version_no: int
    crs: str
    geojson: dict[str, Any]
    quantities: dict[str, Any]
    sha256: str
    plan_id: int | None
    plan_version: int | None
    bundle_id: int | None = None  # the joint route of a bundle (dig once), if any
    reason: str | None
    fixed_by_id: int
    fixed_at: dt.datetime
    superseded_at: dt.datetime | None


RouteVersionList = RootModel[list[RouteVersionPublic]]


class PlanningCreate(_Model):
    """Plan the shared trench from the application's proposals (and co-located ones')."""

    with_applications: Annotated[list[DbInt], Field(max_length=20)] = []
    # the works' date (protection periods); default: the lines' earliest planned start
    on_date: dt.date | None = None
    time_limit_s: float = Field(default=30.0, gt=0, le=600)
    sharing: Literal["proportional", "shapley"] = "proportional"


class AlternativePublic(_Public):
    """One alternative of a planning run; ``plan_key`` is set when it can be fixed."""

    name: str  # joint | separate | overlay | heuristic
    title: str
    cost_cny: float | None  # None: no plan of this kind exists
    feasible: bool
    constraint: str | None  # for an infeasible one: the rules that rule it out, in words
    violations: list[dict[str, Any]] = []  # each broken rule: constraint, label, where, detail
    status: str  # the optimiser's status (optimal, time_limit, heuristic, ...) or not_planned
    trench_length_m: float
    plan_key: str | None = None
    plan_version: int | None = None
    plan_id: int | None = None
    savings_vs_this_cny: float | None = None  # what the best stored plan saves against it


class PlanningPublic(_Public):
    city: str
    application_ids: list[int]
    on_date: dt.date
    best: str  # the name of the cheapest alternative that can be fixed
    alternatives: list[AlternativePublic]


class RouteFromPlan(Versioned):
    """Fix one stored alternative (a trench plan of this application) as the route version."""

    plan_key: Annotated[str, Field(min_length=1, max_length=40)]
    plan_version: DbInt | None = Field(default=None, ge=1)  # default: its latest
    reason: str | None = Field(default=None, max_length=2000)
    permit_types: list[PermitType] | None = None


class OpportunityPublic(_Public):
    """Applications whose lines share roads within the horizon: they could dig once."""

    application_ids: list[int]
    numbers: list[str]
    utilities: list[str]
    roads: list[str]
    group_keys: list[str]
    shared_length_m: float
    window_start: dt.date
    window_end: dt.date
    saving_estimate_cny: float  # the trench the extra applications would not dig


class BundleCreate(_Model):
    """Bundle co-located applications into one joint route (dig once)."""

    application_ids: Annotated[list[DbInt], Field(min_length=2, max_length=20)]
    # the joint works start no earlier than this (default: when the last member is ready)
    not_before: dt.date | None = None
    reason: str | None = Field(default=None, max_length=2000)
    time_limit_s: float = Field(default=30.0, gt=0, le=600)


class BundleRouteFix(_Model):
    """Fix the bundle's joint plan as every member's route version."""

    reason: str | None = Field(default=None, max_length=2000)
    versions: dict[int, int] = {}  # application id -> the version you read (optional)


class BundleMemberPublic(_Public):
    application_id: int
    number: str = ""
    shares: dict[str, float]  # utility -> CNY
    share_cny: float = 0.0  # the application's total share
    alone_cost_cny: float
    window_start: dt.date
    window_end: dt.date
    route_version_id: int | None = None  # its route version of the joint plan, once fixed


class BundlePublic(_Public):
    id: int
    number: str
    city: str | None = None
    plan_id: int
    plan_key: str
    plan_version: int
    total_cost_cny: float
    alone_cost_cny: float
    saving_cny: float = 0.0
    shares_per_utility: dict[str, float] = {}
    window_start: dt.date
    window_end: dt.date
    reason: str | None
    created_at: dt.datetime
    members: list[BundleMemberPublic]


class PermitReview(Versioned):
    """The clerk's review (first level): a recommendation for the chief."""

    recommendation: Literal[
        "approved", "approved_with_conditions", "rejected", "returned", "not_competent"
    ]
    comment: str = Field(default="", max_length=5000)
    conditions: str | None = Field(default=None, max_length=5000)


class PermitDecide(Versioned):
    """The chief's decision (second level); ``send_back`` returns it to the clerk."""

    outcome: Literal[
        "approved", "approved_with_conditions", "rejected", "returned", "not_competent", "send_back"
    ]
    comment: str = Field(default="", max_length=5000)
    conditions: str | None = Field(default=None, max_length=5000)

    @model_validator(mode="after")
    def _conditions_given(self) -> PermitDecide:
        if self.outcome == "approved_with_conditions" and not self.conditions:
            msg = "approved_with_conditions needs the conditions"
            raise ValueError(msg)
        return self


class AttachmentPublic(_Public):
    id: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    owner_kind: str
    owner_id: int | None


class PermitPublic(_Public):
    id: int
    application_id: int
    permit_type: PermitType
    title: str = ""
    department_id: int
    department_code: str = ""
    route_version_id: int
    status: str
    submitted_at: dt.datetime
    due_at: dt.datetime
    overdue: bool = False
    decided_at: dt.datetime | None
    conditions: str | None
    version: DbInt
    attachments: list[AttachmentPublic] = []
    # the deadline falls in a year the working-day calendar does not know yet
    deadline_provisional: bool = False


class FeedbackPublic(_Public):
    id: int
    application_id: int
    company_id: int
    permit_id: int | None
    kind: str
    status: str | None
    message: str
    created_at: dt.datetime


class PressureTest(_Model):
    test_pressure_mpa: float = Field(gt=0, le=20)
    duration_min: float = Field(gt=0, le=1440)
    pressure_drop_mpa: float = Field(ge=0, le=20)
    passed: bool


class AcceptanceCreate(_Model):
    """验收: joint (several utilities at once) or one utility; results per utility."""

    mode: AcceptanceMode
    utilities: Annotated[list[Utility], Field(min_length=1, max_length=6)]
    inspection: dict[str, Any] = Field(min_length=1)  # what was checked -> result
    pressure_test: PressureTest | None = None
    passed: bool
    appointment_at: dt.datetime | None = None  # 预约接通
    opinion: str = Field(default="", max_length=5000)
    version: DbInt | None = None  # the application's version

    @model_validator(mode="after")
    def _mode_matches(self) -> AcceptanceCreate:
        if self.mode is AcceptanceMode.per_utility and len(self.utilities) != 1:
            msg = "a per-utility acceptance names exactly one utility"
            raise ValueError(msg)
        if len(set(self.utilities)) != len(self.utilities):
            msg = "utilities repeat"
            raise ValueError(msg)
        if self.appointment_at is not None and self.appointment_at.tzinfo is None:
            msg = "appointment_at needs a time zone"
            raise ValueError(msg)
        return self


class AcceptancePublic(_Public):
    id: int
    application_id: int
    mode: str
    utilities: list[str]
    inspection: dict[str, Any]
    pressure_test: dict[str, Any] | None
    passed: bool
    appointment_at: dt.datetime | None
    opinion: str
    recorded_by_id: int
    recorded_at: dt.datetime


class ConsultationCreate(_Model):
    """前置咨询: before any application."""

    project_name: Text200
    utilities: Annotated[list[Utility], Field(min_length=1, max_length=6)]
    question: Annotated[str, Field(min_length=1, max_length=5000)]
    site: SiteGeoJSON | None = None


class ConsultationAnswer(Versioned):
    answer: Annotated[str, Field(min_length=1, max_length=5000)]


class ConsultationPublic(_Public):
    id: int
    asker_id: int
    project_name: str
    utilities: list[str]
    question: str
    site_geojson: dict[str, Any] | None
    status: str
    answer: str | None
    answered_by_id: int | None
    answered_at: dt.datetime | None
    created_at: dt.datetime
    version: DbInt


class DueItem(BaseModel):
    kind: str
    id: int
    application_id: int
    application_number: str
    title: str
    status: str
    due_at: dt.datetime
    overdue: bool


class AuditPublic(_Public):
    id: int
    at: dt.datetime
    actor_id: int | None
    actor_name: str
    actor_role: str
    entity_kind: str
    entity_id: int
    application_id: int | None
    action: str
    from_status: str | None
    to_status: str | None
    reason: str | None
