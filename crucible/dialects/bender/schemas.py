"""JSON Schemas of Bender's request bodies, published in /openapi.json.

Validation itself follows DRF's messages (fields.py); these schemas document the wire format and let
schema-driven fuzzers generate realistic bodies.
"""

from __future__ import annotations

from typing import Any

ANY_JSON: dict[str, Any] = {}
NULLABLE_STRING = {"type": ["string", "null"]}

METRIC = {
    "type": "object",
    "properties": {"metric_name": {"type": "string", "maxLength": 50}, "type": {"enum": ["loss", "reward"]}},
    "required": ["metric_name", "type"],
}
PARAMETER = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 150},
        "category": {
            "enum": ["uniform", "loguniform", "normal", "lognormal", "categorical", "descriptive", None]
        },
        "search_space": {"type": ["object", "null"]},
    },
    "required": ["name"],
}

EXPERIMENT_CREATE = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "metrics": {"type": "array", "items": METRIC, "minItems": 1},
        "description": NULLABLE_STRING,
        "dataset": NULLABLE_STRING,
        "dataset_parameters": ANY_JSON,
    },
    "required": ["name", "metrics"],
}
EXPERIMENT_UPDATE = {
    "type": "object",
    "properties": {
        "description": NULLABLE_STRING,
        "dataset": NULLABLE_STRING,
        "dataset_parameters": ANY_JSON,
        "shared_with": {"type": "array", "items": {"type": "string"}},
    },
}
ALGO_CREATE = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "experiment": {"type": "string", "format": "uuid"},
        "description": ANY_JSON,
        "parameters": {"type": "array", "items": PARAMETER},
    },
    "required": ["name", "experiment", "parameters"],
}
ALGO_UPDATE = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "description": ANY_JSON,
        "parameters": {"type": "array", "items": PARAMETER},
    },
}
TRIAL_CREATE = {
    "type": "object",
    "properties": {
        "algo": {"type": "string", "format": "uuid"},
        "parameters": {"type": "object"},
        "results": {"type": "object"},
        "comment": ANY_JSON,
        "weight": {"type": "number", "minimum": 0},
    },
    "required": ["algo", "parameters", "results"],
}
SUGGEST = {
    "type": "object",
    "properties": {
        "metric": {"type": "string"},
        "optimizer": {"type": "string"},
        "minimum_observations": {"type": "integer", "minimum": 1, "maximum": 1000},
        "seed": {"type": "integer", "minimum": 0},
    },
    "required": ["metric"],
}
LOGIN = {
    "type": "object",
    "properties": {
        "email": {"type": "string"},
        "username": {"type": "string"},
        "password": {"type": "string"},
    },
    "required": ["password"],
}
REGISTRATION = {
    "type": "object",
    "properties": {
        "username": {"type": "string"},
        "email": {"type": "string"},
        "password1": {"type": "string"},
        "password2": {"type": "string"},
        "tos_accepted": {"type": "boolean"},
    },
    "required": ["username", "email", "password1", "password2"],
}
PROFILE = {
    "type": "object",
    "properties": {
        "username": {"type": "string"},
        "first_name": {"type": "string"},
        "last_name": {"type": "string"},
    },
}
USER_UPDATE = {
    "type": "object",
    "properties": {
        "username": {"type": "string"},
        "email": {"type": "string"},
        "shared_experiments": {"type": "array", "items": {"type": "string"}},
    },
}
CONTACT = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "content": {"type": "string"}, "email": {"type": "string"}},
    "required": ["title", "content", "email"],
}
KEY = {"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}
PASSWORD_CHANGE = {
    "type": "object",
    "properties": {"new_password1": {"type": "string"}, "new_password2": {"type": "string"}},
    "required": ["new_password1", "new_password2"],
}
PASSWORD_RESET = {"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"]}
PASSWORD_RESET_CONFIRM = {
    "type": "object",
    "properties": {
        "uid": {"type": "string"},
        "token": {"type": "string"},
        "new_password1": {"type": "string"},
        "new_password2": {"type": "string"},
    },
    "required": ["uid", "token", "new_password1", "new_password2"],
}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` for a route whose body is read by hand."""
    return {"requestBody": {"required": False, "content": {"application/json": {"schema": schema}}}}
