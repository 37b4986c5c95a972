"""Compiler diagnostics: the error and warning records of spec §4.6 (code, text, 1-based line and column)."""

from __future__ import annotations

from dataclasses import dataclass

from .syntax_tree import Position

COMPILER_VERSION = "1.9.0"
MAX_REPORTED = 100

# Every code this compiler can report, with the condition it stands for (spec §4.6 tables).
CODES: dict[str, str] = {
    "E101": "unexpected character",
    "E102": "unterminated string",
    "E110": "syntax error",
    "E111": "unexpected end of file",
    "E201": "duplicate name",
    "E202": "undefined schema",
    "E203": "undefined concept",
    "E204": "undefined simulator",
    "E205": "undefined constant",
    "E206": "undefined lesson",
    "E301": "unknown type or concept kind",
    "E302": "invalid range",
    "E303": "value not representable in the type",
    "E401": "concept lacks 'is', 'predicts' or input",
    "E402": "concept has no curriculum",
    "E403": "more than one curriculum per concept",
    "E404": "simulator action schema does not match the concept's predicts",
    "E405": "simulator state schema does not match the concept's input",
    "E406": "invalid lesson constraint",
    "E407": "classifier output without a finite value set",
    "E408": "estimator output field not a continuous float",
    "E409": "algorithm incompatible with concept kind",
    "E410": "project does not contain exactly one .ink file",
    "E411": "lesson follows cycle",
    "E412": "curriculum incomplete",
    "E413": "more than one trained concept per BRAIN",
    "E414": "invalid Luminance or unconstrained String",
    "W501": "unknown algorithm parameter",
    "W502": "algorithm mapped",
    "W503": "parameter accepted but unsupported",
    "W504": "train/test lesson clause ignored",
    "W506": "unbounded estimator field defaulted to [-1, 1]",
}


@dataclass(frozen=True)
class Diagnostic:
    """One error (code E…) or warning (code W…), pointing at the first character of the offending token."""

    code: str
    text: str
    line: int
    column: int

    @property
    def is_error(self) -> bool:
        return self.code.startswith("E")

    def to_json(self) -> dict[str, object]:
        """The wire shape of §4.6; `message` repeats `text` because clients read either."""
        return {
            "code": self.code,
            "text": self.text,
            "message": self.text,
            "line": self.line,
            "column": self.column,
        }

    def __str__(self) -> str:
        """How bonsai-cli prints it: `CODE TEXT (line L, column C)`."""
        return f"{self.code} {self.text} (line {self.line}, column {self.column})"


class DiagnosticSink:
    """Collects diagnostics while compiling; `sorted_errors`/`sorted_warnings` give the reported lists."""

    def __init__(self) -> None:
        self._items: list[Diagnostic] = []

    def report(self, code: str, text: str, at: Position) -> None:
        assert code in CODES, code
        self._items.append(Diagnostic(code, text, at.line, at.column))

    def extend(self, diagnostics: list[Diagnostic]) -> None:
        self._items.extend(diagnostics)

    @property
    def has_errors(self) -> bool:
        return any(item.is_error for item in self._items)

    def sorted_errors(self) -> tuple[Diagnostic, ...]:
        return _sorted_unique([item for item in self._items if item.is_error])

    def sorted_warnings(self) -> tuple[Diagnostic, ...]:
        return _sorted_unique([item for item in self._items if not item.is_error])


def _sorted_unique(items: list[Diagnostic]) -> tuple[Diagnostic, ...]:
    """Sorted by position (stable, so report order breaks ties), exact repeats dropped, at most 100."""
    seen: set[Diagnostic] = set()
    unique = []
    for item in items:
        if item not in seen:
            seen.add(item)
            unique.append(item)
    unique.sort(key=lambda item: (item.line, item.column))
    return tuple(unique[:MAX_REPORTED])
