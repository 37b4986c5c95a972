"""Scenario 14 of spec §7: storage uploads, downloads, listings and the original's multipart rules."""

from __future__ import annotations

import os
import uuid as uuid_module

from crucible.core.services import Services
from tests.dialects.morpheo.conftest import Morpheo

BOUNDARY = "morpheo-test-boundary"


def multipart(parts: list[tuple[str, bytes]]) -> tuple[bytes, dict[str, str]]:
    """A multipart body with the parts in exactly this order (httpx may reorder files after fields)."""
    body = b""
    for name, value in parts:
        filename = '; filename="blob"' if name == "blob" else ""
        body += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n\r\n'.encode()
        body += value + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def upload(client: Morpheo, kind: str, parts: list[tuple[str, bytes]]):  # type: ignore[no-untyped-def]
    body, headers = multipart(parts)
    return client.post_raw(f"/storage/{kind}", body, headers=headers)


def test_scenario_14_upload_and_download_are_byte_identical(alice: Morpheo) -> None:
    blob = os.urandom(3 * 1024 * 1024 + 17)
    uuid = str(uuid_module.uuid4())
    response = upload(
        alice, "data", [("uuid", uuid.upper().encode()), ("size", str(len(blob)).encode()), ("blob", blob)]
    )
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"uuid", "timestamp_upload"} and response.json()["uuid"] == uuid
    download = alice.get(f"/storage/data/{uuid}/blob")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-length"] == str(len(blob))
    assert download.content == blob
    assert alice.get(f"/storage/data/{uuid}").json() == response.json()
    reused = upload(alice, "data", [("uuid", uuid.encode()), ("size", b"1"), ("blob", b"x")])
    assert reused.status_code == 409 and set(reused.json()) == {"error"}
    assert alice.get(f"/storage/data/{uuid}/blob").content == blob


def test_problem_and_algo_metadata(alice: Morpheo) -> None:
    problem = upload(
        alice, "problem", [("name", b"digits"), ("description", b"d"), ("size", b"3"), ("blob", b"abc")]
    )
    assert problem.status_code == 201
    assert set(problem.json()) == {"uuid", "timestamp_upload", "name", "description"}
    algo = upload(alice, "algo", [("name", b"sgd"), ("size", b"3"), ("blob", b"abc")])
    assert algo.status_code == 201 and set(algo.json()) == {"uuid", "timestamp_upload", "name"}
    assert upload(alice, "algo", [("size", b"3"), ("blob", b"abc")]).status_code == 400
    model = alice.post_raw(f"/storage/model?algo={algo.json()['uuid']}", b"model-bytes")
    assert model.status_code == 201 and model.json()["algo"] == algo.json()["uuid"]
    assert alice.get(f"/storage/model/{model.json()['uuid']}/blob").content == b"model-bytes"
    assert alice.get("/storage/health").json() == {"status": "ok"}
    assert "GET /storage/health" in alice.get("/storage/").json()


def test_scenario_14_multipart_rules(alice: Morpheo, services: Services) -> None:
    cases = [
        ([("blob", b"abc"), ("size", b"3")], 400),
        ([("size", b"3"), ("blob", b"abc"), ("uuid", str(uuid_module.uuid4()).encode())], 400),
        ([("size", b"3"), ("color", b"red"), ("blob", b"abc")], 400),
        ([("size", b"0"), ("blob", b"")], 400),
        ([("size", b"-3"), ("blob", b"abc")], 400),
        ([("size", b"three"), ("blob", b"abc")], 400),
        ([("size", b"3")], 400),
        ([("uuid", b"not-a-uuid"), ("size", b"3"), ("blob", b"abc")], 400),
    ]
    for parts, status in cases:
        response = upload(alice, "data", parts)
        assert response.status_code == status, (parts, response.text)
        assert set(response.json()) == {"error"}
    unknown = upload(alice, "data", [("size", b"3"), ("color", b"red"), ("blob", b"abc")])
    assert unknown.json() == {"error": 'Unknown field "color"'}
    after = upload(alice, "data", [("size", b"3"), ("blob", b"abc"), ("uuid", b"x")])
    assert after.json() == {"error": "Make sure that each form field is sent before blob"}
    for size in (b"2", b"4"):
        uuid = str(uuid_module.uuid4())
        mismatch = upload(alice, "data", [("uuid", uuid.encode()), ("size", size), ("blob", b"abc")])
        assert mismatch.status_code == 400 and mismatch.json() == {"error": "size mismatch"}
        assert alice.get(f"/storage/data/{uuid}").status_code == 404
        assert alice.get(f"/storage/data/{uuid}/blob").status_code == 404
    assert (
        alice.post_raw("/storage/data", b"plain", headers={"Content-Type": "text/plain"}).status_code == 400
    )
    assert alice.get("/storage/data").json()["length"] == 0
    spool = services.settings.data_dir / "tmp" / "morpheo-uploads"
    assert not spool.exists() or list(spool.iterdir()) == []


def test_scenario_14_errors_and_pages(alice: Morpheo, services: Services) -> None:
    bad = alice.get("/storage/data/not-a-uuid")
    assert bad.status_code == 400 and bad.json() == {"error": "Impossible to parse UUID not-a-uuid"}
    assert alice.get("/storage/data/not-a-uuid/blob").status_code == 400
    assert alice.get(f"/storage/data/{uuid_module.uuid4()}").status_code == 404
    assert alice.get("/storage/cats").status_code == 404
    assert alice.get("/storage/cats").json() == {"error": "Page does not exist"}
    algo = str(uuid_module.uuid4())
    missing = alice.post_raw(f"/storage/model?algo={algo}", b"m")
    assert missing.status_code == 404 and missing.json() == {"error": f"algorithm {algo} not found"}
    assert alice.post_raw("/storage/model", b"m").status_code == 400
    assert alice.post_raw("/storage/model?algo=zzz", b"m").status_code == 400
    for _ in range(31):
        assert upload(alice, "data", [("size", b"1"), ("blob", b"x")]).status_code == 201
    first, second = alice.get("/storage/data?page=0").json(), alice.get("/storage/data?page=1").json()
    assert (first["page"], first["length"], second["page"], second["length"]) == (0, 30, 1, 1)
    assert len({item["uuid"] for item in first["items"] + second["items"]}) == 31
    assert alice.get("/storage/data").json()["length"] == 30
    assert alice.get("/storage/data?page=-1").status_code == 400
    assert alice.get("/storage/data?page=x").status_code == 400


def test_blob_size_limit(alice: Morpheo, services: Services) -> None:
    services.settings.morpheo_max_blob_bytes = 10
    assert upload(alice, "data", [("size", b"11"), ("blob", b"x" * 11)]).status_code == 413


def test_orphan_models_can_be_replaced_by_the_retrying_worker(alice: Morpheo) -> None:
    algo = upload(alice, "algo", [("name", b"sgd"), ("size", b"1"), ("blob", b"a")]).json()["uuid"]
    alice.problem("P", [])
    alice.data(["d1"], "P")
    alice.algo(algo, "P")
    step = alice.step(algo, 0)
    model = step["model_end"]
    assert alice.post_raw(f"/storage/model?algo={algo}&uuid={model}", b"first").status_code == 201
    assert alice.post_raw(f"/storage/model?algo={algo}&uuid={model}", b"second").status_code == 409
    replaced = alice.post_raw(f"/storage/model?algo={algo}&uuid={model}&replace=orphan", b"second")
    assert replaced.status_code == 201
    assert alice.get(f"/storage/model/{model}/blob").content == b"second"
    assert alice.claim(step["uuid"]).status_code == 200 and alice.done(step["uuid"], 0.5).status_code == 200
    final = alice.post_raw(f"/storage/model?algo={algo}&uuid={model}&replace=orphan", b"third")
    assert final.status_code == 409


def test_reservations_hide_uploads_in_progress(alice: Morpheo, services: Services) -> None:
    """An upload being copied in holds its uuid but is invisible; one abandoned for an hour is not kept."""
    import time

    from crucible.dialects.morpheo.models import MorpheoStoredObject

    busy, stale = str(uuid_module.uuid4()), str(uuid_module.uuid4())
    now = int(time.time())
    with services.db.write() as session:
        for uuid, stamp in ((busy, now), (stale, now - 7200)):
            session.add(
                MorpheoStoredObject(
                    kind="data", uuid=uuid, size=1, sha256="0" * 64, timestamp_upload=stamp, stored=False
                )
            )
    assert alice.get(f"/storage/data/{busy}").status_code == 404
    assert alice.get(f"/storage/data/{busy}/blob").status_code == 404
    assert alice.get("/storage/data").json()["length"] == 0
    assert upload(alice, "data", [("uuid", busy.encode()), ("size", b"1"), ("blob", b"x")]).status_code == 409
    assert (
        upload(alice, "data", [("uuid", stale.encode()), ("size", b"1"), ("blob", b"y")]).status_code == 201
    )
    assert alice.get(f"/storage/data/{stale}/blob").content == b"y"
