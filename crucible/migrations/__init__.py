"""Alembic migrations: one branch per part of the server (core, then one per dialect).

Branches let each dialect own its tables without one linear history to fight over; `upgrade heads`
applies them all, and each dialect branch depends on the core branch.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "crucible:migrations")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, engine: Engine | None = None) -> None:
    """Bring the database to the newest revision of every branch."""
    config = alembic_config(url)
    if engine is not None:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "heads")
    else:
        command.upgrade(config, "heads")


def is_up_to_date(engine: Engine, url: str) -> bool:
    script = ScriptDirectory.from_config(alembic_config(url))
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    # A branch head that another branch depends on is recorded only through its dependant.
    applied = {revision.revision for revision in script.revision_map.iterate_revisions(current, "base")}
    return set(script.get_heads()) <= applied
