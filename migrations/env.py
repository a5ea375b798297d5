"""Alembic environment. The database URL comes from the caller (``flask db upgrade``), never from an ini file."""
from alembic import context
from sqlmodel import SQLModel

import workflows.models  # noqa: F401  (registers every table on SQLModel.metadata)
from workflows.db import make_engine
from workflows.models.register import is_declared

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online():
    engine = config.attributes.get("engine") or make_engine(config.get_main_option("sqlalchemy.url"))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:  # batch table rebuilds must not trip foreign keys; the PRAGMA is ignored inside a transaction, so
            # it goes to the driver before SQLAlchemy begins one (our engine's BEGIN hook would come first otherwise)
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=sqlite, compare_type=True, transactional_ddl=True,
                          include_name=is_declared)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


run_migrations_online()
