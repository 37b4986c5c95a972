"""Scenario 6, last part: a worker killed with SIGKILL in the middle of `-T train` loses nothing; the
server's own lease sweep gives the task back and another worker completes it."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from crucible.core import accounts
from tests.conftest import Account, LiveServer
from tests.dialects.morpheo import digits
from tests.dialects.morpheo.digits import Server

pytestmark = pytest.mark.slow
LEASE_SECONDS = 12


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"morpheo_task_lease_seconds": LEASE_SECONDS}


def test_scenario_6_sigkill_mid_train_loses_nothing(
    live_server: LiveServer, make_user: Callable[..., Account], tmp_path: Path
) -> None:
    account = make_user("killer")
    with live_server.services.db.write() as session:
        user = accounts.find_user_by_username(session, account.username)
        assert user is not None
        key = accounts.create_access_key(session, user)
    server = Server(live_server.url, account.username, key)
    server.upload_digits_data()
    server.register_problem("P", size=10)
    marker = tmp_path / "train-started"
    algo = server.register_algo("P", "slow-once", digits.slow_once_archive(marker))
    server.register_data(["P"])
    (step,) = server.learnuplets(algo=algo)

    first = digits.start_worker(server, tmp_path / "w1", "--worker-id", "doomed")
    try:
        digits.wait_for(lambda: marker.exists(), 120, "the first attempt to start training")
        assert server.get(f"/learnuplet/{step['uuid']}")["worker"] == "doomed"
        running = digits.descendants(first.pid)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        digits.kill_tree(running)  # the host is gone: so is whatever the worker had started
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    digits.wait_for(
        lambda: server.get(f"/learnuplet/{step['uuid']}")["status"] == "todo",
        LEASE_SECONDS * 4,
        "the lease sweep to give the task back",
    )
    retried = server.get(f"/learnuplet/{step['uuid']}")
    assert retried["attempts"] == 1 and retried["worker"] is None
    digits.run_worker(server, tmp_path / "w2", "--worker-id", "survivor")
    finished = server.get(f"/learnuplet/{step['uuid']}")
    assert finished["status"] == "done" and finished["worker"] == "survivor", finished
    assert 0 <= finished["perf"] <= 1
    assert server.get(f"/storage/model/{finished['model_end']}")["algo"] == algo
