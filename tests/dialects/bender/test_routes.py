"""Paths, aliases, suffixes and routing errors (spec §2.1, §2.4, §3.5, scenario 11)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from tests.conftest import Account
from tests.dialects.bender.conftest import PASSWORD, SIN_X, BenderUser

NOT_FOUND = {"detail": "Not found."}


def test_slashless_paths_answer_like_slashed_ones_without_redirect(alice: BenderUser) -> None:
    experiment, algo = alice.setup(SIN_X)
    pairs = [
        ("GET", "/api/experiments/?owner=alice", "/api/experiments?owner=alice"),
        ("GET", f"/api/experiments/{experiment['id']}/", f"/api/experiments/{experiment['id']}"),
        ("GET", f"/api/algos/{algo['id']}/", f"/api/algos/{algo['id']}"),
        ("GET", "/user/", "/user"),
        ("GET", "/api/", "/api"),
        ("GET", "/api/optimizers/", "/api/optimizers"),
    ]
    for method, slashed, slashless in pairs:
        one = alice.request(method, slashed, follow_redirects=False)
        two = alice.request(method, slashless, follow_redirects=False)
        assert one.status_code == two.status_code == 200, (slashless, two.status_code, two.text)
        assert one.json() == two.json()
    response = alice.post(f"/api/algos/{algo['id']}/suggest", {"metric": "loss"}, follow_redirects=False)
    assert response.status_code == 200, response.text
    response = alice.post(
        "/api/experiments", {"name": "slashless", "metrics": [{"metric_name": "m", "type": "loss"}]}
    )
    assert response.status_code == 201, response.text


def test_trails_alias_for_every_method(alice: BenderUser) -> None:
    _experiment, algo = alice.setup(SIN_X)
    trial = alice.trial(algo["id"], {"x": 1.0}, {"loss": 0.5}).json()
    response = alice.get(f"/api/trails/{trial['id']}/")
    assert response.status_code == 200
    assert response.json()["id"] == trial["id"]
    assert alice.patch(f"/api/trails/{trial['id']}/", {}).status_code == 405
    response = alice.delete(f"/api/trails/{trial['id']}/")
    assert response.status_code == 204
    assert response.content == b""
    assert alice.get(f"/api/trials/{trial['id']}/").status_code == 404
    trial = alice.trial(algo["id"], {"x": 1.0}, {"loss": 0.5}).json()
    assert alice.delete(f"/api/trails/{trial['id']}").status_code == 204


def test_json_format_suffix_and_query(alice: BenderUser) -> None:
    experiment, algo = alice.setup(SIN_X)
    response = alice.get("/api/experiments.json?owner=alice")
    assert response.status_code == 200
    assert response.json()["count"] == 1
    assert alice.get(f"/api/algos/{algo['id']}.json").json()["id"] == algo["id"]
    assert alice.get(f"/api/experiments/{experiment['id']}.json").json()["id"] == experiment["id"]
    response = alice.get("/api/experiments/?owner=alice&format=json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")


def test_login_without_slash_answers_like_login_and_sets_the_session_cookie(
    client: TestClient, make_user: Callable[..., Account]
) -> None:
    make_user("alice")
    body = {"email": "alice@example.org", "password": PASSWORD}
    slashed = client.post("/login/", json=body)
    slashless = client.post("/login", json=body)
    for response in (slashed, slashless):
        assert response.status_code == 200
        assert set(response.json()) == {"token", "user"}
        cookie = response.headers["set-cookie"]
        assert cookie.startswith('user="2|1:0|')
        assert "HttpOnly" in cookie
        assert "Path=/" in cookie
    assert slashed.json()["user"] == slashless.json()["user"]
    token = slashless.json()["token"]
    assert client.get("/user/", headers={"Authorization": f"JWT {token}"}).status_code == 200


def test_unknown_ids_and_malformed_ids_give_404(alice: BenderUser) -> None:
    unknown = "0c7e6d3c-8a4e-4b61-9b1f-2d0b6f0a0a0a"
    for path in (
        f"/api/experiments/{unknown}/",
        "/api/experiments/not-a-uuid/",
        f"/api/algos/{unknown}/",
        "/api/algos/123/",
        f"/api/trials/{unknown}/",
        "/api/trials/zzz/",
    ):
        response = alice.get(path)
        assert (response.status_code, response.json()) == (404, NOT_FOUND), path
    for path in (f"/api/experiments/{unknown}/", f"/api/algos/{unknown}/", f"/api/trials/{unknown}/"):
        response = alice.delete(path)
        assert (response.status_code, response.json()) == (404, NOT_FOUND), path
    response = alice.post(f"/api/algos/{unknown}/suggest/", {"metric": "loss"})
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    response = alice.patch(f"/api/experiments/{unknown}/", {})
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_ids_are_canonical_lowercase_uuids(alice: BenderUser) -> None:
    experiment, algo = alice.setup(SIN_X)
    assert experiment["id"] == experiment["id"].lower()
    assert algo["experiment"] == experiment["id"]
    upper = alice.get(f"/api/experiments/{experiment['id'].upper()}/")
    assert upper.status_code == 200
    assert upper.json()["id"] == experiment["id"]


def test_unknown_paths_and_methods(alice: BenderUser, client: TestClient) -> None:
    _experiment, algo = alice.setup(SIN_X)
    trial = alice.trial(algo["id"], {"x": 1.0}, {"loss": 0.5}).json()
    assert alice.get("/api/nothing/").status_code == 404
    assert alice.get("/api/nothing/").json() == NOT_FOUND
    assert alice.get(f"/api/algos/{algo['id']}/other/").json() == NOT_FOUND
    for method in ("PUT", "PATCH"):
        response = alice.request(method, f"/api/trials/{trial['id']}/", json={"comment": "x"})
        assert response.status_code == 405
        assert response.json() == {"detail": f'Method "{method}" not allowed.'}
    response = alice.get(f"/api/algos/{algo['id']}/suggest/")
    assert (response.status_code, response.json()) == (405, {"detail": 'Method "GET" not allowed.'})
    response = alice.delete("/api/experiments/")
    assert (response.status_code, response.json()) == (405, {"detail": 'Method "DELETE" not allowed.'})


def test_api_root_and_optimizers(alice: BenderUser, client: TestClient) -> None:
    response = alice.get("/api/")
    assert response.status_code == 200
    assert response.json() == {
        name: f"http://testserver/api/{name}/" for name in ("experiments", "algos", "trials", "users")
    }
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bender.example.org"}
    assert alice.get("/api/", headers=headers).json()["trials"] == "https://bender.example.org/api/trials/"
    response = alice.get("/api/optimizers/")
    assert response.status_code == 200
    body = response.json()
    assert body["default"] == "parzen_estimator"
    assert body["optimizers"][:2] == ["random", "parzen_estimator"] or {"random", "parzen_estimator"} <= set(
        body["optimizers"]
    )
    for path in ("/api/", "/api/optimizers/"):
        response = client.get(path)
        assert response.status_code == 403
        assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_responses_are_json_and_204_is_empty(alice: BenderUser) -> None:
    experiment = alice.experiment()
    response = alice.get(f"/api/experiments/{experiment['id']}/")
    assert response.headers["content-type"] == "application/json"
    response = alice.delete(f"/api/experiments/{experiment['id']}/")
    assert response.status_code == 204
    assert response.content == b""


def test_non_bender_paths_are_left_alone(client: TestClient) -> None:
    # /api/v1/ belongs to Polyaxon: Bender must not canonicalise or claim it
    response = client.get("/api/v1/nothing")
    # Polyaxon answers it (GET /api/v1/{username} lists that user's projects and needs a token)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Token"
    assert client.get("/healthz").json() == {"status": "ok"}


class TestRootPath:
    """Behind a proxy that mounts the server under a prefix (ASGI root_path)."""

    @pytest.fixture
    def prefixed(self, app: FastAPI, make_user: Callable[..., Account]) -> BenderUser:
        return BenderUser(TestClient(app, root_path="/bender"), make_user("alice"))

    def test_links_include_the_root_path_once(
        self, prefixed: BenderUser, add_trials: Callable[..., Any]
    ) -> None:
        _experiment, algo = prefixed.setup(SIN_X)
        add_trials(algo, prefixed, [({"x": 1}, {"loss": 1}, 1.0)] * 3)
        page = prefixed.get(f"/bender/api/trials/?algo={algo['id']}&limit=1").json()
        assert page["next"] == f"http://testserver/bender/api/trials/?algo={algo['id']}&limit=1&offset=1"
        page = prefixed.get(f"/bender/api/trials?algo={algo['id']}&limit=1").json()
        assert page["next"] == f"http://testserver/bender/api/trials?algo={algo['id']}&limit=1&offset=1"
        root = prefixed.get("/bender/api/").json()
        assert root["trials"] == "http://testserver/bender/api/trials/"
