"""Inkling v1 compiler for the Bonsai dialect (spec §4.6–§4.8).

`compile_inkling(source)` returns a CompileResult. On success, `result.program.curriculum` says what
to train, with which simulator, objective, algorithm and lessons; `PayloadCodec(schema)` encodes and
decodes the simulator payloads; `schema_descriptor(schema)` gives the DescriptorProto for the wire.
On failure, `result.error_summary()` is the one-line message of `train`'s 400.
"""

from .compiler import CompileResult, compile_inkling, compile_project
from .diagnostics import CODES, COMPILER_VERSION, Diagnostic
from .payloads import DecodedPayload, LuminanceImage, PayloadCodec, PayloadError
from .program import (
    Algorithm,
    CompiledProgram,
    Concept,
    Constraint,
    Curriculum,
    Field,
    Lesson,
    OptimizeGoal,
    Schema,
    Simulator,
    ThresholdGoal,
)
from .schemas import acknowledge_descriptors, inkling_types_file, schema_descriptor
from .value_sets import Interval, Progression, ValueList, ValueSet

__all__ = [
    "CODES",
    "COMPILER_VERSION",
    "Algorithm",
    "CompileResult",
    "CompiledProgram",
    "Concept",
    "Constraint",
    "Curriculum",
    "DecodedPayload",
    "Diagnostic",
    "Field",
    "Interval",
    "Lesson",
    "LuminanceImage",
    "OptimizeGoal",
    "PayloadCodec",
    "PayloadError",
    "Progression",
    "Schema",
    "Simulator",
    "ThresholdGoal",
    "ValueList",
    "ValueSet",
    "acknowledge_descriptors",
    "compile_inkling",
    "compile_project",
    "inkling_types_file",
    "schema_descriptor",
]
