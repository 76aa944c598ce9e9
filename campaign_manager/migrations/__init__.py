"""Alembic migrations shipped inside the package, and the functions that apply them."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

HERE = Path(__file__).parent


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(HERE / "versions"))
    # env.py reuses this engine instead of building one from a URL in an ini file.
    config.attributes["engine"] = engine
    return config


def upgrade_database(engine: Engine, revision: str = "heads") -> None:
    command.upgrade(alembic_config(engine), revision)


def pending_revisions(engine: Engine) -> set[str]:
    """Head revisions the database has not reached yet (empty when up to date)."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    heads = set(script.get_heads())
    if current == heads:
        return set()
    reached = set()
    for revision in current:
        reached.update(r.revision for r in script.iterate_revisions(revision, "base"))
    return heads - reached
