"""The one place configuration comes from: environment variables prefixed CRUCIBLE_.

Nothing else in the code base reads os.environ; every component receives the Settings object.
Fields are flat so that each maps to exactly one documented variable (see README.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

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
    sqlite_synchronous: str = Field(
        default="NORMAL",
        description="SQLite durability: NORMAL survives a process crash, FULL also a power loss (fsync per commit).",
    )

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

    # --- morpheo (server) -------------------------------------------------------------------
    morpheo_task_lease_seconds: float = Field(
        default=3600, gt=0, description="A claimed task not reported within this goes back to todo."
    )
    morpheo_task_max_attempts: int = Field(default=3, ge=1, description="Expired claims before 'failed'.")
    morpheo_max_blob_bytes: int = Field(default=2 * 1024**3, ge=1, description="Largest storage upload.")

    # --- morpheo (worker: `crucible worker`) -------------------------------------------------
    morpheo_url: str = "http://127.0.0.1:8000"
    morpheo_user: str | None = None
    morpheo_password: str | None = Field(default=None, description="Password or access key.")
    morpheo_worker_id: str | None = None
    morpheo_work_dir: Path | None = None
    morpheo_max_extract_bytes: int = Field(default=4 * 1024**3, ge=1, description="Per archive.")
    # --- streamingbandit ----------------------------------------------------------------------
    sb_advice_sweep_seconds: float = Field(default=60.0, gt=0, description="Advice expiry job interval.")
    sb_hourly_theta_seconds: float = Field(default=3600.0, gt=0, description="Theta snapshot job interval.")
    sb_sandbox_wall_seconds: float = Field(default=10.0, gt=0)
    sb_sandbox_cpu_seconds: float = Field(default=5.0, gt=0)
    sb_sandbox_memory_mb: int = Field(default=512, gt=0)
    sb_simulate_seconds: float = Field(
        default=300.0, gt=0, description="CPU and wall limit of a simulate call."
    )
    sb_simulate_max_n: int = Field(default=100000, ge=1)
    sb_sandbox_max_concurrency: int | None = Field(default=None, description="Default 2 x CPU cores.")
    sb_worker_max_calls: int = Field(default=1000, ge=1)
    sb_theta_backend: Literal["sql", "redis"] = "sql"
    sb_theta_max_mb: int = Field(default=64, gt=0)
    sb_debug: bool = False
    sb_cors_origins: CommaList = Field(default_factory=list)
    sb_core_cors_origins: CommaList = Field(default_factory=list)
    sb_cookie_secret: str | None = None

    _split_sb_origins = field_validator("sb_cors_origins", "sb_core_cors_origins", mode="before")(
        _split_commas
    )
    # --- polyaxon ---------------------------------------------------------------------------
    polyaxon_outputs_root: Path | None = Field(
        default=None, description="Experiment outputs directories; default <data_dir>/polyaxon/outputs."
    )
    polyaxon_repo_max_upload_bytes: int = 150 * 1024 * 1024
    polyaxon_logs_max_bytes: int = 50 * 1024 * 1024
    polyaxon_heartbeat_timeout_s: float = 300.0
    polyaxon_heartbeat_check_interval_s: float = 30.0

    # --- executor (one job executor shared by every dialect that runs code) ----------------------
    executor_max_concurrent: int | None = Field(
        default=None, description="Runs at once across all dialects; default max(1, cpu_count // 2)."
    )
    executor_stop_grace_s: float = Field(default=10.0, description="SIGTERM to SIGKILL delay on stop.")
    executor_api_url: str | None = Field(
        default=None, description="The server's URL as local runs see it; default http://<host>:<port>."
    )
    executor_local_enabled: bool = Field(default=True, description="False: managed runs stay created.")
    executor_local_python: Path | None = Field(
        default=None,
        description="Interpreter whose bin directory prefixes PATH in runs; default the server's.",
    )
    executor_ray_address: str | None = Field(
        default=None, description="Ray dashboard URL (Jobs API); when set, runs go to that Ray cluster."
    )
    executor_ray_api_url: str | None = Field(
        default=None, description="The server's URL as seen from the Ray cluster; default executor_api_url."
    )
    executor_ray_outputs_root: Path | None = Field(
        default=None, description="Outputs directory shared by the server and the Ray nodes."
    )
    executor_ray_honour_image: bool = False
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

    @property
    def resolved_polyaxon_outputs_root(self) -> Path:
        if self.executor_ray_address and self.executor_ray_outputs_root:
            return self.executor_ray_outputs_root.resolve()
        return (self.polyaxon_outputs_root or self.data_dir / "polyaxon" / "outputs").resolve()

    @property
    def resolved_executor_api_url(self) -> str:
        return (self.executor_api_url or f"http://{self.host}:{self.port}").rstrip("/")
