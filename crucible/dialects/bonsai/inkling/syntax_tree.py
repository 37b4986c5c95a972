"""The Inkling syntax tree: what the parser produces and the checker reads.

Every node keeps the position of its first token so that diagnostics can point at it.
Nothing here is checked yet: a type name may be unknown, a reference may be undefined.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Position:
    """1-based line and column (in code points) of a token's first character."""

    line: int
    column: int


@dataclass(frozen=True)
class Name:
    """An identifier or keyword as written, with where it was written."""

    text: str
    position: Position


# --- Scalars --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberLiteral:
    value: int | float
    text: str  # as written, sign included
    position: Position


@dataclass(frozen=True)
class StringLiteral:
    value: str
    text: str  # as written, quotes included
    position: Position


@dataclass(frozen=True)
class BoolLiteral:
    value: bool
    position: Position


@dataclass(frozen=True)
class ConstantRef:
    """An identifier where a value is expected: it names a `constant`."""

    name: str
    position: Position


Number = NumberLiteral | ConstantRef
Scalar = NumberLiteral | StringLiteral | BoolLiteral | ConstantRef


# --- Ranges ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValueListRange:
    """`{a, b, c}`"""

    values: tuple[Scalar, ...]
    position: Position


@dataclass(frozen=True)
class ColonRange:
    """`{start:stop}` or `{start:step:stop}`"""

    start: Number
    step: Number | None
    stop: Number
    position: Position


@dataclass(frozen=True)
class DotRange:
    """`{start..stop:numSteps}`"""

    start: Number
    stop: Number
    steps: Number
    position: Position


Range = ValueListRange | ColonRange | DotRange


# --- Schemas --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScalarField:
    """`Type[range] name`; the type name may be unknown (reported by the checker)."""

    type: Name
    range: Range | None
    name: Name


@dataclass(frozen=True)
class LuminanceField:
    """`Luminance(width, height) name`"""

    keyword: Name
    width: NumberLiteral
    height: NumberLiteral
    name: Name


@dataclass(frozen=True)
class StructuredField:
    """`Matrix(...) name` or `Name(...) name`: parsed so that it can be refused with a precise error."""

    type: Name
    name: Name


Field = ScalarField | LuminanceField | StructuredField


@dataclass(frozen=True)
class EmptySchemaRef:
    """`()`"""

    position: Position


@dataclass(frozen=True)
class NamedSchemaRef:
    """`(Name)`, or a bare `Name` after `predicts`."""

    name: Name


@dataclass(frozen=True)
class InlineSchemaRef:
    """`(Type a, Type b)`: an anonymous schema."""

    fields: tuple[Field, ...]
    position: Position


SchemaRef = EmptySchemaRef | NamedSchemaRef | InlineSchemaRef


# --- Statements -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConstantStatement:
    type: Name
    name: Name
    value: Scalar


@dataclass(frozen=True)
class SchemaStatement:
    name: Name
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class IsClause:
    keyword: Name
    kind: Name


@dataclass(frozen=True)
class PredictsClause:
    keyword: Name
    schema: SchemaRef


@dataclass(frozen=True)
class InputSource:
    """`input(...)` in a `follows` clause."""

    keyword: Name
    schema: SchemaRef


@dataclass(frozen=True)
class ConceptSource:
    """Another concept in a `follows` clause."""

    name: Name


@dataclass(frozen=True)
class FollowsClause:
    keyword: Name
    sources: tuple[InputSource | ConceptSource, ...]


@dataclass(frozen=True)
class FeedsClause:
    keyword: Name
    targets: tuple[Name, ...]  # `output` or concept names


ConceptClause = IsClause | PredictsClause | FollowsClause | FeedsClause


@dataclass(frozen=True)
class ConceptStatement:
    name: Name
    clauses: tuple[ConceptClause, ...]


@dataclass(frozen=True)
class ActionClause:
    keyword: Name  # `action` or `control`
    schema: SchemaRef


@dataclass(frozen=True)
class StateClause:
    keyword: Name
    schema: SchemaRef


@dataclass(frozen=True)
class SimulatorStatement:
    name: Name
    config: SchemaRef
    clauses: tuple[ActionClause | StateClause, ...]


@dataclass(frozen=True)
class ListValue:
    """`[a, b]` as an algorithm parameter value."""

    items: tuple[Scalar, ...]
    position: Position


@dataclass(frozen=True)
class Param:
    name: Name
    value: Scalar | ListValue


@dataclass(frozen=True)
class AlgorithmStatement:
    name: Name
    kind: Name  # e.g. DQN, TRPO
    params: tuple[Param, ...]


@dataclass(frozen=True)
class WithSimulatorClause:
    keyword: Name
    simulator: Name
    config: SchemaRef | None


@dataclass(frozen=True)
class ObjectiveClause:
    keyword: Name
    objective: Name


@dataclass(frozen=True)
class UsingAlgorithmClause:
    keyword: Name
    algorithm: Name
    params: tuple[Param, ...]


CurriculumClause = WithSimulatorClause | ObjectiveClause | UsingAlgorithmClause


@dataclass(frozen=True)
class Constraint:
    """`constrain field with Type{range}`"""

    keyword: Name
    field: Name
    type: Name
    range: Range


@dataclass(frozen=True)
class ConfigureClause:
    keyword: Name
    schema: Name | None
    constraints: tuple[Constraint, ...]


@dataclass(frozen=True)
class FlowClause:
    """`train from x in y select z send w` / `test …`: parsed, then ignored (W504)."""

    keyword: Name


@dataclass(frozen=True)
class ObjectiveGoal:
    """`until maximize obj` / `until minimize obj`"""

    direction: Name
    objective: Name


@dataclass(frozen=True)
class ThresholdGoal:
    """`until obj >= 10`"""

    objective: Name
    relation: Name
    value: Number


@dataclass(frozen=True)
class Lesson:
    name: Name
    follows: tuple[Name, ...]
    configure: ConfigureClause
    flows: tuple[FlowClause, ...]
    until: ObjectiveGoal | ThresholdGoal


@dataclass(frozen=True)
class CurriculumStatement:
    name: Name
    concept: Name
    clauses: tuple[CurriculumClause, ...]
    lessons: tuple[Lesson, ...]


Statement = (
    ConstantStatement
    | SchemaStatement
    | ConceptStatement
    | SimulatorStatement
    | AlgorithmStatement
    | CurriculumStatement
)


@dataclass(frozen=True)
class Program:
    statements: tuple[Statement, ...]
