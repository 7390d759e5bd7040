"""The text search stays quick after a statement rewrote every incident (the report
figures' backfill, `flask reports rebuild`, the benchmarks' bulk load): on PostgreSQL its
trigram indexes are built afresh, as compact as new, instead of keeping what is left of
two entries for every incident."""

from datetime import timedelta

from sqlalchemy import select

from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents import search
from fieldsvc.incidents.models import Incident
from fieldsvc.reports import rollups
from tests import seeding

INCIDENTS = 1_500
RARE = "Cracked bellows"


def _size(connection, index: str) -> int:
    return connection.exec_driver_sql(f"SELECT pg_relation_size('{index}')").scalar_one()


def test_rewriting_every_incident_leaves_the_search_indexes_as_compact_as_new(app):
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
    connection = db.session.connection()

    rollups.recompute(connection)  # one UPDATE of every incident, and more

    found, _ = search.matching(select(Incident.id), RARE.lower())
    assert db.session.scalars(found).all() == [first + 700]
    assert db.session.scalars(search.matching(select(Incident.id), "no such words")[0]).all() == []
    if connection.dialect.name != "postgresql":
        return  # SQLite's FTS5 table is kept row by row by triggers
    for index, column in zip(search.INDEXES, search.SEARCHED, strict=True):
        connection.exec_driver_sql(
            f"CREATE INDEX fresh_copy ON incidents USING gin ({column.name} gin_trgm_ops)"
        )
        assert _size(connection, index) == _size(connection, "fresh_copy"), index
        connection.exec_driver_sql("DROP INDEX fresh_copy")
