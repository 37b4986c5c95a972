"""Morpheo dialect: orchestrator 0.1.0 routes, storage under /storage, pull workers (spec/morpheo.md)."""

from crucible.dialects.morpheo.routes import install

__all__ = ["install"]
