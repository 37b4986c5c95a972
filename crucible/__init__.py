"""Crucible: one self-hosted server for experiments that learn from feedback."""
