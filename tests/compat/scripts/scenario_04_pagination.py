"""Scenario 4: list_trials() follows absolute `next` links, directly and behind a proxy that sets
X-Forwarded-Host/Proto (the client passes `next` straight to requests)."""

from __future__ import annotations

import os

import requests
from _common import URL, User, report
from benderclient import Bender

alice = User("ALICE")
ALGO = os.environ["ALGO_ID"]
PROXY = os.environ["PROXY_URL"]
counts = {}
for name, host in (("direct", URL), ("proxy", PROXY)):
    os.environ["HOME"] = alice.home
    bender = Bender(algo_id=ALGO, host=host)
    trials = bender.list_trials()
    ids = {t["id"] for t in trials}
    assert len(trials) == len(ids) == 250, (name, len(trials), len(ids))
    counts[name] = len(ids)

page = requests.get(
    f"{PROXY}/api/trials/?algo={ALGO}", headers={"Authorization": f"JWT {alice.token}"}
).json()
assert page["next"] == f"{PROXY}/api/trials/?algo={ALGO}&limit=100&offset=100", page["next"]
report(counts)
