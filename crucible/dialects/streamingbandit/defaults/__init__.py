"""The default experiments of `/exp/defaults` (spec §4.11): four code snippets each, kept as text files
`<directory>/<hook>.py.txt` beside this module.

Indices 0–11 are the original's sorted list; UCB1 and LinUCB are appended so those indices stay stable.
Nested Policies and Parallel Evaluation name other experiments by id: their code holds the placeholders
in `PLACEHOLDER_IDS`, which the owner replaces with ids of their own experiments.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

HOOKS = ("get_context", "get_action", "get_reward", "set_reward")
"""The four hooks of an experiment, in the order a simulation runs them."""

PLACEHOLDER_IDS = ("REPLACE_WITH_E_FIRST_EXP_ID", "REPLACE_WITH_E_GREEDY_EXP_ID")
"""Experiment-id placeholders in Nested Policies (5) and Parallel Evaluation (7): E-First, then E-Greedy."""


@dataclass(frozen=True)
class DefaultExperiment:
    """One default: `name` is the wire name (`AB_Test`); the listing shows it with spaces (`AB Test`)."""

    name: str
    directory: str

    @property
    def title(self) -> str:
        return self.name.replace("_", " ")


DEFAULTS: tuple[DefaultExperiment, ...] = (
    DefaultExperiment("AB_Test", "ab_test"),
    DefaultExperiment("Bootstrapped_Thompson_Sampling", "bootstrapped_thompson_sampling"),
    DefaultExperiment("E-First", "e_first"),
    DefaultExperiment("E-Greedy", "e_greedy"),
    DefaultExperiment("Lock_In_Feedback", "lock_in_feedback"),
    DefaultExperiment("Nested_Policies", "nested_policies"),
    DefaultExperiment("Online_Marketing_Experiment", "online_marketing_experiment"),
    DefaultExperiment("Parallel_Evaluation", "parallel_evaluation"),
    DefaultExperiment("Social_Science_Experiment", "social_science_experiment"),
    DefaultExperiment("Thompson_Bayesian_Linear_Regression", "thompson_bayesian_linear_regression"),
    DefaultExperiment("Thompson_Optimal_Sampling", "thompson_optimal_sampling"),
    DefaultExperiment("Thompson_Sampling_K-Armed_Bernoulli", "thompson_sampling_k_armed_bernoulli"),
    DefaultExperiment("UCB1", "ucb1"),
    DefaultExperiment("LinUCB", "linucb"),
)


def list_defaults() -> dict[str, str]:
    """`GET /exp/defaults`: index (as text) → display name, e.g. `{"0": "AB Test", ...}`."""
    return {str(index): default.title for index, default in enumerate(DEFAULTS)}


def get_default(n: int | str) -> dict[str, str]:
    """`GET /exp/defaults/<n>`: `{"name", "get_context", "get_action", "get_reward", "set_reward"}`.

    `n` is an index or its decimal text; anything else, or out of range, raises KeyError (→ 404).
    """
    index = _index(n)
    default = DEFAULTS[index]
    return {"name": default.name, **_code(default.directory)}


def _index(n: int | str) -> int:
    if isinstance(n, bool):
        raise KeyError(n)
    if isinstance(n, str):
        if not (n.isascii() and n.isdigit()):
            raise KeyError(n)
        index = int(n)
    elif isinstance(n, int):
        index = n
    else:
        raise KeyError(n)
    if not 0 <= index < len(DEFAULTS):
        raise KeyError(n)
    return index


@cache
def _code(directory: str) -> dict[str, str]:
    folder = resources.files(__name__).joinpath(directory)
    return {hook: folder.joinpath(f"{hook}.py.txt").read_text(encoding="utf-8") for hook in HOOKS}
