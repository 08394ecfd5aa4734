"""Alembic environment: runs on the connection handed in by ``db.session.upgrade``."""

from alembic import context
from sqlalchemy import create_engine

from dsa110_resources.db.models import Base

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # plain `alembic` CLI use
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    context.run_migrations()
