"""Serve the approval flow over HTTP: parse, authorise, call one service function, translate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated
from typing import Any

from fastapi import APIRouter
from fastapi import Depends
from fastapi import Header
from fastapi import Request
from fastapi import Response
from fastapi.security import OAuth2PasswordBearer
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy import select

from api.approvals import acceptance
from api.approvals import auth
from api.approvals import consultations
from api.approvals import idempotency
from api.approvals import permits
from api.approvals import queries
from api.approvals import service
from api.approvals.enums import Action
from api.approvals.errors import AuthenticationError
from api.approvals.models import Application
from api.approvals.models import Attachment
from api.approvals.models import Consultation
from api.approvals.models import Dispatch
from api.approvals.models import Organisation
from api.approvals.models import Permit
from api.approvals.models import RouteVersion
from api.approvals.models import SurveyOpinion
from api.approvals.models import User
from api.approvals.record_sheet import build_record_sheet
from api.approvals.record_sheet import render_record_sheet_pdf
from api.approvals.schemas import AcceptanceCreate
from api.approvals.schemas import AcceptancePublic
from api.approvals.schemas import AcceptApplication
from api.approvals.schemas import ApplicationCreate
from api.approvals.schemas import ApplicationPublic
from api.approvals.schemas import ApplicationUpdate
from api.approvals.schemas import AuditPublic
from api.approvals.schemas import ConsultationAnswer
from api.approvals.schemas import ConsultationCreate
from api.approvals.schemas import ConsultationPublic
from api.approvals.schemas import DispatchAccept
from api.approvals.schemas import DispatchPublic
from api.approvals.schemas import DueItem
from api.approvals.schemas import FeedbackPublic
from api.approvals.schemas import OpinionCreate
from api.approvals.schemas import OrganisationPublic
from api.approvals.schemas import PermitDecide
from api.approvals.schemas import PermitPublic
from api.approvals.schemas import PermitReview
from api.approvals.schemas import ReasonBody
from api.approvals.schemas import RouteCreate
from api.approvals.schemas import RouteVersionPublic
from api.approvals.schemas import TokenPublic
from api.approvals.schemas import UserCreate
from api.approvals.schemas import UserPublic
from api.approvals.schemas import Versioned
from api.deps import SessionDep

__all__ = ["get_now", "router"]

TAG = "approvals"
router = APIRouter(prefix="/approvals", tags=[TAG])
_bearer = OAuth2PasswordBearer(tokenUrl="/approvals/auth/token", auto_error=False)


def get_now() -> dt.datetime:
    """The current instant (a dependency, so tests can move the clock)."""
    return dt.datetime.now(dt.UTC)


NowDep = Annotated[dt.datetime, Depends(get_now)]
KeyDep = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def current_user(
    session: SessionDep, now: NowDep, token: Annotated[str | None, Depends(_bearer)]
) -> User:
    if not token:
        msg = "missing bearer token"
        raise AuthenticationError(msg)
    return auth.authenticate(session=session, token=token, now=now)


UserDep = Annotated[User, Depends(current_user)]


def _op(name: str) -> dict[str, Any]:
    return {"operation_id": f"{TAG}-{name}"}


def _once(  # noqa: PLR0917 - the one wrapper every write endpoint calls the same way
    request: Request,
    session: SessionDep,
    user: User,
    key: str | None,
    body: BaseModel | None,
    call: Callable[[], BaseModel],
    status_code: int = 200,
) -> Any:
    raw = body.model_dump_json().encode() if body is not None else b""
    return idempotency.run_once(
        lambda: call().model_dump(mode="json"),
        session=session,
        user=user,
        key=key,
        status_code=status_code,
        request_fingerprint=idempotency.fingerprint(request.method, request.url.path, raw),
    )


def _load(session: SessionDep, user: User, action: Action, model: type[Any], key: int) -> Any:
    auth.authorize(user, action)
    row = service.get_or_404(session, model, key)
    auth.authorize(user, action, row, session=session)
    return row


# ---------------------------------------------------------------- users
@router.post("/auth/token", response_model=TokenPublic, **_op("login"))
def login(
    *,
    request: Request,
    session: SessionDep,
    now: NowDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenPublic:
    """Log in with username and password; get a bearer token."""
    ttl = request.app.state.settings.auth.token_ttl_minutes
    token, expires = auth.login(
        session=session, username=form.username, password=form.password, now=now, ttl_minutes=ttl
    )
    return TokenPublic(access_token=token, expires_at=expires)


@router.get("/me", response_model=UserPublic, **_op("me"))
def me(user: UserDep) -> UserPublic:
    """Who am I."""
    auth.authorize(user, Action.read_me)
    return _user_public(user)


@router.post("/users", response_model=UserPublic, status_code=201, **_op("create-user"))
def create_user(session: SessionDep, user: UserDep, body: UserCreate) -> UserPublic:
    """Create a real-name user (administrator)."""
    from api.approvals.users import create_user as create  # noqa: PLC0415 - keeps auth light

    auth.authorize(user, Action.manage_users)
    return _user_public(create(session=session, body=body))


@router.get("/users", response_model=list[UserPublic], **_op("list-users"))
def list_users(session: SessionDep, user: UserDep) -> list[UserPublic]:
    """List the users (administrator)."""
    auth.authorize(user, Action.manage_users)
    return [_user_public(u) for u in session.scalars(select(User).order_by(User.id))]


@router.get("/organisations", response_model=list[OrganisationPublic], **_op("list-organisations"))
def list_organisations(session: SessionDep, user: UserDep) -> list[Organisation]:
    """List the departments and utility companies (一支队伍)."""
    auth.authorize(user, Action.list_organisations)
    return list(session.scalars(select(Organisation).order_by(Organisation.code)))


# ---------------------------------------------------------------- 前置咨询
@router.post(
    "/consultations", response_model=ConsultationPublic, status_code=201, **_op("ask-consultation")
)
def ask_consultation(
    *,
    request: Request,
    session: SessionDep,
    user: UserDep,
    now: NowDep,
    body: ConsultationCreate,
    key: KeyDep = None,
) -> Any:
    """Ask about a planned project before applying (前置咨询)."""
    auth.authorize(user, Action.ask_consultation)
    return _once(
        request,
        session,
        user,
        key,
        body,
        lambda: ConsultationPublic.model_validate(
            consultations.ask_consultation(session=session, actor=user, body=body, now=now)
        ),
        201,
    )


@router.get("/consultations", response_model=list[ConsultationPublic], **_op("list-consultations"))
def list_consultations(session: SessionDep, user: UserDep) -> list[Consultation]:
    """List pre-consultations (an applicant sees their own)."""
    auth.authorize(user, Action.list_consultations)
    return queries.list_consultations(session=session, user=user)


@router.post(
    "/consultations/{consultation_id}/answer",
    response_model=ConsultationPublic,
    **_op("answer-consultation"),
)
def answer_consultation(
    *,
    request: Request,
    session: SessionDep,
    user: UserDep,
    now: NowDep,
    consultation_id: int,
    body: ConsultationAnswer,
    key: KeyDep = None,
) -> Any:
    """Answer a pre-consultation."""
    _load(session, user, Action.answer_consultation, Consultation, consultation_id)
    return _once(
        request,
        session,
        user,
        key,
        body,
        lambda: ConsultationPublic.model_validate(
            consultations.answer_consultation(
                session=session, actor=user, consultation_id=consultation_id, body=body, now=now
            )
        ),
    )


# ---------------------------------------------------------------- 一张表单, 综合受理
@router.post(
    "/applications", response_model=ApplicationPublic, status_code=201, **_op("submit-application")
)
def submit_application(
    *,
    request: Request,
    session: SessionDep,
    user: UserDep,
    now: NowDep,
    body: ApplicationCreate,
    key: KeyDep = None,
) -> Any:
    """File the combined form (一张表单) for any subset of the six utilities."""
    auth.authorize(user, Action.submit_application)
    return _once(
        request,
        session,
        user,
        key,
        body,
        lambda: queries.application_public(
            session,
            service.submit_application(session=session, actor=user, form=body, now=now),
            now,
        ),
        201,
    )


@router.get("/applications", response_model=list[ApplicationPublic], **_op("list-applications"))
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
    "/applications/{application_id}", response_model=ApplicationPublic, **_op("read-application")
)
def read_application(
    session: SessionDep, user: UserDep, now: NowDep, application_id: int
) -> ApplicationPublic:
    """Read one application."""
    app = _load(session, user, Action.read_application, Application, application_id)
    return queries.application_public(session, app, now)


@router.put(
    "/applications/{application_id}",
    response_model=ApplicationPublic,
    **_op("resubmit-application"),
)
def resubmit_application(
    *,
    request: Request,
    session: SessionDep,
    user: UserDep,
    now: NowDep,
    application_id: int,
    body: ApplicationUpdate,
    key: KeyDep = None,
) -> Any:
    """Send a returned application again, corrected."""
    _load(session, user, Action.resubmit_application, Application, application_id)
    return _once(
        request,
        session,
        user,
        key,
        body,
        lambda: queries.application_public(
            session,
            service.resubmit_application(
                session=session, actor=user, application_id=application_id, form=body, now=now
            ),
            now,
        ),
    )


@router.post(
    "/applications/{application_id}/accept",
    response_model=ApplicationPublic,
    **_op("accept-application"),
)
def accept_application(
    *,
    request: Request,
    session: SessionDep,
    user: UserDep,
    now: NowDep,
    application_id: int,
    body: AcceptApplication,
    key: KeyDep = None,
) -> Any:
    """综合受理: accept and push to the utility companies concerned."""
    _load(session, user, Action.accept_application, Application, application_id)
    return _once(
        request,
        session,
        user,
        key,
        body,
        lambda: queries.application_public(
            session,
            service.accept_application(
                session=session, actor=user, application_id=application_id, body=body, now=now
            ),
            now,
        ),
    )


def _refuse(action: str, policy: Action) -> Callable[..., Any]:
    def endpoint(
        *,
        request: Request,
        session: SessionDep,
        user: UserDep,
        now: NowDep,
        application_id: int,
        body: ReasonBody,
        key: KeyDep = None,
    ) -> Any:
        _load(session, user, policy, Application, application_id)
        return _once(
            request,
            session,
            user,
            key,
            body,
            lambda: queries.application_public(
                session,
                service.return_application(
                    session=session,
                    actor=user,
                    application_id=application_id,
                    action=action,
                    reason=body.reason,
                    expected_version=body.version,
                    now=now,
                ),
                now,
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
        **_op(f"{_path}-application"),
    )


@router.post(
    "/dispatches/{dispatch_id}/accept", response_model=DispatchPublic, **_op("accept-dispatch")
)
def accept_dispatch(
    *,
    request: Request,
    session: SessionDep,
    user: UserDep,
    now: NowDep,
    dispatch_id: int,
    body: DispatchAccept,
    key: KeyDep = None,
) -> Any:
    """实时受理 by the company, with the signed construction agreement (委托施工协议)."""
    _load(session, user, Action.accept_dispatch, Dispatch, dispatch_id)

    return _once(
        request,
        session,
        user,
        key,
        body,
        lambda: DispatchPublic.model_validate(
            service.accept_dispatch(
                session=session, actor=user, dispatch_id=dispatch_id, body=body, now=now
            )
        ),
    )


# ---------------------------------------------------------------- 联合勘察
@router.post("/applications/{application_id}/opinions", status_code=201, **_op("record-opinion"))
def record_opinion(
    *,
    request: Request,
    session: SessionDep,
    user: UserDep,
    now: NowDep,
    application_id: int,
    body: OpinionCreate,
    key: KeyDep = None,
) -> Any:
    """Record your organisation's joint-survey opinion (联合踏勘意见)."""
    _load(session, user, Action.record_opinion, Application, application_id)
    return _once(
        request,
        session,
        user,
        key,
        body,
        lambda: _OpinionOut.model_validate(
            service.record_opinion(
                session=session, actor=user, application_id=application_id, body=body, now=now
            )
        ),
        201,
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
    **_op("list-opinions"),
)
def list_opinions(session: SessionDep, user: UserDep, application_id: int) -> list[SurveyOpinion]:
    """List the joint-survey opinions of an application."""
    _load(session, user, Action.read_application, Application, application_id)
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
    **_op("fix-route"),
)
def fix_route(
    *,
    request: Request,
    session: SessionDep,
    user: UserDep,
    now: NowDep,
    application_id: int,
    body: RouteCreate,
    key: KeyDep = None,
) -> Any:
    """Fix the shared-trench route (a new frozen version); opens or re-opens the permits."""
    _load(session, user, Action.fix_route, Application, application_id)
    return _once(
        request,
        session,
        user,
        key,
        body,
        lambda: RouteVersionPublic.model_validate(
            service.fix_route(
                session=session, actor=user, application_id=application_id, body=body, now=now
            )
        ),
        201,
    )


@router.get(
    "/applications/{application_id}/routes",
    response_model=list[RouteVersionPublic],
    **_op("list-routes"),
)
def list_routes(session: SessionDep, user: UserDep, application_id: int) -> list[RouteVersion]:
    """List the route versions of an application, oldest first."""
    _load(session, user, Action.read_routes, Application, application_id)
    return list(
        session.scalars(
            select(RouteVersion)
            .where(RouteVersion.application_id == application_id)
            .order_by(RouteVersion.version_no)
        )
    )


# ---------------------------------------------------------------- 许可审批
@router.get("/permits", response_model=list[PermitPublic], **_op("list-permits"))
def list_permits(
    session: SessionDep,
    user: UserDep,
    now: NowDep,
    application_id: int | None = None,
    status: str | None = None,
) -> list[PermitPublic]:
    """List the permits you may see (a department sees its own)."""
    auth.authorize(user, Action.list_permits)
    return [
        queries.permit_public(session, p, now)
        for p in queries.list_permits(
            session=session, user=user, application_id=application_id, status=status
        )
    ]


@router.get("/permits/{permit_id}", response_model=PermitPublic, **_op("read-permit"))
def read_permit(session: SessionDep, user: UserDep, now: NowDep, permit_id: int) -> PermitPublic:
    """Read one permit with its attachments."""
    return queries.permit_public(
        session, _load(session, user, Action.read_permit, Permit, permit_id), now
    )


@router.post("/permits/{permit_id}/review", response_model=PermitPublic, **_op("review-permit"))
def review_permit(
    *,
    request: Request,
    session: SessionDep,
    user: UserDep,
    now: NowDep,
    permit_id: int,
    body: PermitReview,
    key: KeyDep = None,
) -> Any:
    """First level (clerk): review and recommend."""
    _load(session, user, Action.review_permit, Permit, permit_id)
    return _once(
        request,
        session,
        user,
        key,
        body,
        lambda: queries.permit_public(
            session,
            permits.review_permit(
                session=session, actor=user, permit_id=permit_id, body=body, now=now
            ),
            now,
        ),
    )


@router.post("/permits/{permit_id}/decide", response_model=PermitPublic, **_op("decide-permit"))
def decide_permit(
    *,
    request: Request,
    session: SessionDep,
    user: UserDep,
    now: NowDep,
    permit_id: int,
    body: PermitDecide,
    key: KeyDep = None,
) -> Any:
    """Second level (chief): decide; the result goes to every company at once."""
    _load(session, user, Action.decide_permit, Permit, permit_id)
    return _once(
        request,
        session,
        user,
        key,
        body,
        lambda: queries.permit_public(
            session,
            permits.decide_permit(
                session=session, actor=user, permit_id=permit_id, body=body, now=now
            ),
            now,
        ),
    )


@router.post("/permits/{permit_id}/resubmit", response_model=PermitPublic, **_op("resubmit-permit"))
def resubmit_permit(
    *,
    request: Request,
    session: SessionDep,
    user: UserDep,
    now: NowDep,
    permit_id: int,
    body: ReasonBody,
    key: KeyDep = None,
) -> Any:
    """Send a permit returned for changes back to its department."""
    _load(session, user, Action.resubmit_permit, Permit, permit_id)
    return _once(
        request,
        session,
        user,
        key,
        body,
        lambda: queries.permit_public(
            session,
            permits.resubmit_permit(
                session=session,
                actor=user,
                permit_id=permit_id,
                reason=body.reason,
                expected_version=body.version,
                now=now,
            ),
            now,
        ),
    )


@router.get("/attachments/{attachment_id}", **_op("read-attachment"))
def read_attachment(session: SessionDep, user: UserDep, attachment_id: int) -> Response:
    """Download a stored document."""
    auth.authorize(user, Action.read_attachment)
    att: Attachment = service.get_or_404(session, Attachment, attachment_id)
    app = service.get_or_404(session, Application, att.application_id or 0)
    auth.authorize(user, Action.read_attachment, app, session=session)
    return Response(
        att.data,
        media_type=att.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{att.filename}"',
            "X-Content-SHA256": att.sha256,
        },
    )


@router.get("/feedback", response_model=list[FeedbackPublic], **_op("list-feedback"))
def list_feedback(session: SessionDep, user: UserDep, since_id: int = 0) -> list[Any]:
    """同步反馈: the events sent to your company (newer than ``since_id``)."""
    auth.authorize(user, Action.list_feedback)
    return queries.list_feedback(session=session, user=user, since_id=since_id)


# ---------------------------------------------------------------- 施工, 验收
def _construction(name: str, policy: Action, fn: Callable[..., Application]) -> Callable[..., Any]:
    def endpoint(
        *,
        request: Request,
        session: SessionDep,
        user: UserDep,
        now: NowDep,
        application_id: int,
        body: Versioned,
        key: KeyDep = None,
    ) -> Any:
        _load(session, user, policy, Application, application_id)
        return _once(
            request,
            session,
            user,
            key,
            body,
            lambda: queries.application_public(
                session,
                fn(
                    session=session,
                    actor=user,
                    application_id=application_id,
                    expected_version=body.version,
                    now=now,
                ),
                now,
            ),
        )

    endpoint.__name__ = name
    return endpoint


router.add_api_route(
    "/applications/{application_id}/construction/start",
    _construction("start_construction", Action.start_construction, service.start_construction),
    methods=["POST"],
    response_model=ApplicationPublic,
    **_op("start-construction"),
    summary="Start construction (the explicit 施工 button).",
)
router.add_api_route(
    "/applications/{application_id}/construction/finish",
    _construction("finish_construction", Action.finish_construction, service.finish_construction),
    methods=["POST"],
    response_model=ApplicationPublic,
    **_op("finish-construction"),
    summary="Construction finished: the acceptance clock starts.",
)


@router.post(
    "/applications/{application_id}/acceptances",
    response_model=AcceptancePublic,
    status_code=201,
    **_op("record-acceptance"),
)
def record_acceptance(
    *,
    request: Request,
    session: SessionDep,
    user: UserDep,
    now: NowDep,
    application_id: int,
    body: AcceptanceCreate,
    key: KeyDep = None,
) -> Any:
    """Record a joint or single-utility acceptance (验收) with the connection appointment."""
    _load(session, user, Action.record_acceptance, Application, application_id)
    return _once(
        request,
        session,
        user,
        key,
        body,
        lambda: AcceptancePublic.model_validate(
            acceptance.record_acceptance(
                session=session, actor=user, application_id=application_id, body=body, now=now
            )
        ),
        201,
    )


@router.get("/applications/{application_id}/record-sheet", **_op("read-record-sheet"))
def read_record_sheet(session: SessionDep, user: UserDep, application_id: int) -> dict[str, Any]:
    """The full-process record sheet (全流程记录表) as JSON (so far, until the end)."""
    app = _load(session, user, Action.read_record_sheet, Application, application_id)
    return build_record_sheet(session, app)


@router.get(
    "/applications/{application_id}/record-sheet.pdf",
    **_op("read-record-sheet-pdf"),
    response_class=Response,
)
def read_record_sheet_pdf(session: SessionDep, user: UserDep, application_id: int) -> Response:
    """The record sheet as PDF: the one stored at completion, else drawn now."""
    app = _load(session, user, Action.read_record_sheet, Application, application_id)
    stored = session.scalars(
        select(Attachment)
        .where(
            Attachment.application_id == app.id,
            Attachment.owner_kind == "record_sheet",
            Attachment.content_type == "application/pdf",
        )
        .order_by(Attachment.id.desc())
    ).first()
    data = stored.data if stored else render_record_sheet_pdf(build_record_sheet(session, app))
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{app.number}.pdf"'},
    )


@router.get(
    "/applications/{application_id}/audit", response_model=list[AuditPublic], **_op("list-audit")
)
def list_audit(session: SessionDep, user: UserDep, application_id: int) -> list[Any]:
    """The append-only audit trail of an application."""
    _load(session, user, Action.read_audit, Application, application_id)
    return queries.list_audit(session=session, application_id=application_id)


@router.get("/due", response_model=list[DueItem], **_op("list-due"))
def list_due(session: SessionDep, user: UserDep, now: NowDep) -> list[DueItem]:
    """What you must act on today (Beijing working days), overdue first."""
    auth.authorize(user, Action.list_due)
    return queries.due_items(session=session, user=user, now=now)


@router.post("/deadlines/sweep", response_model=list[PermitPublic], **_op("sweep-deadlines"))
def sweep_deadlines(session: SessionDep, user: UserDep, now: NowDep) -> list[PermitPublic]:
    """Mark permits past their deadline as ``deadline_passed`` (administrator; run by a timer)."""
    auth.authorize(user, Action.sweep_deadlines)
    return [
        queries.permit_public(session, p, now)
        for p in permits.sweep_deadlines(session=session, actor=user, now=now)
    ]


def _user_public(user: User) -> UserPublic:
    out = UserPublic.model_validate(user)
    out.organisation_code = user.organisation.code if user.organisation else None
    return out
