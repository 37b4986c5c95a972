"""The StreamingBandit runtime: runs inside a sandbox worker and drives experiment code (spec §4.2, §4.8).

It builds what experiment code sees — `self`, the nested `Experiment(...)`, the libraries and an importer
that hands out the NumPy compatibility module — runs the hooks with fresh globals, and returns the call's
results with every theta write and log row it buffered. Nothing is written here: the server commits the
buffered changes only if the whole call succeeds.

Theta reads see the experiment's committed theta (shipped with the call when small, else asked from the
server) plus this call's own buffered writes (read-your-writes). Text encoding of theta happens here.

Trusted code: internals live in `_`-prefixed attributes, which experiment code cannot reach.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

from crucible.dialects.streamingbandit import theta_text
from crucible.dialects.streamingbandit.library import injected_modules
from crucible.engines.sandbox import CallContext, ResultNotSerializable, to_json

LOOPBACK_KEY = "notUsedForLoopBack"
"""The key nested experiments, simulations and background jobs see in `self.key`, as in the original."""
MAX_NESTING = 8
MAX_KEY_CHARS = 1000
"""Longest theta key text (they are indexed; the original's keys are short)."""
MAX_VALUE_BYTES = 1 << 20
HOOK_FILENAME = "<{exp_id}:{hook}>"
"""How each piece of experiment code is named in errors; the server reads the hook and id back."""

_MODULES = injected_modules()
"""Loaded in the sandbox host, before any worker is forked."""

Hash = dict[str, str]


class ThetaView:
    """One experiment's theta as this call sees it: committed hashes plus the call's buffered changes.

    `base` holds every committed hash when the server shipped them, else None (reads go to the server).
    Each changed key remembers whether the committed hash was deleted first and which fields were set.
    """

    def __init__(
        self,
        exp_id: str,
        base: dict[str, Hash] | None,
        size: int,
        ask: Callable[[dict[str, Any]], Any],
        max_bytes: int,
    ) -> None:
        self.exp_id = exp_id
        self.base = base
        self.size = size
        self.ask = ask
        self.max_bytes = max_bytes
        self.changes: dict[str, tuple[bool, Hash]] = {}

    def select(self, prefix: str, exact: bool) -> dict[str, Hash]:
        """The hashes a read at `prefix` addresses (copies), buffered changes applied."""
        if self.base is not None:
            if exact:
                selected = {prefix: dict(self.base[prefix])} if prefix in self.base else {}
            else:
                selected = {k: dict(v) for k, v in self.base.items() if theta_text.in_scope(k, prefix)}
        else:
            answer = self.ask({"op": "read", "exp_id": self.exp_id, "prefix": prefix, "exact": exact})
            selected = {str(k): {str(f): str(t) for f, t in v.items()} for k, v in answer.items()}
        for key, (replaced, fields) in self.changes.items():
            if key != prefix and (exact or not theta_text.in_scope(key, prefix)):
                continue
            merged = {} if replaced else selected.get(key, {})
            merged = {**merged, **fields}
            if merged:
                selected[key] = merged
            else:
                selected.pop(key, None)
        return selected

    def get(self, key: Any, value: Any, name: Any, all_float: bool) -> dict[str, Any]:
        prefix = self.key_of(key, value, name)
        exact = theta_text.is_exact(value)
        result = theta_text.shape_theta(prefix, self.select(prefix, exact), exact)
        return theta_text.float_values(result) if all_float else result

    def set(self, thetas: Any, key: Any, value: Any, name: Any) -> None:
        fields = theta_text.encode_hash(thetas)
        if not fields:
            return
        prefix = self.key_of(key, value, name)
        added = 0
        for field, text in fields.items():
            if len(field) + len(text) > MAX_VALUE_BYTES:
                raise ValueError(f"theta value of field {field[:40]!r} is larger than 1 MiB")
            added += len(field) + len(text)
        if self.size + added > self.max_bytes:
            raise ValueError(f"theta of experiment {self.exp_id} would exceed {self.max_bytes >> 20} MiB")
        self.size += added
        replaced, old = self.changes.get(prefix, (False, {}))
        self.changes[prefix] = (replaced, {**old, **fields})

    def delete(self, key: Any, value: Any, name: Any) -> int:
        prefix = self.key_of(key, value, name)
        doomed = self.select(prefix, theta_text.is_exact(value))
        for hash_key in doomed:
            self.changes[hash_key] = (True, {})
        return len(doomed)

    def key_of(self, key: Any, value: Any, name: Any) -> str:
        prefix = theta_text.theta_key(self.exp_id, key, value, str(name))
        if len(prefix) > MAX_KEY_CHARS:
            raise ValueError(f"theta key longer than {MAX_KEY_CHARS} characters")
        return prefix

    def wire_changes(self) -> list[list[Any]]:
        return [[key, replaced, fields] for key, (replaced, fields) in self.changes.items()]


class OpenedExperiment:
    """An experiment this call has opened: its properties, code and theta view (one per id per call)."""

    def __init__(self, exp_id: str, properties: dict[str, str], theta: ThetaView) -> None:
        self.exp_id = exp_id
        self.properties = properties
        self.theta = theta


class BanditCall:
    """Everything one sandbox call shares: the context, opened experiments, buffered log rows."""

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        payload = ctx.payload
        self.payload: dict[str, Any] = payload if isinstance(payload, dict) else {}
        self.max_theta_bytes = int(self.payload.get("theta_max_bytes") or 64 << 20)
        self.opened: dict[str, OpenedExperiment] = {}
        self.logs: list[list[Any]] = []
        self.hooks: list[str] = []
        """The hooks running now, innermost last (names the hook in conversion errors)."""
        numpy_proxy = ctx.proxy(_MODULES["numpy"])
        scipy_proxy = ctx.proxy(_MODULES["scipy"])
        self.importable = {"numpy": numpy_proxy, "scipy": scipy_proxy, "random": ctx.module("random")}
        self.names: dict[str, Any] = {
            name: (numpy_proxy if name in ("np", "numpy") else ctx.proxy(module))
            for name, module in _MODULES.items()
        }
        self.names["__import__"] = self.import_module

    def ask(self, body: dict[str, Any]) -> Any:
        return self.ctx.request(body)

    def open(self, info: Mapping[str, Any]) -> OpenedExperiment:
        exp_id = str(info["exp_id"])
        theta = info.get("theta")
        view = ThetaView(
            exp_id,
            {str(k): dict(v) for k, v in theta.items()} if isinstance(theta, dict) else None,
            int(info.get("theta_size") or 0),
            self.ask,
            self.max_theta_bytes,
        )
        opened = OpenedExperiment(exp_id, dict(info.get("properties") or {}), view)
        self.opened[exp_id] = opened
        return opened

    def open_other(self, exp_id: Any) -> OpenedExperiment:
        """`Experiment(exp_id)`: the server decides whether this owner may open it."""
        exp_id = str(exp_id)
        known = self.opened.get(exp_id)
        if known is not None:
            return known
        return self.open(self.ask({"op": "open", "exp_id": exp_id}))

    def import_module(
        self, name: Any, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ) -> Any:
        """`import numpy|scipy|random` binds the injected objects (the compatibility `numpy` too)."""
        ctx = self.ctx
        if level:
            ctx.refuse("relative imports are not allowed")
        if not isinstance(name, str) or not ctx.policy.import_allowed(name):
            ctx.refuse(f"import of '{name}' is not allowed")
        top = name.partition(".")[0]
        if name != top and sys.modules.get(name) is None:
            ctx.refuse(f"import of '{name}' is not allowed (module not available in the sandbox)")
        if fromlist:
            for item in fromlist:
                if not isinstance(item, str) or item == "*" or item.startswith("_"):
                    ctx.refuse(f"'from {name} import {item}' is not allowed")
            return self.importable[top] if name == top else ctx.proxy(sys.modules[name])
        return self.importable[top]

    def run_hook(self, handle: BanditExperiment, hook: str) -> None:
        opened = handle._opened
        code = opened.properties.get(hook) or ""
        names = dict(self.names)
        names["self"] = handle
        names["Experiment"] = handle._factory()
        filename = HOOK_FILENAME.format(exp_id=opened.exp_id, hook=hook)
        self.hooks.append(hook)
        try:
            self.ctx.execute(code, names, filename=filename)
        finally:
            self.hooks.pop()

    def log(self, exp_id: str, row: Any) -> None:
        self.logs.append([exp_id, to_json_for(self.hooks[-1] if self.hooks else "set_reward", row)])

    def changes(self) -> dict[str, list[list[Any]]]:
        return {exp_id: o.theta.wire_changes() for exp_id, o in self.opened.items() if o.theta.changes}


def to_json_for(hook: str, value: Any) -> Any:
    """A hook's result as JSON values; the error names the hook (the server words the message)."""
    try:
        return to_json(value)
    except ResultNotSerializable as error:
        raise ResultNotSerializable(error.type_name, hook) from None


class BanditExperiment:
    """`self` in experiment code, and what `Experiment(exp_id)` returns (spec §4.2)."""

    def __init__(self, call: BanditCall, opened: OpenedExperiment, key: str, depth: int) -> None:
        self._call = call
        self._opened = opened
        self._depth = depth
        self.exp_id = opened.exp_id
        self.key = key
        self.properties = dict(opened.properties)
        self.context: Any = {}
        self.action: Any = {}
        self.reward: Any = {}

    def _factory(self) -> Callable[..., BanditExperiment]:
        call, depth = self._call, self._depth + 1

        def Experiment(exp_id: Any, key: Any = LOOPBACK_KEY) -> BanditExperiment:
            if depth > MAX_NESTING:
                call.ctx.refuse(f"Experiment nesting deeper than {MAX_NESTING}.")
            return BanditExperiment(call, call.open_other(exp_id), LOOPBACK_KEY, depth)

        return Experiment

    # --- theta ------------------------------------------------------------------------------------------

    def get_theta(
        self, key: Any = None, value: Any = None, name: Any = theta_text.THETA_NAME, all_float: bool = False
    ) -> dict[str, Any]:
        return self._opened.theta.get(key, value, name, bool(all_float))

    def set_theta(
        self, thetas: Any, key: Any = None, value: Any = None, name: Any = theta_text.THETA_NAME
    ) -> None:
        self._opened.theta.set(thetas, key, value, name)

    def delete_theta(self, key: Any = None, value: Any = None, name: Any = theta_text.THETA_NAME) -> int:
        return self._opened.theta.delete(key, value, name)

    # --- logs -------------------------------------------------------------------------------------------

    def log_data(self, d: Any) -> None:
        d["exp_id"] = self.exp_id
        self._call.log(self.exp_id, d)

    def debug(self, obj: Any) -> None:
        self.context["_debug"] = obj

    def get_log_data(self, limit: int = 0) -> Any:
        return self._read_log("log", limit)

    def get_getaction_log_data(self, limit: int = 0) -> Any:
        return self._read_log("action", limit)

    def get_setreward_log_data(self, limit: int = 0) -> Any:
        return self._read_log("reward", limit)

    def get_hourly_theta(self, limit: int = 0) -> Any:
        return self._read_log("hourly", limit)

    def get_summary(self) -> Any:
        return self._call.ask({"op": "summary", "exp_id": self.exp_id})

    def _read_log(self, kind: str, limit: Any) -> Any:
        return self._call.ask({"op": "log", "exp_id": self.exp_id, "kind": kind, "limit": int(limit or 0)})

    # --- running hooks ----------------------------------------------------------------------------------

    def run_context_code(self, context: Any = None) -> Any:
        self.context = {} if context is None else copy.deepcopy(context)
        self._call.run_hook(self, "get_context")
        return copy.deepcopy(self.context)

    def run_action_code(self, context: Any, action: Any = None) -> Any:
        self.context = copy.deepcopy(context)
        self.action = {} if action is None else copy.deepcopy(action)
        self._call.run_hook(self, "get_action")
        return copy.deepcopy(self.action)

    def run_get_reward_code(self, context: Any, action: Any, reward: Any = None) -> Any:
        self.context = copy.deepcopy(context)
        self.action = copy.deepcopy(action)
        self.reward = {} if reward is None else copy.deepcopy(reward)
        self._call.run_hook(self, "get_reward")
        return copy.deepcopy(self.reward)

    def run_reward_code(self, context: Any, action: Any, reward: Any) -> bool:
        self.context = copy.deepcopy(context)
        self.action = copy.deepcopy(action)
        self.reward = copy.deepcopy(reward)
        self._call.run_hook(self, "set_reward")
        return True


# --- the calls ------------------------------------------------------------------------------------------


def run(ctx: CallContext) -> dict[str, Any]:
    """One sandbox call: `get_action`, `set_reward` or `simulate` (payload `call`)."""
    call = BanditCall(ctx)
    payload = call.payload
    opened = call.open(payload["exp"])
    kind = payload.get("call")
    if kind == "get_action":
        handle = BanditExperiment(call, opened, str(payload.get("key", LOOPBACK_KEY)), 0)
        handle.context = payload.get("context")
        handle.action = {}
        call.run_hook(handle, "get_action")
        result = {
            "action": to_json_for("get_action", handle.action),
            "context": to_json_for("get_action", handle.context),
        }
    elif kind == "set_reward":
        handle = BanditExperiment(call, opened, str(payload.get("key", LOOPBACK_KEY)), 0)
        handle.context, handle.action = payload.get("context"), payload.get("action")
        handle.reward = payload.get("reward")
        call.run_hook(handle, "set_reward")
        result = {
            "action": to_json_for("set_reward", handle.action),
            "context": to_json_for("set_reward", handle.context),
            "reward": to_json_for("set_reward", handle.reward),
        }
    elif kind == "simulate":
        result = simulate(BanditExperiment(call, opened, LOOPBACK_KEY, 0), payload)
    else:
        raise ValueError(f"unknown call {kind!r}")
    result["changes"] = call.changes()
    result["logs"] = call.logs
    return result


def simulate(handle: BanditExperiment, payload: Mapping[str, Any]) -> dict[str, Any]:
    """N closed loops against the live theta (spec §4.8); `data` is kept when verbose or logged."""
    n = int(payload["n"])
    keep = bool(payload.get("keep_data"))
    data: dict[str, Any] = {}
    theta: Any = {}
    for i in range(n):
        context = handle.run_context_code()
        action = handle.run_action_code(context, {})
        reward = handle.run_get_reward_code(context, action)
        handle.run_reward_code(context, action, reward)
        theta = handle.get_theta()
        if keep:
            data[str(i)] = {
                "context": to_json_for("get_context", context),
                "action": to_json_for("get_action", action),
                "reward": to_json_for("get_reward", reward),
                "theta": theta,
            }
    return {"data": data, "theta": theta}


def warm_up() -> None:
    """Touch the libraries once in each new worker, so the first call pays fewer page faults."""
    json.dumps(theta_text.encode_hash({"p": 0.5, "n": 1}))
    theta_text.shape_theta("exp:x:_theta", {"exp:x:_theta:t:1": {"p": "0.5"}}, False)
