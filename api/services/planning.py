"""Plan an application's shared trench from its own proposals, alternatives side by side.

The survey's coordinator plans from the lines the utility companies' designers submitted
for the application (and, when chosen, for co-located applications of the same city):
each proposed line runs from its supply point on the company's network (its first vertex)
to the plot (its last vertex). :func:`plan_application` snaps those points to the city's
road graph (the one graph of :mod:`api.services.graphs`, snapped by
:func:`routing.graph.nearest_nodes`), asks the optimiser for the alternatives and stores
each one that can be dug as a trench plan linked to the applications.
:func:`fix_planned_route` fixes one of them as the application's route version.

The alternatives are :func:`routing.trench.plan_alternatives`'s: the joint optimum, each
utility in its own trench, the overlay of the uncoordinated routes and the heuristic, each
with its cost, whether it is feasible and, if not, every rule that rules it out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
from sqlalchemy.orm import Session

from api.approvals.errors import FormValidationError
from api.approvals.errors import PreconditionError
from api.approvals.models import Application
from api.approvals.models import RouteVersion
from api.approvals.models import User
from api.approvals.schemas import RouteCreate
from api.approvals.schemas import RouteFromPlan
from api.approvals.service import get_or_404
from api.approvals.survey import fix_route
from api.services.graphs import RoadGraphs
from geodata.plan_store import StoredPlan
from geodata.plan_store import create_plan
from geodata.plan_store import get_plan
from geodata.plan_store import plans_for_application
from geodata.storage import CityInfo
from geodata.storage import get_city
from geodata.storage import read_features
from routing.graph import nearest_nodes
from routing.results import ALTERNATIVE_KINDS
from routing.results import Site
from routing.results import TrenchPlan
from routing.results import TrenchRequest
from routing.section_types import SiteConditions
from routing.sections import dig_width_rule
from routing.trench import plan_alternatives

__all__ = [
    "MAX_SNAP_M",
    "Alternative",
    "Planning",
    "application_lines",
    "application_requests",
    "city_of",
    "fix_planned_route",
    "joint_terminals",
    "latest_planning",
    "plan_application",
    "width_rule",
    "works_date",
]

logger = logging.getLogger(__name__)

# a supply or plot farther than this from the nearest road node cannot be planned
MAX_SNAP_M = 200.0


@dataclass(frozen=True)
class Alternative:
    """One way to dig for the applications, priced; stored when it can be fixed."""

    name: str
    title: str
    cost_cny: float | None  # None: no plan of this kind exists
    feasible: bool
    constraint: str | None  # for an infeasible one: what rules it out
    status: str
    trench_length_m: float
    plan: StoredPlan | None
    violations: tuple[dict[str, Any], ...] = ()  # each rule it breaks (the optimiser's)


@dataclass(frozen=True)
class Planning:
    """One planning run: the applications it serves and the alternatives side by side."""

    city: str
    application_ids: tuple[int, ...]
    alternatives: tuple[Alternative, ...]
    snapped: dict[str, Any]
    on_date: dt.date

    @property
    def best(self) -> Alternative:
        """The cheapest stored (feasible) alternative."""
        return min((a for a in self.alternatives if a.plan), key=lambda a: a.cost_cny or 0.0)


def application_lines(
    session: Session, city: CityInfo, application_ids: Sequence[int]
) -> gpd.GeoDataFrame:
    """The proposed lines submitted for these applications, in the city's CRS.

    Raises
    ------
    PreconditionError
        If an application has no proposed lines yet (names it).
    """
    lines = read_features(session, city=city.name, kind="proposed_lines")
    lines = lines[lines["application_id"].isin(list(application_ids))]
    have = set(lines["application_id"].astype(int))
    missing = [i for i in application_ids if i not in have]
    if missing:
        msg = (
            f"no proposed lines submitted for application(s) {missing}: the utility "
            "companies' designers submit them first (POST /proposals/{city})"
        )
        raise PreconditionError(msg, [str(i) for i in missing])
    return lines.reset_index(drop=True)


def plan_application(
    session: Session,
    graphs: RoadGraphs,
    *,
    application_id: int,
    with_applications: Sequence[int] = (),
    on_date: dt.date | None = None,
    time_limit_s: float = 30.0,
    sharing: str = "proportional",
) -> Planning:
    """Plan the shared trench of an application (and co-located ones) from their proposals.

    Every application gets one site and its supply candidates
    (:func:`application_requests`); a utility may use any application's. The works' date
    (protection periods) is ``on_date``, by default the earliest planned start of the
    lines; the trench width rule follows the city's frost depth.

    Returns
    -------
    Planning
        The feasible alternatives are stored as trench plans linked to every application
        served; the joint plan's inputs keep the whole comparison (:func:`latest_planning`).

    Raises
    ------
    NotFoundError
        If an application does not exist.
    FormValidationError
        If a co-located application is in another city (names ``with_applications``).
    PreconditionError
        If an application has no city or no proposed lines, or a point is too far from a road.
    """
    app = get_or_404(session, Application, application_id)
    city = city_of(session, app)
    ids = [app.id, *sorted(set(with_applications) - {app.id})]
    apps = [app] + [get_or_404(session, Application, i) for i in ids[1:]]
    strangers = [a.id for a in apps if a.city_id != app.city_id]
    if strangers:
        raise FormValidationError(
            [
                {
                    "loc": ["body", "with_applications"],
                    "type": "value_error",
                    "msg": f"application(s) {strangers} are not in city {city.name!r}",
                }
            ]
        )
    lines = application_lines(session, city, ids)
    G = graphs.get(session, city).G  # noqa: N806 - networkx's name
    requests, snapped = application_requests(G, apps, lines)
    sites, supplies = joint_terminals(requests)
    on_date = on_date or works_date(lines)
    alternatives = _alternatives(
        G,
        sites,
        supplies,
        on_date=on_date,
        time_limit_s=time_limit_s,
        sharing=sharing,
        required_width_m=width_rule(city),
    )
    comparison = [
        {
            "name": a.name,
            "cost_cny": a.cost_cny,
            "feasible": a.feasible,
            "constraint": a.constraint,
            "violations": list(a.violations),
        }
        for a in alternatives
    ]
    inputs = {
        "source": __name__,
        "city": city.name,
        "application_ids": ids,
        "on_date": on_date.isoformat(),
        "snapped": snapped,
        "alternatives": comparison,
    }
    out = []
    # the joint optimum first, so a reader finds the comparison in its inputs
    for a in sorted(alternatives, key=lambda a: a.name != "joint"):
        stored = None
        if a.feasible and a.plan is not None:
            plan = dataclasses.replace(a.plan, crs=f"EPSG:{city.srid}")
            stored = create_plan(
                session,
                city_id=city.id,
                srid=city.srid,
                plan=plan,
                inputs={**inputs, "alternative": a.name},
                application_ids=ids,
            )
        out.append(
            Alternative(
                name=a.name,
                title=ALTERNATIVE_KINDS.get(a.name, a.name),
                cost_cny=a.cost_cny,
                feasible=a.feasible,
                constraint=a.constraint,
                status=a.plan.status if a.plan is not None else "not_planned",
                trench_length_m=a.plan.trench_length_m if a.plan is not None else 0.0,
                plan=stored,
                violations=a.violations,
            )
        )
    logger.info(
        "planned application %d (with %s) in %s: %s",
        app.id,
        ids[1:],
        city.name,
        ", ".join(f"{a.name} {a.cost_cny} CNY ({a.status}, feasible {a.feasible})" for a in out),
    )
    return Planning(city.name, tuple(ids), tuple(out), snapped, on_date)


def latest_planning(session: Session, application_id: int) -> Planning | None:
    """The application's latest planning run, read back from its stored plans (or None)."""
    stored = [
        p
        for p in plans_for_application(session, application_id)
        if p.inputs.get("source") == __name__
    ]
    if not stored:
        return None
    run = stored[0].inputs
    same = [p for p in stored if p.inputs.get("snapped") == run["snapped"]]
    by_name = {p.inputs["alternative"]: p for p in reversed(same)}
    out = []
    for a in run["alternatives"]:
        plan = by_name.get(a["name"])
        result = TrenchPlan.from_dict(plan.result) if plan is not None else None
        out.append(
            Alternative(
                name=a["name"],
                title=ALTERNATIVE_KINDS.get(a["name"], a["name"]),
                cost_cny=a["cost_cny"],
                feasible=a["feasible"],
                constraint=a["constraint"],
                status=result.status if result is not None else "not_planned",
                trench_length_m=result.trench_length_m if result is not None else 0.0,
                plan=plan,
                violations=tuple(a.get("violations") or ()),
            )
        )
    return Planning(
        run["city"],
        tuple(run["application_ids"]),
        tuple(out),
        run["snapped"],
        dt.date.fromisoformat(run["on_date"]),
    )


def fix_planned_route(
    *, session: Session, actor: User, application_id: int, body: RouteFromPlan, now: dt.datetime
) -> RouteVersion:
    """Fix a stored plan of this application as its route version (see ``survey.fix_route``).

    Raises
    ------
    FormValidationError
        If the plan is not linked to the application (names ``plan_key``).
    PlanNotFoundError
        If there is no such plan or version.
    """
    app = get_or_404(session, Application, application_id)
    stored = get_plan(session, body.plan_key, body.plan_version)
    if app.id not in stored.application_ids:
        raise FormValidationError(
            [
                {
                    "loc": ["body", "plan_key"],
                    "type": "value_error",
                    "msg": f"trench plan {body.plan_key!r} v{stored.version} was not made "
                    f"for application {app.number}",
                }
            ]
        )
    city = city_of(session, app)
    plan = TrenchPlan.from_dict(stored.result)
    route = RouteCreate(
        geojson=plan.to_geojson(),
        crs=f"EPSG:{city.srid}",
        plan_id=stored.id,
        plan_version=stored.version,
        reason=body.reason,
        permit_types=body.permit_types,
        version=body.version,
    )
    return fix_route(session=session, actor=actor, application_id=app.id, body=route, now=now)


# ---------------------------------------------------------------- helpers
def application_requests(
    G: Any,  # noqa: N803 - networkx's name
    apps: Sequence[Application],
    lines: gpd.GeoDataFrame,
) -> tuple[list[TrenchRequest], dict[str, Any]]:
    """One trench request per application, from its proposed lines, and where they snapped.

    The site is the plot where the application's lines end (the mean of their last
    vertices), needing the utilities of its lines; each line's first vertex is a supply
    candidate of its utility. Requests are named by application id.

    Raises
    ------
    PreconditionError
        If a point is farther than ``MAX_SNAP_M`` from the nearest road node (names it).
    """
    snapped: dict[str, Any] = {"sites": [], "supplies": {}}
    requests = []
    for app in apps:
        own = lines[lines["application_id"] == app.id]
        ends = np.array([g.coords[-1] for g in own.geometry])
        x, y = ends.mean(axis=0)
        node, dist = _snap(G, x, y, f"the plot of application {app.number}")
        site = Site(node, frozenset(own["utility"]), name=app.number, project=app.project_code)
        snapped["sites"].append({"application_id": app.id, "node": node, "snap_m": dist})
        supplies: dict[str, list[Any]] = {}
        for line_id, utility, geom in zip(own["id"], own["utility"], own.geometry, strict=True):
            sx, sy = geom.coords[0]
            what = f"the start of proposed line {line_id} ({utility})"
            node, dist = _snap(G, sx, sy, what)
            if node not in supplies.setdefault(utility, []):
                supplies[utility].append(node)
            snapped["supplies"].setdefault(utility, []).append(
                {"proposed_line_id": int(line_id), "node": node, "snap_m": dist}
            )
        offer = tuple((u, tuple(nodes)) for u, nodes in supplies.items())
        requests.append(TrenchRequest((site,), offer, name=str(app.id)))
    return requests, snapped


def joint_terminals(
    requests: Sequence[TrenchRequest],
) -> tuple[list[Site], dict[str, list[Any]]]:
    """Every request's sites, and per utility the supply candidates of any request."""
    sites = [s for r in requests for s in r.sites]
    supplies: dict[str, list[Any]] = {}
    for r in requests:
        for utility, nodes in r.supplies:
            have = supplies.setdefault(utility, [])
            have.extend(n for n in nodes if n not in have)
    return sites, supplies


def works_date(lines: gpd.GeoDataFrame) -> dt.date:
    """The earliest planned start of the lines (today if none is given)."""
    dates = [dt.date.fromisoformat(str(v)[:10]) for v in lines["planned_start"] if v]
    return min(dates) if dates else dt.date.today()


def width_rule(city: CityInfo) -> Any:
    """The trench width a set of utilities needs in the city (its frost depth)."""
    return dig_width_rule(SiteConditions(frost_depth_m=city.frost_depth_m))


def city_of(session: Session, app: Application) -> CityInfo:
    """The application's city (PreconditionError if it names none)."""
    if app.city is None:
        msg = f"application {app.number} names no city; resubmit it with its city"
        raise PreconditionError(msg, ["city"])
    return get_city(session, app.city.name)


def _snap(G: Any, x: float, y: float, what: str) -> tuple[Any, float]:  # noqa: N803
    node, dist = nearest_nodes(G, x, y, return_dist=True)
    if dist > MAX_SNAP_M:
        msg = f"{what} is {dist:.0f} m from the nearest road node (at most {MAX_SNAP_M:.0f} m)"
        raise PreconditionError(msg, [what])
    return node, float(dist)


@dataclass(frozen=True)
class _Priced:
    """What the optimiser says of one alternative, as this service keeps it."""

    name: str
    cost_cny: float | None  # None: no plan of this kind exists
    feasible: bool
    constraint: str | None
    plan: TrenchPlan | None
    violations: tuple[dict[str, Any], ...]


def _alternatives(
    G: Any,  # noqa: N803 - networkx's name
    sites: list[Site],
    supplies: dict[str, list[Any]],
    **options: Any,
) -> list[_Priced]:
    """The optimiser's alternatives (:func:`routing.trench.plan_alternatives`)."""
    found = plan_alternatives(G, sites, supplies, **options)
    return [
        _Priced(
            a.kind,
            a.total_cost_cny if math.isfinite(a.total_cost_cny) else None,
            a.feasible,
            "; ".join(v.message for v in a.violations[:3]) or None,
            a.plan,
            tuple(v.to_dict() for v in a.violations),
        )
        for a in found.all
    ]
