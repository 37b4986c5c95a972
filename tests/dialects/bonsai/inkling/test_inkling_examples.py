"""The example programs compile, and the compiled model holds what the engine and REST layer need."""

from __future__ import annotations

import pytest
from inkling_examples import CARTPOLE, ESTIMATOR, EXAMPLES, FIND_THE_CENTER, FULL_CLASSIFIER

from crucible.dialects.bonsai.inkling import (
    Interval,
    OptimizeGoal,
    Progression,
    ThresholdGoal,
    ValueList,
    compile_inkling,
)
from crucible.dialects.bonsai.inkling.program import CompiledProgram, Curriculum


def compiled(source: str) -> CompiledProgram:
    result = compile_inkling(source)
    assert result.success, [str(error) for error in result.errors]
    assert result.program is not None
    return result.program


def trained(source: str) -> Curriculum:
    curriculum = compiled(source).curriculum
    assert curriculum is not None
    return curriculum


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_compiles(name: str) -> None:
    result = compile_inkling(EXAMPLES[name])
    assert result.success, [str(error) for error in result.errors]
    assert result.compiler_version == "1.9.0"


def test_find_the_center_model() -> None:
    program = compiled(FIND_THE_CENTER)
    assert [schema.name for schema in program.schemas] == ["GameState", "PlayerMove", "SimConfig"]
    assert [simulator.name for simulator in program.simulators] == ["find_the_center_sim"]
    curriculum = trained(FIND_THE_CENTER)
    assert curriculum.name == "find_the_center_curriculum"
    assert curriculum.concept.name == "find_the_center" and curriculum.concept.kind == "classifier"
    assert not curriculum.concept.is_estimator
    assert curriculum.simulator.name == "find_the_center_sim"
    assert curriculum.objective == "time_at_goal"
    assert curriculum.algorithm.runs == "PPO" and curriculum.algorithm.requested is None
    assert curriculum.config_schema.field_names == ("dummy",)
    assert curriculum.state_schema.name == "GameState" and curriculum.state_schema.field_names == ("value",)
    assert curriculum.action_schema.name == "PlayerMove"
    assert curriculum.action_schema.fields[0].values == ValueList((-1, 0, 1))
    (lesson,) = curriculum.lessons
    assert lesson.name == "seek_center"
    assert lesson.constraint("dummy") is not None
    assert lesson.constraint("dummy").values == ValueList((-1,))  # type: ignore[union-attr]
    assert lesson.until == OptimizeGoal("maximize", "time_at_goal")


def test_cartpole_model() -> None:
    curriculum = trained(CARTPOLE)
    assert curriculum.state_schema.field_names == ("position", "velocity", "angle", "rotation")
    assert {field.type for field in curriculum.state_schema.fields} == {"Float32"}
    assert [(field.name, field.type) for field in curriculum.config_schema.fields] == [
        ("episode_length", "Int8"),
        ("deque_size", "UInt8"),
    ]
    assert curriculum.objective == "open_ai_gym_default_objective"
    assert [(c.field, c.values) for c in curriculum.lessons[0].constraints] == [
        ("episode_length", ValueList((-1,))),
        ("deque_size", ValueList((1,))),
    ]


def test_full_classifier_model() -> None:
    program = compiled(FULL_CLASSIFIER)
    assert program.constants == {"max_speed": 3, "ratio": 0.5, "fast": "fast"}
    observation = program.schema("Observation")
    assert observation is not None
    camera = observation.field("camera")
    assert camera is not None and camera.is_luminance and (camera.width, camera.height) == (8, 4)
    assert observation.field("z").canonical_type == "Float64"  # type: ignore[union-attr]
    simulator = program.simulator("car_sim")
    assert simulator is not None and simulator.action_schema is not None
    assert simulator.action_schema.name == "Move"  # `control` is `action`

    curriculum = trained(FULL_CLASSIFIER)
    # Lessons run in `follows` order, not declaration order.
    assert [lesson.name for lesson in curriculum.lessons] == ["warm_up", "full"]
    warm_up, full = curriculum.lessons
    assert warm_up.until == ThresholdGoal("reach_goal", ">=", 10.0)
    assert warm_up.until.is_met(10.0) and not warm_up.until.is_met(9.5)  # type: ignore[union-attr]
    assert full.follows == ("warm_up",)
    assert warm_up.constraint("friction").values == ValueList((0.5,))  # type: ignore[union-attr]
    assert warm_up.constraint("width").values == Progression(0, 25, 5)  # type: ignore[union-attr]
    assert full.constraint("friction").values == Progression(0.0, 0.25, 5)  # type: ignore[union-attr]
    # The global algorithm's parameters, overridden by the curriculum's.
    assert curriculum.algorithm.runs == "DQN" and curriculum.algorithm.requested == "DQN"
    assert dict(curriculum.algorithm.parameters) == {
        "q_learning_rate": 0.001,
        "hidden_layer_size_descriptor": (64, 64),
        "gamma": 0.95,
        "exploration_decay": 0.0001,
    }
    # Every classifier output field has a finite value set.
    speed, brake, gear, throttle = curriculum.action_schema.fields
    assert speed.values == Progression(0, 1, 4)
    assert brake.values == ValueList((False, True))
    assert gear.values == ValueList(("fast", "slow"))
    assert throttle.values == Progression(0.0, 0.5, 3)


def test_estimator_model() -> None:
    result = compile_inkling(ESTIMATOR)
    assert [warning.code for warning in result.warnings] == ["W502", "W504"]
    curriculum = trained(ESTIMATOR)
    assert curriculum.concept.is_estimator
    assert curriculum.algorithm.runs == "PPO" and curriculum.algorithm.requested == "TRPO"
    assert dict(curriculum.algorithm.parameters) == {"gamma": 0.9, "samples_per_train": 512}
    assert curriculum.config_schema.name == "pendulum_config"
    assert curriculum.simulator.action_schema is not None
    assert curriculum.simulator.action_schema.name == "pendulum_action"
    # The action schema takes each range from the concept, else from the simulator.
    assert [field.values for field in curriculum.action_schema.fields] == [
        Interval(-2.5, 2.5),
        Interval(-1.0, 1.0),
    ]
    assert curriculum.concept.output_schema.name == "balance_output"
    assert curriculum.lessons[0].constraints[0].values == Interval(0.1, 0.5)


def test_defaults_completed_in_the_action_schema() -> None:
    classifier = FIND_THE_CENTER.replace("Int8{-1, 0, 1} delta", "UInt8 delta, Bool jump")
    delta, jump = trained(classifier).action_schema.fields
    assert delta.values == Progression(0, 1, 256) and jump.values == ValueList((False, True))
    signed = FIND_THE_CENTER.replace("Int8{-1, 0, 1} delta", "Int8 delta")
    assert trained(signed).action_schema.fields[0].values == Progression(-128, 1, 256)
    estimator = ESTIMATOR.replace("Float32{-2.5:2.5} force", "Float32 force").replace(
        "(Float32 force, Float64{-1:1} torque)", "(Float32 force, Float64 torque)"
    )
    result = compile_inkling(estimator)
    assert [warning.code for warning in result.warnings] == ["W506", "W506", "W502", "W504"]
    assert result.program is not None and result.program.curriculum is not None
    assert {field.values for field in result.program.curriculum.action_schema.fields} == {Interval(-1.0, 1.0)}


def test_default_learner_by_concept_kind() -> None:
    assert trained(FIND_THE_CENTER).algorithm.runs == "PPO"
    assert (
        trained(ESTIMATOR.replace("    using algorithm TRPO\n", "    using algorithm SAC\n")).algorithm.runs
        == "SAC"
    )
    no_clause = ESTIMATOR[: ESTIMATOR.index("    using")] + ESTIMATOR[ESTIMATOR.index("    lesson") :]
    assert trained(no_clause).algorithm.runs == "SAC"


def test_program_without_concept_compiles_and_trains_nothing() -> None:
    program = compiled("# nothing yet\nschema S Int8 x end")
    assert program.curriculum is None and program.concepts == ()
    assert compiled("").schemas == ()
