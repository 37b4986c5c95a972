"""Bad input never yields a 500 on Morpheo's routes: schema-driven fuzzing of every documented
operation (schemathesis over /openapi.json), and property-based bodies, paths and queries aimed at
real documents, including the storage's multipart parser."""

from __future__ import annotations

import shutil
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
from crucible.settings import Settings

MORPHEO_PATHS = (
    r"^/(problem|algo|data|learnuplet|preduplet|prediction|worker|learndone|preddone|leaderboard|storage)"
)
AUTH = ("fuzzer", "fuzz-password-1")


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, sqlite_template):  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("morpheo-fuzz")
    shutil.copy(sqlite_template, directory / "crucible.db")
    settings_ = Settings(data_dir=directory, database_url=f"sqlite:///{directory / 'crucible.db'}")
    services = build_services(settings_)
    with services.db.write() as session:
        accounts.create_user(session, AUTH[0], AUTH[1], "fuzzer@example.org")
    yield create_app(settings_, services)
    services.db.dispose()


@pytest.fixture(scope="module")
def fuzz_client(fuzz_app):  # type: ignore[no-untyped-def]
    with TestClient(fuzz_app) as client:
        client.auth = AUTH
        body = {"uuid": "P", "workflow": "W", "test_dataset": ["T"], "size_train_dataset": 2}
        assert client.post("/problem", json=body).status_code == 201
        assert client.post("/data", json={"uuid": ["a", "b", "c", "T"], "problems": "P"}).status_code == 201
        assert client.post("/algo", json={"uuid": "A", "problem": "P", "name": "n"}).status_code == 201
        yield client


def test_no_server_errors_from_schema_driven_input(fuzz_app) -> None:  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app).include(path_regex=MORPHEO_PATHS)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    headers = {"Authorization": "Basic ZnV6emVyOmZ1enotcGFzc3dvcmQtMQ=="}  # fuzzer:fuzz-password-1

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"

        call()


JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["P", "A", "T", "a", "done", "failed", "todo", "w1"])
)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "uuid",
        "workflow",
        "test_dataset",
        "size_train_dataset",
        "lower_is_better",
        "problem",
        "problems",
        "name",
        "data",
        "worker",
        "status",
        "perf",
        "train_perf",
        "test_perf",
        "error",
        "prediction_storage_uuid",
    ]
)
BODIES = st.dictionaries(KEYS, JSON, max_size=6) | JSON
PATHS = st.sampled_from(
    [
        "/problem",
        "/algo",
        "/data",
        "/prediction",
        "/worker/learnuplet/{u}",
        "/worker/preduplet/{u}",
        "/learndone/{u}",
        "/preddone/{u}",
        "/worker/{t}/{u}",
    ]
)


@given(
    path=PATHS,
    body=BODIES,
    uuid=st.text(min_size=1, max_size=20) | st.just("LEARN"),
    other=st.text(max_size=10),
)
@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_for_arbitrary_bodies(
    fuzz_client: TestClient, path: str, body: Any, uuid: str, other: str
) -> None:
    if uuid == "LEARN":
        uuid = fuzz_client.get("/learnuplet?rank=0").json()["learnuplets"][0]["uuid"]
    target = path.replace("{u}", quote(uuid, safe="")).replace("{t}", quote(other, safe="") or "x")
    response = fuzz_client.post(target, json=body)
    assert response.status_code < 500, (target, body, response.text)


@given(raw=st.binary(max_size=200))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_for_raw_bytes(fuzz_client: TestClient, raw: bytes) -> None:
    for path in ("/problem", "/data", "/learndone/x"):
        assert fuzz_client.post(path, content=raw).status_code == 400
    for kind in ("data", "model?algo=5f6b6f0c-9a5e-4c5e-8e53-6d8a4d0f2f11"):
        response = fuzz_client.post(
            f"/storage/{kind}", content=raw, headers={"Content-Type": "multipart/form-data; boundary=x"}
        )
        assert response.status_code < 500, response.text


@given(
    collection=st.sampled_from(["problem", "algo", "data", "learnuplet", "preduplet"]),
    query=st.lists(
        st.tuples(
            st.text(max_size=12) | KEYS | st.sampled_from(["rank", "perf", "attempts"]), st.text(max_size=12)
        ),
        max_size=3,
    ),
)
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_for_arbitrary_filters(
    fuzz_client: TestClient, collection: str, query: list[tuple[str, str]]
) -> None:
    response = fuzz_client.get(f"/{collection}", params=query)
    assert response.status_code in (200, 400), response.text


PARTS = st.lists(
    st.tuples(
        st.sampled_from(["uuid", "size", "blob", "name", "description", "other"]), st.binary(max_size=20)
    ),
    max_size=5,
)


@given(kind=st.sampled_from(["problem", "algo", "data", "prediction"]), parts=PARTS)
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_for_arbitrary_multipart(
    fuzz_client: TestClient, kind: str, parts: list[tuple[str, bytes]]
) -> None:
    body = b""
    for name, value in parts:
        body += f'--B\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
    body += b"--B--\r\n"
    response = fuzz_client.post(
        f"/storage/{kind}", content=body, headers={"Content-Type": "multipart/form-data; boundary=B"}
    )
    assert response.status_code in (201, 400, 409, 413), response.text
