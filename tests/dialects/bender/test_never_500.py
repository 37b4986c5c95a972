"""A 5xx is a bug (spec §2.4): odd bodies, odd numbers and odd queries on every Bender route get a 4xx
(or a 2xx), with a DRF-shaped JSON body. Scenario 6's suggest cases are in test_suggest.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from tests.dialects.bender.conftest import PASSWORD, SIN_X, BenderUser

HUGE = 10**400  # a JSON integer no float can hold
HUGE_TEXT = "1" + "0" * 400
TOO_LONG_TEXT = "9" * 5000  # more digits than Python converts by default


@pytest.fixture
def quiet(app: FastAPI, alice: BenderUser) -> Iterator[BenderUser]:
    """alice, through a client that answers server errors with a 500 instead of raising them, so a test can
    list every failing case at once."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield BenderUser(client, alice.account)


class Failures:
    def __init__(self) -> None:
        self.cases: list[str] = []

    def check(self, response: Any, label: object) -> None:
        if response.status_code >= 500:
            self.cases.append(f"{response.status_code} {label!r:.160}")
        elif response.status_code >= 400:
            body = response.json()
            if not (isinstance(body, dict) and body):
                self.cases.append(f"{response.status_code} {label!r:.160}: body {body!r:.80}")

    def assert_none(self) -> None:
        assert not self.cases, f"{len(self.cases)} server errors:\n" + "\n".join(self.cases[:60])


@pytest.fixture
def world(alice: BenderUser) -> dict[str, str]:
    experiment, algo = alice.setup(SIN_X)
    trial = alice.trial(algo["id"], {"x": 1.0}, {"loss": 1.0}).json()
    return {
        "experiment": experiment["id"],
        "algo": algo["id"],
        "trial": trial["id"],
        "user": str(alice.account.id),
    }


def routes(w: dict[str, str]) -> list[tuple[str, str]]:
    return [
        ("POST", "/registration/"),
        ("POST", "/registration/verify-email/"),
        ("POST", "/password/change/"),
        ("POST", "/password/reset/"),
        ("POST", "/password/reset/confirm/"),
        ("PUT", "/user/"),
        ("PATCH", "/user/"),
        ("POST", "/api/experiments/"),
        ("PATCH", f"/api/experiments/{w['experiment']}/"),
        ("PUT", f"/api/experiments/{w['experiment']}/"),
        ("POST", "/api/algos/"),
        ("PATCH", f"/api/algos/{w['algo']}/"),
        ("PUT", f"/api/algos/{w['algo']}/"),
        ("POST", f"/api/algos/{w['algo']}/suggest/"),
        ("POST", "/api/trials/"),
        ("PATCH", f"/api/users/{w['user']}/"),
        ("POST", "/api/users/contact/"),
    ]


RAW_BODIES = [
    b"",
    b"{",
    b"null",
    b"[]",
    b"[1, 2]",
    b'"text"',
    b"42",
    b"true",
    b"\xff\xfe",
    b'{"a": NaN}',
    b'{"a": 1e999}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"name": ' + TOO_LONG_TEXT.encode() + b"}",
]


def test_unparsable_and_non_object_bodies(quiet: BenderUser, world: dict[str, str]) -> None:
    failures = Failures()
    for method, path in routes(world):
        for raw in RAW_BODIES:
            response = quiet.request(method, path, content=raw, headers={"Content-Type": "application/json"})
            failures.check(response, (method, path, raw[:30]))
    response = quiet.post_raw("/api/experiments/", "{nope")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - ")
    response = quiet.post_raw("/api/experiments/", "[1]")
    assert response.json() == {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}
    failures.assert_none()


def test_login_with_unparsable_bodies(quiet: BenderUser) -> None:
    failures = Failures()
    for raw in [*RAW_BODIES, b'{"email": "a\\u0000b", "password": "p4ssword!"}']:
        response = quiet.request("POST", "/login/", content=raw, headers={"Content-Type": "application/json"})
        failures.check(response, ("POST", "/login/", raw[:30]))
    failures.assert_none()


def test_login_with_odd_values(quiet: BenderUser) -> None:
    failures = Failures()
    for field in ("email", "username", "password"):
        for value in WEIRD_VALUES:
            body = {"email": "alice@example.org", "password": PASSWORD, field: value}
            response = quiet.request(
                "POST",
                "/login/",
                content=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            failures.check(response, ("login", field, repr(value)[:40]))
    failures.assert_none()


WEIRD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    HUGE,
    -HUGE,
    1.5,
    "",
    "x" * 300,
    "nul\x00byte",  # PostgreSQL text cannot hold NUL
    [],
    [None],
    ["\x00"],
    {},
    {"a": [{}]},
    {"\x00": "\x00"},
]


def route_fields(w: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """Each write route with a valid body; every field of it is then replaced by odd values."""
    experiment = {"name": "n", "metrics": [{"metric_name": "m", "type": "loss"}], "description": "d"}
    experiment_update = {"description": "d", "dataset": "d", "dataset_parameters": None, "shared_with": []}
    algo = {"name": "n", "experiment": w["experiment"], "parameters": [], "description": None}
    return [
        (
            "POST",
            "/registration/",
            {
                "username": "someone",
                "email": "e@example.org",
                "password1": "p4ssword!",
                "password2": "p4ssword!",
                "tos_accepted": True,
            },
        ),
        ("POST", "/registration/verify-email/", {"key": "1:k"}),
        ("POST", "/password/reset/", {"email": "e@example.org"}),
        (
            "POST",
            "/password/reset/confirm/",
            {"uid": "1", "token": "t", "new_password1": "p4ssword!", "new_password2": "p4ssword!"},
        ),
        ("PATCH", "/user/", {"username": "alice", "first_name": "f", "last_name": "l"}),
        ("POST", "/api/experiments/", {**experiment, "dataset": "d", "dataset_parameters": None}),
        ("PATCH", f"/api/experiments/{w['experiment']}/", experiment_update),
        ("POST", "/api/algos/", algo),
        ("PATCH", f"/api/algos/{w['algo']}/", {"name": "n", "description": None, "parameters": []}),
        (
            "POST",
            f"/api/algos/{w['algo']}/suggest/",
            {"metric": "loss", "optimizer": "random", "minimum_observations": 1, "seed": 1},
        ),
        (
            "POST",
            "/api/trials/",
            {"algo": w["algo"], "parameters": {"x": 1}, "results": {"loss": 1}, "comment": None, "weight": 1},
        ),
        (
            "PATCH",
            f"/api/users/{w['user']}/",
            {"username": "alice", "email": "alice@example.org", "shared_experiments": []},
        ),
        ("POST", "/api/users/contact/", {"title": "t", "content": "c", "email": "e@example.org"}),
    ]


def test_every_field_with_weird_values(quiet: BenderUser, world: dict[str, str]) -> None:
    failures = Failures()
    for method, path, valid in route_fields(world):
        for field in valid:
            for value in WEIRD_VALUES:
                body = json.dumps({**valid, field: value}).encode()
                response = quiet.request(
                    method, path, content=body, headers={"Content-Type": "application/json"}
                )
                failures.check(response, (method, path, field, repr(value)[:40]))
    failures.assert_none()


SPACE_KEYS = {
    "uniform": ("low", "high", "step"),
    "loguniform": ("low", "high", "step", "base"),
    "normal": ("mu", "sigma", "low", "high", "step"),
    "lognormal": ("mu", "sigma", "low", "high", "step", "base"),
    "categorical": ("values", "probabilities"),
    "descriptive": ("low",),
}
SPACE_VALUES: list[Any] = [
    None,
    True,
    -1,
    0,
    1e-320,
    1e308,
    -1e308,
    "",
    [],
    {},
    [None],
    [HUGE],
    [1e308, -1e308],
]


def test_weird_search_spaces(quiet: BenderUser, world: dict[str, str]) -> None:
    failures = Failures()
    valid = {
        "uniform": {"low": 0, "high": 1},
        "loguniform": {"low": 1, "high": 10},
        "normal": {"mu": 0, "sigma": 1},
        "lognormal": {"mu": 1, "sigma": 2},
        "categorical": {"values": [1, 2]},
        "descriptive": {},
    }
    for category, keys in SPACE_KEYS.items():
        for key in keys:
            for value in SPACE_VALUES:
                space = {**valid[category], key: value}
                parameters = [{"name": "p", "category": category, "search_space": space}]
                response = quiet.post(
                    "/api/algos/", {"name": "p", "experiment": world["experiment"], "parameters": parameters}
                )
                failures.check(response, (category, key, repr(value)[:40]))
                if response.status_code == 201:
                    algo_id = response.json()["id"]
                    for optimizer in ("random", "parzen_estimator"):
                        suggestion = quiet.suggest(
                            algo_id, metric="loss", optimizer=optimizer, minimum_observations=1
                        )
                        failures.check(suggestion, ("suggest", category, key, repr(value)[:40]))
                    assert quiet.delete(f"/api/algos/{algo_id}/").status_code == 204
    for body in (
        '{"name": "p", "experiment": "%s", "parameters": [{"name": "p", "category": "uniform", "search_space": {"low": 0, "high": %s}}]}',
    ):
        for number in (HUGE_TEXT, "1e999", "NaN", "-Infinity"):
            response = quiet.post_raw("/api/algos/", body % (world["experiment"], number))
            failures.check(response, number[:10])
            assert response.status_code == 400, (number[:10], response.text)
    failures.assert_none()


def test_huge_numbers_in_trials_orderings_and_suggest(quiet: BenderUser, world: dict[str, str]) -> None:
    failures = Failures()
    algo = world["algo"]
    for parameters, results, extra in (
        ({"x": HUGE}, {"loss": 1}, {}),
        ({"x": 1.0}, {"loss": HUGE}, {}),
        ({"x": 1.0}, {"loss": 1}, {"weight": HUGE}),
        ({"x": 1.0}, {"loss": 1}, {"weight": HUGE_TEXT}),
        ({"x": 1.0}, {"loss": 1}, {"weight": "1e999"}),
        ({"x": 1.0}, {"loss": HUGE_TEXT}, {}),
        ({"x": 1e308}, {"loss": -1e308}, {"weight": 1e308}),
        ({"x": [HUGE]}, {"loss": {"a": HUGE}}, {"comment": HUGE}),
    ):
        response = quiet.trial(algo, parameters, results, **extra)
        failures.check(response, (parameters, results, extra))
    for query in (
        "o_results=loss",
        "o_results=-loss",
        "o_parameters=x",
        "o_parameters=-x",
        "o_results=",
        "o=zzz",
    ):
        response = quiet.get(f"/api/trials/?algo={algo}&{query}")
        failures.check(response, query)
        assert response.status_code == 200
    for body in (
        {"metric": "loss", "minimum_observations": 1},
        {"metric": "loss", "minimum_observations": 1, "seed": HUGE},
        {"metric": "loss", "minimum_observations": HUGE},
        {"metric": "loss", "minimum_observations": HUGE_TEXT},
        {"metric": "loss", "minimum_observations": 1, "optimizer": "parzen_estimator", "seed": 2**64},
    ):
        failures.check(quiet.suggest(algo, **body), body)
    failures.assert_none()


def test_odd_queries(quiet: BenderUser, world: dict[str, str]) -> None:
    failures = Failures()
    for path in (
        "/api/experiments/?owner=alice&limit=99999999999999999999999&offset=99999999999999999999999",
        "/api/experiments/?owner=alice&o=date&o=-date&name=%00",
        "/api/trials/?owner=alice&algo=%00&experiment=%FF",
        f"/api/trials/?algo={world['algo']}&limit=-1&offset=-1",
        "/api/algos/?experiment=&owner=",
        "/api/users/?search=%00%25_",
        "/api/users/99999999999999999999999999/",
        "/api/users/-1/",
        "/api/users/0/",
        "/api/experiments/%00/",
        "/api/algos/" + "a" * 5000 + "/",
    ):
        failures.check(quiet.get(path), path)
    for header in ("JWT " + "a" * 10000, "Basic !!!", "Basic " + "YQ==", "Bearer a.b.c", "JWT \x00"):
        try:
            response = quiet.client.get("/user/", headers={"Authorization": header})
        except Exception:  # httpx refuses some header bytes itself
            continue
        failures.check(response, header[:20])
    failures.assert_none()
