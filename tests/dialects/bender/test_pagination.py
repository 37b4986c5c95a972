"""Limit/offset pagination with absolute links (spec §2.3, scenario 4 raw parts)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.dialects.bender.conftest import SIN_X, BenderUser


@pytest.fixture
def trials_250(alice: BenderUser, add_trials: Callable[..., None]) -> str:
    _experiment, algo = alice.setup(SIN_X)
    add_trials(algo, alice, [({"x": i / 100}, {"loss": i}, 1.0) for i in range(250)])
    return algo["id"]


def test_pages_of_250_trials(alice: BenderUser, trials_250: str) -> None:
    a = trials_250
    first = alice.get(f"/api/trials/?algo={a}").json()
    assert first["count"] == 250
    assert len(first["results"]) == 100
    assert first["previous"] is None
    assert first["next"] == f"http://testserver/api/trials/?algo={a}&limit=100&offset=100"

    second = alice.get(first["next"]).json()
    assert len(second["results"]) == 100
    assert second["previous"] == f"http://testserver/api/trials/?algo={a}&limit=100"
    third = alice.get(second["next"]).json()
    assert len(third["results"]) == 50
    assert third["next"] is None
    assert third["previous"] == f"http://testserver/api/trials/?algo={a}&limit=100&offset=100"
    ids = [t["id"] for page in (first, second, third) for t in page["results"]]
    assert len(set(ids)) == 250


def test_limit_and_offset(alice: BenderUser, trials_250: str) -> None:
    a = trials_250
    page = alice.get(f"/api/trials/?algo={a}&limit=30&offset=240").json()
    assert len(page["results"]) == 10
    assert page["next"] is None
    assert page["previous"] == f"http://testserver/api/trials/?algo={a}&limit=30&offset=210"
    # offset - limit <= 0: previous has no offset
    page = alice.get(f"/api/trials/?algo={a}&limit=30&offset=30").json()
    assert page["previous"] == f"http://testserver/api/trials/?algo={a}&limit=30"
    page = alice.get(f"/api/trials/?algo={a}&limit=30&offset=10").json()
    assert page["previous"] == f"http://testserver/api/trials/?algo={a}&limit=30"
    assert page["next"] == f"http://testserver/api/trials/?algo={a}&limit=30&offset=40"
    # offset + limit == count: no next
    page = alice.get(f"/api/trials/?algo={a}&limit=50&offset=200").json()
    assert page["next"] is None
    assert len(page["results"]) == 50
    # past the end
    page = alice.get(f"/api/trials/?algo={a}&offset=1000").json()
    assert page["results"] == []
    assert page["count"] == 250


@pytest.mark.parametrize("limit", ["abc", "0", "-5", "", "1.5"])
def test_bad_limits_fall_back_to_100(alice: BenderUser, trials_250: str, limit: str) -> None:
    page = alice.get(f"/api/trials/?algo={trials_250}&limit={limit}").json()
    assert len(page["results"]) == 100
    query = dict(parse_qsl(urlsplit(page["next"]).query))
    assert query["limit"] == "100"
    assert query["offset"] == "100"


@pytest.mark.parametrize("offset", ["abc", "-3", ""])
def test_bad_offsets_are_zero(alice: BenderUser, trials_250: str, offset: str) -> None:
    page = alice.get(f"/api/trials/?algo={trials_250}&offset={offset}").json()
    assert page["previous"] is None
    assert page["next"].endswith("limit=100&offset=100")


def test_forwarded_headers(alice: BenderUser, trials_250: str) -> None:
    headers = {"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "bender.example.org, proxy.local"}
    page = alice.get(f"/api/trials/?algo={trials_250}", headers=headers).json()
    assert page["next"] == f"https://bender.example.org/api/trials/?algo={trials_250}&limit=100&offset=100"
    page = alice.get(f"/api/trials/?algo={trials_250}", headers={"Host": "api.local:8080"}).json()
    assert page["next"].startswith("http://api.local:8080/api/trials/?")


class TestUntrustedForwardedHeaders:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"trust_forwarded_headers": False}

    def test_forwarded_headers_are_ignored(self, alice: BenderUser, trials_250: str) -> None:
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bender.example.org"}
        page = alice.get(f"/api/trials/?algo={trials_250}", headers=headers).json()
        assert page["next"].startswith("http://testserver/api/trials/?")


def test_every_query_parameter_is_kept(alice: BenderUser, trials_250: str) -> None:
    page = alice.get(f"/api/trials/?algo={trials_250}&o=date&format=json&limit=20").json()
    assert page["next"] == (
        f"http://testserver/api/trials/?algo={trials_250}&o=date&format=json&limit=20&offset=20"
    )


def test_links_keep_the_path_as_requested(alice: BenderUser, trials_250: str) -> None:
    page = alice.get(f"/api/trials?algo={trials_250}").json()
    assert page["next"].startswith("http://testserver/api/trials?algo=")
    page = alice.get(f"/api/trials.json?algo={trials_250}").json()
    assert page["next"].startswith("http://testserver/api/trials.json?algo=")


class TestPageCap:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"bender_max_page_limit": 40}

    def test_limit_is_capped(self, alice: BenderUser, trials_250: str) -> None:
        page = alice.get(f"/api/trials/?algo={trials_250}&limit=10000").json()
        assert len(page["results"]) == 40
        assert page["next"].endswith("limit=40&offset=40")


def test_default_cap_allows_the_web_ui_limit(alice: BenderUser, trials_250: str) -> None:
    page = alice.get(f"/api/trials/?algo={trials_250}&limit=10000").json()
    assert len(page["results"]) == 250
    assert page["next"] is None


def test_every_list_is_paginated(alice: BenderUser) -> None:
    experiment, _algo = alice.setup(SIN_X)
    for path in (
        "/api/experiments/?owner=alice",
        f"/api/algos/?experiment={experiment['id']}",
        "/api/trials/?owner=alice",
        "/api/users/",
    ):
        page = alice.get(path + ("&" if "?" in path else "?") + "limit=1").json()
        assert set(page) == {"count", "next", "previous", "results"}, path
        assert len(page["results"]) == 1 or page["count"] == 0, path
