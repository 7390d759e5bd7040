"""The text search stays quick after a statement rewrote every incident (`flask reports
rebuild`, the benchmarks' bulk load): on PostgreSQL its trigram indexes are built afresh
once the rewrite has committed, as compact as new, instead of keeping what is left of
several entries for every incident."""

from datetime import timedelta

from sqlalchemy import select

from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents import search
from fieldsvc.incidents.models import Incident
from tests import seeding

INCIDENTS = 1_500
RARE = "Cracked bellows"


def _size(connection, index: str) -> int:
    return connection.exec_driver_sql(f"SELECT pg_relation_size('{index}')").scalar_one()


def test_rewriting_every_incident_leaves_the_search_indexes_as_compact_as_new(committed_app):
    with committed_app.app_context():
        plan = seeding.company(4, name="Reindex")
        now = utcnow()
        first = plan.next_incident_id()
        seeding.insert_incidents(
            plan,
            (
                {
                    "id": n,
                    "expected": "Calibrated and back in service",
                    "actual": f"Seal worn, unit {n}" + (f", {RARE}" if n == first + 700 else ""),
                    "created_at": now - timedelta(hours=n),
                }
                for n in range(first, first + INCIDENTS)
            ),
        )
        db.session.commit()

        # One UPDATE of every incident, and more; the indexes rebuilt after the commit.
        rebuilt = committed_app.test_cli_runner().invoke(args=["reports", "rebuild"])

        assert rebuilt.exit_code == 0, rebuilt.output
        found, _ = search.matching(select(Incident.id), RARE.lower())
        assert db.session.scalars(found).all() == [first + 700]
        nothing, _ = search.matching(select(Incident.id), "no such words")
        assert db.session.scalars(nothing).all() == []
        connection = db.session.connection()
        if connection.dialect.name != "postgresql":
            return  # SQLite's FTS5 table is kept row by row by triggers
        for index, column in zip(search.INDEXES, search.SEARCHED, strict=True):
            connection.exec_driver_sql(
                f"CREATE INDEX fresh_copy ON incidents USING gin ({column.name} gin_trgm_ops)"
            )
            assert _size(connection, index) == _size(connection, "fresh_copy"), index
            connection.exec_driver_sql("DROP INDEX fresh_copy")
        db.session.rollback()
