"""Create the sample city's demo applications through the approval flow's own service steps.

The demo is what a reviewer opening the workbench of a fresh ``cotrench demo load`` should
find. The sample city's proposed lines are matched and grouped (the co-location pipeline of
:mod:`api.services.colocation`). Two applications whose lines share 宣信街 (Harbin) within the
horizon, the synthetic projects P03 (water, power, gas, drainage) and P05 (gas, drainage),
are carried by the demo users through 综合受理, 推送 and 实时受理; the companies' designers
submit their lines for them; the coordinator sees the coordination opportunity and bundles
them into one joint route (:mod:`api.services.bundles`: one shared-trench plan from the real
optimiser, cost shares per application and utility, one construction window); after the
joint survey's opinions the joint route is fixed as route version 1 of both, with the
parallel permits open (two of P03's acted on: one decided by clerk and chief, one waiting for
the chief). A third application (P06, 道外区) is left at ``submitted`` for the acceptor, and
a pre-consultation (P10) is open for the bureau to answer.

Every step goes through :mod:`api.approvals.service`, :mod:`~api.approvals.survey`,
:mod:`~api.approvals.permits` and :mod:`~api.approvals.consultations`, each by a user the
role matrix (:func:`api.approvals.auth.authorize`) allows. The project codes (and the
consultation's project name) are the demo's keys: what already exists is left alone, so
running it twice adds nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from api.approvals import auth
from api.approvals import calendar
from api.approvals import consultations
from api.approvals import permits
from api.approvals import service
from api.approvals import survey
from api.approvals.enums import Action
from api.approvals.enums import PermitType
from api.approvals.enums import Utility
from api.approvals.errors import PreconditionError
from api.approvals.models import Application
from api.approvals.models import Bundle
from api.approvals.models import BundleMember
from api.approvals.models import Consultation
from api.approvals.models import Organisation
from api.approvals.models import Permit
from api.approvals.models import User
from api.approvals.queries import latest_route
from api.approvals.schemas import AcceptApplication
from api.approvals.schemas import AgreementCreate
from api.approvals.schemas import ApplicationCreate
from api.approvals.schemas import BundleCreate
from api.approvals.schemas import BundleRouteFix
from api.approvals.schemas import ConsultationCreate
from api.approvals.schemas import DispatchAccept
from api.approvals.schemas import OpinionCreate
from api.approvals.schemas import PermitDecide
from api.approvals.schemas import PermitReview
from api.approvals.seed import COMPANIES
from api.services import bundles
from api.services.colocation import add_layer_proposals
from api.services.graphs import RoadGraphs
from geodata.colocation_tables import ColocationGroupRow
from geodata.plan_tables import TrenchPlanRow
from geodata.storage import CityInfo
from geodata.storage import find_layers
from geodata.storage import get_city
from geodata.storage import read_features
from geodata.tables import ProposedLineRow

__all__ = [
    "DEMO_CITY",
    "DemoApplication",
    "DemoBundle",
    "DemoResult",
    "create_demo_applications",
    "describe_demo",
]

logger = logging.getLogger(__name__)

DEMO_CITY = "harbin"
PLAN_TIME_LIMIT_S = 30.0


@dataclass(frozen=True)
class _Project:
    key: str  # the sample city's project, e.g. "P03" (proposed lines P03-water, ...)
    code: str  # 项目代码 (synthetic); the demo's key for the application
    district: str
    applicant: str
    credit_code: str  # synthetic, with a valid GB 32100 check character


MAIN = _Project(
    "P03",
    "2026-230103-47-01-000303",
    "南岗区",
    "示例商业置业有限公司（合成）",
    "91230103MA1CT0P03B",
)
PARTNER = _Project(
    "P05",
    "2026-230103-47-01-000505",
    "南岗区",
    "示例医疗投资有限公司（合成）",
    "91230103MA1CT0P05H",
)
WAITING = _Project(
    "P06",
    "2026-230104-47-01-000606",
    "道外区",
    "示例产业园开发有限公司（合成）",
    "91230104MA1CT0P063",
)
CONSULTED = "P10"

# the company each utility's demand goes to (the seed's first one of each utility)
_COMPANY_FOR = {str(u): code for code, (_, u) in reversed(list(COMPANIES.items()))}
_DEMAND_FIELDS: dict[str, dict[str, Any]] = {
    "water": {"flow_m3_per_day": 180.0},
    "power": {"load_kw": 1250.0, "voltage_kv": 10},
    "heat": {"load_kw": 2400.0},
    "gas": {"flow_m3_per_h": 60.0, "pressure_class": "medium_b"},
    "drainage": {"flow_m3_per_day": 160.0, "system": "sewage"},
    "telecom": {"bandwidth_mbps": 1000.0, "duct_count": 6},
}
_DEFAULT_DIAMETER_MM = {"water": 100, "heat": 150, "gas": 110, "drainage": 400}
_AGREEMENT_CNY = {
    "water": 86_000.0,
    "power": 240_000.0,
    "gas": 72_000.0,
    "drainage": 130_000.0,
    "heat": 310_000.0,
    "telecom": 45_000.0,
}
# permits acted on: (type, clerk's recommendation, chief's outcome or None = waits, conditions)
_DECIDED: tuple[tuple[PermitType, str, str | None, str | None], ...] = (
    (
        PermitType.traffic_opinion,
        "approved_with_conditions",
        "approved_with_conditions",
        "夜间 22:00-6:00 半幅占道施工, 设置围挡和导向标志",
    ),
    (PermitType.road_excavation, "approved", None, None),
)


@dataclass(frozen=True)
class DemoApplication:
    """One demo application as it stands (made now, or found from an earlier run)."""

    id: int
    number: str
    project_name: str
    status: str
    created: bool
    # (permit type, status, department code), in the order the permits were opened
    permits: tuple[tuple[str, str, str], ...] = ()
    plan_key: str | None = None
    plan_version: int | None = None
    route_version: int | None = None


@dataclass(frozen=True)
class DemoBundle:
    """The demo's joint route of P03 and P05 (dig once)."""

    id: int
    number: str
    application_ids: tuple[int, ...]
    plan_key: str
    plan_version: int
    total_cost_cny: float
    alone_cost_cny: float
    shares: dict[int, dict[str, float]]  # application id -> utility -> CNY
    window: tuple[dt.date, dt.date]


@dataclass(frozen=True)
class DemoResult:
    """What :func:`create_demo_applications` made or found."""

    city: str
    main: DemoApplication
    waiting: DemoApplication
    consultation_id: int
    consultation_created: bool
    partner: DemoApplication | None = None  # bundled with ``main``
    bundle: DemoBundle | None = None
    groups: int = 0  # co-location groups of the city

    @property
    def created(self) -> bool:
        """Whether this run added anything."""
        return self.main.created or self.waiting.created or self.consultation_created


def create_demo_applications(
    session: Session,
    *,
    city: str = DEMO_CITY,
    now: dt.datetime | None = None,
    graphs: RoadGraphs | None = None,
) -> DemoResult:
    """Create (once) the demo applications of the sample city; return what stands.

    Parameters
    ----------
    session
        The caller owns the transaction (nothing is committed here), so the demo is stored
        whole or not at all.
    city
        The loaded sample city whose proposed lines P03, P05, P06 and P10 the demo uses.
    now
        The current instant (now if None): the steps are a minute apart, the first one
        45 minutes before it.
    graphs
        The road-graph cache to plan on (a fresh one if None, as outside the app).

    Returns
    -------
    DemoResult

    Raises
    ------
    PreconditionError
        If the demo users are missing (run :func:`api.approvals.seed.seed_sample_city`
        first), the city has no proposed lines of a demo project, or P03 and P05 form no
        co-location group.
    geodata.errors.CityNotFoundError
        If ``city`` is not loaded.
    """
    info = get_city(session, city)
    users = _users(session)
    graphs = graphs or RoadGraphs()
    now = now or dt.datetime.now(dt.UTC)
    clock = _clock(now - dt.timedelta(minutes=45))
    groups = _match_proposals(session, graphs, info)
    consultation, asked = _consultation(session, users, info, clock)
    main, partner, bundle = _bundled_applications(session, graphs, users, info, clock)
    waiting = _waiting_application(session, users, info, clock)
    logger.info(
        "demo: %s %s, %s %s, consultation #%d (%s)",
        main.number,
        "created" if main.created else "already there",
        waiting.number,
        "created" if waiting.created else "already there",
        consultation.id,
        "created" if asked else "already there",
    )
    return DemoResult(info.name, main, waiting, consultation.id, asked, partner, bundle, groups)


def describe_demo(result: DemoResult, *, base_url: str, password: str) -> list[str]:
    """Lines telling a person what the demo holds, whom to log in as and where to look.

    ``base_url`` is where ``cotrench serve`` listens, e.g. ``http://127.0.0.1:8000``.
    """
    base = base_url.rstrip("/")
    main, waiting = result.main, result.waiting

    def state(created: bool) -> str:
        return "created" if created else "already there"

    lines = [
        f"demo application {main.number} ({main.project_name}): {main.status}, "
        f"route v{main.route_version} from trench plan {main.plan_key} v{main.plan_version} "
        f"({state(main.created)})",
        f"  review page:   {base}/workbench/applications/{main.id}",
        f"  permit sheets: {base}/permits/applications/{main.id}/packet.pdf "
        f"(one per map permit: {base}/permits/applications/{main.id}/sheets/<type>.pdf)",
        f"  trench plan:   {base}/workbench/plans/{main.plan_key}",
    ]
    for permit_type, status, department in main.permits:
        who = {
            "submitted": f"{department}-clerk reviews",
            "in_review": f"{department}-chief decides",
        }
        lines.append(f"  permit {permit_type}: {status} ({who.get(status, 'decided')})")
    partner, bundle = result.partner, result.bundle
    if partner is not None:
        lines += [
            f"bundled application {partner.number} ({partner.project_name}): {partner.status}, "
            f"route v{partner.route_version} of the same joint plan ({state(partner.created)})",
            f"  review page:   {base}/workbench/applications/{partner.id}",
        ]
    if bundle is not None:
        saving = bundle.alone_cost_cny - bundle.total_cost_cny
        lines += [
            f"joint route {bundle.number} (dig once, 宣信街): {bundle.total_cost_cny:,.0f} CNY "
            f"together vs {bundle.alone_cost_cny:,.0f} CNY alone (saves {saving:,.0f} CNY), "
            f"window {bundle.window[0]} .. {bundle.window[1]}",
            f"  bundle:        {base}/approvals/bundles/{bundle.id}",
            f"  joint plan:    {base}/workbench/plans/{bundle.plan_key}",
            f"  opportunities: {base}/approvals/opportunities?city={result.city}",
        ]
        for app_id, shares in bundle.shares.items():
            parts = ", ".join(f"{u} {c:,.0f}" for u, c in shares.items())
            lines.append(f"  share of application #{app_id}: {parts} CNY")
    lines += [
        f"co-location groups of {result.city}: {result.groups} "
        f"({base}/proposals/{result.city}/groups)",
        f"submitted application {waiting.number} ({waiting.project_name}): {waiting.status}, "
        f"for the acceptor to accept ({state(waiting.created)})",
        f"  {base}/workbench/applications/{waiting.id}",
        f"pre-consultation #{result.consultation_id}: open, for the acceptor or coordinator to "
        f"answer (POST {base}/approvals/consultations/{result.consultation_id}/answer) "
        f"({state(result.consultation_created)})",
        f"log in at {base}/workbench/login with password {password!r} as: acceptor, coordinator, "
        "applicant, cgj-chief, jjzd-chief, dist-nangang-clerk, water-1-staff, ...",
    ]
    return lines


# ---------------------------------------------------------------- the three demo items
def _consultation(
    session: Session, users: dict[str, User], city: CityInfo, clock: Iterator[dt.datetime]
) -> tuple[Consultation, bool]:
    """前置咨询 about P10, asked by the applicant and left open for the bureau."""
    lines = _project_lines(session, city, CONSULTED)
    name = str(lines["project"].iloc[0])
    applicant = users["applicant"]
    found = session.scalars(
        select(Consultation).where(
            Consultation.asker_id == applicant.id, Consultation.project_name == name
        )
    ).first()
    if found is not None:
        return found, False
    road = _road_name(session, city, lines)
    body = ConsultationCreate(
        project_name=name,
        utilities=sorted(set(lines["utility"])),
        question=f"{road}沿线拟建项目的外线工程能否与道路改造同步、超前建设? 需提前准备哪些材料?",
        site=_site(lines, city),
    )
    _allow(session, applicant, Action.ask_consultation)
    row = consultations.ask_consultation(
        session=session, actor=applicant, body=body, now=next(clock)
    )
    return row, True


def _bundled_applications(
    session: Session,
    graphs: RoadGraphs,
    users: dict[str, User],
    city: CityInfo,
    clock: Iterator[dt.datetime],
) -> tuple[DemoApplication, DemoApplication | None, DemoBundle | None]:
    """P03 and P05 (lines along 宣信街) through the survey, bundled into one joint route.

    Each goes through acceptance, dispatch and the companies' acceptance; the companies'
    designers submit its lines (the sample's P03 and P05 lines become the application's);
    the coordinator sees the two as a coordination opportunity and bundles them; after the
    joint survey's opinions the joint plan is fixed as the route version of both, and two of
    P03's permits are acted on.
    """
    found = _find(session, users, MAIN)
    if found is not None:
        partner = _find(session, users, PARTNER)
        return (
            _summary(session, found, created=False),
            None if partner is None else _summary(session, partner, created=False),
            _bundle_summary(session, found.id),
        )
    coordinator = users["coordinator"]
    lines = {p.key: _project_lines(session, city, p.key) for p in (MAIN, PARTNER)}
    apps = {
        p.key: _to_survey(session, users, city, project=p, lines=lines[p.key], clock=clock)
        for p in (MAIN, PARTNER)
    }
    for key, app in apps.items():
        _submit_lines(session, lines[key], app)

    # dig once: the two share 宣信街 within the horizon; bundle them into one joint route
    opportunities = bundles.find_opportunities(
        session, graphs, city=city.name, application_id=apps[MAIN.key].id
    )
    ids = sorted(a.id for a in apps.values())
    if not any(o.application_ids == tuple(ids) for o in opportunities):
        msg = f"demo: {MAIN.key} and {PARTNER.key} form no co-location group in {city.name!r}"
        raise PreconditionError(msg, [MAIN.key, PARTNER.key])
    for app in apps.values():
        _allow(session, coordinator, Action.fix_route, app)
    bundle = bundles.create_bundle(
        session=session,
        graphs=graphs,
        actor=coordinator,
        body=BundleCreate(
            application_ids=ids,
            reason="宣信街同沟同步开挖 (dig once)",
            time_limit_s=PLAN_TIME_LIMIT_S,
        ),
        now=next(clock),
    )

    # 联合勘察: every department, the district and each company of both applications
    G = graphs.get(session, city).G  # noqa: N806 - networkx's name
    detour = _protected_roads(G, pd.concat(lines.values()), bundle.window_start)
    for app in apps.values():
        for org in survey.required_survey_organisations(session, app):
            user = users[f"{org.code}-{'staff' if org.utility else 'clerk'}"]
            _allow(session, user, Action.record_opinion, app)
            survey.record_opinion(
                session=session,
                actor=user,
                application_id=app.id,
                body=OpinionCreate(opinion=_opinion(org, detour)),
                now=next(clock),
            )
    reason = f"联合勘察意见一致, 按联合路由 {bundle.number} 确定 ({MAIN.key}+{PARTNER.key} 共沟)"
    if detour:
        reason += f" ({'; '.join(detour)}, 路由避让)"
    bundles.fix_bundle_route(
        session=session,
        actor=coordinator,
        bundle_id=bundle.id,
        body=BundleRouteFix(reason=reason),
        now=next(clock),
    )
    main = apps[MAIN.key]
    _decide_permits(session, users, main, clock)
    session.flush()
    return (
        _summary(session, main, created=True),
        _summary(session, apps[PARTNER.key], created=True),
        _bundle_summary(session, main.id),
    )


def _to_survey(
    session: Session,
    users: dict[str, User],
    city: CityInfo,
    *,
    project: _Project,
    lines: gpd.GeoDataFrame,
    clock: Iterator[dt.datetime],
) -> Application:
    """一张表单 -> 综合受理, 推送 -> 实时受理 by each company: the joint survey starts."""
    orgs = {o.id: o for o in session.scalars(select(Organisation))}
    applicant, acceptor, coordinator = (users[u] for u in ("applicant", "acceptor", "coordinator"))
    _allow(session, applicant, Action.submit_application)
    app = service.submit_application(
        session=session, actor=applicant, form=_form(lines, city, project), now=next(clock)
    )
    _allow(session, acceptor, Action.accept_application, app)
    app = service.accept_application(
        session=session,
        actor=acceptor,
        application_id=app.id,
        body=AcceptApplication(
            companies={Utility(d.utility): _COMPANY_FOR[d.utility] for d in app.demands},
            coordinator_id=coordinator.id,
            version=app.version,
        ),
        now=next(clock),
    )
    # 实时受理 with the signed 委托施工协议; the last one starts the joint survey
    for dispatch in list(app.dispatches):
        staff = users[f"{orgs[dispatch.company_id].code}-staff"]
        when = next(clock)
        _allow(session, staff, Action.accept_dispatch, dispatch)
        service.accept_dispatch(
            session=session,
            actor=staff,
            dispatch_id=dispatch.id,
            body=DispatchAccept(
                agreement=AgreementCreate(
                    agreement_no=f"WT-{app.number}-{dispatch.utility}",
                    signed_on=calendar.local_date(when),
                    amount_cny=_AGREEMENT_CNY.get(dispatch.utility),
                ),
                version=dispatch.version,
            ),
            now=when,
        )
    return app


def _submit_lines(session: Session, lines: gpd.GeoDataFrame, app: Application) -> None:
    """The companies' designers submit the sample's lines of the project for the application.

    The sample city package already holds them (matched and grouped with every proposal of
    the city); submitting marks them as the application's.
    """
    session.execute(
        update(ProposedLineRow)
        .where(ProposedLineRow.id.in_([int(i) for i in lines["id"]]))
        .values(application_id=app.id)
    )


def _decide_permits(
    session: Session, users: dict[str, User], app: Application, clock: Iterator[dt.datetime]
) -> None:
    """层级审批: one opinion decided by clerk and chief, one waiting for the chief."""
    orgs = {o.id: o for o in session.scalars(select(Organisation))}
    for permit_type, recommendation, outcome, conditions in _DECIDED:
        permit = session.scalars(
            select(Permit).where(Permit.application_id == app.id, Permit.permit_type == permit_type)
        ).one()
        code = orgs[permit.department_id].code
        clerk, chief = users[f"{code}-clerk"], users[f"{code}-chief"]
        _allow(session, clerk, Action.review_permit, permit)
        permits.review_permit(
            session=session,
            actor=clerk,
            permit_id=permit.id,
            body=PermitReview(
                recommendation=recommendation,  # type: ignore[arg-type]
                comment="材料齐全, 路由与联合勘察意见一致",
                conditions=conditions,
                version=permit.version,
            ),
            now=next(clock),
        )
        if outcome is not None:
            _allow(session, chief, Action.decide_permit, permit)
            permits.decide_permit(
                session=session,
                actor=chief,
                permit_id=permit.id,
                body=PermitDecide(
                    outcome=outcome,  # type: ignore[arg-type]
                    comment="同意",
                    conditions=conditions,
                    version=permit.version,
                ),
                now=next(clock),
            )


def _match_proposals(session: Session, graphs: RoadGraphs, city: CityInfo) -> int:
    """Match, check and group the city's proposed lines not matched yet; count its groups."""
    for layer in find_layers(session, city=city.name, kind="proposed_lines"):
        add_layer_proposals(session, graphs, city=city.name, layer_id=layer.id)
    return int(
        session.scalar(
            select(func.count())
            .select_from(ColocationGroupRow)
            .where(ColocationGroupRow.city_id == city.id)
        )
        or 0
    )


def _bundle_summary(session: Session, application_id: int) -> DemoBundle | None:
    bundle = session.scalars(
        select(Bundle)
        .join(BundleMember, BundleMember.bundle_id == Bundle.id)
        .where(BundleMember.application_id == application_id)
        .order_by(Bundle.id.desc())
    ).first()
    if bundle is None:
        return None
    return DemoBundle(
        id=bundle.id,
        number=bundle.number,
        application_ids=tuple(m.application_id for m in bundle.members),
        plan_key=bundle.plan_key,
        plan_version=bundle.plan_version,
        total_cost_cny=bundle.total_cost_cny,
        alone_cost_cny=bundle.alone_cost_cny,
        shares={m.application_id: dict(sorted(m.shares.items())) for m in bundle.members},
        window=(bundle.window_start, bundle.window_end),
    )


def _waiting_application(
    session: Session, users: dict[str, User], city: CityInfo, clock: Iterator[dt.datetime]
) -> DemoApplication:
    """P06, filed and waiting for 综合受理 (the acceptor's turn)."""
    found = _find(session, users, WAITING)
    if found is not None:
        return _summary(session, found, created=False)
    lines = _project_lines(session, city, WAITING.key)
    applicant = users["applicant"]
    _allow(session, applicant, Action.submit_application)
    app = service.submit_application(
        session=session, actor=applicant, form=_form(lines, city, WAITING), now=next(clock)
    )
    return _summary(session, app, created=True)


# ---------------------------------------------------------------- the form
def _form(lines: gpd.GeoDataFrame, city: CityInfo, project: _Project) -> ApplicationCreate:
    """The combined form: one demand per utility, connection points at the service stubs."""
    ends = _stub_ends(lines)
    demands = []
    for utility, diameter_mm, end in zip(lines["utility"], lines["diameter_mm"], ends, strict=True):
        fields: dict[str, Any] = dict(_DEMAND_FIELDS[utility])
        if utility in _DEFAULT_DIAMETER_MM:
            ok = diameter_mm is not None and np.isfinite(diameter_mm)
            fields["diameter_mm"] = int(diameter_mm) if ok else _DEFAULT_DIAMETER_MM[utility]
        demands.append(
            {
                "utility": utility,
                "connection_point": {"lon": end.x, "lat": end.y, "description": "用户红线接入点"},
                **fields,
            }
        )
    return ApplicationCreate.model_validate(
        {
            "project_name": str(lines["project"].iloc[0]),
            "project_code": project.code,
            "city": city.name,
            "district": project.district,
            "site": _site(lines, city),
            "applicant": {
                "kind": "organisation",
                "name": project.applicant,
                "credit_code": project.credit_code,
                "phone": "0451-86000000",
            },
            "responsible_person": {"name": "王建国", "phone": "13904510000"},
            "demands": demands,
        }
    )


def _stub_ends(lines: gpd.GeoDataFrame) -> list[shapely.Point]:
    """Each line's last vertex (the end of its service stub) in lon/lat."""
    ends = gpd.GeoSeries([shapely.Point(g.coords[-1]) for g in lines.geometry], crs=lines.crs)
    return list(ends.to_crs(4326))


def _site(lines: gpd.GeoDataFrame, city: CityInfo) -> dict[str, Any]:
    """The plot: the box around the service stubs' ends, 30 m out, in lon/lat."""
    ends = shapely.MultiPoint([g.coords[-1] for g in lines.geometry])
    plot = gpd.GeoSeries([ends.buffer(30.0).envelope], crs=city.srid).to_crs(4326)
    return dict(shapely.geometry.mapping(shapely.set_precision(plot.iloc[0], 1e-6)))


# ---------------------------------------------------------------- the survey
def _protected_roads(G: Any, lines: gpd.GeoDataFrame, on_date: dt.date) -> list[str]:  # noqa: N803
    """Roads the project's lines run along that are closed to digging on ``on_date``."""
    along = shapely.union_all([shapely.LineString(g.coords[:-1]) for g in lines.geometry])
    found: dict[str, dt.date] = {}
    for _, _, data in G.edges(data=True):
        until = data.get("protected_until")
        geom = data.get("geometry")
        if until is None or until < on_date or geom is None:
            continue
        # the edge runs along the project: most of it within 15 m of the lines
        if geom.length > 0 and geom.intersection(along.buffer(15.0)).length > 0.5 * geom.length:
            name = data.get("name") or "(unnamed)"
            found[name] = max(until, found.get(name, until))
    return [f"{name}禁挖至 {until.isoformat()}" for name, until in sorted(found.items())]


# ---------------------------------------------------------------- helpers
def _users(session: Session) -> dict[str, User]:
    wanted = ["applicant", "acceptor", "coordinator"]
    users = {u.username: u for u in session.scalars(select(User))}
    missing = [u for u in wanted if u not in users]
    if missing:
        msg = "the demo needs the seeded demo users; run seed_sample_city first"
        raise PreconditionError(msg, missing)
    return users


def _allow(session: Session, user: User, action: Action, target: Any = None) -> None:
    """Check the step as the HTTP view would: the role, then the row."""
    auth.authorize(user, action)
    if target is not None:
        auth.authorize(user, action, target, session=session)


def _find(session: Session, users: dict[str, User], project: _Project) -> Application | None:
    return session.scalars(
        select(Application)
        .where(
            Application.applicant_id == users["applicant"].id,
            Application.project_code == project.code,
        )
        .order_by(Application.id)
    ).first()


def _summary(session: Session, app: Application, *, created: bool) -> DemoApplication:
    rows = session.scalars(
        select(Permit).where(Permit.application_id == app.id).order_by(Permit.id)
    ).all()
    route = latest_route(session, app.id)
    plan = None
    if route is not None and route.plan_id is not None:
        plan = session.get(TrenchPlanRow, route.plan_id)
    return DemoApplication(
        id=app.id,
        number=app.number,
        project_name=app.project_name,
        status=str(app.status),
        created=created,
        permits=tuple((str(p.permit_type), str(p.status), p.department.code) for p in rows),
        plan_key=None if plan is None else plan.plan_key,
        plan_version=None if plan is None else plan.version,
        route_version=None if route is None else route.version_no,
    )


def _project_lines(session: Session, city: CityInfo, key: str) -> gpd.GeoDataFrame:
    """The city's proposed lines of one sample project (``source_id`` ``<key>-<utility>``)."""
    lines = read_features(session, city=city.name, kind="proposed_lines")
    ids = lines["source_id"].fillna("").astype(str)
    lines = lines[ids.str.startswith(f"{key}-")]
    lines = lines[lines["utility"].isin(list(_DEMAND_FIELDS))]
    if lines.empty:
        msg = f"city {city.name!r} has no proposed lines of sample project {key}"
        raise PreconditionError(msg, [key])
    return lines.drop_duplicates("utility").reset_index(drop=True)


def _road_name(session: Session, city: CityInfo, lines: gpd.GeoDataFrame) -> str:
    """The name of the road the lines run along (the nearest named road to their middle)."""
    middle = lines.geometry.iloc[0].interpolate(0.5, normalized=True)
    box = middle.buffer(50.0).bounds
    roads = read_features(session, city=city.name, kind="roads", bbox=box)
    roads = roads[roads["name"].notna()]
    if roads.empty:
        return "道路"
    return str(roads.loc[roads.distance(middle).idxmin(), "name"])


def _opinion(org: Organisation, detour: list[str]) -> str:
    if org.utility:
        return "同意共沟敷设; 管位及埋深按共沟断面, 施工前现场交底"
    if org.code == "cgj" and detour:
        return f"同意; {'; '.join(detour)}, 路由须避让, 其余路段按规定恢复路面"
    if org.code == "jjzd":
        return "同意; 占道施工须夜间半幅进行, 设置围挡及交通导向"
    if org.district:
        return "同意; 注意沿线行道树保护, 施工期间保持人行通道"
    return "同意"


def _clock(start: dt.datetime) -> Iterator[dt.datetime]:
    """Step times a minute apart from ``start`` (the demo's steps in their order)."""
    t = start
    while True:
        yield t
        t += dt.timedelta(minutes=1)
