"""The isolated virtualenv holding the real polyaxon-client 0.5.6 (spec §6), built once and cached.

Jinja2 2.10.1 and the marshmallow release candidate the client pins conflict with the server's stack, so
the client never enters the server's environment: tests run client code in this venv's interpreter, and
managed runs use it too (`executor.local.python`) so scripts can `import polyaxon_client`.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PINS = ("polyaxon-client==0.5.6", "markupsafe==2.0.1", "setuptools<81")
# Python >= 3.10 removed the ABC aliases from `collections`; the client, schemas, rhea and Jinja2 still
# import them from there. A .pth line runs in every process of the venv, managed runs included.
SHIM = (
    "import collections, collections.abc; "
    + "; ".join(
        f"collections.{name} = collections.abc.{name}"
        for name in ("Mapping", "MutableMapping", "Sequence", "Iterable", "Callable")
    )
    + "\n"
)


def venv_dir() -> Path:
    key = hashlib.sha256(("\n".join(PINS) + SHIM + sys.version).encode()).hexdigest()[:12]
    return ROOT / ".cache" / "compat" / f"polyaxon-{key}"


def python() -> Path:
    """The venv's interpreter, building the venv on first use (a lock file guards parallel builders)."""
    target = venv_dir()
    interpreter = target / "bin" / "python"
    ready = target / ".ready"
    if ready.exists():
        return interpreter
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists():
            return interpreter
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(target)], check=True)
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        subprocess.run([str(interpreter), "-m", "pip", "install", "--quiet", *PINS], check=True, env=env)
        purelib = subprocess.run(
            [str(interpreter), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        (Path(purelib) / "polyaxon_compat.pth").write_text(SHIM)
        subprocess.run([str(interpreter), "-c", "import polyaxon_client.tracking"], check=True, env=env)
        ready.write_text("ok\n")
    return interpreter
