"""Acceptance scenarios of spec §7, run by the real polyaxon-client 0.5.6 inside its own virtualenv.

Usage: `python scenarios.py <scenario>` with PLX_PORT, PLX_MODE (raw|schema), PLX_USER, PLX_PASSWORD and
PLX_OTHER_PROJECT (a private project of another user) in the environment, and the cwd a scratch directory.
Exits 0 when every assertion holds. This file runs in the client's venv: it imports nothing from Crucible.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from polyaxon_client import settings as client_settings
from polyaxon_client.api_config import ApiConfig
from polyaxon_client.client import PolyaxonClient
from polyaxon_client.exceptions import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PolyaxonHTTPError,
)

PORT = int(os.environ["PLX_PORT"])
SCHEMA = os.environ["PLX_MODE"] == "schema"
USER = os.environ["PLX_USER"]
PASSWORD = os.environ["PLX_PASSWORD"]
SCENARIOS: dict[str, Callable[[], None]] = {}


def scenario(function: Callable[[], None]) -> Callable[[], None]:
    SCENARIOS[function.__name__] = function
    return function


def make_client(token: str | None = None, **config: Any) -> PolyaxonClient:
    if config:
        api_config = ApiConfig(host="127.0.0.1", http_port=PORT, use_https=False, token=token, **config)
        api_config.schema_response = SCHEMA
        return PolyaxonClient(api_config=api_config, reraise=True, schema_response=SCHEMA)
    return PolyaxonClient(
        host="127.0.0.1", http_port=PORT, use_https=False, token=token, reraise=True, schema_response=SCHEMA
    )


def login() -> PolyaxonClient:
    client = make_client()
    client.auth.login({"username": USER, "password": PASSWORD}, set_token=True)
    return client


def field(obj: Any, name: str) -> Any:
    """Read a field in either mode (dicts in raw mode, Config objects in schema mode)."""
    if isinstance(obj, dict):
        return obj[name]
    return getattr(obj, name)


def raises(error: type[BaseException], call: Callable[[], Any]) -> BaseException:
    try:
        call()
    except error as caught:
        return caught
    raise AssertionError(f"expected {error.__name__}")


def poll(check: Callable[[], Any], timeout: float = 10.0, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except AssertionError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message} (last: {last!r})")


def statuses(client: PolyaxonClient, experiment_id: int, project: str = "proj") -> list[str]:
    page = client.experiment.get_statuses(USER, project, experiment_id)
    return [field(row, "status") for row in page["results"]]


def ensure_project(client: PolyaxonClient, name: str = "proj") -> Any:
    return client.project.create_project({"name": name})


# --- 1. login and user -----------------------------------------------------------------------------------


@scenario
def login_and_user() -> None:
    client = make_client()
    token = client.auth.login({"username": USER, "password": PASSWORD}, set_token=True)
    assert isinstance(token, str) and len(token) == 40
    user = client.auth.get_user()
    assert field(user, "username") == USER
    email = field(user, "email")
    assert email is None or "@" in email
    raises(AuthenticationError, lambda: make_client().auth.login({"username": USER, "password": "wrong"}))
    raises(AuthenticationError, lambda: make_client(token="bogus" * 8).auth.get_user())


# --- 2. project CRUD ----------------------------------------------------------------------------------------


@scenario
def project_crud() -> None:
    client = login()
    project = client.project.create_project({"name": "proj"})
    assert field(project, "id") and len(str(field(project, "uuid")).replace("-", "")) == 32
    assert field(project, "unique_name") == f"{USER}.proj"
    raises(BadRequestError, lambda: client.project.create_project({"name": "proj"}))
    assert field(client.project.get_project(USER, "proj"), "name") == "proj"
    listed = client.project.list_projects(USER)
    assert listed["count"] == 1 and field(listed["results"][0], "name") == "proj"
    for _ in range(2):
        updated = client.project.update_project(USER, "proj", {"tags": ["a"], "merge": True})
    assert field(updated, "tags") == ["a"]
    client.project.delete_project(USER, "proj")
    raises(NotFoundError, lambda: client.project.get_project(USER, "proj"))


# --- 3. experiment lifecycle via the API ----------------------------------------------------------------------


@scenario
def experiment_lifecycle() -> None:
    client = login()
    ensure_project(client)
    experiment = client.project.create_experiment(USER, "proj", {"name": "e1", "is_managed": False})
    eid = field(experiment, "id")
    assert statuses(client, eid) == ["created"]
    client.experiment.create_status(USER, "proj", eid, "running")
    assert field(client.experiment.get_experiment(USER, "proj", eid), "started_at") is not None
    client.experiment.create_status(USER, "proj", eid, "succeeded")
    assert field(client.experiment.get_experiment(USER, "proj", eid), "finished_at") is not None
    again = client.experiment.create_status(USER, "proj", eid, "running")
    assert field(again, "status") == "succeeded"
    assert statuses(client, eid) == ["created", "running", "succeeded"]
    client.experiment.create_metric(USER, "proj", eid, {"loss": 0.5})
    metrics = client.experiment.get_metrics(USER, "proj", eid)
    assert metrics["count"] == 1
    assert field(client.experiment.get_experiment(USER, "proj", eid), "last_metric")["loss"] == 0.5
    client.experiment.send_logs(USER, "proj", eid, ["a", "b"])
    assert "a\nb" in client.experiment.logs(USER, "proj", eid, stream=False).text
    client.experiment.bookmark(USER, "proj", eid)
    assert client.bookmark.experiments(USER)["count"] == 1
    client.experiment.unbookmark(USER, "proj", eid)
    assert client.bookmark.experiments(USER)["count"] == 0
    client.experiment.delete_experiment(USER, "proj", eid)
    raises(NotFoundError, lambda: client.experiment.get_experiment(USER, "proj", eid))
    raises(BadRequestError, lambda: client.project.create_experiment(USER, "proj", {"name": "e2"}))


# --- 4. tracking full flow ----------------------------------------------------------------------------------


@scenario
def tracking_flow() -> None:
    from polyaxon_client.tracking import Experiment

    client = make_client(token=None, timeout=5, interval=0.2)
    client.auth.login({"username": USER, "password": PASSWORD}, set_token=True)
    ensure_project(client)
    hook = sys.excepthook
    experiment = Experiment(project="proj", client=client, track_logs=False)
    experiment.create(name="run1", tags=["t1"])
    sys.excepthook = hook
    eid = experiment.experiment_id
    experiment.log_params(lr=0.01)
    experiment.log_params(batch=32)
    experiment.log_tags(["x"])
    for i in range(1, 6):
        experiment.log_metrics(loss=1.0 / i, step=i)
    experiment.log_data_ref(data="abc", data_name="train")
    experiment.set_description("new")
    experiment.log_succeeded()

    def done() -> bool:
        detail = client.experiment.get_experiment(USER, "proj", eid)
        return (
            field(detail, "params") == {"lr": 0.01, "batch": 32}
            and field(detail, "tags") == ["t1", "x"]
            and field(detail, "description") == "new"
            and (field(detail, "last_metric") or {}).get("step") == 5
            and "train" in (detail["data_refs"] if isinstance(detail, dict) else _data_refs(eid))
            and bool(field(detail, "run_env"))
            and statuses(client, eid) == ["created", "running", "succeeded"]
            and client.experiment.get_metrics(USER, "proj", eid)["count"] == 5
        )

    poll(done, timeout=15, message="the tracked experiment")


def _data_refs(eid: int) -> dict[str, Any]:
    """data_refs is not part of the client's ExperimentConfig; read it raw in schema mode."""
    import requests

    token = login().auth.config.token
    response = requests.get(
        f"http://127.0.0.1:{PORT}/api/v1/{USER}/proj/experiments/{eid}/",
        headers={"Authorization": f"token {token}"},
    )
    return response.json()["data_refs"] or {}


# --- 5. atomic merge -------------------------------------------------------------------------------------------


@scenario
def atomic_merge() -> None:
    client = login()
    ensure_project(client)
    eid = field(client.project.create_experiment(USER, "proj", {"is_managed": False}), "id")
    errors: list[BaseException] = []

    def patch(i: int) -> None:
        try:
            client.experiment.update_experiment(USER, "proj", eid, {"params": {f"k{i}": i}, "merge": True})
            client.experiment.update_experiment(USER, "proj", eid, {"tags": [f"t{i}"], "merge": True})
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=patch, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    detail = client.experiment.get_experiment(USER, "proj", eid)
    assert field(detail, "params") == {f"k{i}": i for i in range(20)}
    assert sorted(field(detail, "tags")) == sorted(f"t{i}" for i in range(20))


# --- 10. pagination ------------------------------------------------------------------------------------------------


@scenario
def pagination() -> None:
    client = login()
    ensure_project(client)
    for _ in range(45):
        client.project.create_experiment(USER, "proj", {"is_managed": False})
    pages = [client.project.list_experiments(USER, "proj", page=page) for page in (1, 2, 3)]
    assert [len(page["results"]) for page in pages] == [20, 20, 5]
    assert all(page["count"] == 45 for page in pages) and pages[2]["next"] is None
    assert len({field(row, "id") for page in pages for row in page["results"]}) == 45
    eid = field(pages[0]["results"][0], "id")
    for i in range(45):  # 1 created + 44 alternating statuses; 45 metrics
        if i < 44:
            client.experiment.create_status(USER, "proj", eid, "warning" if i % 2 == 0 else "running")
        client.experiment.create_metric(USER, "proj", eid, {"i": i})
    for getter in (client.experiment.get_statuses, client.experiment.get_metrics):
        pages = [getter(USER, "proj", eid, page=page) for page in (1, 2, 3)]
        assert [len(page["results"]) for page in pages] == [20, 20, 5], getter
        assert pages[0]["count"] == 45 and pages[2]["next"] is None


# --- 11. bad inputs ------------------------------------------------------------------------------------------------


@scenario
def bad_inputs() -> None:
    import requests

    client = login()
    ensure_project(client)
    raises(BadRequestError, lambda: client.project.update_project(USER, "proj", {"name": "bad name"}))
    raises(
        BadRequestError,
        lambda: client.project.create_experiment(
            USER, "proj", {"content": "{'version': 1, 'kind': 'experiment', 'foo': 1}"}
        ),
    )
    group_content = {"version": 1, "kind": "group", "hptuning": {"matrix": {"a": {"values": [1]}}}}
    raises(
        BadRequestError,
        lambda: client.project.create_experiment(USER, "proj", {"content": json.dumps(group_content)}),
    )
    eid = field(client.project.create_experiment(USER, "proj", {"is_managed": False}), "id")
    raises(BadRequestError, lambda: client.experiment.create_status(USER, "proj", eid, "bogus"))
    grid_over_uniform = {"version": 1, "kind": "group", "hptuning": {"matrix": {"lr": {"uniform": "0:1"}}}}
    raises(
        BadRequestError,
        lambda: client.project.create_experiment_group(
            USER, "proj", {"content": json.dumps(grid_over_uniform)}
        ),
    )
    raises(BadRequestError, lambda: client.project.list_experiments(USER, "proj", independent=True, group=1))
    not_tar = io.BytesIO(b"not a tarball")
    raises(
        BadRequestError,
        lambda: client.project.upload_repo(
            USER, "proj", files=[("repo", ("repo.tar.gz", not_tar, "application/gzip"))], files_size=13
        ),
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("../evil")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    size = len(buffer.getvalue())
    buffer.seek(0)
    raises(
        BadRequestError,
        lambda: client.project.upload_repo(
            USER, "proj", files=[("repo", ("repo.tar.gz", buffer, "application/gzip"))], files_size=size
        ),
    )
    token = client.auth.config.token
    response = requests.post(
        f"http://127.0.0.1:{PORT}/api/v1/{USER}/proj/experiments/{eid}/metrics/",
        json=[{"values": {"loss": 1}}, {"values": {"loss": "high"}}],
        headers={"Authorization": f"token {token}"},
    )
    assert response.status_code == 400, response.text
    other_user, other_project = os.environ["PLX_OTHER_PROJECT"].split("/")
    raises(NotFoundError, lambda: client.project.get_project(other_user, other_project))
    raises(NotFoundError, lambda: client.experiment.get_experiment(USER, "proj", 987654))


# --- 12. misc --------------------------------------------------------------------------------------------------------


@scenario
def misc() -> None:
    client = login()
    ensure_project(client)
    version = client.version.get_cli_version()
    assert field(version, "latest_version") == "0.5.6"
    eid = field(client.project.create_experiment(USER, "proj", {"is_managed": False}), "id")
    client.experiment.bookmark(USER, "proj", eid)
    bookmarked = client.bookmark.experiments(USER)
    assert bookmarked["count"] == 1 and field(bookmarked["results"][0], "id") == eid
    try:
        response = client.experiment.start_tensorboard(USER, "proj", eid)
        assert response.status_code in (200, 201)
        client.experiment.stop_tensorboard(USER, "proj", eid)
    except PolyaxonHTTPError as error:
        assert "501" in str(error) or "TensorBoard" in str(error), error


# --- managed runs (6-9): the server runs them on its executor ------------------------------------------------

DONE = ("succeeded", "failed", "stopped", "skipped", "upstream_failed")


def wait_done(client: PolyaxonClient, eid: int, timeout: float = 90.0, wanted: tuple[str, ...] = DONE) -> str:
    def check() -> str | None:
        status = field(client.experiment.get_experiment(USER, "proj", eid), "last_status")
        return status if status in wanted else None

    return poll(check, timeout=timeout, message=f"experiment {eid} to reach {wanted}")


def outputs_file(client: PolyaxonClient, eid: int, name: str) -> str:
    client.experiment.download_outputs(USER, "proj", eid)
    path = f"{USER}.proj.{eid}.tar.gz"
    with tarfile.open(path, "r:gz") as archive:
        member = archive.extractfile(name)
        assert member is not None, name
        text = member.read().decode()
    os.remove(path)
    return text


def create_managed(client: PolyaxonClient, content: dict[str, Any]) -> int:
    return field(client.project.create_experiment(USER, "proj", {"content": json.dumps(content)}), "id")


@scenario
def restart_resume_copy() -> None:
    client = login()
    ensure_project(client)
    cmd = "python -c \"import os;open(os.environ['POLYAXON_RUN_OUTPUTS_PATH']+'/out.txt','a').write('x')\""
    root = create_managed(
        client, {"version": 1, "kind": "experiment", "params": {"lr": 0.1}, "run": {"cmd": cmd}}
    )
    assert wait_done(client, root) == "succeeded"
    restart = client.experiment.restart(USER, "proj", root)
    assert (
        _raw_experiment(field(restart, "id"))["original"] == f"{USER}.proj.{root}"
    )  # not in the client schema
    assert wait_done(client, field(restart, "id")) == "succeeded"
    assert outputs_file(client, field(restart, "id"), "out.txt") == "x"
    copy = field(client.experiment.copy(USER, "proj", root), "id")
    assert wait_done(client, copy) == "succeeded" and outputs_file(client, copy, "out.txt") == "xx"
    resume = field(client.experiment.resume(USER, "proj", root), "id")
    assert wait_done(client, resume) == "succeeded" and outputs_file(client, resume, "out.txt") == "xx"
    assert outputs_file(client, root, "out.txt") == "xx"
    again = field(client.experiment.resume(USER, "proj", resume), "id")
    assert wait_done(client, again) == "succeeded" and outputs_file(client, again, "out.txt") == "xxx"
    detail = client.experiment.get_experiment(USER, "proj", again)
    original = (
        detail["original_experiment"]
        if isinstance(detail, dict)
        else _raw_experiment(again)["original_experiment"]
    )
    assert original == root
    patched = client.experiment.restart(USER, "proj", root, content={"params": {"lr": 0.5}})
    assert field(patched, "params")["lr"] == 0.5
    wait_done(client, field(patched, "id"))
    sleeper = create_managed(client, {"version": 1, "kind": "experiment", "run": {"cmd": "sleep 60"}})
    wait_done(client, sleeper, wanted=("running",))
    error = raises(PolyaxonHTTPError, lambda: client.experiment.resume(USER, "proj", sleeper))
    assert "409" in str(error) or "still running" in str(error), error
    client.experiment.stop(USER, "proj", sleeper)


def _raw_experiment(eid: int) -> dict[str, Any]:
    import requests

    token = login().auth.config.token
    response = requests.get(
        f"http://127.0.0.1:{PORT}/api/v1/{USER}/proj/experiments/{eid}/",
        headers={"Authorization": f"token {token}"},
    )
    return response.json()


TRAIN = """
import argparse, os
from polyaxon_client.tracking import Experiment

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
args = parser.parse_args()
if os.environ.get("CRASH"):
    raise RuntimeError("deliberate crash")
e = Experiment()
for i in range(5):
    e.log_metrics(loss=1 / (i + 1), step=i)
with open(os.path.join(e.get_outputs_path(), "model.txt"), "w") as handle:
    handle.write("weights")
print(f"done lr={args.lr}")
"""


@scenario
def uploaded_repo_runs() -> None:
    client = login()
    ensure_project(client)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = TRAIN.encode()
        info = tarfile.TarInfo("train.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    size = len(buffer.getvalue())
    buffer.seek(0)
    uploaded = client.project.upload_repo(
        USER, "proj", files=[("repo", ("repo.tar.gz", buffer, "application/gzip"))], files_size=size
    )
    commit = uploaded.json()["commit"]
    client.project.download_repo(USER, "proj")
    with tarfile.open("repo.tar.gz", "r:gz") as archive:
        assert archive.getnames() == ["train.py"]
    content = {
        "version": 1,
        "kind": "experiment",
        "params": {"lr": 0.1},
        "build": {"image": "python:3.11"},
        "run": {"cmd": "python train.py --lr={{ lr }}"},
    }
    eid = create_managed(client, content)
    assert wait_done(client, eid) == "succeeded", client.experiment.logs(USER, "proj", eid, stream=False).text
    history = statuses(client, eid)
    positions = [history.index(s) for s in ("scheduled", "starting", "running", "succeeded")]
    assert positions == sorted(positions), history

    def metrics_arrived() -> bool:
        return client.experiment.get_metrics(USER, "proj", eid)["count"] == 5

    poll(metrics_arrived, message="5 metrics")
    detail = client.experiment.get_experiment(USER, "proj", eid)
    assert field(detail, "last_metric")["step"] == 4 and field(detail, "run_env")
    text = client.experiment.logs(USER, "proj", eid, stream=False).text
    assert "done lr=0.1" in text and 'build.image "python:3.11"' in text, text
    assert outputs_file(client, eid, "model.txt") == "weights"
    jobs = client.experiment.list_jobs(USER, "proj", eid)["results"]
    assert (
        len(jobs) == 1 and field(jobs[0], "role") == "master" and field(jobs[0], "last_status") == "succeeded"
    )
    assert field(client.experiment.get_code_reference(USER, "proj", eid), "commit") == commit
    crash = dict(content, build={"env_vars": [["CRASH", "1"]]})
    failed = create_managed(client, crash)
    assert wait_done(client, failed) == "failed"
    last = client.experiment.get_statuses(USER, "proj", failed)["results"][-1]
    assert "code 1" in field(last, "message"), field(last, "message")  # local: "Process exited with code 1"
    assert "deliberate crash" in client.experiment.logs(USER, "proj", failed, stream=False).text


@scenario
def stop_runs() -> None:
    client = login()
    ensure_project(client)
    cmd = "sh -c 'sleep 600 & echo $! > $POLYAXON_RUN_OUTPUTS_PATH/child.pid; wait'"
    eid = create_managed(client, {"version": 1, "kind": "experiment", "run": {"cmd": cmd}})
    wait_done(client, eid, wanted=("running",))
    time.sleep(0.5)
    child = int(outputs_file(client, eid, "child.pid"))
    client.experiment.stop(USER, "proj", eid)
    assert wait_done(client, eid, timeout=15) == "stopped"

    def child_gone() -> bool:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        with open(f"/proc/{child}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] == "Z"

    poll(child_gone, timeout=15, message="the child to die")
    time.sleep(1)
    assert statuses(client, eid)[-1] == "stopped"
    assert client.experiment.stop(USER, "proj", eid).status_code == 200
    blocker = create_managed(client, {"version": 1, "kind": "experiment", "run": {"cmd": "sleep 60"}})
    wait_done(client, blocker, wanted=("running",))
    queued = create_managed(client, {"version": 1, "kind": "experiment", "run": {"cmd": "echo queued"}})
    assert field(client.experiment.get_experiment(USER, "proj", queued), "last_status") == "scheduled"
    client.experiment.stop(USER, "proj", queued)
    client.experiment.stop(USER, "proj", blocker)
    assert wait_done(client, queued) == "stopped"


def _as_time(value: Any) -> float:
    from datetime import datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.timestamp()


@scenario
def random_search_group() -> None:
    client = login()
    ensure_project(client)
    content = {
        "version": 1,
        "kind": "group",
        "hptuning": {
            "seed": 7,
            "concurrency": 2,
            "random_search": {"n_experiments": 5},
            "matrix": {"lr": {"uniform": "0.001:0.1"}, "opt": {"values": ["adam", "sgd"]}},
        },
        "run": {"cmd": 'python -c "print({{ lr }})"'},
    }

    def run_group() -> list[Any]:
        group = client.project.create_experiment_group(USER, "proj", {"content": json.dumps(content)})
        gid = field(group, "id")

        def done() -> bool:
            return (
                field(client.experiment_group.get_experiment_group(USER, "proj", gid), "last_status")
                == "done"
            )

        poll(done, timeout=120, message="the group to be done")
        members = client.experiment_group.list_experiments(USER, "proj", gid)["results"]
        assert len(members) == 5
        for member in members:
            assert field(member, "last_status") == "succeeded"
            assert field(member, "experiment_group") == f"{USER}.proj.{gid}"
            assert 0.001 <= field(member, "params")["lr"] < 0.1 and field(member, "params")["opt"] in (
                "adam",
                "sgd",
            )
        spans = [(_as_time(field(m, "started_at")), _as_time(field(m, "finished_at"))) for m in members]
        for start, _end in spans:
            overlapping = sum(1 for s, e in spans if s <= start <= e)
            assert overlapping <= 2, spans
        return sorted((field(m, "id"), field(m, "params")["lr"], field(m, "params")["opt"]) for m in members)

    first = [params for _id, *params in run_group()]
    second = [params for _id, *params in run_group()]
    assert first == second

    slow = dict(content, run={"cmd": "sleep 3"})
    slow["hptuning"] = dict(content["hptuning"], concurrency=3)
    gid = field(client.project.create_experiment_group(USER, "proj", {"content": json.dumps(slow)}), "id")

    def two_running() -> bool:
        members = client.experiment_group.list_experiments(USER, "proj", gid)["results"]
        return sum(field(m, "last_status") == "running" for m in members) == 2 and len(members) == 3

    poll(two_running, timeout=30, message="two running members")
    client.experiment_group.stop(USER, "proj", gid, pending=True)

    def stopped() -> bool:
        return (
            field(client.experiment_group.get_experiment_group(USER, "proj", gid), "last_status") == "stopped"
        )

    poll(stopped, timeout=30, message="the group to end stopped")
    final = sorted(
        field(m, "last_status")
        for m in client.experiment_group.list_experiments(USER, "proj", gid)["results"]
    )
    assert final == ["stopped", "succeeded", "succeeded"], final


def main() -> int:
    name = sys.argv[1]
    try:
        SCENARIOS[name]()
    except BaseException:
        traceback.print_exc()
        return 1
    print(f"scenario {name} passed ({'schema' if SCHEMA else 'raw'})")
    client_settings.TMP_AUTH_TOKEN_PATH  # noqa: B018 - imported for managed-mode paths; keeps the import used
    return 0


if __name__ == "__main__":
    sys.exit(main())
