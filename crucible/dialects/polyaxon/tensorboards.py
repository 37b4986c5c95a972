"""TensorBoard for an experiment, group or project outputs directory (spec §4.6 "TensorBoard").

Served only when a `tensorboard` executable exists; otherwise start and stop answer 501 (decision D13).
At most one process per entity; they live as long as the server process.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from pathlib import Path

from crucible.dialects.polyaxon.errors import not_implemented

NOT_INSTALLED = "TensorBoard is not supported on this server: the tensorboard package is not installed."

_processes: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
_lock = threading.Lock()


def executable() -> str | None:
    return shutil.which("tensorboard")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(key: str, logdir: Path, host: str) -> tuple[str, bool]:
    """(url, created): a running TensorBoard for `key`, started when there is none."""
    program = executable()
    if program is None:
        raise not_implemented(NOT_INSTALLED)
    with _lock:
        running = _processes.get(key)
        if running is not None and running[0].poll() is None:
            return running[1], False
        logdir.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        process = subprocess.Popen(
            [program, "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}/"
        _processes[key] = (process, url)
        return url, True


def stop(key: str) -> None:
    if executable() is None:
        raise not_implemented(NOT_INSTALLED)
    with _lock:
        running = _processes.pop(key, None)
    if running is not None and running[0].poll() is None:
        running[0].terminate()
        try:
            running[0].wait(timeout=5)
        except subprocess.TimeoutExpired:
            running[0].kill()
