"""Bad input never yields a 500 on Bender's routes: schema-driven fuzzing of every documented
operation (schemathesis over /openapi.json), and property-based bodies aimed at real resources."""

from __future__ import annotations

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

BENDER_PATHS = r"^/(api/(?!v1)|user/|registration/|password/|login/|logout/)"


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, sqlite_template):  # type: ignore[no-untyped-def]
    import shutil

    directory = tmp_path_factory.mktemp("fuzz")
    shutil.copy(sqlite_template, directory / "crucible.db")
    settings = Settings(data_dir=directory, database_url=f"sqlite:///{directory / 'crucible.db'}")
    services = build_services(settings)
    with services.db.write() as session:
        user = accounts.create_user(session, "fuzzer", "fuzz-password-1", "fuzzer@example.org")
        token = accounts.issue_jwt(services.jwt_secret, user, 125)
    app = create_app(settings, services)
    yield app, token
    services.db.dispose()


@pytest.fixture(scope="module")
def bender_schema(fuzz_app):  # type: ignore[no-untyped-def]
    app, _token = fuzz_app
    return schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex=BENDER_PATHS)


def test_no_server_errors_from_schema_driven_input(bender_schema, fuzz_app) -> None:  # type: ignore[no-untyped-def]
    _app, token = fuzz_app
    operations = [result.ok() for result in bender_schema.get_all_operations()]
    assert len(operations) > 20

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            response = case.call(headers={"Authorization": f"JWT {token}"})
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
NUMBERS = st.one_of(
    st.integers(-10, 10), st.floats(-1e6, 1e6, allow_nan=False), st.just(0), st.text(max_size=4)
)
SEARCH_SPACE = st.fixed_dictionaries(
    {},
    optional={
        "low": NUMBERS,
        "high": NUMBERS,
        "step": NUMBERS,
        "mu": NUMBERS,
        "sigma": NUMBERS,
        "base": NUMBERS,
        "values": st.lists(JSON, max_size=4),
        "probabilities": st.lists(NUMBERS, max_size=4),
    },
)
PARAMETER = st.fixed_dictionaries(
    {"name": st.sampled_from(["x", "y", "z"]) | st.text(max_size=5)},
    optional={
        "category": st.sampled_from(
            ["uniform", "loguniform", "normal", "lognormal", "categorical", "descriptive", None, "gauss"]
        ),
        "search_space": SEARCH_SPACE | JSON,
    },
)


@pytest.fixture(scope="module")
def fuzz_client(fuzz_app):  # type: ignore[no-untyped-def]
    app, token = fuzz_app
    with TestClient(app) as client:
        client.headers["Authorization"] = f"JWT {token}"
        experiment = client.post(
            "/api/experiments/", json={"name": "fuzz", "metrics": [{"metric_name": "m", "type": "reward"}]}
        ).json()
        yield client, experiment["id"]


@given(
    parameters=st.lists(PARAMETER, max_size=3),
    trials=st.lists(st.tuples(JSON, JSON, JSON), max_size=4),
    suggest=JSON,
)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_for_arbitrary_spaces_trials_and_suggest_bodies(
    fuzz_client: tuple[TestClient, str], parameters: list[dict[str, Any]], trials: list[Any], suggest: Any
) -> None:
    client, experiment_id = fuzz_client
    created = client.post(
        "/api/algos/", json={"name": "a", "experiment": experiment_id, "parameters": parameters}
    )
    assert created.status_code < 500, created.text
    if created.status_code != 201:
        return
    algo_id = created.json()["id"]
    try:
        for params, results, weight in trials:
            body = {"algo": algo_id, "parameters": params, "results": {"m": results}, "weight": weight}
            response = client.post("/api/trials/", json=body)
            assert response.status_code < 500, response.text
        for body in (
            suggest,
            {"metric": "m", "minimum_observations": 1},
            {"metric": "m", "optimizer": "gaussian_process", "minimum_observations": 1},
        ):
            response = client.post(f"/api/algos/{algo_id}/suggest/", json=body)
            assert response.status_code < 500, response.text
    finally:
        client.delete(f"/api/algos/{algo_id}/")
