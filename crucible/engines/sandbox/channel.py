"""Length-prefixed JSON messages over a stream socket: the only format that crosses a process boundary.

JSON (NaN and infinities allowed) keeps the server from ever unpickling child data; the 16 MiB cap
bounds what a hostile worker can make the server buffer.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time

from crucible.engines.sandbox.outcomes import JSON

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_HEADER = struct.Struct("!I")
_CHUNK = 65536


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed message (or one too large)."""


class MessageTooLarge(ProtocolError):
    """A message would exceed `MAX_MESSAGE_BYTES`."""


def encode_message(message: JSON) -> bytes:
    """Serialise one message with its length header; raises `MessageTooLarge`, `TypeError`, `ValueError`."""
    body = json.dumps(message, separators=(",", ":")).encode()
    if len(body) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(f"message of {len(body)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return _HEADER.pack(len(body)) + body


class Channel:
    """One end of a worker connection; `recv` returns `None` at end of stream."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray()

    def send(self, message: JSON) -> None:
        self.sock.sendall(encode_message(message))

    def send_encoded(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, deadline: float | None = None) -> JSON | None:
        """Read one message; raise `TimeoutError` once `deadline` (a `time.monotonic()` value) passes."""
        while True:
            complete, message = self._take_message()
            if complete:
                return message
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("deadline passed while waiting for the peer")
                self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(self._wanted())
            except TimeoutError:
                raise TimeoutError("deadline passed while waiting for the peer") from None
            if not self._absorb(chunk):
                return None

    async def recv_async(self, loop: asyncio.AbstractEventLoop) -> JSON | None:
        """`recv` for an event loop (the socket must be non-blocking); the caller bounds the wait."""
        while True:
            complete, message = self._take_message()
            if complete:
                return message
            if not self._absorb(await loop.sock_recv(self.sock, self._wanted())):
                return None

    async def send_async(self, loop: asyncio.AbstractEventLoop, data: bytes) -> None:
        await loop.sock_sendall(self.sock, data)

    def close(self) -> None:
        self.sock.close()

    def _take_message(self) -> tuple[bool, JSON]:
        buffer = self._buffer
        if len(buffer) < _HEADER.size:
            return False, None
        (size,) = _HEADER.unpack_from(buffer)
        if size > MAX_MESSAGE_BYTES:
            raise MessageTooLarge(f"peer announced a message of {size} bytes")
        end = _HEADER.size + size
        if len(buffer) < end:
            return False, None
        body = bytes(buffer[_HEADER.size : end])
        del buffer[:end]
        try:
            return True, json.loads(body)
        except ValueError as exc:
            raise ProtocolError(f"message is not JSON: {exc}") from None

    def _wanted(self) -> int:
        buffer = self._buffer
        if len(buffer) < _HEADER.size:
            return _CHUNK
        (size,) = _HEADER.unpack_from(buffer)
        return max(_CHUNK, _HEADER.size + size - len(buffer))

    def _absorb(self, chunk: bytes) -> bool:
        """Append received bytes; False at a clean end of stream, `ProtocolError` inside a message."""
        if not chunk:
            if self._buffer:
                raise ProtocolError("stream ended inside a message")
            return False
        self._buffer += chunk
        return True
