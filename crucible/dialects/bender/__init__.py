"""Bender dialect: hyperparameter suggestions, wire-compatible with bender-client 0.4.0 (spec/bender.md)."""

from crucible.dialects.bender.routes import install

__all__ = ["install"]
