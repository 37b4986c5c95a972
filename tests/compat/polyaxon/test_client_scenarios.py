"""Spec §7 acceptance scenarios driven by the real polyaxon-client 0.5.6 in an isolated virtualenv,
in raw and schema_response mode, against a live server (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.compat.polyaxon import client_venv
from tests.conftest import Account, LiveServer

pytestmark = [pytest.mark.compat, pytest.mark.slow]

SCRIPT = Path(__file__).with_name("scenarios.py")
PASSWORD = "compat-password-1"
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


@pytest.fixture(scope="session")
def client_python() -> Path:
    return client_venv.python()


@pytest.fixture
def accounts(make_user: Callable[..., Account], live_server: LiveServer) -> tuple[Account, str]:
    """`admin` (whose password the scenarios log in with) and a private project of someone else."""
    from crucible.core.accounts import find_user_by_username
    from crucible.dialects.polyaxon.models import PlxProject

    admin = make_user("admin", PASSWORD)
    make_user("stranger", PASSWORD)
    with live_server.services.db.write() as session:
        stranger = find_user_by_username(session, "stranger")
        assert stranger is not None
        session.add(PlxProject(owner_id=stranger.id, name="secret", is_public=False))
    return admin, "stranger/secret"


def run_scenario(
    python: Path, name: str, mode: str, server: LiveServer, account: Account, other: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "TMPDIR": str(tmp_path),
        "PLX_PORT": str(server.port),
        "PLX_MODE": mode,
        "PLX_USER": account.username,
        "PLX_PASSWORD": PASSWORD,
        "PLX_OTHER_PROJECT": other,
    }
    result = subprocess.run(
        [str(python), str(SCRIPT), name], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, f"{name} ({mode}) failed:\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("mode", ["raw", "schema"])
@pytest.mark.parametrize("name", API_SCENARIOS)
def test_api_scenario(
    client_python: Path,
    live_server: LiveServer,
    accounts: tuple[Account, str],
    tmp_path: Path,
    name: str,
    mode: str,
) -> None:
    account, other = accounts
    run_scenario(client_python, name, mode, live_server, account, other, tmp_path)
