"""Create the sample city's departments, utility companies and demo users (synthetic).

The organisation follows the reform's "一支队伍": the city management bureau, the traffic
police, natural resources, housing and construction, six district bureaus and eleven
utility companies. The sample city is Harbin (the demo data); the six districts are its six
central ones. Every name and person here is made up for the demo.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from dataclasses import field

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals.auth import hash_password
from api.approvals.enums import DepartmentKind
from api.approvals.enums import OrganisationKind
from api.approvals.enums import Role
from api.approvals.enums import Utility
from api.approvals.models import Organisation
from api.approvals.models import User
from api.approvals.schemas import UserCreate
from api.approvals.users import CITY_ROLES
from api.approvals.users import create_user

__all__ = ["COMPANIES", "DEPARTMENTS", "DISTRICTS", "SeedResult", "seed_sample_city"]

logger = logging.getLogger(__name__)

DEMO_PASSWORD = "cotrench-demo"

# district code -> name (Harbin's six central districts)
DISTRICTS: dict[str, str] = {
    "daoli": "道里区",
    "nangang": "南岗区",
    "daowai": "道外区",
    "xiangfang": "香坊区",
    "pingfang": "平房区",
    "songbei": "松北区",
}

# code -> (name, department kind)
DEPARTMENTS: dict[str, tuple[str, DepartmentKind]] = {
    "cgj": ("市城市管理综合执法局", DepartmentKind.city_management),
    "jjzd": ("市公安局交通警察支队", DepartmentKind.traffic_police),
    "zrzyj": ("市自然资源局", DepartmentKind.natural_resources),
    "zjj": ("市住房和城乡建设局", DepartmentKind.housing_construction),
}

# code -> (name, utility): eleven companies (示例, synthetic)
COMPANIES: dict[str, tuple[str, Utility]] = {
    "water-1": ("示例供水集团有限公司", Utility.water),
    "power-1": ("示例供电公司", Utility.power),
    "heat-1": ("示例热电有限公司", Utility.heat),
    "heat-2": ("示例城区供热有限公司", Utility.heat),
    "gas-1": ("示例燃气集团有限公司", Utility.gas),
    "gas-2": ("示例天然气有限公司", Utility.gas),
    "drainage-1": ("示例排水有限公司", Utility.drainage),
    "telecom-1": ("示例电信分公司", Utility.telecom),
    "telecom-2": ("示例移动分公司", Utility.telecom),
    "telecom-3": ("示例联通分公司", Utility.telecom),
    "telecom-4": ("示例广电网络分公司", Utility.telecom),
}

_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红"


@dataclass
class SeedResult:
    """What the seed made (or found): organisation codes and usernames per role."""

    organisations: dict[str, int] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # username -> role
    password: str = ""
    # the user administrator's own password (random; printed once by `demo load`), or
    # "" when the admin existed already
    admin_password: str = ""


def seed_sample_city(session: Session, *, password: str, city: str | None = None) -> SeedResult:
    """Create the organisations and one demo user per role and organisation; idempotent.

    Usernames: ``acceptor``, ``coordinator``, ``applicant``, ``<dept>-clerk`` and
    ``<dept>-chief`` for every department (``cgj``, ``jjzd``, ``zrzyj``, ``zjj``,
    ``dist-<district>``), ``<company>-staff`` and ``<company>-designer`` for every company,
    ``data-admin`` and ``auditor``. They share ``password`` (the demo's, given by
    ``demo load`` only); the GIS users work on ``city``. ``admin``, who manages the users,
    gets a random password of its own (``SeedResult.admin_password``).
    """
    result = SeedResult(password=password)
    orgs: list[Organisation] = []
    for code, (name, kind) in DEPARTMENTS.items():
        orgs.append(
            Organisation(
                code=code, name=name, kind=OrganisationKind.department, department_kind=kind
            )
        )
    for code, name in DISTRICTS.items():
        orgs.append(
            Organisation(
                code=f"dist-{code}",
                name=f"{name}城市管理局",
                kind=OrganisationKind.department,
                department_kind=DepartmentKind.district_management,
                district=name,
            )
        )
    for code, (name, utility) in COMPANIES.items():
        orgs.append(
            Organisation(
                code=code, name=name, kind=OrganisationKind.utility_company, utility=utility
            )
        )
    existing = {o.code: o for o in session.scalars(select(Organisation))}
    for org in orgs:
        if org.code not in existing:
            session.add(org)
            existing[org.code] = org
    session.flush()
    result.organisations = {code: o.id for code, o in existing.items()}

    wanted: list[tuple[str, Role, str | None]] = [
        ("acceptor", Role.acceptor, "cgj"),
        ("coordinator", Role.responsible_person, "cgj"),
        ("applicant", Role.applicant, None),
    ]
    for code in [*DEPARTMENTS, *(f"dist-{d}" for d in DISTRICTS)]:
        wanted += [
            (f"{code}-clerk", Role.dept_clerk, code),
            (f"{code}-chief", Role.dept_chief, code),
        ]
    wanted += [(f"{code}-staff", Role.utility_staff, code) for code in COMPANIES]
    if city is not None:  # the GIS roles each work on one city
        wanted += [(f"{code}-designer", Role.designer, code) for code in COMPANIES]
        wanted += [("data-admin", Role.data_admin, None), ("auditor", Role.auditor, None)]
    taken = set(session.scalars(select(User.username)))
    # the demo users share one password, so one argon2 hash (each costs about 0.3 s)
    shared_hash = hash_password(password)
    for i, (username, role, org_code) in enumerate(wanted):
        result.users[username] = role
        if username in taken:
            continue
        name = _SURNAMES[i % len(_SURNAMES)] + _GIVEN[(i * 7) % len(_GIVEN)]
        create_user(
            session=session,
            body=UserCreate(
                username=username,
                password=password,
                real_name=name,
                role=role,
                organisation_code=org_code,
                city=city if role in CITY_ROLES else None,
            ),
            password_hash=shared_hash,
        )
    result.users["admin"] = Role.admin
    if "admin" not in taken:
        result.admin_password = secrets.token_urlsafe(12)
        create_user(
            session=session,
            body=UserCreate(
                username="admin",
                password=result.admin_password,
                real_name="用户管理员",
                role=Role.admin,
            ),
        )
    logger.info("seeded %d organisations, %d users", len(result.organisations), len(result.users))
    return result
