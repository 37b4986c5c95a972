"""Fixtures for StreamingBandit tests: experiment code in-process (see harness.py), and live servers with
the suite settings of spec §6 for the end-to-end scenarios over plain HTTP (see live.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from crucible.dialects.streamingbandit.defaults import PLACEHOLDER_IDS, get_default
from tests.conftest import POSTGRES_URL, REDIS_URL
from tests.dialects.streamingbandit.harness import World
from tests.dialects.streamingbandit.live import SbClient, SbServer, ServerPool

E_FIRST, E_GREEDY = 2, 3
NESTED_POLICIES, PARALLEL_EVALUATION = 5, 7


@pytest.fixture
def world() -> World:
    return World()


def with_ids(code: Mapping[str, str], first_id: str, second_id: str) -> dict[str, str]:
    """Code with the E-First and E-Greedy id placeholders replaced, as an owner would edit it."""
    first, second = PLACEHOLDER_IDS
    return {hook: text.replace(first, first_id).replace(second, second_id) for hook, text in code.items()}


def create_default(world: World, index: int, owner: str = "alice") -> str:
    """Create default `index` for `owner`; Nested Policies and Parallel Evaluation get fresh E-First and
    E-Greedy experiments of the same owner in place of their placeholders."""
    code = get_default(index)
    if index in (NESTED_POLICIES, PARALLEL_EVALUATION):
        first = world.create(get_default(E_FIRST), owner=owner)
        second = world.create(get_default(E_GREEDY), owner=owner)
        code = with_ids(code, first, second)
    return world.create(code, owner=owner, name=code["name"])


# --- live servers for the end-to-end scenarios (spec §6, §7) ---------------------------------------------

SQL_BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
THETA_BACKENDS = [*SQL_BACKENDS, "redis"]
"""Theta scenarios also run with the Redis theta store (skipped with a reason when there is no Redis)."""


@pytest.fixture(scope="session")
def sb_servers(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[ServerPool]:
    """Live servers with the suite settings (spec §6), one per backend, started on first use and shared by the
    session (each test works with its own accounts)."""
    servers = ServerPool(tmp_path_factory, sqlite_template)
    yield servers
    servers.stop_all()


@pytest.fixture(params=SQL_BACKENDS)
def sb_server(request: pytest.FixtureRequest, sb_servers: ServerPool) -> SbServer:
    return sb_servers.get(request.param)


@pytest.fixture(params=THETA_BACKENDS)
def sb_theta_server(request: pytest.FixtureRequest, sb_servers: ServerPool) -> SbServer:
    if request.param == "redis" and not REDIS_URL:
        pytest.skip("Redis theta store tests need CRUCIBLE_TEST_REDIS_URL (set by .ci/run)")
    return sb_servers.get(request.param)


@pytest.fixture
def alice(sb_server: SbServer) -> SbClient:
    return sb_server.client("alice")


@pytest.fixture
def bob(sb_server: SbServer) -> SbClient:
    return sb_server.client("bob")
