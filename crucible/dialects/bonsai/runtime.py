"""What a server process keeps alive for Bonsai: one trainer process per training version, the
simulators connected to each brain, and the persistence of training progress (spec §4.8.4–§4.8.7).

The request handlers and websockets find a training version's `RunningVersion` here and send
simulator events to its trainer through it; the trainer's progress events come back through the
`ProgressRecorder`, which stores them (metrics store, version row, checkpoints) in batches from a
worker thread and then tells status subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from crucible.core import metrics
from crucible.core.accounts import User
from crucible.core.db import utcnow
from crucible.core.services import Services
from crucible.dialects.bonsai import brains
from crucible.dialects.bonsai.events import LogBook, StateFeed, StatusEvents, rfc3339
from crucible.dialects.bonsai.inkling import Curriculum, PayloadCodec, acknowledge_descriptors
from crucible.dialects.bonsai.models import Brain, Checkpoint, Version
from crucible.dialects.bonsai.plans import training_plan
from crucible.engines.rl.plan import TrainingPlan
from crucible.engines.rl.spaces import Spaces
from crucible.engines.rl.trainer_client import TrainerClient, TrainerUnavailable

log = logging.getLogger("crucible.bonsai")

FLUSH_SECONDS = 0.25
STOP_TIMEOUT_SECONDS = 30.0
CRASH_WINDOW_SECONDS = 600.0
KEEP_LATEST_CHECKPOINTS = 3


def version_stream_ref(version_id: int) -> str:
    return str(version_id)


@dataclass
class BrainProgram:
    """What sockets need from a version's compiled Inkling: names, spaces, codecs and descriptors."""

    curriculum: Curriculum
    plan: TrainingPlan
    spaces: Spaces
    config_codec: PayloadCodec
    state_codec: PayloadCodec
    action_codec: PayloadCodec
    descriptors: tuple[Any, Any, Any]

    @property
    def simulator_name(self) -> str:
        return self.curriculum.simulator.name

    @property
    def objective(self) -> str:
        return self.curriculum.objective

    @property
    def concept(self) -> str:
        return self.curriculum.concept.name

    @classmethod
    def build(cls, curriculum: Curriculum, services: Services) -> BrainProgram:
        plan = training_plan(curriculum, services.settings)
        return cls(
            curriculum=curriculum,
            plan=plan,
            spaces=Spaces(plan.spaces),
            config_codec=PayloadCodec(curriculum.config_schema),
            state_codec=PayloadCodec(curriculum.state_schema),
            action_codec=PayloadCodec(curriculum.action_schema),
            descriptors=acknowledge_descriptors(curriculum.simulator),
        )


@dataclass
class SimConnection:
    sim_id: int
    version: int
    mode: str  # "training" | "prediction"
    simulator: str
    connected_at: datetime = field(default_factory=utcnow)
    episode: int = 0
    iteration: int = 0
    disconnected_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "sim_id": self.sim_id,
            "version": self.version,
            "mode": self.mode,
            "episode": self.episode,
            "iteration": self.iteration,
            "connected_at": rfc3339(self.connected_at),
        }
        if self.disconnected_at is not None:
            body["disconnected_at"] = rfc3339(self.disconnected_at)
        return body


class SimRegistry:
    """Connected simulators per brain, and the last 10 disconnected ones."""

    def __init__(self) -> None:
        self.active: dict[int, dict[int, SimConnection]] = {}
        self.inactive: dict[int, deque[SimConnection]] = {}
        self._live_ids: set[int] = set()

    def new_sim_id(self) -> int:
        while True:
            sim_id = random.randint(65536, 2**32 - 1)
            if sim_id not in self._live_ids:
                self._live_ids.add(sim_id)
                return sim_id

    def release_sim_id(self, sim_id: int) -> None:
        self._live_ids.discard(sim_id)

    def connect(self, brain_id: int, connection: SimConnection) -> None:
        self.active.setdefault(brain_id, {})[connection.sim_id] = connection

    def disconnect(self, brain_id: int, sim_id: int) -> None:
        connection = self.active.get(brain_id, {}).pop(sim_id, None)
        self.release_sim_id(sim_id)
        if connection is not None:
            connection.disconnected_at = utcnow()
            self.inactive.setdefault(brain_id, deque(maxlen=10)).appendleft(connection)

    def count(self, brain_id: int) -> int:
        return len(self.active.get(brain_id, {}))

    def training_count(self, brain_id: int) -> int:
        return sum(1 for item in self.active.get(brain_id, {}).values() if item.mode == "training")

    def oldest_training_sim(self, brain_id: int, version: int) -> int | None:
        candidates = [
            item
            for item in self.active.get(brain_id, {}).values()
            if item.mode == "training" and item.version == version
        ]
        return min(candidates, key=lambda item: item.connected_at).sim_id if candidates else None

    def forget(self, brain_id: int) -> None:
        self.active.pop(brain_id, None)
        self.inactive.pop(brain_id, None)


class RunningVersion:
    """A version that is Starting or In Progress in this process, with its trainer."""

    def __init__(
        self, version_id: int, brain_id: int, number: int, owner: str, brain_name: str, program: BrainProgram
    ) -> None:
        self.version_id = version_id
        self.brain_id = brain_id
        self.number = number
        self.owner = owner
        self.brain_name = brain_name
        self.program = program
        self.client: TrainerClient | None = None
        self.ready = asyncio.Event()
        self.finished = asyncio.Event()  # stop, completion, deletion, error: FINISHED to every sim
        self.shutdown = asyncio.Event()  # graceful server shutdown: close sims with 1012
        self.stopping = False
        self.supervisor: asyncio.Task[None] | None = None
        self.state = "Starting"

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        await self.ready.wait()
        if self.client is None:
            raise TrainerUnavailable("no trainer")
        return await self.client.request(message)

    def send_nowait(self, message: dict[str, Any]) -> None:
        if self.client is not None and self.ready.is_set():
            self.client.send_nowait(message)


class ProgressRecorder:
    """Stores a version's progress events in batches, then publishes them (after commit)."""

    def __init__(self, runtime: BonsaiRuntime, running: RunningVersion) -> None:
        self.runtime = runtime
        self.running = running
        self._events: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def add(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        self._events.extend(events)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        # Events that arrive while a batch is being written are picked up by the next turn.
        while self._events:
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            events, self._events = self._events, []
            if events:
                await asyncio.to_thread(self.runtime.persist_events, self.running, events)


class BonsaiRuntime:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.db = services.db
        self.running: dict[int, RunningVersion] = {}
        self.recorders: dict[int, ProgressRecorder] = {}
        self.status_events = StatusEvents()
        self.logs = LogBook(services.db)
        self.state_feed = StateFeed()
        self.sims = SimRegistry()
        self.prediction_sockets: dict[int, set[asyncio.Event]] = {}  # brain id -> "deleted" events
        self._policies: dict[str, Any] = {}
        self._log_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closing = False

    def spawn(self, coroutine: Any) -> None:
        """Run a coroutine in the background, keeping a reference until it ends."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def checkpoint_root(self) -> Path:
        return self.settings.data_dir / "bonsai" / "checkpoints"

    # --- server start and stop ---------------------------------------------------------------------

    async def startup(self) -> None:
        """Versions left training by a previous process are Stopped (and resumed when configured)."""
        logging.getLogger("crucible.bonsai.wire").setLevel(
            logging.DEBUG if self.settings.bonsai_debug_wire_log else logging.NOTSET
        )
        interrupted = await asyncio.to_thread(self._mark_interrupted)
        self._log_task = asyncio.create_task(self._flush_logs_forever(), name="bonsai-logs")
        if self.settings.bonsai_auto_resume:
            for version_id in interrupted:
                with contextlib.suppress(Exception):
                    await self.resume(version_id)

    def _mark_interrupted(self) -> list[int]:
        with self.db.write() as session:
            rows = list(session.scalars(select(Version).where(Version.state.in_(brains.TRAINING_STATES))))
            for version in rows:
                version.state = "Stopped"
                version.training_end = utcnow()
                version.trainer_address = None
        for version in rows:
            self.logs.write(version.id, 0, "server restarted")
        return [version.id for version in rows]

    async def shutdown(self) -> None:
        """Graceful shutdown: sims get 1012, trainers write a final checkpoint; states stay as they are
        (the next start marks them Stopped, or resumes them with auto-resume)."""
        self.closing = True
        for running in list(self.running.values()):
            running.shutdown.set()
            running.stopping = True
            if running.client is not None:
                with contextlib.suppress(Exception):
                    reply = await asyncio.wait_for(
                        running.client.request({"op": "stop"}), STOP_TIMEOUT_SECONDS
                    )
                    self.recorders[running.version_id].add(reply.get("events", []))
                running.client.kill()
            await self.recorders[running.version_id].flush()
        if self._log_task is not None:
            self._log_task.cancel()
        await asyncio.to_thread(self.logs.flush)

    async def _flush_logs_forever(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            try:
                await asyncio.to_thread(self.logs.flush)
            except Exception:
                log.exception("writing simulator log lines failed")

    # --- programs -----------------------------------------------------------------------------------

    def program_for_files(self, files: dict[str, bytes]) -> BrainProgram | None:
        compiled = brains.compile_files(files)
        if not compiled.success or compiled.program is None or compiled.program.curriculum is None:
            return None
        return BrainProgram.build(compiled.program.curriculum, self.services)

    def version_program(self, version: Version) -> BrainProgram | None:
        files = brains.read_file_rows(
            self.services.blobs, [item for item in version.files if item["path"].lower().endswith(".ink")]
        )
        return self.program_for_files(files)

    # --- training lifecycle -----------------------------------------------------------------------------

    async def start(self, version_id: int, *, resume: bool) -> None:
        """Launch the trainer of a version that the caller has set to Starting."""
        loaded = await asyncio.to_thread(self._load_for_start, version_id, resume)
        version, brain, owner, program, resume_from = loaded
        running = RunningVersion(version.id, brain.id, version.number, owner.username, brain.name, program)
        self.running[version.id] = running
        self.recorders[version.id] = ProgressRecorder(self, running)
        job = {
            "plan": program.plan.to_json(),
            "checkpoint_root": str(self.checkpoint_root / str(version.id)),
            "resume_from": resume_from,
            "progress_floor": {"episode": version.episode, "iteration": version.iteration},
            "torch_threads": self.settings.bonsai_torch_threads,
            "start_delay_s": self.settings.bonsai_trainer_start_delay_s,
        }
        running.supervisor = asyncio.create_task(
            self._supervise(running, job), name=f"bonsai-trainer-{version.id}"
        )

    def _load_for_start(
        self, version_id: int, resume: bool
    ) -> tuple[Version, Brain, User, BrainProgram, str | None]:
        with self.db.read() as session:
            version = session.get(Version, version_id)
            assert version is not None
            brain = session.get(Brain, version.brain_id)
            assert brain is not None
            owner = session.get(User, brain.owner_id)
            assert owner is not None
            latest = self._latest_checkpoint(session, version.id) if resume else None
        program = self.version_program(version)
        if program is None:
            raise RuntimeError("the version's Inkling does not compile")
        return version, brain, owner, program, latest.path if latest is not None else None

    def _latest_checkpoint(self, session: Any, version_id: int) -> Checkpoint | None:
        return session.scalar(
            select(Checkpoint)
            .where(Checkpoint.version_id == version_id, Checkpoint.kind == "latest")
            .order_by(Checkpoint.id.desc())
            .limit(1)
        )

    async def _supervise(self, running: RunningVersion, job: dict[str, Any]) -> None:
        """Start the trainer; restart it once after a crash; a second crash within 10 minutes is an Error."""
        while True:
            try:
                client, ready = await TrainerClient.start(job)
            except Exception as error:
                log.exception("trainer failed to start", extra={"version_id": running.version_id})
                await self._finish(running, "Error", f"trainer failed to start: {error}")
                return
            running.client = client
            self.recorders[running.version_id].add(ready.get("events", []))
            if running.stopping:
                client.kill()
                return
            await asyncio.to_thread(self._set_state, running, "In Progress", ready.get("status"))
            running.state = "In Progress"
            running.ready.set()
            self.status_events.publish(
                running.brain_id,
                {"type": "TRAINING_INITIALIZED"},
                {"type": "PROPERTY_CHANGED", "property": "status", "value": "In Progress"},
                {"type": "CONCEPT_CHANGED", "concept": running.program.concept, "state": "In Progress"},
            )
            code = await client.wait_exit()
            if running.stopping:
                return
            running.ready.clear()
            running.client = None
            log.warning("trainer exited unexpectedly", extra={"version_id": running.version_id, "code": code})
            crashed_again = await asyncio.to_thread(self._record_crash, running.version_id)
            if crashed_again:
                await self._finish(
                    running, "Error", f"trainer crashed twice within 10 minutes (exit code {code})"
                )
                return
            await self.recorders[running.version_id].flush()
            latest = await asyncio.to_thread(self._latest_checkpoint_path, running.version_id)
            job = job | {"resume_from": latest, "start_delay_s": 0}
            with self.db.read() as session:
                version = session.get(Version, running.version_id)
                if version is not None:
                    job["progress_floor"] = {"episode": version.episode, "iteration": version.iteration}

    def _latest_checkpoint_path(self, version_id: int) -> str | None:
        with self.db.read() as session:
            latest = self._latest_checkpoint(session, version_id)
            return latest.path if latest is not None else None

    def _record_crash(self, version_id: int) -> bool:
        now = time.time()
        with self.db.write() as session:
            version = session.get(Version, version_id)
            if version is None:
                return True
            recent = [moment for moment in (version.crash_times or []) if now - moment < CRASH_WINDOW_SECONDS]
            version.crash_times = [*recent, now]
            return bool(recent)

    def _set_state(self, running: RunningVersion, state: str, status: dict[str, Any] | None = None) -> None:
        with self.db.write() as session:
            version = session.get(Version, running.version_id)
            if version is None:
                return
            version.state = state
            if status:
                version.lesson = status.get("lesson") or version.lesson
            if state in ("Stopped", "Completed", "Error"):
                version.training_end = utcnow()
                version.trainer_address = None
            elif running.client is not None:
                version.trainer_address = running.client.address

    async def stop(self, version_id: int, state: str = "Stopped") -> None:
        """Stop a running version: final checkpoint (at most 30 s), then FINISHED to its sims."""
        running = self.running.get(version_id)
        if running is None:
            await asyncio.to_thread(self._set_state_by_id, version_id, state)
            return
        running.stopping = True
        if running.client is not None:
            try:
                reply = await asyncio.wait_for(running.client.request({"op": "stop"}), STOP_TIMEOUT_SECONDS)
                self.recorders[version_id].add(reply.get("events", []))
            except (TimeoutError, TrainerUnavailable, RuntimeError):
                log.warning("trainer did not stop cleanly", extra={"version_id": version_id})
            running.client.kill()
        await self._finish(running, state, None)

    def _set_state_by_id(self, version_id: int, state: str) -> None:
        with self.db.write() as session:
            version = session.get(Version, version_id)
            if version is not None and version.state in brains.TRAINING_STATES:
                version.state = state
                version.training_end = utcnow()

    async def _finish(self, running: RunningVersion, state: str, error: str | None) -> None:
        running.stopping = True
        running.finished.set()
        if running.client is not None:
            running.client.kill()
        recorder = self.recorders.get(running.version_id)
        if recorder is not None:
            await recorder.flush()
        await asyncio.to_thread(self._final_state, running.version_id, state, error)
        self.running.pop(running.version_id, None)
        self.recorders.pop(running.version_id, None)
        self.logs.close_version(running.version_id)
        self.status_events.publish(
            running.brain_id,
            {"type": "PROPERTY_CHANGED", "property": "status", "value": state},
            {"type": "CONCEPT_CHANGED", "concept": running.program.concept, "state": state},
        )

    def _final_state(self, version_id: int, state: str, error: str | None) -> None:
        with self.db.write() as session:
            version = session.get(Version, version_id)
            if version is None:
                return
            version.state = state
            version.training_end = utcnow()
            version.trainer_address = None
            if error is not None:
                version.error = error

    async def complete(self, version_id: int) -> None:
        await self.stop(version_id, "Completed")

    async def resume(self, version_id: int) -> None:
        def mark() -> None:
            with self.db.write() as session:
                version = session.get(Version, version_id)
                assert version is not None
                version.state = "Starting"
                version.error = None
                version.training_start = utcnow()
                version.training_end = None

        await asyncio.to_thread(mark)
        await self.start(version_id, resume=True)

    async def forget_brain(self, brain_id: int) -> None:
        """The brain is being deleted: stop its training, end its prediction sockets."""
        for running in [item for item in self.running.values() if item.brain_id == brain_id]:
            await self.stop(running.version_id)
        for deleted in self.prediction_sockets.pop(brain_id, set()):
            deleted.set()
        self.sims.forget(brain_id)

    # --- progress -------------------------------------------------------------------------------------

    def record(self, running: RunningVersion, events: list[dict[str, Any]]) -> None:
        recorder = self.recorders.get(running.version_id)
        if recorder is not None:
            recorder.add(events)

    def persist_events(self, running: RunningVersion, events: list[dict[str, Any]]) -> None:
        """One transaction for a batch of trainer events; status subscribers hear of them after it."""
        concept = running.program.concept
        published: list[dict[str, Any]] = []
        removed: list[str] = []
        with self.db.write() as session:
            version = session.get(Version, running.version_id)
            if version is None:
                return
            brain = session.get(Brain, version.brain_id)
            stream_id = metrics.ensure_stream(
                session,
                owner_id=brain.owner_id if brain else None,
                dialect="bonsai",
                kind="version",
                ref=version_stream_ref(version.id),
                label=f"{running.owner}/{running.brain_name}/{version.number}",
            )
            records: list[metrics.NewRecord] = []
            for event in events:
                kind = event["type"]
                if kind in ("episode", "test_pass"):
                    name = "episode_value" if kind == "episode" else "test_pass_value"
                    records.append(
                        metrics.NewRecord(
                            values={name: float(event["value"])},
                            step=int(event["episode"]),
                            tags={
                                "concept": concept,
                                "lesson": str(event["lesson"]),
                                "iteration": str(event["iteration"]),
                                "mode": "test" if event.get("test") else "training",
                            },
                        )
                    )
                    version.iteration = max(version.iteration, int(event["iteration"]))
                    if kind == "episode":
                        version.episode = max(version.episode, int(event["episode"]))
                        version.episode_length = int(event.get("episode_length", version.episode_length))
                    else:
                        version.test_pass_value = float(event["value"])
                        version.objective_score = float(event["objective_score"])
                        if (
                            version.best_test_pass_value is None
                            or event["value"] > version.best_test_pass_value
                        ):
                            version.best_test_pass_value = float(event["value"])
                elif kind == "iterations":
                    records.append(
                        metrics.NewRecord(
                            values={"iterations": float(event["value"])}, step=int(event["value"])
                        )
                    )
                    version.iteration = max(version.iteration, int(event["value"]))
                elif kind == "lesson":
                    version.lesson = str(event["lesson"])
                    published.append(
                        {"type": "PROPERTY_CHANGED", "property": "lesson", "value": version.lesson}
                    )
                elif kind == "checkpoint":
                    session.add(
                        Checkpoint(
                            version_id=version.id,
                            kind=event["kind"],
                            iteration=int(event["iteration"]),
                            episode=int(event["episode"]),
                            path=str(event["path"]),
                        )
                    )
                    if event["kind"] == "latest":
                        version.checkpoint_iteration = int(event["iteration"])
            rows = metrics.append(session, stream_id, records)
            session.flush()
            removed = self._prune_checkpoints(session, version.id)
        for path in removed:
            shutil.rmtree(path, ignore_errors=True)
        self.services.metrics_hub.publish(stream_id, rows)
        for row in rows:
            for name in ("episode_value", "test_pass_value"):
                if name in row.values:
                    published.append(
                        {
                            "type": "ADD_DATA_POINT",
                            "metric": name,
                            "value": row.values[name],
                            "episode": row.step,
                            "iteration": int((row.tags or {}).get("iteration", 0)),
                            "concept": concept,
                            "lesson": (row.tags or {}).get("lesson", ""),
                            "version": running.number,
                            "time": rfc3339(row.created_at),
                        }
                    )
        if published:
            self.status_events.publish(running.brain_id, *published)

    def _prune_checkpoints(self, session: Any, version_id: int) -> list[str]:
        removed = []
        for kind, keep in (("latest", KEEP_LATEST_CHECKPOINTS), ("best", 1)):
            rows = list(
                session.scalars(
                    select(Checkpoint)
                    .where(Checkpoint.version_id == version_id, Checkpoint.kind == kind)
                    .order_by(Checkpoint.id.desc())
                )
            )
            for row in rows[keep:]:
                removed.append(row.path)
                session.delete(row)
        return removed

    # --- serving --------------------------------------------------------------------------------------

    def serving_path(self, version_id: int) -> str | None:
        """The best model, else the latest checkpoint (spec §4.8.7)."""
        with self.db.read() as session:
            for kind in ("best", "latest"):
                row = session.scalar(
                    select(Checkpoint)
                    .where(Checkpoint.version_id == version_id, Checkpoint.kind == kind)
                    .order_by(Checkpoint.id.desc())
                    .limit(1)
                )
                if row is not None:
                    return row.path
        return None

    def serving_policy(self, path: str) -> Any:
        """Load (once) the policy stored at `path`; runs in a worker thread."""
        policy = self._policies.get(path)
        if policy is None:
            import torch

            from crucible.engines.rl.checkpoints import read_serving_policy

            torch.set_num_threads(max(1, self.settings.bonsai_torch_threads))
            policy = read_serving_policy(Path(path))
            if len(self._policies) > 32:
                self._policies.pop(next(iter(self._policies)))
            self._policies[path] = policy
        return policy

    # --- status events and storage --------------------------------------------------------------------

    def publish_file_changes(self, brain_id: int, changed: list[str], files: dict[str, bytes]) -> None:
        from crucible.dialects.bonsai.projects import sha1_hex

        events = [
            {"type": "FILE_UPDATED", "filename": path, "hash": sha1_hex(files.get(path, b""))}
            for path in changed
        ]
        self.status_events.publish(brain_id, *events, {"type": "FILES_UPDATED"})

    def publish_training_started(self, started: Any) -> None:
        running = self.running.get(started.version_id)
        if running is None:
            return
        program = running.program
        self.status_events.publish(
            started.brain_id,
            {"type": "PROPERTY_CHANGED", "property": "version", "value": started.number},
            {
                "type": "CONCEPTS_SET",
                "concepts": [
                    {
                        "name": program.concept,
                        "state": "Starting",
                        "algorithm": program.plan.learner,
                        "is_estimator": program.curriculum.concept.is_estimator,
                    }
                ],
            },
            {"type": "PROPERTY_CHANGED", "property": "status", "value": "Starting"},
        )

    def remove_brain_storage(self, brain_id: int, checkpoint_paths: list[str]) -> None:
        """Called after the brain's rows are deleted: its file blobs and checkpoint directories go too."""
        self.services.blobs.delete_prefix(f"bonsai/brains/{brain_id}")
        for path in checkpoint_paths:
            shutil.rmtree(Path(path).parent, ignore_errors=True)
