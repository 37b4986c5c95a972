"""The libraries experiment code uses (`base`, `thompson`/`thmp`, `lm`, `bts`, `tbl`, `lif`) and the NumPy
compatibility layer, plus `injected_modules()`: every module name the runtime puts into experiment code.
"""

from __future__ import annotations

import random
from types import ModuleType

from crucible.dialects.streamingbandit.library import base, bts, lif, lm, tbl, thompson
from crucible.dialects.streamingbandit.library.numpy_compat import compat_numpy

SCIPY_SUBMODULES = ("stats", "special", "optimize", "linalg", "integrate", "interpolate")
"""Loaded up front so `sp.stats` and `from scipy import stats` work without an import at run time."""


def injected_modules() -> dict[str, ModuleType]:
    """Name → module for experiment code (spec §4.2), without the per-call `self` and `Experiment`.

    `np`/`numpy` are the compatibility module; `random` is the stdlib module, so seeding numpy's legacy
    generator and `random` reproduces a run.
    """
    import importlib

    import scipy

    for name in SCIPY_SUBMODULES:
        importlib.import_module(f"scipy.{name}")
    numpy_module = compat_numpy()
    return {
        "base": base,
        "numpy": numpy_module,
        "np": numpy_module,
        "scipy": scipy,
        "sp": scipy,
        "random": random,
        "thompson": thompson,
        "thmp": thompson,
        "lm": lm,
        "bts": bts,
        "lif": lif,
        "tbl": tbl,
    }


__all__ = ["base", "bts", "compat_numpy", "injected_modules", "lif", "lm", "tbl", "thompson"]
