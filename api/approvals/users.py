"""Create the real-name users of the flow (实名制), each with one role and organisation."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals.auth import hash_password
from api.approvals.enums import OrganisationKind
from api.approvals.enums import Role
from api.approvals.errors import FormValidationError
from api.approvals.models import Organisation
from api.approvals.models import User
from api.approvals.passwords import password_problem
from api.approvals.schemas import UserCreate
from geodata.tables import City

__all__ = ["CITY_ROLES", "ORGANISATION_KIND_FOR_ROLE", "create_user"]

# which kind of organisation a role belongs to; None = none at all
ORGANISATION_KIND_FOR_ROLE: dict[Role, OrganisationKind | None] = {
    Role.applicant: None,
    Role.admin: None,
    Role.acceptor: OrganisationKind.department,
    Role.responsible_person: OrganisationKind.department,
    Role.dept_clerk: OrganisationKind.department,
    Role.dept_chief: OrganisationKind.department,
    Role.utility_staff: OrganisationKind.utility_company,
    Role.data_admin: None,
    Role.designer: OrganisationKind.utility_company,
    Role.auditor: None,
}
# the GIS roles work on one city's data and need one
CITY_ROLES = frozenset({Role.data_admin, Role.designer, Role.auditor})


def create_user(*, session: Session, body: UserCreate, password_hash: str | None = None) -> User:
    """Store a user with an argon2 password hash (``password_hash``, if given, is used as is).

    Raises
    ------
    FormValidationError
        If the username is taken, the password breaks the policy (api/approvals/passwords.py)
        or the organisation does not fit the role.
    """
    errors = []
    if session.scalar(select(User.id).where(User.username == body.username)) is not None:
        errors.append({"loc": ["body", "username"], "type": "value_error", "msg": "already taken"})
    weak = None if password_hash else password_problem(body.password, username=body.username)
    if weak is not None:
        errors.append({"loc": ["body", "password"], "type": "value_error", "msg": weak})
    want = ORGANISATION_KIND_FOR_ROLE[body.role]
    org = None
    if body.organisation_code is not None:
        org = session.scalars(
            select(Organisation).where(Organisation.code == body.organisation_code)
        ).one_or_none()
    if (want is None) != (body.organisation_code is None) or (
        want is not None and (org is None or org.kind != want)
    ):
        need = "no organisation" if want is None else f"the code of a {want}"
        errors.append(
            {
                "loc": ["body", "organisation_code"],
                "type": "value_error",
                "msg": f"role {body.role} needs {need}",
            }
        )
    elif (
        body.role in {Role.acceptor, Role.responsible_person}
        and org is not None
        and (org.department_kind != "city_management")
    ):
        errors.append(
            {
                "loc": ["body", "organisation_code"],
                "type": "value_error",
                "msg": f"role {body.role} belongs to the city management bureau",
            }
        )
    if body.city is None and body.role in CITY_ROLES:
        msg = f"role {body.role} needs a city"
        errors.append({"loc": ["body", "city"], "type": "value_error", "msg": msg})
    elif (
        body.city is not None
        and session.scalar(select(City.id).where(City.name == body.city)) is None
    ):
        errors.append(
            {"loc": ["body", "city"], "type": "value_error", "msg": f"no city {body.city!r}"}
        )
    if errors:
        raise FormValidationError(errors)
    user = User(
        username=body.username,
        password_hash=password_hash or hash_password(body.password),
        real_name=body.real_name,
        id_number=body.id_number,
        phone=body.phone,
        role=body.role,
        organisation_id=org.id if org else None,
        city=body.city,
        is_active=True,
    )
    session.add(user)
    session.flush()
    return user
