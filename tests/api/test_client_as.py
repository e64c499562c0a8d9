"""The shared fixtures: a test user per role, city and organisation, and its client."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import ClientAs
from tests.conftest import Users


def test_client_as_sends_the_users_token(client_as: ClientAs) -> None:
    client = client_as("data-admin", city="somewhere")
    me = client.get("/approvals/me")
    assert me.status_code == 200, me.text
    assert me.json()["role"] == "data_admin"
    assert me.json()["city"] == "somewhere"
    designer = client_as("designer", city="somewhere", organisation="gas-1").get("/approvals/me")
    assert designer.json()["organisation_code"] == "gas-1"


def test_users_are_made_once_per_role_city_and_organisation(users: Users) -> None:
    assert users.login("auditor", city="a") == users.login("auditor", city="a")
    assert users.login("auditor", city="a") != users.login("auditor", city="b")


def test_anonymous_client(client_as: ClientAs) -> None:
    client: TestClient = client_as(None)
    assert client.get("/approvals/me").status_code == 401
