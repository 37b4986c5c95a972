"""Bad input never yields a 500 on StreamingBandit's routes, every answer is JSON, and every error has
the dialect's shape: schema-driven fuzzing of its operations (schemathesis over /openapi.json) and
property-based requests aimed at real experiments, with and without credentials."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from crucible.app import create_app
from crucible.core import accounts
from crucible.core.services import build_services
from crucible.dialects.streamingbandit.paths import is_streamingbandit_path
from crucible.settings import Settings

SB_PATHS = r"^/(getaction|setreward|stats|eval|exp|user$)"
CODE = {"get_action": "self.action = {'a': 1}\n", "set_reward": "self.set_theta({'n': '1'}, key='k')\n"}
JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
TEXT = st.text(max_size=12) | st.sampled_from(["", "0", "-1", "1e9", "True", "{}", "[", "null", "%00", "é"])
QUERY_NAMES = (
    "key",
    "context",
    "action",
    "reward",
    "advice_id",
    "limit",
    "N",
    "seed",
    "verbose",
    "log_stats",
    "theta_key",
    "theta_value",
)
FIELD_NAMES = (
    "name",
    "get_context",
    "get_action",
    "get_reward",
    "set_reward",
    "getaction",
    "hourly_theta",
    "advice_id",
    "delta_hours",
    "default_reward",
    "key",
    "username",
    "password",
)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, sqlite_template) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("sb-fuzz")
    shutil.copy(sqlite_template, directory / "crucible.db")
    settings = Settings(
        data_dir=directory,
        database_url=f"sqlite:///{directory / 'crucible.db'}",
        sb_sandbox_wall_seconds=3,
        sb_sandbox_cpu_seconds=2,
        sb_sandbox_memory_mb=256,
        sb_simulate_seconds=5,
        sb_simulate_max_n=50,
    )
    services = build_services(settings)
    with services.db.write() as session:
        accounts.create_user(session, "fuzzer", "fuzz-password-1", "fuzzer@example.org", is_superuser=True)
    with TestClient(create_app(settings, services)) as client:
        assert (
            client.post("/login", json={"username": "fuzzer", "password": "fuzz-password-1"}).status_code
            == 200
        )
        created = client.post("/exp", json={"name": "fuzz", **CODE})
        assert created.status_code == 200, created.text
        yield {"client": client, "exp": created.json()}
    services.db.dispose()


def check(response: Any, method: str, path: str) -> None:
    """No 5xx anywhere; on this dialect's paths, JSON answers and errors in its shape."""
    assert response.status_code < 500, response.text
    if (
        response.status_code == 204
        or not is_streamingbandit_path(path)
        or (path == "/user" and method != "POST")
    ):
        return  # e.g. `/api/...` or GET /user: another dialect answers in its own format
    content_type = response.headers.get("content-type")
    assert (content_type[0] if isinstance(content_type, list) else content_type) == "application/json"
    if response.status_code >= 400:
        body = json.loads(response.text)
        assert set(body) == {"error"} and body["error"]["code"] == response.status_code, (method, path, body)
        assert isinstance(body["error"]["message"], str)


def test_no_server_errors_from_schema_driven_input(fuzz_server: dict[str, Any]) -> None:
    client: TestClient = fuzz_server["client"]
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app).include(path_regex=SB_PATHS)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    cookie = f'user="{client.cookies["user"].strip(chr(34))}"'
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            check(case.call(headers={"Cookie": cookie}), case.method, case.formatted_path)

        call()


@given(
    method=st.sampled_from(["GET", "GET", "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    template=st.sampled_from(
        [
            "/getaction/{id}",
            "/setreward/{id}",
            "/stats/{id}/currenttheta",
            "/stats/{id}/log",
            "/stats/{id}/summary",
            "/stats/{id}/{word}",
            "/eval/{id}/simulate",
            "/exp",
            "/exp/{id}",
            "/exp/{id}/resetexperiment",
            "/exp/defaults/{word}",
            "/user",
            "/{word}/{id}",
        ]
    ),
    which=st.sampled_from(["own", "own", "unknown", "weird"]),
    word=TEXT,
    query=st.dictionaries(st.sampled_from(QUERY_NAMES), TEXT | JSON.map(json.dumps), max_size=5),
    use_key=st.booleans(),
    body=st.none()
    | st.dictionaries(st.sampled_from(FIELD_NAMES), JSON, max_size=6)
    | JSON
    | st.binary(max_size=20),
    cookie=st.booleans(),
)
@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_for_arbitrary_requests(
    fuzz_server: dict[str, Any],
    method: str,
    template: str,
    which: str,
    word: str,
    query: dict[str, str],
    use_key: bool,
    body: Any,
    cookie: bool,
) -> None:
    client: TestClient = fuzz_server["client"]
    exp = fuzz_server["exp"]
    exp_id = {"own": exp["id"], "unknown": "0123456789", "weird": quote(word, safe="") or "x"}[which]
    path = template.format(id=exp_id, word=quote(word, safe=""))
    if use_key:
        query["key"] = exp["key"]
    kwargs: dict[str, Any] = {"params": query}
    if isinstance(body, bytes):
        kwargs["content"] = body
    elif body is not None:
        kwargs["content"] = json.dumps(body).encode()
    saved = client.cookies.get("user")
    if not cookie:
        client.cookies.delete("user")
    try:
        check(client.request(method, path, **kwargs), method, path)
    finally:
        if saved is not None and not cookie:
            client.cookies.set("user", saved)
    if template == "/exp/{id}" and method == "DELETE" and which == "own":  # keep one live experiment
        created = client.post("/exp", json={"name": "fuzz", **CODE})
        fuzz_server["exp"] = created.json()
