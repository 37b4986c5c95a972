"""JSON Schemas of Polyaxon's request bodies, published in /openapi.json.

Validation itself happens in the domain modules (DRF-style messages); these schemas document the wire
format and let the fuzz tests generate realistic bodies.
"""

from __future__ import annotations

from typing import Any

from crucible.core.http import json_body_openapi

NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_OBJECT = {"type": ["object", "null"]}
TAGS = {"type": ["array", "null"], "items": {"type": "string"}}

PROJECT = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"},
        "description": NULLABLE_STRING,
        "tags": TAGS,
        "is_public": {"type": ["boolean", "null"]},
        "merge": {"type": ["boolean", "null"]},
    },
}
EXPERIMENT = {
    "type": "object",
    "properties": {
        "name": NULLABLE_STRING,
        "description": NULLABLE_STRING,
        "tags": TAGS,
        "content": NULLABLE_STRING,
        "params": NULLABLE_OBJECT,
        "framework": NULLABLE_STRING,
        "backend": NULLABLE_STRING,
        "is_managed": {"type": ["boolean", "null"]},
        "run_env": NULLABLE_OBJECT,
        "data_refs": NULLABLE_OBJECT,
        "experiment_group": {"type": ["integer", "string", "null"]},
        "merge": {"type": ["boolean", "null"]},
        "readme": NULLABLE_STRING,
    },
}
STATUS = {
    "type": "object",
    "properties": {"status": {"type": "string"}, "message": NULLABLE_STRING, "traceback": NULLABLE_STRING},
    "required": ["status"],
}
METRIC = {
    "type": "object",
    "properties": {
        "values": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
        "created_at": NULLABLE_STRING,
    },
    "required": ["values"],
}
METRICS = {"oneOf": [METRIC, {"type": "array", "items": METRIC}]}
LOGS = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
CLONE = {
    "type": "object",
    "properties": {
        "content": NULLABLE_STRING,
        "update_code": {"type": ["boolean", "null"]},
        "description": NULLABLE_STRING,
    },
}
GROUP = {
    "type": "object",
    "properties": {
        "name": NULLABLE_STRING,
        "description": NULLABLE_STRING,
        "tags": TAGS,
        "content": NULLABLE_STRING,
        "is_managed": {"type": ["boolean", "null"]},
        "readme": NULLABLE_STRING,
        "merge": {"type": ["boolean", "null"]},
    },
}
GROUP_STOP = {"type": "object", "properties": {"pending": {"type": "boolean"}}}
CODE_REFERENCE = {
    "type": "object",
    "properties": {
        "commit": NULLABLE_STRING,
        "head": NULLABLE_STRING,
        "branch": NULLABLE_STRING,
        "git_url": NULLABLE_STRING,
        "is_dirty": {"type": ["boolean", "null"]},
    },
}


def body(schema: dict[str, Any]) -> dict[str, Any]:
    return json_body_openapi(schema)
