"""The `np` injected into experiment code: NumPy 2 plus the removed aliases, numpy itself untouched (§4.4)."""

from __future__ import annotations

import builtins
import warnings

import numpy
import pytest

from crucible.dialects.streamingbandit.library.numpy_compat import (
    asscalar,
    compat_numpy,
    removed_aliases,
    suppress_matrix_warnings,
)

ALIASES = [
    "asscalar",
    "float",
    "int",
    "bool",
    "object",
    "str",
    "complex",
    "NaN",
    "NAN",
    "Inf",
    "Infinity",
    "infty",
    "PINF",
    "NINF",
    "float_",
    "complex_",
    "product",
    "cumproduct",
    "alltrue",
    "sometrue",
    "round_",
]


def test_every_removed_alias_is_restored() -> None:
    np = compat_numpy()
    assert sorted(removed_aliases()) == sorted(ALIASES)
    assert np.float is builtins.float and np.int is builtins.int and np.bool is builtins.bool
    assert np.object is builtins.object and np.str is builtins.str and np.complex is builtins.complex
    assert numpy.isnan(np.NaN) and numpy.isnan(np.NAN)
    assert np.Inf == np.Infinity == np.infty == np.PINF == numpy.inf
    assert numpy.isneginf(np.NINF)
    assert np.float_ is numpy.float64 and np.complex_ is numpy.complex128
    assert np.product([2, 3]) == 6
    assert np.cumproduct([2, 3]).tolist() == [2, 6]
    assert np.alltrue([True, True]) and not np.alltrue([True, False])
    assert np.sometrue([False, True]) and not np.sometrue([False])
    assert np.round_(2.567, 1) == pytest.approx(2.6)


def test_asscalar() -> None:
    np = compat_numpy()
    value = np.asscalar(numpy.float64(0.5))
    assert value == 0.5 and type(value) is float
    assert type(asscalar(numpy.array([3]))) is int
    assert asscalar(numpy.matrix([[1.5]])) == 1.5
    assert asscalar(2) == 2 and asscalar(0.25) == 0.25
    with pytest.raises(ValueError):
        asscalar(numpy.array([1, 2]))


def test_everything_else_is_numpy() -> None:
    np = compat_numpy()
    assert np.random is numpy.random
    assert np.linalg is numpy.linalg
    assert np.matrix is numpy.matrix
    assert np.array([1, 2]).sum() == 3
    assert np.nan is numpy.nan
    with pytest.raises(AttributeError):
        np.no_such_attribute  # noqa: B018
    assert "asscalar" in dir(np) and "zeros" in dir(np)
    assert compat_numpy() is np  # one shared object


def test_real_numpy_is_not_changed() -> None:
    compat_numpy()
    for name in ("asscalar", "NaN", "float_", "alltrue", "product", "round_"):
        assert name not in vars(numpy)


def test_seeding_numpy_reaches_the_same_generator() -> None:
    np = compat_numpy()
    np.random.seed(4)
    first = np.random.rand(3).tolist()
    numpy.random.seed(4)
    assert numpy.random.rand(3).tolist() == first


def test_matrix_warnings_are_suppressed() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        suppress_matrix_warnings()
        m = numpy.matrix([[1.0, 2.0], [3.0, 4.0]])
        (m * m).I  # noqa: B018
        warnings.warn("other pending deprecation", PendingDeprecationWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["other pending deprecation"]
