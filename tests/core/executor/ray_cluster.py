"""A throwaway single-node Ray head for the Ray executor tests.

Ray lives in its own virtualenv (requirements-ray.txt), built once and cached under
.cache/ray-venv-<hash>/, so the server's environment never needs the `ray` package.

The head is stopped by signalling exactly the processes this helper started: each carries a
per-head token in its environment (Ray hands its environment down to every process it spawns,
job entrypoints included). `ray stop` is not used because it kills every Ray process on the
machine by name, including clusters that belong to someone else.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[3]
REQUIREMENTS = REPO / "requirements-ray.txt"
TOKEN_VARIABLE = "CRUCIBLE_TEST_RAY_TOKEN"


class RayUnavailable(Exception):
    pass


@dataclass
class RayHead:
    address: str
    token: str
    temp_dir: Path
    venv: Path


def ray_venv() -> Path:
    """The cached virtualenv with requirements-ray.txt installed; built on first use."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()[:12]
    cache = REPO / ".cache"
    cache.mkdir(exist_ok=True)
    venv = cache / f"ray-venv-{digest}"
    complete = venv / ".complete"
    with (cache / f"ray-venv-{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if complete.exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(venv)], "creating the Ray virtualenv", timeout=300)
        _run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)],
            "installing requirements-ray.txt",
            timeout=900,
        )
        complete.touch()
    return venv


def start_ray_head(venv: Path) -> RayHead:
    token = uuid.uuid4().hex
    temp_dir = Path(tempfile.mkdtemp(prefix="crucible-ray-", dir="/tmp"))  # short: Ray puts sockets here
    gcs_port, dashboard_port, agent_port, client_port = _free_ports(4)
    head = RayHead(f"http://127.0.0.1:{dashboard_port}", token, temp_dir, venv)
    env = {
        **os.environ,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        "RAY_USAGE_STATS_ENABLED": "0",
        TOKEN_VARIABLE: token,
    }
    env.pop("VIRTUAL_ENV", None)
    command = [
        str(venv / "bin" / "ray"),
        "start",
        "--head",
        f"--port={gcs_port}",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard_port}",
        "--include-dashboard=true",
        "--num-cpus=2",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
        f"--dashboard-agent-listen-port={agent_port}",
        f"--ray-client-server-port={client_port}",
    ]
    try:
        started = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
        if started.returncode != 0:
            raise RayUnavailable(
                f"`ray start` exited with {started.returncode}:\n{_tail(started.stdout + started.stderr)}"
            )
        _wait_until_jobs_run(head)
    except BaseException:
        stop_ray_head(head)
        raise
    return head


def stop_ray_head(head: RayHead, grace_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL what is left: a throwaway head has nothing worth a long grace (its GCS
    server can sit on SIGTERM for over 20 s)."""
    for pid in _processes_with_token(head.token):
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while _processes_with_token(head.token) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in _processes_with_token(head.token):
        _signal(pid, signal.SIGKILL)
    shutil.rmtree(head.temp_dir, ignore_errors=True)


def _wait_until_jobs_run(head: RayHead, timeout_s: float = 120.0) -> None:
    """The dashboard answers before its job agent can take jobs: run one trivial job first."""
    deadline = time.monotonic() + timeout_s
    submission_id = f"warmup-{head.token[:8]}"
    last_error = "no answer"
    with httpx.Client(base_url=head.address, timeout=10) as client:
        submitted = False
        while time.monotonic() < deadline:
            try:
                if not submitted:
                    response = client.post(
                        "/api/jobs/", json={"entrypoint": "true", "submission_id": submission_id}
                    )
                    submitted = response.status_code == 200
                    last_error = f"submit: HTTP {response.status_code} {_tail(response.text, 3)}"
                else:
                    status = client.get(f"/api/jobs/{submission_id}").json()["status"]
                    if status == "SUCCEEDED":
                        return
                    if status in ("FAILED", "STOPPED"):
                        raise RayUnavailable(f"warm-up job ended {status}")
                    last_error = f"warm-up job {status}"
            except httpx.HTTPError as error:
                last_error = repr(error)
            time.sleep(0.5)
    raise RayUnavailable(f"Ray head at {head.address} not ready after {timeout_s:g} s: {last_error}")


def _processes_with_token(token: str) -> list[int]:
    marker = f"{TOKEN_VARIABLE}={token}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry))
    return found


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _run(command: list[str], what: str, timeout: float) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise RayUnavailable(f"{what} timed out after {timeout:g} s") from error
    if done.returncode != 0:
        raise RayUnavailable(
            f"{what} failed with exit code {done.returncode}:\n{_tail(done.stdout + done.stderr)}"
        )


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
