"""Bonsai's websockets (spec §3.5): simulator training and prediction, status events, logs, states.

Every socket is accepted first; authentication and lookup failures are close codes (4001, 4003,
4004, 4009), because portable ASGI code cannot refuse an upgrade with 401 and bonsai-ai retries
403s. The protocol logic is in `simulator_protocol`; this module does the I/O around it: timeouts,
keep-alive while a simulator is held, FINISHED when training ends, 1012 on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from google.protobuf.message import Message
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from crucible.core.services import Services
from crucible.dialects.bonsai import brains
from crucible.dialects.bonsai import messages as pb
from crucible.dialects.bonsai.auth import key_owner
from crucible.dialects.bonsai.errors import BonsaiError
from crucible.dialects.bonsai.models import Brain, Version
from crucible.dialects.bonsai.runtime import BonsaiRuntime, BrainProgram, RunningVersion, SimConnection
from crucible.dialects.bonsai.simulator_protocol import (
    Phase,
    PredictionConversation,
    ProtocolViolation,
    TrainingConversation,
    UnknownSimulator,
    describe,
    parse_client_message,
    wire_log,
)
from crucible.engines.rl.trainer_client import TrainerUnavailable

log = logging.getLogger("crucible.bonsai")

FINISHED_GRACE_SECONDS = 5.0


class Closed(Exception):
    """Close the socket with `code` and `reason` (after accepting it)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ClientGone(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def log_sim_filter(sim: str) -> int | None:
    """`1` means every connection of the version; a decimal is one sim_id."""
    if sim == "1":
        return None
    if not sim.isdigit() or len(sim) > 10:
        raise BonsaiError(404, f"Simulator {sim[:20]} not found")
    return int(sim)


async def close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state != WebSocketState.DISCONNECTED:
        with contextlib.suppress(Exception):
            await websocket.close(code, reason)


def resolve(session: Session, websocket: WebSocket, user: str, brain: str) -> tuple[Brain, Any]:
    """The brain named in the path, for the key's owner (4001/4003/4004 otherwise)."""
    owner = key_owner(session, websocket.headers.get("authorization"))
    if owner is None:
        raise Closed(4001, "Unauthorized")
    if owner.username != user:
        raise Closed(4003, "Forbidden")
    found = brains.find_brain(session, owner, brain)
    if found is None:
        raise Closed(4004, f"Brain {brain[:100]} not found")
    return found, owner


def resolve_version(session: Session, found: Brain, ref: str) -> Version:
    try:
        return brains.get_version(session, found, ref)
    except BonsaiError as error:
        raise Closed(4004, f"Version {ref[:20]} not found") from error


async def receive_frame(websocket: WebSocket, timeout: float) -> bytes | str:
    try:
        message = await asyncio.wait_for(websocket.receive(), timeout)
    except TimeoutError as error:
        raise Closed(4010, "Simulator timed out") from error
    if message["type"] == "websocket.disconnect":
        raise ClientGone(int(message.get("code") or 1005))
    if message.get("bytes") is not None:
        return bytes(message["bytes"])
    return str(message.get("text") or "")


async def send_message(websocket: WebSocket, message: Message) -> None:
    if wire_log.isEnabledFor(logging.DEBUG):
        wire_log.debug("out %s", describe(message))
    await websocket.send_bytes(message.SerializeToString())


def build_router(services: Services, runtime: BonsaiRuntime) -> APIRouter:
    router = APIRouter()
    db = services.db
    settings = services.settings

    # --- training --------------------------------------------------------------------------------------

    @router.websocket("/v1/{user}/{brain}/sims/ws")
    async def training_socket(websocket: WebSocket, user: str, brain: str) -> None:
        await websocket.accept()
        sim_id = 0
        running: RunningVersion | None = None
        conversation: TrainingConversation | None = None
        close_code = 1000
        try:

            def lookup() -> tuple[int, Version | None]:
                with db.read() as session:
                    found, _owner = resolve(session, websocket, user, brain)
                    return found.id, brains.latest_version(session, found)

            brain_id, latest = await run_in_threadpool(lookup)
            running = runtime.running.get(latest.id) if latest is not None else None
            if running is None or running.finished.is_set():
                raise Closed(4009, "Brain is not training.")
            if runtime.sims.count(brain_id) >= settings.bonsai_max_sims_per_brain:
                raise Closed(4029, "Too many simulators")
            sim_id = runtime.sims.new_sim_id()
            version_id = running.version_id
            connection = SimConnection(sim_id, running.number, "training", running.program.simulator_name)
            runtime.sims.connect(brain_id, connection)

            def log_line(text: str) -> None:
                runtime.logs.write(version_id, sim_id, text)

            def on_transition(message: dict[str, Any]) -> None:
                connection.iteration += 1
                if runtime.state_feed.has_subscribers(version_id):
                    runtime.state_feed.publish(version_id, sim_id, message)

            async def trainer(message: dict[str, Any]) -> dict[str, Any]:
                assert running is not None
                reply = await running.request(message)
                runtime.record(running, reply.get("events", []))
                if reply.get("finished") and not running.stopping:
                    running.stopping = True
                    runtime.spawn(runtime.complete(running.version_id))
                return reply

            log_line(f"connected ({websocket.headers.get('user-agent', 'no user agent')})")
            conversation = TrainingConversation(running.program, sim_id, trainer, log_line, on_transition)
            await converse(websocket, running, conversation, connection)
        except Closed as closing:
            close_code = closing.code
            if running is not None and sim_id:
                runtime.logs.write(
                    running.version_id, sim_id, f"closing with {closing.code} {closing.reason}"
                )
            await close(websocket, closing.code, closing.reason)
        except ClientGone as gone:
            close_code = gone.code
        except Exception:
            log.exception("training socket failed")
            close_code = 1011
            await close(websocket, 1011, "Internal error")
        finally:
            if running is not None and sim_id:
                if conversation is not None and conversation.in_episode:
                    running.send_nowait({"op": "abort", "sim": sim_id})
                runtime.sims.disconnect(running.brain_id, sim_id)
                runtime.logs.write(running.version_id, sim_id, f"disconnected with code {close_code}")
            elif sim_id:
                runtime.sims.release_sim_id(sim_id)

    async def converse(
        websocket: WebSocket,
        running: RunningVersion,
        conversation: TrainingConversation,
        connection: SimConnection,
    ) -> None:
        idle = settings.bonsai_sim_idle_timeout_s
        keepalive = settings.bonsai_keepalive_s
        finished = asyncio.create_task(running.finished.wait())
        shutdown = asyncio.create_task(running.shutdown.wait())
        try:
            while True:
                frame = await receive_frame(websocket, idle)
                message = parse_or_close(frame)
                if running.shutdown.is_set():
                    raise Closed(1012, "Service restart")
                if running.finished.is_set() and conversation.phase is not Phase.NEW:
                    conversation.check_sim_id(message)
                    await send_message(websocket, conversation.finish())
                    await finish(websocket)
                    return
                pending = asyncio.create_task(conversation.reply(message))
                while True:
                    done, _ = await asyncio.wait(
                        {pending, finished, shutdown}, timeout=keepalive, return_when=asyncio.FIRST_COMPLETED
                    )
                    if shutdown in done:
                        discard(pending)
                        raise Closed(1012, "Service restart")
                    if finished in done:  # FINISHED replaces whichever reply is due
                        discard(pending)
                        await send_message(websocket, conversation.finish())
                        break
                    if pending in done:
                        reply = await reply_or_close(pending, running, conversation)
                        connection.episode = conversation.episodes
                        await send_message(websocket, reply)
                        break
                    # Held: keep the simulator alive with RESET (idle) or STOP (mid-episode, aborted).
                    keep = conversation.keepalive()
                    await send_message(websocket, keep)
                    answer = parse_or_close(await receive_frame(websocket, idle))
                    if answer.message_type != pb.READY:  # type: ignore[attr-defined]
                        raise Closed(4000, "Malformed message: READY expected after a keep-alive")
                    conversation.check_sim_id(answer)
                    if keep.message_type == pb.STOP:  # type: ignore[attr-defined]
                        discard(pending)
                        running.send_nowait({"op": "abort", "sim": conversation.sim_id})
                        pending = asyncio.create_task(conversation.reply(answer))
                if conversation.phase is Phase.FINISHED:
                    await finish(websocket)
                    return
        except ProtocolViolation as violation:
            raise Closed(4000, f"Malformed message: {violation}"[:120]) from violation
        except UnknownSimulator as unknown:
            raise Closed(4008, f"Simulator {str(unknown)[:80]} does not exist.") from unknown
        finally:
            finished.cancel()
            shutdown.cancel()

    async def reply_or_close(
        pending: asyncio.Task[Message], running: RunningVersion, conversation: TrainingConversation
    ) -> Message:
        try:
            return pending.result()
        except TrainerUnavailable:
            # The trainer crashed or is stopping: FINISHED if training ended, otherwise end the episode.
            await asyncio.wait(
                {asyncio.create_task(running.ready.wait()), asyncio.create_task(running.finished.wait())},
                return_when=asyncio.FIRST_COMPLETED,
            )
            if running.finished.is_set():
                return conversation.finish()
            return conversation.keepalive()

    async def finish(websocket: WebSocket) -> None:
        """After FINISHED the client closes; if it has not within 5 s, close with 1000."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.receive(), FINISHED_GRACE_SECONDS)
        await close(websocket, 1000, "Training finished")

    # --- prediction -----------------------------------------------------------------------------------

    @router.websocket("/v1/{user}/{brain}/{version}/predictions/ws")
    async def prediction_socket(websocket: WebSocket, user: str, brain: str, version: str) -> None:
        await websocket.accept()
        sim_id = 0
        brain_id = 0
        version_id = 0
        deleted = asyncio.Event()
        try:

            def lookup() -> tuple[int, Version, BrainProgram | None]:
                with db.read() as session:
                    found, _owner = resolve(session, websocket, user, brain)
                    row = resolve_version(session, found, version)
                return found.id, row, runtime.version_program(row)

            brain_id, row, program = await run_in_threadpool(lookup)
            if program is None:
                raise Closed(4004, f"Version {version[:20]} not found")
            version_id = row.id
            runtime.prediction_sockets.setdefault(brain_id, set()).add(deleted)
            sim_id = runtime.sims.new_sim_id()
            runtime.sims.connect(
                brain_id, SimConnection(sim_id, row.number, "prediction", program.simulator_name)
            )
            runtime.logs.write(version_id, sim_id, "prediction connected")
            predictor = Predictor(runtime, version_id, program)
            conversation = PredictionConversation(
                program, sim_id, predictor.predict, lambda text: runtime.logs.write(version_id, sim_id, text)
            )
            gone = asyncio.create_task(deleted.wait())
            try:
                while True:
                    receiving = asyncio.create_task(
                        receive_frame(websocket, settings.bonsai_sim_idle_timeout_s)
                    )
                    await asyncio.wait({receiving, gone}, return_when=asyncio.FIRST_COMPLETED)
                    if gone.done():  # the brain was deleted
                        discard(receiving)
                        raise Closed(4004, f"Brain {brain[:100]} not found")
                    pending = asyncio.create_task(conversation.reply(parse_or_close(receiving.result())))
                    await asyncio.wait({pending, gone}, return_when=asyncio.FIRST_COMPLETED)
                    if gone.done():
                        discard(pending)
                        raise Closed(4004, f"Brain {brain[:100]} not found")
                    await send_message(websocket, pending.result())
            finally:
                gone.cancel()
        except ProtocolViolation as violation:
            await close(websocket, 4000, f"Malformed message: {violation}"[:120])
        except UnknownSimulator as unknown:
            await close(websocket, 4008, f"Simulator {str(unknown)[:80]} does not exist.")
        except Closed as closing:
            await close(websocket, closing.code, closing.reason)
        except ClientGone:
            pass
        except Exception:
            log.exception("prediction socket failed")
            await close(websocket, 1011, "Internal error")
        finally:
            runtime.prediction_sockets.get(brain_id, set()).discard(deleted)
            if sim_id:
                runtime.sims.disconnect(brain_id, sim_id)
                runtime.logs.write(version_id, sim_id, "prediction disconnected")

    # --- status events --------------------------------------------------------------------------------

    @router.websocket("/v1/{user}/{brain}/ws")
    async def status_socket(websocket: WebSocket, user: str, brain: str) -> None:
        await websocket.accept()
        brain_id = 0
        subscriber = None
        try:

            def lookup() -> tuple[int, dict[str, Any]]:
                from crucible.dialects.bonsai import status

                with db.read() as session:
                    found, owner = resolve(session, websocket, user, brain)
                    return found.id, status.status_body(session, services.blobs, owner, found, runtime.sims)

            brain_id, snapshot = await run_in_threadpool(lookup)
            subscriber = runtime.status_events.subscribe(brain_id)
            concepts = [
                {
                    "name": item["concept_name"],
                    "state": item["state"],
                    "algorithm": item["algorithm"],
                    "is_estimator": item["is_estimator"],
                }
                for item in snapshot["concepts"]
            ]
            await websocket.send_text(json.dumps({"type": "CONCEPTS_SET", "concepts": concepts}))
            await websocket.send_text(
                json.dumps({"type": "PROPERTY_CHANGED", "property": "status", "value": snapshot["state"]})
            )
            await pump(websocket, subscriber.next, lambda event: json.dumps(event))
        except Closed as closing:
            await close(websocket, closing.code, closing.reason)
        except (ClientGone, WebSocketDisconnect):
            pass
        except Exception:
            log.exception("status socket failed")
            await close(websocket, 1011, "Internal error")
        finally:
            if subscriber is not None:
                runtime.status_events.unsubscribe(brain_id, subscriber)

    async def pump(websocket: WebSocket, next_item: Callable[[], Any], render: Callable[[Any], str]) -> bool:
        """Send items until the feed ends (True) or the client goes away (False); ignore what it sends."""
        client = asyncio.create_task(websocket.receive())
        item_task: asyncio.Task[Any] | None = None
        try:
            while True:
                if item_task is None:
                    item_task = asyncio.create_task(next_item())
                done, _ = await asyncio.wait({item_task, client}, return_when=asyncio.FIRST_COMPLETED)
                if client in done:
                    if client.result()["type"] == "websocket.disconnect":
                        return False
                    client = asyncio.create_task(websocket.receive())
                if item_task in done:
                    item = item_task.result()
                    item_task = None
                    if item is None:
                        return True
                    await websocket.send_text(render(item))
        finally:
            client.cancel()
            if item_task is not None:
                item_task.cancel()

    # --- logs and states ------------------------------------------------------------------------------

    @router.websocket("/v1/{user}/{brain}/{version}/sims/{sim}/logs/ws")
    async def logs_socket(websocket: WebSocket, user: str, brain: str, version: str, sim: str) -> None:
        await websocket.accept()
        version_id = 0
        subscriber = None
        try:
            try:
                sim_filter = log_sim_filter(sim)
            except BonsaiError as error:
                raise Closed(4004, error.message) from error

            def lookup() -> Version:
                with db.read() as session:
                    found, _owner = resolve(session, websocket, user, brain)
                    return resolve_version(session, found, version)

            row = await run_in_threadpool(lookup)
            version_id = row.id
            training = version_id in runtime.running and not runtime.running[version_id].finished.is_set()
            if training:
                subscriber = runtime.logs.subscribe(version_id)
            backlog = await run_in_threadpool(runtime.logs.lines, version_id, sim_filter)
            seen = set(backlog)
            for line in backlog:
                await websocket.send_text(line)
            if subscriber is not None:

                async def next_line() -> str | None:
                    assert subscriber is not None
                    while True:
                        item = await subscriber.next()
                        if item is None:
                            return None
                        sim_id, line = item
                        if line in seen or (sim_filter is not None and sim_id != sim_filter):
                            continue
                        return line

                if not await pump(websocket, next_line, str):
                    return
            await close(websocket, 1000, "Training finished")
        except Closed as closing:
            await close(websocket, closing.code, closing.reason)
        except (ClientGone, WebSocketDisconnect):
            pass
        except Exception:
            log.exception("logs socket failed")
            await close(websocket, 1011, "Internal error")
        finally:
            if subscriber is not None:
                runtime.logs.unsubscribe(version_id, subscriber)

    @router.websocket("/v1/{user}/{brain}/{version}/sims/{sim}/state/ws")
    async def state_socket(websocket: WebSocket, user: str, brain: str, version: str, sim: str) -> None:
        await websocket.accept()
        version_id = 0
        subscriber = None
        try:
            if not sim.isdigit() or len(sim) > 10:
                raise Closed(4004, f"Simulator {sim[:20]} not found")

            def lookup() -> tuple[int, Version]:
                with db.read() as session:
                    found, _owner = resolve(session, websocket, user, brain)
                    return found.id, resolve_version(session, found, version)

            brain_id, row = await run_in_threadpool(lookup)
            version_id = row.id

            def wants(sim_id: int) -> bool:
                if sim == "1":
                    return sim_id == runtime.sims.oldest_training_sim(brain_id, row.number)
                return sim_id == int(sim)

            subscriber = runtime.state_feed.subscribe(version_id, wants)
            await pump(websocket, subscriber.next, lambda message: json.dumps(message))
        except Closed as closing:
            await close(websocket, closing.code, closing.reason)
        except (ClientGone, WebSocketDisconnect):
            pass
        except Exception:
            log.exception("state socket failed")
            await close(websocket, 1011, "Internal error")
        finally:
            if subscriber is not None:
                runtime.state_feed.unsubscribe(version_id, subscriber)

    return router


def parse_or_close(frame: bytes | str) -> Message:
    try:
        message = parse_client_message(frame)
    except ProtocolViolation as violation:
        raise Closed(4000, f"Malformed message: {violation}"[:120]) from violation
    if wire_log.isEnabledFor(logging.DEBUG):
        wire_log.debug("in %s", describe(message))
    return message


def discard(task: asyncio.Task[Any]) -> None:
    """Let a task finish on its own and drop its result (or error)."""
    task.add_done_callback(lambda done: done.cancelled() or done.exception())


class Predictor:
    """Deterministic actions from the version's serving model, computed in a worker thread."""

    def __init__(self, runtime: BonsaiRuntime, version_id: int, program: BrainProgram) -> None:
        self.runtime = runtime
        self.version_id = version_id
        self.program = program
        self._path: str | None = None
        self._checked = 0.0

    async def predict(self, observations: list[Any]) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        if self._path is None or loop.time() - self._checked > 5.0:
            self._path = await run_in_threadpool(self.runtime.serving_path, self.version_id)
            self._checked = loop.time()
        if self._path is None:
            running = self.runtime.running.get(self.version_id)
            if running is None:
                raise Closed(4004, "Version has no trained model")
            return [
                (await running.request({"op": "predict", "obs": item}))["action"] for item in observations
            ]
        path = self._path

        def infer() -> list[dict[str, Any]]:
            from crucible.engines.rl.learners import deterministic_action  # torch: imported on first use

            policy = self.runtime.serving_policy(path)
            return [
                self.program.spaces.action_values(deterministic_action(policy, item)) for item in observations
            ]

        return await run_in_threadpool(infer)
