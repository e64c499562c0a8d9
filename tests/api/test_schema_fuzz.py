"""schemathesis over the app's whole OpenAPI, in-process: no 5xx, responses as documented.

Every operation of ``/openapi.json`` is one test, fuzzed twice with a fixed seed and a
bounded number of examples: once anonymous and once with the token of a role that may
perform it (the first role of :data:`ROLE_PREFERENCE` that ``api.approvals.auth.POLICY``
allows for the operation's action, so GIS writes, approvals and user management are all
reached). The examples mix schemathesis' positive and negative data with cases whose path
names real things: a city with roads and proposals, an application in its permits, its
permits and dispatches, a stored plan (the demo users that own them call).

Each response is checked for

* no server error (``not_a_server_error``; an exception raised by the app counts too),
* a body matching the documented schema of its status (``response_schema_conformance``),
* a status the operation documents (``status_code_conformance``),

and every distinct failure of the operation is listed (hypothesis does not stop or shrink
at the first). An operation that fails because of code owned by another change is in
:data:`KNOWN_FAILURES` (``xfail(strict=True)``, so it turns red once fixed).
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
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
from tests.api.approvals.flow import DISTRICT_CODE
from tests.conftest import Users
from tests.maps.sample import trench_edges
from tests.maps.workbench import committed_city
from tests.maps.workbench import permitting_application
from tests.maps.workbench import seeded_tokens
from tests.maps.workbench import stored_plan

pytestmark = [pytest.mark.db, pytest.mark.slow]

# examples per operation and caller: ~80 operations x 2 callers in about 2 minutes
MAX_EXAMPLES = 12
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
# the demo user of each role who owns (or works on) the application made below
DEMO_USER = {
    "acceptor": "acceptor",
    "admin": "admin",
    "applicant": "applicant",
    "utility_staff": "water-1-staff",
    "dept_clerk": f"{DISTRICT_CODE}-clerk",
    "dept_chief": f"{DISTRICT_CODE}-chief",
    "responsible_person": "coordinator",
}
# the GIS roles work on one city: test users of the fuzzed city
CITY_ROLES = ("data_admin", "designer", "auditor")
# operation id -> why it fails today, for code owned by other changes (strict xfail)
KNOWN_FAILURES: dict[str, str] = {}
# operations that delete or replace the fuzzed city's base layers: fuzzed after the others
DESTRUCTIVE = {"layers-delete", "layers-replace"}
# operations not fuzzed with a token, and why (they are still fuzzed anonymously)
NOT_WITH_A_TOKEN = {
    # it revokes the token it is called with, and every later case would be a plain 401
    "approvals-logout": "revokes its own token (tested in tests/api/test_login_security.py)",
}


def _operation_ids() -> list[str]:
    paths = create_app().openapi()["paths"]
    return sorted(op["operationId"] for item in paths.values() for op in item.values())


OPERATION_IDS = _operation_ids()


@dataclass
class Fuzz:
    schema: Any
    operations: dict[str, Any]
    headers: dict[str, dict[str, str]]  # role -> Authorization
    paths: dict[str, Any]  # path parameter -> a value naming a real thing
    plan_body: dict[str, Any]  # a good POST /plans body


@pytest.fixture(scope="module")
def fuzz(engine: Engine, users: Users) -> Iterator[Fuzz]:
    app = create_app(engine=engine)
    with committed_city(engine) as city, TestClient(app) as client:
        tokens = seeded_tokens(engine)
        application = permitting_application(client, tokens, city)
        plan = stored_plan(client, city, token=tokens["acceptor"])
        with engine.connect() as conn:
            one = conn.execute(
                text(
                    "SELECT (SELECT min(id) FROM layers WHERE city_id = :c) AS layer, "
                    "(SELECT min(id) FROM appr_permits WHERE application_id = :a) AS permit, "
                    "(SELECT min(id) FROM appr_dispatches WHERE application_id = :a) AS dispatch"
                ),
                {"c": city.city_id, "a": application["id"]},
            ).one()
        paths = {
            "city": city.name,
            "layer_id": one.layer,
            "application_id": application["id"],
            "permit_id": one.permit,
            "dispatch_id": one.dispatch,
            "plan_key": plan["plan_key"],
            "kind": "roads",
        }
        headers = {role: {"Authorization": f"Bearer {tokens[u]}"} for role, u in DEMO_USER.items()}
        for role in CITY_ROLES:
            headers[role] = users.headers(role, city=city.name)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = {}
        for result in schema.get_all_operations():
            operation = result.ok()
            operations[operation.definition.raw["operationId"]] = operation
        edges = trench_edges()
        site, supply = edges.geometry.iloc[0].coords[0], edges.geometry.iloc[1].coords[-1]
        plan_body = {
            "sites": [{"x": site[0], "y": site[1], "utilities": ["water"], "name": "S1"}],
            "supplies": {"water": [{"x": supply[0], "y": supply[1]}]},
            "time_limit_s": 5,
        }
        yield Fuzz(schema, operations, headers, paths, plan_body)
    with engine.begin() as conn:
        # the fuzzed logins failed from the test client's address: lift its lock-out
        conn.execute(delete(LoginAttempt).where(LoginAttempt.address == "testclient"))


def _role_for(operation_id: str) -> str | None:
    rule = OPERATIONS[operation_id]
    if rule.action is None or operation_id in NOT_WITH_A_TOKEN:
        return None
    allowed = {role.value for role in POLICY[rule.action]}
    return next(role for role in ROLE_PREFERENCE if role in allowed)


def _strategy(fuzz: Fuzz, operation: Any) -> Any:
    strategies = [
        operation.as_strategy(),
        operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
    ]
    names = {p.name for p in operation.path_parameters}
    real = {k: v for k, v in fuzz.paths.items() if k in names and v is not None}
    if real:
        strategies.append(operation.as_strategy(path_parameters=real))
    return st.one_of(strategies)


def _record(found: dict[str, str], response: Any, failure: Failure) -> None:
    request = response.request
    body = request.body[:300] if isinstance(request.body, bytes) else request.body
    found.setdefault(
        f"{failure.code} {response.status_code}",
        f"{failure.code} {failure.title}: {request.method} {request.url} body={body!r}\n"
        f"    {str(failure.message)[:600]}\n    answer: {response.text[:400]}",
    )


def _where_it_failed(exc: BaseException) -> str:
    """The app's own exception under schemathesis' wrapping: the last frames of our code
    (api/, geodata/, routing/, maps/) along the chain, and the innermost message."""
    chain = [exc]
    while chain[-1].__cause__ is not None or chain[-1].__context__ is not None:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)  # type: ignore[arg-type]
    ours = [
        f
        for e in chain
        for f in traceback.extract_tb(e.__traceback__)
        if "site-packages" not in f.filename and "/tests/" not in f.filename
    ]
    where = "".join(
        f"    {'/'.join(f.filename.split('/')[-2:])}:{f.lineno} in {f.name}\n" for f in ours[-3:]
    )
    root = chain[-1]
    return f"{where}    {type(root).__name__}: {str(root)[:400]}"


def _check(case: Any, headers: dict[str, str], found: dict[str, str]) -> None:
    """Send one case; add its failures to ``found`` (one per check and status)."""
    try:
        response = case.call(headers=headers)
    except Exception as exc:  # the app raised: a 500 for a real client
        found.setdefault(
            f"raised {type(exc).__name__}",
            f"500 (raised): {case.method} {case.formatted_path} query={case.query!r} "
            f"body={str(case.body)[:300]!r}\n{_where_it_failed(exc)}",
        )
        return
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as group:
        for failure in group.exceptions:
            _record(found, response, failure)
    except Failure as failure:
        _record(found, response, failure)


def _run(fuzz: Fuzz, operation: Any, headers: dict[str, str]) -> list[str]:
    """Fuzz one operation as one caller; return one line per distinct failure."""
    found: dict[str, str] = {}

    @given(case=_strategy(fuzz, operation))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        _check(case, headers, found)

    check()
    return list(found.values())


def test_the_whole_openapi_is_fuzzed(fuzz: Fuzz) -> None:
    assert len(fuzz.operations) > MIN_OPERATIONS
    assert sorted(fuzz.operations) == OPERATION_IDS
    assert set(KNOWN_FAILURES) <= set(OPERATION_IDS)
    assert set(NOT_WITH_A_TOKEN) <= set(OPERATION_IDS)
    assert set(DESTRUCTIVE) <= set(OPERATION_IDS)
    # every operation that needs a user is fuzzed by one who may call it (but logout)
    for operation_id in OPERATION_IDS:
        if OPERATIONS[operation_id].action is not None and operation_id not in NOT_WITH_A_TOKEN:
            assert _role_for(operation_id) in fuzz.headers, operation_id


def _params(operation_ids: list[str]) -> list[Any]:
    return [
        pytest.param(
            op,
            marks=pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[op])
            if op in KNOWN_FAILURES
            else (),
        )
        for op in operation_ids
    ]


def _fuzz_operation(fuzz: Fuzz, operation_id: str) -> None:
    operation = fuzz.operations[operation_id]
    report = [f"[anonymous] {f}" for f in _run(fuzz, operation, {})]
    role = _role_for(operation_id)
    if role is not None:
        report += [f"[{role}] {f}" for f in _run(fuzz, operation, fuzz.headers[role])]
    assert not report, "\n\n".join(report)


@pytest.mark.parametrize(
    "operation_id", _params([op for op in OPERATION_IDS if op not in DESTRUCTIVE])
)
def test_no_server_error_and_answers_as_documented(fuzz: Fuzz, operation_id: str) -> None:
    _fuzz_operation(fuzz, operation_id)


# inputs known to have failed, sent as they are (schemathesis rarely draws them): the
# fixed ones stay fixed; those owned by other changes are strict xfails naming the owner
_SWAPPED = "45.70,126.60,45.80,126.70"  # lat,lon instead of lon,lat
CITY = "<the fuzzed city>"
_SEGMENT = {
    "segment_id": "s1",
    "coordinates": [[0, 0], [100, 0]],
    "road_width_m": 14,
    "pavement": "asphalt",
    "lines": [{"utility": "water", "outside_diameter_mm": 320}],
}


class ServerError(AssertionError):
    """The app answered 500 (or raised): what a known failure's strict xfail expects."""


EXAMPLES = [
    ("layers-features", "acceptor", {"query": {"city": "x\x00"}}, None),
    ("layers-features", "acceptor", {"path_parameters": {"layer_id": 2**31}}, None),
    ("layers-features", "acceptor", {"query": {"crs": "EPSG:5773"}}, None),
    ("layers-features", "acceptor", {"query": {"bbox-crs": "EPSG:4978"}}, None),
    ("maps-city-map", "acceptor", {"path_parameters": {"city": "x\x00"}}, None),
    (
        "approvals-read-application",
        "acceptor",
        {"path_parameters": {"application_id": 2**63}},
        None,
    ),
    ("approvals-create-bundle", "acceptor", {"body": {"application_ids": [2**40, 1]}}, None),
    # a city in the body that does not exist: a documented 404
    ("sections-compute", "acceptor", {"body": {"city": "nowhere", "segments": [_SEGMENT]}}, None),
    # were 500s, fixed on main by the bbox change
    ("layers-features", "acceptor", {"query": {"bbox": _SWAPPED}}, None),
    ("layers-features", "acceptor", {"query": {"bbox": "nan,nan,nan,nan"}}, None),
    # was a 500 in the plan store; the body model bounds the ids now
    ("plans-create", "acceptor", {"body": {"city": CITY, "application_ids": [2**40]}}, None),
]


@pytest.mark.parametrize(
    ("operation_id", "role", "data"),
    [
        pytest.param(
            op,
            role,
            data,
            id=f"{op}-{i}",
            marks=pytest.mark.xfail(raises=ServerError, strict=True, reason=why) if why else (),
        )
        for i, (op, role, data, why) in enumerate(EXAMPLES)
    ],
)
def test_known_bad_inputs(fuzz: Fuzz, operation_id: str, role: str, data: dict[str, Any]) -> None:
    operation = fuzz.operations[operation_id]
    names = {p.name for p in operation.path_parameters}
    paths = {k: v for k, v in fuzz.paths.items() if k in names}
    paths.update(data.get("path_parameters", {}))
    kwargs = {k: v for k, v in data.items() if k != "path_parameters"}
    if isinstance(kwargs.get("body"), dict) and kwargs["body"].get("city") == CITY:
        # a plan request that is otherwise good: sites and supplies on the city's roads
        kwargs["body"] = {**fuzz.plan_body, **kwargs["body"], "city": fuzz.paths["city"]}
    found: dict[str, str] = {}
    _check(operation.Case(path_parameters=paths, **kwargs), fuzz.headers[role], found)
    report = "\n\n".join(found.values())
    if any(key.startswith("raised") or key.endswith(" 500") for key in found):
        raise ServerError(report)
    assert not found, report


# last of all (this file's tests run in order): they may delete or replace the city's roads
@pytest.mark.parametrize("operation_id", _params(sorted(DESTRUCTIVE)))
def test_operations_that_change_base_data(fuzz: Fuzz, operation_id: str) -> None:
    _fuzz_operation(fuzz, operation_id)
