"""The schema comes only from migrations, and they must match the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from fieldsvc.database import described_by_models
from fieldsvc.extensions import db


def test_migrations_create_exactly_the_schema_the_models_describe(app):
    # The test database was built by `flask db upgrade`, never by create_all().
    context = MigrationContext.configure(
        db.session.connection(),
        opts={
            "compare_type": True,
            "compare_server_default": True,
            # The text search's FTS5 table and trigram indexes, as env.py leaves them out.
            "include_object": described_by_models,
        },
    )
    differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_the_database_is_at_the_latest_revision(app):
    from alembic.script import ScriptDirectory
    from flask import current_app

    config = current_app.extensions["migrate"].migrate.get_config()
    head = ScriptDirectory.from_config(config).get_current_head()
    current = MigrationContext.configure(db.session.connection()).get_current_revision()
    assert current == head
