"""Concurrent clients against the live server lose no trial (SQLite and PostgreSQL)."""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from crucible.core.services import Services
from crucible.dialects.bender.models import BenderTrial
from tests.conftest import Account, LiveServer

CLIENTS = 20
TRIALS_EACH = 10
SPACE = [{"name": "x", "category": "uniform", "search_space": {"low": 0, "high": 2 * math.pi}}]


def setup_algo(url: str, headers: dict[str, str]) -> dict[str, Any]:
    metrics = [{"metric_name": "loss", "type": "loss"}]
    experiment = requests.post(
        f"{url}/api/experiments/", json={"name": "e", "metrics": metrics}, headers=headers
    )
    assert experiment.status_code == 201, experiment.text
    body = {"name": "a", "experiment": experiment.json()["id"], "parameters": SPACE}
    algo = requests.post(f"{url}/api/algos/", json=body, headers=headers)
    assert algo.status_code == 201, algo.text
    return dict(algo.json())


def hammer(
    url: str, headers: dict[str, str], algo_id: str, per_client: int
) -> tuple[Counter[int], Counter[int]]:
    """CLIENTS threads, each with its own connection, suggesting and posting `per_client` trials.
    Returns the status codes of the suggests and of the trial posts."""
    suggests: Counter[int] = Counter()
    posts: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)
    errors: list[BaseException] = []

    def client(number: int) -> None:
        try:
            with requests.Session() as session:
                session.headers.update(headers)
                start.wait(timeout=60)
                for i in range(per_client):
                    suggestion = session.post(
                        f"{url}/api/algos/{algo_id}/suggest/",
                        json={"metric": "loss", "minimum_observations": 5},
                        timeout=120,
                    )
                    x = suggestion.json()["x"] if suggestion.status_code == 200 else 1.0
                    response = session.post(
                        f"{url}/api/trials/",
                        json={
                            "algo": algo_id,
                            "parameters": {"x": x},
                            "results": {"loss": math.sin(x)},
                            "comment": f"{number}-{i}",
                        },
                        timeout=120,
                    )
                    with lock:
                        suggests[suggestion.status_code] += 1
                        posts[response.status_code] += 1
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    return suggests, posts


def count_trials(services: Services, algo_id: str) -> int:
    with services.db.read() as session:
        return session.scalar(select(func.count()).where(BenderTrial.algo_id == algo_id)) or 0


@pytest.fixture
def alice_headers(live_server: LiveServer, make_user: Callable[..., Account]) -> dict[str, str]:
    account = make_user("alice")
    response = requests.post(
        f"{live_server.url}/login/", json={"email": account.email, "password": account.password}, timeout=30
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"JWT {response.json()['token']}"}


def test_twenty_concurrent_clients_lose_no_trial(
    live_server: LiveServer, services: Services, alice_headers: dict[str, str]
) -> None:
    algo = setup_algo(live_server.url, alice_headers)
    suggests, posts = hammer(live_server.url, alice_headers, algo["id"], TRIALS_EACH)
    expected = CLIENTS * TRIALS_EACH
    assert suggests == Counter({200: expected}), suggests
    assert posts == Counter({201: expected}), posts
    assert count_trials(services, algo["id"]) == expected
    page = requests.get(
        f"{live_server.url}/api/trials/?algo={algo['id']}&limit=10000", headers=alice_headers, timeout=60
    ).json()
    assert page["count"] == expected
    comments = {t["comment"] for t in page["results"]}
    assert comments == {f"{n}-{i}" for n in range(CLIENTS) for i in range(TRIALS_EACH)}
    full = requests.get(
        f"{live_server.url}/api/algos/{algo['id']}/", headers=alice_headers, timeout=60
    ).json()
    assert full["trial_count"] == expected


class TestQuotaUnderConcurrency:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"bender_quotas_enabled": True, "bender_max_trials": 50}

    def test_the_trial_quota_holds_exactly(
        self, live_server: LiveServer, services: Services, alice_headers: dict[str, str]
    ) -> None:
        algo = setup_algo(live_server.url, alice_headers)
        suggests, posts = hammer(live_server.url, alice_headers, algo["id"], 5)
        assert suggests == Counter({200: CLIENTS * 5}), suggests
        assert posts == Counter({201: 50, 429: CLIENTS * 5 - 50}), posts
        assert count_trials(services, algo["id"]) == 50
