"""Fixtures that drive the real bender-client 0.4.0 against a live server (spec/bender.md §6).

The client lives in its own virtualenv, built exactly as §6 says and cached under
`.cache/compat/bender-<hash of the pins>`, so a fresh clone builds it once and reruns reuse it.
Each scenario is a script in `scripts/`, run by that virtualenv's interpreter in a subprocess with
its own HOME (holding `.bender_token`) and the server URL and credentials in its environment.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from crucible.core import accounts
from crucible.core.services import Services
from tests.conftest import Account, LiveServer
from tests.dialects.bender.conftest import PASSWORD, password_hash

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "scripts"
CLIENT_PIN = "bender-client==0.4.0"
EXTRA_PINS = ("python-jose==3.5.0", "requests==2.32.3", "numpy")
SCRIPT_TIMEOUT = 300


def base_python() -> str:
    """A CPython 3.11 to build the client's virtualenv with (§6 was tested on 3.11)."""
    found = shutil.which("python3.11")
    if found:
        return found
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    pytest.fail("bender-client compat tests need python3.11 on PATH")


def _pip(python: Path, *arguments: str) -> None:
    command = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")


def build_client_venv(target: Path) -> None:
    """python3.11 -m venv; pip install --no-deps bender-client==0.4.0; then the modern dependencies.

    (`pip check` reports the pin conflict; that is expected, §6.)"""
    building = target.with_name(target.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    subprocess.run([base_python(), "-m", "venv", str(building)], check=True, timeout=300)
    python = building / "bin" / "python"
    _pip(python, "--no-deps", CLIENT_PIN)
    _pip(python, *EXTRA_PINS)
    problem = import_problem(python)
    if problem:
        raise RuntimeError(f"the bender-client virtualenv does not import:\n{problem}")
    building.rename(target)


def import_problem(python: Path) -> str | None:
    """Why the client's virtualenv cannot import what the scripts need, or None when it can."""
    check = subprocess.run(
        [str(python), "-c", "import benderclient, jose, requests, numpy"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check.returncode == 0:
        return None
    return check.stderr or f"exit status {check.returncode}"


@pytest.fixture(scope="session")
def client_python() -> Path:
    """The interpreter of the cached bender-client virtualenv (built on first use, under a file lock)."""
    pins = "\n".join((sys.platform, base_python(), CLIENT_PIN, *EXTRA_PINS))
    digest = hashlib.sha256(pins.encode()).hexdigest()[:12]
    root = REPO / ".cache" / "compat"
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"bender-{digest}"
    with open(root / f"bender-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        python = target / "bin" / "python"
        if python.exists() and import_problem(python):
            shutil.rmtree(target)  # a broken cache (e.g. its base interpreter moved): build it again
        if not python.exists():
            build_client_venv(target)
    return target / "bin" / "python"


# --- users with a HOME each ----------------------------------------------------------------------------


@dataclass
class ClientUser:
    account: Account
    home: Path
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"JWT {self.token}"}

    def env(self, prefix: str) -> dict[str, str]:
        return {
            f"{prefix}_HOME": str(self.home),
            f"{prefix}_USERNAME": self.account.username,
            f"{prefix}_EMAIL": self.account.email,
            f"{prefix}_PASSWORD": self.account.password,
            f"{prefix}_TOKEN": self.token,
        }


def login(url: str, email: str, password: str) -> str:
    response = requests.post(f"{url}/login/", json={"email": email, "password": password}, timeout=30)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


@pytest.fixture
def client_user(live_server: LiveServer, services: Services, tmp_path: Path) -> Callable[[str], ClientUser]:
    """A core account (as any dialect creates it), a temp HOME, and the §6 recipe: raw POST /login/,
    then `json.dumps(token)` in `$HOME/.bender_token`."""

    def make(username: str) -> ClientUser:
        email = f"{username}@example.org"
        with services.db.write() as session:
            user = accounts.create_user(session, username, None, email, email_verified=True)
            user.password_hash = password_hash(PASSWORD)
            account = Account(user.id, username, email, PASSWORD)
        home = tmp_path / f"home-{username}"
        home.mkdir()
        token = login(live_server.url, email, PASSWORD)
        (home / ".bender_token").write_text(json.dumps(token))
        return ClientUser(account, home, token)

    return make


# --- running scenario scripts ----------------------------------------------------------------------------


@dataclass
class ScriptRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def result(self) -> Any:
        """The JSON document the script printed last (scripts end with `report(...)`)."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("RESULT "):
                return json.loads(line.removeprefix("RESULT "))
        raise AssertionError(f"no RESULT line in the script output:\n{self.stdout}\n{self.stderr}")


@pytest.fixture
def run_script(client_python: Path, live_server: LiveServer) -> Callable[..., ScriptRun]:
    def run(
        name: str, env: Mapping[str, str], *, stdin: str = "", home: Path | None = None, check: bool = True
    ) -> ScriptRun:
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "BENDER_URL": live_server.url,
            "HOME": str(home) if home else "/nonexistent",
            **env,
        }
        # a new session has no controlling terminal, so getpass() reads the piped stdin (§6)
        completed = subprocess.run(
            [str(client_python), str(SCRIPTS / name)],
            input=stdin,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=SCRIPT_TIMEOUT,
            start_new_session=True,
            cwd=str(SCRIPTS),
            check=False,
        )
        run = ScriptRun(completed.returncode, completed.stdout, completed.stderr)
        if check:
            assert run.returncode == 0, f"{name} failed:\n--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
        return run

    return run


# --- a reverse proxy that sets X-Forwarded-* (for list_trials following absolute `next` links) --------------


class _ProxyHandler(BaseHTTPRequestHandler):
    upstream: tuple[str, int]
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        headers["X-Forwarded-Host"] = self.headers.get("Host", "")
        headers["X-Forwarded-Proto"] = "http"
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def forwarding_proxy(live_server: LiveServer) -> Iterator[str]:
    """http://127.0.0.1:<proxy port>, forwarding to the live server with X-Forwarded-Host/Proto."""
    handler = type("Handler", (_ProxyHandler,), {"upstream": ("127.0.0.1", live_server.port)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
