"""Plain-HTTP helpers for Morpheo tests: accounts with Basic credentials, shortcuts for registration."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from starlette.testclient import TestClient

from crucible.core import accounts
from crucible.core.services import Services
from tests.conftest import Account

PASSWORD = "correct horse 1"


@cache
def password_hash(password: str) -> str:
    """argon2 is slow on purpose; hash the test password once per session."""
    return accounts.hash_password(password)


@pytest.fixture
def make_user(services: Services) -> Callable[..., Account]:
    def make(username: str, password: str = PASSWORD) -> Account:
        with services.db.write() as session:
            user = accounts.create_user(session, username, None, f"{username}@example.org")
            user.password_hash = password_hash(password)
            return Account(user.id, username, f"{username}@example.org", password)

    return make


class Morpheo:
    """A TestClient that sends Basic credentials on every request."""

    def __init__(self, client: TestClient, login: str, secret: str) -> None:
        self.client = client
        self.auth = (login, secret)

    def get(self, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.client.get(path, auth=self.auth, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.client.post(path, json=json, auth=self.auth, **kwargs)

    def post_raw(self, path: str, content: bytes, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.client.post(path, content=content, auth=self.auth, **kwargs)

    # --- shortcuts ---------------------------------------------------------------------------
    def problem(self, uuid: str, test: list[str], size: int = 4, **extra: Any) -> dict[str, Any]:
        body = {"uuid": uuid, "workflow": f"w-{uuid}", "test_dataset": test, "size_train_dataset": size}
        response = self.post("/problem", {**body, **extra})
        assert response.status_code == 201, response.text
        return dict(response.json()["new_problem"])

    def algo(self, uuid: str, problem: str, name: str = "sgd") -> int:
        response = self.post("/algo", {"uuid": uuid, "problem": problem, "name": name})
        assert response.status_code == 201, response.text
        return int(response.json()["new_learnuplets"])

    def data(self, uuids: list[str], problems: list[str] | str) -> int:
        response = self.post("/data", {"uuid": uuids, "problems": problems})
        assert response.status_code == 201, response.text
        return int(response.json()["new_learnuplets"])

    def learnuplets(self, **filters: Any) -> list[dict[str, Any]]:
        response = self.get("/learnuplet", params=filters)
        assert response.status_code == 200, response.text
        return list(response.json()["learnuplets"])

    def step(self, algo: str, rank: int) -> dict[str, Any]:
        (found,) = self.learnuplets(algo=algo, rank=rank)
        return found

    def claim(self, uuid: str, worker: str = "w1", kind: str = "learnuplet"):  # type: ignore[no-untyped-def]
        return self.post(f"/worker/{kind}/{uuid}", {"worker": worker})

    def done(self, uuid: str, perf: float, worker: str = "w1", **extra: Any):  # type: ignore[no-untyped-def]
        step = self.get(f"/learnuplet/{uuid}").json()
        body = {
            "status": "done",
            "perf": perf,
            "train_perf": {data: perf for data in step["train_data"]},
            "test_perf": {data: perf for data in step["test_data"]},
            "worker": worker,
            **extra,
        }
        return self.post(f"/learndone/{uuid}", body)


@pytest.fixture
def alice_account(make_user: Callable[..., Account]) -> Account:
    return make_user("alice")


@pytest.fixture
def alice(client: TestClient, alice_account: Account) -> Morpheo:
    return Morpheo(client, alice_account.username, alice_account.password)


@pytest.fixture
def bob(client: TestClient, make_user: Callable[..., Account]) -> Morpheo:
    account = make_user("bob")
    return Morpheo(client, account.username, account.password)


TRAIN = [f"d{i}" for i in range(10)]
TEST = ["T1", "T2"]
