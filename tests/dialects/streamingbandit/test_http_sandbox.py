"""Scenario 11 (spec §7) and its relatives: experiment code that tries to escape the sandbox is refused
with a clear error in StreamingBandit's format, and the server keeps serving everybody else."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.dialects.streamingbandit.live import Created, SbClient, SbServer

WALL_SECONDS = 3


def refusal(client: SbClient, code: str) -> tuple[int, str]:
    exp = client.create({"get_action": code})
    response = client.getaction(exp)
    assert response.headers["content-type"] == "application/json"
    return response.status_code, response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("import os", "import of 'os'"),
        ("import subprocess\nsubprocess.run(['sh'])", "import of 'subprocess'"),
        ("from os import fork\nwhile True:\n    fork()", "import from 'os'"),
        ("open('/etc/passwd')", "open()"),
        ("open('/proc/self/environ').read()", "open()"),
        ('cls = getattr((), "__cla" + "ss__")', "'__class__'"),
        ("np.ctypeslib", "numpy.ctypeslib"),
        ("np.load('crucible.db')", "numpy.load"),
        ("sp.io", "scipy.io"),
        ("import numpy\nnumpy.lib.npyio", "numpy.lib.npyio"),
        ("getattr(self, '_' + 'call')", "'_call'"),
        ("b = getattr(open, '__self' + '__')", "'__self__'"),
    ],
)
def test_refused_at_run_time(alice: SbClient, code: str, fragment: str) -> None:
    status, message = refusal(alice, code)
    assert status == 403 and message.startswith("Sandbox violation in get_action code: ")
    assert fragment in message


@pytest.mark.parametrize(
    "code",
    [
        "().__class__.__base__.__subclasses__()",
        "x = random._os",
        "__builtins__['open']('/etc/passwd')",
        "x = self._call",
        "x = np.random.__dict__",
        "def f():\n    yield 1\nx = f().gi_frame",
        "class C:\n    def __getattr__(self, name):\n        return 1",
    ],
)
def test_refused_at_save_time(alice: SbClient, code: str) -> None:
    response = alice.http.post("/exp", json={"name": "escape", "get_action": code})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Invalid get_action code: ")


def test_server_secrets_and_database_handles_are_not_exposed(alice: SbClient) -> None:
    status, message = refusal(alice, "self.action = {'db': str(self.db)}")
    assert status == 500 and "AttributeError" in message
    status, message = refusal(alice, "self.action = {'c': str(tornado_config)}")
    assert status == 500 and "NameError" in message
    exp = alice.create({"get_action": "self.action = {'key': self.key, 'props': sorted(self.properties)}"})
    action = alice.getaction(exp).json()["action"]
    assert action["key"] == exp.key and "user_id" in action["props"]


@pytest.mark.parametrize("code", ["x = bytearray(10**10)", "x = [0] * 10**10"])
def test_memory_bombs(alice: SbClient, code: str) -> None:
    assert refusal(alice, code) == (500, "get_action code exceeded the memory limit (256 MiB).")


def test_an_endless_loop_times_out_while_others_are_served(alice: SbClient, bob: SbClient) -> None:
    spinning = alice.create({"get_action": "while True:\n    pass"})
    other = bob.create({"get_action": "self.action = {'ok': True}"})
    assert bob.getaction(other).status_code == 200  # its worker is warm
    outcome: dict[str, object] = {}

    def spin() -> None:
        started = time.monotonic()
        with httpx.Client(base_url=str(alice.http.base_url), timeout=60) as http:
            response = http.get(f"/getaction/{spinning.id}", params={"key": spinning.key})
        outcome["elapsed"] = time.monotonic() - started
        outcome["response"] = response

    thread = threading.Thread(target=spin)
    thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    served = bob.getaction(other)
    assert served.status_code == 200 and time.monotonic() - started < 1
    thread.join()
    response = outcome["response"]
    assert isinstance(response, httpx.Response) and response.status_code == 504
    assert response.json()["error"]["message"] in (
        "get_action code exceeded the time limit (2 s).",
        "get_action code exceeded the time limit (3 s).",
    )
    assert isinstance(outcome["elapsed"], float) and outcome["elapsed"] < WALL_SECONDS + 2


def test_other_users_experiments_cannot_be_opened(sb_server: SbServer) -> None:
    alice, mallory = sb_server.client("alice"), sb_server.client("mallory")
    victim = alice.create({"set_reward": "self.set_theta({'secret': 1}, key='s')\n"})
    assert alice.setreward(victim, {}, context={}, action={}).status_code == 200
    before = alice.theta(victim)

    attack = (
        f"other = Experiment('{victim.id}', key='notUsedForLoopBack')\n"
        "other.set_theta({'secret': 2}, key='s')\n"
        "self.action = other.get_theta()\n"
    )
    status, message = refusal(mallory, attack)
    assert status == 403
    assert message == "Sandbox violation in get_action code: Experiment could not be validated. (line 1)"
    own = mallory.create({"get_action": "self.action = {'from': self.exp_id}"})
    nested = mallory.create({"get_action": f"self.action = Experiment('{own.id}').run_action_code({{}})"})
    assert mallory.getaction(nested).json()["action"] == {"from": own.id}

    assert alice.theta(victim) == before
    assert alice.get("/exp").status_code == 200
    assert victim.id in alice.get("/exp").json()


def test_nesting_is_limited(alice: SbClient) -> None:
    exp = alice.create({"get_action": "self.action = Experiment(self.exp_id).run_action_code({})"})
    response = alice.getaction(exp)
    assert response.status_code == 403 and "nesting deeper than 8" in response.json()["error"]["message"]


def test_errors_name_the_hook_and_experiment_that_failed(alice: SbClient) -> None:
    inner = alice.create({"get_action": "x = 1\nself.action = 1 / 0\n"})
    outer = alice.create({"get_action": f"self.action = Experiment('{inner.id}').run_action_code({{}})"})
    message = alice.getaction(outer).json()["error"]["message"]
    assert (
        message
        == f"Error in get_action code of experiment {inner.id}: ZeroDivisionError: division by zero (line 2)"
    )
    weird = alice.create({"get_action": "self.action = {'f': lambda: 1}"})
    response = alice.getaction(weird)
    assert response.status_code == 500
    assert (
        response.json()["error"]["message"]
        == "get_action produced a value that is not JSON serializable (function)."
    )


def test_debug_mode_adds_the_experiment_code_traceback(sb_servers) -> None:  # type: ignore[no-untyped-def]
    server = sb_servers.get("sqlite", sb_debug=True)
    client = server.client("debugger")
    exp = client.create({"get_action": "def f():\n    return 1 / 0\nf()\n"})
    error = client.getaction(exp).json()["error"]
    assert error["code"] == 500 and any("line 2, in f" in line for line in error["traceback"])
    assert not any("crucible" in line for line in error["traceback"])


def test_results_are_converted_to_json(alice: SbClient) -> None:
    exp: Created = alice.create(
        {
            "get_action": "self.action = {'n': np.int64(3), 't': (1, 2), 1: np.array([0.5]), 'm': np.matrix([[1]])}"
        }
    )
    assert alice.getaction(exp).json()["action"] == {"n": 3, "t": [1, 2], "1": [0.5], "m": [[1]]}
