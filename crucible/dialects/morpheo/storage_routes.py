"""The storage's wire format under `/storage` (spec §3.6): the paths of `MorpheoOrg/morpheo-storage`,
`{"error": ...}` bodies, Basic auth. Uploads and downloads stream; no blob is ever held in memory."""

from __future__ import annotations

import time
import uuid as uuid_module
from collections.abc import Callable

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from crucible.core.accounts import User
from crucible.core.blobs import BlobNotFound
from crucible.core.services import Services
from crucible.dialects.morpheo import storage
from crucible.dialects.morpheo.auth import authenticate
from crucible.dialects.morpheo.errors import StorageError, storage_response, unauthorized
from crucible.dialects.morpheo.models import MorpheoStoredObject
from crucible.dialects.morpheo.storage_uploads import Spool, receive_multipart, receive_raw

ROUTE_PATTERNS = [
    "GET /storage/",
    "GET /storage/health",
    *(f"GET /storage/{kind}" for kind in storage.KINDS),
    *(f"GET /storage/{kind}/{{uuid}}" for kind in storage.KINDS),
    *(f"GET /storage/{kind}/{{uuid}}/blob" for kind in storage.KINDS),
    *(f"POST /storage/{kind}" for kind in storage.KINDS),
]


def build_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/storage", tags=["morpheo storage"])
    db = services.db
    spool_dir = services.settings.data_dir / "tmp" / "morpheo-uploads"

    def current_user(request: Request) -> User | None:
        with db.read() as session:
            return authenticate(session, request.headers.get("authorization"))

    def guarded(request: Request, work: Callable[[], Response]) -> Response:
        if current_user(request) is None:
            return unauthorized()
        try:
            return work()
        except StorageError as error:
            return storage_response(error)

    # --- reads --------------------------------------------------------------------------------

    def index(request: Request) -> Response:
        return guarded(request, lambda: JSONResponse(ROUTE_PATTERNS))

    def health(request: Request) -> Response:
        return guarded(request, lambda: JSONResponse({"status": "ok"}))

    def list_kind(request: Request, kind: str) -> Response:
        def work() -> Response:
            storage.check_kind(kind)
            page = storage.parse_page(request.query_params.get("page"))
            with db.read() as session:
                return JSONResponse(storage.list_page(session, kind, page))

        return guarded(request, work)

    def get_metadata(request: Request, kind: str, uuid: str) -> Response:
        def work() -> Response:
            storage.check_kind(kind)
            with db.read() as session:
                return JSONResponse(
                    storage.metadata(storage.require(session, kind, storage.parse_uuid(uuid)))
                )

        return guarded(request, work)

    def get_blob(request: Request, kind: str, uuid: str) -> Response:
        def work() -> Response:
            storage.check_kind(kind)
            parsed = storage.parse_uuid(uuid)
            with db.read() as session:
                storage.require(session, kind, parsed)
            key = storage.blob_key(kind, parsed)
            try:
                size = services.blobs.size(key)
            except BlobNotFound as error:
                raise StorageError(404, f"{kind} {parsed} blob not found") from error
            return StreamingResponse(
                services.blobs.iter_chunks(key),
                media_type="application/octet-stream",
                headers={"Content-Length": str(size)},
            )

        return guarded(request, work)

    router.add_api_route("", index, methods=["GET"], include_in_schema=False)
    router.add_api_route("/", index, methods=["GET"])
    router.add_api_route("/health", health, methods=["GET"])
    for suffix in ("", "/"):
        router.add_api_route("/{kind}" + suffix, list_kind, methods=["GET"], include_in_schema=not suffix)
        router.add_api_route(
            "/{kind}/{uuid}" + suffix, get_metadata, methods=["GET"], include_in_schema=not suffix
        )
    router.add_api_route("/{kind}/{uuid}/blob", get_blob, methods=["GET"])

    # --- uploads ------------------------------------------------------------------------------

    def commit(row: MorpheoStoredObject, spool: Spool, replace_orphan: bool = False) -> None:
        try:
            storage.store(db, services.blobs, row, spool.path, replace_orphan=replace_orphan)
        finally:
            spool.discard()

    async def upload(request: Request, kind: str) -> Response:
        user = await run_in_threadpool(current_user, request)
        if user is None:
            return unauthorized()
        try:
            if kind == "model":
                return await upload_model(request, user)
            storage.check_kind(kind)
            received = await receive_multipart(
                request.stream(),
                request.headers.get("content-type"),
                storage.UPLOAD_FIELDS[kind],
                spool_dir,
                services.settings.morpheo_max_blob_bytes,
            )
            try:
                fields = received.fields
                uuid = storage.parse_uuid(fields["uuid"]) if "uuid" in fields else str(uuid_module.uuid4())
                if kind in ("problem", "algo") and not fields.get("name"):
                    raise StorageError(400, "name is required")
            except StorageError:
                received.spool.discard()
                raise
            row = MorpheoStoredObject(
                kind=kind,
                uuid=uuid,
                name=fields.get("name"),
                description=fields.get("description") if kind == "problem" else None,
                size=received.spool.size,
                sha256=received.spool.digest.hexdigest(),
                timestamp_upload=int(time.time()),
                owner_id=user.id,
            )
            await run_in_threadpool(commit, row, received.spool)
            return JSONResponse(storage.metadata(row), status_code=201)
        except StorageError as error:
            return storage_response(error)

    async def upload_model(request: Request, user: User) -> Response:
        query = request.query_params
        if "algo" not in query:
            raise StorageError(400, "missing algo parameter")
        algo = storage.parse_uuid(query["algo"])
        uuid = storage.parse_uuid(query["uuid"]) if "uuid" in query else str(uuid_module.uuid4())

        def algo_exists() -> bool:
            with db.read() as session:
                return storage.find(session, "algo", algo) is not None

        if not await run_in_threadpool(algo_exists):
            raise StorageError(404, f"algorithm {algo} not found")
        spool = await receive_raw(request.stream(), spool_dir, services.settings.morpheo_max_blob_bytes)
        row = MorpheoStoredObject(
            kind="model",
            uuid=uuid,
            algo=algo,
            size=spool.size,
            sha256=spool.digest.hexdigest(),
            timestamp_upload=int(time.time()),
            owner_id=user.id,
        )
        await run_in_threadpool(commit, row, spool, query.get("replace") == "orphan")
        return JSONResponse(storage.metadata(row), status_code=201)

    for suffix in ("", "/"):
        router.add_api_route("/{kind}" + suffix, upload, methods=["POST"], include_in_schema=not suffix)
    return router
