"""Polyaxon v0.5 dialect: experiment tracking, execution and hyperparameter groups, wire-compatible
with polyaxon-client 0.5.6 (spec/polyaxon.md)."""

from crucible.dialects.polyaxon.routes import install

__all__ = ["install"]
