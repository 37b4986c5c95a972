"""The shared account store: every credential kind the dialects rely on."""

from __future__ import annotations

import base64
import time
from datetime import timedelta

import jwt
import pytest

from crucible.core import accounts
from crucible.core.db import utcnow
from crucible.core.services import Services


def test_passwords_are_hashed_with_argon2_and_verified(services: Services) -> None:
    with services.db.write() as session:
        user = accounts.create_user(session, "carol", "s3cret-pass", "Carol@Example.org")
    assert user.password_hash.startswith("$argon2id$")
    assert user.email == "carol@example.org"
    with services.db.read() as session:
        assert accounts.authenticate_password(session, "carol", "s3cret-pass") is not None
        assert accounts.authenticate_password(session, "carol@example.org", "s3cret-pass") is not None
        assert accounts.authenticate_password(session, "carol", "wrong") is None
        assert accounts.authenticate_password(session, "nobody", "s3cret-pass") is None


def test_duplicate_username_and_email_are_refused(services: Services) -> None:
    with services.db.write() as session:
        accounts.create_user(session, "dave", "pw-12345678", "dave@example.org")
    with services.db.write() as session, pytest.raises(accounts.AccountError) as username_error:
        accounts.create_user(session, "dave", "pw-12345678", "other@example.org")
    assert username_error.value.field == "username"
    with services.db.write() as session, pytest.raises(accounts.AccountError) as email_error:
        accounts.create_user(session, "dave2", "pw-12345678", "DAVE@example.org")
    assert email_error.value.field == "email"


def test_password_change_invalidates_the_verification_cache(services: Services) -> None:
    with services.db.write() as session:
        user = accounts.create_user(session, "erin", "first-password", None)
        assert accounts.verify_password(user, "first-password")
        accounts.set_password(user, "second-password")
        assert not accounts.verify_password(user, "first-password")
        assert accounts.verify_password(user, "second-password")


def test_api_tokens_are_stored_hashed_expire_and_revoke(services: Services) -> None:
    with services.db.write() as session:
        user = accounts.create_user(session, "frank", "pw-12345678", None)
        plain = accounts.issue_api_token(session, user, scope={"project": 1})
        short = accounts.issue_api_token(session, user, lifetime=timedelta(seconds=-1))
    assert len(plain) == 40
    with services.db.write() as session:
        token = accounts.find_api_token(session, plain)
        assert token is not None and token.user_id == user.id and token.scope == {"project": 1}
        assert token.token_hash != plain
        assert accounts.find_api_token(session, short) is None  # expired
        accounts.revoke_api_token(session, token)
    with services.db.read() as session:
        assert accounts.find_api_token(session, plain) is None


def test_access_keys_are_uuid4_text_and_work_as_basic_secret(services: Services) -> None:
    with services.db.write() as session:
        user = accounts.create_user(session, "grace", "pw-12345678", None)
        other = accounts.create_user(session, "heidi", "pw-12345678", None)
        key = accounts.create_access_key(session, user)
        other_key = accounts.create_access_key(session, other)
    assert len(key) == 36 and key == key.lower() and key[14] == "4"
    with services.db.read() as session:
        assert accounts.find_access_key(session, key).user_id == user.id  # type: ignore[union-attr]
        assert accounts.authenticate_secret(session, "grace", key) is not None
        assert accounts.authenticate_secret(session, "grace", "pw-12345678") is not None
        assert accounts.authenticate_secret(session, "grace", other_key) is None  # someone else's key
        assert accounts.authenticate_secret(session, "grace", "nope") is None


def test_basic_header_parsing() -> None:
    header = "Basic " + base64.b64encode(b"ivan:pa:ss").decode()
    assert accounts.parse_basic_authorization(header) == ("ivan", "pa:ss")
    assert accounts.parse_basic_authorization("Basic !!!") is None
    assert accounts.parse_basic_authorization("Bearer abc") is None
    assert accounts.parse_basic_authorization("Basic " + base64.b64encode(b"nocolon").decode()) is None


def test_jwt_claims_are_exactly_the_bender_ones(services: Services) -> None:
    with services.db.write() as session:
        user = accounts.create_user(session, "judy", "pw-12345678", "judy@example.org")
    token = accounts.issue_jwt(services.jwt_secret, user, 125)
    claims = accounts.decode_jwt(services.jwt_secret, token)
    assert set(claims) == {"user_id", "username", "email", "exp"}
    assert abs(claims["exp"] - time.time() - 125 * 86400) < 60
    with pytest.raises(accounts.TokenInvalid):
        accounts.decode_jwt("another-secret", token)
    expired = jwt.encode(
        {"user_id": user.id, "exp": int(time.time()) - 10}, services.jwt_secret, algorithm="HS256"
    )
    with pytest.raises(accounts.TokenExpired):
        accounts.decode_jwt(services.jwt_secret, expired)
    none_alg = jwt.encode({"user_id": user.id, "exp": int(time.time()) + 99}, "", algorithm="none")
    with pytest.raises(accounts.TokenInvalid):
        accounts.decode_jwt(services.jwt_secret, none_alg)


def test_signed_cookie_round_trip_and_tamper_detection() -> None:
    secret = "a" * 64
    signed = accounts.sign_cookie_value(secret, "user", "7", timestamp=1_700_000_000)
    assert signed.startswith("2|1:0|10:1700000000|4:user|4:Nw==|")
    assert len(signed.rsplit("|", 1)[1]) == 64
    assert accounts.read_cookie_value(secret, "user", signed, max_age_days=10**6) == "7"
    assert accounts.read_cookie_value(secret, "user", f'"{signed}"', max_age_days=10**6) == "7"
    assert accounts.read_cookie_value(secret, "user", signed) is None  # older than 31 days
    assert accounts.read_cookie_value("b" * 64, "user", signed, max_age_days=10**6) is None
    assert accounts.read_cookie_value(secret, "other", signed, max_age_days=10**6) is None
    tampered = signed.replace("4:Nw==", "4:OA==")
    assert accounts.read_cookie_value(secret, "user", tampered, max_age_days=10**6) is None
    assert accounts.read_cookie_value(secret, "user", "garbage") is None


def test_one_off_tokens_die_when_the_password_changes(services: Services) -> None:
    with services.db.write() as session:
        user = accounts.create_user(session, "kim", "pw-12345678", "kim@example.org")
        token = accounts.make_one_off_token(services.jwt_secret, "reset", user)
        assert accounts.check_one_off_token(services.jwt_secret, "reset", user, token, 3600)
        assert not accounts.check_one_off_token(services.jwt_secret, "verify", user, token, 3600)
        accounts.set_password(user, "another-password")
        assert not accounts.check_one_off_token(services.jwt_secret, "reset", user, token, 3600)


def test_install_secrets_are_generated_once_and_shared(services: Services) -> None:
    again = accounts.load_or_create_secret(services.db, "jwt")
    assert again == services.jwt_secret
    assert len(services.jwt_secret) == 64
    assert services.cookie_secret != services.jwt_secret


def test_created_at_is_timezone_aware(services: Services) -> None:
    with services.db.write() as session:
        user = accounts.create_user(session, "leo", "pw-12345678", None)
    with services.db.read() as session:
        stored = session.get(accounts.User, user.id)
        assert stored is not None and stored.created_at.tzinfo is not None
        assert abs((utcnow() - stored.created_at).total_seconds()) < 60
