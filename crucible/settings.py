"""The one place configuration comes from: environment variables prefixed CRUCIBLE_.

Nothing else in the code base reads os.environ; every component receives the Settings object.
Fields are flat so that each maps to exactly one documented variable (see README.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[list[str], NoDecode]


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRUCIBLE_", extra="ignore")

    # --- core -------------------------------------------------------------------------------
    data_dir: Path = Field(default=Path("data"), description="Holds the SQLite database, blobs, logs.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is SQLite in the data directory."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_format: str = Field(default="console", description="'console' or 'json'.")
    registration_open: bool = True
    trust_forwarded_headers: bool = True
    redis_url: str | None = None

    # --- bender -----------------------------------------------------------------------------
    bender_token_lifetime_days: int = 125
    bender_email_verification: bool = False
    bender_max_page_limit: int = 10000
    bender_quotas_enabled: bool = False
    bender_max_experiments: int = 30
    bender_max_algos: int = 30
    bender_max_trials: int = 1000
    bender_max_shared_with: int = 10
    bender_quota_whitelist: CommaList = Field(default_factory=list)

    _split_whitelist = field_validator("bender_quota_whitelist", mode="before")(_split_commas)

    # --- bonsai -----------------------------------------------------------------------------
    bonsai_max_training_brains: int = Field(default=4, description="Brains training at once on this server.")
    bonsai_max_sims_per_brain: int = Field(default=64, description="Concurrent simulator sockets per brain.")
    bonsai_sim_idle_timeout_s: float = Field(default=3600, description="Close a silent simulator (4010).")
    bonsai_keepalive_s: float = Field(
        default=60, description="While a simulator is held, RESET/STOP it this often (must be < 240)."
    )
    bonsai_checkpoint_iterations: int = Field(default=10000, description="Checkpoint every N iterations.")
    bonsai_checkpoint_seconds: float = Field(default=300, description="... or every N seconds.")
    bonsai_torch_threads: int = 1
    bonsai_auto_resume: bool = Field(default=False, description="Resume interrupted versions at start-up.")
    bonsai_managed_sims: bool = Field(
        default=False,
        description="Managed simulators (`--remote`): not implemented, always refused with 400.",
    )
    bonsai_trainer_start_delay_s: float = Field(
        default=0, description="Test-only: the trainer waits this long before it reports ready."
    )
    bonsai_debug_wire_log: bool = Field(
        default=False,
        description="Log every simulator frame's type and sim_id (logger crucible.bonsai.wire).",
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'crucible.db').resolve()}"

    @property
    def jwt_lifetime_days(self) -> int:
        """Bender's client re-prompts when a token expires within 7 days, so never issue shorter ones."""
        return max(8, self.bender_token_lifetime_days)

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"
