"""/api/users/ (spec §3.5) and the hosted-service quotas (spec §4.8, scenario 12)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from crucible.core.services import Services
from crucible.dialects.bender.models import BenderContactMessage
from tests.dialects.bender.conftest import SIN_X, BenderUser

FORBIDDEN = {"detail": "You do not have permission to perform this action."}


def test_search_users(
    alice: BenderUser,
    bender_user: Callable[..., BenderUser],
    make_user: Callable[..., Any],
    client: TestClient,
) -> None:
    for name in ("bob", "Bobby", "carol"):
        bender_user(name)
    make_user("ghost", active=False)  # deactivated accounts are not listed
    page = alice.get("/api/users/?search=BOB").json()
    assert page["count"] == 2
    assert sorted(u["username"] for u in page["results"]) == ["Bobby", "bob"]
    assert all(set(u) == {"username"} for u in page["results"])
    page = alice.get("/api/users/").json()
    assert page["count"] == 4
    page = alice.get("/api/users/?limit=2").json()
    assert len(page["results"]) == 2
    assert page["next"] == "http://testserver/api/users/?limit=2&offset=2"
    assert alice.get("/api/users/?search=%25").json()["count"] == 0  # LIKE wildcards are literal
    response = client.get("/api/users/")
    assert response.status_code == 403


def test_superuser_gets_the_full_form(bender_user: Callable[..., BenderUser]) -> None:
    admin = bender_user("root", admin=True)
    bender_user("bob")
    page = admin.get("/api/users/?search=bob").json()
    (bob,) = page["results"]
    assert set(bob) == {"id", "username", "email", "shared_experiments"}
    assert admin.get(f"/api/users/{bob['id']}/").status_code == 200


def test_retrieve_self_only(alice: BenderUser, bob: BenderUser) -> None:
    response = alice.get(f"/api/users/{alice.account.id}/")
    assert response.status_code == 200
    assert response.json() == {
        "id": alice.account.id,
        "username": "alice",
        "email": "alice@example.org",
        "shared_experiments": [],
    }
    assert alice.get(f"/api/users/{bob.account.id}/").json() == FORBIDDEN
    for pk in ("424242", "abc", "99999999999999999999999999"):
        response = alice.get(f"/api/users/{pk}/")
        assert (response.status_code, response.json()) == (404, {"detail": "Not found."}), pk


def test_update_self(alice: BenderUser, bob: BenderUser) -> None:
    path = f"/api/users/{alice.account.id}/"
    response = alice.patch(path, {"email": "bob@example.org"})
    assert (response.status_code, response.json()) == (400, {"email": ["Email already used."]})
    response = alice.patch(path, {"username": "bob"})
    assert (response.status_code, response.json()) == (
        400,
        {"username": ["A user with that username already exists."]},
    )
    response = alice.patch(path, {"username": "bad name!"})
    assert response.status_code == 400
    assert set(response.json()) == {"username"}
    response = alice.put(path, {"username": "alice2", "email": "Alice2@Example.org"})
    assert response.status_code == 200, response.text
    assert response.json()["username"] == "alice2"
    assert response.json()["email"] == "alice2@example.org"
    assert alice.patch(f"/api/users/{bob.account.id}/", {"username": "x"}).json() == FORBIDDEN


def test_shared_experiments_may_only_shrink(alice: BenderUser, bob: BenderUser) -> None:
    experiment = alice.experiment()
    path = f"/api/users/{bob.account.id}/"
    response = bob.patch(path, {"shared_experiments": [experiment["id"]]})
    assert response.status_code == 400
    for junk in ([[1]], [{"id": [1]}], "x", [None]):
        response = bob.patch(path, {"shared_experiments": junk})
        assert response.status_code == 400, junk
    alice.patch(f"/api/experiments/{experiment['id']}/", {"shared_with": ["bob"]})
    # the current list, given back as ids or as objects, changes nothing
    for same in ([experiment["id"]], [{"id": experiment["id"]}], [experiment["id"].upper()]):
        response = bob.patch(path, {"shared_experiments": same})
        assert response.status_code == 200, (same, response.text)
        assert len(response.json()["shared_experiments"]) == 1


def test_delete_deactivates(alice: BenderUser, bob: BenderUser, client: TestClient) -> None:
    assert alice.delete(f"/api/users/{bob.account.id}/").json() == FORBIDDEN
    response = alice.delete(f"/api/users/{alice.account.id}/")
    assert response.status_code == 204
    assert alice.get("/user/").json() == {"detail": "User account is disabled."}
    response = client.post("/login/", json={"username": "alice", "password": "correct horse 1"})
    assert response.json() == {"non_field_errors": ["User account is disabled."]}
    # data is kept
    assert "alice" not in [u["username"] for u in bob.get("/api/users/").json()["results"]]


def test_delete_keeps_data(
    alice: BenderUser, services: Services, bender_user: Callable[..., BenderUser]
) -> None:
    experiment, _algo = alice.setup(SIN_X)
    alice.delete(f"/api/users/{alice.account.id}/")
    admin = bender_user("root", admin=True)
    assert admin.get(f"/api/users/{alice.account.id}/").status_code == 200
    from crucible.dialects.bender.models import BenderExperiment

    with services.db.read() as session:
        assert session.get(BenderExperiment, experiment["id"]) is not None


def test_contact_is_recorded(alice: BenderUser, services: Services) -> None:
    body = {"title": "Hello", "content": "It works", "email": "alice@example.org"}
    response = alice.post("/api/users/contact/", body)
    assert (response.status_code, response.json()) == (200, {})
    response = alice.post("/api/users/contact/", {"title": "t", "email": "e@example.org"})
    assert (response.status_code, response.json()) == (400, {"content": ["This field is required."]})
    with services.db.read() as session:
        messages = session.query(BenderContactMessage).all()
        assert [(m.title, m.content, m.user_id) for m in messages] == [
            ("Hello", "It works", alice.account.id)
        ]


class TestQuotas:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {
            "bender_quotas_enabled": True,
            "bender_max_trials": 3,
            "bender_max_experiments": 2,
            "bender_max_algos": 2,
            "bender_max_shared_with": 1,
            "bender_quota_whitelist": ["vip"],
        }

    def test_fourth_trial_gives_429(self, alice: BenderUser) -> None:
        _experiment, algo = alice.setup(SIN_X)
        for _ in range(3):
            assert alice.trial(algo["id"], {"x": 1.0}, {"loss": 1}).status_code == 201
        response = alice.trial(algo["id"], {"x": 1.0}, {"loss": 1})
        assert (response.status_code, response.json()) == (
            429,
            {"detail": "Max number of trials reached for this algo."},
        )
        assert alice.get(f"/api/trials/?algo={algo['id']}").json()["count"] == 3

    def test_other_limits(
        self, alice: BenderUser, bob: BenderUser, bender_user: Callable[..., BenderUser]
    ) -> None:
        bender_user("carol")
        first = alice.experiment("one")
        alice.experiment("two")
        response = alice.post(
            "/api/experiments/", {"name": "three", "metrics": [{"metric_name": "m", "type": "loss"}]}
        )
        assert response.status_code == 429
        assert response.json()["detail"].startswith("Max number of ")
        alice.algo(first["id"], SIN_X, name="a1")
        alice.algo(first["id"], SIN_X, name="a2")
        response = alice.post("/api/algos/", {"name": "a3", "experiment": first["id"], "parameters": []})
        assert response.status_code == 429
        assert response.json()["detail"].startswith("Max number of ")
        path = f"/api/experiments/{first['id']}/"
        assert alice.patch(path, {"shared_with": ["bob"]}).status_code == 200
        response = alice.patch(path, {"shared_with": ["bob", "carol"]})
        assert response.status_code == 429
        assert response.json()["detail"].startswith("Max number of ")

    def test_whitelisted_users_are_exempt(self, bender_user: Callable[..., BenderUser]) -> None:
        vip = bender_user("vip")
        _experiment, algo = vip.setup(SIN_X)
        for _ in range(5):
            assert vip.trial(algo["id"], {"x": 1.0}, {"loss": 1}).status_code == 201
        vip.experiment("two")
        vip.experiment("three")


def test_quotas_are_off_by_default(alice: BenderUser) -> None:
    _experiment, algo = alice.setup(SIN_X)
    for _ in range(4):
        assert alice.trial(algo["id"], {"x": 1.0}, {"loss": 1}).status_code == 201
