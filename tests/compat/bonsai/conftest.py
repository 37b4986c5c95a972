"""Fixtures that drive the real Bonsai clients against a real server process (spec/bonsai.md §6).

Three virtualenvs are built exactly as §6 says and cached under `.cache/compat/bonsai-<name>-<hash>`:
SDK 2.0.20 with CLI 0.8.28, SDK 2.0.0, and CLI 0.8.20 with bonsai-config 0.4.5 (plus the
`sitecustomize.py` shim). The server is `crucible serve` in a subprocess (so that a test can kill -9 it),
on a fresh SQLite data directory, with user `alice` and an access key made by the admin commands.

Scenario sizes: the spec's full sizes run with CRUCIBLE_COMPAT_FULL=1
(`CRUCIBLE_COMPAT_FULL=1 .venv/bin/pytest tests/compat/bonsai`); by default the slow scenarios run
shorter, and the tests say which thresholds they then skip.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[3]
CACHE = REPO / ".cache" / "compat"
TEMPLATES = REPO / "crucible" / "dialects" / "bonsai" / "templates"
FULL = os.environ.get("CRUCIBLE_COMPAT_FULL") == "1"
CLIENT_TIMEOUT = 1800

SITECUSTOMIZE = '''"""bonsai-config 0.4.5 passes None defaults to ConfigParser, which Python >= 3.7 rejects."""
import configparser

_init = configparser.ConfigParser.__init__


def _allow_no_value(self, *args, **kwargs):
    kwargs.setdefault("allow_no_value", True)
    _init(self, *args, **kwargs)


configparser.ConfigParser.__init__ = _allow_no_value
'''

VENVS: dict[str, tuple[tuple[tuple[str, ...], ...], str]] = {
    # name: (pip install steps, import check)
    "sdk2020": (
        (
            ("--no-deps", "bonsai-ai==2.0.20", "bonsai-cli==0.8.28"),
            (
                "tornado==6.2",
                "protobuf==3.20.3",
                "requests",
                "click",
                "tabulate==0.8.10",
                "websocket-client==1.3.1",
                "gymnasium",
                "numpy",
            ),
        ),
        "import bonsai_ai, bonsai_cli, gymnasium",
    ),
    "sdk200": (
        (
            ("--no-deps", "bonsai-ai==2.0.0"),
            ("tornado==6.2", "protobuf==3.20.3", "requests", "gymnasium", "numpy"),
        ),
        "import bonsai_ai, gymnasium",
    ),
    "cli020": (
        (
            ("--no-deps", "bonsai-cli==0.8.20", "bonsai-config==0.4.5"),
            ("six", "click", "tabulate", "requests", "websocket-client"),
        ),
        "import bonsai_cli, bonsai_config",
    ),
}


def base_python() -> str:
    found = shutil.which("python3.11")
    if found:
        return found
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    pytest.fail("the Bonsai compat tests need python3.11 on PATH (spec §6 was tested on 3.11)")


def _pip(python: Path, arguments: tuple[str, ...]) -> None:
    command = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")


def client_venv(name: str) -> Path:
    """The cached virtualenv `name` (built on first use, under a file lock); returns its bin directory."""
    steps, check = VENVS[name]
    recipe = json.dumps([sys.platform, base_python(), steps, SITECUSTOMIZE if name == "cli020" else ""])
    target = CACHE / f"bonsai-{name}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"bonsai-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".complete").exists():
            # Built in place (console scripts record their interpreter's path), marked complete at the end.
            shutil.rmtree(target, ignore_errors=True)
            subprocess.run([base_python(), "-m", "venv", str(target)], check=True, timeout=300)
            python = target / "bin" / "python"
            for arguments in steps:
                _pip(python, arguments)
            if name == "cli020":
                site = next((target / "lib").glob("python3*/site-packages"))
                (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
            result = subprocess.run([str(python), "-c", check], capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"the {name} virtualenv does not import:\n{result.stderr}")
            (target / ".complete").write_text("ok\n")
    return target / "bin"


@pytest.fixture(scope="session")
def sdk2020() -> Path:
    return client_venv("sdk2020")


@pytest.fixture(scope="session")
def sdk200() -> Path:
    return client_venv("sdk200")


@pytest.fixture(scope="session")
def cli020() -> Path:
    return client_venv("cli020")


def client_env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    env.update(HOME=str(home), PYTHONUNBUFFERED="1", PYTHONWARNINGS="ignore")
    env.pop("PYTHONPATH", None)
    return env


@dataclass
class BonsaiServer:
    """`crucible serve` in a subprocess, with user alice and her access key."""

    data_dir: Path
    log_path: Path
    env_overrides: dict[str, str]
    port: int = field(default_factory=free_port)
    key: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": self.key}, timeout=60)

    def _crucible(self, *arguments: str) -> str:
        command = [sys.executable, "-m", "crucible.cli", *arguments, "--data-dir", str(self.data_dir)]
        return subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO).stdout.strip()

    def prepare(self) -> None:
        self._crucible(
            "user",
            "create",
            "--username",
            "alice",
            "--email",
            "alice@example.org",
            "--password",
            "correct horse 1",
        )
        self.key = self._crucible("accesskey", "create", "alice")

    def start(self) -> None:
        env = {**os.environ, "CRUCIBLE_LOG_LEVEL": "INFO", **self.env_overrides}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "crucible.cli",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
            if self.process.poll() is not None:
                break
        raise RuntimeError(f"the server did not start:\n{self.log_path.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=60)

    def get(self, path: str) -> Any:
        with self.http as client:
            response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    def put(self, path: str, body: Any = None) -> httpx.Response:
        with self.http as client:
            return client.put(path, json=body) if body is not None else client.put(path)

    def status(self, brain: str) -> dict[str, Any]:
        return self.get(f"/v1/alice/{brain}/status")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def server_env() -> dict[str, str]:
    """Override in a test module (or parametrize) to set server environment variables."""
    return {}


@pytest.fixture
def bonsai_server(tmp_path: Path, server_env: dict[str, str]) -> Iterator[BonsaiServer]:
    server = BonsaiServer(tmp_path / "data", tmp_path / "server.log", server_env)
    server.prepare()
    server.start()
    yield server
    server.kill(signal.SIGTERM)
    # Trainer processes exit when their server connection drops; give them a moment.
    time.sleep(0.5)


@pytest.fixture
def home(tmp_path: Path, bonsai_server: BonsaiServer) -> Path:
    """A fresh HOME whose ~/.bonsai points the SDK (and the CLI's DEFAULT profile) at the server."""
    path = tmp_path / "home"
    path.mkdir()
    (path / ".bonsai").write_text(
        f"[DEFAULT]\nurl = {bonsai_server.url}\nusername = alice\naccesskey = {bonsai_server.key}\n"
    )
    return path


def run(
    command: list[str], *, home: Path, cwd: Path, timeout: float = CLIENT_TIMEOUT, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, cwd=cwd, env=client_env(home), capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{command} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def project_dir(tmp_path: Path, template: str, name: str = "project") -> Path:
    target = tmp_path / name
    shutil.copytree(TEMPLATES / template, target, ignore=shutil.ignore_patterns("__*"))
    return target


def sim_rewards(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON line a template simulator prints when it stops."""
    line = [item for item in result.stdout.splitlines() if item.startswith('{"rewards"')][-1]
    return json.loads(line)


def wait_for(predicate: Any, timeout: float = 120.0, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
