"""The Alembic migrations build exactly the schema the models describe, and can be undone."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlmodel import SQLModel

from workflows import migrate
from workflows.db import Database


def test_migrations_match_the_models(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(db)
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
    migrate.downgrade(db, "base")
    assert inspect(db.engine).get_table_names() == ["alembic_version"]
    migrate.upgrade(db)  # and up again
    db.dispose()


def test_upgrade_twice_is_harmless(database_url):
    db = Database(database_url)
    head = ScriptDirectory.from_config(migrate.alembic_config(db)).get_current_head()
    tables = set(inspect(db.engine).get_table_names())
    migrate.upgrade(db)
    migrate.upgrade(db)
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head
    assert set(inspect(db.engine).get_table_names()) == tables and "signed_document" in tables
    db.dispose()
