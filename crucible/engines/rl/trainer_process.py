"""One trainer OS process per training version (spec §4.8.4): `python -m crucible.engines.rl.trainer_process`.

The job arrives as one JSON object on standard input. The process listens on 127.0.0.1 (an ephemeral
port, printed as `LISTENING <port>` on standard output), accepts the API worker's connection, checks
its token, builds or restores the learner, says `ready`, then answers requests one at a time, in
order, until it is told to stop or the connection drops (the API worker died: exit, the last
checkpoint stands).

Requests and replies are dicts (see `crucible.engines.rl.wire` for the framing):
  begin {sim}                    -> {config, test, lesson} or {finished: True}
  step {sim, obs, reward, terminal} -> {action, stop, finished, events}
  abort {sim}                    -> {events}
  predict {obs}                  -> {action}
  stop {}                        -> {events} (after the final checkpoint), then the process exits
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("crucible.rl.trainer")


def _build_trainer(job: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    """Fresh weights (and a checkpoint at iteration 0), or the learner saved in `resume_from`."""
    import torch as th

    from crucible.engines.rl import checkpoints
    from crucible.engines.rl.learners import build_learner
    from crucible.engines.rl.plan import TrainingPlan
    from crucible.engines.rl.trainer import Progress, Trainer

    th.set_num_threads(max(1, int(job.get("torch_threads", 1))))
    plan = TrainingPlan.from_json(job["plan"])
    root = Path(job["checkpoint_root"])
    events: list[dict[str, Any]] = []
    if job.get("resume_from"):
        learner, saved = checkpoints.read_checkpoint(Path(job["resume_from"]), plan)
        progress = Progress.from_json(saved)
        floor = job.get("progress_floor") or {}
        progress.episode = max(progress.episode, int(floor.get("episode", 0)))
        progress.iteration = max(progress.iteration, int(floor.get("iteration", 0)))
        progress.completed = False
        trainer = Trainer(plan, learner, root, progress)
    else:
        trainer = Trainer(plan, build_learner(plan), root)
        trainer.checkpoint(events)
    return trainer, events


def _handle(trainer: Any, request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "begin":
        if trainer.progress.completed:
            return {"finished": True}
        return trainer.begin_episode(int(request["sim"]))
    if op == "step":
        if trainer.progress.completed:
            return {"action": None, "stop": True, "finished": True, "events": []}
        result = trainer.step(
            int(request["sim"]), request["obs"], float(request["reward"]), bool(request["terminal"])
        )
        action = None if result.action is None else trainer.learner.spaces.action_values(result.action)
        return {"action": action, "stop": result.stop, "finished": result.finished, "events": result.events}
    if op == "abort":
        return {"events": trainer.abort(int(request["sim"]))}
    if op == "predict":
        return {"action": trainer.learner.spaces.action_values(trainer.predict(request["obs"]))}
    if op == "status":
        return trainer.status()
    raise ValueError(f"unknown request {op!r}")


def serve(job: dict[str, Any], listener: socket.socket) -> int:
    from crucible.engines.rl import wire

    connection, _address = listener.accept()
    listener.close()
    connection.settimeout(None)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # The first frame must be the token, compared before anything else is unpickled.
    first = wire.receive_raw(connection)
    expected = wire.encode({"op": "hello", "token": job["token"]})[wire.HEADER.size :]
    if not hmac.compare_digest(first, expected):
        connection.close()
        return 2
    delay = float(job.get("start_delay_s", 0))
    if delay > 0:
        time.sleep(delay)
    trainer, events = _build_trainer(job)
    wire.send(connection, {"op": "ready", "status": trainer.status(), "events": events})
    while True:
        try:
            request = wire.receive(connection)
        except (wire.FrameError, OSError):
            return 0  # the API worker is gone; the last checkpoint stands
        if request.get("op") == "stop":
            events = []
            trainer.checkpoint(events)
            wire.send(connection, {"events": events, "status": trainer.status()})
            connection.close()
            return 0
        try:
            reply = _handle(trainer, request)
        except Exception as error:  # a bad request must not take the trainer down
            log.exception("trainer request failed")
            reply = {"error": f"{type(error).__name__}: {error}"}
        wire.send(connection, reply)


def main() -> int:
    job = json.loads(sys.stdin.readline())
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    print(f"LISTENING {listener.getsockname()[1]}", flush=True)
    listener.settimeout(60)  # the API worker connects at once; give up if it never does
    try:
        return serve(job, listener)
    except TimeoutError:
        return 3


if __name__ == "__main__":
    sys.exit(main())
