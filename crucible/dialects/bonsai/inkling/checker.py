"""Semantic checks of spec §4.6 (E201–E414, W501–W506) and the building of the compiled program.

The checker reads the syntax tree once per statement kind, reporting into a DiagnosticSink, and
builds the `CompiledProgram` only when no error was found. Names of statements dropped by a syntax
error are known ("broken"), so a reference to one of them does not add an "undefined" error.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from typing import Literal, TypeVar

from . import syntax_tree as st
from .algorithms import ALGORITHMS, DEFAULT_LEARNER, AlgorithmSpec, classify_parameter
from .diagnostics import DiagnosticSink
from .parser import BrokenStatement
from .primitives import PRIMITIVES, UNSUPPORTED_STRUCTURED_TYPES, PrimitiveType
from .program import (
    Algorithm,
    CompiledProgram,
    Concept,
    ConceptKind,
    Constraint,
    Curriculum,
    Field,
    Lesson,
    OptimizeGoal,
    ParamValue,
    Schema,
    Simulator,
    ThresholdGoal,
)
from .ranges import RangeEvaluator, scalar_value, show_value
from .value_sets import Interval, Progression, Value, ValueList, is_subset, same_values

MAX_JOINT_ACTIONS = 4096
LUMINANCE_SIDE = (1, 4096)

SchemaRole = Literal["config", "action", "state"]
StatementT = TypeVar("StatementT")


def check(
    program: st.Program, broken: tuple[BrokenStatement, ...], sink: DiagnosticSink
) -> CompiledProgram | None:
    """Check `program`, reporting into `sink`; the compiled program if there is no error at all."""
    return _Checker(program, broken, sink).run()


@dataclass
class _ConceptInfo:
    statement: st.ConceptStatement
    kind: ConceptKind | None
    input_schema: Schema | None
    output_schema: Schema | None
    predicts_at: st.Position | None
    curricula: list[_CurriculumInfo] = field(default_factory=list)
    action_schema: Schema | None = None  # set by _check_outputs: every field with its value set

    @property
    def name(self) -> str:
        return self.statement.name.text


@dataclass
class _SimulatorInfo:
    statement: st.SimulatorStatement
    config: Schema | None
    action: Schema | None
    state: Schema | None
    has_action: bool
    has_state: bool

    @property
    def name(self) -> str:
        return self.statement.name.text


@dataclass
class _CurriculumInfo:
    statement: st.CurriculumStatement
    concept: _ConceptInfo | None
    simulator: _SimulatorInfo | None
    objective: str | None
    algorithm: Algorithm | None
    lessons: tuple[Lesson, ...] | None
    merged_action: Schema | None  # simulator action schema with the concept's ranges
    merged_state: Schema | None


class _Checker:
    def __init__(
        self, program: st.Program, broken: tuple[BrokenStatement, ...], sink: DiagnosticSink
    ) -> None:
        self.program = program
        self.sink = sink
        self.broken_names = {item.name for item in broken if item.name is not None}
        self.has_broken_curriculum = any(item.keyword == "curriculum" for item in broken)
        self.ranges = RangeEvaluator(sink, self._resolve_constant)
        # The first statement of each name; later ones are duplicates (E201).
        self.first: dict[str, st.Statement] = {}
        self.duplicates: set[int] = set()
        self.constant_values: dict[str, Value | None] = {}
        self.constants_in_progress: set[str] = set()
        self.schemas: dict[str, Schema | None] = {}
        self.algorithms: dict[str, tuple[AlgorithmSpec | None, dict[str, ParamValue]]] = {}

    def run(self) -> CompiledProgram | None:
        self._collect_names()
        for statement in self._statements(st.ConstantStatement):
            self._check_constant(statement)
        for statement in self._statements(st.SchemaStatement):
            schema = self._build_schema(statement.name.text, statement.fields)
            if not self._is_duplicate(statement):
                self.schemas[statement.name.text] = schema
        for statement in self._statements(st.AlgorithmStatement):
            checked = self._check_algorithm(statement)
            if not self._is_duplicate(statement):
                self.algorithms[statement.name.text] = checked
        concepts = [self._check_concept(statement) for statement in self._statements(st.ConceptStatement)]
        simulators = [
            self._check_simulator(statement) for statement in self._statements(st.SimulatorStatement)
        ]
        concept_by_name = {info.name: info for info in concepts if not self._is_duplicate(info.statement)}
        simulator_by_name = {info.name: info for info in simulators if not self._is_duplicate(info.statement)}
        curricula = [
            self._check_curriculum(statement, concept_by_name, simulator_by_name)
            for statement in self._statements(st.CurriculumStatement)
        ]
        for info in concept_by_name.values():
            self._check_outputs(info)
        self._check_concept_count(list(concept_by_name.values()))
        if self.sink.has_errors:
            return None
        return self._build(list(concept_by_name.values()), list(simulator_by_name.values()), curricula)

    # --- Names and constants ----------------------------------------------------------------------

    def _statements(self, kind: type[StatementT]) -> list[StatementT]:
        return [statement for statement in self.program.statements if isinstance(statement, kind)]

    def _collect_names(self) -> None:
        for statement in self.program.statements:
            name = statement.name
            if name.text in self.first:
                self.sink.report("E201", f"duplicate name '{name.text}'", name.position)
                self.duplicates.add(id(statement))
            else:
                self.first[name.text] = statement

    def _is_duplicate(self, statement: st.Statement) -> bool:
        return id(statement) in self.duplicates

    def _lookup(self, kind: type[StatementT], name: str) -> StatementT | None:
        statement = self.first.get(name)
        return statement if isinstance(statement, kind) else None

    def _report_undefined(self, code: str, what: str, name: st.Name) -> None:
        """E202–E206, unless the name belongs to a statement that failed to parse."""
        if name.text not in self.broken_names:
            self.sink.report(code, f"undefined {what} '{name.text}'", name.position)

    def _resolve_constant(self, ref: st.ConstantRef) -> Value | None:
        statement = self._lookup(st.ConstantStatement, ref.name)
        if statement is None:
            self._report_undefined("E205", "constant", st.Name(ref.name, ref.position))
            return None
        if ref.name in self.constants_in_progress:
            self.sink.report("E205", f"constant '{ref.name}' is defined in terms of itself", ref.position)
            return None
        return self._check_constant(statement)

    def _check_constant(self, statement: st.ConstantStatement) -> Value | None:
        """The constant's value converted to its type (memoised), or None after reporting why not."""
        name = statement.name.text
        duplicate = self._is_duplicate(statement)
        if not duplicate and name in self.constant_values:
            return self.constant_values[name]
        self.constants_in_progress.add(name)
        primitive = self._primitive(statement.type)
        value = scalar_value(statement.value, self._resolve_constant)
        self.constants_in_progress.discard(name)
        typed = None
        if primitive is not None and value is not None:
            typed = self._constant_of_type(value, primitive, statement)
        if not duplicate:
            self.constant_values[name] = typed
        return typed

    def _constant_of_type(
        self, value: Value, primitive: PrimitiveType, statement: st.ConstantStatement
    ) -> Value | None:
        at = statement.value.position
        mismatch = (
            f"constant '{statement.name.text}' of type {statement.type.text} cannot hold {show_value(value)}"
        )
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if primitive.is_integer and is_number and (isinstance(value, int) or value.is_integer()):
            converted: Value = int(value)
        elif primitive.is_float and is_number:
            try:
                converted = float(value)
            except OverflowError:
                converted = float("inf")
        elif (primitive.kind == "bool" and isinstance(value, bool)) or (
            primitive.kind == "string" and isinstance(value, str)
        ):
            return value
        else:
            self.sink.report("E303", mismatch, at)
            return None
        if not primitive.holds(converted):  # type: ignore[arg-type]
            self.sink.report(
                "E303", f"value {show_value(value)} is not representable in {primitive.name}", at
            )
            return None
        return converted

    # --- Schemas ----------------------------------------------------------------------------------

    def _primitive(self, type_name: st.Name) -> PrimitiveType | None:
        primitive = PRIMITIVES.get(type_name.text)
        if primitive is None:
            self._unknown_type(type_name)
        return primitive

    def _unknown_type(self, type_name: st.Name) -> None:
        if type_name.text in UNSUPPORTED_STRUCTURED_TYPES:
            self.sink.report("E302", f"{type_name.text} types are not supported", type_name.position)
        else:
            self.sink.report("E301", f"unknown type '{type_name.text}'", type_name.position)

    def _build_schema(self, name: str, fields: tuple[st.Field, ...]) -> Schema | None:
        """A schema from its field declarations; None (after reporting) if any field is invalid."""
        built: list[Field] = []
        seen: set[str] = set()
        valid = True
        for declaration in fields:
            field_name = declaration.name
            if field_name.text in seen:
                self.sink.report("E201", f"duplicate name '{field_name.text}'", field_name.position)
                valid = False
            seen.add(field_name.text)
            built_field = self._build_field(declaration)
            if built_field is None:
                valid = False
            else:
                built.append(built_field)
        return Schema(name, tuple(built)) if valid else None

    def _build_field(self, declaration: st.Field) -> Field | None:
        if isinstance(declaration, st.StructuredField):
            self._unknown_type(declaration.type)
            return None
        if isinstance(declaration, st.LuminanceField):
            valid = True
            for side, literal in (("width", declaration.width), ("height", declaration.height)):
                if not LUMINANCE_SIDE[0] <= int(literal.value) <= LUMINANCE_SIDE[1]:
                    text = f"Luminance {side} {show_value(literal.value)} is outside 1..4096"
                    self.sink.report("E414", text, literal.position)
                    valid = False
            if not valid:
                return None
            return Field(
                declaration.name.text,
                "Luminance",
                width=int(declaration.width.value),
                height=int(declaration.height.value),
                position=declaration.keyword.position,
            )
        primitive = self._primitive(declaration.type)
        if primitive is None:
            return None
        values = None
        if declaration.range is not None:
            values = self.ranges.evaluate(declaration.range, primitive)
            if values is None:
                return None
        return Field(declaration.name.text, declaration.type.text, values, position=declaration.type.position)

    def _resolve_schema(self, ref: st.SchemaRef, anonymous_name: str) -> Schema | None:
        """The schema a reference denotes; None if it is undefined or invalid (already reported)."""
        if isinstance(ref, st.EmptySchemaRef):
            return Schema(anonymous_name, ())
        if isinstance(ref, st.InlineSchemaRef):
            return self._build_schema(anonymous_name, ref.fields)
        if self._lookup(st.SchemaStatement, ref.name.text) is None:
            self._report_undefined("E202", "schema", ref.name)
            return None
        return self.schemas.get(ref.name.text)

    def _check_role(self, schema: Schema | None, role: SchemaRole) -> Schema | None:
        """E414 for Luminance in a config or action schema, unconstrained String in a state or action one."""
        if schema is None:
            return None
        valid = True
        for item in schema.fields:
            assert item.position is not None
            if item.is_luminance and role in ("config", "action"):
                self.sink.report(
                    "E414", f"Luminance field '{item.name}' is not allowed in {role} schema", item.position
                )
                valid = False
            if item.type == "String" and item.values is None and role in ("state", "action"):
                text = f"String field '{item.name}' in {role} schema needs a list of values"
                self.sink.report("E414", text, item.position)
                valid = False
        return schema if valid else None

    # --- Concepts, simulators, algorithms ---------------------------------------------------------

    def _check_concept(self, statement: st.ConceptStatement) -> _ConceptInfo:
        name = statement.name.text
        is_clauses = [clause for clause in statement.clauses if isinstance(clause, st.IsClause)]
        predicts = [clause for clause in statement.clauses if isinstance(clause, st.PredictsClause)]
        sources = [
            source
            for clause in statement.clauses
            if isinstance(clause, st.FollowsClause)
            for source in clause.sources
        ]
        inputs = [source for source in sources if isinstance(source, st.InputSource)]

        kind: ConceptKind | None = None
        if not is_clauses:
            self.sink.report(
                "E401",
                f"concept '{name}' has no 'is classifier' or 'is estimator' clause",
                statement.name.position,
            )
        else:
            self._duplicate_clauses("is", f"concept '{name}'", [clause.keyword for clause in is_clauses])
            written = is_clauses[0].kind
            if written.text == "classifier" or written.text == "estimator":
                kind = written.text
            else:
                self.sink.report("E301", f"unknown concept kind '{written.text}'", written.position)

        output_schema = None
        if not predicts:
            self.sink.report("E401", f"concept '{name}' has no 'predicts' clause", statement.name.position)
        else:
            self._duplicate_clauses("predicts", f"concept '{name}'", [clause.keyword for clause in predicts])
            output_schema = self._resolve_schema(predicts[0].schema, f"{name}_output")
            if output_schema is not None and not output_schema.fields:
                self.sink.report("E401", f"concept '{name}' predicts no fields", predicts[0].keyword.position)
                output_schema = None
            output_schema = self._check_role(output_schema, "action")

        input_schema = None
        if not inputs:
            self.sink.report("E401", f"concept '{name}' does not follow input(...)", statement.name.position)
        else:
            self._duplicate_clauses("input", f"concept '{name}'", [source.keyword for source in inputs])
            input_schema = self._resolve_schema(inputs[0].schema, f"{name}_input")
            if input_schema is not None and not input_schema.fields:
                self.sink.report(
                    "E401", f"input of concept '{name}' has no fields", inputs[0].keyword.position
                )
                input_schema = None
            input_schema = self._check_role(input_schema, "state")

        for source in sources:
            if isinstance(source, st.ConceptSource):
                self._concept_graph_reference(name, "follows", source.name)
        for clause in statement.clauses:
            if isinstance(clause, st.FeedsClause):
                for target in clause.targets:
                    if target.text != "output":
                        self._concept_graph_reference(name, "feeds", target)

        predicts_at = predicts[0].keyword.position if predicts else None
        return _ConceptInfo(statement, kind, input_schema, output_schema, predicts_at)

    def _concept_graph_reference(self, concept: str, verb: str, target: st.Name) -> None:
        if self._lookup(st.ConceptStatement, target.text) is not None:
            text = f"concept '{concept}' {verb} concept '{target.text}': concept graphs are not supported"
            self.sink.report("E413", text, target.position)
        else:
            self._report_undefined("E203", "concept", target)

    def _duplicate_clauses(self, clause: str, owner: str, keywords: list[st.Name]) -> None:
        for keyword in keywords[1:]:
            self.sink.report("E201", f"duplicate '{clause}' clause in {owner}", keyword.position)

    def _check_simulator(self, statement: st.SimulatorStatement) -> _SimulatorInfo:
        name = statement.name.text
        owner = f"simulator '{name}'"
        config = self._check_role(self._resolve_schema(statement.config, f"{name}_config"), "config")
        actions = [clause for clause in statement.clauses if isinstance(clause, st.ActionClause)]
        states = [clause for clause in statement.clauses if isinstance(clause, st.StateClause)]
        self._duplicate_clauses("action", owner, [clause.keyword for clause in actions])
        self._duplicate_clauses("state", owner, [clause.keyword for clause in states])
        action = state = None
        if actions:
            action = self._check_role(self._resolve_schema(actions[0].schema, f"{name}_action"), "action")
        if states:
            state = self._check_role(self._resolve_schema(states[0].schema, f"{name}_state"), "state")
        return _SimulatorInfo(statement, config, action, state, bool(actions), bool(states))

    def _check_algorithm(
        self, statement: st.AlgorithmStatement
    ) -> tuple[AlgorithmSpec | None, dict[str, ParamValue]]:
        spec = ALGORITHMS.get(statement.kind.text)
        if spec is None:
            self.sink.report("E409", f"unknown algorithm '{statement.kind.text}'", statement.kind.position)
        return spec, self._parameters(statement.params, spec)

    def _parameters(self, params: tuple[st.Param, ...], spec: AlgorithmSpec | None) -> dict[str, ParamValue]:
        """Parameter values by name; W501/W503 for names the learner does not use (those are dropped)."""
        result: dict[str, ParamValue] = {}
        for param in params:
            name = param.name.text
            value = self._parameter_value(param.value)
            if value is None:
                continue
            verdict = classify_parameter(name, spec.runs) if spec is not None else "known"
            if verdict == "unknown":
                self.sink.report(
                    "W501", f"unknown algorithm parameter '{name}' is ignored", param.name.position
                )
                continue
            if verdict == "unsupported":
                text = f"algorithm parameter '{name}' is accepted but not supported"
                self.sink.report("W503", text, param.name.position)
                continue
            if name == "hidden_layer_activation_descriptor" and isinstance(value, tuple) and len(value) > 1:
                text = f"only the first activation {show_value(value[0])} of '{name}' is used"
                self.sink.report("W503", text, param.name.position)
            result[name] = value
        return result

    def _parameter_value(self, value: st.Scalar | st.ListValue) -> ParamValue | None:
        if isinstance(value, st.ListValue):
            items = [scalar_value(item, self._resolve_constant) for item in value.items]
            if any(item is None for item in items):
                return None
            return tuple(item for item in items if item is not None)
        return scalar_value(value, self._resolve_constant)

    # --- Curricula --------------------------------------------------------------------------------

    def _check_curriculum(
        self,
        statement: st.CurriculumStatement,
        concepts: dict[str, _ConceptInfo],
        simulators: dict[str, _SimulatorInfo],
    ) -> _CurriculumInfo:
        name = statement.name.text
        owner = f"curriculum '{name}'"
        concept = concepts.get(statement.concept.text)
        if concept is None:
            self._report_undefined("E203", "concept", statement.concept)

        with_clauses = [clause for clause in statement.clauses if isinstance(clause, st.WithSimulatorClause)]
        objectives = [clause for clause in statement.clauses if isinstance(clause, st.ObjectiveClause)]
        usings = [clause for clause in statement.clauses if isinstance(clause, st.UsingAlgorithmClause)]
        self._duplicate_clauses("with simulator", owner, [clause.keyword for clause in with_clauses])
        self._duplicate_clauses("objective", owner, [clause.keyword for clause in objectives])
        self._duplicate_clauses("using algorithm", owner, [clause.keyword for clause in usings])
        for missing, clauses in (
            ("'with simulator' clause", with_clauses),
            ("'objective' clause", objectives),
        ):
            if not clauses:
                self.sink.report("E412", f"{owner} has no {missing}", statement.name.position)
        if not statement.lessons:
            self.sink.report("E412", f"{owner} has no lessons", statement.name.position)

        simulator = None
        if with_clauses:
            clause = with_clauses[0]
            simulator = simulators.get(clause.simulator.text)
            if simulator is None:
                self._report_undefined("E204", "simulator", clause.simulator)
            elif clause.config is not None:
                written = self._resolve_schema(clause.config, f"{simulator.name}_config")
                self._match_config(written, simulator, _ref_position(clause.config))

        merged_action = merged_state = None
        if concept is not None and simulator is not None:
            at = with_clauses[0].simulator.position
            merged_action = self._match_simulator(simulator, concept, "action", at)
            merged_state = self._match_simulator(simulator, concept, "state", at)

        info = _CurriculumInfo(
            statement,
            concept,
            simulator,
            objectives[0].objective.text if objectives else None,
            self._curriculum_algorithm(usings[0] if usings else None, concept),
            self._check_lessons(statement, simulator),
            merged_action,
            merged_state,
        )
        if concept is not None and not self._is_duplicate(statement):
            if concept.curricula:
                text = f"concept '{concept.name}' has more than one curriculum"
                self.sink.report("E403", text, statement.concept.position)
            concept.curricula.append(info)
        return info

    def _match_config(self, written: Schema | None, simulator: _SimulatorInfo, at: st.Position) -> None:
        if written is None or simulator.config is None:
            return
        difference = schema_difference(written, simulator.config)
        if difference is not None:
            text = (
                f"config schema '{written.name}' does not match the config schema of simulator "
                f"'{simulator.name}': {difference}"
            )
            self.sink.report("E406", text, at)

    def _match_simulator(
        self,
        simulator: _SimulatorInfo,
        concept: _ConceptInfo,
        role: Literal["action", "state"],
        at: st.Position,
    ) -> Schema | None:
        """E404/E405 unless the simulator's schema matches the concept's; the merged schema if it does."""
        code, has_clause, wire = ("E404", simulator.has_action, simulator.action)
        declared, concept_side = concept.output_schema, "predicts"
        if role == "state":
            code, has_clause, wire = ("E405", simulator.has_state, simulator.state)
            declared, concept_side = concept.input_schema, "input"
        if not has_clause:
            self.sink.report(code, f"simulator '{simulator.name}' has no {role} schema", at)
            return None
        if wire is None or declared is None:
            return None
        difference = schema_difference(wire, declared)
        if difference is not None:
            text = (
                f"{role} schema of simulator '{simulator.name}' does not match the {concept_side} schema "
                f"of concept '{concept.name}': {difference}"
            )
            self.sink.report(code, text, at)
            return None
        return merge_ranges(wire, declared)

    def _curriculum_algorithm(
        self, using: st.UsingAlgorithmClause | None, concept: _ConceptInfo | None
    ) -> Algorithm | None:
        kind = concept.kind if concept is not None else None
        if using is None:
            return Algorithm(DEFAULT_LEARNER[kind]) if kind is not None else None
        name = using.algorithm
        statement = self._lookup(st.AlgorithmStatement, name.text)
        if statement is not None:
            spec, base_parameters = self.algorithms[name.text]
            written = statement.kind.text
        elif name.text in ALGORITHMS:
            spec, base_parameters, written = ALGORITHMS[name.text], {}, name.text
        else:
            if name.text not in self.broken_names:
                self.sink.report("E409", f"unknown algorithm '{name.text}'", name.position)
            return None
        parameters = self._parameters(using.params, spec)
        if spec is None or kind is None:
            return None
        if kind not in spec.concept_kinds:
            text = f"algorithm '{written}' cannot train {kind} concept '{concept.name}'"  # type: ignore[union-attr]
            self.sink.report("E409", text, name.position)
            return None
        if spec.mapped:
            self.sink.report("W502", f"algorithm '{written}' is mapped to '{spec.runs}'", name.position)
        return Algorithm(spec.runs, written, {**base_parameters, **parameters})

    # --- Lessons ----------------------------------------------------------------------------------

    def _check_lessons(
        self, statement: st.CurriculumStatement, simulator: _SimulatorInfo | None
    ) -> tuple[Lesson, ...] | None:
        declared: dict[str, st.Lesson] = {}
        for lesson in statement.lessons:
            if lesson.name.text in declared:
                self.sink.report("E201", f"duplicate name '{lesson.name.text}'", lesson.name.position)
            else:
                declared[lesson.name.text] = lesson
        built: dict[str, Lesson | None] = {}
        for lesson in statement.lessons:
            checked = self._check_lesson(lesson, declared, simulator)
            if declared[lesson.name.text] is lesson:
                built[lesson.name.text] = checked
        order = self._lesson_order(declared)
        if order is None:
            return None
        lessons = [built[name] for name in order]
        return tuple(lesson for lesson in lessons if lesson is not None) if all(lessons) else None

    def _check_lesson(
        self, lesson: st.Lesson, declared: dict[str, st.Lesson], simulator: _SimulatorInfo | None
    ) -> Lesson | None:
        for follows in lesson.follows:
            if follows.text not in declared:
                self._report_undefined("E206", "lesson", follows)
        config = simulator.config if simulator is not None else None
        configure = lesson.configure
        if configure.schema is not None:
            written = self._resolve_schema(st.NamedSchemaRef(configure.schema), configure.schema.text)
            if simulator is not None:
                self._match_config(written, simulator, configure.schema.position)
        constraints = self._check_constraints(configure.constraints, config)
        for flow in lesson.flows:
            text = f"'{flow.keyword.text}' clause of lesson '{lesson.name.text}' is ignored"
            self.sink.report("W504", text, flow.keyword.position)
        goal = self._goal(lesson.until)
        if constraints is None or goal is None:
            return None
        return Lesson(lesson.name.text, tuple(name.text for name in lesson.follows), constraints, goal)

    def _check_constraints(
        self, constraints: tuple[st.Constraint, ...], config: Schema | None
    ) -> tuple[Constraint, ...] | None:
        result: list[Constraint] = []
        seen: set[str] = set()
        valid = True
        for constraint in constraints:
            field_name = constraint.field.text
            if field_name in seen:
                self.sink.report("E201", f"duplicate name '{field_name}'", constraint.field.position)
                valid = False
            seen.add(field_name)
            primitive = self._primitive(constraint.type)
            values = self.ranges.evaluate(constraint.range, primitive) if primitive is not None else None
            if primitive is None or values is None:
                valid = False
                continue
            if config is None:
                continue
            config_field = config.field(field_name)
            if config_field is None:
                text = f"field '{field_name}' is not in the config schema '{config.name}'"
                self.sink.report("E406", text, constraint.field.position)
                valid = False
            elif config_field.canonical_type != primitive.name:
                text = f"type {constraint.type.text} differs from {config_field.type} of field '{field_name}'"
                self.sink.report("E406", text, constraint.type.position)
                valid = False
            elif config_field.values is not None and not is_subset(values, config_field.values):
                text = f"range is not a subset of the range of field '{field_name}'"
                self.sink.report("E406", text, constraint.range.position)
                valid = False
            else:
                result.append(Constraint(field_name, config_field.type, values))
        return tuple(result) if valid else None

    def _goal(self, until: st.ObjectiveGoal | st.ThresholdGoal) -> OptimizeGoal | ThresholdGoal | None:
        if isinstance(until, st.ObjectiveGoal):
            direction = "maximize" if until.direction.text == "maximize" else "minimize"
            return OptimizeGoal(direction, until.objective.text)
        value = scalar_value(until.value, self._resolve_constant)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.sink.report("E303", f"value {show_value(value)} is not a number", until.value.position)
            return None
        relation = until.relation.text
        assert relation in ("==", "<", ">", "<=", ">=")
        try:
            threshold = float(value)
        except OverflowError:
            self.sink.report(
                "E303", f"value {show_value(value)} is not representable in Float64", until.value.position
            )
            return None
        return ThresholdGoal(until.objective.text, relation, threshold)

    def _lesson_order(self, declared: dict[str, st.Lesson]) -> list[str] | None:
        """Lessons in run order (topological by `follows`, ties in declaration order); E411 on cycles."""
        names = list(declared)
        index = {name: position for position, name in enumerate(names)}
        needs = {
            name: sorted({ref.text for ref in declared[name].follows if ref.text in declared})
            for name in names
        }
        followers: dict[str, list[str]] = {name: [] for name in names}
        for name in names:
            for required in needs[name]:
                followers[required].append(name)
        waiting = {name: len(needs[name]) for name in names}
        ready = [index[name] for name in names if waiting[name] == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            name = names[heapq.heappop(ready)]
            order.append(name)
            for follower in followers[name]:
                waiting[follower] -= 1
                if waiting[follower] == 0:
                    heapq.heappush(ready, index[follower])
        if len(order) == len(names):
            return order
        for group in strongly_connected(names, needs):
            if len(group) == 1 and group[0] not in needs[group[0]]:
                continue
            group.sort(key=index.__getitem__)
            if len(group) == 1:
                text = f"lesson '{group[0]}' follows itself"
            else:
                shown = ", ".join(f"'{name}'" for name in group[:5]) + (", …" if len(group) > 5 else "")
                text = f"lessons {shown} follow each other in a cycle"
            self.sink.report("E411", text, declared[group[0]].name.position)
        return None

    # --- Whole program ----------------------------------------------------------------------------

    def _check_outputs(self, concept: _ConceptInfo) -> None:
        """E407/E408/W506 on the concept's actions, and `concept.action_schema` for the engine.

        The actions are the simulator's action schema with the concept's ranges when a curriculum
        pairs them, else the concept's own `predicts` schema.
        """
        merged = concept.curricula[0].merged_action if concept.curricula else None
        schema = merged or concept.output_schema
        if schema is None or concept.kind is None:
            return
        if concept.kind == "classifier":
            concept.action_schema = self._classifier_actions(concept, schema)
        else:
            concept.action_schema = self._estimator_actions(schema)

    def _classifier_actions(self, concept: _ConceptInfo, schema: Schema) -> Schema | None:
        fields: list[Field] = []
        joint = 1
        for item in schema.fields:
            assert item.position is not None and item.primitive is not None
            values = item.values
            if values is None and item.primitive.kind == "bool":
                values = ValueList((False, True))
            elif values is None and item.primitive.name in ("Int8", "UInt8"):
                assert item.primitive.low is not None
                values = Progression(item.primitive.low, 1, 256)
            if values is None or isinstance(values, Interval):
                text = f"classifier output field '{item.name}' has no finite set of values"
                self.sink.report("E407", text, item.position)
                continue
            joint *= values.count
            fields.append(replace(item, values=values))
        if len(fields) < len(schema.fields):
            return None
        if joint > MAX_JOINT_ACTIONS:
            text = f"concept '{concept.name}' has {joint} joint actions, more than {MAX_JOINT_ACTIONS}"
            assert concept.predicts_at is not None
            self.sink.report("E407", text, concept.predicts_at)
            return None
        return Schema(schema.name, tuple(fields))

    def _estimator_actions(self, schema: Schema) -> Schema | None:
        fields: list[Field] = []
        for item in schema.fields:
            assert item.position is not None
            if item.primitive is None or not item.primitive.is_float:
                text = f"estimator output field '{item.name}' must be Float32 or Float64, not {item.type}"
                self.sink.report("E408", text, item.position)
            elif item.values is None:
                self.sink.report(
                    "W506", f"estimator output field '{item.name}' has no range; using [-1, 1]", item.position
                )
                fields.append(replace(item, values=Interval(-1.0, 1.0)))
            elif not isinstance(item.values, Interval):
                text = f"estimator field '{item.name}' needs a {{low:high}} range, not a step, list or dots"
                self.sink.report("E408", text, item.position)
            else:
                fields.append(item)
        return Schema(schema.name, tuple(fields)) if len(fields) == len(schema.fields) else None

    def _check_concept_count(self, concepts: list[_ConceptInfo]) -> None:
        """E402 for a concept nothing trains, E413 for every trained concept after the first."""
        trained = [concept for concept in concepts if concept.curricula]
        for concept in concepts:
            if not concept.curricula and not self.has_broken_curriculum:
                self.sink.report(
                    "E402", f"concept '{concept.name}' has no curriculum", concept.statement.name.position
                )
        for concept in trained[1:]:
            text = f"more than one trained concept per BRAIN: '{concept.name}' after '{trained[0].name}'"
            self.sink.report("E413", text, concept.statement.name.position)

    def _build(
        self, concepts: list[_ConceptInfo], simulators: list[_SimulatorInfo], curricula: list[_CurriculumInfo]
    ) -> CompiledProgram:
        """Assemble the model; only called without errors, so every part is present."""
        built_concepts = {
            info.name: Concept(info.name, info.kind, info.input_schema, info.output_schema)  # type: ignore[arg-type]
            for info in concepts
        }
        built_simulators = {
            info.name: Simulator(info.name, info.config, info.action, info.state)  # type: ignore[arg-type]
            for info in simulators
        }
        built_curricula = []
        for info in curricula:
            assert (
                info.concept is not None and info.simulator is not None and info.simulator.config is not None
            )
            built_curricula.append(
                Curriculum(
                    name=info.statement.name.text,
                    concept=built_concepts[info.concept.name],
                    simulator=built_simulators[info.simulator.name],
                    objective=info.objective,  # type: ignore[arg-type]
                    algorithm=info.algorithm,  # type: ignore[arg-type]
                    lessons=info.lessons,  # type: ignore[arg-type]
                    config_schema=info.simulator.config,
                    state_schema=info.merged_state,  # type: ignore[arg-type]
                    action_schema=info.concept.action_schema,  # type: ignore[arg-type]
                )
            )
        return CompiledProgram(
            constants={name: value for name, value in self.constant_values.items() if value is not None},
            schemas=tuple(schema for schema in self.schemas.values() if schema is not None),
            concepts=tuple(built_concepts.values()),
            simulators=tuple(built_simulators.values()),
            curricula=tuple(built_curricula),
        )


def schema_difference(actual: Schema, expected: Schema) -> str | None:
    """Why `actual` does not match `expected` structurally (§4.6), or None when it does."""
    if len(actual.fields) != len(expected.fields):
        return f"it has {len(actual.fields)} field(s), expected {len(expected.fields)}"
    for number, (mine, theirs) in enumerate(zip(actual.fields, expected.fields, strict=True), start=1):
        if mine.name != theirs.name:
            return f"field {number} is '{mine.name}', expected '{theirs.name}'"
        if mine.canonical_type != theirs.canonical_type:
            return f"field '{mine.name}' is {mine.type}, expected {theirs.type}"
        if mine.is_luminance and (mine.width, mine.height) != (theirs.width, theirs.height):
            return (
                f"field '{mine.name}' is Luminance({mine.width}, {mine.height}), "
                f"expected Luminance({theirs.width}, {theirs.height})"
            )
        if (
            mine.values is not None
            and theirs.values is not None
            and not same_values(mine.values, theirs.values)
        ):
            return f"field '{mine.name}' has a different range"
    return None


def merge_ranges(wire: Schema, declared: Schema) -> Schema:
    """The simulator's schema with each field's range (and position) from the concept where it has one."""
    fields = []
    for mine, theirs in zip(wire.fields, declared.fields, strict=True):
        values = theirs.values if theirs.values is not None else mine.values
        fields.append(replace(mine, values=values, position=theirs.position))
    return Schema(wire.name, tuple(fields))


def strongly_connected(names: list[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Groups of names that all reach each other through `edges` (Kosaraju's algorithm, iterative)."""
    finished: list[str] = []
    visited: set[str] = set()
    for root in names:
        if root in visited:
            continue
        visited.add(root)
        stack = [(root, iter(edges[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                finished.append(node)
            elif child not in visited:
                visited.add(child)
                stack.append((child, iter(edges[child])))
    reverse: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        for target in edges[name]:
            reverse[target].append(name)
    assigned: set[str] = set()
    groups: list[list[str]] = []
    for root in reversed(finished):
        if root in assigned:
            continue
        assigned.add(root)
        group, stack_nodes = [], [root]
        while stack_nodes:
            node = stack_nodes.pop()
            group.append(node)
            for source in reverse[node]:
                if source not in assigned:
                    assigned.add(source)
                    stack_nodes.append(source)
        groups.append(group)
    return groups


def _ref_position(ref: st.SchemaRef) -> st.Position:
    return ref.name.position if isinstance(ref, st.NamedSchemaRef) else ref.position
