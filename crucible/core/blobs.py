"""Blob store: named byte streams (uploaded code, models, outputs, checkpoints).

The local directory store is the default. Keys are relative POSIX paths chosen by the caller;
they are checked so no key can escape the store's root.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

CHUNK_SIZE = 1024 * 1024


class BlobNotFound(KeyError):
    pass


class BlobStore(Protocol):
    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int: ...
    def put_bytes(self, key: str, data: bytes) -> int: ...
    def open(self, key: str) -> BinaryIO: ...
    def iter_chunks(self, key: str) -> Iterator[bytes]: ...
    def size(self, key: str) -> int: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def delete_prefix(self, prefix: str) -> None: ...
    def local_path(self, key: str) -> Path: ...


def check_key(key: str) -> PurePosixPath:
    path = PurePosixPath(key)
    if not key or path.is_absolute() or ".." in path.parts or "\\" in key or "\0" in key:
        raise ValueError(f"invalid blob key: {key!r}")
    return path


class LocalBlobStore:
    """Blobs as files under one directory; writes go to a temporary file then rename, so a reader
    never sees a half-written blob."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def local_path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).parts)

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        target = self.local_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                    size += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size

    def put_bytes(self, key: str, data: bytes) -> int:
        return self.put_stream(key, [data])

    def open(self, key: str) -> BinaryIO:
        try:
            return self.local_path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError) as error:
            raise BlobNotFound(key) from error

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        with self.open(key) as handle:
            while chunk := handle.read(CHUNK_SIZE):
                yield chunk

    def size(self, key: str) -> int:
        try:
            return self.local_path(key).stat().st_size
        except FileNotFoundError as error:
            raise BlobNotFound(key) from error

    def exists(self, key: str) -> bool:
        return self.local_path(key).is_file()

    def delete(self, key: str) -> None:
        self.local_path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self.local_path(prefix), ignore_errors=True)
