"""Raw-HTTP helpers for Bender tests: fast accounts, a logged-in user that sends JWT headers, shortcuts."""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Callable
from functools import cache
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from crucible.core import accounts
from crucible.core.services import Services
from crucible.dialects.bender.models import BenderAlgo, BenderTrial
from tests.conftest import Account

PASSWORD = "correct horse 1"


@cache
def password_hash(password: str) -> str:
    """argon2 is slow on purpose; hash each test password once per session and reuse the hash."""
    return accounts.hash_password(password)


@pytest.fixture
def make_user(services: Services) -> Callable[..., Account]:
    """Like the root fixture, but without paying for argon2 on every account (the hash is shared)."""

    def make(
        username: str,
        password: str = PASSWORD,
        *,
        admin: bool = False,
        email: str | None = None,
        active: bool = True,
    ) -> Account:
        email = email if email is not None else f"{username}@example.org"
        with services.db.write() as session:
            user = accounts.create_user(
                session, username, None, email or None, is_superuser=admin, email_verified=True
            )
            user.password_hash = password_hash(password)
            user.is_active = active
            return Account(user.id, username, email, password)

    return make


class BenderUser:
    def __init__(self, client: TestClient, account: Account) -> None:
        self.client = client
        self.account = account
        self.username = account.username
        response = client.post("/login/", json={"email": account.email, "password": account.password})
        assert response.status_code == 200, response.text
        self.token: str = response.json()["token"]
        self.headers = {"Authorization": f"JWT {self.token}"}

    def request(self, method: str, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("PUT", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("DELETE", path, **kwargs)

    def post_raw(self, path: str, text: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        """POST a body as given (e.g. JSON with NaN, which the json= argument refuses)."""
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        return self.request("POST", path, content=text.encode(), headers=headers, **kwargs)

    # --- shortcuts -------------------------------------------------------------------------------
    def experiment(
        self, name: str = "exp", metrics: list[dict[str, str]] | None = None, **extra: Any
    ) -> dict[str, Any]:
        metrics = metrics or [{"metric_name": "loss", "type": "loss"}]
        response = self.post("/api/experiments/", {"name": name, "metrics": metrics, **extra})
        assert response.status_code == 201, response.text
        return response.json()

    def algo(
        self, experiment_id: str, parameters: list[dict[str, Any]], name: str = "algo", **extra: Any
    ) -> dict[str, Any]:
        response = self.post(
            "/api/algos/", {"name": name, "experiment": experiment_id, "parameters": parameters, **extra}
        )
        assert response.status_code == 201, response.text
        return response.json()

    def trial(self, algo_id: str, parameters: dict[str, Any], results: dict[str, Any], **extra: Any):  # type: ignore[no-untyped-def]
        return self.post(
            "/api/trials/", {"algo": algo_id, "parameters": parameters, "results": results, **extra}
        )

    def suggest(self, algo_id: str, **body: Any):  # type: ignore[no-untyped-def]
        return self.post(f"/api/algos/{algo_id}/suggest/", body)

    def setup(
        self,
        parameters: list[dict[str, Any]],
        metrics: list[dict[str, str]] | None = None,
        name: str = "exp",
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """An experiment with one algo."""
        experiment = self.experiment(name, metrics)
        return experiment, self.algo(experiment["id"], parameters)


@pytest.fixture
def bender_user(client: TestClient, make_user: Callable[..., Account]) -> Callable[..., BenderUser]:
    def make(username: str, **options: Any) -> BenderUser:
        return BenderUser(client, make_user(username, **options))

    return make


@pytest.fixture
def alice(bender_user: Callable[[str], BenderUser]) -> BenderUser:
    return bender_user("alice")


@pytest.fixture
def bob(bender_user: Callable[[str], BenderUser]) -> BenderUser:
    return bender_user("bob")


@pytest.fixture
def add_trials(services: Services) -> Callable[..., None]:
    """Insert many trials straight into the database (fast set-up for pagination and learning tests)."""

    def add(
        algo: dict[str, Any], owner: BenderUser, rows: list[tuple[dict[str, Any], dict[str, Any], float]]
    ) -> None:
        with services.db.write() as session:
            stored = session.get(BenderAlgo, algo["id"])
            assert stored is not None
            stored.trials_version += 1  # as the API does: suggest's observation cache relies on it
            session.add_all(
                BenderTrial(
                    algo_id=algo["id"],
                    experiment_id=algo["experiment"],
                    owner_id=owner.account.id,
                    parameters=parameters,
                    results=results,
                    weight=weight,
                )
                for parameters, results, weight in rows
            )

    return add


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, without checking anything (as bender-client does)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def mint_token(secret: str, user_id: int, *, expires_in: float, **claims: Any) -> str:
    payload = {
        "user_id": user_id,
        "username": "x",
        "email": "x@example.org",
        "exp": int(time.time() + expires_in),
    }
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


def basic(login: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


SIN_X = [{"name": "x", "category": "uniform", "search_space": {"low": 0, "high": 2 * math.pi}}]
LOSS = [{"metric_name": "loss", "type": "loss"}]
