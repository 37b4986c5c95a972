"""`crucible worker`: a pull-based Morpheo worker (spec §4.7).

The original orchestrator pushed ready tasks to a compute API that queued them on NSQ for Docker
workers. Here any number of workers poll the public HTTP API with ordinary credentials: list ready
tasks, claim one (exactly one claimant wins), run it through the shared executor, report. A worker
needs no other access to the server; a worker that dies loses nothing (the claim's lease expires).
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import tempfile
import time
import uuid as uuid_module
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from crucible.core.executor import LocalExecutor
from crucible.core.executor.runs import Executor
from crucible.dialects.morpheo.worker_tasks import (
    StepFailed,
    TaskContext,
    remove_task_dir,
    run_learn,
    run_predict,
)

log = logging.getLogger(__name__)

HTTP_TIMEOUT_S = 300.0
REPORT_ATTEMPTS = 5
DOWNLOAD_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class WorkerConfig:
    url: str
    user: str
    password: str
    worker_id: str
    work_dir: Path
    poll_interval: float = 5.0
    learn_timeout: float = 1200.0
    predict_timeout: float = 1200.0
    kinds: frozenset[str] = frozenset({"learn", "predict"})
    once: bool = False
    keep_task_dirs: bool = False
    max_extract_bytes: int = 4 * 1024**3


class ServerClient:
    """The worker's side of the wire: orchestrator calls and storage transfers, all streaming."""

    def __init__(self, config: WorkerConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.http = httpx.Client(
            base_url=config.url.rstrip("/"),
            auth=(config.user, config.password),
            timeout=HTTP_TIMEOUT_S,
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    # --- orchestrator ---------------------------------------------------------------------------

    def list_ready(self, collection: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/{collection}", params={"status": "todo"})
        response.raise_for_status()
        return list(response.json()[f"{collection}s"])

    def claim(self, collection: str, uuid: str, worker: str) -> bool:
        response = self.http.post(f"/worker/{collection}/{uuid}", json={"worker": worker})
        if response.status_code in (400, 404):
            return False  # lost the race, or the task is gone
        response.raise_for_status()
        return True

    def report(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(path, json=body)

    # --- storage ------------------------------------------------------------------------------

    def download(self, kind: str, uuid: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with self.http.stream("GET", f"/storage/{kind}/{uuid}/blob") as response:
            if response.status_code in (400, 404):
                raise StepFailed("download", f"{kind} {uuid} not found")
            response.raise_for_status()
            with target.open("wb") as handle:
                for chunk in response.iter_bytes(DOWNLOAD_CHUNK):
                    handle.write(chunk)

    def metadata(self, kind: str, uuid: str) -> dict[str, Any]:
        response = self.http.get(f"/storage/{kind}/{uuid}")
        if response.status_code in (400, 404):
            raise StepFailed("download", f"{kind} {uuid} not found")
        response.raise_for_status()
        return dict(response.json())

    def _post_file(self, path: str, source: Path) -> httpx.Response:
        with source.open("rb") as handle:
            return self.http.post(path, content=iter(lambda: handle.read(DOWNLOAD_CHUNK), b""))

    def upload_model(self, uuid: str, algo: str, source: Path) -> None:
        """Store the model under the task's `model_end`. A 409 means an earlier attempt of this task
        uploaded before dying: identical bytes are fine, different ones replace that orphan."""
        path = f"/storage/model?uuid={uuid}&algo={algo}"
        response = self._post_file(path, source)
        if response.status_code == 409:
            log.warning("model %s is already stored (an earlier attempt of this task uploaded it)", uuid)
            if self._stored_digest("model", uuid) == _file_digest(source):
                return
            response = self._post_file(path + "&replace=orphan", source)
        if response.status_code != 201:
            raise StepFailed("upload", f"model {uuid}: HTTP {response.status_code} {response.text[:500]}")

    def upload_prediction(self, source: Path) -> str:
        size = source.stat().st_size
        with source.open("rb") as handle:
            response = self.http.post(
                "/storage/prediction",
                data={"size": str(size)},
                files={"blob": ("prediction.tar.gz", handle, "application/octet-stream")},
            )
        if response.status_code != 201:
            raise StepFailed("upload", f"prediction: HTTP {response.status_code} {response.text[:500]}")
        return str(response.json()["uuid"])

    def _stored_digest(self, kind: str, uuid: str) -> str:
        digest = hashlib.sha256()
        with self.http.stream("GET", f"/storage/{kind}/{uuid}/blob") as response:
            response.raise_for_status()
            for chunk in response.iter_bytes(DOWNLOAD_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(DOWNLOAD_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Candidate:
    collection: str  # "learnuplet" or "preduplet"
    document: dict[str, Any]


class Worker:
    def __init__(
        self, config: WorkerConfig, client: ServerClient | None = None, executor: Executor | None = None
    ) -> None:
        self.config = config
        self.client = client or ServerClient(config)
        # The shared executor, local flavour; one step at a time per worker. No server variables are
        # passed through (server_env={}): an entrypoint sees only the environment the task builds.
        self.executor = executor or LocalExecutor(max_concurrent=1, stop_grace_s=10.0, server_env={})
        self.path = os.environ.get("PATH", os.defpath)

    def close(self) -> None:
        self.executor.close()
        self.client.close()

    def run(self) -> int:
        """Poll until stopped; with `once`, return 0 when a poll finds nothing claimable (1 when the
        poll itself failed)."""
        log.info("morpheo worker %s polling %s", self.config.worker_id, self.config.url)
        while True:
            try:
                worked = self.poll_once()
            except httpx.HTTPError as error:  # server down, bad credentials: not "nothing to do"
                log.warning("poll failed: %s", error)
                if self.config.once:
                    return 1
                worked = False
            if not worked:
                if self.config.once:
                    return 0
                time.sleep(self.config.poll_interval)

    def candidates(self) -> list[Candidate]:
        found: list[Candidate] = []
        if "predict" in self.config.kinds:
            preduplets = self.client.list_ready("preduplet")
            preduplets.sort(key=lambda doc: (doc["timestamp_request"], doc["uuid"]))
            found += [Candidate("preduplet", doc) for doc in preduplets]
        if "learn" in self.config.kinds:
            learnuplets = [
                doc for doc in self.client.list_ready("learnuplet") if doc["model_start"] is not None
            ]
            learnuplets.sort(key=lambda doc: (doc["timestamp_creation"], doc["rank"], doc["uuid"]))
            found += [Candidate("learnuplet", doc) for doc in learnuplets]
        return found

    def poll_once(self) -> bool:
        """Claim the first ready task this worker wins and run it; False when nothing was claimable."""
        for candidate in self.candidates():
            if self.client.claim(candidate.collection, candidate.document["uuid"], self.config.worker_id):
                self.execute(candidate)
                return True
        return False

    def execute(self, candidate: Candidate) -> None:
        document = candidate.document
        learn = candidate.collection == "learnuplet"
        kind = "learn" if learn else "predict"
        task_dir = self.config.work_dir / f"{'learn' if learn else 'pred'}-{document['uuid']}"
        remove_task_dir(task_dir)
        context = TaskContext(
            storage=self.client,
            executor=self.executor,
            task_dir=task_dir,
            kind=kind,
            uuid=document["uuid"],
            timeout_s=self.config.learn_timeout if learn else self.config.predict_timeout,
            max_extract_bytes=self.config.max_extract_bytes,
            path=self.path,
        )
        report_path = f"/{'learndone' if learn else 'preddone'}/{document['uuid']}"
        log.info("running %s %s", candidate.collection, document["uuid"])
        try:
            body = run_learn(context, document) if learn else run_predict(context, document)
        except StepFailed as failure:
            log.warning("%s %s failed: %s", candidate.collection, document["uuid"], failure)
            body = {"status": "failed", "error": str(failure)}
        except Exception as error:  # a bug or an unexpected server answer: still report it
            log.exception("%s %s crashed", candidate.collection, document["uuid"])
            body = {"status": "failed", "error": f"worker: {error}"}
        finally:
            if not self.config.keep_task_dirs:
                remove_task_dir(task_dir)
        self.report(report_path, {**body, "worker": self.config.worker_id})

    def report(self, path: str, body: dict[str, Any]) -> None:
        """Post the result; transport errors and 5xx are retried with backoff, then lease expiry
        takes over. A 4xx is the server's final word (logged)."""
        for attempt in range(REPORT_ATTEMPTS):
            try:
                response = self.client.report(path, body)
                if response.status_code < 500:
                    if response.status_code != 200:
                        log.warning("report %s answered %s: %s", path, response.status_code, response.text)
                    return
            except httpx.HTTPError as error:
                log.warning("report %s failed: %s", path, error)
            time.sleep(min(30.0, 0.5 * 2**attempt) * (0.5 + random.random()))
        log.error("giving up reporting %s; the task's lease will expire", path)


def default_worker_id() -> str:
    return str(uuid_module.uuid4())


def default_work_dir() -> Path:
    return Path(tempfile.gettempdir()) / "crucible-morpheo-worker"
