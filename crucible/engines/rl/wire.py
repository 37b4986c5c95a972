"""Frames between an API worker and a trainer process on a local TCP socket.

A frame is a 4-byte big-endian length followed by a pickled Python object. Pickle is safe here
only because the first frame on every connection must carry the trainer's random token (handed to
it on its standard input); the trainer closes connections that do not, before unpickling anything
else. The socket listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME = 512 * 1024 * 1024


def encode(message: Any) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


class FrameError(ConnectionError):
    pass


def _receive_exactly(connection: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = connection.recv(min(size, 1 << 20))
        if not chunk:
            raise FrameError("connection closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def receive_raw(connection: socket.socket) -> bytes:
    (size,) = HEADER.unpack(_receive_exactly(connection, HEADER.size))
    if size > MAX_FRAME:
        raise FrameError("frame too large")
    return _receive_exactly(connection, size)


def receive(connection: socket.socket) -> Any:
    return pickle.loads(receive_raw(connection))


def send(connection: socket.socket, message: Any) -> None:
    connection.sendall(encode(message))


async def receive_async(reader: asyncio.StreamReader) -> Any:
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    if size > MAX_FRAME:
        raise FrameError("frame too large")
    return pickle.loads(await reader.readexactly(size))
