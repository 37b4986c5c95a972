"""Fixtures for executor tests: RunSpec shorthand, a recorder, a small local executor."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crucible.core.executor import LocalExecutor, RunSpec
from tests.core.executor.helpers import Recorder


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_spec(tmp_path: Path) -> Callable[..., RunSpec]:
    """make_spec("step", "main", run_id=..., **RunSpec fields); working dir and outputs under tmp_path."""

    def make(*steps: str, **fields: Any) -> RunSpec:
        run_id = fields.pop("run_id", None) or f"run-{uuid.uuid4().hex[:8]}"
        working_dir = fields.pop("working_dir", tmp_path / "work" / run_id)
        working_dir.mkdir(parents=True, exist_ok=True)
        outputs_dir = fields.pop("outputs_dir", tmp_path / "outputs" / run_id)
        return RunSpec(
            run_id=run_id, steps=list(steps), working_dir=working_dir, outputs_dir=outputs_dir, **fields
        )

    return make


@pytest.fixture
def executor() -> Iterator[LocalExecutor]:
    instance = LocalExecutor(max_concurrent=2, stop_grace_s=2.0)
    yield instance
    instance.close(timeout=10)
