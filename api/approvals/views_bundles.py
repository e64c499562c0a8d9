"""Serve dig-once across applications over HTTP: opportunities, bundles, the joint route."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals import auth
from api.approvals import service
from api.approvals.enums import Action
from api.approvals.http import UserDep
from api.approvals.http import WriteDep
from api.approvals.http import load
from api.approvals.http import op
from api.approvals.models import Application
from api.approvals.models import Bundle
from api.approvals.models import RouteVersion
from api.approvals.schemas import BundleCreate
from api.approvals.schemas import BundleMemberPublic
from api.approvals.schemas import BundlePublic
from api.approvals.schemas import BundleRouteFix
from api.approvals.schemas import OpportunityPublic
from api.approvals.schemas import RouteVersionList
from api.approvals.schemas import RouteVersionPublic
from api.deps import RoadGraphsDep
from api.deps import SessionDep
from api.limits import check_plan_seconds
from api.services import bundles
from geodata.tables import City

__all__ = ["bundle_public", "router"]

router = APIRouter()


@router.get(
    "/opportunities",
    response_model=list[OpportunityPublic],
    **op("list-opportunities", not_found="城市或申请不存在 / no such city or application"),
)
def list_opportunities(
    session: SessionDep,
    user: UserDep,
    graphs: RoadGraphsDep,
    city: str,
    application_id: int | None = None,
) -> list[OpportunityPublic]:
    """Coordination opportunities: applications whose lines share roads within the horizon."""
    auth.authorize(user, Action.fix_route)
    if application_id is not None:
        load(session, user, Action.fix_route, Application, application_id)
    return [
        OpportunityPublic.model_validate(o, from_attributes=True)
        for o in bundles.find_opportunities(
            session, graphs, city=city, application_id=application_id
        )
    ]


@router.post(
    "/bundles",
    response_model=BundlePublic,
    status_code=201,
    **op("create-bundle", transition=True, not_found="申请不存在 / no such application"),
)
def create_bundle(w: WriteDep, graphs: RoadGraphsDep, body: BundleCreate) -> Any:
    """Bundle co-located applications: one joint plan, cost shares, one construction window."""
    check_plan_seconds(w.user, body.time_limit_s, w.request.app.state.settings.limits)
    for application_id in body.application_ids:
        w.load(Action.fix_route, Application, application_id)
    return w.once(
        body,
        lambda: bundle_public(w.session, bundles.create_bundle(**w.ctx, graphs=graphs, body=body)),
    )


@router.get("/bundles/{bundle_id}", response_model=BundlePublic, **op("read-bundle"))
def read_bundle(session: SessionDep, user: UserDep, bundle_id: int) -> BundlePublic:
    """One bundle: its joint plan, the shares per application and utility, its window."""
    auth.authorize(user, Action.read_routes)
    bundle = service.get_or_404(session, Bundle, bundle_id)
    for member in bundle.members:
        load(session, user, Action.read_routes, Application, member.application_id)
    return bundle_public(session, bundle)


@router.post(
    "/bundles/{bundle_id}/routes",
    response_model=list[RouteVersionPublic],
    status_code=201,
    **op("fix-bundle-route", transition=True),
)
def fix_bundle_route(w: WriteDep, bundle_id: int, body: BundleRouteFix) -> Any:
    """Fix the joint route as every member's route version; their permits refer to it."""
    auth.authorize(w.user, Action.fix_route)
    bundle = service.get_or_404(w.session, Bundle, bundle_id)
    for member in bundle.members:
        w.load(Action.fix_route, Application, member.application_id)
    return w.once(
        body,
        lambda: RouteVersionList(
            [
                RouteVersionPublic.model_validate(r)
                for r in bundles.fix_bundle_route(**w.ctx, bundle_id=bundle_id, body=body)
            ]
        ),
    )


def bundle_public(session: Session, bundle: Bundle) -> BundlePublic:
    """The bundle as the API shows it: shares per member and per utility, routes fixed."""
    numbers = dict(
        session.execute(
            select(Application.id, Application.number).where(
                Application.id.in_([m.application_id for m in bundle.members])
            )
        ).all()
    )
    routes = dict(
        session.execute(
            select(RouteVersion.application_id, RouteVersion.id).where(
                RouteVersion.bundle_id == bundle.id, RouteVersion.superseded_at.is_(None)
            )
        ).all()
    )
    per_utility: dict[str, list[float]] = {}
    members = []
    for m in bundle.members:
        shares = dict(sorted(m.shares.items()))  # JSONB keeps its own key order
        for utility, cny in shares.items():
            per_utility.setdefault(utility, []).append(cny)
        members.append(
            BundleMemberPublic(
                application_id=m.application_id,
                number=numbers.get(m.application_id, ""),
                shares=shares,
                share_cny=math.fsum(shares.values()),
                alone_cost_cny=m.alone_cost_cny,
                window_start=m.window_start,
                window_end=m.window_end,
                route_version_id=routes.get(m.application_id),
            )
        )
    city = session.get(City, bundle.city_id) if bundle.city_id is not None else None
    return BundlePublic(
        id=bundle.id,
        number=bundle.number,
        city=city.name if city else None,
        plan_id=bundle.plan_id,
        plan_key=bundle.plan_key,
        plan_version=bundle.plan_version,
        total_cost_cny=bundle.total_cost_cny,
        alone_cost_cny=bundle.alone_cost_cny,
        saving_cny=bundle.alone_cost_cny - bundle.total_cost_cny,
        shares_per_utility={u: math.fsum(c) for u, c in sorted(per_utility.items())},
        window_start=bundle.window_start,
        window_end=bundle.window_end,
        reason=bundle.reason,
        created_at=bundle.created_at,
        members=members,
    )
