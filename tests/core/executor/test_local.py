"""LocalExecutor against real processes: outcomes, logs, stop, queueing, environment, hygiene."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from crucible.core.executor import (
    Finished,
    LocalExecutor,
    Logs,
    Queued,
    Running,
    RunSpec,
    RunState,
    Starting,
    asyncio_queue_callback,
)
from tests.core.executor.helpers import Recorder, pid_gone, wait_until

MakeSpec = Callable[..., RunSpec]


def test_success_reports_queued_starting_running_logs_finished(
    executor: LocalExecutor, recorder: Recorder, make_spec: MakeSpec
) -> None:
    spec = make_spec("echo hello; pwd", run_id="ok")
    executor.submit(spec, recorder)
    finished = recorder.finished("ok")

    assert finished.state is RunState.SUCCEEDED
    assert finished.exit_code == 0
    assert finished.message == "Process exited with code 0"
    assert finished.traceback is None
    assert recorder.kinds("ok")[:3] == ["Queued", "Starting", "Running"]
    assert recorder.kinds("ok")[-1] == "Finished"
    running = next(e for e in recorder.of("ok") if isinstance(e, Running))
    assert running.pid and running.host and running.handle.startswith("local:")
    assert recorder.lines("ok", "stdout") == ["hello", str(spec.working_dir)]
    assert spec.outputs_dir.is_dir()
    assert executor.status("ok") is RunState.SUCCEEDED
    assert executor.wait("ok") is RunState.SUCCEEDED


def test_non_zero_exit_fails_with_code_and_last_20_stderr_lines(
    executor: LocalExecutor, recorder: Recorder, make_spec: MakeSpec
) -> None:
    command = 'for i in $(seq 1 30); do echo "err $i" >&2; echo "out $i"; done; exit 3'
    executor.submit(make_spec(command, run_id="bad"), recorder)
    finished = recorder.finished("bad")

    assert finished.state is RunState.FAILED
    assert finished.exit_code == 3
    assert finished.message == "Process exited with code 3"
    assert finished.traceback == "\n".join(f"err {i}" for i in range(11, 31))
    assert recorder.lines("bad", "stdout") == [f"out {i}" for i in range(1, 31)]
    assert recorder.lines("bad", "stderr") == [f"err {i}" for i in range(1, 31)]


def test_build_steps_run_in_order_in_the_working_copy_before_the_command(
    executor: LocalExecutor, recorder: Recorder, make_spec: MakeSpec
) -> None:
    spec = make_spec(
        "echo one > steps.txt; echo built-1",
        "echo two >> steps.txt; echo built-2",
        "cat steps.txt; echo $MARK",
        env={"MARK": "m"},
    )
    executor.submit(spec, recorder)
    assert recorder.finished(spec.run_id).state is RunState.SUCCEEDED
    assert recorder.lines(spec.run_id) == ["built-1", "built-2", "one", "two", "m"]
    events = recorder.of(spec.run_id)
    running_at = next(i for i, e in enumerate(events) if isinstance(e, Running))
    before = [line.text for e in events[:running_at] if isinstance(e, Logs) for line in e.lines]
    assert before == ["built-1", "built-2"]  # build output first, then the command is spawned


def test_failing_build_step_ends_the_run_and_later_steps_never_run(
    executor: LocalExecutor, recorder: Recorder, make_spec: MakeSpec
) -> None:
    spec = make_spec("echo building", "echo broken >&2; exit 4", "touch step3", "touch main")
    executor.submit(spec, recorder)
    finished = recorder.finished(spec.run_id)

    assert finished.state is RunState.FAILED
    assert finished.message == "build step 2 exited with code 4"
    assert finished.exit_code == 4
    assert finished.traceback == "broken"
    assert not (spec.working_dir / "step3").exists()
    assert not (spec.working_dir / "main").exists()
    assert "Running" not in recorder.kinds(spec.run_id)
    assert recorder.lines(spec.run_id) == ["building", "broken"]


def test_logs_keep_order_per_stream_and_replace_invalid_utf8(
    executor: LocalExecutor, recorder: Recorder, make_spec: MakeSpec
) -> None:
    command = (
        r"printf 'caf\303\251\n'; printf 'bad \377\376 bytes\n' >&2; "
        r"printf 'crlf\r\n'; printf 'no newline at the end'"
    )
    executor.submit(make_spec(command, run_id="utf8"), recorder)
    assert recorder.finished("utf8").state is RunState.SUCCEEDED
    assert recorder.lines("utf8", "stdout") == ["café", "crlf", "no newline at the end"]
    assert recorder.lines("utf8", "stderr") == ["bad \ufffd\ufffd bytes"]


def test_lines_arrive_while_the_process_runs(
    executor: LocalExecutor, recorder: Recorder, make_spec: MakeSpec
) -> None:
    """Streaming, not collected at exit: the run waits for a file the test creates only after it
    has seen the first line, and a line without newline arrives within about a second."""
    spec = make_spec("echo first; printf 'partial'; while [ ! -e go ]; do sleep 0.05; done; echo last")
    executor.submit(spec, recorder)
    recorder.wait_for(lambda e: isinstance(e, Logs) and any(x.text == "first" for x in e.lines))
    assert executor.status(spec.run_id) is RunState.RUNNING
    seen_first = time.monotonic()
    recorder.wait_for(lambda e: isinstance(e, Logs) and any(x.text == "partial" for x in e.lines), timeout=3)
    assert time.monotonic() - seen_first < 1.6
    assert executor.status(spec.run_id) is RunState.RUNNING
    (spec.working_dir / "go").touch()
    assert recorder.finished(spec.run_id).state is RunState.SUCCEEDED
    assert recorder.lines(spec.run_id) == ["first", "partial", "last"]


def test_long_lines_are_cut_not_lost(
    executor: LocalExecutor, recorder: Recorder, make_spec: MakeSpec
) -> None:
    executor.submit(
        make_spec("head -c 150000 /dev/zero | tr '\\0' x; echo; echo after", run_id="long"), recorder
    )
    assert recorder.finished("long").state is RunState.SUCCEEDED
    lines = recorder.lines("long")
    assert "".join(lines[:-1]) == "x" * 150000
    assert all(len(line) <= 64 * 1024 for line in lines)
    assert lines[-1] == "after"


def test_stop_kills_the_whole_process_group_within_the_grace(
    executor: LocalExecutor, recorder: Recorder, make_spec: MakeSpec
) -> None:
    spec = make_spec("sleep 600 & echo $! > child.pid; wait", run_id="stopme")
    executor.submit(spec, recorder)
    recorder.wait_for(lambda e: isinstance(e, Running) and e.run_id == "stopme")
    child_file = spec.working_dir / "child.pid"
    assert wait_until(lambda: child_file.exists() and child_file.read_text().strip() != "")
    child = int(child_file.read_text())
    assert not pid_gone(child)

    asked = time.monotonic()
    assert executor.stop("stopme") is True
    finished = recorder.finished("stopme", timeout=10)
    assert time.monotonic() - asked < 5
    assert finished.state is RunState.STOPPED
    assert wait_until(lambda: pid_gone(child), timeout=5)
    assert executor.stop("stopme") is False  # a second stop is a no-op


def test_stop_escalates_to_sigkill_after_the_grace(recorder: Recorder, make_spec: MakeSpec) -> None:
    executor = LocalExecutor(max_concurrent=1, stop_grace_s=1.0)
    try:
        spec = make_spec("trap '' TERM; sleep 600 & echo $! > child.pid; wait", run_id="stubborn")
        executor.submit(spec, recorder)
        child_file = spec.working_dir / "child.pid"
        assert wait_until(lambda: child_file.exists() and child_file.read_text().strip() != "")
        child = int(child_file.read_text())
        asked = time.monotonic()
        executor.stop("stubborn")
        finished = recorder.finished("stubborn", timeout=10)
        elapsed = time.monotonic() - asked
        assert finished.state is RunState.STOPPED
        assert finished.exit_code == -9
        assert 0.9 < elapsed < 3.5
        assert wait_until(lambda: pid_gone(child), timeout=5)
    finally:
        executor.close(timeout=10)


def test_stop_during_a_build_step_skips_the_rest(
    executor: LocalExecutor, recorder: Recorder, make_spec: MakeSpec
) -> None:
    spec = make_spec("echo building; sleep 600", "touch main", run_id="stopbuild")
    executor.submit(spec, recorder)
    recorder.wait_for(lambda e: isinstance(e, Logs) and e.run_id == "stopbuild")
    executor.stop("stopbuild")
    assert recorder.finished("stopbuild").state is RunState.STOPPED
    assert not (spec.working_dir / "main").exists()


def test_stop_of_a_queued_run_dequeues_it(recorder: Recorder, make_spec: MakeSpec) -> None:
    executor = LocalExecutor(max_concurrent=1, stop_grace_s=2.0)
    try:
        first = make_spec("sleep 600", run_id="first")
        queued = make_spec("touch ran", run_id="queued")
        executor.submit(first, recorder)
        executor.submit(queued, recorder)
        recorder.wait_for(lambda e: isinstance(e, Running) and e.run_id == "first")
        assert executor.status("queued") is RunState.QUEUED

        assert executor.stop("queued") is True
        finished = recorder.finished("queued", timeout=2)
        assert finished.state is RunState.STOPPED
        assert finished.exit_code is None
        assert recorder.kinds("queued") == ["Queued", "Finished"]

        executor.stop("first")
        assert recorder.finished("first").state is RunState.STOPPED
        assert not (queued.working_dir / "ran").exists()
    finally:
        executor.close(timeout=10)


def _intervals(outputs: list[Path]) -> list[tuple[float, float]]:
    spans = []
    for directory in outputs:
        start, end = (directory / "span").read_text().split()
        spans.append((int(start) / 1e9, int(end) / 1e9))
    return spans


SPAN = 'date +%s%N > "$OUT/span.tmp"; sleep {sleep}; date +%s%N >> "$OUT/span.tmp"; tr "\\n" " " < "$OUT/span.tmp" > "$OUT/span"'


def test_never_more_than_max_concurrent_run_at_once(recorder: Recorder, make_spec: MakeSpec) -> None:
    """Overlap is measured from timestamps the runs write themselves, not from our events."""
    executor = LocalExecutor(max_concurrent=2)
    try:
        specs = [make_spec(SPAN.format(sleep=0.3), run_id=f"limit-{i}") for i in range(6)]
        specs = [RunSpec(**{**vars(s), "env": {"OUT": str(s.outputs_dir)}}) for s in specs]
        for spec in specs:
            executor.submit(spec, recorder)
        for spec in specs:
            assert recorder.finished(spec.run_id).state is RunState.SUCCEEDED
    finally:
        executor.close(timeout=10)
    spans = _intervals([spec.outputs_dir for spec in specs])
    moments = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, change in moments:
        running += change
        peak = max(peak, running)
    assert peak == 2
    starting_order = [e.run_id for e in recorder.events if isinstance(e, Starting)]
    assert starting_order == [spec.run_id for spec in specs]


def test_runs_start_in_submission_order(recorder: Recorder, make_spec: MakeSpec) -> None:
    executor = LocalExecutor(max_concurrent=1)
    try:
        specs = [make_spec(SPAN.format(sleep=0.05), run_id=f"fifo-{i}") for i in range(5)]
        specs = [RunSpec(**{**vars(s), "env": {"OUT": str(s.outputs_dir)}}) for s in specs]
        for spec in specs:
            executor.submit(spec, recorder)
        for spec in specs:
            assert recorder.finished(spec.run_id).state is RunState.SUCCEEDED
    finally:
        executor.close(timeout=10)
    spans = _intervals([spec.outputs_dir for spec in specs])
    for (_, previous_end), (next_start, _) in itertools.pairwise(spans):
        assert previous_end <= next_start


def test_environment_is_an_allow_list_plus_the_callers(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder, make_spec: MakeSpec, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRUCIBLE_DATABASE_URL", "postgresql://user:hunter2@db/crucible")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret")
    monkeypatch.setenv("POLYAXON_API_HTTP_HOST", "http://inherited")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("TZ", "Europe/Paris")
    executor = LocalExecutor()  # reads the server environment at construction
    bin_dir = tmp_path / "runner-venv" / "bin"
    try:
        spec = make_spec("env", env={"RUN_VAR": "value", "HOME": "/run-home"}, python_bin_dir=bin_dir)
        executor.submit(spec, recorder)
        assert recorder.finished(spec.run_id).state is RunState.SUCCEEDED
    finally:
        executor.close(timeout=10)
    env = dict(line.split("=", 1) for line in recorder.lines(spec.run_id) if "=" in line)
    assert "CRUCIBLE_DATABASE_URL" not in env
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert "POLYAXON_API_HTTP_HOST" not in env
    assert "hunter2" not in "\n".join(recorder.lines(spec.run_id))
    assert env["LC_ALL"] == "C.UTF-8"
    assert env["TZ"] == "Europe/Paris"
    assert env["RUN_VAR"] == "value"
    assert env["HOME"] == "/run-home"  # the caller's value wins
    assert env["PATH"] == f"{bin_dir}:{os.environ['PATH']}"
    unexpected = set(env) - {"PATH", "HOME", "LANG", "TZ", "TMPDIR", "RUN_VAR", "PWD", "SHLVL", "_", "OLDPWD"}
    assert {name for name in unexpected if not name.startswith("LC_")} == set()


def test_process_killed_by_a_signal_nobody_requested(
    executor: LocalExecutor, recorder: Recorder, make_spec: MakeSpec
) -> None:
    executor.submit(make_spec("echo dying >&2; kill -9 $$", run_id="sig"), recorder)
    finished = recorder.finished("sig")
    assert finished.state is RunState.FAILED
    assert finished.message == "Process killed by signal SIGKILL"
    assert finished.exit_code == -9
    assert finished.traceback == "dying"

    executor.submit(make_spec("kill -TERM $$", "true", run_id="sigstep"), recorder)
    assert recorder.finished("sigstep").message == "build step 1 killed by signal SIGTERM"


def test_timeout_terminates_and_fails(recorder: Recorder, make_spec: MakeSpec) -> None:
    executor = LocalExecutor(max_concurrent=1, stop_grace_s=1.0)
    try:
        executor.submit(make_spec("sleep 600", run_id="slow", timeout_s=0.5), recorder)
        started = time.monotonic()
        finished = recorder.finished("slow", timeout=5)
        assert finished.state is RunState.FAILED
        assert finished.message == "timeout after 0.5 s"
        assert time.monotonic() - started < 2.5
    finally:
        executor.close(timeout=10)


def test_what_the_command_leaves_in_its_group_dies_with_it(
    executor: LocalExecutor, recorder: Recorder, make_spec: MakeSpec
) -> None:
    spec = make_spec("sleep 600 & echo $! > child.pid; echo bye", run_id="leaver")
    started = time.monotonic()
    executor.submit(spec, recorder)
    assert recorder.finished("leaver").state is RunState.SUCCEEDED
    assert time.monotonic() - started < 3
    child = int((spec.working_dir / "child.pid").read_text())
    assert wait_until(lambda: pid_gone(child), timeout=5)


def test_missing_working_directory_fails_without_running(
    executor: LocalExecutor, recorder: Recorder, tmp_path: Path
) -> None:
    spec = RunSpec(
        run_id="nowhere", steps=["true"], working_dir=tmp_path / "missing", outputs_dir=tmp_path / "o"
    )
    executor.submit(spec, recorder)
    finished = recorder.finished("nowhere")
    assert finished.state is RunState.FAILED
    assert "does not exist" in finished.message
    assert finished.exit_code is None


def test_duplicate_active_run_id_and_submit_after_close_are_refused(
    recorder: Recorder, make_spec: MakeSpec
) -> None:
    executor = LocalExecutor(max_concurrent=1, stop_grace_s=1.0)
    spec = make_spec("sleep 600", run_id="dup")
    executor.submit(spec, recorder)
    with pytest.raises(ValueError, match="already queued or running"):
        executor.submit(spec, recorder)
    executor.close(timeout=10)
    with pytest.raises(RuntimeError, match="closed"):
        executor.submit(make_spec("true"), recorder)


def test_close_terminates_running_runs_and_drops_queued_ones(recorder: Recorder, make_spec: MakeSpec) -> None:
    executor = LocalExecutor(max_concurrent=1, stop_grace_s=1.0)
    executor.submit(make_spec("sleep 600", run_id="running"), recorder)
    executor.submit(make_spec("true", run_id="waiting"), recorder)
    recorder.wait_for(lambda e: isinstance(e, Running) and e.run_id == "running")
    started = time.monotonic()
    executor.close(timeout=10)
    assert time.monotonic() - started < 5
    finished = recorder.finished("running", timeout=0)
    assert finished.state is RunState.FAILED
    assert finished.message == "Server shut down during execution"
    assert recorder.kinds("waiting") == ["Queued"]  # a restarted server re-submits it


def test_reattach_after_restart_kills_the_orphan_and_reports_failed(
    recorder: Recorder, make_spec: MakeSpec
) -> None:
    """A second executor (the restarted server) takes over a handle from the first one's Running."""
    old = LocalExecutor(max_concurrent=1, stop_grace_s=1.0)
    new = LocalExecutor(max_concurrent=1, stop_grace_s=1.0)
    old_recorder = Recorder()
    try:
        spec = make_spec("sleep 600 & echo $! > child.pid; wait", run_id="orphan")
        old.submit(spec, old_recorder)
        running = old_recorder.wait_for(lambda e: isinstance(e, Running))
        assert isinstance(running, Running) and running.pid is not None
        child_file = spec.working_dir / "child.pid"
        assert wait_until(lambda: child_file.exists() and child_file.read_text().strip() != "")
        child = int(child_file.read_text())

        new.reattach("orphan", running.handle, recorder)
        finished = recorder.finished("orphan")
        assert finished.state is RunState.FAILED
        assert finished.message == "Server restarted during execution"
        assert wait_until(lambda: pid_gone(child) and pid_gone(running.pid or 0), timeout=5)

        # A handle for a process that no longer exists (or was reused) kills nothing.
        new.reattach("ghost", f"local:not-this-boot:{os.getpid()}:1", recorder)
        assert recorder.finished("ghost").message == "Server restarted during execution"
        assert not pid_gone(os.getpid())
    finally:
        new.close(timeout=10)
        old.close(timeout=10)


def test_a_failing_callback_does_not_break_the_executor(
    executor: LocalExecutor, recorder: Recorder, make_spec: MakeSpec
) -> None:
    def flaky(event: object) -> None:
        recorder(event)  # type: ignore[arg-type]
        if isinstance(event, Logs):
            raise RuntimeError("database down")

    executor.submit(make_spec("echo a; sleep 0.2; echo b", run_id="flaky"), flaky)
    assert recorder.finished("flaky").state is RunState.SUCCEEDED
    assert executor.wait("flaky", timeout=5) is RunState.SUCCEEDED


def test_events_are_delivered_off_the_event_loop_into_an_asyncio_queue(
    executor: LocalExecutor, make_spec: MakeSpec
) -> None:
    async def scenario() -> tuple[list[object], set[int]]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        deliver = asyncio_queue_callback(loop, queue)
        callback_threads: set[int] = set()

        def on_event(event: object) -> None:
            callback_threads.add(threading.get_ident())
            deliver(event)  # type: ignore[arg-type]

        executor.submit(make_spec("echo from-run", run_id="async"), on_event)
        events = []
        while True:
            event = await asyncio.wait_for(queue.get(), timeout=10)
            events.append(event)
            if isinstance(event, Finished):
                return events, callback_threads

    loop_thread = threading.get_ident()
    events, threads = asyncio.run(scenario())
    assert [type(e).__name__ for e in events] == ["Queued", "Starting", "Running", "Logs", "Finished"]
    assert loop_thread not in threads


def test_status_and_wait(recorder: Recorder, make_spec: MakeSpec) -> None:
    executor = LocalExecutor(max_concurrent=1)
    try:
        spec_a = make_spec("while [ ! -e go ]; do sleep 0.05; done", run_id="a")
        executor.submit(spec_a, recorder)
        executor.submit(make_spec("true", run_id="b"), recorder)
        assert executor.status("b") is RunState.QUEUED
        assert executor.wait("b", timeout=0.2) is RunState.QUEUED  # timed out: not done yet
        assert executor.status("unknown") is None
        assert executor.wait("unknown", timeout=0.1) is None
        (spec_a.working_dir / "go").touch()
        assert executor.wait("a", timeout=5) is RunState.SUCCEEDED
        assert executor.wait("b", timeout=5) is RunState.SUCCEEDED
    finally:
        executor.close(timeout=10)


def test_many_runs_leak_no_fds_threads_or_zombies(make_spec: MakeSpec) -> None:
    def snapshot() -> tuple[int, int]:
        return len(os.listdir("/proc/self/fd")), threading.active_count()

    def zombie_children() -> list[int]:
        zombies = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if fields[0] == "Z" and int(fields[1]) == os.getpid():
                zombies.append(int(entry))
        return zombies

    fds_before, threads_before = snapshot()
    executor = LocalExecutor(max_concurrent=2, stop_grace_s=1.0)
    recorder = Recorder()
    specs = []
    for i in range(40):
        steps = ["echo build"] if i % 3 == 0 else []
        specs.append(make_spec(*steps, f"echo run {i}; echo err >&2; exit {i % 2}", run_id=f"many-{i}"))
    stopped = make_spec("sleep 600", run_id="many-stopped")
    for spec in [*specs, stopped]:
        executor.submit(spec, recorder)
    executor.stop("many-stopped")
    for spec in [*specs, stopped]:
        recorder.finished(spec.run_id, timeout=30)
    executor.close(timeout=10)

    def settled() -> bool:
        fds, threads = snapshot()
        return fds <= fds_before and threads <= threads_before

    assert wait_until(settled, timeout=5), (snapshot(), (fds_before, threads_before))
    assert zombie_children() == []
    assert [e.state for e in recorder.events if isinstance(e, Finished)].count(RunState.SUCCEEDED) == 20


def test_queued_event_is_first_and_finished_is_last_for_every_run(
    executor: LocalExecutor, recorder: Recorder, make_spec: MakeSpec
) -> None:
    specs = [make_spec(f"echo {i}", run_id=f"order-{i}") for i in range(5)]
    for spec in specs:
        executor.submit(spec, recorder)
    for spec in specs:
        recorder.finished(spec.run_id)
        events = recorder.of(spec.run_id)
        assert isinstance(events[0], Queued)
        assert isinstance(events[1], Starting)
        assert [isinstance(e, Finished) for e in events].count(True) == 1
        assert isinstance(events[-1], Finished)
