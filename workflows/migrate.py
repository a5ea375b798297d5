"""Schema migrations with Alembic, callable without Flask (tests, scripts) and from ``flask db``."""
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(db):
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = db.engine
    return config


def upgrade(db, revision="head"):
    command.upgrade(alembic_config(db), revision)


def downgrade(db, revision):
    command.downgrade(alembic_config(db), revision)


def revision(db, message):
    command.revision(alembic_config(db), message=message, autogenerate=True)


def current(db):
    command.current(alembic_config(db))


def pending(db):
    """The migration heads the database has not reached (empty: the schema is what this code expects)."""
    heads = set(ScriptDirectory.from_config(alembic_config(db)).get_heads())
    with db.engine.connect() as connection:
        applied = set(MigrationContext.configure(connection).get_current_heads())
    return sorted(heads - applied)
