"""Bender's parameter declarations (category + search_space JSON) as the optimisation engine's model."""

from __future__ import annotations

from typing import Any

from crucible.engines.optimize import CategoricalParam, NumericParam, Param, SearchSpace, SpaceError

CATEGORIES = ("uniform", "loguniform", "normal", "lognormal", "categorical", "descriptive")
NUMERIC_KEYS = {
    "uniform": ("low", "high", "step"),
    "loguniform": ("low", "high", "step", "base"),
    "normal": ("mu", "sigma", "low", "high", "step"),
    "lognormal": ("mu", "sigma", "low", "high", "step", "base"),
}


def to_param(name: str, category: str, search_space: dict[str, Any]) -> Param:
    """The engine parameter for one declaration; unknown keys (e.g. the legacy "log": true) are ignored.
    Raises SpaceError with a message fit for the user."""
    if category == "categorical":
        if "values" not in search_space:
            raise SpaceError("a categorical search space requires 'values'", name)
        values = search_space["values"]
        if not isinstance(values, list):
            raise SpaceError("'values' must be a list of JSON values", name)
        probabilities = search_space.get("probabilities")
        if probabilities is not None and not isinstance(probabilities, list):
            raise SpaceError("'probabilities' must be a list of numbers", name)
        return CategoricalParam(
            name, tuple(values), tuple(probabilities) if probabilities is not None else None
        )
    if category not in NUMERIC_KEYS:
        raise SpaceError(f"{category!r} is not an optimised category", name)
    arguments = {
        key: search_space[key] for key in NUMERIC_KEYS[category] if search_space.get(key) is not None
    }
    return NumericParam(name, category, **arguments)  # type: ignore[arg-type]


def search_space_problem(category: str, search_space: dict[str, Any]) -> str | None:
    """The reason a declaration is invalid, or None."""
    try:
        to_param("parameter", category, search_space)
    except SpaceError as error:
        return error.reason
    return None


def optimised_space(parameters: list[dict[str, Any]]) -> SearchSpace:
    """The engine's space for an algo's non-descriptive parameters, in declaration order.

    Raises SpaceError naming the parameter whose stored space no longer validates."""
    params = []
    for parameter in parameters:
        if parameter.get("category") in (None, "descriptive"):
            continue
        params.append(to_param(parameter["name"], parameter["category"], parameter.get("search_space") or {}))
    return SearchSpace(params)
