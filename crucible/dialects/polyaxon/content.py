"""Polyaxonfile (v1) content: decoding, validation and the fields derived from it (spec §4.1).

`content` arrives as text: JSON from the CLI, a Python `repr` of a dict from the client (where YAML would
misread None/True), or YAML. Validation errors become 400 `{"content": ["..."]}` in the routes.
"""

from __future__ import annotations

import ast
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml
from jinja2 import TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment

TOP_LEVEL_KEYS = (
    "version", "kind", "name", "description", "logging", "tags", "inputs", "outputs", "params",
    "declarations", "backend", "framework", "environment", "hptuning", "build", "run",
)  # fmt: skip
RESOURCE_KINDS = ("cpu", "memory", "gpu", "tpu")
MAX_CONTENT_CHARS = 1_000_000


class ContentError(ValueError):
    """The content cannot be used; the message is what the client sees."""


def decode(content: Any) -> dict[str, Any]:
    """Text → mapping: JSON, then a Python literal when it starts with `{`, then YAML (safe loader)."""
    if isinstance(content, Mapping):
        return dict(content)
    if not isinstance(content, str):
        raise ContentError("Content must be a string.")
    if len(content) > MAX_CONTENT_CHARS:
        raise ContentError("Content is too large.")
    text = content.strip()
    if not text:
        raise ContentError("Content is empty.")
    decoded: Any = None
    found = False
    with contextlib.suppress(ValueError, RecursionError):
        decoded, found = json.loads(text), True
    if not found and text.startswith("{"):
        with contextlib.suppress(ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            decoded, found = ast.literal_eval(text), True
    if not found:
        try:
            decoded = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError) as error:
            raise ContentError(f"Content is neither JSON nor YAML: {error}") from None
    if not isinstance(decoded, dict):
        raise ContentError("Content must be a mapping.")
    return decoded


def _check_string_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ContentError(f"`{where}` must be a list of strings.")
    return value


def _check_mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ContentError(f"`{where}` must be a mapping.")
    return value


def _check_resources(environment: Any) -> dict[str, Any] | None:
    if environment is None:
        return None
    environment = _check_mapping(environment, "environment")
    resources = environment.get("resources")
    if resources is None:
        return None
    resources = _check_mapping(resources, "environment.resources")
    shaped: dict[str, Any] = {}
    for kind, spec in resources.items():
        if kind not in RESOURCE_KINDS:
            raise ContentError(f"Unknown field `environment.resources.{kind}`.")
        if spec is None:
            continue
        spec = _check_mapping(spec, f"environment.resources.{kind}")
        entry = {}
        for bound in ("requests", "limits"):
            value = spec.get(bound)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ContentError(f"`environment.resources.{kind}.{bound}` must be a number.")
            entry[bound] = value
        unknown = set(spec) - {"requests", "limits"}
        if unknown:
            raise ContentError(f"Unknown field `environment.resources.{kind}.{sorted(unknown)[0]}`.")
        shaped[kind] = entry
    return shaped or None


def _check_build(build: Any) -> None:
    if build is None:
        return
    build = _check_mapping(build, "build")
    if build.get("build_steps") is not None:
        _check_string_list(build["build_steps"], "build.build_steps")
    env_vars = build.get("env_vars")
    if env_vars is not None and (
        not isinstance(env_vars, list)
        or not all(
            isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) for pair in env_vars
        )
    ):
        raise ContentError("`build.env_vars` must be a list of [name, value] pairs.")
    # Other keys (image, dockerfile, ref, ...) are accepted as given: they only produce a warning line.


def _check_run(run: Any) -> None:
    if run is None:
        return
    run = _check_mapping(run, "run")
    cmd = run.get("cmd")
    if cmd is not None and not isinstance(cmd, str):
        _check_string_list(cmd, "run.cmd")


@dataclass(frozen=True)
class Polyaxonfile:
    """A validated polyaxonfile and what the server derives from it."""

    data: dict[str, Any]
    kind: str
    params: dict[str, Any] | None
    resources: dict[str, Any] | None
    tags: list[str] | None
    backend: str | None
    framework: str | None
    name: str | None
    hptuning: dict[str, Any] | None = field(default=None)


def validate(data: dict[str, Any], expected_kind: str) -> Polyaxonfile:
    """Check a decoded polyaxonfile for an experiment or group endpoint."""
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise ContentError(f"Unknown field `{key}`.")
    version = data.get("version")
    if version != 1 or isinstance(version, bool):
        raise ContentError("`version` must be 1.")
    kind = data.get("kind")
    if kind is None:
        raise ContentError("`kind` is required.")
    if kind != expected_kind:
        raise ContentError(f"`kind` must be `{expected_kind}` here, not `{kind}`.")
    if "params" in data and "declarations" in data:
        raise ContentError("`declarations` is an alias of `params`; give only one of them.")
    params = data.get("params", data.get("declarations"))
    if params is not None:
        params = _check_mapping(params, "params")
    tags = data.get("tags")
    if tags is not None:
        tags = _check_string_list(tags, "tags")
    for key, length in (("backend", 50), ("framework", 50), ("name", 150), ("description", 100_000)):
        if data.get(key) is not None and (not isinstance(data[key], str) or len(data[key]) > length):
            raise ContentError(f"`{key}` must be a string of at most {length} characters.")
    hptuning = data.get("hptuning")
    if expected_kind == "experiment" and hptuning is not None:
        raise ContentError("`hptuning` is not allowed in an experiment; use `kind: group`.")
    if expected_kind == "group":
        if hptuning is None:
            raise ContentError("A group requires `hptuning`.")
        hptuning = _check_mapping(hptuning, "hptuning")
    for key in ("logging", "inputs", "outputs"):
        if data.get(key) is not None and not isinstance(data[key], dict | list):
            raise ContentError(f"`{key}` must be a mapping or a list.")
    resources = _check_resources(data.get("environment"))
    _check_build(data.get("build"))
    _check_run(data.get("run"))
    return Polyaxonfile(
        data=data,
        kind=kind,
        params=dict(params) if params is not None else None,
        resources=resources,
        tags=list(tags) if tags is not None else None,
        backend=data.get("backend"),
        framework=data.get("framework"),
        name=data.get("name"),
        hptuning=hptuning,
    )


def parse(content: Any, expected_kind: str) -> Polyaxonfile:
    return validate(decode(content), expected_kind)


def deep_merge(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge recursively; any other value (lists included) replaces (spec §4.5)."""
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def experiment_config_for_group(group_config: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A group member's polyaxonfile: the group's, as `kind: experiment`, without `hptuning`, with the
    suggestion merged into the params."""
    config = {key: value for key, value in group_config.items() if key not in ("hptuning", "declarations")}
    config["kind"] = "experiment"
    config["params"] = {**(group_config.get("params") or group_config.get("declarations") or {}), **params}
    return config


# --- run.cmd ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedCommand:
    command: str | None
    warnings: list[str]


class _RecordingUndefined(Undefined):
    """Renders empty (as the original did) and remembers the name, so a warning line can be logged."""

    missing: ClassVar[list[str]]

    def __str__(self) -> str:
        type(self).missing.append(self._undefined_name or "?")
        return ""


def render_command(config: dict[str, Any], params: dict[str, Any] | None) -> RenderedCommand:
    """`run.cmd` (a list is joined with ` && `) rendered as a Jinja template with the params."""
    run = config.get("run") or {}
    cmd = run.get("cmd") if isinstance(run, dict) else None
    if cmd is None:
        return RenderedCommand(None, [])
    text = " && ".join(cmd) if isinstance(cmd, list) else str(cmd)

    class Recording(_RecordingUndefined):  # a class per call: the names it records are this render's
        missing: ClassVar[list[str]] = []

    environment = SandboxedEnvironment(undefined=Recording, autoescape=False, keep_trailing_newline=True)
    warnings: list[str] = []
    try:
        rendered = environment.from_string(text).render(**(params or {}))
    except TemplateError as error:
        warnings.append(
            f"[polyaxon] WARNING: run.cmd is not a valid template ({error}); running it as written"
        )
        return RenderedCommand(text, warnings)
    for name in dict.fromkeys(Recording.missing):
        warnings.append(f"[polyaxon] WARNING: run.cmd uses `{name}`, which is not a param; it rendered empty")
    return RenderedCommand(rendered, warnings)


__all__ = [
    "ContentError",
    "Polyaxonfile",
    "RenderedCommand",
    "decode",
    "deep_merge",
    "experiment_config_for_group",
    "parse",
    "render_command",
    "validate",
]
