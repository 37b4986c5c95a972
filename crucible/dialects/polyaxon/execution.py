"""Running managed experiments (spec §4.6) through the shared job executor.

The bridge is what the routes and the group scheduler call: submit an experiment once its creating
transaction has committed, and stop one (the `stopped` status is written at once, through the transition
function; the process is signalled after commit). Until an executor is installed, managed experiments
stay `created`, as with `executor.local.enabled=false`.
"""

from __future__ import annotations

import logging
from typing import Protocol

from sqlalchemy.orm import Session

from crucible.dialects.polyaxon import statuses
from crucible.dialects.polyaxon.runtime import Runtime, after_commit

log = logging.getLogger(__name__)


class Launcher(Protocol):
    """What the bridge needs from an executor integration."""

    def submit(self, experiment_id: int) -> None: ...
    def cancel(self, experiment_id: int) -> None: ...


class Bridge:
    def __init__(self, runtime: Runtime, launcher: Launcher | None = None) -> None:
        self.runtime = runtime
        self.launcher = launcher

    def submit_after_commit(self, session: Session, experiment_id: int) -> None:
        if self.launcher is not None:
            launcher = self.launcher
            after_commit(session, lambda: launcher.submit(experiment_id))

    def stop_after_commit(self, session: Session, experiment_id: int) -> None:
        """Signal the run (if any) once the transaction commits; writes no status."""
        if self.launcher is not None:
            launcher = self.launcher
            after_commit(session, lambda: launcher.cancel(experiment_id))

    def stop(
        self, session: Session, experiment_id: int, message: str | None, traceback: str | None = None
    ) -> None:
        """Record `stopped` now (a no-op on done experiments) and signal the run after commit."""
        result = statuses.transition(session, experiment_id, statuses.STOPPED, message, traceback)
        if result.applied:
            self.stop_after_commit(session, experiment_id)


def install(runtime: Runtime) -> Bridge:
    return Bridge(runtime)
