"""Scenario 7 (an uploaded repo runs a polyaxon-client tracking script) on the Ray executor: the server
submits through the Jobs API of a real single-node Ray head, and the run's metrics arrive the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.polyaxon import client_venv
from tests.compat.polyaxon.conftest import run_scenario
from tests.conftest import Account, LiveServer
from tests.core.executor.ray_cluster import RayUnavailable, ray_venv, start_ray_head, stop_ray_head

pytestmark = [pytest.mark.compat, pytest.mark.slow]


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    try:
        head = start_ray_head(ray_venv())
    except RayUnavailable as error:
        pytest.fail(f"Ray is not available: {error}", pytrace=False)
    try:
        yield head.address
    finally:
        stop_ray_head(head)


@pytest.fixture
def settings_overrides(server_port: int, ray_address: str) -> dict[str, object]:
    return {
        "port": server_port,
        "executor_api_url": f"http://127.0.0.1:{server_port}",
        "executor_local_python": client_venv.python(),
        "executor_ray_address": ray_address,
        "executor_max_concurrent": 2,
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_uploaded_repo_runs_on_ray(
    client_python: Path, plx_server: LiveServer, accounts: tuple[Account, str], tmp_path: Path
) -> None:
    account, other = accounts
    run_scenario(client_python, "uploaded_repo_runs", "raw", plx_server, account, other, tmp_path)
