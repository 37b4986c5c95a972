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
