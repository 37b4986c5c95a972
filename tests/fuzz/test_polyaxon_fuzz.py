"""Bad input never yields a 500 on Polyaxon's routes: schema-driven fuzzing of every /api/v1 operation
(schemathesis over /openapi.json), and property-based bodies aimed at real resources (content, matrices,
metrics, statuses, queries, uploads)."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from crucible.app import create_app
from crucible.core import accounts
from crucible.core.services import build_services
from crucible.settings import Settings

POLYAXON_PATHS = r"^/api/v1/"


@pytest.fixture(scope="module")
def plx_fuzz_app(tmp_path_factory: pytest.TempPathFactory, sqlite_template):  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("plx-fuzz")
    shutil.copy(sqlite_template, directory / "crucible.db")
    config = Settings(
        data_dir=directory,
        database_url=f"sqlite:///{directory / 'crucible.db'}",
        executor_local_enabled=False,
    )
    services = build_services(config)
    with services.db.write() as session:
        user = accounts.create_user(session, "fuzzer", "fuzz-password-1", "fuzzer@example.org")
        token = accounts.issue_api_token(session, user)
    app = create_app(config, services)
    yield app, token
    services.db.dispose()


@pytest.fixture(scope="module")
def plx_client(plx_fuzz_app):  # type: ignore[no-untyped-def]
    app, token = plx_fuzz_app
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Token {token}"
        assert client.post("/api/v1/projects/", json={"name": "proj"}).status_code == 201
        experiment = client.post("/api/v1/fuzzer/proj/experiments/", json={"is_managed": False}).json()
        yield client, experiment["id"]


def test_no_server_errors_from_schema_driven_input(plx_fuzz_app, plx_client) -> None:  # type: ignore[no-untyped-def]
    app, token = plx_fuzz_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex=POLYAXON_PATHS)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            for key in ("u", "p", "eid"):  # aim a share of the cases at real objects
                if (
                    case.path_parameters
                    and key in case.path_parameters
                    and hash(str(case.path_parameters)) % 2
                ):
                    case.path_parameters[key] = {"u": "fuzzer", "p": "proj", "eid": "1"}[key]
            response = case.call(headers={"Authorization": f"Token {token}"})
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"

        call()


JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
OPTION = st.sampled_from(
    ["values", "pvalues", "range", "linspace", "logspace", "geomspace", "uniform", "quniform", "loguniform",
     "qloguniform", "normal", "qnormal", "lognormal", "qlognormal", "bogus"]
)  # fmt: skip
OPTION_VALUE = (
    JSON | st.text(alphabet="0123456789.:-e", max_size=12) | st.lists(st.integers(-5, 20), max_size=4)
)
MATRIX = st.dictionaries(
    st.sampled_from(["lr", "x", "opt"]),
    st.dictionaries(OPTION, OPTION_VALUE, min_size=1, max_size=2),
    max_size=3,
)
ALGORITHM = st.sampled_from(["grid_search", "random_search", "hyperband", "bo", None])
ALGORITHM_BLOCK = st.fixed_dictionaries(
    {},
    optional={
        "n_experiments": st.integers(-1, 5) | JSON,
        "max_iter": st.integers(0, 10),
        "eta": st.integers(0, 4),
        "resource": st.fixed_dictionaries(
            {"name": st.just("steps")}, optional={"type": st.sampled_from(["int", "float", "x"])}
        ),
        "metric": st.fixed_dictionaries(
            {"name": st.just("loss")},
            optional={"optimization": st.sampled_from(["minimize", "maximize", "x"])},
        ),
        "n_initial_trials": st.integers(-1, 3),
        "n_iterations": st.integers(-1, 2),
        "utility_function": JSON,
    },
)


@given(
    matrix=MATRIX,
    algorithm=ALGORITHM,
    block=ALGORITHM_BLOCK,
    concurrency=st.integers(-1, 3) | JSON,
    seed=st.integers(-1, 100) | JSON,
    early=JSON,
)
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_for_arbitrary_group_content(
    plx_client: tuple[TestClient, int],
    matrix: Any,
    algorithm: Any,
    block: Any,
    concurrency: Any,
    seed: Any,
    early: Any,
) -> None:
    client, _experiment_id = plx_client
    hptuning: dict[str, Any] = {"matrix": matrix, "concurrency": concurrency, "seed": seed}
    if algorithm:
        hptuning[algorithm] = block
    if early is not None:
        hptuning["early_stopping"] = early
    content = {"version": 1, "kind": "group", "hptuning": hptuning, "run": {"cmd": "echo {{ lr }}"}}
    response = client.post("/api/v1/fuzzer/proj/groups/", json={"content": json.dumps(content)})
    assert response.status_code < 500, response.text
    if response.status_code == 201:
        client.delete(f"/api/v1/fuzzer/proj/groups/{response.json()['id']}/")


@given(content=JSON | st.text(max_size=60), kind=st.sampled_from(["experiment", "group", None]), extra=JSON)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_for_arbitrary_experiment_content(
    plx_client: tuple[TestClient, int], content: Any, kind: Any, extra: Any
) -> None:
    client, experiment_id = plx_client
    bodies = [
        {"content": content},
        {"content": json.dumps({"version": 1, "kind": kind, "run": extra, "params": extra})},
        {"content": repr({"version": 1, "kind": kind, "build": extra, "environment": extra})},
    ]
    for body in bodies:
        response = client.post("/api/v1/fuzzer/proj/experiments/", json=body)
        assert response.status_code < 500, response.text
        restart = client.post(f"/api/v1/fuzzer/proj/experiments/{experiment_id}/restart/", json=body)
        assert restart.status_code < 500, restart.text


@given(body=JSON, status=JSON | st.text(max_size=12), query=st.text(max_size=30), sort=st.text(max_size=20))
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_for_metrics_statuses_logs_and_queries(
    plx_client: tuple[TestClient, int], body: Any, status: Any, query: str, sort: str
) -> None:
    client, experiment_id = plx_client
    base = f"/api/v1/fuzzer/proj/experiments/{experiment_id}"
    for path, payload in (
        ("/metrics/", body),
        ("/metrics/", [{"values": body}]),
        ("/metrics/", {"values": body, "created_at": status}),
        ("/statuses/", {"status": status, "message": body}),
        ("/logs/", body),
        ("/coderef/", body),
    ):
        response = client.post(base + path, json=payload)
        assert response.status_code < 500, (path, response.text)
    assert (
        client.patch(base + "/", json=body if isinstance(body, dict) else {"params": body}).status_code < 500
    )
    for params in ({"query": query}, {"sort": sort}, {"offset": query}, {"limit": sort}, {"group": query}):
        response = client.get("/api/v1/fuzzer/proj/experiments/", params=params)
        assert response.status_code < 500, (params, response.text)
    assert client.get("/api/v1/fuzzer/proj/groups/", params={"query": query, "sort": sort}).status_code < 500


@given(
    names=st.lists(st.text(max_size=20), max_size=4), payload=st.binary(max_size=64), gzip_it=st.booleans()
)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_for_arbitrary_uploads(
    plx_client: tuple[TestClient, int], names: list[str], payload: bytes, gzip_it: bool
) -> None:
    client, _experiment_id = plx_client
    data = payload
    if gzip_it:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for name in names:
                info = tarfile.TarInfo(name or "x")
                info.size = len(payload)
                archive.addfile(info, io.BytesIO(payload))
        data = buffer.getvalue()
    response = client.put(
        "/api/v1/fuzzer/proj/repo/upload/", files={"repo": ("r.tar.gz", data, "application/gzip")}
    )
    assert response.status_code < 500, response.text
