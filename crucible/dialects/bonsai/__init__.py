"""Bonsai BRAIN API v1 dialect (spec/bonsai.md)."""
