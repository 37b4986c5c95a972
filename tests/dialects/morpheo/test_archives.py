"""Safe extraction of workflow, algo and model archives (spec §4.8)."""

from __future__ import annotations

import io
import os
import re
import tarfile
from pathlib import Path

import pytest

from crucible.dialects.morpheo.archives import DOCKER_ONLY, ArchiveError, extract, extract_program, pack
from tests.dialects.morpheo.digits import archive


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "archive.tar.gz"
    path.write_bytes(data)
    return path


def special_archive(member: tarfile.TarInfo, content: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.addfile(member, io.BytesIO(content) if content else None)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "layout", [{"top": "mydir"}, {"dot_prefix": True}, {}], ids=["one-directory", "dot-prefixed", "flat"]
)
def test_every_layout_gives_an_executable_entrypoint_at_the_root(tmp_path: Path, layout: dict) -> None:  # type: ignore[type-arg]
    data = archive({"entrypoint": b"#!/bin/sh\n", "lib/helper.py": b"x = 1\n"}, mode=0o644, **layout)
    entrypoint = extract_program(write(tmp_path, data), tmp_path / "algo", 10_000)
    assert entrypoint == tmp_path / "algo" / "entrypoint"
    assert os.access(entrypoint, os.X_OK)
    assert (tmp_path / "algo" / "lib" / "helper.py").read_text() == "x = 1\n"
    assert not (tmp_path / "algo.extract").exists()


def test_missing_entrypoint_and_docker_contexts(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match=re.escape(DOCKER_ONLY)):
        extract_program(write(tmp_path, archive({"Dockerfile": b"FROM x\n"})), tmp_path / "a", 10_000)
    with pytest.raises(ArchiveError, match="no 'entrypoint'"):
        extract_program(write(tmp_path, archive({"main.py": b""})), tmp_path / "b", 10_000)


@pytest.mark.parametrize(
    "member",
    [
        tarfile.TarInfo("/etc/evil"),
        tarfile.TarInfo("../evil"),
        tarfile.TarInfo("a/../../evil"),
    ],
    ids=["absolute", "parent", "nested-parent"],
)
def test_unsafe_names_are_refused(tmp_path: Path, member: tarfile.TarInfo) -> None:
    member.size = 1
    with pytest.raises(ArchiveError, match="unsafe member name"):
        extract(write(tmp_path, special_archive(member, b"x")), tmp_path / "out", 10_000)
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE])
def test_links_and_devices_are_refused(tmp_path: Path, kind: bytes) -> None:
    member = tarfile.TarInfo("entrypoint")
    member.type = kind
    member.linkname = "/etc/passwd"
    with pytest.raises(ArchiveError, match="not a regular file or directory"):
        extract(write(tmp_path, special_archive(member)), tmp_path / "out", 10_000)


def test_size_limit_and_garbage(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="more than 10 bytes"):
        extract(write(tmp_path, archive({"entrypoint": b"x" * 11})), tmp_path / "out", 10)
    with pytest.raises(ArchiveError, match=r"not a readable tar\.gz"):
        extract(write(tmp_path, b"not an archive"), tmp_path / "out", 10)


def test_pack_keeps_relative_regular_files_only(tmp_path: Path) -> None:
    source = tmp_path / "model"
    (source / "sub").mkdir(parents=True)
    (source / "model.pkl").write_bytes(b"m")
    (source / "sub" / "state.json").write_text("{}")
    (source / "link").symlink_to(source / "model.pkl")
    output = tmp_path / "model.tar.gz"
    pack(source, output)
    with tarfile.open(output) as tar:
        assert sorted(tar.getnames()) == ["model.pkl", "sub", "sub/state.json"]
    extract(output, tmp_path / "back", 1000)
    assert (tmp_path / "back" / "model.pkl").read_bytes() == b"m"
