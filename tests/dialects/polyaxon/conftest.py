"""Raw-HTTP helpers for Polyaxon tests: fast accounts, a logged-in user sending `Token` headers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from crucible.core.services import Services
from tests.conftest import Account
from tests.dialects.bender.conftest import PASSWORD, password_hash

API = "/api/v1"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """No executor here: these tests drive statuses themselves (tests/dialects/polyaxon/test_execution.py
    turns it on)."""
    return {"executor_local_enabled": False}


@pytest.fixture
def make_user(services: Services) -> Callable[..., Account]:
    """Accounts without paying for argon2 each time (the hash is shared)."""
    from crucible.core import accounts

    def make(username: str, *, admin: bool = False) -> Account:
        with services.db.write() as session:
            user = accounts.create_user(
                session, username, None, f"{username}@example.org", is_superuser=admin, email_verified=True
            )
            user.password_hash = password_hash(PASSWORD)
            return Account(user.id, username, f"{username}@example.org", PASSWORD)

    return make


class PlxUser:
    def __init__(self, client: TestClient, account: Account) -> None:
        self.client = client
        self.username = account.username
        response = client.post(
            f"{API}/users/token/", data={"username": account.username, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        self.token: str = response.json()["token"]
        self.headers = {"Authorization": f"Token {self.token}"}

    def request(self, method: str, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, API + path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("DELETE", path, **kwargs)

    def put(self, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("PUT", path, **kwargs)

    # --- shortcuts -----------------------------------------------------------------------------------
    def project(self, name: str = "proj", **extra: Any) -> dict[str, Any]:
        response = self.post("/projects/", {"name": name, **extra})
        assert response.status_code == 201, response.text
        return response.json()

    def experiment(self, project: str = "proj", **body: Any) -> dict[str, Any]:
        body.setdefault("is_managed", False)
        response = self.post(f"/{self.username}/{project}/experiments/", body)
        assert response.status_code == 201, response.text
        return response.json()

    def path(self, experiment: dict[str, Any], suffix: str = "", project: str = "proj") -> str:
        return f"/{self.username}/{project}/experiments/{experiment['id']}{suffix}"


@pytest.fixture
def plx_user(client: TestClient, make_user: Callable[..., Account]) -> Callable[..., PlxUser]:
    def make(username: str, **options: Any) -> PlxUser:
        return PlxUser(client, make_user(username, **options))

    return make


@pytest.fixture
def alice(plx_user: Callable[..., PlxUser]) -> PlxUser:
    return plx_user("alice")


@pytest.fixture
def bob(plx_user: Callable[..., PlxUser]) -> PlxUser:
    return plx_user("bob")
