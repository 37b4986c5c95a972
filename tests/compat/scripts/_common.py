"""Shared by the scenario scripts, which run under the bender-client virtualenv (not the project's).

Everything comes from the environment: BENDER_URL, and per user <PREFIX>_HOME, _USERNAME, _EMAIL,
_PASSWORD and _TOKEN. A script prints `RESULT <json>` last, for the test to read.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import requests
from benderclient import Bender
from benderclient.benderclient import BenderError

URL = os.environ["BENDER_URL"]


class User:
    def __init__(self, prefix: str) -> None:
        self.home = os.environ[f"{prefix}_HOME"]
        self.username = os.environ[f"{prefix}_USERNAME"]
        self.email = os.environ[f"{prefix}_EMAIL"]
        self.password = os.environ[f"{prefix}_PASSWORD"]
        self.token = os.environ[f"{prefix}_TOKEN"]

    def client(self, **kwargs: Any) -> Bender:
        """A client for this user: the client reads ~/.bender_token at construction, HOME at call time."""
        os.environ["HOME"] = self.home
        return Bender(host=URL, **kwargs)

    # raw HTTP, for what the client cannot do
    def raw(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"JWT {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, URL + path, headers=headers, timeout=60, **kwargs)


def expect_error(call: Callable[..., Any], *args: Any, contains: str | None = None, **kwargs: Any) -> str:
    """Run a client call that must raise BenderError; return its text. The text embeds the body as a
    bytes repr, so backslashes are ignored when looking for `contains`."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            call(*args, **kwargs)
    except BenderError as error:
        text = str(error.error)
        if contains is not None:
            assert contains in text.replace("\\", ""), (contains, text)
        return text
    raise AssertionError(f"{getattr(call, '__name__', call)}{args} did not raise BenderError")


@contextlib.contextmanager
def captured() -> Iterator[io.StringIO]:
    """What the client prints (it reports reuse and warnings with print)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield buffer


def seed_suggestions(bender: Bender, start: int) -> None:
    """Add the server's `seed` extension to every suggest request, so learning assertions are
    reproducible. The client has no such argument; its own code path is otherwise unchanged."""
    counter = itertools.count(start)
    post = bender.session.post

    def seeded(url: str, **kwargs: Any) -> requests.Response:
        if url.endswith("/suggest/") and isinstance(kwargs.get("json"), dict):
            kwargs["json"] = {**kwargs["json"], "seed": next(counter)}
        return post(url, **kwargs)

    bender.session.post = seeded


def report(result: Any) -> None:
    print("RESULT " + json.dumps(result))
