"""The compiled Inkling program: what the REST layer and the learning engine read (spec §4.7–§4.9).

Only a program without errors is compiled, so everything here is resolved and consistent: every
schema reference points at a `Schema`, every curriculum has its concept, simulator, objective and
lessons in run order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .primitives import LUMINANCE, PRIMITIVES, PrimitiveType
from .syntax_tree import Position
from .value_sets import Value, ValueSet

ConceptKind = Literal["classifier", "estimator"]
Relation = Literal["==", "<", ">", "<=", ">="]
ParamValue = Value | tuple[Value, ...]


@dataclass(frozen=True)
class Field:
    """One schema field. `values` is its declared range (None when unconstrained)."""

    name: str
    type: str  # as written: "Int8", "Double", "Luminance", ...
    values: ValueSet | None = None
    width: int | None = None  # Luminance only
    height: int | None = None  # Luminance only
    position: Position | None = field(default=None, compare=False, repr=False)

    @property
    def primitive(self) -> PrimitiveType | None:
        """The primitive type (None for Luminance). `Double` and `Float64` give the same one."""
        return PRIMITIVES.get(self.type)

    @property
    def is_luminance(self) -> bool:
        return self.type == LUMINANCE

    @property
    def canonical_type(self) -> str:
        primitive = self.primitive
        return primitive.name if primitive is not None else self.type


@dataclass(frozen=True)
class Schema:
    """An ordered list of fields; anonymous schemas get names like `<simulator>_state`."""

    name: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field | None:
        return next((item for item in self.fields if item.name == name), None)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.fields)


@dataclass(frozen=True)
class Concept:
    name: str
    kind: ConceptKind
    input_schema: Schema  # from `follows input(...)`
    output_schema: Schema  # from `predicts (...)`

    @property
    def is_estimator(self) -> bool:
        return self.kind == "estimator"


@dataclass(frozen=True)
class Simulator:
    """A declared simulator. Action and state are None only for a simulator no curriculum uses."""

    name: str
    config_schema: Schema
    action_schema: Schema | None
    state_schema: Schema | None


@dataclass(frozen=True)
class Constraint:
    """`constrain field with Type{range}` in a lesson's `configure`: config values are drawn from `values`."""

    field: str
    type: str
    values: ValueSet


@dataclass(frozen=True)
class OptimizeGoal:
    """`until maximize obj` / `until minimize obj`"""

    direction: Literal["maximize", "minimize"]
    objective: str


@dataclass(frozen=True)
class ThresholdGoal:
    """`until obj >= value`"""

    objective: str
    relation: Relation
    value: float

    def is_met(self, score: float) -> bool:
        return {
            "==": score == self.value,
            "<": score < self.value,
            ">": score > self.value,
            "<=": score <= self.value,
            ">=": score >= self.value,
        }[self.relation]


@dataclass(frozen=True)
class Lesson:
    name: str
    follows: tuple[str, ...]
    constraints: tuple[Constraint, ...]
    until: OptimizeGoal | ThresholdGoal

    def constraint(self, field_name: str) -> Constraint | None:
        return next((item for item in self.constraints if item.field == field_name), None)


@dataclass(frozen=True)
class Algorithm:
    """The learner to run (spec §4.8.2): `runs` is the Stable-Baselines3 class name.

    `requested` is the Inkling algorithm as written (None when the concept kind's default applies).
    `parameters` are the Inkling parameters as written (global `algorithm` ones overridden by the
    curriculum's `using algorithm` ones), unknown and unsupported ones already dropped (W501/W503).
    """

    runs: Literal["PPO", "DQN", "SAC", "DDPG"]
    requested: str | None = None
    parameters: Mapping[str, ParamValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Curriculum:
    """How one concept is trained.

    The schemas here are the simulator's, with ranges completed from the concept's where only the
    concept gives one. In `action_schema` every classifier field has a finite value set (unconstrained
    Int8/UInt8 get their full range, Bool gets false/true) and every estimator field an interval
    ([-1, 1] by default, W506), so the engine can build its spaces from them directly.
    """

    name: str
    concept: Concept
    simulator: Simulator
    objective: str
    algorithm: Algorithm
    lessons: tuple[Lesson, ...]  # run order: topological by `follows`, ties in declaration order
    config_schema: Schema
    state_schema: Schema
    action_schema: Schema


@dataclass(frozen=True)
class CompiledProgram:
    constants: Mapping[str, Value]
    schemas: tuple[Schema, ...]  # named schemas, in declaration order
    concepts: tuple[Concept, ...]
    simulators: tuple[Simulator, ...]
    curricula: tuple[Curriculum, ...]

    @property
    def curriculum(self) -> Curriculum | None:
        """The curriculum to train: a BRAIN trains at most one concept (spec §5.5)."""
        return self.curricula[0] if self.curricula else None

    def schema(self, name: str) -> Schema | None:
        return next((item for item in self.schemas if item.name == name), None)

    def concept(self, name: str) -> Concept | None:
        return next((item for item in self.concepts if item.name == name), None)

    def simulator(self, name: str) -> Simulator | None:
        return next((item for item in self.simulators if item.name == name), None)
