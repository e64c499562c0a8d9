"""Authenticate users and authorise every action in one place: a role policy plus ownership.

Passwords are hashed with argon2 (argon2-cffi). Tokens are opaque random strings; only their
SHA-256 is stored, so a leaked table gives no usable token and a token can be revoked.
Every view calls :func:`authorize` (role allowed for the action, then the item belongs to the
user's company, department or person); lists are narrowed by :func:`application_scope` and
:func:`permit_scope`. Nothing else decides who may do what.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError
from sqlalchemy import ColumnElement
from sqlalchemy import and_
from sqlalchemy import exists
from sqlalchemy import false
from sqlalchemy import select
from sqlalchemy import true
from sqlalchemy import update
from sqlalchemy.orm import Session

from api.approvals.enums import Action
from api.approvals.enums import ApplicationStatus
from api.approvals.enums import DepartmentKind
from api.approvals.enums import Role
from api.approvals.errors import AuthenticationError
from api.approvals.errors import LoginThrottledError
from api.approvals.errors import PermissionDeniedError
from api.approvals.models import ApiToken
from api.approvals.models import Application
from api.approvals.models import Attachment
from api.approvals.models import Dispatch
from api.approvals.models import LoginAttempt
from api.approvals.models import Permit
from api.approvals.models import User

__all__ = [
    "POLICY",
    "application_scope",
    "authenticate",
    "authorize",
    "can_see_application",
    "city_of",
    "hash_password",
    "issue_token",
    "login",
    "may_use_city",
    "permit_scope",
    "revoke_token",
    "verify_password",
]

R = Role
ALL_ROLES = frozenset(Role)
CITY_MANAGEMENT = frozenset({R.acceptor, R.responsible_person})
# the GIS side: who reads a city's layers, proposals and plans (each only of their city)
REVIEWERS = CITY_MANAGEMENT | frozenset({R.dept_clerk, R.dept_chief})
GIS_READERS = REVIEWERS | frozenset({R.data_admin, R.designer, R.auditor, R.utility_staff})
DESIGNERS = frozenset({R.designer, R.utility_staff})
# roles whose work is one city's GIS data: without a city they may use none
CITY_BOUND = frozenset({R.data_admin, R.designer, R.auditor})

# role x action: who may ask for what at all. Ownership is checked after (see _OWNERSHIP).
POLICY: dict[Action, frozenset[Role]] = {
    Action.read_me: ALL_ROLES,
    Action.logout: ALL_ROLES,
    Action.list_organisations: ALL_ROLES,
    Action.manage_users: frozenset({R.admin}),
    Action.ask_consultation: frozenset({R.applicant}),
    Action.list_consultations: frozenset({R.applicant, R.admin}) | CITY_MANAGEMENT,
    Action.answer_consultation: CITY_MANAGEMENT,
    Action.submit_application: frozenset({R.applicant}),
    Action.list_applications: ALL_ROLES,
    Action.read_application: ALL_ROLES,
    Action.accept_application: frozenset({R.acceptor}),
    Action.return_application: frozenset({R.acceptor}),
    Action.reject_application: frozenset({R.acceptor}),
    Action.resubmit_application: frozenset({R.applicant}),
    Action.accept_dispatch: frozenset({R.utility_staff}),
    Action.record_opinion: frozenset({R.utility_staff, R.dept_clerk}),
    Action.fix_route: CITY_MANAGEMENT,
    Action.read_routes: ALL_ROLES,
    Action.list_permits: ALL_ROLES,
    Action.read_permit: ALL_ROLES,
    Action.review_permit: frozenset({R.dept_clerk}),
    Action.decide_permit: frozenset({R.dept_chief}),
    Action.resubmit_permit: CITY_MANAGEMENT,
    Action.read_attachment: ALL_ROLES,
    Action.list_feedback: frozenset({R.utility_staff, R.acceptor, R.admin}),
    Action.start_construction: frozenset({R.utility_staff, R.responsible_person}),
    Action.finish_construction: frozenset({R.utility_staff, R.responsible_person}),
    Action.record_acceptance: frozenset({R.utility_staff}),
    Action.read_record_sheet: ALL_ROLES,
    Action.read_audit: frozenset({R.admin, R.auditor}) | CITY_MANAGEMENT,
    Action.list_due: ALL_ROLES,
    Action.sweep_deadlines: frozenset({R.admin}),
    # the GIS side (api/policy.py maps every endpoint to one of these); per city, see
    # may_use_city
    Action.read_layers: GIS_READERS,
    Action.import_layer: frozenset({R.data_admin}),
    Action.submit_proposals: DESIGNERS,
    Action.read_proposals: GIS_READERS,
    Action.make_plan: frozenset({R.designer}) | CITY_MANAGEMENT,
    Action.read_plans: GIS_READERS,
    Action.compute_sections: GIS_READERS,
    Action.use_workbench: ALL_ROLES,
}

_HASHER = PasswordHasher()
# departments see an application once it has left the window
_PAST_WINDOW = frozenset(ApplicationStatus) - {
    ApplicationStatus.submitted,
    ApplicationStatus.returned,
    ApplicationStatus.rejected,
    ApplicationStatus.not_competent,
}


def hash_password(password: str) -> str:
    """Return the argon2id hash of ``password``."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Return whether ``password`` matches ``password_hash`` (never raises on a mismatch)."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# throttling: failures within the window lock the account (per name) or the address
LOGIN_WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_ADDRESS = 20
# verified when the name is unknown, so an unknown name costs as much as a known one
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(24))


def login(
    *,
    session: Session,
    username: str,
    password: str,
    now: dt.datetime,
    ttl_minutes: int,
    address: str = "unknown",
) -> tuple[str, dt.datetime]:
    """Check the password and issue a token; the same error for an unknown user or password.

    Every try is recorded (``appr_login_attempts``). After ``MAX_FAILURES_PER_NAME`` failures
    of one name, or ``MAX_FAILURES_PER_ADDRESS`` from one address, within ``LOGIN_WINDOW``,
    logins are refused until the oldest failure leaves the window, right password or not.
    The caller commits the session also when this raises, so failures are counted.

    Raises
    ------
    LoginThrottledError
        While the name or the address is locked out (with ``retry_after`` seconds).
    AuthenticationError
        If the user is unknown, inactive or the password is wrong.
    """
    name = username[:200]
    where = address[:64]
    _refuse_if_locked(session, name, where, now)
    user = session.scalars(select(User).where(User.username == name)).one_or_none()
    stored = user.password_hash if user is not None else _DUMMY_HASH
    good = verify_password(stored, password)
    ok = good and user is not None and user.is_active
    session.add(LoginAttempt(at=now, username=name, address=where, succeeded=ok))
    session.flush()
    if not ok or user is None:
        msg = "用户名或密码错误 / wrong username or password"
        raise AuthenticationError(msg)
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return issue_token(session=session, user=user, now=now, ttl_minutes=ttl_minutes)


def _refuse_if_locked(session: Session, username: str, address: str, now: dt.datetime) -> None:
    since = now - LOGIN_WINDOW
    for column, value, limit in (
        (LoginAttempt.username, username, MAX_FAILURES_PER_NAME),
        (LoginAttempt.address, address, MAX_FAILURES_PER_ADDRESS),
    ):
        failures = session.scalars(
            select(LoginAttempt.at)
            .where(column == value, LoginAttempt.at > since, LoginAttempt.succeeded.is_(False))
            .order_by(LoginAttempt.at.desc())
            .limit(limit)
        ).all()
        if len(failures) >= limit:
            retry = int((failures[-1] + LOGIN_WINDOW - now).total_seconds()) + 1
            raise LoginThrottledError(max(retry, 1))


def issue_token(
    *, session: Session, user: User, now: dt.datetime, ttl_minutes: int
) -> tuple[str, dt.datetime]:
    """Store a new token for ``user`` and return it with its expiry."""
    token = secrets.token_urlsafe(32)
    expires = now + dt.timedelta(minutes=ttl_minutes)
    session.add(ApiToken(token_sha256=_digest(token), user_id=user.id, expires_at=expires))
    session.flush()
    return token, expires


def revoke_token(*, session: Session, token: str) -> None:
    """Revoke ``token`` (logout); an unknown token is left alone."""
    session.execute(
        update(ApiToken).where(ApiToken.token_sha256 == _digest(token)).values(revoked=True)
    )


def authenticate(*, session: Session, token: str, now: dt.datetime) -> User:
    """Return the active user holding ``token``.

    Raises
    ------
    AuthenticationError
        If the token is unknown, revoked or expired, or the user is inactive.
    """
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_sha256 == _digest(token))
    ).one_or_none()
    if row is None or row[0].revoked or row[0].expires_at <= now or not row[1].is_active:
        msg = "invalid or expired token"
        raise AuthenticationError(msg)
    user: User = row[1]
    return user


def authorize(
    user: User, action: Action, target: Any = None, *, session: Session | None = None
) -> None:
    """Allow ``user`` to do ``action`` (on ``target``) or raise ``PermissionDeniedError``.

    The role must be listed for the action in ``POLICY``; with a target, the target must
    also belong to the user (their own application, their company's dispatch, their
    department's permit, ...).
    """
    role = Role(user.role)
    if role not in POLICY[action]:
        raise PermissionDeniedError(role, action)
    if target is None:
        return
    check = _OWNERSHIP.get(action, _can_see)
    if not check(user, target, session):
        raise PermissionDeniedError(role, action, f"not your {type(target).__name__.lower()}")


def city_of(user: User) -> str | None:
    """The one city whose GIS data ``user`` may use; ``None``: every city of the service.

    City-bound roles (data administrator, designer, auditor) and any user given a city
    are limited to it; a city-bound role without a city gets a city no data belongs to.
    """
    if user.city:
        return user.city
    return "" if Role(user.role) in CITY_BOUND else None


def may_use_city(user: User, city: str) -> bool:
    """Whether ``user`` may read or change the GIS data of ``city``."""
    mine = city_of(user)
    return mine is None or mine == city


def application_scope(user: User) -> ColumnElement[bool]:  # noqa: PLR0911 - one per role
    """Return a WHERE clause selecting the applications ``user`` may see."""
    role = Role(user.role)
    if role in {R.acceptor, R.admin, R.auditor}:
        return true()
    if role is R.applicant:
        return Application.applicant_id == user.id
    if role is R.responsible_person:
        return Application.coordinator_id == user.id
    if role is R.utility_staff:
        return exists().where(
            Dispatch.application_id == Application.id,
            Dispatch.company_id == user.organisation_id,
        )
    org = user.organisation
    if org is None:
        return false()
    past = Application.status.in_([s.value for s in _PAST_WINDOW])
    if org.department_kind == DepartmentKind.district_management:
        return and_(past, Application.district == org.district)
    return past


def permit_scope(user: User) -> ColumnElement[bool]:
    """Return a WHERE clause selecting the permits ``user`` may see."""
    if Role(user.role) in {R.dept_clerk, R.dept_chief}:
        return Permit.department_id == user.organisation_id
    return Permit.application_id.in_(select(Application.id).where(application_scope(user)))


def can_see_application(user: User, app: Application, session: Session | None) -> bool:
    """Return whether ``app`` is within ``user``'s scope (the same rule as the list filter)."""
    role = Role(user.role)
    if role in {R.acceptor, R.admin, R.auditor}:
        return True
    if role is R.applicant:
        return app.applicant_id == user.id
    if role is R.responsible_person:
        return app.coordinator_id == user.id
    if role is R.utility_staff:
        return any(d.company_id == user.organisation_id for d in app.dispatches)
    org = user.organisation
    if org is None or app.status not in _PAST_WINDOW:
        return False
    return org.department_kind != DepartmentKind.district_management or (
        org.district == app.district
    )


def _can_see(user: User, target: Any, session: Session | None) -> bool:
    if isinstance(target, Application):
        return can_see_application(user, target, session)
    if isinstance(target, Permit):
        if Role(user.role) in {R.dept_clerk, R.dept_chief}:
            return target.department_id == user.organisation_id
        return _can_see(user, _application_of(target, session), session)
    if isinstance(target, Dispatch):
        return _can_see(user, _application_of(target, session), session)
    asker = getattr(target, "asker_id", None)
    if asker is not None:  # a consultation: the asker and the bureau
        return Role(user.role) is not R.applicant or asker == user.id
    return False


def _may_read_attachment(user: User, target: Any, session: Session | None) -> bool:
    """A document is read by whom the object it belongs to is for (``_ATTACHMENT_READERS``);
    the form's own files and the record sheet by whoever sees the application."""
    if not isinstance(target, Attachment) or session is None or target.application_id is None:
        return False
    app = session.get(Application, target.application_id)
    if app is None:
        return False
    check = _ATTACHMENT_READERS.get(target.owner_kind)
    if check is not None:
        return check(user, target, app, session)
    return can_see_application(user, app, session)


def _reads_permit_document(user: User, att: Attachment, app: Application, s: Session) -> bool:
    """A permit's sheet: its own department (not the others), or whoever sees the application."""
    permit = s.get(Permit, att.owner_id)
    if permit is None:
        return False
    if Role(user.role) in {R.dept_clerk, R.dept_chief}:
        return permit.department_id == user.organisation_id
    return can_see_application(user, app, s)


def _reads_agreement(user: User, att: Attachment, app: Application, s: Session) -> bool:
    """A company's 委托施工协议 (with its price): that company, the applicant who signed it and
    the city management bureau; not the other companies, not the departments."""
    dispatch = s.get(Dispatch, att.owner_id)
    role = Role(user.role)
    if dispatch is None:
        return False
    if role is R.utility_staff:
        return dispatch.company_id == user.organisation_id
    parties = {R.applicant, R.responsible_person, R.acceptor, R.auditor, R.admin}
    return role in parties and can_see_application(user, app, s)


_ATTACHMENT_READERS: dict[str, Callable[[User, Attachment, Application, Session], bool]] = {
    "permit": _reads_permit_document,
    "agreement": _reads_agreement,
}


def _owns_permit(user: User, target: Any, session: Session | None) -> bool:
    return isinstance(target, Permit) and target.department_id == user.organisation_id


def _owns_dispatch(user: User, target: Any, session: Session | None) -> bool:
    return isinstance(target, Dispatch) and target.company_id == user.organisation_id


def _coordinates_or_dispatched(user: User, target: Any, session: Session | None) -> bool:
    """Acts on the application: its coordinator (负责人) or a company it was dispatched to."""
    app = target if isinstance(target, Application) else _application_of(target, session)
    if Role(user.role) is R.responsible_person:
        return app.coordinator_id == user.id
    if Role(user.role) is R.acceptor:
        return True
    return any(d.company_id == user.organisation_id for d in app.dispatches)


def _application_of(target: Any, session: Session | None) -> Application:
    if session is None:
        msg = "a session is needed to check ownership of a dependent item"
        raise RuntimeError(msg)
    return session.get_one(Application, target.application_id)


# action -> who owns the target; actions not listed need only visibility
_OWNERSHIP: dict[Action, Callable[[User, Any, Session | None], bool]] = {
    Action.accept_dispatch: _owns_dispatch,
    Action.read_attachment: _may_read_attachment,
    Action.review_permit: _owns_permit,
    Action.decide_permit: _owns_permit,
    Action.resubmit_permit: _coordinates_or_dispatched,
    Action.fix_route: _coordinates_or_dispatched,
    Action.start_construction: _coordinates_or_dispatched,
    Action.finish_construction: _coordinates_or_dispatched,
    Action.record_acceptance: _coordinates_or_dispatched,
}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
