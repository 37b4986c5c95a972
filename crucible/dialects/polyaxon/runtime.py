"""What the dialect's routes and background workers share: the services, the outputs root, and the
write transaction whose follow-ups (executor submissions and stops, group scheduler wake-ups, live
metric fan-out, outputs removal) run only once it has committed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from crucible.core.services import Services
from crucible.dialects.polyaxon.statuses import TRANSITIONS_KEY

log = logging.getLogger(__name__)

AFTER_COMMIT_KEY = "polyaxon.after_commit"


def after_commit(session: Session, action: Callable[[], Any]) -> None:
    """Run `action` once this session's transaction has committed (never if it rolls back)."""
    session.info.setdefault(AFTER_COMMIT_KEY, []).append(action)


class Runtime:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.db = services.db
        self.blobs = services.blobs
        self.outputs_root: Path = services.settings.resolved_polyaxon_outputs_root
        self.outputs_root.mkdir(parents=True, exist_ok=True)
        # Set by the group scheduler and the execution bridge when they are installed.
        self.on_group_activity: Callable[[int], None] = lambda _group_id: None
        self.group_scheduler: Any = None

    @contextmanager
    def write(self) -> Iterator[Session]:
        with self.db.write() as session:
            yield session
        self._run_follow_ups(session)

    def _run_follow_ups(self, session: Session) -> None:
        transitions = session.info.pop(TRANSITIONS_KEY, [])
        actions = session.info.pop(AFTER_COMMIT_KEY, [])
        for action in actions:
            try:
                action()
            except Exception:
                log.exception("polyaxon follow-up failed")
        for group_id in dict.fromkeys(group_id for _id, group_id, _t in transitions if group_id is not None):
            try:
                self.on_group_activity(group_id)
            except Exception:
                log.exception("group scheduler wake-up failed", extra={"group": group_id})
