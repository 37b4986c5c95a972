"""The escapes of the StreamingBandit spec (§7 scenario 11) and their relatives, through real workers."""

from __future__ import annotations

import os
import threading
import time

import pytest

from crucible.engines.sandbox import (
    CodeError,
    Limits,
    MemoryLimitExceeded,
    SandboxPool,
    SandboxViolation,
    TimeLimitExceeded,
    WorkerDied,
    check_code,
)
from crucible.engines.sandbox import Policy as SandboxPolicy
from tests.engines.sandbox.conftest import RUNTIME, make_config


def violation(pool: SandboxPool, code: str, owner: str = "mallory") -> SandboxViolation:
    with pytest.raises(SandboxViolation) as caught:
        pool.run_sync(RUNTIME, owner, code=code)
    return caught.value


def test_import_os_is_a_violation_mentioning_import(pool: SandboxPool) -> None:
    assert "import of 'os'" in violation(pool, "import os").detail


def test_open_is_a_violation(pool: SandboxPool) -> None:
    assert "open()" in violation(pool, "open('/etc/passwd')").detail


@pytest.mark.parametrize("code", ["().__class__.__base__.__subclasses__()", "x = random._os"])
def test_private_attribute_walks_are_refused_at_save_time_and_at_run_time(
    pool: SandboxPool, code: str
) -> None:
    with pytest.raises(SandboxViolation):
        check_code(code, SandboxPolicy())
    assert violation(pool, code).line == 1


def test_getattr_with_a_built_name_is_refused_at_run_time(pool: SandboxPool) -> None:
    code = 'cls = getattr((), "__cla" + "ss__")'
    check_code(code, SandboxPolicy())  # passes the static check...
    assert "'__class__'" in violation(pool, code).detail  # ...and is refused when it runs


@pytest.mark.parametrize(
    "code",
    [
        "np.ctypeslib",
        "from numpy import ctypeslib",
        "np.lib.npyio",
        "np.load('x.npy')",
        "np.fromfile('x')",
        "np.lib.stride_tricks.as_strided(np.zeros(1), shape=(10**6,))",
        "sp.io",
        "np.testing",
    ],
)
def test_denied_modules_and_file_functions(pool: SandboxPool, code: str) -> None:
    violation(pool, code)


def test_an_endless_loop_hits_the_time_limit_while_another_owner_is_served(pool: SandboxPool) -> None:
    outcome: dict[str, BaseException] = {}

    def spin() -> None:
        try:
            pool.run_sync(RUNTIME, "spinner", code="while True:\n    pass")
        except BaseException as exc:
            outcome["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=spin)
    thread.start()
    time.sleep(0.2)
    assert thread.is_alive()
    quick = time.monotonic()
    result = pool.run_sync(RUNTIME, "bystander", code="box.result = sum(range(10))")
    assert result.value["result"] == 45
    assert time.monotonic() - quick < 1.0
    assert thread.is_alive()  # the concurrent call completed while the other was looping
    thread.join()
    assert isinstance(outcome["error"], TimeLimitExceeded)
    assert time.monotonic() - started < 1.5 + 2


def test_cpu_limit_ends_the_worker(pool: SandboxPool) -> None:
    with pytest.raises(TimeLimitExceeded) as caught:
        pool.run_sync(
            RUNTIME, "spinner", code="while True:\n    pass", limits=Limits(cpu_seconds=0.5, wall_seconds=8)
        )
    assert caught.value.kind == "cpu"


def test_wall_clock_limit_is_enforced_by_the_server(pool: SandboxPool) -> None:
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded) as caught:
        pool.run_sync(
            RUNTIME, "spinner", code="while True:\n    pass", limits=Limits(cpu_seconds=30, wall_seconds=0.5)
        )
    assert caught.value.kind == "wall"
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("code", ["x = bytearray(10**10)", "x = [0] * 10**10", "x = np.ones(10**9)"])
def test_huge_allocations_are_a_memory_outcome(pool: SandboxPool, code: str) -> None:
    with pytest.raises(MemoryLimitExceeded) as caught:
        pool.run_sync(RUNTIME, "hog", code=code)
    assert caught.value.megabytes == 256


@pytest.mark.parametrize(
    "code",
    [
        "import os\nos.fork()",
        "import subprocess",
        "import multiprocessing",
        "import pty",
        "x = random._os.fork()",
        "getattr(random, '_o' + 's').fork()",
        "getattr(np, 'distutils')",
        "import socket",
        "import ctypes",
    ],
)
def test_fork_and_friends_are_unreachable_from_user_code(pool: SandboxPool, code: str) -> None:
    violation(pool, code)


def test_fork_fails_in_the_kernel_even_for_trusted_code(pool: SandboxPool) -> None:
    # `_posixsubprocess.fork_exec` raises no audit event: what stops it is seccomp (or RLIMIT_NPROC).
    if pool.facts["seccomp"]:
        assert pool.run_sync(RUNTIME, "probe", payload={"mode": "posix_fork"}).value.startswith(
            "PermissionError"
        )
    assert "not allowed" in pool.run_sync(RUNTIME, "probe", payload={"mode": "os_fork"}).value


def test_fork_fails_through_rlimit_nproc_without_seccomp() -> None:
    if os.geteuid() == 0 and os.environ.get("CRUCIBLE_SANDBOX_TEST_NO_SETUID"):
        pytest.skip("RLIMIT_NPROC does not bind root")
    with SandboxPool(make_config(light=True, seccomp=False, max_concurrency=1)) as bare:
        assert bare.facts["seccomp"] is False
        outcome = bare.run_sync(RUNTIME, "probe", payload={"mode": "posix_fork"}).value
    assert outcome.startswith("BlockingIOError"), outcome


def test_environment_and_secrets_are_not_visible(pool: SandboxPool) -> None:
    identity = pool.run_sync(RUNTIME, "probe", payload={"mode": "identity"}).value
    assert identity["env"] == {}
    if os.geteuid() == 0:
        assert identity["uid"] == 65534
    with open(f"/proc/{pool.facts['pid']}/environ", "rb") as environ:
        names = {entry.split(b"=", 1)[0] for entry in environ.read().split(b"\0") if entry}
    assert names <= {b"PATH", b"LANG", b"OPENBLAS_NUM_THREADS", b"OMP_NUM_THREADS", b"MKL_NUM_THREADS"} | {
        b"PYTHONDONTWRITEBYTECODE"
    }
    violation(pool, "import os\nx = os.environ")


def test_workers_hold_only_their_channel(pool: SandboxPool) -> None:
    assert pool.run_sync(RUNTIME, "probe", payload={"mode": "fds"}).value == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "code",
    [
        "x = __builtins__",
        "x = locals()['__builtins__']",
        "x = globals()",
        "x = vars()",
        "exec('import os')",
        "eval('1')",
        "compile('1', 'x', 'eval')",
    ],
)
def test_builtins_tricks(pool: SandboxPool, code: str) -> None:
    with pytest.raises((SandboxViolation, CodeError)) as caught:
        pool.run_sync(RUNTIME, "mallory", code=code)
    if isinstance(caught.value, CodeError):
        assert caught.value.type_name == "NameError"


@pytest.mark.parametrize(
    "code",
    [
        "x = getattr(type, '__subcla' + 'sses__')(object)",
        "x = getattr(object, '__sub' + 'classes__')()",
        "def g():\n    yield 1\nx = getattr(g(), 'gi_' + 'frame')",
        "def g():\n    yield 1\nx = g().gi_frame",
        "async def c():\n    pass\nx = c().cr_frame",
        "x = '{0.__class__}'.format(1)",
        "x = '{0.gi_frame}'.format((i for i in []))",
        "x = str.format('{0.__globals__}', box.read)",
        "try:\n    1 / 0\nexcept Exception as e:\n    x = e.__traceback__",
        "try:\n    1 / 0\nexcept Exception as e:\n    x = getattr(e, '__trace' + 'back__')",
        "x = type(int)('A', (), {'__array_interface__': {'data': (0, False), 'shape': (9,)}})",
        "try:\n    open('/etc/passwd')\nexcept Exception:\n    pass\nbox.result = 'caught it'",
    ],
)
def test_attribute_walks_to_frames_classes_and_tracebacks(pool: SandboxPool, code: str) -> None:
    violation(pool, code)


def test_a_crashing_worker_is_reported_with_its_signal(pool: SandboxPool) -> None:
    with pytest.raises(WorkerDied) as caught:
        pool.run_sync(RUNTIME, "probe", payload={"mode": "segfault"})
    assert caught.value.signal == 11
    assert str(caught.value) == "Sandbox process died (signal 11)."
