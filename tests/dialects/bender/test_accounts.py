"""Account routes (spec §3.1): login, logout, /user/, registration, password change and reset; one account."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from crucible.core import accounts
from crucible.core.accounts import User
from crucible.core.services import Services
from tests.conftest import Account
from tests.dialects.bender.conftest import PASSWORD, BenderUser, jwt_claims

UNABLE = {"non_field_errors": ["Unable to log in with provided credentials."]}


def login(client: TestClient, path: str = "/login/", **body: Any):  # type: ignore[no-untyped-def]
    return client.post(path, json=body)


def user_row(services: Services, user_id: int) -> User:
    with services.db.read() as session:
        user = session.get(User, user_id)
        assert user is not None
        session.expunge(user)
        return user


# --- login --------------------------------------------------------------------------------------------


def test_login_errors(client: TestClient, make_user: Callable[..., Account]) -> None:
    make_user("alice")
    make_user("sleepy", active=False)
    cases = [
        ({"email": "alice@example.org", "password": "wrong"}, UNABLE),
        ({"username": "alice", "password": "wrong"}, UNABLE),
        ({"email": "nobody@example.org", "password": PASSWORD}, UNABLE),
        ({"email": "alice@example.org"}, {"password": ["This field is required."]}),
        ({"email": "alice@example.org", "password": ""}, {"password": ["This field is required."]}),
        (
            {"password": PASSWORD},
            {"non_field_errors": ['Must include either "username" or "email" and "password".']},
        ),
        (
            {"email": "sleepy@example.org", "password": PASSWORD},
            {"non_field_errors": ["User account is disabled."]},
        ),
    ]
    for body, expected in cases:
        response = client.post("/login/", json=body)
        assert (response.status_code, response.json()) == (400, expected), body


def test_login_username_with_at_sign_is_tried_as_an_email(
    client: TestClient, make_user: Callable[..., Account]
) -> None:
    make_user("alice")
    response = login(client, username="alice@example.org", password=PASSWORD)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == "alice"


def test_login_accepts_form_bodies(client: TestClient, make_user: Callable[..., Account]) -> None:
    make_user("alice")
    response = client.post("/login/", data={"email": "alice@example.org", "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == "alice"


def test_login_with_a_broken_json_body(client: TestClient) -> None:
    response = client.post("/login/", content=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - ")


def test_core_user_without_email_logs_in_by_username(
    client: TestClient, make_user: Callable[..., Account]
) -> None:
    make_user("noemail", email="")
    response = login(client, username="noemail", password=PASSWORD)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == ""
    claims = jwt_claims(response.json()["token"])
    assert claims["email"] == ""
    token = response.json()["token"]
    assert client.get("/user/", headers={"Authorization": f"JWT {token}"}).json()["email"] == ""


# --- /user/ ------------------------------------------------------------------------------------------------


def test_get_user(alice: BenderUser) -> None:
    response = alice.get("/user/")
    assert response.status_code == 200
    assert response.json() == {
        "pk": alice.account.id,
        "username": "alice",
        "email": "alice@example.org",
        "first_name": "",
        "last_name": "",
    }
    assert alice.get("/user").json() == response.json()


def test_patch_and_put_user(alice: BenderUser, bob: BenderUser) -> None:
    response = alice.patch("/user/", {"first_name": "Alice", "email": "hijack@example.org"})
    assert response.status_code == 200, response.text
    assert response.json()["first_name"] == "Alice"
    assert response.json()["email"] == "alice@example.org"  # read-only here
    response = alice.put("/user/", {"username": "alice_l", "first_name": "A", "last_name": "L"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "pk": alice.account.id,
        "username": "alice_l",
        "email": "alice@example.org",
        "first_name": "A",
        "last_name": "L",
    }
    response = alice.put("/user/", {"first_name": "A"})
    assert (response.status_code, response.json()) == (400, {"username": ["This field is required."]})
    response = alice.patch("/user/", {"username": "bob"})
    assert response.status_code == 400
    assert response.json() == {"username": ["A user with that username already exists."]}


def test_user_routes_need_authentication(client: TestClient) -> None:
    for method in ("GET", "PUT", "PATCH"):
        response = client.request(method, "/user/", json={})
        assert response.status_code == 403, method
        assert response.json() == {"detail": "Authentication credentials were not provided."}


# --- registration ----------------------------------------------------------------------------------------


def registration(**overrides: Any) -> dict[str, Any]:
    body = {
        "username": "newbie",
        "email": "newbie@example.org",
        "password1": "s3cret pass",
        "password2": "s3cret pass",
        "tos_accepted": True,
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def test_registration_gives_a_token_and_the_account_logs_in_everywhere(client: TestClient) -> None:
    response = client.post("/registration/", json=registration())
    assert response.status_code == 201, response.text
    data = response.json()
    assert set(data) == {"token", "user"}
    assert data["user"]["username"] == "newbie"
    assert data["user"]["email"] == "newbie@example.org"
    assert client.get("/user/", headers={"Authorization": f"JWT {data['token']}"}).status_code == 200
    # one account: the shared login, with and without the trailing slash
    for path in ("/login/", "/login"):
        response = login(client, path, email="newbie@example.org", password="s3cret pass")
        assert response.status_code == 200, (path, response.text)
        assert response.json()["user"]["pk"] == data["user"]["pk"]


def test_registration_with_password_alone_and_without_tos(client: TestClient) -> None:
    body = {"username": "solo", "email": "solo@example.org", "password": "s3cret pass"}
    response = client.post("/registration/", json=body)
    assert response.status_code == 201, response.text
    assert login(client, username="solo", password="s3cret pass").status_code == 200


def test_registration_accepts_form_bodies(client: TestClient) -> None:
    response = client.post("/registration/", data=registration(tos_accepted="true"))
    assert response.status_code == 201, response.text


def test_registration_errors(client: TestClient, make_user: Callable[..., Account]) -> None:
    make_user("alice")
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        (registration(username="alice"), {"username": ["A user with that username already exists."]}),
        (
            registration(email="ALICE@example.org"),
            {"email": ["A user is already registered with this e-mail address."]},
        ),
        (
            registration(password2="other pass"),
            {"non_field_errors": ["The two password fields didn't match."]},
        ),
        (
            registration(password1="short", password2="short"),
            {"password1": ["This password is too short. It must contain at least 8 characters."]},
        ),
        (
            registration(password1="12345678901", password2="12345678901"),
            {"password1": ["This password is entirely numeric."]},
        ),
        (registration(username=None), {"username": ["This field is required."]}),
        (registration(email=None), {"email": ["This field is required."]}),
        (registration(email="not-an-email"), {"email": ["Enter a valid email address."]}),
    ]
    for body, expected in cases:
        response = client.post("/registration/", json=body)
        assert (response.status_code, response.json()) == (400, expected), body
    response = client.post("/registration/", json=registration(tos_accepted=False))
    assert response.status_code == 400
    assert set(response.json()) == {"tos_accepted"}
    response = client.post("/registration/", json=registration(password1=None, password2=None))
    assert response.status_code == 400
    assert set(response.json()) == {"password1", "password2"}


class TestRegistrationClosed:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"registration_open": False}

    def test_registration_is_refused(self, client: TestClient) -> None:
        response = client.post("/registration/", json=registration())
        assert (response.status_code, response.json()) == (403, {"detail": "Registration is disabled."})
        assert login(client, username="newbie", password="s3cret pass").status_code == 400


class TestEmailVerification:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"bender_email_verification": True}

    def test_register_verify_then_log_in(self, client: TestClient, services: Services) -> None:
        response = client.post("/registration/", json=registration())
        assert (response.status_code, response.json()) == (201, {"detail": "Verification e-mail sent."})
        response = login(client, email="newbie@example.org", password="s3cret pass")
        assert (response.status_code, response.json()) == (
            400,
            {"non_field_errors": ["E-mail is not verified."]},
        )

        response = client.post("/registration/verify-email/", json={"key": "1:nonsense"})
        assert (response.status_code, response.json()) == (404, {"detail": "Not found."})
        for key in ("garbage", "9" * 30 + ":x", 5, None):
            response = client.post("/registration/verify-email/", json={"key": key})
            assert response.status_code == 404, key

        with services.db.read() as session:
            user = accounts.find_user_by_username(session, "newbie")
            assert user is not None
            key = f"{user.id}:{accounts.make_one_off_token(services.jwt_secret, 'verify-email', user)}"
        response = client.post("/registration/verify-email/", json={"key": key})
        assert (response.status_code, response.json()) == (200, {"detail": "ok"})
        response = login(client, email="newbie@example.org", password="s3cret pass")
        assert response.status_code == 200, response.text


# --- passwords --------------------------------------------------------------------------------------------


def test_password_change(client: TestClient, alice: BenderUser) -> None:
    response = alice.post(
        "/password/change/", {"new_password1": "brand new 1", "new_password2": "brand new 2"}
    )
    assert response.status_code == 400
    response = alice.post("/password/change/", {"new_password1": "short", "new_password2": "short"})
    assert response.status_code == 400
    response = alice.post(
        "/password/change/", {"new_password1": "brand new 1", "new_password2": "brand new 1"}
    )
    assert (response.status_code, response.json()) == (200, {"detail": "New password has been saved."})
    assert login(client, username="alice", password=PASSWORD).status_code == 400
    assert login(client, username="alice", password="brand new 1").status_code == 200
    response = client.post("/password/change/", json={"new_password1": "x" * 9, "new_password2": "x" * 9})
    assert response.status_code == 403


def test_password_reset_request(client: TestClient, alice: BenderUser) -> None:
    expected = {"detail": "Password reset e-mail has been sent."}
    for email in ("alice@example.org", "nobody@example.org"):
        response = client.post("/password/reset/", json={"email": email})
        assert (response.status_code, response.json()) == (200, expected)
    response = client.post("/password/reset/", json={"email": "not an email"})
    assert (response.status_code, response.json()) == (400, {"email": ["Enter a valid email address."]})
    response = client.post("/password/reset/", json={})
    assert (response.status_code, response.json()) == (400, {"email": ["This field is required."]})


def test_password_reset_confirm(client: TestClient, services: Services, alice: BenderUser) -> None:
    user = user_row(services, alice.account.id)
    token = accounts.make_one_off_token(services.jwt_secret, "reset-password", user)
    body = {
        "uid": str(user.id),
        "token": token,
        "new_password1": "reset pass 1",
        "new_password2": "reset pass 1",
    }

    response = client.post("/password/reset/confirm/", json={**body, "uid": "999999"})
    assert response.status_code == 400
    assert set(response.json()) == {"uid"}
    for uid in ("abc", "9" * 30, "-1"):
        response = client.post("/password/reset/confirm/", json={**body, "uid": uid})
        assert response.status_code == 400, uid
        assert set(response.json()) == {"uid"}
    response = client.post("/password/reset/confirm/", json={**body, "token": "1-deadbeef"})
    assert response.status_code == 400
    assert set(response.json()) == {"token"}
    other = accounts.make_one_off_token(services.jwt_secret, "verify-email", user)
    assert client.post("/password/reset/confirm/", json={**body, "token": other}).status_code == 400
    response = client.post("/password/reset/confirm/", json={**body, "new_password2": "other pass 1"})
    assert response.status_code == 400

    response = client.post("/password/reset/confirm/", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"detail": "Password has been reset with the new password."}
    assert login(client, username="alice", password="reset pass 1").status_code == 200
    # the token dies with the password it was issued for
    response = client.post(
        "/password/reset/confirm/", json={**body, "new_password1": "again 123", "new_password2": "again 123"}
    )
    assert response.status_code == 400


def test_social_login_routes_are_not_provided(client: TestClient) -> None:
    for path in ("/facebook/", "/google/", "/github/"):
        assert client.post(path, json={}).status_code == 404, path


def test_registered_user_logs_in_through_another_dialect(client: TestClient) -> None:
    """Scenario 12, first half: a Bender registration is an account of every dialect (Polyaxon's login)."""
    body = {"username": "newbie", "email": "newbie@example.org", "password": "s3cret pass"}
    assert client.post("/registration/", json=body).status_code == 201
    response = client.post("/api/v1/users/token", data={"username": "newbie", "password": "s3cret pass"})
    if response.status_code == 404:
        pytest.skip("the Polyaxon dialect's POST /api/v1/users/token does not exist yet")
    assert response.status_code == 200, response.text
    key = response.json()["token"]
    me = client.get("/api/v1/users", headers={"Authorization": f"Token {key}"})
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "newbie"
