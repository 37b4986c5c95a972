"""Sandbox runtime used only for the save-time check of experiment code (spec §4.1).

Its policy is the real runtime's except that import statements pass: users expect a refused import to
fail when the code runs (403, spec §7 scenario 11), not when it is saved. It never runs calls.
"""

from __future__ import annotations

from typing import Any

from crucible.engines.sandbox import CallContext


def run(ctx: CallContext) -> Any:
    raise ValueError("this runtime only checks code; calls go to sandbox_runtime")
