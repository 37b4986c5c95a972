"""Ray executor: each run is one Ray job, submitted and followed through the dashboard's Jobs API.

The run id is the job's submission id, so a restarted server re-attaches by id and carries on
tailing. Ray runs the entrypoint on a cluster node with that node's environment: the server's
allow-listed variables and `python_bin_dir` (paths on the server) are not passed, only the run's
own `env`. Outputs must go to a filesystem the server and the nodes share.
"""

from __future__ import annotations

import logging
import re
import shlex
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

import httpx

from crucible.core.executor.queueing import ActiveRun, Outcome, QueueingExecutor
from crucible.core.executor.ray_jobs_api import (
    TERMINAL_STATUSES,
    PackageTooLarge,
    RayJobsClient,
    RayJobsError,
    package_directory,
)
from crucible.core.executor.runs import LogLine, Logs, Running, RunSpec, RunState

logger = logging.getLogger(__name__)

TRACEBACK_LINES = 20


class RayExecutor(QueueingExecutor):
    """`address` is the dashboard's HTTP URL, e.g. `http://head:8265`.

    `stop_grace_s` is how often an unanswered stop is repeated: the SIGTERM-to-SIGKILL delay on the
    node is Ray's own (`RAY_JOB_STOP_WAIT_TIME_S` on the cluster, 3 s by default). If the dashboard
    cannot be reached for `unreachable_timeout_s`, a followed run ends failed.
    """

    def __init__(
        self,
        address: str,
        *,
        max_concurrent: int | None = None,
        stop_grace_s: float = 10.0,
        poll_interval_s: float = 0.5,
        unreachable_timeout_s: float = 300.0,
        http_timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(max_concurrent=max_concurrent, stop_grace_s=stop_grace_s, name="ray-executor")
        self.poll_interval_s = poll_interval_s
        self.unreachable_timeout_s = unreachable_timeout_s
        self._client = RayJobsClient(address, timeout_s=http_timeout_s, transport=transport)

    def close(self, timeout: float | None = None) -> None:
        """Running jobs keep running on the cluster; a new executor re-attaches to them."""
        super().close(timeout)
        self._client.close()

    # --- QueueingExecutor hooks -----------------------------------------------------------------

    def _execute(self, run: ActiveRun) -> Outcome | None:
        spec = run.spec
        assert spec is not None
        if not spec.working_dir.is_dir():
            return Outcome(RunState.FAILED, f"Working directory {spec.working_dir} does not exist")
        try:
            spec.outputs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            return Outcome(RunState.FAILED, f"Cannot create outputs directory: {error}")
        try:
            package_uri = self._upload(spec.working_dir)
        except (RayJobsError, httpx.HTTPError, OSError, PackageTooLarge) as error:
            return Outcome(RunState.FAILED, f"Could not upload the working directory to Ray: {error}")
        # A close() from here on still submits: the next server re-attaches by id (see _follow).
        if run.stop_requested.is_set():
            return Outcome(RunState.STOPPED, "Stopped before it started")
        request = job_request(spec, package_uri)
        try:
            self._client.submit_job(request)
        except (RayJobsError, httpx.HTTPError) as error:
            # A lost answer to an accepted submission looks like this too: adopt the job if it is ours.
            if not self._is_our_job(spec.run_id, request["entrypoint"]):
                return Outcome(RunState.FAILED, f"Ray job submission failed: {error}")
        return self._follow(run, spec.run_id, lines_seen=0)

    def _reattach(self, run: ActiveRun, handle: str, lines_seen: int) -> Outcome | None:
        return self._follow(run, handle, lines_seen)

    def _request_stop(self, run: ActiveRun) -> None:
        """The run's thread sends the stop call, so stop() never waits on the network."""
        run.wake.set()

    def _shutdown(self, runs: list[ActiveRun]) -> None:
        """Nothing to do: the run threads see `shutting_down` and detach."""

    # --- internals ------------------------------------------------------------------------------

    def _upload(self, working_dir: Path) -> str:
        with tempfile.TemporaryDirectory(prefix="crucible-ray-pkg-") as scratch:
            target = Path(scratch) / "package.zip"
            uri = package_directory(working_dir, target)
            if not self._client.package_exists(uri):
                self._client.upload_package(uri, target)
        return uri

    def _is_our_job(self, submission_id: str, entrypoint: str) -> bool:
        try:
            job = self._client.job(submission_id)
        except (RayJobsError, httpx.HTTPError):
            return False
        return job is not None and job.get("entrypoint") == entrypoint

    def _follow(self, run: ActiveRun, submission_id: str, lines_seen: int) -> Outcome | None:
        """Poll status and logs until the job is done; forward logs; send stop when asked."""
        tail = _LogTail(skip_lines=lines_seen)
        recent: deque[str] = deque(maxlen=TRACEBACK_LINES)
        running_reported = False
        stop_sent_at: float | None = None
        last_contact = time.monotonic()
        while True:
            if run.shutting_down.is_set():
                return None
            now = time.monotonic()
            if run.stop_requested.is_set() and (
                stop_sent_at is None or now - stop_sent_at >= self.stop_grace_s
            ):
                stop_sent_at = now
                try:
                    self._client.stop_job(submission_id)
                except (RayJobsError, httpx.HTTPError) as error:
                    logger.warning("stopping Ray job %s failed (will retry): %s", submission_id, error)
            try:
                job = self._client.job(submission_id)
            except (RayJobsError, httpx.HTTPError) as error:
                if now - last_contact > self.unreachable_timeout_s:
                    return Outcome(
                        RunState.FAILED,
                        f"Ray dashboard unreachable for {self.unreachable_timeout_s:g} s: {error}",
                    )
                self._pause(run)
                continue
            last_contact = now
            if job is None:
                return Outcome(RunState.FAILED, f"Ray job {submission_id} does not exist")
            status = str(job.get("status"))
            done = status in TERMINAL_STATUSES
            if not running_reported and (status == "RUNNING" or job.get("driver_exit_code") is not None):
                running_reported = True
                self._set_state(run, RunState.RUNNING)
                self._emit(run, running_event(run.run_id, submission_id, job))
            try:
                lines = tail.feed(self._client.logs(submission_id), final=done)
            except (RayJobsError, httpx.HTTPError) as error:
                logger.warning("reading logs of Ray job %s failed: %s", submission_id, error)
                lines = []
            if lines:
                recent.extend(lines)
                self._emit(
                    run, Logs(run_id=run.run_id, lines=tuple(LogLine("output", line) for line in lines))
                )
            if done:
                return job_outcome(job, stop_requested=run.stop_requested.is_set(), recent_lines=list(recent))
            self._pause(run)

    def _pause(self, run: ActiveRun) -> None:
        run.wake.wait(self.poll_interval_s)
        run.wake.clear()


def job_request(spec: RunSpec, package_uri: str) -> dict[str, Any]:
    """The JobSubmitRequest for a run. With several steps each runs in its own `/bin/sh -c`, joined
    with `&&`, so a step's `;`, `||` or `cd` behaves as it does in the local executor."""
    if len(spec.steps) == 1:
        entrypoint = spec.steps[0]
    else:
        entrypoint = " && ".join(f"/bin/sh -c {shlex.quote(step)}" for step in spec.steps)
    request: dict[str, Any] = {
        "entrypoint": entrypoint,
        "submission_id": spec.run_id,
        "runtime_env": {"working_dir": package_uri, "env_vars": dict(spec.env)},
        "metadata": dict(spec.labels),
    }
    if spec.resources.cpus is not None:
        request["entrypoint_num_cpus"] = spec.resources.cpus
    if spec.resources.gpus is not None:
        request["entrypoint_num_gpus"] = spec.resources.gpus
    return request


def running_event(run_id: str, submission_id: str, job: dict[str, Any]) -> Running:
    driver = job.get("driver_info") or {}
    host = driver.get("node_ip_address") or job.get("driver_node_id") or ""
    pid = driver.get("pid")
    return Running(
        run_id=run_id,
        host=str(host),
        handle=submission_id,
        submission_id=submission_id,
        pid=int(pid) if isinstance(pid, int | str) and str(pid).isdigit() else None,
    )


def job_outcome(job: dict[str, Any], *, stop_requested: bool, recent_lines: list[str]) -> Outcome:
    """SUCCEEDED/FAILED/STOPPED to a generic outcome; a run we asked to stop is stopped whatever
    the race with its own exit gave."""
    status = job.get("status")
    code = job.get("driver_exit_code")
    exit_code = code if isinstance(code, int) else None
    message = ray_message(job.get("message"))
    if stop_requested or status == "STOPPED":
        return Outcome(RunState.STOPPED, message or "Stopped", exit_code)
    if status == "SUCCEEDED":
        return Outcome(RunState.SUCCEEDED, message or "Job finished successfully.", exit_code)
    return Outcome(RunState.FAILED, message or "Ray job failed", exit_code, "\n".join(recent_lines) or None)


def ray_message(message: object) -> str:
    """Ray's message, first line, without the log excerpt it appends on failure (the logs and the
    traceback already carry it)."""
    first = str(message or "").strip().split("\n", 1)[0]
    return re.sub(r",? last available logs.*$", "", first).strip()


class _LogTail:
    """Turns successive snapshots of a job's whole log into new lines."""

    def __init__(self, skip_lines: int = 0) -> None:
        self._consumed = 0
        self._skip = skip_lines

    def feed(self, text: str, *, final: bool) -> list[str]:
        if len(text) < self._consumed:  # the log was replaced: start over rather than lose lines
            self._consumed = 0
        fresh = text[self._consumed :]
        end = len(fresh) if final else fresh.rfind("\n") + 1
        if end <= 0:
            return []
        self._consumed += end
        lines = [line.removesuffix("\r") for line in fresh[:end].split("\n")]
        if lines and lines[-1] == "":
            lines.pop()
        if self._skip:
            skipped = min(self._skip, len(lines))
            self._skip -= skipped
            lines = lines[skipped:]
        return lines
