"""schemathesis over the app's whole OpenAPI, in-process: no 5xx, responses as documented.

Every operation of ``/openapi.json`` is fuzzed twice with a fixed seed and a bounded number
of examples: once anonymous and once with the token of a role that may perform it (the
first of :data:`ROLE_PREFERENCE` that ``api.approvals.auth.POLICY`` allows for the
operation's action, so GIS writes, approvals and user management are all reached). Half of
the examples put a real city, layer and plan in the path, so the routes get past their 404s.

Each response is checked for

* no server error (``not_a_server_error``),
* a body matching the documented schema of its status (``response_schema_conformance``),
* a status the operation documents (``status_code_conformance``),

and every failure of every operation is listed at once (the test does not stop at the
first). Operations that fail because of code owned elsewhere are ``xfail(strict=True)``
below with the failing request, so they turn red (XPASS) once fixed.
"""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance
from schemathesis.specs.openapi.checks import status_code_conformance
from sqlalchemy import Engine
from sqlalchemy import delete
from sqlalchemy import text

from api.approvals.auth import POLICY
from api.approvals.models import LoginAttempt
from api.main import create_app
from api.policy import OPERATIONS
from geodata.db import session_scope
from geodata.importer import import_layer
from geodata.storage import create_city
from tests.conftest import Users
from tests.helpers import read_sample
from tests.helpers import sample_path

pytestmark = [pytest.mark.db, pytest.mark.slow]

# examples per operation and caller; 73 operations x 2 callers stay under ~3 minutes
MAX_EXAMPLES = 30
MIN_OPERATIONS = 70
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
# the first of these that may perform an operation's action calls it
ROLE_PREFERENCE = (
    "acceptor",
    "admin",
    "data_admin",
    "designer",
    "applicant",
    "utility_staff",
    "dept_clerk",
    "dept_chief",
    "responsible_person",
    "auditor",
)
CITY_ROLES = {"data_admin", "designer", "auditor"}
# operation id -> why it is expected to fail (code owned by other changes); strict xfail
KNOWN_FAILURES: dict[str, str] = {}


@dataclass
class Fuzz:
    schema: Any
    users: Users
    city: str
    layer_id: int
    failures: dict[str, list[str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def fuzz(engine: Engine, users: Users) -> Iterator[Fuzz]:
    started = time.time()
    name = f"fuzz_{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        create_city(
            session, name=name, crs="EPSG:32652", extent=read_sample("city").geometry.iloc[0]
        )
        layer = import_layer(session, sample_path("roads"), kind="roads", city=name, layer="roads")
        layer_id = layer.layer.id
    app = create_app(engine=engine)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    yield Fuzz(schema=schema, users=users, city=name, layer_id=layer_id)
    del started
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cities WHERE name = :name"), {"name": name})
        # the fuzzed logins failed from the test client's address: lift its lock-out
        conn.execute(delete(LoginAttempt).where(LoginAttempt.address == "testclient"))


def _operations(schema: Any) -> list[Any]:
    found = []
    for result in schema.get_all_operations():
        found.append(result.ok())
    return found


def _role_for(operation_id: str) -> str | None:
    rule = OPERATIONS[operation_id]
    if rule.action is None:
        return None
    allowed = {role.value for role in POLICY[rule.action]}
    return next(role for role in ROLE_PREFERENCE if role in allowed)


def _run(fuzz: Fuzz, operation: Any, headers: dict[str, str]) -> list[str]:
    """Fuzz one operation; return one line per distinct failure."""
    known = {
        "city": fuzz.city,
        "layer_id": fuzz.layer_id,
        "kind": "roads",
        "plan_key": "no-such-plan",
    }
    names = {p.name for p in operation.path_parameters}
    fixed = {k: v for k, v in known.items() if k in names}
    strategies = [
        operation.as_strategy(),
        operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
    ]
    if fixed:
        strategies.append(operation.as_strategy(path_parameters=fixed))
    strategy = st.one_of(strategies)
    found: dict[str, str] = {}

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the app raised: a 500 for a real client
            lines = traceback.format_exception(exc)
            found.setdefault(
                f"raised {type(exc).__name__}",
                f"500 (raised): {case.method} {case.formatted_path} query={case.query!r} "
                f"body={str(case.body)[:200]!r}\n" + "".join(lines[-3:])[-800:],
            )
            return
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            for failure in group.exceptions:
                _record(found, case, response, failure)
        except Failure as failure:
            _record(found, case, response, failure)

    check()
    return list(found.values())


def _record(found: dict[str, str], case: Any, response: Any, failure: Failure) -> None:
    key = f"{failure.code} {response.status_code}"
    request = response.request
    body = request.body[:300] if isinstance(request.body, bytes) else request.body
    found.setdefault(
        key,
        f"{failure.code} {failure.title}: {request.method} {request.url} body={body!r}\n"
        f"    {str(failure.message)[:600]}\n    answer: {response.text[:400]}",
    )


def _callers(fuzz: Fuzz, operation_id: str) -> Iterator[tuple[str, dict[str, str]]]:
    yield "anonymous", {}
    role = _role_for(operation_id)
    if role is not None:
        city = fuzz.city if role in CITY_ROLES else None
        yield role, fuzz.users.headers(role, city=city)


def test_schemathesis_finds_no_server_errors(fuzz: Fuzz) -> None:
    operations = _operations(fuzz.schema)
    assert len(operations) > MIN_OPERATIONS
    report: list[str] = []
    for operation in operations:
        operation_id = operation.definition.raw["operationId"]
        for caller, headers in _callers(fuzz, operation_id):
            for failure in _run(fuzz, operation, headers):
                report.append(f"[{operation_id} as {caller}] {failure}")
    assert not report, "\n\n".join(report)


_: Callable[..., Any] = _run
