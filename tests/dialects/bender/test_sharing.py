"""Sharing and permissions (spec §4.1, §4.2, D8, D9; scenario 3 raw parts)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dialects.bender.conftest import SIN_X, BenderUser

FORBIDDEN = {"detail": "You do not have permission to perform this action."}


class Shared:
    def __init__(self, alice: BenderUser, bob: BenderUser) -> None:
        self.alice, self.bob = alice, bob
        self.experiment, self.algo = alice.setup(SIN_X, name="E")
        self.path = f"/api/experiments/{self.experiment['id']}/"
        self.share(["bob"])
        self.bob_algo = bob.algo(self.experiment["id"], SIN_X, name="bob-algo")
        self.bob_trials = [
            bob.trial(self.bob_algo["id"], {"x": 0.5 * i}, {"loss": float(i)}).json()["id"] for i in range(3)
        ]
        assert alice.trial(self.algo["id"], {"x": 1.0}, {"loss": 1.0}).status_code == 201

    def share(self, usernames: list[str]) -> dict[str, Any]:
        response = self.alice.patch(self.path, {"shared_with": usernames})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def shared(alice: BenderUser, bob: BenderUser) -> Shared:
    return Shared(alice, bob)


def test_shared_user_sees_and_works_in_the_experiment(shared: Shared) -> None:
    alice, bob = shared.alice, shared.bob
    assert bob.get(shared.path).status_code == 200
    assert shared.experiment["id"] not in [
        e["id"] for e in bob.get("/api/experiments/?owner=bob").json()["results"]
    ]
    listed = bob.get("/api/experiments/?shared_with=bob").json()
    assert [e["id"] for e in listed["results"]] == [shared.experiment["id"]]
    assert listed["results"][0]["owner"] == "alice"
    response = bob.suggest(shared.bob_algo["id"], metric="loss")
    assert response.status_code == 200, response.text
    # bob may see alice's algo and list its trials, as a participant
    assert bob.get(f"/api/algos/{shared.algo['id']}/").status_code == 200
    assert bob.get(f"/api/trials/?algo={shared.algo['id']}").json()["count"] == 1
    assert len(bob.get(f"/api/algos/?experiment={shared.experiment['id']}").json()["results"]) == 2
    # the owner sees everything (D9)
    algos = alice.get(f"/api/algos/?experiment={shared.experiment['id']}").json()
    assert {a["name"] for a in algos["results"]} == {"algo", "bob-algo"}
    assert alice.get(f"/api/algos/{shared.bob_algo['id']}/").status_code == 200
    response = alice.get(f"/api/trials/?algo={shared.bob_algo['id']}")
    assert response.status_code == 200
    assert response.json()["count"] == 3
    full = alice.get(shared.path).json()
    assert full["participants"] == [["alice"], ["bob"]]
    assert full["shared_with"] == ["bob"]


def test_what_only_owners_may_do(shared: Shared) -> None:
    alice, bob = shared.alice, shared.bob
    assert alice.suggest(shared.bob_algo["id"], metric="loss").json() == FORBIDDEN
    assert alice.trial(shared.bob_algo["id"], {"x": 1.0}, {"loss": 1}).json() == FORBIDDEN
    assert alice.patch(f"/api/algos/{shared.bob_algo['id']}/", {"name": "mine"}).json() == FORBIDDEN
    assert alice.delete(f"/api/algos/{shared.bob_algo['id']}/").json() == FORBIDDEN
    assert alice.get(f"/api/trials/{shared.bob_trials[0]}/").json() == FORBIDDEN
    assert bob.patch(shared.path, {"description": "x"}).json() == FORBIDDEN
    assert bob.patch(shared.path, {"shared_with": []}).json() == FORBIDDEN
    assert bob.delete(shared.path).json() == FORBIDDEN
    assert bob.suggest(shared.algo["id"], metric="loss").json() == FORBIDDEN
    assert bob.trial(shared.algo["id"], {"x": 1.0}, {"loss": 1}).json() == FORBIDDEN


def test_unsharing_revokes_access_and_keeps_data(shared: Shared) -> None:
    alice, bob = shared.alice, shared.bob
    before = alice.get(shared.path).json()
    assert shared.share([])["shared_with"] == []
    after = alice.get(shared.path).json()
    assert after["trial_count"] == before["trial_count"] == 4
    assert after["algo_count"] == 2
    assert after["participants"] == [["alice"], ["bob"]]
    assert alice.get(f"/api/algos/{shared.bob_algo['id']}/").status_code == 200
    assert alice.get(f"/api/trials/?algo={shared.bob_algo['id']}").json()["count"] == 3
    assert alice.get(f"/api/trials/?experiment={shared.experiment['id']}").json()["count"] == 4

    assert bob.get(shared.path).json() == FORBIDDEN
    assert bob.get("/api/experiments/?shared_with=bob").json()["count"] == 0
    assert bob.trial(shared.bob_algo["id"], {"x": 1.0}, {"loss": 1}).json() == FORBIDDEN
    assert bob.suggest(shared.bob_algo["id"], metric="loss").json() == FORBIDDEN
    assert bob.patch(f"/api/algos/{shared.bob_algo['id']}/", {"name": "renamed"}).json() == FORBIDDEN
    response = bob.post(
        "/api/algos/", {"name": "new", "experiment": shared.experiment["id"], "parameters": []}
    )
    assert response.json() == FORBIDDEN
    assert bob.get(f"/api/algos/?experiment={shared.experiment['id']}").json() == FORBIDDEN
    assert bob.get(f"/api/trials/?experiment={shared.experiment['id']}").json() == FORBIDDEN
    assert bob.get(f"/api/algos/{shared.algo['id']}/").json() == FORBIDDEN
    # his own things stay his
    assert bob.get("/api/trials/?owner=bob").json()["count"] == 3
    assert bob.get(f"/api/trials/?algo={shared.bob_algo['id']}").json()["count"] == 3
    assert bob.get(f"/api/algos/{shared.bob_algo['id']}/").status_code == 200
    assert [a["id"] for a in bob.get("/api/algos/?owner=bob").json()["results"]] == [shared.bob_algo["id"]]
    assert bob.get(f"/api/trials/{shared.bob_trials[0]}/").status_code == 200
    assert bob.delete(f"/api/trials/{shared.bob_trials[0]}/").status_code == 204

    # sharing again restores everything
    shared.share(["bob"])
    assert bob.get(shared.path).status_code == 200
    assert bob.suggest(shared.bob_algo["id"], metric="loss").status_code == 200
    assert bob.trial(shared.bob_algo["id"], {"x": 1.0}, {"loss": 1}).status_code == 201
    assert bob.get(f"/api/trials/?algo={shared.bob_algo['id']}").json()["count"] == 3


def test_removed_user_may_delete_own_algo(shared: Shared) -> None:
    shared.share([])
    assert shared.bob.delete(f"/api/algos/{shared.bob_algo['id']}/").status_code == 204
    assert shared.alice.get(shared.path).json()["algo_count"] == 1


def test_leaving_through_shared_experiments_keeps_data(shared: Shared) -> None:
    bob = shared.bob
    me = bob.get(f"/api/users/{bob.account.id}/").json()
    assert me["shared_experiments"] == [{"id": shared.experiment["id"], "name": "E", "owner": "alice"}]
    response = bob.patch(
        f"/api/users/{bob.account.id}/", {"shared_experiments": [shared.experiment["id"], "x"]}
    )
    assert response.status_code == 400  # may only remove
    response = bob.patch(f"/api/users/{bob.account.id}/", {"shared_experiments": []})
    assert response.status_code == 200, response.text
    assert response.json()["shared_experiments"] == []
    assert bob.get(shared.path).json() == FORBIDDEN
    assert shared.alice.get(shared.path).json()["shared_with"] == []
    assert shared.alice.get(f"/api/trials/?algo={shared.bob_algo['id']}").json()["count"] == 3
    assert bob.get("/api/trials/?owner=bob").json()["count"] == 3


def test_shared_with_replaces_the_whole_list(alice: BenderUser, bob: BenderUser, bender_user: Any) -> None:
    bender_user("carol")
    experiment = alice.experiment()
    path = f"/api/experiments/{experiment['id']}/"
    assert alice.patch(path, {"shared_with": ["carol", "bob", "carol"]}).json()["shared_with"] == [
        "bob",
        "carol",
    ]
    assert alice.put(path, {"shared_with": ["carol"]}).json()["shared_with"] == ["carol"]
    assert bob.get(path).status_code == 403
    assert alice.get(path).json()["shared_with"] == ["carol"]
