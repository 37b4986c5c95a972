"""The hosted service's throttles (spec §4.8): off by default on a self-hosted server."""

from __future__ import annotations

from dataclasses import dataclass

from crucible.core.accounts import User
from crucible.settings import Settings


@dataclass(frozen=True)
class Quotas:
    enabled: bool
    max_experiments: int
    max_algos: int
    max_trials: int
    max_shared_with: int
    whitelist: frozenset[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> Quotas:
        return cls(
            enabled=settings.bender_quotas_enabled,
            max_experiments=settings.bender_max_experiments,
            max_algos=settings.bender_max_algos,
            max_trials=settings.bender_max_trials,
            max_shared_with=settings.bender_max_shared_with,
            whitelist=frozenset(settings.bender_quota_whitelist),
        )

    def applies(self, user: User) -> bool:
        return self.enabled and user.username not in self.whitelist
