"""Scenarios 7, 8 and 9 (spec §7): advice ids, their expiry by the background sweep, and calls that fail
applying nothing, over plain HTTP."""

from __future__ import annotations

import re
import time

from tests.dialects.streamingbandit.live import SbClient

AB_TEST = 0
FAILS_ON_99 = {
    "get_action": "self.action = {'arm': 'a'}\n",
    "set_reward": (
        "self.set_theta({'v': self.reward['value']}, key='t')\n"
        "self.log_data({'v': self.reward['value']})\n"
        "if self.reward['value'] == 99:\n"
        "    raise ValueError('ninety-nine')\n"
    ),
}


def advice_experiment(client: SbClient, delta_hours: int, code: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    fields = {"advice_id": True, "delta_hours": delta_hours, "default_reward": {"value": 0}}
    if code is None:
        return client.create_default(AB_TEST, **fields)
    return client.create(code, **fields)


def test_advice_flow(alice: SbClient) -> None:
    exp = advice_experiment(alice, 1)
    other = advice_experiment(alice, 1)
    got = alice.getaction(exp, {"date": "yesterday", "action": "kept", "user": 7}).json()
    assert re.fullmatch(r"[0-9a-f]{24}", got["advice_id"])
    assert got["context"] == {"date": "yesterday", "action": "kept", "user": 7}

    done = alice.setreward(exp, {"value": 1}, advice_id=got["advice_id"])
    assert done.status_code == 200
    assert done.json() == {
        "status": "success",
        "action": got["action"],
        "context": {"date": "yesterday", "action": "kept", "user": 7},
        "reward": {"value": 1},
    }
    arm = got["action"]["treatment"]
    assert alice.theta(exp)[f"treatment:{arm}"] == {"p": "1.0", "n": "1"}

    gone = {"error": {"code": 400, "message": "Advice ID does not exist!"}}
    assert alice.setreward(exp, {"value": 1}, advice_id=got["advice_id"]).json() == gone  # used
    assert alice.setreward(exp, {"value": 1}, advice_id="xyz").json() == gone  # malformed
    assert alice.setreward(exp, {"value": 1}, advice_id="0" * 24).json() == gone  # unknown
    foreign = alice.getaction(other).json()["advice_id"]
    wrong_experiment = alice.setreward(exp, {"value": 1}, advice_id=foreign)
    assert wrong_experiment.status_code == 400 and wrong_experiment.json() == gone
    assert alice.setreward(other, {"value": 0}, advice_id=foreign).status_code == 200


def test_expired_advice_gets_the_default_reward(alice: SbClient) -> None:
    exp = advice_experiment(alice, 0)
    got = alice.getaction(exp).json()
    arm = got["action"]["treatment"]
    deadline = time.monotonic() + 5
    while alice.theta(exp).get(f"treatment:{arm}") != {"p": "0.0", "n": "1"}:
        assert time.monotonic() < deadline, alice.theta(exp)
        time.sleep(0.2)
    late = alice.setreward(exp, {"value": 1}, advice_id=got["advice_id"])
    assert late.status_code == 400 and late.json()["error"]["message"] == "Advice ID does not exist!"
    assert alice.get(f"/stats/{exp.id}/rewardlog").json() == []


def test_full_reset_drops_pending_advices(alice: SbClient) -> None:
    exp = advice_experiment(alice, 1)
    pending = alice.getaction(exp).json()["advice_id"]
    assert alice.get(f"/exp/{exp.id}/resetexperiment").json() == {"status": "success"}
    assert alice.setreward(exp, {"value": 1}, advice_id=pending).status_code == 400


def test_a_failed_call_applies_nothing_and_keeps_the_advice(alice: SbClient) -> None:
    exp = advice_experiment(alice, 1, FAILS_ON_99)
    advice_id = alice.getaction(exp).json()["advice_id"]
    failed = alice.setreward(exp, {"value": 99}, advice_id=advice_id)
    assert failed.status_code == 500
    message = failed.json()["error"]["message"]
    assert message == f"Error in set_reward code of experiment {exp.id}: ValueError: ninety-nine (line 4)"
    assert alice.theta(exp) == {}
    assert alice.get(f"/stats/{exp.id}/log").json() == []
    assert alice.get(f"/stats/{exp.id}/rewardlog").json() == []

    done = alice.setreward(exp, {"value": 1}, advice_id=advice_id)
    assert done.status_code == 200, done.text
    assert alice.theta(exp) == {"t": {"v": "1"}}
    assert alice.get(f"/stats/{exp.id}/log").json() == [{"v": 1, "exp_id": exp.id}]
