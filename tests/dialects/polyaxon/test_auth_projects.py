"""Auth, users, projects and bookmarks over raw HTTP (spec §2, §3.1, §3.2, §3.6)."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.dialects.polyaxon.conftest import API, PlxUser


def test_login_accepts_forms_and_json_and_refuses_bad_credentials(client: TestClient, alice: PlxUser) -> None:
    assert (
        client.post(
            f"{API}/users/token", json={"username": "alice", "password": "correct horse 1"}
        ).status_code
        == 200
    )
    wrong = client.post(f"{API}/users/token/", data={"username": "alice", "password": "nope"})
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "Invalid credentials."}
    missing = client.post(f"{API}/users/token/", data={"username": "alice"})
    assert missing.status_code == 400 and missing.json() == {"password": ["This field is required."]}


def test_token_header_rules(client: TestClient, alice: PlxUser) -> None:
    me = client.get(f"{API}/users/", headers={"Authorization": f"token {alice.token}"})
    assert me.status_code == 200
    assert me.json() == {"username": "alice", "email": "alice@example.org", "is_superuser": False}
    for header in ({}, {"Authorization": "Token nope"}, {"Authorization": f"Bearer {alice.token}"}):
        response = client.get(f"{API}/users", headers=header)
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid token."}
        assert response.headers["www-authenticate"] == "Token"


def test_anonymous_routes(client: TestClient) -> None:
    assert client.get(f"{API}/versions/cli/").json() == {"latest_version": "0.5.6", "min_version": "0.5.0"}
    assert client.get(f"{API}/versions/chart").json() == {"version": "0.5.6"}
    assert client.get(f"{API}/log_handler/").json() == {"dsn": None, "environment": "production", "tags": {}}


def test_project_crud_and_wire_shape(alice: PlxUser) -> None:
    project = alice.project("proj", description="d", tags=["x"])
    assert project["unique_name"] == "alice.proj" and project["user"] == project["owner"] == "alice"
    assert len(project["uuid"]) == 32 and project["is_public"] is True and project["has_code"] is False
    assert project["created_at"].endswith("+00:00") and "." in project["created_at"]
    duplicate = alice.post("/projects", {"name": "proj"})
    assert duplicate.status_code == 400
    assert duplicate.json() == {"name": ["A project with name `proj` already exists."]}
    assert alice.post("/projects", {"name": "bad name"}).status_code == 400
    for _ in range(2):
        patched = alice.patch("/alice/proj/", {"tags": ["a"], "merge": True})
        assert patched.status_code == 200
    assert patched.json()["tags"] == ["x", "a"]
    assert alice.patch("/alice/proj", {"tags": ["b"]}).json()["tags"] == ["b"]
    assert alice.patch("/alice/proj", {"name": "bad name"}).status_code == 400
    listed = alice.get("/alice/")
    assert listed.json()["count"] == 1 and listed.json()["results"][0]["name"] == "proj"
    assert alice.delete("/alice/proj/").status_code == 204
    assert alice.get("/alice/proj/").status_code == 404
    assert alice.get("/nobody/").status_code == 404


def test_access_rules(alice: PlxUser, bob: PlxUser, plx_user) -> None:  # type: ignore[no-untyped-def]
    alice.project("public")
    alice.project("private", is_public=False)
    assert bob.get("/alice/public").status_code == 200
    assert bob.patch("/alice/public", {"description": "x"}).status_code == 403
    assert bob.post("/alice/public/experiments", {"is_managed": False}).status_code == 403
    assert bob.get("/alice/private").status_code == 404
    assert bob.get("/alice/private/experiments").status_code == 404
    assert [p["name"] for p in bob.get("/alice").json()["results"]] == ["public"]
    root = plx_user("root", admin=True)
    assert root.get("/alice").json()["count"] == 2
    assert root.patch("/alice/private", {"description": "by root"}).status_code == 200


def test_bookmarks(alice: PlxUser, bob: PlxUser) -> None:
    alice.project()
    experiment = alice.experiment()
    assert alice.post("/alice/proj/bookmark").status_code == 201
    assert alice.post("/alice/proj/bookmark/").status_code == 201
    assert alice.post(alice.path(experiment, "/bookmark")).status_code == 201
    assert alice.get("/alice/proj").json()["bookmarked"] is True
    projects = alice.get("/bookmarks/alice/projects/").json()
    assert projects["count"] == 1 and projects["results"][0]["content_object"]["name"] == "proj"
    experiments = alice.get("/bookmarks/alice/experiments").json()
    assert experiments["results"][0]["content_object"]["id"] == experiment["id"]
    assert alice.get("/bookmarks/alice/jobs").json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }
    assert bob.get("/bookmarks/alice/projects").status_code == 403
    assert alice.delete("/alice/proj/unbookmark").status_code == 204
    assert alice.delete("/alice/proj/unbookmark").status_code == 204
    assert alice.get("/bookmarks/alice/projects").json()["count"] == 0


def test_superuser_routes(alice: PlxUser, plx_user) -> None:  # type: ignore[no-untyped-def]
    root = plx_user("root", admin=True)
    assert alice.post("/superusers/grant/alice").status_code == 403
    granted = root.post("/superusers/grant/alice/")
    assert granted.status_code == 200 and granted.json()["is_superuser"] is True
    assert root.post("/superusers/revoke/alice").json()["is_superuser"] is False
    assert root.post("/users/activate/nobody").status_code == 404


def test_routing_errors_are_drf_shaped(alice: PlxUser) -> None:
    assert alice.get("/alice/proj/nothing/here/at/all").json() == {"detail": "Not found."}
    response = alice.request("PUT", "/projects")
    assert response.status_code == 405 and response.json() == {"detail": 'Method "PUT" not allowed.'}
