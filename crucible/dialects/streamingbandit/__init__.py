"""StreamingBandit dialect: bandit experiments whose policies are user Python code (spec/streamingbandit.md)."""

from crucible.dialects.streamingbandit.routes import install

__all__ = ["install"]
