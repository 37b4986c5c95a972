"""Theta store rules (spec §4.3) as pure functions: "text on write, strings on read".

A theta is a hash (field → text) under a key `exp:<exp_id>:<name>[:<key>[:<value>]]`. Writes turn field
names and values into text exactly as redis-py 2.10.6 did, with numpy scalars unwrapped first (NumPy 2).
Reads select the hashes under a key, where matching stops at `:`, and shape them flat, nested one level,
or `{}`. Storage backends (SQL, Redis) use the key and range helpers; `read_theta`, `write_theta` and
`delete_theta` apply the same rules to an in-memory mapping of hashes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import numpy as np

THETA_NAME = "_theta"
"""Default hash name, as in `self.get_theta(name="_theta")`."""

Hash = dict[str, str]
Store = MutableMapping[str, Hash]


# --- text on write -------------------------------------------------------------------------------------


_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def unwrap_numpy(value: Any) -> Any:
    """Numpy scalars → Python scalars and arrays/matrices → nested lists, recursively through dicts
    (keys too), lists and tuples (which stay tuples)."""
    if type(value) in _PLAIN_TYPES:  # fast path: large model dicts are mostly plain floats
        return value
    if type(value) is list:
        return [v if type(v) in _PLAIN_TYPES else unwrap_numpy(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {unwrap_numpy(k): unwrap_numpy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_numpy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(unwrap_numpy(v) for v in value)
    return value


def encode_text(value: Any) -> str:
    """The stored text of one field name or value (the table of spec §4.3)."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if value is None:
        return "None"
    if isinstance(value, dict | list | tuple):
        return str(unwrap_numpy(value))
    if isinstance(value, np.ndarray):
        return str(value.tolist())
    return str(value)


def encode_hash(thetas: Any) -> Hash:
    """The fields `set_theta(thetas)` writes: `thetas.get_dict()` first when it has one, then every
    name and value as text."""
    get_dict = getattr(thetas, "get_dict", None)
    if callable(get_dict):
        thetas = get_dict()
    if not isinstance(thetas, Mapping):
        raise TypeError(f"set_theta needs a dict or an object with get_dict(), not {type(thetas).__name__}")
    return {encode_text(name): encode_text(value) for name, value in thetas.items()}


# --- keys and selection ----------------------------------------------------------------------------------


def theta_key(exp_id: str, key: Any = None, value: Any = None, name: str = THETA_NAME) -> str:
    """`exp:<exp_id>:<name>`, then `:<key>` when key is given, then `:<value>` when both are (via `str()`).
    A value without a key addresses the bare `exp:<exp_id>:<name>`."""
    prefix = f"exp:{exp_id}:{name}"
    if key is None:
        return prefix
    if value is None:
        return f"{prefix}:{key!s}"
    return f"{prefix}:{key!s}:{value!s}"


def is_exact(value: Any) -> bool:
    """Whether a lookup reads only the hash at the key itself: when a value is given (with or without key)."""
    return value is not None


def in_scope(hash_key: str, prefix: str) -> bool:
    """Whether the hash at `hash_key` is `prefix` itself or below it; `treatment` never matches `treatment2`."""
    return hash_key == prefix or hash_key.startswith(prefix + ":")


def child_range(prefix: str) -> tuple[str, str]:
    """Half-open key range [low, high) holding exactly the hashes strictly below `prefix`, for ordered
    indexes: SQL `key >= low AND key < high`, Redis `ZRANGEBYLEX idx [low (high`. Add `prefix` itself."""
    return prefix + ":", prefix + ";"  # ';' is the character after ':'


def selected_keys(hash_keys: Iterable[str], prefix: str, exact: bool) -> list[str]:
    """The hash keys a read (or delete) at `prefix` addresses, sorted."""
    if exact:
        return [prefix] if any(k == prefix for k in hash_keys) else []
    return sorted(k for k in hash_keys if in_scope(k, prefix))


def shape_theta(prefix: str, hashes: Mapping[str, Mapping[str, str]], exact: bool) -> dict[str, Any]:
    """The `get_theta` result from the hashes selected at `prefix`.

    Exact reads give the flat hash (or `{}`). Otherwise: none → `{}`; exactly the hash at `prefix` → flat;
    else `{suffix after "prefix:": flat hash}` sorted, with the hash at `prefix` itself under `""`.
    """
    if exact:
        return dict(hashes.get(prefix, {}))
    keys = sorted(k for k in hashes if in_scope(k, prefix))
    if not keys:
        return {}
    if keys == [prefix]:
        return dict(hashes[prefix])
    return {k[len(prefix) + 1 :]: dict(hashes[k]) for k in keys}


def float_values(result: Mapping[str, Any]) -> dict[str, Any]:
    """`all_float=True`: `float()` of every value, one nesting level deep (ValueError on other text)."""
    return {
        k: {field: float(text) for field, text in v.items()} if isinstance(v, Mapping) else float(v)
        for k, v in result.items()
    }


# --- an in-memory store of hashes -----------------------------------------------------------------------


def read_theta(
    store: Mapping[str, Mapping[str, str]],
    exp_id: str,
    key: Any = None,
    value: Any = None,
    name: str = THETA_NAME,
    all_float: bool = False,
) -> dict[str, Any]:
    """`self.get_theta(key, value, name, all_float)` against `store` (theta key → hash)."""
    prefix = theta_key(exp_id, key, value, name)
    exact = is_exact(value)
    if exact:  # a direct lookup, as an indexed store does
        selected = {prefix: store[prefix]} if prefix in store else {}
    else:
        selected = {k: store[k] for k in selected_keys(store.keys(), prefix, exact)}
    result = shape_theta(prefix, selected, exact)
    return float_values(result) if all_float else result


def write_theta(
    store: Store, exp_id: str, thetas: Any, key: Any = None, value: Any = None, name: str = THETA_NAME
) -> None:
    """`self.set_theta(thetas, key, value, name)`: merge the encoded fields into the hash; `{}` is a no-op."""
    fields = encode_hash(thetas)
    if not fields:
        return
    prefix = theta_key(exp_id, key, value, name)
    store[prefix] = {**store.get(prefix, {}), **fields}


def delete_theta(
    store: Store, exp_id: str, key: Any = None, value: Any = None, name: str = THETA_NAME
) -> int:
    """`self.delete_theta(key, value, name)`: delete what `get_theta` would read; returns the count."""
    prefix = theta_key(exp_id, key, value, name)
    doomed = selected_keys(store.keys(), prefix, is_exact(value))
    for k in doomed:
        del store[k]
    return len(doomed)
