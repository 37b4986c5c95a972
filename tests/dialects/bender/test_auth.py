"""Authentication and tokens (spec §2.2, scenario 10, raw parts)."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest
from starlette.testclient import TestClient

from crucible.core.services import Services
from tests.dialects.bender.conftest import BenderUser, basic, jwt_claims, mint_token

DAY = 86400
NO_CREDENTIALS = {"detail": "Authentication credentials were not provided."}


def detail(text: str) -> dict[str, str]:
    return {"detail": text}


def test_login_by_email_and_by_username_give_tokens_with_exactly_the_documented_claims(
    client: TestClient, make_user: Callable[..., object]
) -> None:
    account = make_user("alice")
    for body in (
        {"email": "alice@example.org", "password": "correct horse 1"},
        {"username": "alice", "password": "correct horse 1"},
    ):
        response = client.post("/login/", json=body)
        assert response.status_code == 200, response.text
        data = response.json()
        assert set(data) == {"token", "user"}
        assert data["user"] == {
            "pk": account.id,  # type: ignore[attr-defined]
            "username": "alice",
            "email": "alice@example.org",
            "first_name": "",
            "last_name": "",
        }
        header = jwt.get_unverified_header(data["token"])
        assert header["alg"] == "HS256"
        claims = jwt_claims(data["token"])
        assert set(claims) == {"user_id", "username", "email", "exp"}
        assert claims["user_id"] == account.id  # type: ignore[attr-defined]
        assert claims["username"] == "alice"
        assert claims["email"] == "alice@example.org"
        assert isinstance(claims["exp"], int)
        assert abs(claims["exp"] - time.time() - 125 * DAY) < 3600


def test_token_is_signed_with_the_install_secret(
    client: TestClient, alice: BenderUser, services: Services
) -> None:
    claims = jwt.decode(alice.token, services.jwt_secret, algorithms=["HS256"])
    assert claims["user_id"] == alice.account.id


def test_jwt_and_bearer_prefixes_are_accepted_case_insensitively(
    client: TestClient, alice: BenderUser
) -> None:
    for prefix in ("JWT", "jwt", "Bearer", "bearer", "BEARER"):
        response = client.get("/user/", headers={"Authorization": f"{prefix} {alice.token}"})
        assert response.status_code == 200, (prefix, response.text)
        assert response.json()["username"] == "alice"


def test_missing_or_foreign_authorization_is_anonymous(client: TestClient, alice: BenderUser) -> None:
    for headers in ({}, {"Authorization": f"Token {alice.token}"}, {"Authorization": ""}):
        response = client.get("/api/experiments/?owner=alice", headers=headers)
        assert response.status_code == 403
        assert response.json() == NO_CREDENTIALS
    assert client.get("/user/").json() == NO_CREDENTIALS


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("JWT", "Invalid Authorization header. No credentials provided."),
        ("Bearer", "Invalid Authorization header. No credentials provided."),
        ("JWT a b", "Invalid Authorization header. Credentials string should not contain spaces."),
        ("JWT not-a-token", "Error decoding signature."),
    ],
)
def test_malformed_jwt_headers(client: TestClient, header: str, message: str) -> None:
    response = client.get("/user/", headers={"Authorization": header})
    assert response.status_code == 403
    assert response.json() == detail(message)


def test_expired_token_minted_with_the_install_secret(
    client: TestClient, services: Services, alice: BenderUser
) -> None:
    token = mint_token(services.jwt_secret, alice.account.id, expires_in=-60)
    response = client.get("/user/", headers={"Authorization": f"JWT {token}"})
    assert response.status_code == 403
    assert response.json() == detail("Signature has expired.")


def test_wrong_signature_and_wrong_algorithm(
    client: TestClient, services: Services, alice: BenderUser
) -> None:
    forged = mint_token("not the install secret", alice.account.id, expires_in=DAY)
    tampered = alice.token[:-2] + ("AA" if not alice.token.endswith("AA") else "BB")
    hs512 = jwt.encode(
        {"user_id": alice.account.id, "exp": int(time.time()) + DAY}, services.jwt_secret, algorithm="HS512"
    )
    unsigned = jwt.encode(
        {"user_id": alice.account.id, "exp": int(time.time()) + DAY}, None, algorithm="none"
    )
    for token in (forged, tampered, hs512, unsigned):
        response = client.get("/user/", headers={"Authorization": f"JWT {token}"})
        assert response.status_code == 403, token
        assert response.json() == detail("Error decoding signature."), token


def test_token_without_exp_is_refused(client: TestClient, services: Services, alice: BenderUser) -> None:
    token = jwt.encode({"user_id": alice.account.id}, services.jwt_secret, algorithm="HS256")
    response = client.get("/user/", headers={"Authorization": f"JWT {token}"})
    assert response.status_code == 403
    assert response.json() == detail("Error decoding signature.")


def test_user_is_found_by_user_id_not_username(
    client: TestClient, services: Services, alice: BenderUser
) -> None:
    token = mint_token(services.jwt_secret, alice.account.id, expires_in=DAY, username="somebody-else")
    assert client.get("/user/", headers={"Authorization": f"JWT {token}"}).json()["username"] == "alice"
    # a token survives a username change
    assert alice.patch("/user/", {"username": "alice2"}).status_code == 200
    assert alice.get("/user/").json()["username"] == "alice2"


def test_unknown_user_id_and_disabled_account(
    client: TestClient,
    services: Services,
    bender_user: Callable[..., BenderUser],
    make_user: Callable[..., object],
) -> None:
    token = mint_token(services.jwt_secret, 424242, expires_in=DAY)
    response = client.get("/user/", headers={"Authorization": f"JWT {token}"})
    assert (response.status_code, response.json()) == (403, detail("Invalid signature."))
    carol = bender_user("carol")
    from crucible.core.accounts import User

    with services.db.write() as session:
        user = session.get(User, carol.account.id)
        assert user is not None
        user.is_active = False
    response = carol.get("/user/")
    assert (response.status_code, response.json()) == (403, detail("User account is disabled."))


def test_basic_authentication(client: TestClient, alice: BenderUser) -> None:
    for login in ("alice", "alice@example.org"):
        response = client.get("/user/", headers=basic(login, "correct horse 1"))
        assert response.status_code == 200, response.text
        assert response.json()["username"] == "alice"
    response = client.get("/user/", headers=basic("alice", "wrong password"))
    assert (response.status_code, response.json()) == (403, detail("Invalid username/password."))
    response = client.get("/user/", headers=basic("nobody", "correct horse 1"))
    assert (response.status_code, response.json()) == (403, detail("Invalid username/password."))


def test_authenticated_but_not_allowed_message(alice: BenderUser, bob: BenderUser) -> None:
    experiment = alice.experiment()
    response = bob.get(f"/api/experiments/{experiment['id']}/")
    assert response.status_code == 403
    assert response.json() == detail("You do not have permission to perform this action.")


class TestShortLifetimeIsClamped:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"bender_token_lifetime_days": 3}

    def test_tokens_last_eight_days(self, client: TestClient, alice: BenderUser) -> None:
        exp = jwt_claims(alice.token)["exp"]
        assert abs(exp - time.time() - 8 * DAY) < 3600


class TestLongerLifetime:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"bender_token_lifetime_days": 30}

    def test_tokens_follow_the_setting(self, client: TestClient, alice: BenderUser) -> None:
        exp = jwt_claims(alice.token)["exp"]
        assert abs(exp - time.time() - 30 * DAY) < 3600


def test_logout(client: TestClient, alice: BenderUser) -> None:
    response = alice.post("/logout/")
    assert response.status_code == 200
    assert response.json() == {"detail": "Successfully logged out."}
    response = client.get("/logout/")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "GET" not allowed.'}
    # JWTs are stateless: the token stays valid until exp
    assert alice.get("/user/").status_code == 200
