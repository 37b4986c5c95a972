"""Bonsai BRAIN API v1 dialect (spec/bonsai.md): brains described in Inkling, trained by the server
with remote simulators over protobuf websockets, serving predictions from trained versions."""

from crucible.dialects.bonsai.routes import install

__all__ = ["install"]
