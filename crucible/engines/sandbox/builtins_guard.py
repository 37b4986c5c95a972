"""The builtins mapping user code runs with: the normal set minus what reaches outside the sandbox.

Names a runtime injects (`self`, `np`, ...) are added to this mapping rather than to globals, so they
are visible inside functions and classes the code defines, as in the original services.
"""

from __future__ import annotations

import _string  # type: ignore[import-not-found]  # the parser behind str.format
import builtins
import string
import sys
from collections.abc import Callable, Mapping
from types import BuiltinMethodType
from typing import Any

from crucible.engines.sandbox.policy import BLOCKED_ATTRIBUTES, SANDBOX_GETATTR, Policy, is_private
from crucible.engines.sandbox.proxies import VIOLATIONS, ModuleGate, guard_metaclass

REMOVED_BUILTINS = frozenset(
    {"input", "breakpoint", "help", "exit", "quit", "compile", "exec", "eval", "globals", "vars"}
    | {"memoryview", "locals", "copyright", "credits", "license", "__loader__", "__spec__", "__package__"}
)
"""Removed on top of the spec's list: `locals` (writes a class body's namespace directly), the `site`
printers (they read files) and the import-machinery dunders."""

_FORMAT_METHODS = frozenset({"format", "format_map"})


def _checked_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"attribute name must be string, not '{type(name).__name__}'")
    name = str.__str__(name)  # an exact str: a subclass cannot fake what is checked
    if is_private(name) or name in BLOCKED_ATTRIBUTES:
        VIOLATIONS.refuse(f"access to attribute '{name}' is not allowed")
    return name


_MISSING = object()


def guarded_getattr(obj: Any, name: str, default: Any = _MISSING) -> Any:
    """`getattr` that refuses private and frame-reaching names and hands out a safe `str.format`."""
    name = _checked_name(name)
    try:
        value = getattr(obj, name)
    except AttributeError:
        if default is _MISSING:
            raise
        return default
    if name in _FORMAT_METHODS:
        return _safe_format(value)
    return value


def guarded_hasattr(obj: Any, name: str) -> bool:
    name = _checked_name(name)
    return hasattr(obj, name)


def guarded_setattr(obj: Any, name: str, value: Any) -> None:
    name = _checked_name(name)
    setattr(obj, name, value)


def guarded_delattr(obj: Any, name: str) -> None:
    name = _checked_name(name)
    delattr(obj, name)


def refused_open(*args: Any, **kwargs: Any) -> Any:
    """`open` stub: files are never available to user code."""
    VIOLATIONS.refuse("open() is not allowed")


class _SafeFormatter(string.Formatter):
    """`str.format` whose `{0.attr}` fields go through the guarded getattr."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, Any]:
        first, rest = _string.formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attribute, key in rest:
            obj = guarded_getattr(obj, key) if is_attribute else obj[key]
        return obj, first


_FORMATTER = _SafeFormatter()


def _format(template: str, /, *args: Any, **kwargs: Any) -> str:
    if not isinstance(template, str):
        raise TypeError("descriptor 'format' requires a 'str' object")
    return _FORMATTER.vformat(template, args, kwargs)


def _format_map(template: str, mapping: Mapping[str, Any], /) -> str:
    if not isinstance(template, str):
        raise TypeError("descriptor 'format_map' requires a 'str' object")
    return _FORMATTER.vformat(template, (), mapping)


def _safe_format(value: Any) -> Any:
    """Replace `str.format`/`str.format_map` (bound or not) by the guarded versions; pass others through."""
    if value is str.format:
        return _format
    if value is str.format_map:
        return _format_map
    if type(value) is BuiltinMethodType and isinstance(value.__self__, str):
        template = value.__self__
        if value.__name__ == "format":
            return lambda *args, **kwargs: _format(template, *args, **kwargs)
        if value.__name__ == "format_map":
            return lambda mapping: _format_map(template, mapping)
    return value


def make_importer(policy: Policy, gate: ModuleGate) -> Callable[..., Any]:
    """The `__import__` of user code: allowlisted, preloaded modules only, bound as proxies."""

    def sandbox_import(
        name: str,
        globals: Any = None,
        locals: Any = None,
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        if level:
            VIOLATIONS.refuse("relative imports are not allowed")
        if not isinstance(name, str) or not policy.import_allowed(name):
            VIOLATIONS.refuse(f"import of '{name}' is not allowed")
        module = sys.modules.get(name)
        if module is None:
            VIOLATIONS.refuse(f"import of '{name}' is not allowed (module not available in the sandbox)")
        if fromlist:
            for item in fromlist:
                if not isinstance(item, str) or item == "*" or item.startswith("_"):
                    VIOLATIONS.refuse(f"'from {name} import {item}' is not allowed")
            return gate.proxy(module)
        return gate.proxy(sys.modules[name.partition(".")[0]])

    return sandbox_import


def make_builtins(policy: Policy, gate: ModuleGate) -> dict[str, Any]:
    """The base builtins mapping for one policy; copy it per execution and add the injected names."""
    mapping = {name: value for name, value in vars(builtins).items() if name not in REMOVED_BUILTINS}
    mapping.update(
        {
            "open": refused_open,
            "getattr": guarded_getattr,
            "hasattr": guarded_hasattr,
            "setattr": guarded_setattr,
            "delattr": guarded_delattr,
            "type": guard_metaclass(type),
            "__import__": make_importer(policy, gate),
            SANDBOX_GETATTR: guarded_getattr,
        }
    )
    return mapping
