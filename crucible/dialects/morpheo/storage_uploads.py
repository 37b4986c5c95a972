"""Streaming multipart parsing for storage uploads (spec §4.10), with the original's field rules.

The request is never held in memory: the `blob` part is written chunk by chunk to a spool file as it
arrives, while the small text fields before it are collected. Rules checked on the way:
only the fields allowed for the type; `size` (a positive integer, at most the configured maximum)
before `blob`; `blob` last; byte count equal to `size`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from crucible.dialects.morpheo.errors import StorageError

MAX_FIELD_BYTES = 64 * 1024
SIZE_MISMATCH = "size mismatch"


@dataclass
class Spool:
    """A temporary file receiving an upload, with its byte count and SHA-256."""

    path: Path
    handle: BinaryIO
    size: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)

    @classmethod
    def create(cls, directory: Path) -> Spool:
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=directory, prefix="upload-")
        return cls(Path(name), os.fdopen(fd, "wb"))

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.size += len(data)
        self.digest.update(data)

    def close(self) -> None:
        if not self.handle.closed:
            self.handle.close()

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


@dataclass
class Upload:
    fields: dict[str, str]
    spool: Spool


class _Parts:
    """Callbacks of python-multipart's parser: text fields in memory, the blob into the spool."""

    def __init__(self, allowed: frozenset[str], spool: Spool, max_bytes: int) -> None:
        self.allowed = allowed
        self.spool = spool
        self.max_bytes = max_bytes
        self.fields: dict[str, str] = {}
        self.pending_blob: list[bytes] = []  # written to the spool off the event loop
        self.expected_size: int | None = None
        self.blob_seen = False
        self.blob_done = False
        self._name: str | None = None
        self._header_field = b""
        self._header_value = b""
        self._value = bytearray()
        self._blob_bytes = 0

    # header callbacks
    def on_part_begin(self) -> None:
        if self.blob_done:
            raise StorageError(400, "Make sure that each form field is sent before blob")
        self._name = None
        self._value = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_field.strip().lower() == b"content-disposition":
            _, options = parse_options_header(self._header_value)
            self._name = options.get(b"name", b"").decode("utf-8", "replace")
        self._header_field = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        name = self._name or ""
        if name not in self.allowed:
            raise StorageError(400, f'Unknown field "{name}"')
        if name in self.fields or (name == "blob" and self.blob_seen):
            raise StorageError(400, f'Duplicate field "{name}"')
        if name == "blob":
            if self.expected_size is None:
                raise StorageError(400, "size must be sent before blob")
            self.blob_seen = True

    # body callbacks
    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._name == "blob":
            self._blob_bytes += end - start
            if self._blob_bytes > self.max_bytes:
                raise StorageError(413, "blob too large")
            if self._blob_bytes > (self.expected_size or 0):
                raise StorageError(400, SIZE_MISMATCH)
            self.pending_blob.append(bytes(data[start:end]))
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            raise StorageError(400, f'Field "{self._name}" is too long')

    def on_part_end(self) -> None:
        if self._name == "blob":
            self.blob_done = True
            return
        assert self._name is not None
        try:
            text = self._value.decode("utf-8")
        except UnicodeDecodeError as error:
            raise StorageError(400, f'Field "{self._name}" is not UTF-8') from error
        self.fields[self._name] = text
        if self._name == "size":
            self.expected_size = parse_size(text, self.max_bytes)


def parse_size(text: str, max_bytes: int) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise StorageError(400, "size must be a positive integer")
    size = int(text)
    if size > max_bytes:
        raise StorageError(413, "blob too large")
    return size


def boundary_of(content_type: str | None) -> bytes:
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise StorageError(400, "expected a multipart/form-data body")
    return boundary


async def receive_multipart(
    chunks: AsyncIterator[bytes],
    content_type: str | None,
    allowed: frozenset[str],
    spool_dir: Path,
    max_bytes: int,
) -> Upload:
    """Parse the whole request; on any error the spool file is removed and StorageError raised."""
    spool = Spool.create(spool_dir)
    try:
        parts = _Parts(allowed, spool, max_bytes)
        try:
            parser = MultipartParser(
                boundary_of(content_type),
                {
                    "on_part_begin": parts.on_part_begin,
                    "on_part_data": parts.on_part_data,
                    "on_part_end": parts.on_part_end,
                    "on_header_field": parts.on_header_field,
                    "on_header_value": parts.on_header_value,
                    "on_header_end": parts.on_header_end,
                    "on_headers_finished": parts.on_headers_finished,
                },
            )
        except ValueError as error:
            raise StorageError(400, "invalid multipart boundary") from error
        async for chunk in chunks:
            try:
                parser.write(chunk)
            except MultipartParseError as error:
                raise StorageError(400, f"invalid multipart body: {error}") from error
            if parts.pending_blob:
                data, parts.pending_blob = b"".join(parts.pending_blob), []
                await run_in_threadpool(spool.write, data)
        try:
            parser.finalize()
        except MultipartParseError as error:
            raise StorageError(400, f"invalid multipart body: {error}") from error
        if not parts.blob_done:
            raise StorageError(400, "missing blob")
        if spool.size != parts.expected_size:
            raise StorageError(400, SIZE_MISMATCH)
        spool.close()
        return Upload(parts.fields, spool)
    except BaseException:
        await run_in_threadpool(spool.discard)
        raise


async def receive_raw(chunks: AsyncIterator[bytes], spool_dir: Path, max_bytes: int) -> Spool:
    """A raw request body (model uploads) into a spool file."""
    spool = Spool.create(spool_dir)
    try:
        async for chunk in chunks:
            if spool.size + len(chunk) > max_bytes:
                raise StorageError(413, "blob too large")
            if chunk:
                await run_in_threadpool(spool.write, chunk)
        spool.close()
        if spool.size == 0:
            raise StorageError(400, "empty body")
        return spool
    except BaseException:
        await run_in_threadpool(spool.discard)
        raise
