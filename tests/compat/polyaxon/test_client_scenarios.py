"""Spec §7 acceptance scenarios driven by the real polyaxon-client 0.5.6 in an isolated virtualenv,
in raw and schema_response mode, against a live server (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.polyaxon.conftest import run_scenario
from tests.conftest import Account, LiveServer

pytestmark = [pytest.mark.compat, pytest.mark.slow]

API_SCENARIOS = [
    "login_and_user",
    "project_crud",
    "experiment_lifecycle",
    "tracking_flow",
    "atomic_merge",
    "pagination",
    "bad_inputs",
    "misc",
]


MANAGED_SCENARIOS = ["restart_resume_copy", "uploaded_repo_runs", "stop_runs", "random_search_group"]


@pytest.mark.parametrize("mode", ["raw", "schema"])
@pytest.mark.parametrize("name", API_SCENARIOS + MANAGED_SCENARIOS)
def test_scenario(
    client_python: Path,
    plx_server: LiveServer,
    accounts: tuple[Account, str],
    tmp_path: Path,
    name: str,
    mode: str,
) -> None:
    account, other = accounts
    run_scenario(client_python, name, mode, plx_server, account, other, tmp_path)
