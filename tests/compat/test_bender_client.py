"""Acceptance scenarios 1–12 of spec/bender.md §7 that involve the real bender-client 0.4.0.

Each scenario runs as a script (tests/compat/scripts/) under the client's own virtualenv, against the
live server; what the client cannot do is checked with raw HTTP in the scripts or here.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from crucible.core.services import Services
from crucible.dialects.bender.models import BenderAlgo, BenderTrial
from tests.compat.conftest import ClientUser, ScriptRun
from tests.conftest import LiveServer

pytestmark = pytest.mark.compat

Run = Callable[..., ScriptRun]
MakeUser = Callable[[str], ClientUser]


DAY = 86400
SIN_X = [{"name": "x", "category": "uniform", "search_space": {"low": 0, "high": 2 * math.pi}}]


def raw_algo(
    url: str, user: ClientUser, parameters: list[dict[str, Any]], name: str = "exp"
) -> dict[str, Any]:
    """An experiment (metric `loss`) with one algo, made with raw HTTP."""
    metrics = [{"metric_name": "loss", "type": "loss"}]
    response = requests.post(
        f"{url}/api/experiments/", json={"name": name, "metrics": metrics}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    body = {"name": "algo", "experiment": response.json()["id"], "parameters": parameters}
    response = requests.post(f"{url}/api/algos/", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def insert_trials(services: Services, algo: dict[str, Any], user: ClientUser, count: int) -> None:
    """Many trials at once, straight into the database (as the API stores them)."""
    with services.db.write() as session:
        stored = session.get(BenderAlgo, algo["id"])
        assert stored is not None
        stored.trials_version += 1
        session.add_all(
            BenderTrial(
                algo_id=algo["id"],
                experiment_id=algo["experiment"],
                owner_id=user.account.id,
                parameters={"x": i / 100},
                results={"loss": math.sin(i / 100)},
            )
            for i in range(count)
        )


def mint_token(secret: str, user_id: int, username: str, *, expires_in: float) -> str:
    payload = {
        "user_id": user_id,
        "username": username,
        "email": f"{username}@example.org",
        "exp": int(time.time() + expires_in),
    }
    return jwt.encode(payload, secret, algorithm="HS256")


def check_learning(result: dict[str, Any]) -> None:
    """Scenario 1's assertions on one optimisation run."""
    assert result["late"] <= -0.4, result
    assert result["late"] <= result["early"] - 0.3, result
    assert result["best"] < -0.95, result


def test_scenario_01_minimal_example_and_08_descriptive(run_script: Run, client_user: MakeUser) -> None:
    alice = client_user("alice")
    result = run_script("scenario_01_minimal.py", alice.env("ALICE")).result
    check_learning(result["tpe"])
    assert result["tpe"]["late"] < result["random"]["late"], result
    check_learning(result["descriptive"])


def test_scenario_02_every_client_method(run_script: Run, client_user: MakeUser) -> None:
    alice = client_user("alice")
    stdin = f"{alice.account.email}\n{alice.account.password}\n"
    run = run_script("scenario_02_methods.py", alice.env("ALICE"), stdin=stdin)
    assert run.result == {"ok": True}
    assert "Please enter your email" in run.stdout  # the prompt of revoke_credentials() was answered


def test_scenario_03_sharing_between_two_users(run_script: Run, client_user: MakeUser) -> None:
    alice, bob = client_user("alice"), client_user("bob")
    assert run_script("scenario_03_sharing.py", {**alice.env("ALICE"), **bob.env("BOB")}).result == {
        "ok": True
    }


def test_scenario_04_pagination(
    run_script: Run, client_user: MakeUser, live_server: LiveServer, services: Services, forwarding_proxy: str
) -> None:
    alice = client_user("alice")
    algo = raw_algo(live_server.url, alice, SIN_X)
    insert_trials(services, algo, alice, 250)
    env = {**alice.env("ALICE"), "ALGO_ID": algo["id"], "PROXY_URL": forwarding_proxy}
    assert run_script("scenario_04_pagination.py", env).result == {"direct": 250, "proxy": 250}


def test_scenario_05_bad_input(run_script: Run, client_user: MakeUser, live_server: LiveServer) -> None:
    alice, bob = client_user("alice"), client_user("bob")
    bob_algo = raw_algo(live_server.url, bob, SIN_X)
    env = {**alice.env("ALICE"), **bob.env("BOB"), "BOB_ALGO_ID": bob_algo["id"]}
    assert run_script("scenario_05_bad_input.py", env).result == {"errors": 19}


def test_scenario_07_search_space_exactness(run_script: Run, client_user: MakeUser) -> None:
    alice = client_user("alice")
    distinct = run_script("scenario_07_exactness.py", alice.env("ALICE")).result
    # the checks saw real variety, not one value repeated
    assert distinct["g"] == 3 and distinct["h"] == 2 and distinct["i"] == 5, distinct
    assert distinct["a"] >= 10 and distinct["b"] >= 20 and distinct["e"] >= 15, distinct
    assert min(distinct[name] for name in "cdf") > 50, distinct


def test_scenario_10_and_12_prompted_logins(
    run_script: Run, client_user: MakeUser, live_server: LiveServer, services: Services, tmp_path: Path
) -> None:
    alice, bob = client_user("alice"), client_user("bob")
    # alice's token expires in 3 days: the client asks again on every run until it is replaced
    expiring = mint_token(services.jwt_secret, alice.account.id, "alice", expires_in=3 * DAY)
    (alice.home / ".bender_token").write_text(json.dumps(expiring))
    # bob's token is signed with another key: GET /user/ answers 403 and the client asks
    forged = mint_token("another secret, not this install's", bob.account.id, "bob", expires_in=100 * DAY)
    (bob.home / ".bender_token").write_text(json.dumps(forged))
    # carol registers through /registration/ and then only uses the shared login
    body = {
        "username": "carol",
        "email": "carol@example.org",
        "password1": "carol pass 1",
        "password2": "carol pass 1",
    }
    response = requests.post(f"{live_server.url}/registration/", json=body, timeout=30)
    assert response.status_code == 201, response.text
    carol_home = tmp_path / "home-carol"
    carol_home.mkdir()
    carol = {
        "CAROL_HOME": str(carol_home),
        "CAROL_USERNAME": "carol",
        "CAROL_EMAIL": "carol@example.org",
        "CAROL_PASSWORD": "carol pass 1",
        "CAROL_TOKEN": "",
    }
    stdin = "".join(
        f"{email}\n{password}\n"
        for email, password in (
            (alice.account.email, alice.account.password),
            (bob.account.email, bob.account.password),
            ("carol@example.org", "carol pass 1"),
        )
    )
    run = run_script("scenario_10_tokens.py", {**alice.env("ALICE"), **bob.env("BOB"), **carol}, stdin=stdin)
    assert run.result == {name: "prompted, then reused" for name in ("ALICE", "BOB", "CAROL")}
