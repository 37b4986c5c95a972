"""The sandbox host: started by the server, preloads libraries once, then forks locked-down workers.

It never runs user code. It talks to the server over one SOCK_SEQPACKET control socket (JSON messages;
each new worker's socket and pidfd travel as SCM_RIGHTS), reaps its children, and exits, killing them,
as soon as the server's end of that socket closes.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import traceback
from typing import Any, NoReturn

from crucible.engines.sandbox import seccomp
from crucible.engines.sandbox.policy import Policy
from crucible.engines.sandbox.worker import LoadedRuntime, WorkerSettings
from crucible.engines.sandbox.worker import main as worker_main

CONTROL_MESSAGE_BYTES = 1 << 20
_PR_SET_PDEATHSIG = 1
_CLONE_NEWNET = 0x40000000


def bootstrap_command(python: str, control_fd: int, sys_path: list[str]) -> list[str]:
    """The command line that starts a host under an isolated interpreter (`-I`: no env, no user site)."""
    code = (
        "import sys, json; sys.path[:] = json.loads(sys.argv[2]); "
        "from crucible.engines.sandbox import host; host.main(int(sys.argv[1]))"
    )
    return [python, "-I", "-c", code, str(control_fd), json.dumps(sys_path)]


class Host:
    def __init__(self, control: socket.socket, config: dict[str, Any]) -> None:
        self.control = control
        self.config = config
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, int] = {}  # pid -> pidfd
        self.runtimes: dict[str, LoadedRuntime] = {}
        self.settings: WorkerSettings | None = None
        self.null_fd = -1

    def prepare(self) -> dict[str, Any]:
        """Preload everything workers share; returns the facts the server reports as status."""
        config = self.config
        libc = ctypes.CDLL(None, use_errno=True)
        if config.get("pdeathsig"):
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != config["server_pid"]:
                os._exit(0)
        network_namespace = bool(config.get("network_namespace")) and libc.unshare(_CLONE_NEWNET) == 0
        for name in config["preload"]:
            importlib.import_module(name)
        for name, policy in config["runtimes"].items():
            self.runtimes[name] = LoadedRuntime.load(name, Policy.from_wire(policy))
        use_seccomp = bool(config.get("seccomp")) and seccomp.supported() and _probe_seccomp()
        self.settings = WorkerSettings(
            memory_mb=int(config["memory_mb"]),
            cpu_seconds=float(config["cpu_seconds"]),
            uid=config.get("worker_uid"),
            gid=config.get("worker_gid"),
            seccomp=use_seccomp,
            reseed_each_call=bool(config.get("reseed_each_call")),
        )
        self.null_fd = os.open(os.devnull, os.O_RDWR)
        gc.collect()
        gc.freeze()  # keep preloaded objects out of the collector, so workers share those pages longer
        return {
            "pid": os.getpid(),
            "seccomp": use_seccomp,
            "network_namespace": network_namespace,
            "worker_uid": self.settings.uid if os.geteuid() == 0 else os.geteuid(),
        }

    def serve(self) -> NoReturn:
        self.selector.register(self.control, selectors.EVENT_READ, None)
        while True:
            for key, _ in self.selector.select():
                if key.data is None:
                    self.handle_control()
                else:
                    self.reap(key.data)

    def handle_control(self) -> None:
        try:
            data = self.control.recv(CONTROL_MESSAGE_BYTES)
        except OSError:
            data = b""
        if not data:
            self.shutdown()
        message = json.loads(data)
        if message.get("op") == "spawn":
            for _ in range(int(message.get("n", 1))):
                self.spawn()

    def spawn(self) -> None:
        assert self.settings is not None
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            pid = os.fork()
        except OSError as exc:  # e.g. out of memory or processes: tell the server, keep serving
            parent.close()
            child.close()
            print(f"sandbox host: cannot fork a worker: {exc}", file=sys.stderr, flush=True)
            self.send_event({"ev": "spawn_failed"})
            return
        if pid == 0:
            try:
                worker_main(child.fileno(), self.null_fd, os.getppid(), self.runtimes, self.settings)
            finally:
                os._exit(5)
        child.close()
        pidfd = os.pidfd_open(pid)
        self.children[pid] = pidfd
        self.selector.register(pidfd, selectors.EVENT_READ, pid)
        try:
            socket.send_fds(
                self.control, [json.dumps({"ev": "spawned", "pid": pid}).encode()], [parent.fileno(), pidfd]
            )
        except OSError:
            self.shutdown()
        finally:
            parent.close()

    def reap(self, pid: int) -> None:
        pidfd = self.children.pop(pid)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        self.send_event({"ev": "exited", "pid": pid, "status": status})

    def send_event(self, event: dict[str, Any]) -> None:
        try:
            self.control.send(json.dumps(event).encode())
        except OSError:
            self.shutdown()

    def shutdown(self) -> NoReturn:
        for pid, pidfd in list(self.children.items()):
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            os.waitpid(pid, 0)
        os._exit(0)


def _probe_seccomp() -> bool:
    """Install the filter in a throw-away child, so a kernel without seccomp disables it instead of
    making every worker fail."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(0 if seccomp.install() else 1)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def main(control_fd: int) -> NoReturn:
    control = socket.socket(fileno=control_fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        config = json.loads(control.recv(CONTROL_MESSAGE_BYTES))
        host = Host(control, config)
        facts = host.prepare()
    except BaseException:
        control.send(json.dumps({"ev": "error", "message": traceback.format_exc()[-8000:]}).encode())
        sys.exit(1)
    control.send(json.dumps({"ev": "ready", **facts}).encode())
    host.serve()
