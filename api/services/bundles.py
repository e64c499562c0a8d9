"""Dig once across applications: find the coordination opportunities and bundle them.

A co-location group joins lines that run along the same roads and whose construction
windows overlap or fall within the group's horizon (:mod:`api.services.colocation`). When
a group joins lines of several applications, those applications could share one trench:
:func:`find_opportunities` lists them (which applications, which roads, how much trench
would be shared and an estimate of the saving). :func:`create_bundle` plans them together
(one shared-trench plan, and each application alone for comparison), splits the joint cost
per application and per utility (the shares sum to the total) and sets one joint
construction window. :func:`fix_bundle_route` then fixes the joint plan as every member's
route version, so each application's permits refer to the joint route.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals import calendar
from api.approvals.enums import EntityKind
from api.approvals.errors import FormValidationError
from api.approvals.errors import PreconditionError
from api.approvals.models import Application
from api.approvals.models import Bundle
from api.approvals.models import BundleMember
from api.approvals.models import RouteVersion
from api.approvals.models import User
from api.approvals.schemas import BundleCreate
from api.approvals.schemas import BundleRouteFix
from api.approvals.schemas import RouteCreate
from api.approvals.service import get_or_404
from api.approvals.survey import fix_route
from api.approvals.transitions import FINAL_STATUSES
from api.approvals.transitions import record_event
from api.services import planning
from api.services.graphs import RoadGraphs
from geodata.colocation_tables import ColocationGroupEdgeRow
from geodata.colocation_tables import ColocationGroupMemberRow
from geodata.colocation_tables import ColocationGroupRow
from geodata.plan_store import create_plan
from geodata.plan_store import get_plan
from geodata.storage import get_city
from geodata.tables import ProposedLineRow
from routing.costs import load_cost_model
from routing.results import TrenchPlan
from routing.trench import plan_projects

__all__ = [
    "Opportunity",
    "create_bundle",
    "find_opportunities",
    "fix_bundle_route",
    "split_shares",
]

logger = logging.getLogger(__name__)

_CLOSED = FINAL_STATUSES[EntityKind.application]


@dataclass(frozen=True)
class Opportunity:
    """Applications whose lines share roads within the horizon: they could dig once.

    ``saving_estimate_cny`` prices the trench the extra applications would not dig: on each
    shared road edge, ``(applications on it - 1) * trench cost of the edge`` (excavation and
    restoration of the cost model). Bundling plans the real joint route and its saving.
    """

    application_ids: tuple[int, ...]
    numbers: tuple[str, ...]
    utilities: tuple[str, ...]
    roads: tuple[str, ...]
    group_keys: tuple[str, ...]
    shared_length_m: float
    window_start: dt.date
    window_end: dt.date
    saving_estimate_cny: float


def find_opportunities(
    session: Session, graphs: RoadGraphs, *, city: str, application_id: int | None = None
) -> list[Opportunity]:
    """The coordination opportunities of a city (those of one application, if given).

    Only applications still open (not completed, rejected or out of competence) count.
    Opportunities are sorted by estimated saving, largest first.
    """
    info = get_city(session, city)
    rows = session.execute(
        select(
            ColocationGroupRow.id,
            ColocationGroupRow.key,
            ColocationGroupRow.window_start,
            ColocationGroupRow.window_end,
            ColocationGroupRow.utilities,
            func.array_agg(func.distinct(ProposedLineRow.application_id)),
        )
        .join(ColocationGroupMemberRow, ColocationGroupMemberRow.group_id == ColocationGroupRow.id)
        .join(ProposedLineRow, ProposedLineRow.id == ColocationGroupMemberRow.proposed_line_id)
        .join(Application, Application.id == ProposedLineRow.application_id)
        .where(ColocationGroupRow.city_id == info.id, Application.status.not_in(list(_CLOSED)))
        .group_by(ColocationGroupRow.id)
        .having(func.count(func.distinct(ProposedLineRow.application_id)) >= 2)
        .order_by(ColocationGroupRow.id)
    ).all()
    if not rows:
        return []
    edges_of: dict[int, list[int]] = {}
    for group_id, edge_id in session.execute(
        select(ColocationGroupEdgeRow.group_id, ColocationGroupEdgeRow.edge_id).where(
            ColocationGroupEdgeRow.group_id.in_([r[0] for r in rows])
        )
    ):
        edges_of.setdefault(group_id, []).append(edge_id)
    graph = graphs.get(session, info)
    edge_data = {d["edge_id"]: d for *_, d in graph.G.edges(data=True)}
    model = load_cost_model()
    # per set of applications: the road edges they share (an edge counted once) and groups
    found: dict[tuple[int, ...], dict[str, Any]] = {}
    for group_id, key, start, end, utilities, app_ids in rows:
        ids = tuple(sorted(int(i) for i in app_ids))
        if application_id is not None and application_id not in ids:
            continue
        entry = found.setdefault(
            ids, {"keys": [], "edges": {}, "utilities": set(), "start": start, "end": end}
        )
        entry["keys"].append(key)
        entry["utilities"].update(utilities)
        entry["start"], entry["end"] = min(entry["start"], start), max(entry["end"], end)
        for edge_id in edges_of.get(group_id, []):
            entry["edges"][edge_id] = len(ids)
    numbers = dict(
        session.execute(
            select(Application.id, Application.number).where(
                Application.id.in_({i for ids in found for i in ids})
            )
        ).all()
    )
    out = []
    for ids, entry in found.items():
        data = [edge_data[e] for e in entry["edges"] if e in edge_data]
        saving = sum(
            (entry["edges"][d["edge_id"]] - 1) * model.edge_trench_cost_cny(d) for d in data
        )
        out.append(
            Opportunity(
                application_ids=ids,
                numbers=tuple(numbers[i] for i in ids),
                utilities=tuple(sorted(entry["utilities"])),
                roads=tuple(sorted({str(d.get("name") or "(unnamed)") for d in data})),
                group_keys=tuple(entry["keys"]),
                shared_length_m=float(sum(float(d["length_m"]) for d in data)),
                window_start=entry["start"],
                window_end=entry["end"],
                saving_estimate_cny=float(saving),
            )
        )
    return sorted(out, key=lambda o: (-o.saving_estimate_cny, o.application_ids))


def create_bundle(
    *, session: Session, graphs: RoadGraphs, actor: User, body: BundleCreate, now: dt.datetime
) -> Bundle:
    """Plan the applications together: one joint plan, cost shares and one window.

    The joint plan serves every member's plot from any member's supply candidates; each
    member is also planned alone, and the joint cost of each utility is split among the
    members that need it in proportion to their own cost of that utility alone
    (:func:`split_shares`). The joint window starts when the last member is ready (the
    latest of the members' earliest planned starts, or ``body.not_before`` if later) and
    lasts as long as the longest member's works; the plans are priced on its first day
    (protection periods).

    Raises
    ------
    FormValidationError
        Fewer than two applications, one closed or in another city (names the field).
    PreconditionError
        An application has no city or no proposed lines, or lines without planned dates.
    """
    apps = [get_or_404(session, Application, i) for i in body.application_ids]
    _check_members(apps)
    city = planning.city_of(session, apps[0])
    ids = [a.id for a in apps]
    lines = planning.application_lines(session, city, ids)
    G = graphs.get(session, city).G  # noqa: N806 - networkx's name
    requests, snapped = planning.application_requests(G, apps, lines)
    windows = {a.id: _window(a, lines[lines["application_id"] == a.id]) for a in apps}
    start = max([w[0] for w in windows.values()] + [body.not_before or dt.date.min])
    end = start + max(w[1] - w[0] for w in windows.values())
    on_date = start  # the joint works' date, for the protection periods
    together = plan_projects(
        G,
        requests,
        method="milp",
        on_date=on_date,
        time_limit_s=body.time_limit_s,
        required_width_m=planning.width_rule(city),
    )
    joint = dataclasses.replace(together.joint, crs=f"EPSG:{city.srid}")
    alone = dict(zip(ids, together.alone, strict=True))
    shares = split_shares(joint, alone)
    stored = create_plan(
        session,
        city_id=city.id,
        srid=city.srid,
        plan=joint,
        inputs={
            "source": __name__,
            "city": city.name,
            "application_ids": ids,
            "on_date": on_date.isoformat(),
            "snapped": snapped,
            "alone_cost_cny": {str(i): p.total_cost_cny for i, p in alone.items()},
        },
        application_ids=ids,
    )
    bundle = Bundle(
        number=f"TMP-{now.timestamp()}-{actor.id}",
        city_id=city.id,
        plan_id=stored.id,
        plan_key=stored.plan_key,
        plan_version=stored.version,
        total_cost_cny=joint.total_cost_cny,
        alone_cost_cny=together.alone_total_cost_cny,
        window_start=start,
        window_end=end,
        reason=body.reason,
        created_by_id=actor.id,
        created_at=now,
        members=[
            BundleMember(
                application_id=i,
                shares=shares[i],
                alone_cost_cny=alone[i].total_cost_cny,
                window_start=windows[i][0],
                window_end=windows[i][1],
            )
            for i in ids
        ],
    )
    session.add(bundle)
    session.flush()
    bundle.number = f"LH{calendar.local_date(now).year}{bundle.id:06d}"
    for app in apps:
        record_event(
            session=session,
            actor=actor,
            now=now,
            kind=EntityKind.application,
            entity_id=app.id,
            application_id=app.id,
            action="bundle",
            reason=body.reason,
            data={
                "bundle": bundle.number,
                "applications": ids,
                "plan_key": stored.plan_key,
                "shares": shares[app.id],
            },
        )
    session.flush()
    logger.info(
        "bundle %s of %s: %.0f CNY together, %.0f alone, window %s..%s",
        bundle.number,
        ids,
        bundle.total_cost_cny,
        bundle.alone_cost_cny,
        start,
        end,
    )
    return bundle


def fix_bundle_route(
    *, session: Session, actor: User, bundle_id: int, body: BundleRouteFix, now: dt.datetime
) -> list[RouteVersion]:
    """Fix the bundle's joint plan as the route version of every member, in one go.

    Each member goes through ``survey.fix_route`` (the survey's opinions, the permits
    opened or re-opened); its route version names the bundle. Stored whole or not at all.
    """
    bundle = get_or_404(session, Bundle, bundle_id)
    stored = get_plan(session, bundle.plan_key, bundle.plan_version)
    city = get_city(session, str(stored.inputs["city"]))
    reason = body.reason or f"联合路由 {bundle.number} (dig once)"
    routes = []
    for member in bundle.members:
        route = RouteCreate(
            geojson=TrenchPlan.from_dict(stored.result).to_geojson(),
            crs=f"EPSG:{city.srid}",
            plan_id=stored.id,
            plan_version=stored.version,
            reason=reason,
            version=body.versions.get(member.application_id),
        )
        routes.append(
            fix_route(
                session=session,
                actor=actor,
                application_id=member.application_id,
                body=route,
                now=now,
                bundle_id=bundle.id,
            )
        )
    return routes


def split_shares(joint: TrenchPlan, alone: Mapping[int, TrenchPlan]) -> dict[int, dict[str, float]]:
    """Split the joint plan's cost per utility among the applications that need it.

    Each utility's joint share goes to the applications in proportion to what that utility
    costs each of them alone (equally if it costs none of them anything), so the shares of
    every application and utility sum to ``joint.total_cost_cny``.

    Examples
    --------
    >>> from routing.results import CostShare
    >>> def plan(total, shares):
    ...     return TrenchPlan((), (), 0, 0, 0, total, "milp", "optimal", total, 0.0, 0, 0,
    ...                       tuple(CostShare(u, c, 0, c) for u, c in shares.items()), "p")
    >>> split_shares(plan(90, {"water": 60, "gas": 30}),
    ...              {1: plan(80, {"water": 50, "gas": 30}), 2: plan(50, {"water": 50})})
    {1: {'gas': 30.0, 'water': 30.0}, 2: {'water': 30.0}}
    """
    standalone = {
        i: {s.utility: max(s.standalone_cost_cny, 0.0) for s in plan.shares}
        for i, plan in alone.items()
    }
    out: dict[int, dict[str, float]] = {i: {} for i in alone}
    for share in joint.shares:
        needs = [i for i in alone if share.utility in standalone[i]]
        if not needs:
            msg = f"no application of the bundle needs {share.utility!r}"
            raise ValueError(msg)
        weights = [standalone[i][share.utility] for i in needs]
        total = sum(weights)
        for i, w in zip(needs, weights, strict=True):
            fraction = w / total if total > 0 else 1.0 / len(needs)
            out[i][share.utility] = float(share.cost_cny * fraction)
    return {i: dict(sorted(s.items())) for i, s in out.items()}


# ---------------------------------------------------------------- helpers
def _check_members(apps: Sequence[Application]) -> None:
    errors: list[dict[str, Any]] = []
    ids = [a.id for a in apps]
    if len(set(ids)) < 2:
        errors.append(
            {
                "loc": ["body", "application_ids"],
                "type": "value_error",
                "msg": "a bundle joins at least two different applications",
            }
        )
    for n, app in enumerate(apps):
        if app.status in _CLOSED:
            errors.append(
                {
                    "loc": ["body", "application_ids", n],
                    "type": "value_error",
                    "msg": f"application {app.number} is {app.status}",
                }
            )
        elif app.city_id != apps[0].city_id:
            errors.append(
                {
                    "loc": ["body", "application_ids", n],
                    "type": "value_error",
                    "msg": f"application {app.number} is in another city than {apps[0].number}",
                }
            )
    if errors:
        raise FormValidationError(errors)


def _window(app: Application, lines: gpd.GeoDataFrame) -> tuple[dt.date, dt.date]:
    """The application's works window: its lines' earliest start to latest end."""
    starts = [dt.date.fromisoformat(str(v)[:10]) for v in lines["planned_start"] if v]
    ends = [dt.date.fromisoformat(str(v)[:10]) for v in lines["planned_end"] if v]
    if not starts or not ends:
        msg = f"the proposed lines of application {app.number} carry no planned dates"
        raise PreconditionError(msg, [str(app.id)])
    return min(starts), max(ends)
