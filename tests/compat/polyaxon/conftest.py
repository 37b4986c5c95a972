"""Fixtures for the real-client scenarios: the client's venv, a live server on a known port whose runs
call it back, the accounts the scenarios log in with, and the runner of one scenario."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn

from crucible.app import create_app
from crucible.core.services import Services
from crucible.settings import Settings
from tests.compat.polyaxon import client_venv
from tests.conftest import Account, LiveServer, free_port

SCRIPT = Path(__file__).with_name("scenarios.py")
PASSWORD = "compat-password-1"


@pytest.fixture(scope="session")
def client_python() -> Path:
    return client_venv.python()


@pytest.fixture
def server_port() -> int:
    return free_port()


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest, server_port: int) -> dict[str, object]:
    """Managed runs use the client's venv (scripts `import polyaxon_client`) and call this server back."""
    callspec = getattr(request.node, "callspec", None)
    name = callspec.params.get("name", "") if callspec else ""
    return {
        "port": server_port,
        "executor_api_url": f"http://127.0.0.1:{server_port}",
        "executor_local_python": client_venv.python(),
        "executor_max_concurrent": 1 if name == "stop_runs" else 2,
        "executor_stop_grace_s": 3.0,
    }


@pytest.fixture
def plx_server(settings: Settings, services: Services) -> Iterator[LiveServer]:
    """The real app on the port the settings name (runs need the URL before the server starts)."""
    app = create_app(settings, services)
    config = uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    yield LiveServer(url=f"http://127.0.0.1:{settings.port}", port=settings.port, services=services)
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture
def accounts(make_user: Callable[..., Account], plx_server: LiveServer) -> tuple[Account, str]:
    """`admin` (whose password the scenarios log in with) and a private project of someone else."""
    from crucible.core.accounts import find_user_by_username
    from crucible.dialects.polyaxon.models import PlxProject

    admin = make_user("admin", PASSWORD)
    make_user("stranger", PASSWORD)
    with plx_server.services.db.write() as session:
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
