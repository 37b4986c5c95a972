"""Restricted builtins, module proxies and JSON conversion, exercised in-process (no worker needed)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import scipy
import scipy.stats

from crucible.engines.sandbox import Policy, ResultNotSerializable, SandboxViolation
from crucible.engines.sandbox.builtins_guard import make_builtins
from crucible.engines.sandbox.json_values import to_json
from crucible.engines.sandbox.policy import compile_code
from crucible.engines.sandbox.proxies import VIOLATIONS, ModuleGate

POLICY = Policy()


@pytest.fixture(autouse=True)
def fresh_violations() -> Iterator[None]:
    VIOLATIONS.reset()
    yield
    VIOLATIONS.reset()


@pytest.fixture(scope="module")
def gate() -> ModuleGate:
    module_gate = ModuleGate(POLICY)
    module_gate.resolve_denied()
    return module_gate


def run(source: str, gate: ModuleGate, **names: Any) -> dict[str, Any]:
    """What a worker does, minus the process: compile under the policy and exec with guarded builtins."""
    visible = make_builtins(POLICY, gate)
    visible.update({"np": gate.proxy(np), "sp": gate.proxy(scipy), "random": gate.proxy(random)}, **names)
    namespace: dict[str, Any] = {"__builtins__": visible, "__name__": "__sandbox__"}
    exec(compile_code(source, POLICY, "<test>"), namespace)
    return namespace


@pytest.mark.parametrize(
    "source",
    [
        "getattr((), '__cla' + 'ss__')",
        "getattr(type, '__subcla' + 'sses__')",
        "hasattr(random, '_o' + 's')",
        "setattr(box, '_secret', 1)",
        "delattr(box, '_secret')",
        "def g():\n    yield 1\ngetattr(g(), 'gi_' + 'frame')",
        "try:\n    1 / 0\nexcept Exception as e:\n    getattr(e, '__trace' + 'back__')",
        "'{0.__class__}'.format(1)",
        "'{0.gi_frame}'.format((i for i in []))",
        "str.format('{0.__class__}', 1)",
        "'{x.__class__}'.format_map({'x': 1})",
        "f = getattr('{0.__globals__}', 'format')\nf(run)",
        "type('A', (), {'__array_interface__': {'data': (0, False)}})",
        "type(int)('A', (), {'__array_interface__': {}})",
        "type(np.polynomial.Polynomial)('A', (), {'__array_interface__': {}})",
        "open('/etc/passwd')",
        "import os",
        "__import__('o' + 's')",
        "from random import _os",
        "np.ctypeslib",
        "np.lib.npyio",
        "np.load",
        "np.lib.stride_tricks.as_strided",
        "sp.io",
        "sp.LowLevelCallable",
        "np.x = 1",
        "getattr(np, 'testing')",
    ],
)
def test_guards_refuse_at_run_time(source: str, gate: ModuleGate) -> None:
    class Box:
        pass

    with pytest.raises(SandboxViolation) as caught:
        run(source, gate, box=Box(), run=run)
    refused_statically = caught.value.line is not None
    assert refused_statically or VIOLATIONS.first is caught.value


@pytest.mark.parametrize(
    "name", ["exec", "eval", "compile", "globals", "vars", "locals", "input", "memoryview"]
)
def test_removed_builtins_are_missing(name: str, gate: ModuleGate) -> None:
    with pytest.raises(NameError):
        run(f"{name}", gate)


def test_a_caught_violation_still_counts(gate: ModuleGate) -> None:
    run("try:\n    open('x')\nexcept Exception:\n    pass", gate)
    assert VIOLATIONS.first is not None
    assert VIOLATIONS.first.detail == "open() is not allowed"


def test_ordinary_code_works(gate: ModuleGate) -> None:
    source = """
import numpy
from scipy import stats
class Counter:
    def __init__(self):
        self.n = 0
    def add(self):
        self.n += 1
        return self.n
c = Counter()
c.add()
text = "{:.2f} {0[a]} {name}".format(3.14159, {"a": 1}, name="x") if False else "{:.2f}".format(3.14159)
mapped = "{a}-{b}".format_map({"a": 1, "b": 2})
same = numpy is np and stats is sp.stats
inv = np.linalg.inv(np.eye(2) * 2)
p = float(stats.norm.cdf(0))
meta = isinstance(Counter, type) and type(int) is type and type(3) is int
made = type('Made', (), {'value': 3})().value
"""
    namespace = run(source, gate)
    assert namespace["c"].n == 1
    assert namespace["text"] == "3.14"
    assert namespace["mapped"] == "1-2"
    assert namespace["same"] is True
    assert namespace["p"] == 0.5
    assert namespace["meta"] is True
    assert namespace["made"] == 3
    assert VIOLATIONS.first is None


def test_proxies_are_shared_and_read_only(gate: ModuleGate) -> None:
    assert gate.proxy(np) is gate.proxy(np)
    assert "array" in dir(gate.proxy(np))
    assert "_core" not in dir(gate.proxy(np))
    assert repr(gate.proxy(np)) == "<module 'numpy' (sandboxed)>"
    with pytest.raises(AttributeError):
        gate.proxy(np).no_such_thing  # noqa: B018
    with pytest.raises(SandboxViolation):
        del gate.proxy(np).array


def test_denied_objects_are_refused_under_any_alias(gate: ModuleGate) -> None:
    with pytest.raises(SandboxViolation):
        gate.expose(np.save, "numpy.lib.npyio.save")


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_to_json_converts_numpy_and_containers() -> None:
    value = {
        1: np.int64(3),
        "a": np.array([[1.0, 2.0]]),
        "t": (np.float32(0.5), None, True),
        np.int32(7): [np.bool_(True), float("nan")],
        "m": np.matrix([[1, 2]]),
    }
    converted = to_json(value)
    assert converted["1"] == 3 and type(converted["1"]) is int
    assert converted["a"] == [[1.0, 2.0]]
    assert converted["t"] == [0.5, None, True]
    assert converted["7"][0] is True
    assert converted["7"][1] != converted["7"][1]
    assert converted["m"] == [[1, 2]]


@pytest.mark.parametrize("value", [object(), {1, 2}, b"bytes", {"k": {"nested": object()}}, {(1, 2): 1}])
def test_to_json_names_what_cannot_be_converted(value: Any) -> None:
    with pytest.raises(ResultNotSerializable):
        to_json(value)


def test_to_json_refuses_cycles() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ResultNotSerializable, match="nested too deeply"):
        to_json(cycle)
