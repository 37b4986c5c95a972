"""A shared sandbox pool for the tests (starting one preloads numpy and scipy: about a second)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crucible.engines.sandbox import DEFAULT_PRELOAD, Limits, Policy, SandboxConfig, SandboxPool

RUNTIME = "tests.engines.sandbox.sample_runtime"


def make_config(light: bool = False, **overrides: object) -> SandboxConfig:
    """The tests' pool configuration; `light` preloads numpy only, for pools a test starts itself."""
    options: dict[str, object] = {
        "runtimes": {RUNTIME: Policy()},
        "preload": ("numpy", "numpy.random", "numpy.linalg", "random", RUNTIME)
        if light
        else (*DEFAULT_PRELOAD, RUNTIME),
        "memory_mb": 256,
        "limits": Limits(cpu_seconds=1, wall_seconds=1.5),
        "max_concurrency": 3,
        "queue_timeout": 5.0,
    }
    options.update(overrides)
    return SandboxConfig(**options)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pool() -> Iterator[SandboxPool]:
    with SandboxPool(make_config()) as shared:
        yield shared
