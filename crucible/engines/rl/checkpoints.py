"""Checkpoints on disk (spec §4.8.6): one directory per checkpoint, written atomically.

A checkpoint directory holds `model.zip` (weights and optimizer state, SB3's format), `policy.pt`
(the policy alone, for serving), `progress.json` (counters and RNG states) and, for off-policy
learners whose replay buffer is at most 256 MiB, `replay_buffer.pkl`. It is written under a
temporary name, every file fsynced, then renamed into place, so a reader never sees half of one.
The best model is a directory of the same shape holding only `policy.pt`.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from crucible.engines.rl.learners import ALGORITHM_CLASSES, Learner, build_learner, load_policy, save_policy
from crucible.engines.rl.plan import TrainingPlan

MAX_REPLAY_BUFFER_BYTES = 256 * 1024 * 1024
MODEL_FILE = "model.zip"
POLICY_FILE = "policy.pt"
PROGRESS_FILE = "progress.json"
REPLAY_FILE = "replay_buffer.pkl"


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _publish(temporary: Path, final: Path) -> Path:
    _fsync_tree(temporary)
    os.replace(temporary, final)
    descriptor = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return final


def write_checkpoint(root: Path, learner: Learner, progress: dict[str, Any]) -> Path:
    """Save the learner and `progress` under `root`; returns the new checkpoint's directory."""
    root.mkdir(parents=True, exist_ok=True)
    name = f"{int(progress.get('iteration', 0)):010d}-{uuid.uuid4().hex[:8]}"
    temporary = root / f".tmp-{name}"
    temporary.mkdir()
    learner.model.save(temporary / MODEL_FILE)
    save_policy(learner.model.policy, temporary / POLICY_FILE)
    has_buffer = hasattr(learner.model, "replay_buffer")
    if has_buffer and learner.replay_buffer_bytes() <= MAX_REPLAY_BUFFER_BYTES:
        with (temporary / REPLAY_FILE).open("wb") as handle:
            pickle.dump(learner.model.replay_buffer, handle)  # type: ignore[attr-defined]
    state = {
        "progress": progress,
        "learner": learner.state(),
        "random": _jsonable_random_state(),
    }
    (temporary / PROGRESS_FILE).write_text(json.dumps(state))
    (temporary / "torch_rng.pt").write_bytes(_torch_rng_bytes())
    return _publish(temporary, root / name)


def write_best_model(root: Path, policy: Any, iteration: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    name = f"best-{iteration:010d}-{uuid.uuid4().hex[:8]}"
    temporary = root / f".tmp-{name}"
    temporary.mkdir()
    save_policy(policy, temporary / POLICY_FILE)
    return _publish(temporary, root / name)


def read_checkpoint(path: Path, plan: TrainingPlan) -> tuple[Learner, dict[str, Any]]:
    """Rebuild the learner saved in `path`; returns it and the saved progress counters."""
    learner_class = ALGORITHM_CLASSES[plan.learner]
    learner = build_learner(plan, model=None)
    model = learner_class.load(path / MODEL_FILE, env=learner.env, device="cpu")
    learner = build_learner(plan, model=model)
    replay = path / REPLAY_FILE
    if replay.exists():
        with replay.open("rb") as handle:
            learner.model.replay_buffer = pickle.load(handle)  # type: ignore[attr-defined]
    state = json.loads((path / PROGRESS_FILE).read_text())
    learner.restore(state.get("learner", {}))
    _restore_random_state(state.get("random"))
    torch_rng = path / "torch_rng.pt"
    if torch_rng.exists():
        th.set_rng_state(th.load(torch_rng, weights_only=False))
    return learner, dict(state.get("progress", {}))


def read_serving_policy(path: Path) -> Any:
    """The policy stored in a checkpoint or best-model directory."""
    return load_policy(path / POLICY_FILE)


def delete_checkpoint(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _jsonable_random_state() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    numpy_state = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
    }


def _restore_random_state(state: dict[str, Any] | None) -> None:
    if not state:
        return
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), position, has_gauss, cached))


def _torch_rng_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    th.save(th.get_rng_state(), buffer)
    return buffer.getvalue()
