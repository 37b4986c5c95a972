"""A small raw-HTTP helper for Bender tests: log in once, send JWT headers."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import Account


class BenderUser:
    def __init__(self, client: TestClient, account: Account) -> None:
        self.client = client
        self.account = account
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

    def patch(self, path: str, json: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("DELETE", path, **kwargs)

    # --- shortcuts -------------------------------------------------------------------------------
    def experiment(self, name: str = "exp", metrics: list[dict[str, str]] | None = None) -> dict[str, Any]:
        metrics = metrics or [{"metric_name": "loss", "type": "loss"}]
        response = self.post("/api/experiments/", {"name": name, "metrics": metrics})
        assert response.status_code == 201, response.text
        return response.json()

    def algo(
        self, experiment_id: str, parameters: list[dict[str, Any]], name: str = "algo"
    ) -> dict[str, Any]:
        response = self.post(
            "/api/algos/", {"name": name, "experiment": experiment_id, "parameters": parameters}
        )
        assert response.status_code == 201, response.text
        return response.json()

    def trial(self, algo_id: str, parameters: dict[str, Any], results: dict[str, Any], **extra: Any):  # type: ignore[no-untyped-def]
        return self.post(
            "/api/trials/", {"algo": algo_id, "parameters": parameters, "results": results, **extra}
        )

    def suggest(self, algo_id: str, **body: Any):  # type: ignore[no-untyped-def]
        return self.post(f"/api/algos/{algo_id}/suggest/", body)


@pytest.fixture
def bender_user(client: TestClient, make_user: Callable[..., Account]) -> Callable[[str], BenderUser]:
    def make(username: str) -> BenderUser:
        return BenderUser(client, make_user(username))

    return make


@pytest.fixture
def alice(bender_user: Callable[[str], BenderUser]) -> BenderUser:
    return bender_user("alice")


@pytest.fixture
def bob(bender_user: Callable[[str], BenderUser]) -> BenderUser:
    return bender_user("bob")


SIN_X = [{"name": "x", "category": "uniform", "search_space": {"low": 0, "high": 2 * math.pi}}]
