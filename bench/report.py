"""Writes one benchmark's results into docs/benchmarks.md, between its own markers, leaving the rest."""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Each section is written by the benchmark named in it (`make bench` runs them all; each also runs alone).
Every figure is a ratio against a baseline measured in the same run on the same machine.
"""


def percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000.0, q))


def machine() -> str:
    """Where and how busy: timings mean little without it."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {load} at the end of the run"
    )


def write_section(name: str, title: str, body: str) -> None:
    """Replace (or append) the section between `<!-- bench:name -->` markers."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- bench:{name} -->\n## {title}\n\n"
        f"Measured {stamp} on {machine()} with `.venv/bin/python bench/{name}.py`.\n\n{body.strip()}\n"
        f"<!-- /bench:{name} -->"
    )
    DOCUMENT.parent.mkdir(parents=True, exist_ok=True)
    text = DOCUMENT.read_text() if DOCUMENT.exists() else HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _match: section, text)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    DOCUMENT.write_text(text)


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
