"""Static policy: what is refused at save time, with a message and the line number."""

from __future__ import annotations

import pytest

from crucible.engines.sandbox import CodeError, Policy, SandboxViolation, check_code

POLICY = Policy()


def refusal(source: str) -> SandboxViolation:
    with pytest.raises(SandboxViolation) as caught:
        check_code(source, POLICY)
    return caught.value


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("().__class__.__base__.__subclasses__()", "'__class__'"),
        ("import random\nx = random._os", "'_os'"),
        ("x = __builtins__", "'__builtins__'"),
        ("__builtins__['open']('/etc/passwd')", "'__builtins__'"),
        ("import os", "import of 'os'"),
        ("import subprocess", "import of 'subprocess'"),
        ("from os import system", "import from 'os'"),
        ("import numpy.ctypeslib", "import of 'numpy.ctypeslib'"),
        ("from numpy import _core", "private name '_core'"),
        ("from numpy import *", "import *"),
        ("from . import x", "relative imports"),
        ("def g():\n    yield 1\ng().gi_frame", "'gi_frame'"),
        ("f.f_globals", "'f_globals'"),
        ("f.f_back", "'f_back'"),
        ("tb.tb_frame", "'tb_frame'"),
        ("c.cr_frame", "'cr_frame'"),
        ("a.ag_frame", "'ag_frame'"),
        ("f.func_globals", "'func_globals'"),
        ("try:\n    1 / 0\nexcept Exception as e:\n    t = e.__traceback__", "'__traceback__'"),
        ("x = f'{x.__class__}'", "'__class__'"),
        ("import numpy as np\nnp.zeros(3).tofile('x')", "'tofile'"),
        ("import numpy as np\nnp.zeros(3).ctypes", "'ctypes'"),
        ("int.mro()", "'mro'"),
        ("class A:\n    def __array_interface__(self):\n        pass", "'__array_interface__'"),
        ("class A:\n    def __getattr__(self, name):\n        pass", "'__getattr__'"),
        ("class A:\n    def __del__(self):\n        pass", "'__del__'"),
        ("class A:\n    __array_interface__ = {}", "'__array_interface__'"),
        ("match x:\n    case int(__class__=c):\n        pass", "'__class__'"),
        ("def f(__x):\n    pass", "'__x'"),
        ("global __builtins__", "'__builtins__'"),
        ("import numpy as __builtins__", "'__builtins__'"),
    ],
)
def test_escape_routes_are_refused_statically(source: str, fragment: str) -> None:
    error = refusal(source)
    assert fragment in error.detail
    assert error.line is not None


def test_refusal_names_the_offending_line() -> None:
    error = refusal("x = 1\ny = 2\nz = ().__class__\n")
    assert error.line == 3
    assert str(error) == "access to private attribute '__class__' is not allowed (line 3)"


def test_syntax_errors_carry_message_and_line() -> None:
    with pytest.raises(CodeError) as caught:
        check_code("x = 1\nif x\n    pass\n", POLICY)
    assert caught.value.type_name == "SyntaxError"
    assert caught.value.line == 2
    assert "(line 2)" in str(caught.value)


@pytest.mark.parametrize(
    "source",
    [
        "import numpy\nimport numpy as np\nimport scipy\nfrom scipy import stats\nimport random",
        "import scipy.stats\nx = scipy.stats.norm.cdf(0)",
        "class A:\n    def __init__(self):\n        super().__init__()\n        self.k = type(self).__name__",
        "class V:\n    def __add__(self, o):\n        return self\n    def __eq__(self, o):\n        pass",
        "def f(x, _unused=1):\n    return '{:.2f}'.format(x)",
        "_theta = {}\n_theta['a'] = 1",
        "if __name__ == '__sandbox__':\n    pass",
        "x = [i for i in range(3)]\ny = lambda v: v + 1",
    ],
)
def test_ordinary_code_passes(source: str) -> None:
    check_code(source, POLICY)


def test_the_import_allowlist_comes_from_the_policy() -> None:
    narrow = Policy(imports=frozenset({"numpy"}))
    check_code("import numpy", narrow)
    with pytest.raises(SandboxViolation, match="import of 'random'"):
        check_code("import random", narrow)
    with pytest.raises(SandboxViolation, match="import from 'scipy'"):
        check_code("from scipy import stats", narrow)


def test_policy_round_trips_through_json() -> None:
    policy = Policy(imports=frozenset({"numpy", "math"}), packages=frozenset({"numpy"}))
    assert Policy.from_wire(policy.to_wire()) == policy


def test_submodule_rules() -> None:
    assert POLICY.module_allowed("numpy.linalg")
    assert POLICY.module_allowed("scipy.stats")
    assert not POLICY.module_allowed("numpy.ctypeslib")
    assert not POLICY.module_allowed("numpy.lib.npyio")
    assert not POLICY.module_allowed("scipy.io.matlab")
    assert not POLICY.module_allowed("numpy._core")
    assert not POLICY.module_allowed("os")
    assert not POLICY.module_allowed("random")
    assert POLICY.import_allowed("random")
    assert POLICY.import_allowed("scipy.stats")
    assert not POLICY.import_allowed("scipy.datasets")
