"""Code uploads, versions and downloads (spec §3.2, §4.8)."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest

from tests.dialects.polyaxon.conftest import PlxUser


def tarball(files: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra or []:
            archive.addfile(info)
    return buffer.getvalue()


def upload(user: PlxUser, data: bytes, field: str = "repo") -> Any:
    return user.put("/alice/proj/repo/upload/", files={field: ("repo.tar.gz", data, "application/gzip")})


@pytest.fixture
def proj(alice: PlxUser) -> dict[str, Any]:
    return alice.project()


def test_upload_versions_and_download(alice: PlxUser, proj: dict[str, Any]) -> None:
    assert alice.get("/alice/proj/repo/download").json() == {"detail": "Repo was not found"}
    first = upload(alice, tarball({"train.py": b"print(1)\n", "lib/util.py": b"x = 1\n"}))
    assert first.status_code == 200, first.text
    commit = first.json()["commit"]
    assert len(commit) == 40 and first.json()["has_code"] is True
    assert (
        upload(alice, tarball({"lib/util.py": b"x = 1\n", "train.py": b"print(1)\n"})).json()["commit"]
        == commit
    )
    assert alice.get("/alice/proj").json()["has_code"] is True
    experiment = alice.experiment()
    reference = alice.get(alice.path(experiment, "/coderef")).json()
    assert isinstance(reference.pop("id"), int)
    assert reference == {
        "commit": commit,
        "head": commit,
        "branch": "master",
        "git_url": None,
        "is_dirty": False,
    }
    second = upload(alice, tarball({"train.py": b"print(2)\n"}), field="code").json()["commit"]
    assert second != commit
    latest = alice.get("/alice/proj/repo/download/")
    assert latest.status_code == 200 and latest.headers["content-type"] == "application/gzip"
    assert latest.headers["x-polyaxon-content-length"] == str(len(latest.content))
    with tarfile.open(fileobj=io.BytesIO(latest.content), mode="r:gz") as archive:
        assert archive.getnames() == ["train.py"]
    older = alice.get("/alice/proj/repo/download", params={"commit": commit})
    with tarfile.open(fileobj=io.BytesIO(older.content), mode="r:gz") as archive:
        assert sorted(archive.getnames()) == ["lib/util.py", "train.py"]
    assert alice.get("/alice/proj/repo/download", params={"commit": "0" * 40}).status_code == 404


@pytest.mark.parametrize(
    "member",
    [
        ("../evil", tarfile.REGTYPE, ""),
        ("/etc/passwd", tarfile.REGTYPE, ""),
        ("link", tarfile.SYMTYPE, "../../outside"),
        ("abs-link", tarfile.SYMTYPE, "/etc/passwd"),
        ("fifo", tarfile.FIFOTYPE, ""),
        ("dev", tarfile.CHRTYPE, ""),
    ],
)
def test_unsafe_members_are_refused(
    alice: PlxUser, proj: dict[str, Any], member: tuple[str, bytes, str]
) -> None:
    name, kind, target = member
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    response = upload(alice, tarball({"ok.py": b""}, [info]))
    assert response.status_code == 400
    assert response.json() == {"detail": f"Unsafe path in archive: {name}"}
    assert alice.get("/alice/proj").json()["has_code"] is False


def test_bad_uploads(alice: PlxUser, proj: dict[str, Any], bob: PlxUser, services) -> None:  # type: ignore[no-untyped-def]
    assert upload(alice, b"not a tarball").status_code == 400
    assert alice.put("/alice/proj/repo/upload", data={"json": "{}"}).status_code == 400
    assert upload(bob, tarball({"a": b""})).status_code == 403
    services.settings.polyaxon_repo_max_upload_bytes = 10
    assert upload(alice, tarball({"a": b"x" * 1000})).status_code == 413
