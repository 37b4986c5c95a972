"""The REST surface without training (spec §2, §3.1, §3.2, §4.10): auth, names, files, compile results."""

from __future__ import annotations

import base64
import email
import json
import random
from collections.abc import Callable
from urllib.parse import unquote

import pytest
from starlette.testclient import TestClient

from tests.dialects.bonsai.conftest import (
    FIND_THE_CENTER_INK,
    KeyHolder,
    create_brain,
    multipart_body,
    push,
    template,
)

PROJECT = template("find_the_center")


def parse_download(response) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    """As CLI 0.8.28 does: glue the headers to the text body and parse it with `email`."""
    headers = "\r\n".join(f"{key}: {value}" for key, value in response.headers.items())
    message = email.message_from_string(headers + "\r\n\r\n" + response.text)
    files = {}
    for part in message.walk():
        name = part.get_filename(failobj=None)
        if name:
            files[unquote(name)] = part.get_payload(decode=True)
    return files


def test_validate_accepts_raw_basic_and_bearer_keys(client: TestClient, alice: KeyHolder) -> None:
    basic = base64.b64encode(f"alice:{alice.key}".encode()).decode()
    for header in (alice.key, f"Basic {basic}", f"Bearer {alice.key}"):
        response = client.post("/v1/validate", headers={"Authorization": header})
        assert response.status_code == 200, header
        assert response.json() == {"username": "alice"}


@pytest.mark.parametrize(
    "header",
    [None, "", "not-a-key", "Bearer ", "Basic !!!", "Basic " + base64.b64encode(b"bob:whatever").decode()],
)
def test_validate_refuses_bad_keys(client: TestClient, alice: KeyHolder, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = client.post("/v1/validate", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized"}


def test_basic_username_must_own_the_key(
    client: TestClient, alice: KeyHolder, make_key_holder: Callable[[str], KeyHolder]
) -> None:
    make_key_holder("bob")
    basic = base64.b64encode(f"bob:{alice.key}".encode()).decode()
    assert client.post("/v1/validate", headers={"Authorization": f"Basic {basic}"}).status_code == 401


def test_key_in_query_string_is_not_accepted(client: TestClient, alice: KeyHolder) -> None:
    assert client.get(f"/v1/alice?accesskey={alice.key}").status_code == 401


ROUTES = [
    ("GET", "/v1/{u}"),
    ("POST", "/v1/{u}/brains"),
    ("GET", "/v1/{u}/b"),
    ("PUT", "/v1/{u}/b"),
    ("DELETE", "/v1/{u}/b"),
    ("GET", "/v1/{u}/b/status"),
    ("GET", "/v1/{u}/b/sims"),
    ("PUT", "/v1/{u}/b/train"),
    ("PUT", "/v1/{u}/b/stop"),
    ("PUT", "/v1/{u}/b/1/resume"),
    ("GET", "/v1/{u}/b/1"),
    ("GET", "/v1/{u}/b/1/metrics/episode_value"),
    ("GET", "/v1/{u}/b/latest/sims/1/logs"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_checks_who_is_asking(
    client: TestClient, alice: KeyHolder, make_key_holder: Callable[[str], KeyHolder], method: str, path: str
) -> None:
    bob = make_key_holder("bob")
    create_brain(client, alice, "b", PROJECT)
    anonymous = client.request(method, path.format(u="alice"), content=b"{}")
    assert anonymous.status_code == 401
    assert anonymous.json() == {"error": "Unauthorized"}
    other = client.request(method, path.format(u="alice"), headers=bob.headers, content=b"{}")
    assert other.status_code == 403
    assert other.json() == {"error": "Access key does not grant access to user 'alice'"}


def test_create_list_and_get_a_brain(client: TestClient, alice: KeyHolder) -> None:
    response = create_brain(client, alice, "b1", PROJECT)
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "b1" and body["url"] == "/v1/alice/b1"
    assert body["files"] == sorted(PROJECT)
    assert body["ink_compile"]["success"] is True and body["ink_compile"]["compiler_version"] == "1.9.0"
    created = client.post("/v1/alice/brains", json={"name": "a0"}, headers=alice.headers)
    assert created.status_code == 201 and "ink_compile" not in created.json()
    listed = client.get("/v1/alice", headers=alice.headers).json()["brains"]
    assert [item["name"] for item in listed] == ["a0", "b1"]
    assert listed[1]["state"] == "Not Started" and listed[1]["version"] == 0
    assert listed[1]["last_modified"].endswith("Z")
    brain = client.get("/v1/alice/b1", headers=alice.headers).json()
    assert brain == {"name": "b1", "user": "alice", "description": "", "state": "Not Started", "versions": []}


def test_create_from_project_type_uses_server_templates(client: TestClient, alice: KeyHolder) -> None:
    response = client.post(
        "/v1/alice/brains", json={"name": "cp", "project_type": "demos/cartpole"}, headers=alice.headers
    )
    assert response.status_code == 201
    assert "cartpole.ink" in response.json()["files"]
    bad = client.post(
        "/v1/alice/brains", json={"name": "x", "project_type": "demos/nope"}, headers=alice.headers
    )
    assert bad.status_code == 400


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 65, "brains", "validate", "ws", "é", None, 3])
def test_bad_brain_names(client: TestClient, alice: KeyHolder, name: object) -> None:
    response = client.post("/v1/alice/brains", json={"name": name}, headers=alice.headers)
    assert response.status_code == 400
    assert "error" in response.json()


def test_duplicate_brain_is_409(client: TestClient, alice: KeyHolder) -> None:
    assert create_brain(client, alice, "b1", PROJECT).status_code == 201
    response = create_brain(client, alice, "b1", PROJECT)
    assert response.status_code == 409
    assert response.json() == {"error": "Brain 'b1' already exists"}


def test_unknown_brain_is_404_without_redirects(client: TestClient, alice: KeyHolder) -> None:
    response = client.get("/v1/alice/nope", headers=alice.headers, follow_redirects=False)
    assert response.status_code == 404
    assert response.json() == {"error": "Brain 'nope' not found"}


def test_trailing_slash_is_the_same_path(client: TestClient, alice: KeyHolder) -> None:
    create_brain(client, alice, "b1", PROJECT)
    for path in ("/v1/alice/", "/v1/alice/b1/", "/v1/alice/b1/status/", "/v1/alice/b1/sims/"):
        response = client.get(path, headers=alice.headers, follow_redirects=False)
        assert response.status_code == 200, path


def test_download_round_trip_is_byte_equal(client: TestClient, alice: KeyHolder) -> None:
    create_brain(client, alice, "b1", PROJECT)
    response = client.get(
        "/v1/alice/b1", headers={**alice.headers, "Accept": "multipart/mixed", "Accept-Encoding": "base64"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("multipart/mixed; boundary=")
    assert "content-encoding" not in response.headers
    files = parse_download(response)
    assert set(files) == set(PROJECT)
    for path, data in PROJECT.items():
        if path.endswith(".bproj"):
            assert json.loads(files[path]) == json.loads(data)
        else:
            assert files[path] == data


def test_download_of_an_empty_brain_has_a_part(client: TestClient, alice: KeyHolder) -> None:
    client.post("/v1/alice/brains", json={"name": "empty"}, headers=alice.headers)
    response = client.get("/v1/alice/empty", headers={**alice.headers, "Accept": "multipart/mixed"})
    assert list(parse_download(response)) == ["bonsai_brain.bproj"]


def test_single_file_get_and_content_types(client: TestClient, alice: KeyHolder) -> None:
    create_brain(client, alice, "b1", PROJECT)
    ink = client.get("/v1/alice/b1?file=find_the_center.ink", headers=alice.headers)
    assert ink.status_code == 200 and ink.headers["content-type"].startswith("text/x-inkling")
    assert ink.content == PROJECT["find_the_center.ink"]
    bproj = client.get("/v1/alice/b1?file=bonsai_brain.bproj", headers=alice.headers)
    assert bproj.headers["content-type"].startswith("application/json")
    text = client.get("/v1/alice/b1?file=requirements.txt", headers=alice.headers)
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    missing = client.get("/v1/alice/b1?file=nope.txt", headers=alice.headers)
    assert missing.status_code == 404 and "error" in missing.json()


def test_push_replaces_the_file_set_and_reports_the_compile(client: TestClient, alice: KeyHolder) -> None:
    create_brain(client, alice, "b1", PROJECT)
    smaller = {key: value for key, value in PROJECT.items() if key != "requirements.txt"}
    response = push(client, alice, "b1", smaller)
    assert response.status_code == 200
    body = response.json()
    assert body["files"] == sorted(smaller)
    assert set(body["ink_compile"]) == {"success", "errors", "warnings", "compiler_version"}
    assert client.get("/v1/alice/b1?file=requirements.txt", headers=alice.headers).status_code == 404


def test_push_with_compile_errors_is_200_with_positions(client: TestClient, alice: KeyHolder) -> None:
    """Scenario 3: line 7 reads `    Int9 value`."""
    create_brain(client, alice, "b1", PROJECT)
    prefix = [
        "schema Extra",
        "    Int8 a",
        "end",
        "",
        "schema Broken",
        "    Int8 b,",
        "    Int9 value",
        "end",
        "",
    ]
    source = "\n".join(prefix).encode() + b"\n" + FIND_THE_CENTER_INK.encode()
    assert source.decode().splitlines()[6] == "    Int9 value"
    response = push(client, alice, "b1", {**PROJECT, "find_the_center.ink": source})
    assert response.status_code == 200
    errors = response.json()["ink_compile"]["errors"]
    assert response.json()["ink_compile"]["success"] is False
    assert {key: errors[0][key] for key in ("code", "line", "column")} == {
        "code": "E301",
        "line": 7,
        "column": 5,
    }
    assert errors[0]["text"] == "unknown type 'Int9'"
    train = client.put("/v1/alice/b1/train", json={}, headers=alice.headers)
    assert train.status_code == 400
    assert train.json()["error"].startswith(
        "Inkling has 1 error(s); first at line 7, column 5: unknown type 'Int9'"
    )


def test_put_file_compiles_ink(client: TestClient, alice: KeyHolder) -> None:
    create_brain(client, alice, "b1", PROJECT)
    truncated = FIND_THE_CENTER_INK.rstrip().removesuffix("end").rstrip()
    response = client.put(
        "/v1/alice/b1?file=find_the_center.ink",
        content=truncated.encode(),
        headers={**alice.headers, "Content-Type": "text/x-inkling"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is False
    last_line = truncated.splitlines()
    assert body["errors"][-1]["code"] == "E111"
    assert body["errors"][-1]["line"] == len(last_line)
    assert body["errors"][-1]["column"] == len(last_line[-1]) + 1
    two = "schema A\n    Int9 x\nend\nschema B\n    Int10 y\nend\n"
    body = client.put(
        "/v1/alice/b1?file=find_the_center.ink",
        content=two.encode(),
        headers={**alice.headers, "Content-Type": "text/x-inkling"},
    ).json()
    assert [(error["code"], error["line"]) for error in body["errors"]] == [("E301", 2), ("E301", 5)]
    other = client.put(
        "/v1/alice/b1?file=notes.txt",
        content=b"hello",
        headers={**alice.headers, "Content-Type": "text/plain"},
    )
    assert other.json() == {"success": True, "errors": [], "warnings": [], "compiler_version": "1.9.0"}
    assert client.get("/v1/alice/b1?file=notes.txt", headers=alice.headers).content == b"hello"


@pytest.mark.parametrize("path", ["/etc/passwd", "../x", "a/../../x", "a\\b", "nul\0x", "./x"])
def test_unsafe_file_names_are_400(client: TestClient, alice: KeyHolder, path: str) -> None:
    create_brain(client, alice, "b1", PROJECT)
    response = push(client, alice, "b1", {**PROJECT, path: b"x"})
    assert response.status_code == 400
    assert "error" in response.json()


def test_too_large_files_are_413(client: TestClient, alice: KeyHolder) -> None:
    create_brain(client, alice, "b1", PROJECT)
    response = push(client, alice, "b1", {**PROJECT, "big.bin": b"x" * (1024 * 1024 + 1)})
    assert response.status_code == 413
    huge = client.put(
        "/v1/alice/b1?file=x.bin",
        content=b"x" * (1024 * 1024 + 1),
        headers={**alice.headers, "Content-Type": "text/plain"},
    )
    assert huge.status_code == 413


def test_train_refusals_before_any_trainer(client: TestClient, alice: KeyHolder) -> None:
    client.post("/v1/alice/brains", json={"name": "empty"}, headers=alice.headers)
    no_ink = client.put("/v1/alice/empty/train", json={}, headers=alice.headers)
    assert no_ink.status_code == 400 and "Inkling has 1 error(s)" in no_ink.json()["error"]
    create_brain(client, alice, "b1", PROJECT)
    managed = client.put("/v1/alice/b1/train", json={"manage_simulator": True}, headers=alice.headers)
    assert managed.status_code == 400
    assert managed.json() == {"error": "Managed simulators are not enabled on this server"}
    stop = client.put("/v1/alice/b1/stop", headers=alice.headers)
    assert stop.status_code == 409 and stop.json() == {"error": "Brain 'b1' is not training"}
    resume = client.put("/v1/alice/b1/1/resume", json={}, headers=alice.headers)
    assert resume.status_code == 404


def test_status_and_sims_before_training(client: TestClient, alice: KeyHolder) -> None:
    create_brain(client, alice, "b1", PROJECT)
    status = client.get("/v1/alice/b1/status", headers=alice.headers).json()
    assert status["state"] == "Not Started" and status["version"] == 0
    assert status["episode"] == 0 and status["iteration"] == 0
    assert status["concepts"][0]["concept_name"] == "find_the_center"
    assert status["objective_name"] == "time_at_goal"
    sims = client.get("/v1/alice/b1/sims", headers=alice.headers).json()
    assert sims == {"find_the_center_sim": {"active": [], "inactive": []}}


def test_versions_and_metrics_404_before_training(client: TestClient, alice: KeyHolder) -> None:
    create_brain(client, alice, "b1", PROJECT)
    for path in (
        "/v1/alice/b1/1",
        "/v1/alice/b1/latest",
        "/v1/alice/b1/1/metrics/episode_value",
        "/v1/alice/b1/x/sims/1/logs",
    ):
        response = client.get(path, headers=alice.headers)
        assert response.status_code == 404, path
        assert "error" in response.json()


def test_delete_brain(client: TestClient, alice: KeyHolder) -> None:
    create_brain(client, alice, "b1", PROJECT)
    response = client.delete("/v1/alice/b1", headers=alice.headers)
    assert response.status_code == 200 and response.json() == {}
    assert client.get("/v1/alice/b1", headers=alice.headers).status_code == 404
    assert client.get("/v1/alice", headers=alice.headers).json() == {"brains": []}
    assert client.delete("/v1/alice/b1", headers=alice.headers).status_code == 404


def test_junk_bodies_never_500(client: TestClient, alice: KeyHolder) -> None:
    create_brain(client, alice, "b1", PROJECT)
    rng = random.Random(7)
    bodies = [b"", b"{", b"[]", b"null", b'{"name": NaN}', b"\xff\xfe", b'{"manage_simulator": "yes"}']
    bodies += [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))) for _ in range(20)]
    content_types = [
        "application/json",
        "multipart/mixed; boundary=x",
        "multipart/mixed",
        "text/plain",
        "multipart/form-data; boundary=b0undary",
    ]
    for body in bodies:
        for content_type in content_types:
            headers = {**alice.headers, "Content-Type": content_type}
            for method, path in (
                ("POST", "/v1/alice/brains"),
                ("PUT", "/v1/alice/b1"),
                ("PUT", "/v1/alice/b1?file=x.ink"),
                ("PUT", "/v1/alice/b1/1/resume"),
                ("PUT", "/v1/alice/nope/train"),
            ):
                response = client.request(method, path, content=body, headers=headers)
                assert response.status_code < 500, (method, path, body, content_type)
                if response.status_code >= 400:
                    assert set(response.json()) == {"error"}


def test_multipart_without_project_data_is_400(client: TestClient, alice: KeyHolder) -> None:
    body, content_type = multipart_body(PROJECT, name="b2")
    body = body.replace(b'name="project_data"', b'name="other"')
    response = client.post(
        "/v1/alice/brains", content=body, headers={**alice.headers, "Content-Type": content_type}
    )
    assert response.status_code == 400
