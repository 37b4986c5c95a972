"""Safe extraction and packing of the gzip tar archives workers handle (spec §4.8).

Workflows and algos are archives of one directory with an `entrypoint` at its root; models and
predictions are archives of plain files. Archives come from other users of the server, so extraction
refuses absolute names, `..`, links, devices and more than a configured number of bytes (the
`filter="data"` rules of Python's tarfile, checked up front so nothing is half-extracted).
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from pathlib import Path, PurePosixPath

ENTRYPOINT = "entrypoint"
DOCKER_ONLY = "Docker build contexts are not supported; add an executable 'entrypoint'"


class ArchiveError(Exception):
    """The archive cannot be used; the message says why (it becomes the task's error)."""


def _checked_members(archive: tarfile.TarFile, max_bytes: int) -> list[tarfile.TarInfo]:
    members = []
    total = 0
    for member in archive.getmembers():
        name = member.name
        while name.startswith("./"):
            name = name[2:]
        path = PurePosixPath(name)
        if name in ("", "."):
            continue
        if path.is_absolute() or ".." in path.parts:
            raise ArchiveError(f"unsafe member name {member.name!r}")
        if not (member.isfile() or member.isdir()):
            raise ArchiveError(f"member {member.name!r} is not a regular file or directory")
        total += member.size
        if total > max_bytes:
            raise ArchiveError(f"archive holds more than {max_bytes} bytes")
        member.name = name
        members.append(member)
    return members


def extract(archive_path: Path, target: Path, max_bytes: int) -> None:
    """Extract every member of a gzip tar archive under `target` (created if needed)."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive_path, mode="r:gz") as archive:
            members = _checked_members(archive, max_bytes)
            archive.extractall(target, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ArchiveError(f"not a readable tar.gz archive: {error}") from error


def extract_program(archive_path: Path, target: Path, max_bytes: int) -> Path:
    """Extract a workflow or algo archive to `target` and return the entrypoint (made executable).

    If the archive holds exactly one directory and nothing else, that directory is the root, so
    both `tar -czf a.tgz mydir` and `tar -C mydir -czf a.tgz .` work."""
    staging = target.with_name(target.name + ".extract")
    shutil.rmtree(staging, ignore_errors=True)
    extract(archive_path, staging, max_bytes)
    entries = list(staging.iterdir())
    root = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
    shutil.rmtree(target, ignore_errors=True)
    root.rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    entrypoint = target / ENTRYPOINT
    if not entrypoint.is_file():
        if (target / "Dockerfile").exists():
            raise ArchiveError(DOCKER_ONLY)
        raise ArchiveError(f"no '{ENTRYPOINT}' file at the archive root")
    mode = entrypoint.stat().st_mode
    entrypoint.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return entrypoint


def pack(source: Path, output: Path) -> None:
    """tar.gz of the contents of `source` (names relative to it), regular files and directories only."""
    with tarfile.open(output, mode="w:gz") as archive:
        for directory, subdirectories, files in os.walk(source):
            subdirectories.sort()
            base = Path(directory)
            for name in sorted(subdirectories) + sorted(files):
                path = base / name
                if path.is_symlink() or not (path.is_file() or path.is_dir()):
                    continue
                archive.add(path, arcname=str(path.relative_to(source)), recursive=False)
