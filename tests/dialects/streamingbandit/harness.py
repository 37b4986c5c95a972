"""In-process runner of StreamingBandit experiment code for tests (spec §4.2, §4.8). NOT a sandbox.

It runs hooks the way the server does — fresh globals per hook, injected names in the builtins mapping,
a `self` whose theta lives in a dict of hashes encoded by `theta_text`, nested `Experiment(...)` — so the
libraries and default experiments can be exercised without worker processes, HTTP or a database.
"""

from __future__ import annotations

import builtins
import copy
import json
import random
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import CodeType, ModuleType
from typing import Any

import numpy as np

from crucible.dialects.streamingbandit import theta_text
from crucible.dialects.streamingbandit.defaults import HOOKS
from crucible.dialects.streamingbandit.library import injected_modules
from crucible.dialects.streamingbandit.library.numpy_compat import suppress_matrix_warnings

LOOPBACK_KEY = "notUsedForLoopBack"
MAX_NESTING = 8
IMPORTABLE = ("numpy", "scipy", "random")


class SandboxViolation(Exception):
    """Stand-in for the sandbox's refusal (foreign experiment, refused import, nesting too deep)."""


def to_json_value(value: Any) -> Any:
    """A hook result as it leaves the sandbox: numpy scalars → Python, arrays → lists, tuples → lists,
    dict keys → str; anything else that JSON cannot hold raises TypeError."""
    if isinstance(value, np.ndarray):
        return to_json_value(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise TypeError(f"value is not JSON serializable ({type(value).__name__})")


@dataclass
class StoredExperiment:
    exp_id: str
    owner: str
    code: dict[str, str]
    properties: dict[str, str]


@dataclass
class World:
    """A server's state in memory: experiments, one theta store (theta key → hash), log rows."""

    experiments: dict[str, StoredExperiment] = field(default_factory=dict)
    theta: dict[str, dict[str, str]] = field(default_factory=dict)
    logs: list[dict[str, Any]] = field(default_factory=list)
    _compiled: dict[tuple[str, str], CodeType] = field(default_factory=dict)
    _modules: dict[str, ModuleType] = field(default_factory=injected_modules)

    def create(self, code: Mapping[str, str], owner: str = "alice", name: str = "test") -> str:
        exp_id = f"exp{len(self.experiments):07d}"
        hooks = {hook: code.get(hook) or "" for hook in HOOKS}
        properties = {"user_id": owner, "name": name, **hooks, "hourly_theta": "False", "advice_id": "False"}
        self.experiments[exp_id] = StoredExperiment(exp_id, owner, hooks, properties)
        return exp_id

    def open(
        self, exp_id: str, owner: str | None = None, key: str = LOOPBACK_KEY, depth: int = 0
    ) -> ExperimentSelf:
        stored = self.experiments.get(str(exp_id))
        if stored is None or (owner is not None and stored.owner != owner):
            raise SandboxViolation("Experiment could not be validated.")
        if depth > MAX_NESTING:
            raise SandboxViolation(f"Experiment nesting deeper than {MAX_NESTING}.")
        return ExperimentSelf(self, stored, key, depth)

    # --- the calls the routes make ----------------------------------------------------------------------

    def get_action(self, exp_id: str, context: Any = None) -> dict[str, Any]:
        experiment = self.open(exp_id, key="k")
        experiment.run_action_code({} if context is None else context)
        return {"action": to_json_value(experiment.action), "context": to_json_value(experiment.context)}

    def set_reward(self, exp_id: str, context: Any, action: Any, reward: Any) -> dict[str, Any]:
        experiment = self.open(exp_id, key="k")
        experiment.run_reward_code(context, action, reward)
        return {
            "status": "success",
            "action": to_json_value(experiment.action),
            "context": to_json_value(experiment.context),
            "reward": to_json_value(experiment.reward),
        }

    def simulate(self, exp_id: str, n: int, seed: int | None = None) -> dict[str, dict[str, Any]]:
        """`/eval/<id>/simulate` with verbose output: N closed loops against the live theta."""
        if seed is not None:
            np.random.seed(seed)
            random.seed(seed)
        experiment = self.open(exp_id)
        data: dict[str, dict[str, Any]] = {}
        for i in range(n):
            context = experiment.run_context_code()
            action = experiment.run_action_code(context, {})
            reward = experiment.run_get_reward_code(context, action)
            experiment.run_reward_code(context, action, reward)
            data[str(i)] = to_json_value(
                {"context": context, "action": action, "reward": reward, "theta": experiment.get_theta()}
            )
        json.dumps(data)  # the response must be JSON (NaN tokens allowed)
        return data

    # --- running code -----------------------------------------------------------------------------------

    def run_hook(self, experiment: ExperimentSelf, hook: str) -> None:
        stored = experiment.stored
        code = self._compiled.get((stored.exp_id, stored.code[hook]))
        if code is None:
            code = compile(stored.code[hook], f"<{hook} of {stored.exp_id}>", "exec")
            self._compiled[(stored.exp_id, stored.code[hook])] = code
        with warnings.catch_warnings():
            suppress_matrix_warnings()  # as in a sandbox worker, where the filter is set once at start
            exec(code, {"__builtins__": self._builtins(experiment)})

    def _builtins(self, experiment: ExperimentSelf) -> dict[str, Any]:
        """Python's builtins plus the injected names, so they are visible inside functions and classes."""

        def open_experiment(exp_id: str, key: str = LOOPBACK_KEY) -> ExperimentSelf:
            return self.open(exp_id, owner=experiment.stored.owner, depth=experiment.depth + 1)

        names = dict(vars(builtins))
        names.update(self._modules)
        names.update(self=experiment, Experiment=open_experiment, __import__=self._importer())
        return names

    def _importer(self) -> Callable[..., ModuleType]:
        def importer(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0):
            top = name.partition(".")[0]
            if level != 0 or top not in IMPORTABLE:
                raise SandboxViolation(f"import of '{name}' is not allowed")
            return self._modules[top]

        return importer


class ExperimentSelf:
    """The `self` of experiment code (and what `Experiment(...)` returns) for one experiment."""

    def __init__(self, world: World, stored: StoredExperiment, key: str, depth: int) -> None:
        self.world = world
        self.stored = stored
        self.depth = depth
        self.exp_id = stored.exp_id
        self.key = key
        self.properties = dict(stored.properties)
        self.context: Any = {}
        self.action: Any = {}
        self.reward: Any = {}

    def get_theta(
        self, key: Any = None, value: Any = None, name: str = "_theta", all_float: bool = False
    ) -> dict[str, Any]:
        return theta_text.read_theta(self.world.theta, self.exp_id, key, value, name, all_float)

    def set_theta(self, thetas: Any, key: Any = None, value: Any = None, name: str = "_theta") -> None:
        theta_text.write_theta(self.world.theta, self.exp_id, thetas, key, value, name)
        assert all(
            isinstance(k, str) and isinstance(v, str) for h in self.world.theta.values() for k, v in h.items()
        )

    def delete_theta(self, key: Any = None, value: Any = None, name: str = "_theta") -> int:
        return theta_text.delete_theta(self.world.theta, self.exp_id, key, value, name)

    def log_data(self, d: dict[str, Any]) -> None:
        d["exp_id"] = self.exp_id
        self.world.logs.append(to_json_value(d))

    def debug(self, obj: Any) -> None:
        self.context["_debug"] = obj

    def get_log_data(self, limit: int = 0) -> list[dict[str, Any]]:
        rows = [row for row in reversed(self.world.logs) if row["exp_id"] == self.exp_id]
        return rows[:limit] if limit else rows

    def run_context_code(self, context: Any = None) -> Any:
        self.context = {} if context is None else copy.deepcopy(context)
        self.world.run_hook(self, "get_context")
        return copy.deepcopy(self.context)

    def run_action_code(self, context: Any, action: Any = None) -> Any:
        self.context = copy.deepcopy(context)
        self.action = {} if action is None else copy.deepcopy(action)
        self.world.run_hook(self, "get_action")
        return copy.deepcopy(self.action)

    def run_get_reward_code(self, context: Any, action: Any, reward: Any = None) -> Any:
        self.context = copy.deepcopy(context)
        self.action = copy.deepcopy(action)
        self.reward = {} if reward is None else copy.deepcopy(reward)
        self.world.run_hook(self, "get_reward")
        return copy.deepcopy(self.reward)

    def run_reward_code(self, context: Any, action: Any, reward: Any) -> bool:
        self.context = copy.deepcopy(context)
        self.action = copy.deepcopy(action)
        self.reward = copy.deepcopy(reward)
        self.world.run_hook(self, "set_reward")
        return True
