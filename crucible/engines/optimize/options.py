"""Turning a caller's `options` mapping into an optimiser's settings, with clear ValueErrors.

Options come from the outside (a Polyaxon `hptuning.bo` block, a future Bender extension), so every
setting is checked for type and range before an optimiser runs: a bad option is the caller's error,
not an engine failure that would be silently answered with a prior draw.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from crucible.engines.optimize.space import finite_float

Settings = TypeVar("Settings")


def settings_from_options(settings_type: type[Settings], options: Mapping[str, Any] | None) -> Settings:
    """Build a settings dataclass from options; unknown keys are refused, missing ones take defaults."""
    options = dict(options or {})
    known = [field.name for field in dataclasses.fields(settings_type)]  # type: ignore[arg-type]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"unknown options {unknown}; valid: {known}")
    return settings_type(**options)


def check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"option {name!r} must be an integer >= {minimum}, got {value!r}")


def check_number(name: str, value: Any, low: float, high: float, *, open_low: bool, open_high: bool) -> None:
    """A finite number inside the interval; open_low/open_high exclude the bound itself."""
    ok = finite_float(value) is not None
    if ok:
        ok = (value > low if open_low else value >= low) and (value < high if open_high else value <= high)
    if not ok:
        interval = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        raise ValueError(f"option {name!r} must be a number in {interval}, got {value!r}")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"option {name!r} must be true or false, got {value!r}")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"option {name!r} must be one of {', '.join(choices)}, got {value!r}")
