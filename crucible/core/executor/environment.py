"""The environment a local run sees: an allow-list of server variables, then the caller's.

A run must never inherit the server's secrets (database URL, signing keys, cloud credentials), so
nothing from the server's environment passes except the variables a shell needs to behave.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ALLOWED_SERVER_VARIABLES = frozenset({"PATH", "HOME", "LANG", "TZ", "TMPDIR"})
ALLOWED_SERVER_PREFIXES = ("LC_",)


def allowed_server_env(server_env: Mapping[str, str]) -> dict[str, str]:
    return {
        name: value
        for name, value in server_env.items()
        if name in ALLOWED_SERVER_VARIABLES or name.startswith(ALLOWED_SERVER_PREFIXES)
    }


def run_env(
    server_env: Mapping[str, str], caller_env: Mapping[str, str], python_bin_dir: Path | None
) -> dict[str, str]:
    """Allow-listed server variables, overridden by the caller's, with `python_bin_dir` first on
    PATH so `python` and `pip` resolve to the interpreter the caller chose."""
    env = allowed_server_env(server_env)
    env.update(caller_env)
    env.setdefault("PATH", os.defpath)
    if python_bin_dir is not None:
        env["PATH"] = f"{python_bin_dir}{os.pathsep}{env['PATH']}" if env["PATH"] else str(python_bin_dir)
    return env
