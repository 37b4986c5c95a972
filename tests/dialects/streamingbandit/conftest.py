"""Fixtures for running StreamingBandit experiment code in-process (see harness.py)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from crucible.dialects.streamingbandit.defaults import PLACEHOLDER_IDS, get_default
from tests.dialects.streamingbandit.harness import World

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
