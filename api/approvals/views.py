"""Serve the approval flow over HTTP: users, pre-consultation, the form, dispatch, survey, route."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated
from typing import Any

from fastapi import APIRouter
from fastapi import Depends
from fastapi import Request
from fastapi import Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals import auth
from api.approvals import consultations
from api.approvals import queries
from api.approvals import service
from api.approvals import survey
from api.approvals import views_bundles
from api.approvals import views_permits
from api.approvals.enums import Action
from api.approvals.errors import NotFoundError
from api.approvals.http import TAG
from api.approvals.http import NowDep
from api.approvals.http import UserDep
from api.approvals.http import WriteDep
from api.approvals.http import get_now
from api.approvals.http import load
from api.approvals.http import op
from api.approvals.models import Application
from api.approvals.models import Consultation
from api.approvals.models import Dispatch
from api.approvals.models import Organisation
from api.approvals.models import RouteVersion
from api.approvals.models import SurveyOpinion
from api.approvals.models import User
from api.approvals.schemas import AcceptApplication
from api.approvals.schemas import AlternativePublic
from api.approvals.schemas import ApplicationCreate
from api.approvals.schemas import ApplicationPublic
from api.approvals.schemas import ApplicationUpdate
from api.approvals.schemas import ConsultationAnswer
from api.approvals.schemas import ConsultationCreate
from api.approvals.schemas import ConsultationPublic
from api.approvals.schemas import DispatchAccept
from api.approvals.schemas import DispatchPublic
from api.approvals.schemas import OpinionCreate
from api.approvals.schemas import OrganisationPublic
from api.approvals.schemas import PlanningCreate
from api.approvals.schemas import PlanningPublic
from api.approvals.schemas import ReasonBody
from api.approvals.schemas import RouteCreate
from api.approvals.schemas import RouteFromPlan
from api.approvals.schemas import RouteVersionPublic
from api.approvals.schemas import TokenPublic
from api.approvals.schemas import UserCreate
from api.approvals.schemas import UserPublic
from api.deps import RoadGraphsDep
from api.deps import SessionDep
from api.limits import check_plan_seconds
from api.policy import request_token
from api.responses import error_response
from api.services import planning

__all__ = ["get_now", "router"]

router = APIRouter(prefix="/approvals", tags=[TAG])


# ---------------------------------------------------------------- users
@router.post(
    "/auth/token",
    response_model=TokenPublic,
    responses={
        401: error_response("用户名或密码错误 / wrong username or password"),
        429: error_response("尝试过多，已暂时锁定 / too many failures: locked for a while"),
    },
    **op("login"),
)
def login(
    *,
    request: Request,
    session: SessionDep,
    now: NowDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenPublic:
    """Log in with username and password; get a bearer token.

    Repeated failures lock the name and the address for a while (429 with Retry-After).
    """
    token, expires = login_service(request, session, form.username, form.password, now)
    return TokenPublic(access_token=token, expires_at=expires)


def login_service(
    request: Request, session: Session, username: str, password: str, now: dt.datetime
) -> tuple[str, dt.datetime]:
    """Log in (the API's and the workbench's login): the attempt and the token are
    committed before the answer, so a token is usable as soon as the client has it and a
    failure counts towards the lock-out even though the request fails."""
    ttl = request.app.state.settings.auth.token_ttl_minutes
    address = request.client.host if request.client else "unknown"
    try:
        return auth.login(
            session=session,
            username=username,
            password=password,
            now=now,
            ttl_minutes=ttl,
            address=address,
        )
    finally:
        session.commit()


@router.get("/me", response_model=UserPublic, **op("me"))
def me(user: UserDep) -> UserPublic:
    """Who am I."""
    auth.authorize(user, Action.read_me)
    return _user_public(user)


@router.post("/auth/logout", status_code=204, **op("logout"))
def logout(request: Request, session: SessionDep, user: UserDep) -> Response:
    """Revoke the token of this request (bearer or workbench cookie)."""
    auth.authorize(user, Action.logout)
    auth.revoke_token(session=session, token=request_token(request)[0] or "")
    return Response(status_code=204)


@router.post("/users", response_model=UserPublic, status_code=201, **op("create-user"))
def create_user(session: SessionDep, user: UserDep, body: UserCreate) -> UserPublic:
    """Create a real-name user (administrator)."""
    from api.approvals.users import create_user as create  # noqa: PLC0415 - keeps auth light

    auth.authorize(user, Action.manage_users)
    return _user_public(create(session=session, body=body))


@router.get("/users", response_model=list[UserPublic], **op("list-users"))
def list_users(session: SessionDep, user: UserDep) -> list[UserPublic]:
    """List the users (administrator)."""
    auth.authorize(user, Action.manage_users)
    return [_user_public(u) for u in session.scalars(select(User).order_by(User.id))]


@router.get("/organisations", response_model=list[OrganisationPublic], **op("list-organisations"))
def list_organisations(session: SessionDep, user: UserDep) -> list[Organisation]:
    """List the departments and utility companies (一支队伍)."""
    auth.authorize(user, Action.list_organisations)
    return list(session.scalars(select(Organisation).order_by(Organisation.code)))


# ---------------------------------------------------------------- 前置咨询
@router.post(
    "/consultations",
    response_model=ConsultationPublic,
    status_code=201,
    **op("ask-consultation", transition=True),
)
def ask_consultation(w: WriteDep, body: ConsultationCreate) -> Any:
    """Ask about a planned project before applying (前置咨询)."""
    auth.authorize(w.user, Action.ask_consultation)
    return w.once(
        body,
        lambda: ConsultationPublic.model_validate(
            consultations.ask_consultation(**w.ctx, body=body)
        ),
    )


@router.get("/consultations", response_model=list[ConsultationPublic], **op("list-consultations"))
def list_consultations(session: SessionDep, user: UserDep) -> list[Consultation]:
    """List pre-consultations (an applicant sees their own)."""
    auth.authorize(user, Action.list_consultations)
    return queries.list_consultations(session=session, user=user)


@router.post(
    "/consultations/{consultation_id}/answer",
    response_model=ConsultationPublic,
    **op("answer-consultation", transition=True),
)
def answer_consultation(w: WriteDep, consultation_id: int, body: ConsultationAnswer) -> Any:
    """Answer a pre-consultation."""
    w.load(Action.answer_consultation, Consultation, consultation_id)
    return w.once(
        body,
        lambda: ConsultationPublic.model_validate(
            consultations.answer_consultation(**w.ctx, consultation_id=consultation_id, body=body)
        ),
    )


# ---------------------------------------------------------------- 一张表单, 综合受理
@router.post(
    "/applications",
    response_model=ApplicationPublic,
    status_code=201,
    **op("submit-application", transition=True),
)
def submit_application(w: WriteDep, body: ApplicationCreate) -> Any:
    """File the combined form (一张表单) for any subset of the six utilities, in a city."""
    auth.authorize(w.user, Action.submit_application)
    return w.once(body, lambda: w.application(service.submit_application(**w.ctx, form=body)))


@router.get("/applications", response_model=list[ApplicationPublic], **op("list-applications"))
def list_applications(
    session: SessionDep, user: UserDep, now: NowDep, status: str | None = None
) -> list[ApplicationPublic]:
    """List the applications you may see."""
    auth.authorize(user, Action.list_applications)
    return [
        queries.application_public(session, a, now)
        for a in queries.list_applications(session=session, user=user, status=status)
    ]


@router.get(
    "/applications/{application_id}", response_model=ApplicationPublic, **op("read-application")
)
def read_application(
    session: SessionDep, user: UserDep, now: NowDep, application_id: int
) -> ApplicationPublic:
    """Read one application."""
    app = load(session, user, Action.read_application, Application, application_id)
    return queries.application_public(session, app, now)


@router.put(
    "/applications/{application_id}",
    response_model=ApplicationPublic,
    **op("resubmit-application", transition=True),
)
def resubmit_application(w: WriteDep, application_id: int, body: ApplicationUpdate) -> Any:
    """Send a returned application again, corrected."""
    w.load(Action.resubmit_application, Application, application_id)
    return w.once(
        body,
        lambda: w.application(
            service.resubmit_application(**w.ctx, application_id=application_id, form=body)
        ),
    )


@router.post(
    "/applications/{application_id}/accept",
    response_model=ApplicationPublic,
    **op("accept-application", transition=True),
)
def accept_application(w: WriteDep, application_id: int, body: AcceptApplication) -> Any:
    """综合受理: accept and push to the utility companies concerned."""
    w.load(Action.accept_application, Application, application_id)
    return w.once(
        body,
        lambda: w.application(
            service.accept_application(**w.ctx, application_id=application_id, body=body)
        ),
    )


def _refuse(action: str, policy: Action) -> Callable[..., Any]:
    def endpoint(w: WriteDep, application_id: int, body: ReasonBody) -> Any:
        w.load(policy, Application, application_id)
        return w.once(
            body,
            lambda: w.application(
                service.return_application(
                    **w.ctx,
                    application_id=application_id,
                    action=action,
                    reason=body.reason,
                    expected_version=body.version,
                )
            ),
        )

    return endpoint


for _path, _action, _policy, _doc in (
    ("return", "return", Action.return_application, "Return an application for changes."),
    ("reject", "reject", Action.reject_application, "Reject an application."),
    (
        "not-competent",
        "not_competent",
        Action.reject_application,
        "Declare an application outside the flow's competence.",
    ),
):
    _endpoint = _refuse(_action, _policy)
    _endpoint.__doc__ = _doc
    router.add_api_route(
        f"/applications/{{application_id}}/{_path}",
        _endpoint,
        methods=["POST"],
        response_model=ApplicationPublic,
        **op(f"{_path}-application", transition=True),
    )


@router.post(
    "/dispatches/{dispatch_id}/accept",
    response_model=DispatchPublic,
    **op("accept-dispatch", transition=True),
)
def accept_dispatch(w: WriteDep, dispatch_id: int, body: DispatchAccept) -> Any:
    """实时受理 by the company, with the signed construction agreement (委托施工协议)."""
    w.load(Action.accept_dispatch, Dispatch, dispatch_id)
    return w.once(
        body,
        lambda: DispatchPublic.model_validate(
            service.accept_dispatch(**w.ctx, dispatch_id=dispatch_id, body=body)
        ),
    )


# ---------------------------------------------------------------- 联合勘察
@router.post(
    "/applications/{application_id}/opinions",
    status_code=201,
    **op("record-opinion", transition=True),
)
def record_opinion(w: WriteDep, application_id: int, body: OpinionCreate) -> Any:
    """Record your organisation's joint-survey opinion (联合踏勘意见)."""
    w.load(Action.record_opinion, Application, application_id)
    return w.once(
        body,
        lambda: _OpinionOut.model_validate(
            survey.record_opinion(**w.ctx, application_id=application_id, body=body)
        ),
    )


class _OpinionOut(BaseModel):
    model_config = {"from_attributes": True}
    id: int
    organisation_id: int
    real_name: str
    opinion: str
    agrees: bool
    recorded_at: dt.datetime


@router.get(
    "/applications/{application_id}/opinions",
    response_model=list[_OpinionOut],
    **op("list-opinions"),
)
def list_opinions(session: SessionDep, user: UserDep, application_id: int) -> list[SurveyOpinion]:
    """List the joint-survey opinions of an application."""
    load(session, user, Action.read_application, Application, application_id)
    return list(
        session.scalars(
            select(SurveyOpinion)
            .where(SurveyOpinion.application_id == application_id)
            .order_by(SurveyOpinion.id)
        )
    )


@router.post(
    "/applications/{application_id}/routes",
    response_model=RouteVersionPublic,
    status_code=201,
    **op("fix-route", transition=True),
)
def fix_route(w: WriteDep, application_id: int, body: RouteCreate) -> Any:
    """Fix the shared-trench route (a new frozen version); opens or re-opens the permits."""
    w.load(Action.fix_route, Application, application_id)
    return w.once(
        body,
        lambda: RouteVersionPublic.model_validate(
            survey.fix_route(**w.ctx, application_id=application_id, body=body)
        ),
    )


@router.get(
    "/applications/{application_id}/routes",
    response_model=list[RouteVersionPublic],
    **op("list-routes"),
)
def list_routes(session: SessionDep, user: UserDep, application_id: int) -> list[RouteVersion]:
    """List the route versions of an application, oldest first."""
    load(session, user, Action.read_routes, Application, application_id)
    return list(
        session.scalars(
            select(RouteVersion)
            .where(RouteVersion.application_id == application_id)
            .order_by(RouteVersion.version_no)
        )
    )


# ---------------------------------------------------------------- survey -> route (planning)
@router.post(
    "/applications/{application_id}/plans",
    response_model=PlanningPublic,
    status_code=201,
    **op("plan-route", transition=True),
)
def plan_route(
    w: WriteDep, graphs: RoadGraphsDep, application_id: int, body: PlanningCreate
) -> Any:
    """Plan the shared trench from the application's proposals: the alternatives side by side."""
    check_plan_seconds(w.user, body.time_limit_s, w.request.app.state.settings.limits)
    w.load(Action.fix_route, Application, application_id)
    for other in body.with_applications:
        w.load(Action.fix_route, Application, other)
    return w.once(
        body,
        lambda: _planning_public(
            planning.plan_application(
                w.session,
                graphs,
                application_id=application_id,
                with_applications=body.with_applications,
                on_date=body.on_date,
                time_limit_s=body.time_limit_s,
                sharing=body.sharing,
            )
        ),
    )


@router.get(
    "/applications/{application_id}/plans",
    response_model=PlanningPublic,
    **op("read-planning"),
)
def read_planning(session: SessionDep, user: UserDep, application_id: int) -> PlanningPublic:
    """The application's latest planning run: the alternatives side by side."""
    load(session, user, Action.read_routes, Application, application_id)
    found = planning.latest_planning(session, application_id)
    if found is None:
        raise NotFoundError("planning", application_id)
    return _planning_public(found)


@router.post(
    "/applications/{application_id}/routes/from-plan",
    response_model=RouteVersionPublic,
    status_code=201,
    **op("fix-planned-route", transition=True),
)
def fix_planned_route(w: WriteDep, application_id: int, body: RouteFromPlan) -> Any:
    """Fix one planned alternative as the route version; opens or re-opens the permits."""
    w.load(Action.fix_route, Application, application_id)
    return w.once(
        body,
        lambda: RouteVersionPublic.model_validate(
            planning.fix_planned_route(**w.ctx, application_id=application_id, body=body)
        ),
    )


def _planning_public(run: planning.Planning) -> PlanningPublic:
    best = run.best
    return PlanningPublic(
        city=run.city,
        application_ids=list(run.application_ids),
        on_date=run.on_date,
        best=best.name,
        alternatives=[
            AlternativePublic(
                name=a.name,
                title=a.title,
                cost_cny=a.cost_cny,
                feasible=a.feasible,
                constraint=a.constraint,
                status=a.status,
                trench_length_m=a.trench_length_m,
                plan_key=a.plan.plan_key if a.plan else None,
                plan_version=a.plan.version if a.plan else None,
                plan_id=a.plan.id if a.plan else None,
                violations=list(a.violations),
                savings_vs_this_cny=(
                    a.cost_cny - best.cost_cny
                    if a.cost_cny is not None and best.cost_cny is not None
                    else None
                ),
            )
            for a in run.alternatives
        ],
    )


# permits, construction, acceptance, record sheet; dig once across applications: same
# prefix, same tag
router.include_router(views_permits.router)
router.include_router(views_bundles.router)


def _user_public(user: User) -> UserPublic:
    out = UserPublic.model_validate(user)
    out.organisation_code = user.organisation.code if user.organisation else None
    return out
