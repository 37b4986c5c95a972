"""Read-only module proxies: the only way user code sees numpy, scipy, random and a dialect's libraries.

A proxy hands out public attributes, refuses denied names (file functions, raw memory) by name and by
identity, returns submodules only inside the allowed packages, and refuses every other module object,
so `random._os`-style walks reach nothing.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any, NoReturn

from crucible.engines.sandbox.outcomes import SandboxViolation
from crucible.engines.sandbox.policy import BLOCKED_ATTRIBUTES, SPECIAL_METHODS, Policy, is_private


class Violations:
    """Remembers the first refusal of a call, so code that catches `SandboxViolation` still fails."""

    def __init__(self) -> None:
        self.first: SandboxViolation | None = None

    def refuse(self, detail: str, line: int | None = None) -> NoReturn:
        error = SandboxViolation(detail, line)
        if self.first is None:
            self.first = error
        raise error

    def reset(self) -> None:
        self.first = None


VIOLATIONS = Violations()
"""The worker's record of refusals for the call in progress (one call at a time per process)."""


class ModuleProxy:
    """Attribute access to one module under a `ModuleGate`'s rules; cannot be written to."""

    __slots__ = ("_sb_gate", "_sb_module")

    def __init__(self, module: ModuleType, gate: ModuleGate) -> None:
        object.__setattr__(self, "_sb_module", module)
        object.__setattr__(self, "_sb_gate", gate)

    def __getattr__(self, name: str) -> Any:
        return self._sb_gate.attribute(self._sb_module, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._sb_gate.violations.refuse(f"module '{self._sb_module.__name__}' is read-only")

    def __delattr__(self, name: str) -> None:
        self._sb_gate.violations.refuse(f"module '{self._sb_module.__name__}' is read-only")

    def __dir__(self) -> list[str]:
        return sorted(name for name in dir(self._sb_module) if not is_private(name))

    def __repr__(self) -> str:
        return f"<module '{self._sb_module.__name__}' (sandboxed)>"


class ModuleGate:
    """Decides what a module attribute may become inside the sandbox; one per runtime policy."""

    def __init__(self, policy: Policy, violations: Violations = VIOLATIONS) -> None:
        self.policy = policy
        self.violations = violations
        self._proxies: dict[int, ModuleProxy] = {}
        self._denied: dict[int, str] = {}
        self._pinned: list[Any] = []  # keeps denied objects alive so their ids stay unique

    def resolve_denied(self) -> None:
        """Look up the denied names among loaded modules, to refuse those objects under any alias."""
        for dotted in sorted(self.policy.denied_names):
            value = _lookup_loaded(dotted)
            if value is not None:
                self._denied[id(value)] = dotted
                self._pinned.append(value)

    def proxy(self, module: ModuleType) -> ModuleProxy:
        """The (cached, shared) proxy of a module the caller decided to expose."""
        proxy = self._proxies.get(id(module))
        if proxy is None:
            proxy = self._proxies[id(module)] = ModuleProxy(module, self)
        return proxy

    def attribute(self, module: ModuleType, name: str) -> Any:
        if not isinstance(name, str):
            raise TypeError("attribute name must be a string")
        if is_private(name) or name in BLOCKED_ATTRIBUTES:
            self.violations.refuse(
                f"access to attribute '{name}' of module '{module.__name__}' is not allowed"
            )
        dotted = f"{module.__name__}.{name}"
        if dotted in self.policy.denied_names or dotted in self.policy.denied_modules:
            self.violations.refuse(f"'{dotted}' is not available in the sandbox")
        try:
            value = getattr(module, name)
        except AttributeError:
            raise AttributeError(f"module '{module.__name__}' has no attribute '{name}'") from None
        return self.expose(value, dotted)

    def expose(self, value: Any, dotted: str) -> Any:
        if isinstance(value, ModuleType):
            if self.policy.module_allowed(value.__name__) and sys.modules.get(value.__name__) is value:
                return self.proxy(value)
            self.violations.refuse(f"module '{value.__name__}' is not available in the sandbox")
        denied = self._denied.get(id(value))
        if denied is not None:
            self.violations.refuse(f"'{dotted}' is not available in the sandbox")
        if isinstance(value, type) and issubclass(value, type):
            return guard_metaclass(value)
        return value


class _MetaclassGuard(type):
    """Metaclass of the stand-ins handed out instead of real metaclasses (`type`, `ABCMeta`, ...).

    A real metaclass would let code build a class from an arbitrary namespace, e.g. one holding an
    `__array_interface__` that points NumPy at raw memory; the stand-in checks the namespace first.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        real: type = cls._sb_real  # type: ignore[attr-defined]
        if real is type and len(args) == 1 and not kwargs:
            result = type(args[0])
            return guard_metaclass(result) if issubclass(result, type) else result
        if len(args) == 3 and isinstance(args[2], dict):
            check_class_namespace(args[2])
        return real(*args, **kwargs)

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, cls._sb_real)  # type: ignore[attr-defined]

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, cls._sb_real)  # type: ignore[attr-defined]

    def __repr__(cls) -> str:
        return repr(cls._sb_real)  # type: ignore[attr-defined]


_STAND_INS: dict[type, type] = {}


def guard_metaclass(metaclass: type) -> type:
    """The stand-in for `metaclass` (one per metaclass, so `type(a) is type(b)` still holds)."""
    if isinstance(metaclass, _MetaclassGuard):
        return metaclass
    stand_in = _STAND_INS.get(metaclass)
    if stand_in is None:
        stand_in = _MetaclassGuard(metaclass.__name__, (metaclass,), {"_sb_real": metaclass})
        _STAND_INS[metaclass] = stand_in
    return stand_in


def check_class_namespace(namespace: dict[Any, Any]) -> None:
    """Refuse class namespaces with dunder names the static policy would not let a class body define."""
    for key in namespace:
        if (
            isinstance(key, str)
            and key.startswith("__")
            and key not in SPECIAL_METHODS
            and key not in _CLASS_BOOKKEEPING
        ):
            VIOLATIONS.refuse(f"a class attribute named '{key}' is not allowed")


_CLASS_BOOKKEEPING = frozenset({"__module__", "__qualname__", "__doc__", "__slots__", "__name__"})


def _lookup_loaded(dotted: str) -> Any:
    """Resolve `package.module.attr` against already-imported modules only (never imports)."""
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:split]))
        if module is None:
            continue
        value: Any = module
        try:
            for part in parts[split:]:
                value = getattr(value, part)
        except AttributeError:
            return None
        return value
    return None
