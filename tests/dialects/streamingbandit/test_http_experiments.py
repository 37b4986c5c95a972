"""Scenarios 3, 4 and 17 (spec §7): experiment CRUD, core-route errors, CSRF and CORS, over plain HTTP."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.dialects.streamingbandit.live import Created, SbClient, SbServer, ServerPool

SIMPLE = {"get_action": "self.action = {'a': 1}\n", "set_reward": "self.set_theta({'r': 1}, key='x')\n"}


def error(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body == {"error": {"code": response.status_code, "message": body["error"]["message"]}}
    return response.status_code, body["error"]["message"]


@pytest.mark.parametrize(
    ("sent", "stored"), [(True, "True"), ("yes", "True"), ("True", "True"), (False, "False")]
)
def test_advice_flag_forms(alice: SbClient, sent: object, stored: str) -> None:
    created = alice.create(advice_id=sent, hourly_theta=sent, delta_hours=2, default_reward={"value": 0})
    properties = alice.get(f"/exp/{created.id}").json()
    assert properties["advice_id"] == stored and properties["hourly_theta"] == stored
    assert properties["default_reward"] == "{'value': 0}" and properties["delta_hours"] == "2"


def test_create_validation(alice: SbClient) -> None:
    too_many = alice.http.post(
        "/exp", json={"name": "x", "advice_id": True, "delta_hours": 100000, "default_reward": {"value": 0}}
    )
    assert error(too_many) == (400, "Supplied number for delta hours must be between 0 and 99999.")
    assert error(alice.http.post("/exp", json={"name": "x", "advice_id": "maybe"}))[0] == 400
    assert (
        error(alice.http.post("/exp", json={"name": "x", "advice_id": True}))[0] == 400
    )  # needs delta_hours
    bad_reward = {"name": "x", "advice_id": True, "delta_hours": 1, "default_reward": "[1, 2]"}
    assert error(alice.http.post("/exp", json=bad_reward))[0] == 400
    syntax = error(alice.http.post("/exp", json={"name": "x", "get_action": "if True\n  pass"}))
    assert (
        syntax[0] == 400
        and syntax[1].startswith("Invalid get_action code: SyntaxError")
        and "(line 1)" in syntax[1]
    )
    assert error(alice.http.post("/exp", content=b"{not json"))[0] == 400
    assert error(alice.http.post("/exp", json=[1, 2]))[0] == 400
    assert error(alice.http.post("/exp", json={"get_action": ""}))[0] == 400  # name is required
    aliased = alice.create(getaction="self.action = {'b': 2}\n", setreward="# EMPTY\n")
    properties = alice.get(f"/exp/{aliased.id}").json()
    assert properties["get_action"] == "self.action = {'b': 2}\n" and properties["set_reward"] == "# EMPTY\n"
    assert properties["get_context"] == "" and properties["get_reward"] == ""


def test_ids_and_keys_are_fresh_hex_and_unique(alice: SbClient) -> None:
    created = [alice.create() for _ in range(300)]
    assert all(re.fullmatch(r"[0-9a-f]{10}", c.id) and re.fullmatch(r"[0-9a-f]{16}", c.key) for c in created)
    assert len({c.id for c in created}) == 300 and len({c.key for c in created}) == 300


def test_listing_editing_and_deleting(alice: SbClient, bob: SbClient) -> None:
    mine = alice.create(SIMPLE, name="mine")
    theirs = bob.create(SIMPLE, name="theirs")
    listing = alice.get("/exp").json()
    assert mine.id in listing and theirs.id not in listing
    assert listing[mine.id]["name"] == "mine" and listing[mine.id]["key"] == mine.key
    properties = alice.get(f"/exp/{mine.id}").json()
    assert list(properties) == [
        "user_id",
        "name",
        "get_context",
        "get_action",
        "get_reward",
        "set_reward",
        "hourly_theta",
        "advice_id",
        "key",
    ]
    assert properties["user_id"].isdigit()

    edited = alice.http.put(
        f"/exp/{mine.id}",
        json={
            **{k: v for k, v in properties.items() if k != "set_reward"},
            "name": "renamed",
            "key": "0" * 16,
            "get_action": "self.action = {'a': 2}\n",
        },
    )
    assert edited.json() == {"id": mine.id}
    after = alice.get(f"/exp/{mine.id}").json()
    assert after["key"] == mine.key and after["active"] == "1" and after["name"] == "renamed"
    assert after["set_reward"] == "" and "get_action" in after  # absent code fields become ""
    assert alice.getaction(mine).json()["action"] == {"a": 2}

    assert error(bob.get(f"/exp/{mine.id}")) == (401, "Experiment could not be validated.")
    assert error(bob.http.put(f"/exp/{mine.id}", json={"name": "x"}))[0] == 401
    assert error(bob.http.delete(f"/exp/{mine.id}"))[0] == 401

    deleted = alice.http.delete(f"/exp/{mine.id}")
    assert deleted.status_code == 200 and deleted.json() == mine.id
    assert error(alice.get(f"/exp/{mine.id}")) == (401, "Experiment could not be validated.")
    assert error(alice.getaction(mine)) == (401, "Key or exp_id is invalid.")
    assert mine.id not in alice.get("/exp").json()


def test_put_keeps_fields_it_does_not_write(alice: SbClient) -> None:
    created = alice.create(advice_id=True, delta_hours=5, default_reward={"value": 1})
    alice.http.put(f"/exp/{created.id}", json={"name": "off", "advice_id": False})
    after = alice.get(f"/exp/{created.id}").json()
    assert after["advice_id"] == "False" and after["delta_hours"] == "5"


def test_core_route_errors(alice: SbClient, sb_server: SbServer) -> None:
    exp = alice.create(SIMPLE)
    with sb_server.anonymous() as http:
        no_key = http.get(f"/getaction/{exp.id}")
        assert no_key.status_code == 400
        assert no_key.json() == {"error": {"code": 400, "message": "Key not supplied."}}
        assert error(http.get(f"/getaction/{exp.id}", params={"key": ""})) == (400, "Key not supplied.")
        assert error(http.get(f"/getaction/{exp.id}", params={"key": "0" * 16})) == (
            401,
            "Key or exp_id is invalid.",
        )
        assert error(http.get("/getaction/0000000000", params={"key": exp.key})) == (
            401,
            "Key or exp_id is invalid.",
        )
        assert error(http.get(f"/setreward/{exp.id}", params={"key": "nope"}))[0] == 401
        bad = http.get(f"/getaction/{exp.id}", params={"key": exp.key, "context": "{'a': 1}"})
        assert error(bad) == (400, "Invalid JSON in parameter 'context'.")
        assert error(http.get(f"/setreward/{exp.id}", params={"key": exp.key, "reward": "{"}))[0] == 400
        shouting = http.get(f"/GETACTION/{exp.id}", params={"key": exp.key})
        assert shouting.status_code == 200 and shouting.json() == {"action": {"a": 1}, "context": {}}
        assert http.get(f"/GetAction/{exp.id}", params={"key": exp.key}).status_code == 200
        assert error(http.get("/exp/")) == (404, "Not found.")
        assert error(http.get(f"/getaction/{exp.id}-x", params={"key": exp.key}))[0] == 404
        assert error(http.post(f"/getaction/{exp.id}")) == (405, "Method not allowed.")
        assert error(http.get("/exp")) == (401, "Could not validate user.")
        assert error(http.get("/stats/x/currenttheta")) == (401, "Could not validate user.")
    responses = [
        alice.getaction(exp),
        alice.setreward(exp, {"v": 1}, context={}, action={"a": 1}),
        alice.get("/exp"),
        alice.get(f"/exp/{exp.id}"),
        alice.get("/exp/defaults"),
        alice.get("/exp/defaults/0"),
        alice.get(f"/stats/{exp.id}/summary"),
        alice.get(f"/stats/{exp.id}/log"),
        alice.get(f"/stats/{exp.id}/currenttheta"),
        alice.get("/exp/defaults/14"),
    ]
    assert all(r.headers["content-type"] == "application/json" for r in responses)
    assert [r.status_code for r in responses] == [200] * 9 + [404]


def test_defaults_listing(alice: SbClient) -> None:
    listing = alice.get("/exp/defaults").json()
    assert (
        len(listing) == 14
        and listing["0"] == "AB Test"
        and listing["12"] == "UCB1"
        and listing["13"] == "LinUCB"
    )
    default = alice.get("/exp/defaults/11").json()
    assert list(default) == ["name", "get_context", "get_action", "get_reward", "set_reward"]
    assert error(alice.get("/exp/defaults/x")) == (404, "Not found.")


# --- scenario 17: CSRF and CORS -----------------------------------------------------------------------------


def test_cross_site_writes_are_refused(alice: SbClient) -> None:
    before = set(alice.get("/exp").json())
    evil = alice.http.post("/exp", json={"name": "csrf"}, headers={"Origin": "https://evil.example"})
    assert error(evil) == (403, "Cross-origin request rejected.")
    assert set(alice.get("/exp").json()) == before
    by_referer = alice.http.post(
        "/exp", json={"name": "csrf"}, headers={"Referer": "https://evil.example/page"}
    )
    assert error(by_referer)[0] == 403
    same_origin = alice.http.post(
        "/exp", json={"name": "ok"}, headers={"Origin": str(alice.http.base_url).rstrip("/")}
    )
    assert same_origin.status_code == 200
    created = Created(**{k: same_origin.json()[k] for k in ("id", "key")})
    assert alice.http.post("/exp", json={"name": "script"}).status_code == 200  # no Origin: a script
    reset = alice.http.get(f"/exp/{created.id}/resetexperiment", headers={"Sec-Fetch-Site": "cross-site"})
    assert error(reset) == (403, "Cross-origin request rejected.")
    simulate = alice.http.get(f"/eval/{created.id}/simulate", headers={"Origin": "https://evil.example"})
    assert error(simulate)[0] == 403
    login = alice.http.post(
        "/login",
        json={"username": alice.username, "password": "x"},
        headers={"Origin": "https://evil.example"},
    )
    assert error(login) == (403, "Cross-origin request rejected.")


def test_cors_is_off_by_default(sb_server: SbServer) -> None:
    with sb_server.anonymous() as http:
        for path in ("/exp", "/getaction/abc", "/stats/abc/log", "/login"):
            response = http.options(path, headers={"Origin": "https://ui.example"})
            assert response.status_code == 204
            assert not [name for name in response.headers if name.lower().startswith("access-control")]


def test_cors_for_configured_origins(sb_servers: ServerPool) -> None:
    server = sb_servers.get("sqlite", sb_cors_origins="https://ui.example")
    with server.anonymous() as http:
        allowed = http.options("/exp", headers={"Origin": "https://ui.example"})
        assert allowed.status_code == 204
        assert allowed.headers["access-control-allow-origin"] == "https://ui.example"
        assert allowed.headers["access-control-allow-credentials"] == "true"
        assert "DELETE" in allowed.headers["access-control-allow-methods"]
        assert allowed.headers["vary"] == "Origin"
        other = http.options("/exp", headers={"Origin": "https://other.example"})
        assert "access-control-allow-origin" not in other.headers
        listed = http.get("/exp", headers={"Origin": "https://ui.example"})
        assert (
            listed.status_code == 401
            and listed.headers["access-control-allow-origin"] == "https://ui.example"
        )
        core = http.options("/getaction/abc", headers={"Origin": "https://ui.example"})
        assert "access-control-allow-origin" not in core.headers  # core routes have their own list
        username = server.account("ui")
        login = http.post(
            "/login",
            json={"username": username, "password": "correct horse 1"},
            headers={"Origin": "https://ui.example"},
        )
        assert login.status_code == 200 and "SameSite=None; Secure" in login.headers["set-cookie"]


def test_bodies_over_one_mebibyte_are_refused(alice: SbClient) -> None:
    big = alice.http.post("/exp", content=b'{"name": "' + b"x" * (1 << 20) + b'"}')
    assert error(big) == (413, "Request body too large (1 MiB at most).")
    assert alice.http.post("/exp", json={"name": "x" * 1000}).status_code == 200
