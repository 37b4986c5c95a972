"""One account per person, usable from every dialect, and every credential kind the dialects need.

Credential kinds:
- password (argon2id hash), checked by login routes and HTTP Basic;
- JWT (HS256, install secret), Bender's `Authorization: JWT <token>`;
- API token (40 hex chars, stored as SHA-256), Polyaxon's `Authorization: Token <key>`; may carry a scope;
- access key (UUID4 text, stored as SHA-256), Bonsai's raw `Authorization: <key>` and Morpheo's Basic secret;
- signed session cookie (Tornado v2 signed-value layout), StreamingBandit's admin cookie;
- signed one-off tokens (password reset, e-mail verification) that need no table.

Secrets are generated per install and stored in the database (which lives in the data directory by
default), so several server processes on one PostgreSQL agree on them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, ForeignKey, Integer, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from crucible.core.db import Base, Database, JSONType, UTCDateTime, utcnow

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,149}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+$")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    first_name: Mapped[str] = mapped_column(String(150), default="")
    last_name: Mapped[str] = mapped_column(String(150), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccessKey(Base):
    __tablename__ = "access_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InstallSecret(Base):
    __tablename__ = "install_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccountError(ValueError):
    """A request about accounts that cannot be honoured; `field` says which input is at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class TokenExpired(Exception):
    pass


class TokenInvalid(Exception):
    pass


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- install secrets ---------------------------------------------------------------------------


def load_or_create_secret(db: Database, name: str) -> str:
    """Return the named install secret, creating it (64 hex chars) on first use, race-safely."""
    with db.read() as session:
        row = session.get(InstallSecret, name)
        if row is not None:
            return row.value
    try:
        with db.write() as session:
            session.add(InstallSecret(name=name, value=secrets.token_hex(32)))
    except IntegrityError:
        pass  # another process created it first
    with db.read() as session:
        row = session.get(InstallSecret, name)
        assert row is not None
        return row.value


# --- passwords ------------------------------------------------------------------------------------

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


class _VerifiedPasswords:
    """Remembers recently verified (password hash, password) pairs so HTTP Basic on every request
    (Morpheo) does not pay for argon2 each time. Keys are digests that need the password to compute,
    and a password change changes the hash, which invalidates the entry."""

    def __init__(self, size: int = 4096, ttl_seconds: float = 300.0) -> None:
        self._entries: OrderedDict[str, float] = OrderedDict()
        self._size = size
        self._ttl = ttl_seconds
        self._lock = threading.Lock()

    def _key(self, password_hash: str, password: str) -> str:
        return hashlib.sha256(f"{password_hash}\0{password}".encode()).hexdigest()

    def hit(self, password_hash: str, password: str) -> bool:
        key = self._key(password_hash, password)
        with self._lock:
            expires = self._entries.get(key)
            if expires is None or expires < time.monotonic():
                return False
            self._entries.move_to_end(key)
            return True

    def add(self, password_hash: str, password: str) -> None:
        key = self._key(password_hash, password)
        with self._lock:
            self._entries[key] = time.monotonic() + self._ttl
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


_verified = _VerifiedPasswords()


def verify_password(user: User, password: str) -> bool:
    if not user.password_hash or not password:
        return False
    if _verified.hit(user.password_hash, password):
        return True
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    _verified.add(user.password_hash, password)
    return True


def check_password_policy(password: str) -> str | None:
    """Return a message when the password is unacceptable, else None."""
    if len(password) < 8:
        return "This password is too short. It must contain at least 8 characters."
    if password.isdigit():
        return "This password is entirely numeric."
    return None


# --- users -----------------------------------------------------------------------------------------


def normalize_email(email: str | None) -> str | None:
    if email is None:
        return None
    email = email.strip()
    return email.lower() or None


def find_user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def find_user_by_login(session: Session, login: str) -> User | None:
    """A login is a username, or an e-mail address when no username matches."""
    user = find_user_by_username(session, login)
    if user is None and "@" in login:
        user = find_user_by_email(session, login)
    return user


def create_user(
    session: Session,
    username: str,
    password: str | None,
    email: str | None = None,
    *,
    is_superuser: bool = False,
    email_verified: bool = False,
) -> User:
    if not USERNAME_PATTERN.match(username or ""):
        raise AccountError(
            "username", "Enter a valid username: letters, digits and @/./+/-/_ characters, up to 150."
        )
    email = normalize_email(email)
    if email is not None and not EMAIL_PATTERN.match(email):
        raise AccountError("email", "Enter a valid email address.")
    if find_user_by_username(session, username) is not None:
        raise AccountError("username", "A user with that username already exists.")
    if email is not None and find_user_by_email(session, email) is not None:
        raise AccountError("email", "A user is already registered with this e-mail address.")
    user = User(
        username=username,
        email=email,
        password_hash=hash_password(password) if password else "",
        is_superuser=is_superuser,
        email_verified=email_verified,
    )
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)


def authenticate_password(session: Session, login: str, password: str) -> User | None:
    """The user whose username or e-mail is `login` and whose password matches (active or not:
    callers report disabled accounts in their own words)."""
    user = find_user_by_login(session, login)
    if user is None or not verify_password(user, password):
        return None
    return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


# --- API tokens and access keys -----------------------------------------------------------------------


def issue_api_token(
    session: Session,
    user: User,
    *,
    scope: dict[str, Any] | None = None,
    lifetime: timedelta | None = None,
) -> str:
    """Create a token and return its plain text, which is never stored."""
    plain = secrets.token_hex(20)
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=sha256_hex(plain),
            scope=scope,
            expires_at=utcnow() + lifetime if lifetime else None,
        )
    )
    session.flush()
    return plain


def find_api_token(session: Session, plain: str) -> ApiToken | None:
    """The live token with this plain text: not revoked, not expired."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == sha256_hex(plain)))
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= utcnow():
        return None
    return token


def revoke_api_token(session: Session, token: ApiToken, at: datetime | None = None) -> None:
    token.revoked_at = at or utcnow()


def create_access_key(session: Session, user: User, name: str = "") -> str:
    """Create an access key (lowercase UUID4 text, as Bonsai issued) and return it; only its hash is kept."""
    plain = str(uuid.uuid4())
    session.add(AccessKey(user_id=user.id, key_hash=sha256_hex(plain), prefix=plain[:8], name=name))
    session.flush()
    return plain


def find_access_key(session: Session, plain: str) -> AccessKey | None:
    key = session.scalar(select(AccessKey).where(AccessKey.key_hash == sha256_hex(plain)))
    if key is None or key.revoked_at is not None:
        return None
    return key


def authenticate_secret(session: Session, login: str, secret: str) -> User | None:
    """HTTP Basic: the secret is the account's password or one of its access keys."""
    user = find_user_by_login(session, login)
    if user is None:
        return None
    key = find_access_key(session, secret)
    if key is not None and key.user_id == user.id:
        return user
    if verify_password(user, secret):
        return user
    return None


def parse_basic_authorization(value: str) -> tuple[str, str] | None:
    """Decode `Basic base64(login:secret)`; None when the header is not a well-formed Basic header."""
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    login, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return login, secret


# --- JWT -------------------------------------------------------------------------------------------------


def issue_jwt(secret: str, user: User, lifetime_days: int) -> str:
    """Claims are exactly user_id, username, email, exp: the Bender client rejects aud/nbf and
    re-prompts when exp is within 7 days."""
    exp = int(time.time()) + lifetime_days * 86400
    payload = {"user_id": user.id, "username": user.username, "email": user.email or "", "exp": exp}
    return jwt.encode(payload, secret, algorithm="HS256")


def decode_jwt(secret: str, token: str) -> dict[str, Any]:
    try:
        return jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp"]})
    except jwt.ExpiredSignatureError as error:
        raise TokenExpired() from error
    except jwt.PyJWTError as error:
        raise TokenInvalid() from error


# --- signed cookie values (Tornado signed-value v2 layout) -----------------------------------------------


def _field(text: str) -> str:
    return f"{len(text.encode())}:{text}"


def sign_cookie_value(secret: str, name: str, value: str, timestamp: int | None = None) -> str:
    """`2|1:0|<len>:<ts>|<len>:<name>|<len>:<base64 value>|<hex HMAC-SHA256>`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    encoded = base64.b64encode(value.encode()).decode()
    to_sign = "|".join(["2", _field("0"), _field(stamp), _field(name), _field(encoded), ""])
    signature = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return to_sign + signature


def read_cookie_value(secret: str, name: str, signed: str, max_age_days: float = 31) -> str | None:
    """The value inside a signed cookie, or None if it is malformed, forged, renamed or too old."""
    signed = signed.strip().strip('"')
    to_sign, sep, signature = signed.rpartition("|")
    if not sep:
        return None
    expected = hmac.new(secret.encode(), (to_sign + "|").encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return None
    parts = to_sign.split("|")
    if len(parts) != 5 or parts[0] != "2":
        return None
    fields = []
    for part in parts[1:]:
        length, _, text = part.partition(":")
        if not length.isdigit() or int(length) != len(text.encode()):
            return None
        fields.append(text)
    _key_version, stamp, cookie_name, encoded = fields
    if cookie_name != name or not stamp.isdigit():
        return None
    if int(stamp) < time.time() - max_age_days * 86400:
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None


# --- signed one-off tokens (password reset, e-mail verification) -------------------------------------------


@dataclass(frozen=True)
class OneOffToken:
    user_id: int
    token: str


def make_one_off_token(secret: str, purpose: str, user: User, timestamp: int | None = None) -> str:
    """A token bound to the user's current password hash and e-mail, so it dies once they change."""
    stamp = int(time.time()) if timestamp is None else timestamp
    message = f"{purpose}|{user.id}|{stamp}|{user.password_hash}|{user.email}"
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{stamp:x}-{digest}"


def check_one_off_token(secret: str, purpose: str, user: User, token: str, max_age_seconds: int) -> bool:
    stamp_hex, _, _digest = token.partition("-")
    try:
        stamp = int(stamp_hex, 16)
    except ValueError:
        return False
    if stamp < time.time() - max_age_seconds:
        return False
    return hmac.compare_digest(make_one_off_token(secret, purpose, user, stamp), token)


def user_summary(user: User) -> dict[str, Any]:
    """The account as the shared login and Bender's /user/ show it."""
    return {
        "pk": user.id,
        "username": user.username,
        "email": user.email or "",
        "first_name": user.first_name,
        "last_name": user.last_name,
    }
