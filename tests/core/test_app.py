"""Core routes and cross-cutting behaviour of the one application."""

from __future__ import annotations

from starlette.testclient import TestClient

from crucible.core.services import Services
from crucible.migrations import is_up_to_date
from crucible.models import metadata


def test_healthz_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/api/experiments/" in document["paths"]
    assert client.get("/docs").status_code == 200


def test_unknown_paths_answer_json_404(client: TestClient) -> None:
    response = client.get("/no/such/path")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_migrations_match_the_models(services: Services) -> None:
    """Every table in the models is created by a migration, column for column."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    assert is_up_to_date(services.db.engine, services.db.url)
    with services.db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_login_sets_the_streamingbandit_cookie_on_both_paths(client: TestClient, make_user) -> None:  # type: ignore[no-untyped-def]
    account = make_user("mallory")
    for path in ("/login", "/login/"):
        response = client.post(path, json={"username": "mallory", "password": account.password})
        assert response.status_code == 200
        assert set(response.json()) == {"token", "user"}
        cookie = response.headers["set-cookie"]
        assert cookie.startswith('user="2|1:0|10:')
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        assert "Max-Age=2592000" in cookie and "Secure" not in cookie


def test_login_errors_follow_each_dialect(client: TestClient, make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("oscar")
    bender = client.post("/login/", json={"username": "oscar", "password": "wrong"})
    assert bender.status_code == 400
    assert bender.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}
    streamingbandit = client.post("/login", json={"username": "oscar", "password": "wrong"})
    assert streamingbandit.status_code == 401
    assert streamingbandit.json() == {"error": {"code": 401, "message": "Wrong username or password!"}}
    assert client.post("/login/", json={"username": "oscar"}).json() == {
        "password": ["This field is required."]
    }
    assert client.post("/login", content=b"{bad").status_code == 400


def test_logout(client: TestClient) -> None:
    streamingbandit = client.get("/logout")
    assert streamingbandit.status_code == 200 and streamingbandit.content == b""
    assert "Max-Age=0" in streamingbandit.headers["set-cookie"]
    bender = client.post("/logout/")
    assert bender.json() == {"detail": "Successfully logged out."}
    assert client.get("/logout/").json() == {"detail": 'Method "GET" not allowed.'}
