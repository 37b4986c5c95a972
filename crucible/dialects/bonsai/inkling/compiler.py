"""Compiles Inkling source into a CompileResult (spec §4.6 "Compile result"): pure and deterministic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .checker import check
from .diagnostics import COMPILER_VERSION, Diagnostic, DiagnosticSink
from .parser import parse
from .program import CompiledProgram


@dataclass(frozen=True)
class CompileResult:
    """What push, `?file=` PUT and `train` report; `program` is set exactly when `success` is."""

    success: bool
    errors: tuple[Diagnostic, ...]
    warnings: tuple[Diagnostic, ...]
    program: CompiledProgram | None
    compiler_version: str = COMPILER_VERSION

    def to_json(self) -> dict[str, object]:
        """The `ink_compile` / `?file=` response body."""
        return {
            "success": self.success,
            "errors": [error.to_json() for error in self.errors],
            "warnings": [warning.to_json() for warning in self.warnings],
            "compiler_version": self.compiler_version,
        }

    def error_summary(self) -> str:
        """The 400 message of `train`: `Inkling has 2 error(s); first at line 7, column 5: …`."""
        if not self.errors:
            return "Inkling has no errors"
        first = self.errors[0]
        return (
            f"Inkling has {len(self.errors)} error(s); "
            f"first at line {first.line}, column {first.column}: {first.text}"
        )


def compile_inkling(source: str | bytes) -> CompileResult:
    """Compile one `.ink` file. Never raises on bad input: every problem is a diagnostic."""
    text = _decode(source)
    parsed = parse(text)
    sink = DiagnosticSink()
    sink.extend(parsed.diagnostics)
    program = check(parsed.program, parsed.broken, sink)
    errors = sink.sorted_errors()
    return CompileResult(not errors, errors, sink.sorted_warnings(), None if errors else program)


def compile_project(files: Mapping[str, str | bytes]) -> CompileResult:
    """Compile a project's file set (path -> content): it must hold exactly one `.ink` file (E410)."""
    ink_files = sorted(path for path in files if path.lower().endswith(".ink"))
    if len(ink_files) != 1:
        listed = f" ({', '.join(ink_files)})" if ink_files else ""
        text = f"project must contain exactly one .ink file, found {len(ink_files)}{listed}"
        return CompileResult(False, (Diagnostic("E410", text, 0, 0),), (), None)
    return compile_inkling(files[ink_files[0]])


def _decode(source: str | bytes) -> str:
    """Bytes are read as UTF-8 (invalid bytes become U+FFFD, then E101); a leading BOM is ignored."""
    text = source.decode("utf-8", errors="replace") if isinstance(source, bytes) else source
    return text.removeprefix("\ufeff")
