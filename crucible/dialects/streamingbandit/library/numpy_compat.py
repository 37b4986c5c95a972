"""The `np`/`numpy` that experiment code sees: NumPy 2 plus the aliases old experiment code still uses.

Experiments were written for NumPy 1.x (`np.asscalar`, `np.float`, `np.NaN`, ...). Rather than patching
the real numpy module for the whole process, experiment code gets a thin module object that holds the
restored aliases and falls back to numpy for every other attribute (spec §4.4).
"""

from __future__ import annotations

import builtins
import warnings
from types import ModuleType
from typing import Any

import numpy

MATRIX_WARNING = "the matrix subclass is not the recommended way"
"""Start of NumPy's PendingDeprecationWarning for `np.matrix`, which `lm`, `tbl` and old code rely on."""


def asscalar(a: Any) -> Any:
    """NumPy 1.x `asscalar`: a numpy scalar or size-1 array as a Python scalar; Python scalars pass through."""
    item = getattr(a, "item", None)
    return item() if callable(item) else a


def removed_aliases() -> dict[str, Any]:
    """The names NumPy 1.24/2.0 removed, mapped to what they meant before."""
    return {
        "asscalar": asscalar,
        "float": builtins.float,
        "int": builtins.int,
        "bool": builtins.bool,
        "object": builtins.object,
        "str": builtins.str,
        "complex": builtins.complex,
        "NaN": numpy.nan,
        "NAN": numpy.nan,
        "Inf": numpy.inf,
        "Infinity": numpy.inf,
        "infty": numpy.inf,
        "PINF": numpy.inf,
        "NINF": -numpy.inf,
        "float_": numpy.float64,
        "complex_": numpy.complex128,
        "product": numpy.prod,
        "cumproduct": numpy.cumprod,
        "alltrue": numpy.all,
        "sometrue": numpy.any,
        "round_": numpy.round,
    }


def suppress_matrix_warnings() -> None:
    """Ignore NumPy's `np.matrix` PendingDeprecationWarning in this process (only that message).

    Warning filters are process state; this narrow filter is the one global change the compatibility
    layer makes, and it is idempotent.
    """
    warnings.filterwarnings("ignore", message=MATRIX_WARNING, category=PendingDeprecationWarning)


_COMPAT: ModuleType | None = None


def compat_numpy() -> ModuleType:
    """The module object to inject as `np` and `numpy` (one shared instance; numpy itself is untouched)."""
    global _COMPAT
    if _COMPAT is None:
        module = ModuleType("numpy", numpy.__doc__)
        module.__dict__.update(removed_aliases())

        def __getattr__(name: str) -> Any:
            return getattr(numpy, name)

        def __dir__() -> list[str]:
            return sorted(set(dir(numpy)) | set(removed_aliases()))

        module.__dict__["__getattr__"] = __getattr__
        module.__dict__["__dir__"] = __dir__
        _COMPAT = module
    suppress_matrix_warnings()
    return _COMPAT
