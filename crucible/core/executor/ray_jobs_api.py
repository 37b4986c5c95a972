"""The slice of Ray's dashboard REST API the executor uses: Jobs and working-directory packages.

The server talks to Ray only over HTTP, so it never needs the `ray` package (nor its version to
match the cluster's). Wire facts, from Ray 2.x's dashboard job module:
- `GET /api/packages/gcs/<name>` answers 200 if the package exists (and pins it for a while), 404 if not;
  `PUT /api/packages/gcs/<name>` stores the raw zip body. A package is referred to as `gcs://<name>`;
  the name is `_ray_pkg_<hex>.zip`, content-addressed by the uploader. The zip holds the directory's
  contents at its root (no enclosing folder); GCS refuses packages of 512 MiB or more.
- `POST /api/jobs/` takes JobSubmitRequest JSON and answers `{"submission_id": ...}`; a reused
  submission id is refused (with a 500 whose text says "already exists").
- `GET /api/jobs/<id>` gives JobDetails (`status`, `message`, `driver_exit_code`, `driver_info`,
  `driver_node_id`, ...), 404 for an unknown id; `GET /api/jobs/<id>/logs` gives `{"logs": <whole
  driver log>}` (stdout and stderr merged); `POST /api/jobs/<id>/stop` gives `{"stopped": bool}`.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from pathlib import Path
from typing import Any

import httpx

PACKAGE_PREFIX = "_ray_pkg_"
MAX_PACKAGE_BYTES = 500 * 1024 * 1024  # under GCS's 512 MiB message limit
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same tree always gives the same package


class RayJobsError(Exception):
    def __init__(self, what: str, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.text = response.text
        last_line = next((line for line in reversed(self.text.strip().splitlines()) if line.strip()), "")
        super().__init__(f"{what}: HTTP {response.status_code} {last_line}".rstrip())


class PackageTooLarge(Exception):
    pass


def package_directory(directory: Path, target: Path) -> str:
    """Zip the contents of `directory` into `target` and return the package's `gcs://` URI.

    Entries are sorted and dated 1980 so identical trees give identical bytes, hence the same URI,
    and an unchanged working copy is uploaded once. File modes are kept (executable scripts).
    Symlinks to files are stored as those files; dangling links and linked directories are skipped.
    """
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for root, dirnames, filenames in os.walk(directory):
            dirnames.sort()
            root_path = Path(root)
            relative_root = root_path.relative_to(directory)
            if not dirnames and not filenames and root_path != directory:
                info = zipfile.ZipInfo(f"{relative_root.as_posix()}/", _ZIP_EPOCH)
                info.external_attr = (stat.S_IFDIR | 0o755) << 16
                archive.writestr(info, b"")
            for name in sorted(filenames):
                path = root_path / name
                try:
                    mode = path.stat().st_mode
                except FileNotFoundError:
                    continue
                if not stat.S_ISREG(mode):
                    continue
                info = zipfile.ZipInfo((relative_root / name).as_posix(), _ZIP_EPOCH)
                info.external_attr = (mode & 0xFFFF) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with path.open("rb") as source, archive.open(info, "w") as sink:
                    while chunk := source.read(1024 * 1024):
                        sink.write(chunk)
    size = target.stat().st_size
    if size >= MAX_PACKAGE_BYTES:
        raise PackageTooLarge(
            f"working directory packs to {size} bytes; Ray accepts less than {MAX_PACKAGE_BYTES}"
        )
    digest = hashlib.sha1(usedforsecurity=False)
    with target.open("rb") as packed:
        while chunk := packed.read(1024 * 1024):
            digest.update(chunk)
    return f"gcs://{PACKAGE_PREFIX}{digest.hexdigest()}.zip"


class RayJobsClient:
    """Synchronous on purpose: it is only used from the executor's own threads."""

    def __init__(
        self, address: str, *, timeout_s: float = 30.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.address = address.rstrip("/")
        self._http = httpx.Client(base_url=self.address, timeout=timeout_s, transport=transport)

    def close(self) -> None:
        self._http.close()

    def package_exists(self, uri: str) -> bool:
        response = self._http.get(_package_path(uri))
        if response.status_code == 404:
            return False
        _check(response, "checking package")
        return True

    def upload_package(self, uri: str, path: Path) -> None:
        with path.open("rb") as body:
            response = self._http.put(
                _package_path(uri), content=body.read(), headers={"Content-Type": "application/zip"}
            )
        _check(response, "uploading package")

    def submit_job(self, request: dict[str, Any]) -> str:
        response = self._http.post("/api/jobs/", json=request)
        _check(response, "submitting job")
        return str(response.json()["submission_id"])

    def job(self, submission_id: str) -> dict[str, Any] | None:
        response = self._http.get(f"/api/jobs/{submission_id}")
        if response.status_code == 404:
            return None
        _check(response, "reading job")
        return dict(response.json())

    def logs(self, submission_id: str) -> str:
        response = self._http.get(f"/api/jobs/{submission_id}/logs")
        _check(response, "reading job logs")
        return str(response.json().get("logs") or "")

    def stop_job(self, submission_id: str) -> bool:
        response = self._http.post(f"/api/jobs/{submission_id}/stop")
        _check(response, "stopping job")
        return bool(response.json().get("stopped"))


def _package_path(uri: str) -> str:
    protocol, separator, name = uri.partition("://")
    if not separator or "/" in name:
        raise ValueError(f"not a package URI: {uri!r}")
    return f"/api/packages/{protocol}/{name}"


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code != 200:
        raise RayJobsError(what, response)
