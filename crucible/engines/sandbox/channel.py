"""Length-prefixed JSON messages over a stream socket: the only format that crosses a process boundary.

JSON (NaN and infinities allowed) keeps the server from ever unpickling child data; the 16 MiB cap
bounds what a hostile worker can make the server buffer.
"""

from __future__ import annotations

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
        header = self._read_exactly(_HEADER.size, deadline)
        if header is None:
            return None
        (size,) = _HEADER.unpack(header)
        if size > MAX_MESSAGE_BYTES:
            raise MessageTooLarge(f"peer announced a message of {size} bytes")
        body = self._read_exactly(size, deadline)
        if body is None:
            raise ProtocolError("stream ended inside a message")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise ProtocolError(f"message is not JSON: {exc}") from None

    def close(self) -> None:
        self.sock.close()

    def _read_exactly(self, size: int, deadline: float | None) -> bytes | None:
        buffer = self._buffer
        while len(buffer) < size:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("deadline passed while waiting for the peer")
                self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(max(_CHUNK, size - len(buffer)))
            except TimeoutError:
                raise TimeoutError("deadline passed while waiting for the peer") from None
            if not chunk:
                if buffer:
                    raise ProtocolError("stream ended inside a message")
                return None
            buffer += chunk
        data = bytes(buffer[:size])
        del buffer[:size]
        return data
