"""Scenario 10 (client side) and 12 (one account): when the token file is unusable the client prompts
(stdin holds the answers, in order), logs in with POST /login/ and rewrites ~/.bender_token.

Users: ALICE has a token expiring in 3 days; BOB has a token with a wrong signature; CAROL registered
through POST /registration/ and has no token file at all.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time

from _common import User, captured, report

PROMPT = "Please enter your email"


def token_in(home: str) -> str:
    with open(os.path.join(home, ".bender_token")) as handle:
        return str(json.load(handle))


def claims(token: str) -> dict[str, object]:
    from jose import jwt

    return dict(jwt.get_unverified_claims(token))


def construct(user: User) -> tuple[object, bool]:
    """A client for the user, and whether it prompted."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        bender = user.client()
    sys.stdout.write(out.getvalue())
    return bender, PROMPT in out.getvalue()


result = {}
for prefix in ("ALICE", "BOB", "CAROL"):
    user = User(prefix)
    path = os.path.join(user.home, ".bender_token")
    before = token_in(user.home) if os.path.exists(path) else None
    bender, prompted = construct(user)
    assert prompted, prefix
    after = token_in(user.home)
    assert after != before, prefix
    payload = claims(after)
    assert set(payload) == {"user_id", "username", "email", "exp"}, payload
    assert payload["username"] == user.username
    assert payload["exp"] - time.time() > 100 * 86400, payload  # type: ignore[operator]
    with captured():
        bender.create_experiment(name=f"{prefix} works", metrics=[{"metric_name": "loss", "type": "loss"}])  # type: ignore[attr-defined]
    assert [e["name"] for e in bender.list_experiments()] == [f"{prefix} works"]  # type: ignore[attr-defined]
    # the rewritten token is used as it is next time: no prompt
    again, prompted_again = construct(user)
    assert not prompted_again, prefix
    assert again.username == user.username  # type: ignore[attr-defined]
    result[prefix] = "prompted, then reused"
report(result)
