"""Scenarios 10, 12 and 16 (spec §7): no lost updates under concurrency, the theta text rules and reset,
over plain HTTP, with the SQL theta store and with Redis."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest

from tests.dialects.streamingbandit.live import SbServer

COUNTER = {
    "get_action": "self.action = {'a': 1}\n",
    "set_reward": (
        "count = base.Count(self.get_theta(key='c', value='x'))\n"
        "count.increment()\n"
        "self.set_theta(count, key='c', value='x')\n"
    ),
}
TEXT = {
    "get_action": """\
self.set_theta(
    {"i": 3, "f": 0.1, "b": True, "l": [1, 2.5], "d": {"a": np.float64(0.5)}, "n": None,
     "z": np.float64(0.25), "arr": np.array([1.0, 2.0])},
    key="t", value="v",
)
self.set_theta({"p": 0.5}, key="treatment", value=1)
self.set_theta({"p": 0.25}, key="treatment2", value=1)
self.action = {
    "single": self.get_theta(key="t"),
    "exact": self.get_theta(key="t", value="v")["i"],
    "nothing": self.get_theta(key="missing"),
    "floats": self.get_theta(key="treatment", all_float=True),
    "treatment": self.get_theta(key="treatment"),
    "treatment2": self.get_theta(key="treatment2"),
    "bare_value": self.get_theta(value="v"),
}
""",
}
SOCIAL_SCIENCE = 8
AB_TEST = 0


@pytest.mark.parametrize(("clients", "each"), [(20, 25), (50, 10)])
def test_concurrent_setrewards_lose_no_update(sb_theta_server: SbServer, clients: int, each: int) -> None:
    alice = sb_theta_server.client("alice")
    exp = alice.create(COUNTER)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=sb_theta_server.url, timeout=60) as http:
            for _ in range(each):
                response = http.get(
                    f"/setreward/{exp.id}", params={"key": exp.key, "reward": "{}", "action": '{"a": 1}'}
                )
                with lock:
                    statuses[response.status_code] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == {200: 500}
    assert alice.theta(exp) == {"c:x": {"n": "500"}}
    assert len(alice.get(f"/stats/{exp.id}/rewardlog").json()) == 500


def test_concurrent_writes_from_getaction_are_retried_not_lost(sb_theta_server: SbServer) -> None:
    """get_action does not hold the lock: a commit re-checks the theta version and re-runs the call."""
    alice = sb_theta_server.client("alice")
    code = "count = base.Count(self.get_theta(key='hits'))\ncount.increment()\nself.set_theta(count, key='hits')\n"
    exp = alice.create({"get_action": code})
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=sb_theta_server.url, timeout=60) as http:
            for _ in range(10):
                status = http.get(f"/getaction/{exp.id}", params={"key": exp.key}).status_code
                with lock:
                    statuses[status] += 1

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(statuses) <= {200, 409}
    assert alice.theta(exp) == {"hits": {"n": str(statuses[200])}}


def test_theta_text_and_shapes(sb_theta_server: SbServer) -> None:
    alice = sb_theta_server.client("alice")
    exp = alice.create(TEXT)
    action = alice.getaction(exp).json()["action"]
    stored = {
        "i": "3",
        "f": "0.1",
        "b": "True",
        "l": "[1, 2.5]",
        "d": "{'a': 0.5}",
        "n": "None",
        "z": "0.25",
        "arr": "[1.0, 2.0]",
    }
    theta = alice.theta(exp)
    assert theta == {"t:v": stored, "treatment:1": {"p": "0.5"}, "treatment2:1": {"p": "0.25"}}
    assert action["single"] == {"v": stored}  # one child below the key: nested under its suffix
    assert action["exact"] == "3"
    assert action["nothing"] == {}
    assert action["floats"] == {"1": {"p": 0.5}}
    assert action["treatment"] == {"1": {"p": "0.5"}}  # `treatment` does not capture `treatment2`
    assert action["treatment2"] == {"1": {"p": "0.25"}}
    assert action["bare_value"] == {}


def test_social_science_reads_its_own_write(sb_theta_server: SbServer) -> None:
    alice = sb_theta_server.client("alice")
    exp = alice.create_default(SOCIAL_SCIENCE)
    first = alice.getaction(exp, {"userid": "u1"}).json()["action"]
    assert first["note"] == "First allocation" and first["condition"] in ("baseline", "random", "lockin")
    again = alice.getaction(exp, {"userid": "u1"}).json()["action"]
    assert again["condition"] == first["condition"] and "note" not in again
    assert alice.theta(exp) == {"userid:u1": {"condition": first["condition"]}}


def test_reset(sb_theta_server: SbServer) -> None:
    alice = sb_theta_server.client("alice")
    exp = alice.create_default(AB_TEST)
    for arm in ("1", "2"):
        assert alice.setreward(exp, {"value": 1}, context={}, action={"treatment": arm}).status_code == 200
    assert set(alice.theta(exp)) == {"treatment:1", "treatment:2"}
    reset = f"/exp/{exp.id}/resetexperiment"
    assert alice.get(reset, theta_key="treatment", theta_value="1").json() == {"status": "success"}
    assert set(alice.theta(exp)) == {"treatment:2"}
    again = alice.get(reset, theta_key="treatment", theta_value="1")
    assert again.status_code == 401
    assert again.json()["error"]["message"] == "Theta_key or theta_value could not be validated."
    assert alice.get(reset, key=exp.key).json() == {"status": "success"}
    assert alice.theta(exp) == {}
    assert alice.get(reset).status_code == 401  # nothing left to delete
    assert alice.setreward(exp, {"value": 0}, context={}, action={"treatment": "1"}).status_code == 200
    assert alice.theta(exp) == {"treatment:1": {"p": "0.0", "n": "1"}}
