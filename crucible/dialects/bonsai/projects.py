"""Project files: the multipart formats of create/push/download (spec §4.10), file names, size limits,
content types, and storing files as blobs.

The CLI uploads `multipart/mixed` built with urllib3: a first `project_data` JSON part (the `.bproj`
arrives only as JSON inside it), then one `attachment` part per file. Downloads are `multipart/mixed`
with base64 parts, which the CLI parses with the `email` package.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from crucible.dialects.bonsai.errors import BonsaiError, bad_request

MAX_FILE_BYTES = 1024 * 1024
MAX_PROJECT_BYTES = 16 * 1024 * 1024
MAX_REQUEST_BYTES = MAX_PROJECT_BYTES + 1024 * 1024  # multipart framing on top of the files
DEFAULT_PROJECT_FILE = "bonsai_brain.bproj"


@dataclass
class Upload:
    """A parsed create/push body: the `project_data` fields and the files, path -> bytes."""

    name: str | None
    description: str | None
    files: dict[str, bytes]


def check_filename(path: str) -> str:
    """A relative POSIX path; absolute paths, `..`, backslashes and NUL are refused (400)."""
    if not path or "\\" in path or "\0" in path or path.startswith("/"):
        raise bad_request(f"Invalid file name '{path[:200]}'")
    parts = PurePosixPath(path).parts
    if any(part in ("..", ".") for part in path.split("/")) or not parts or len(path) > 1024:
        raise bad_request(f"Invalid file name '{path[:200]}'")
    return "/".join(parts)


def check_sizes(files: dict[str, bytes]) -> None:
    for path, data in files.items():
        if len(data) > MAX_FILE_BYTES:
            raise BonsaiError(413, f"File '{path}' is larger than 1 MiB")
    if sum(len(data) for data in files.values()) > MAX_PROJECT_BYTES:
        raise BonsaiError(413, "Project files total more than 16 MiB")


def _boundary(content_type: str) -> bytes:
    message = HeaderParser().parsestr(f"Content-Type: {content_type}\r\n\r\n")
    kind = message.get_content_type()
    if kind not in ("multipart/mixed", "multipart/form-data"):
        raise bad_request("Expected a multipart/mixed body")
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not boundary or len(boundary) > 200:
        raise bad_request("Multipart body has no boundary")
    return boundary.encode("latin-1", "replace")


def _split_parts(body: bytes, boundary: bytes) -> list[tuple[Message, bytes]]:
    delimiter = b"--" + boundary
    chunks = body.split(delimiter)
    if len(chunks) < 3:
        raise bad_request("Malformed multipart body")
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        chunk = chunk.removeprefix(b"\r\n").removeprefix(b"\n")
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator:
            head, separator, content = chunk.partition(b"\n\n")
        if not separator:
            raise bad_request("Malformed multipart part")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        elif content.endswith(b"\n"):
            content = content[:-1]
        headers = HeaderParser().parsestr(head.decode("utf-8", "replace"))
        if (headers.get("content-transfer-encoding") or "").strip().lower() == "base64":
            try:
                content = base64.b64decode(content)
            except ValueError as error:
                raise bad_request("Malformed base64 part") from error
        parts.append((headers, content))
    return parts


def parse_upload(content_type: str, body: bytes) -> Upload:
    """Parse a create/push body (400 when it is not the CLI's multipart layout)."""
    parts = _split_parts(body, _boundary(content_type))
    if not parts:
        raise bad_request("Multipart body has no parts")
    first_headers, first_body = parts[0]
    if first_headers.get_param("name", header="content-disposition") != "project_data":
        raise bad_request("The first part must be project_data")
    try:
        project_data = json.loads(first_body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise bad_request("project_data is not valid JSON") from error
    if not isinstance(project_data, dict):
        raise bad_request("project_data must be a JSON object")
    files: dict[str, bytes] = {}
    project_file = project_data.get("project_file")
    if project_file is not None:
        if not isinstance(project_file, dict) or not isinstance(project_file.get("content", {}), dict):
            raise bad_request("project_file must be an object with a JSON content")
        name = project_file.get("name") or DEFAULT_PROJECT_FILE
        if not isinstance(name, str):
            raise bad_request("project_file.name must be a string")
        files[check_filename(name)] = bproj_bytes(project_file.get("content") or {})
    for headers, content in parts[1:]:
        path = headers.get_param("filename", header="content-disposition") or headers.get_param(
            "name", header="content-disposition"
        )
        if not isinstance(path, str):
            raise bad_request("A file part has no file name")
        files[check_filename(path)] = content
    check_sizes(files)
    name = project_data.get("name")
    description = project_data.get("description")
    if name is not None and not isinstance(name, str):
        raise bad_request("name must be a string")
    if description is not None and not isinstance(description, str):
        raise bad_request("description must be a string")
    return Upload(name, description, files)


def bproj_bytes(content: dict[str, Any]) -> bytes:
    """The `.bproj` as stored: pretty JSON."""
    return (json.dumps(content, indent=4) + "\n").encode()


def multipart_download(files: dict[str, bytes]) -> tuple[bytes, str]:
    """(body, content type) of a multipart/mixed download with base64 parts, sorted by path."""
    boundary = secrets.token_hex(16)
    lines: list[bytes] = []
    for path in sorted(files):
        encoded = base64.encodebytes(files[path])
        lines.append(f"--{boundary}\r\n".encode())
        lines.append(b"Content-Type: application/octet-stream\r\n")
        lines.append(f'Content-Disposition: attachment; filename="{quote(path)}"\r\n'.encode())
        lines.append(b"Content-Transfer-Encoding: base64\r\n\r\n")
        lines.append(encoded.replace(b"\n", b"\r\n"))
        lines.append(b"\r\n")
    lines.append(f"--{boundary}--\r\n".encode())
    return b"".join(lines), f"multipart/mixed; boundary={boundary}"


def content_type_for(path: str, data: bytes) -> str:
    if path.endswith(".ink"):
        return "text/x-inkling"
    if path.endswith(".bproj"):
        return "application/json"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain; charset=utf-8"


def sha1_hex(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def blob_key(brain_id: int, data: bytes) -> str:
    """Content-addressed within a brain, so version snapshots share the bytes of unchanged files."""
    return f"bonsai/brains/{brain_id}/files/{hashlib.sha256(data).hexdigest()}"
