"""The schema comes only from migrations, and they must match the models."""

import io

import flask_migrate
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from PIL import Image
from sqlalchemy import text

from fieldsvc.database import described_by_models
from fieldsvc.extensions import db
from fieldsvc.incidents.photos import process_photo
from fieldsvc.incidents.services import attach_photos
from tests.proposals.broken_transmitters import build_broken_transmitters, send


def _photo(colour: str):
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return process_photo(out.getvalue(), "a.jpg", max_bytes=10**6, max_pixels=10**6)


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


def test_photos_from_before_are_kept_for_us_unless_a_sent_revision_showed_them(
    committed_app,
):
    """Before per-photo choices every photo went into the PDF: a sent revision keeps the
    photos its frozen PDF printed, and those stay shown; the others wait to be chosen."""
    with committed_app.app_context():
        seed = build_broken_transmitters()
        (printed,) = attach_photos(seed.incident, [_photo("red")], actor=seed.technician)
        db.session.commit()
        send(seed)
        (later,) = attach_photos(seed.incident, [_photo("blue")], actor=seed.technician)
        db.session.commit()
        revision_id, printed_id, later_id = seed.revision.id, printed.id, later.id
        db.session.remove()
        db.engine.dispose()

        flask_migrate.downgrade(revision="0010_incident_overdue_state")
        flask_migrate.upgrade()

        with db.engine.connect() as connection:
            frozen = connection.execute(
                text("SELECT revision_id, attachment_id, position, caption FROM revision_photos")
            ).all()
            shown = connection.execute(
                text("SELECT id, shown_to_customer FROM attachments ORDER BY id")
            ).all()
        db.engine.dispose()
    assert [tuple(row) for row in frozen] == [(revision_id, printed_id, 1, None)]
    assert [(row[0], bool(row[1])) for row in shown] == [(printed_id, True), (later_id, False)]
