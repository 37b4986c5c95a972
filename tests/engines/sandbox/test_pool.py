"""Calls, RPC, outcomes and worker life cycle of the sandbox pool."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

from crucible.engines.sandbox import (
    CodeError,
    Limits,
    ResultNotSerializable,
    SandboxBusy,
    SandboxPool,
    SandboxUnavailable,
    SandboxViolation,
    TimeLimitExceeded,
)
from tests.engines.sandbox.conftest import RUNTIME, make_config


class Store:
    """A server-side request handler over a dict, with commits applied only on success."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = dict(data)
        self.requests: list[Any] = []

    def handle(self, request: Any) -> Any:
        self.requests.append(request)
        if request.get("op") == "read":
            if str(request.get("key", "")).startswith("secret"):
                raise SandboxViolation("Experiment could not be validated.")
            return self.data.get(request["key"])
        if request.get("op") == "echo":
            return request.get("value")
        raise ValueError(f"unknown request {request!r}")

    def call(self, pool: SandboxPool, code: str, owner: str = "alice") -> Any:
        result = pool.run_sync(RUNTIME, owner, code=code, handler=self.handle)
        self.data.update(result.value["writes"])  # commit the buffered writes: only reached on success
        return result.value["result"]


def test_rpc_round_trips_reach_the_handler(pool: SandboxPool) -> None:
    store = Store({"a": 1, "b": [1, 2.5, None]})
    assert store.call(pool, "box.result = [box.read('a'), box.read('b'), box.read('missing')]") == [
        1,
        [1, 2.5, None],
        None,
    ]
    assert store.requests == [{"op": "read", "key": key} for key in ("a", "b", "missing")]


def test_rpc_carries_nan_and_nested_values(pool: SandboxPool) -> None:
    store = Store({})
    value = store.call(
        pool, "box.result = box.ask({'op': 'echo', 'value': {'x': [float('nan'), 1e308 * 10]}})"
    )
    assert value["x"][0] != value["x"][0] and value["x"][1] == float("inf")


def test_buffered_writes_commit_only_on_success(pool: SandboxPool) -> None:
    store = Store({"n": 1})
    code = (
        "box.write('n', box.read('n') + 1)\nbox.result = box.read('n')\nif box.payload:\n    raise KeyError"
    )
    assert store.call(pool, code) == 2  # read-your-writes inside the call
    assert store.data["n"] == 2
    with pytest.raises(CodeError) as caught:
        store.data.update(
            pool.run_sync(RUNTIME, "alice", code=code, payload={"fail": 1}, handler=store.handle).value
        )
    assert caught.value.line == 4
    assert store.data["n"] == 2  # nothing applied by the failed call


def test_a_refused_request_is_a_violation_even_if_caught(pool: SandboxPool) -> None:
    store = Store({})
    code = "try:\n    box.read('secret')\nexcept Exception:\n    pass\nbox.result = 1"
    with pytest.raises(SandboxViolation, match=r"Experiment could not be validated\."):
        store.call(pool, code)


def test_a_failing_handler_raises_its_own_error_to_the_caller(pool: SandboxPool) -> None:
    store = Store({})
    with pytest.raises(ValueError, match="unknown request"):
        store.call(pool, "box.ask({'op': 'nope'})")


def test_calls_without_a_handler_refuse_requests(pool: SandboxPool) -> None:
    with pytest.raises(SandboxViolation, match="accepts no requests"):
        pool.run_sync(RUNTIME, "alice", code="box.read('a')")


def test_results_are_converted_to_json(pool: SandboxPool) -> None:
    code = "box.result = {'i': np.int64(3), 'a': np.arange(3), 't': (1, 2), 5: np.float32(0.5), 'n': np.nan}"
    value = pool.run_sync(RUNTIME, "alice", code=code).value["result"]
    assert value["i"] == 3 and value["a"] == [0, 1, 2] and value["t"] == [1, 2] and value["5"] == 0.5
    assert value["n"] != value["n"]


@pytest.mark.parametrize(
    ("code", "type_name"),
    [
        ("box.result = object()", "object"),
        ("box.result = {1, 2}", "set"),
        ("box.result = 'x' * (17 * 2**20)", "str"),
    ],
)
def test_unserializable_results(pool: SandboxPool, code: str, type_name: str) -> None:
    with pytest.raises(ResultNotSerializable) as caught:
        pool.run_sync(RUNTIME, "alice", code=code)
    assert caught.value.type_name in (type_name, "dict")


def test_exceptions_report_type_message_line_and_user_frames_only(pool: SandboxPool) -> None:
    code = "x = 1\ndef f():\n    return np.linalg.inv(np.zeros((2, 2)))\nf()\n"
    with pytest.raises(CodeError) as caught:
        pool.run_sync(RUNTIME, "alice", code=code)
    error = caught.value
    assert (error.type_name, error.message, error.line, error.filename) == (
        "LinAlgError",
        "Singular matrix",
        3,
        "<code>",
    )
    assert error.traceback == [
        '  File "<code>", line 4, in <module>',
        "    f()",
        '  File "<code>", line 3, in f',
        "    return np.linalg.inv(np.zeros((2, 2)))",
    ]


def test_nested_code_reports_its_own_file_and_line(pool: SandboxPool) -> None:
    code = "box.result = box.run_other('x = 1\\nanswer = x / 0')"
    with pytest.raises(CodeError) as caught:
        pool.run_sync(RUNTIME, "alice", code=code)
    assert (caught.value.filename, caught.value.line) == ("<other>", 2)
    assert (
        pool.run_sync(RUNTIME, "alice", code="box.result = box.run_other('answer = 42')").value["result"]
        == 42
    )
    with pytest.raises(SandboxViolation) as refused:
        pool.run_sync(
            RUNTIME, "alice", code="try:\n    box.run_other('import os')\nexcept Exception:\n    pass"
        )
    assert refused.value.line == 1


def test_syntax_errors_at_run_time(pool: SandboxPool) -> None:
    with pytest.raises(CodeError) as caught:
        pool.run_sync(RUNTIME, "alice", code="x = (\n")
    assert caught.value.type_name == "SyntaxError" and caught.value.line == 1


def test_injected_names_are_visible_in_functions_and_classes(pool: SandboxPool) -> None:
    code = textwrap.dedent(
        """
        def f():
            return box.payload['k']
        class C:
            def g(self):
                return np.sqrt(f())
        box.result = C().g()
        """
    )
    assert pool.run_sync(RUNTIME, "alice", code=code, payload={"k": 16}).value["result"] == 4.0


def test_each_call_gets_fresh_globals(pool: SandboxPool) -> None:
    pool.run_sync(RUNTIME, "fresh", code="leftover = 1")
    with pytest.raises(CodeError, match="NameError"):
        pool.run_sync(RUNTIME, "fresh", code="box.result = leftover")


def test_output_is_captured(pool: SandboxPool) -> None:
    result = pool.run_sync(RUNTIME, "alice", code="print('hello', 1)\nprint('x' * 100000)")
    assert result.output.startswith("hello 1\n")
    assert len(result.output) == 64 * 1024


def test_seed_makes_runs_reproducible(pool: SandboxPool) -> None:
    first = pool.run_sync(RUNTIME, "seeded", payload={"mode": "random"}, seed=7).value
    second = pool.run_sync(RUNTIME, "seeded", payload={"mode": "random"}, seed=7).value
    third = pool.run_sync(RUNTIME, "seeded", payload={"mode": "random"}).value
    assert first == second != third


def test_workers_are_reused_per_owner_and_never_shared(pool: SandboxPool) -> None:
    first = pool.run_sync(RUNTIME, "reuse-a", code="box.result = 1").worker_pid
    again = pool.run_sync(RUNTIME, "reuse-a", code="box.result = 1").worker_pid
    other = pool.run_sync(RUNTIME, "reuse-b", code="box.result = 1").worker_pid
    assert first == again != other


def test_a_worker_is_replaced_after_a_violation_or_exception(pool: SandboxPool) -> None:
    pid = pool.run_sync(RUNTIME, "replace", code="box.result = 1").worker_pid
    with pytest.raises(SandboxViolation):
        pool.run_sync(RUNTIME, "replace", code="open('x')")
    after_violation = pool.run_sync(RUNTIME, "replace", code="box.result = 1").worker_pid
    with pytest.raises(CodeError):
        pool.run_sync(RUNTIME, "replace", code="1 / 0")
    after_exception = pool.run_sync(RUNTIME, "replace", code="box.result = 1").worker_pid
    assert len({pid, after_violation, after_exception}) == 3
    _wait_gone(pid)


def test_a_worker_retires_after_max_calls() -> None:
    with SandboxPool(make_config(light=True, max_calls_per_worker=2, max_concurrency=1)) as small:
        pids = [small.run_sync(RUNTIME, "o", code="box.result = 1").worker_pid for _ in range(5)]
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]


def test_busy_when_no_worker_frees_up_in_time() -> None:
    config = make_config(
        light=True, max_concurrency=1, queue_timeout=0.3, limits=Limits(cpu_seconds=30, wall_seconds=2)
    )
    with SandboxPool(config) as single:
        outcome: list[BaseException] = []

        def spin() -> None:
            try:
                single.run_sync(RUNTIME, "a", code="while True:\n    pass")
            except BaseException as exc:
                outcome.append(exc)

        spinner = threading.Thread(target=spin)
        spinner.start()
        time.sleep(0.3)
        started = time.monotonic()
        with pytest.raises(SandboxBusy):
            single.run_sync(RUNTIME, "b", code="box.result = 1")
        assert time.monotonic() - started < 1.5
        spinner.join()
        assert isinstance(outcome[0], TimeLimitExceeded)
        assert single.run_sync(RUNTIME, "b", code="box.result = 1").value["result"] == 1


def test_async_api_keeps_the_event_loop_free(pool: SandboxPool) -> None:
    async def main() -> tuple[list[Any], int, Any]:
        ticks = 0

        async def count_ticks() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        async def handler(request: Any) -> Any:  # an async handler runs on the caller's loop
            await asyncio.sleep(0)
            return request["value"] * 2

        ticker = asyncio.create_task(count_ticks())
        spin = asyncio.create_task(
            pool.run(
                RUNTIME,
                "async-spin",
                code="while True:\n    pass",
                limits=Limits(cpu_seconds=30, wall_seconds=0.6),
            )
        )

        def plain_handler(request: Any) -> Any:  # a plain handler runs on a thread
            return request["value"] * 2

        results = await asyncio.gather(
            *(
                pool.run(
                    RUNTIME,
                    f"async-{i}",
                    code="box.result = box.ask({'value': box.payload})",
                    payload=i,
                    handler=handler if i % 2 else plain_handler,
                )
                for i in range(6)
            )
        )
        spin_error = await asyncio.gather(spin, return_exceptions=True)
        ticker.cancel()
        return [r.value["result"] for r in results], ticks, spin_error[0]

    values, ticks, spin_error = asyncio.run(main())
    assert values == [0, 2, 4, 6, 8, 10]
    assert isinstance(spin_error, TimeLimitExceeded)
    assert ticks >= 10  # the loop kept running while a worker spun for 0.6 s


def test_close_kills_host_and_workers_without_zombies() -> None:
    pool = SandboxPool(make_config(light=True, max_concurrency=2)).start()
    worker_pid = pool.run_sync(RUNTIME, "z", code="box.result = 1").worker_pid
    host_pid = pool.facts["pid"]
    pool.close()
    pool.close()
    _wait_gone(worker_pid)
    _wait_gone(host_pid)
    with pytest.raises(SandboxUnavailable):
        pool.run_sync(RUNTIME, "z", code="box.result = 1")


def test_the_host_and_workers_die_with_the_server(tmp_path: Any) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path[:0] = {sys.path!r}
        from tests.engines.sandbox.conftest import RUNTIME, make_config
        from crucible.engines.sandbox import SandboxPool
        pool = SandboxPool(make_config(light=True, max_concurrency=1)).start()
        pid = pool.run_sync(RUNTIME, "o", code="box.result = 1").worker_pid
        print(pool.facts["pid"], pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    server = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    host_pid, worker_pid = (int(x) for x in server.stdout.split())
    _wait_gone(host_pid)
    _wait_gone(worker_pid)


def _wait_gone(pid: int, timeout: float = 5.0) -> None:
    """Wait until `pid` no longer exists (neither running nor a zombie)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z" and time.monotonic() > deadline - timeout / 2:
            pytest.fail(f"process {pid} is a zombie")
        time.sleep(0.02)
    pytest.fail(f"process {pid} is still alive")


def test_unknown_runtimes_are_refused(pool: SandboxPool) -> None:
    with pytest.raises(ValueError, match="not registered"):
        pool.run_sync("no.such.runtime", "alice")


def test_status_reports_lockdown_facts(pool: SandboxPool) -> None:
    status = pool.status()
    assert status["network_namespace"] in (True, False)
    assert status["seccomp"] in (True, False)
    assert status["broken"] is None
    assert os.path.exists(f"/proc/{status['pid']}")


def test_save_time_check_runs_in_a_worker(pool: SandboxPool) -> None:
    pool.check_sync(RUNTIME, "alice", "import numpy as np\nx = np.zeros(3)")
    with pytest.raises(SandboxViolation) as refused:
        pool.check_sync(RUNTIME, "alice", "x = 1\nx = random._os")
    assert refused.value.line == 2
    with pytest.raises(CodeError) as syntax:
        pool.check_sync(RUNTIME, "alice", "x = (", filename="<get_action>")
    assert (syntax.value.type_name, syntax.value.line) == ("SyntaxError", 1)
    with pytest.raises(CodeError, match="too deeply nested"):  # hostile source: never parsed by the server
        pool.check_sync(RUNTIME, "alice", "x = " + "-" * 200_000 + "1")

    async def check_async() -> None:
        await pool.check(RUNTIME, "alice", "y = 2")

    asyncio.run(check_async())


def test_cancelling_an_async_call_discards_its_worker(pool: SandboxPool) -> None:
    async def main() -> int:
        pid = (await pool.run(RUNTIME, "cancel", code="box.result = 1")).worker_pid
        task = asyncio.create_task(pool.run(RUNTIME, "cancel", code="while True:\n    pass"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return pid

    _wait_gone(asyncio.run(main()))
    assert pool.run_sync(RUNTIME, "cancel", code="box.result = 2").value["result"] == 2


@pytest.mark.parametrize("mode", ["garbage", "huge"])
def test_a_rogue_worker_cannot_confuse_the_server(pool: SandboxPool, mode: str) -> None:
    with pytest.raises(SandboxViolation, match="protocol error"):
        pool.run_sync(RUNTIME, "rogue", payload={"mode": mode})

    async def call() -> None:
        await pool.run(RUNTIME, "rogue", payload={"mode": mode})

    with pytest.raises(SandboxViolation, match="protocol error"):
        asyncio.run(call())
    assert pool.run_sync(RUNTIME, "rogue", code="box.result = 1").value["result"] == 1


def test_requests_over_the_message_cap_fail_in_the_code(pool: SandboxPool) -> None:
    with pytest.raises(CodeError, match="16 MiB"):
        pool.run_sync(RUNTIME, "alice", payload={"mode": "big_request"}, handler=lambda body: None)


def test_a_dead_host_is_replaced_and_calls_go_on() -> None:
    with SandboxPool(make_config(light=True, max_concurrency=1)) as restartable:
        first = restartable.run_sync(RUNTIME, "o", code="box.result = 1").worker_pid
        old_host = restartable.facts["pid"]
        os.kill(old_host, signal.SIGKILL)
        _wait_gone(old_host)
        _wait_gone(first)  # workers die with their host (PR_SET_PDEATHSIG)
        deadline = time.monotonic() + 5
        while restartable.status()["broken"] is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert restartable.run_sync(RUNTIME, "o", code="box.result = 2").value["result"] == 2
        assert restartable.facts["pid"] != old_host


def test_a_caller_cancelled_while_queued_gives_its_slot_back() -> None:
    config = make_config(
        light=True, max_concurrency=1, queue_timeout=5, limits=Limits(cpu_seconds=30, wall_seconds=1)
    )
    with SandboxPool(config) as single:

        async def main() -> Any:
            spin = asyncio.create_task(single.run(RUNTIME, "a", code="while True:\n    pass"))
            await asyncio.sleep(0.2)
            queued = asyncio.create_task(single.run(RUNTIME, "b", code="box.result = 1"))
            await asyncio.sleep(0.2)
            queued.cancel()  # still waiting for the only slot
            with pytest.raises(TimeLimitExceeded):
                await spin
            return await single.run(RUNTIME, "c", code="box.result = 3")

        assert asyncio.run(main()).value["result"] == 3
        assert single.status()["busy"] == 0
