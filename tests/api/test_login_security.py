"""Logging in and sessions: throttling, the password policy, cookies, CSRF, redirects, headers."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals import auth
from api.approvals.models import ApiToken
from api.approvals.models import LoginAttempt
from api.approvals.models import User
from api.approvals.passwords import password_problem
from api.main import create_app
from api.middleware import csp_for_inline_scripts
from api.policy import csrf_token_for
from api.routes.pages import safe_next
from tests.conftest import Users

pytestmark = pytest.mark.db

GOOD_PASSWORD = "Hegang-pipes-2026-xq"


@pytest.fixture
def account(engine: Engine) -> Iterator[str]:
    """A user with a known password; their login attempts are removed afterwards."""
    name = f"login-{uuid.uuid4().hex[:8]}"
    with Session(engine) as session, session.begin():
        session.add(
            User(
                username=name,
                password_hash=auth.hash_password(GOOD_PASSWORD),
                real_name="测试用户",
                role="acceptor",
                is_active=True,
            )
        )
    yield name
    with Session(engine) as session, session.begin():
        session.execute(delete(LoginAttempt).where(LoginAttempt.username == name))


def _client(engine: Engine, address: str) -> TestClient:
    """A client calling from ``address`` (throttling counts per address too)."""
    return TestClient(create_app(engine=engine), client=(address, 50000), follow_redirects=False)


def _login(client: TestClient, username: str, password: str):  # type: ignore[no-untyped-def]
    return client.post("/approvals/auth/token", data={"username": username, "password": password})


def test_wrong_passwords_lock_the_account_even_for_the_right_one(
    engine: Engine, account: str
) -> None:
    with _client(engine, f"10.1.{uuid.uuid4().int % 250}.1") as client:
        for _ in range(auth.MAX_FAILURES_PER_NAME):
            wrong = _login(client, account, "not-the-password")
            assert wrong.status_code == 401
            assert "用户名或密码错误" in wrong.json()["message"]
        locked = _login(client, account, GOOD_PASSWORD)
    assert locked.status_code == 429, locked.text
    assert "登录失败次数过多" in locked.json()["message"]
    retry = int(locked.headers["Retry-After"])
    assert 0 < retry <= auth.LOGIN_WINDOW.total_seconds() + 1
    # from another address too: the account is what is locked
    with _client(engine, "10.2.0.1") as other:
        assert _login(other, account, GOOD_PASSWORD).status_code == 429


def test_one_address_trying_many_names_is_locked(engine: Engine, account: str) -> None:
    address = f"10.3.{uuid.uuid4().int % 250}.7"
    try:
        with _client(engine, address) as client:
            for i in range(auth.MAX_FAILURES_PER_ADDRESS):
                assert _login(client, f"nobody-{i}", "x-wrong-x").status_code == 401
            assert _login(client, account, GOOD_PASSWORD).status_code == 429
        with _client(engine, "10.4.0.1") as elsewhere:
            assert _login(elsewhere, account, GOOD_PASSWORD).status_code == 200
    finally:
        with Session(engine) as session, session.begin():
            session.execute(delete(LoginAttempt).where(LoginAttempt.address == address))


def test_unknown_and_known_names_cost_the_same(
    engine: Engine, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown name is checked against a dummy hash: one argon2 verification either way."""
    calls: list[str] = []
    real = auth.verify_password

    def counting(password_hash: str, password: str) -> bool:
        calls.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", counting)
    with _client(engine, "10.5.0.1") as client:
        assert _login(client, f"ghost-{uuid.uuid4().hex[:6]}", "whatever-123").status_code == 401
        assert _login(client, account, "whatever-123").status_code == 401
    assert len(calls) == 2
    assert all(h.startswith("$argon2id$") for h in calls)


def test_the_token_is_stored_before_it_is_returned(engine: Engine, account: str) -> None:
    with _client(engine, "10.6.0.1") as client:
        token = _login(client, account, GOOD_PASSWORD).json()["access_token"]
        # another connection sees it at once: the login was committed before the answer
        with Session(engine) as session:
            digest = hashlib.sha256(token.encode()).hexdigest()
            assert session.scalar(select(ApiToken.id).where(ApiToken.token_sha256 == digest))
        assert (
            client.get("/approvals/me", headers={"Authorization": f"Bearer {token}"}).json()[
                "username"
            ]
            == account
        )


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("12345678", "至少 10 个字符"),
        ("1234567890", "过于常见"),
        ("Password123", "过于常见"),
        ("qwertyuiop!!", "过于常见"),
        ("aaaaaaaaaaaa", "过于常见"),
        ("zhang-wei-2026-x", "用户名"),
    ],
)
def test_password_policy_refuses(password: str, why: str) -> None:
    problem = password_problem(password, username="zhang-wei")
    assert problem is not None and why in problem


def test_password_policy_through_the_api(engine: Engine, users: Users) -> None:
    admin = users.headers("admin")
    with _client(engine, "10.7.0.1") as client:
        name = f"new-{uuid.uuid4().hex[:6]}"
        body = {"username": name, "real_name": "新用户", "role": "applicant"}
        weak = client.post("/approvals/users", json={**body, "password": "12345678"}, headers=admin)
        assert weak.status_code == 422
        (error,) = [e for e in weak.json()["errors"] if e["loc"] == ["body", "password"]]
        assert "至少 10 个字符" in error["msg"]
        ok = client.post(
            "/approvals/users", json={**body, "password": GOOD_PASSWORD}, headers=admin
        )
        assert ok.status_code == 201, ok.text


def test_workbench_cookie_csrf_and_logout(engine: Engine, account: str) -> None:
    with _client(engine, "10.8.0.1") as client:
        page = client.post(
            "/workbench/login",
            data={"username": account, "password": GOOD_PASSWORD, "next": "//evil.example/"},
        )
        assert page.status_code == 303
        assert page.headers["location"] == "/workbench/applications"  # not the other site
        cookie = page.headers["set-cookie"]
        assert "cotrench_token=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie.replace("samesite", "SameSite")
        token = client.cookies["cotrench_token"]
        csrf = csrf_token_for(token, client.app.state.settings.auth.secret_key)  # type: ignore[attr-defined]
        # the page carries the CSRF token for its scripts and forms
        assert csrf in client.get("/workbench/applications").text
        # a write with the cookie alone is refused, with the reason
        forged = client.post("/plans", json={})
        assert forged.status_code == 403
        assert "CSRF" in forged.json()["why"]
        # with the token it passes the policy (and the route validates the body)
        assert client.post("/plans", json={}, headers={"X-CSRF-Token": csrf}).status_code == 422
        # a page of another site is refused even with the token
        evil = client.post(
            "/plans", json={}, headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
        )
        assert evil.status_code == 403
        assert "cross-site" in evil.json()["why"]
        # logging out without the form's token does nothing
        assert client.post("/workbench/logout").status_code == 403
        assert client.get("/approvals/me").status_code == 200
        out = client.post("/workbench/logout", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert (
            'cotrench_token=""' in out.headers["set-cookie"]
            or "Max-Age=0" in out.headers["set-cookie"]
        )
        # the token itself is revoked, not only the cookie dropped
        client.cookies.clear()
        again = client.get("/approvals/me", headers={"Authorization": f"Bearer {token}"})
        assert again.status_code == 401


def test_api_logout_revokes_the_token(engine: Engine, account: str) -> None:
    with _client(engine, "10.9.0.1") as client:
        token = _login(client, account, GOOD_PASSWORD).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.post("/approvals/auth/logout", headers=bearer).status_code == 204
        assert client.get("/approvals/me", headers=bearer).status_code == 401


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "/\\localhost:8000/health",
        "/\\\\evil.example",
        "http://evil.example/",
        "https:evil.example",
        "javascript:alert(1)",
        "/workbench\r\nSet-Cookie: x=1",
        "workbench/applications",
    ],
)
def test_next_goes_only_to_local_paths(target: str) -> None:
    assert safe_next(target) == "/workbench/applications"


def test_next_keeps_a_local_path() -> None:
    assert safe_next("/workbench/applications/7?tab=map") == "/workbench/applications/7?tab=map"


def test_the_login_page_drops_a_foreign_next(engine: Engine) -> None:
    with _client(engine, "10.10.0.1") as client:
        page = client.get("/workbench/login", params={"next": "/\\localhost:8000/health"})
    assert '<input type="hidden" name="next" value="/workbench/applications">' in page.text


def test_security_headers(engine: Engine, users: Users) -> None:
    with _client(engine, "10.11.0.1") as client:
        public = client.get("/workbench/login")
        signed_in = client.get("/approvals/me", headers=users.headers("acceptor"))
        page = client.get("/workbench/applications", headers=users.headers("acceptor"))
    for response in (public, signed_in, page):
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'self'" in csp
        assert "script-src 'self'" in csp
        assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert "access-control-allow-origin" not in response.headers  # CORS off
    assert signed_in.headers["cache-control"] == "no-store"
    assert page.headers["cache-control"] == "no-store"
    assert "no-store" not in public.headers.get("cache-control", "")


def test_folium_maps_allow_exactly_their_own_inline_scripts() -> None:
    html = "<script src='/static/a.js'></script><script>var a = 1;</script>"
    csp = csp_for_inline_scripts(html)
    digest = base64.b64encode(hashlib.sha256(b"var a = 1;").digest()).decode()
    assert f"'sha256-{digest}'" in csp
    assert csp.count("'sha256-") == 1  # the external script needs no hash
