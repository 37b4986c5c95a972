"""The API worker's side of a trainer process: start it, connect, and send requests (asyncio).

Requests are pipelined: the trainer answers them one at a time in the order they arrive, so the
replies are matched to a first-in, first-out queue of futures.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import secrets
import socket
import sys
from typing import Any

from crucible.engines.rl import wire

log = logging.getLogger("crucible.rl.client")


class TrainerUnavailable(ConnectionError):
    """The trainer process is gone (stopped, crashed) or never came up."""


class TrainerClient:
    def __init__(self, process: asyncio.subprocess.Process, address: str) -> None:
        self.process = process
        self.address = address
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._read_task: asyncio.Task[None] | None = None
        self._stdout_task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    @classmethod
    async def start(
        cls, job: dict[str, Any], *, startup_timeout: float = 120.0
    ) -> tuple[TrainerClient, dict[str, Any]]:
        """Spawn the trainer, connect, wait for `ready`; returns the client and the ready message."""
        token = secrets.token_hex(16)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "crucible.engines.rl.trainer_process",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write((json.dumps(job | {"token": token}) + "\n").encode())
            await process.stdin.drain()
            process.stdin.close()
            line = await asyncio.wait_for(process.stdout.readline(), startup_timeout)
            if not line.startswith(b"LISTENING "):
                raise TrainerUnavailable(f"trainer did not start: {line[:200]!r}")
            port = int(line.split()[1])
            client = cls(process, f"127.0.0.1:{port}")
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client._reader, client._writer = reader, writer
            writer.write(wire.encode({"op": "hello", "token": token}))
            await writer.drain()
            ready = await asyncio.wait_for(wire.receive_async(reader), startup_timeout)
            client._read_task = asyncio.create_task(client._read_replies(), name="trainer-replies")
            client._stdout_task = asyncio.create_task(client._drain_stdout(), name="trainer-stdout")
            return client, ready
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            raise

    async def _drain_stdout(self) -> None:
        assert self.process.stdout is not None
        with contextlib.suppress(Exception):
            while await self.process.stdout.readline():
                pass

    async def _read_replies(self) -> None:
        assert self._reader is not None
        try:
            while True:
                reply = await wire.receive_async(self._reader)
                if self._waiting:
                    future = self._waiting.popleft()
                    if not future.done():
                        future.set_result(reply)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, wire.FrameError):
            pass
        finally:
            self.closed.set()
            while self._waiting:
                future = self._waiting.popleft()
                if not future.done():
                    future.set_exception(TrainerUnavailable("trainer connection closed"))

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.closed.is_set() or self._writer is None:
            raise TrainerUnavailable("trainer connection closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        try:
            self._writer.write(wire.encode(message))
        except (ConnectionError, OSError) as error:
            raise TrainerUnavailable(str(error)) from error
        reply: dict[str, Any] = await future
        if "error" in reply:
            raise RuntimeError(f"trainer: {reply['error']}")
        return reply

    def send_nowait(self, message: dict[str, Any]) -> None:
        """Fire and forget (abort after a disconnect); its reply is read and dropped."""
        if self.closed.is_set() or self._writer is None:
            return
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda done: done.exception())
        self._waiting.append(future)
        with contextlib.suppress(ConnectionError, OSError):
            self._writer.write(wire.encode(message))

    async def wait_exit(self) -> int:
        return await self.process.wait()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
