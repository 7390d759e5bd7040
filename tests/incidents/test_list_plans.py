"""The incident list's query plans stay right at any size, with statistics stale,
fresh or never gathered: newest first along the primary key (no sort of every
visible incident before the first page), overdue incidents found from the
incident's own next due time (no search of follow-ups per incident), and the text
search answered by the database's text index (no reading of every incident)."""

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import flask_migrate
import pytest
from sqlalchemy import event, select, text

from fieldsvc import create_app
from fieldsvc.auth.models import User
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents import queries
from fieldsvc.incidents.models import Incident
from tests import conftest, seeding

INCIDENTS = 3_000
CUSTOMERS = 20  # half of them served by the team whose technician reads the list
RARE = "Cracked bellows"  # in every 100th incident: 30 of them, all the team's


def _seed() -> User:
    """Incidents of many customers, each with a follow-up; every 7th open and overdue."""
    plan = seeding.company(CUSTOMERS)
    now = utcnow()
    first = plan.next_incident_id()
    ids = range(first, first + INCIDENTS)

    def due(n: int):
        return now - timedelta(days=1) if n % 7 == 0 else now + timedelta(days=3)

    seeding.insert_incidents(
        plan,
        (
            {
                "id": n,
                "actual": f"Plan incident {n}" + (f", {RARE}" if n % 100 == 1 else ""),
                "created_at": now - timedelta(hours=n),
                "next_follow_up_due_at": due(n),
            }
            for n in ids
        ),
    )
    seeding.insert_follow_ups(plan, {n: due(n) for n in ids})
    db.session.flush()
    return plan.technician


@contextmanager
def _list_statement() -> Iterator[list[tuple[str, object]]]:
    """The statement (and parameters) that reads the list's incidents."""
    seen: list[tuple[str, object]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if "FROM incidents" in statement and "LIMIT" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def _plan(
    filters: queries.IncidentFilters,
    user: User,
    before_id: int | None = None,
    rows: int = 20,
    read=queries.list_rows,
) -> str:
    with _list_statement() as seen:
        found, _ = read(user, filters, before_id=before_id, limit=20)
    assert len(found) == rows  # the query found its rows: the plan is one that answers
    statement, parameters = seen[-1]
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
        return "\n".join(row.detail for row in plan)
    (document,) = connection.exec_driver_sql(
        f"EXPLAIN (FORMAT JSON) {statement}", parameters
    ).scalar_one()
    return json.dumps(document["Plan"], indent=1)


def _assert_newest_first_without_sorting_or_follow_ups(plan: str, dialect: str) -> None:
    if dialect == "sqlite":
        assert "TEMP B-TREE" not in plan, plan
        assert "follow_ups" not in plan, plan
    else:
        assert '"Node Type": "Sort"' not in plan, plan
        assert '"Relation Name": "follow_ups"' not in plan, plan


def _assert_overdue_from_the_incident(plan: str, dialect: str) -> None:
    # Either walk: the next-due index and a sort of the overdue ones only, or the
    # primary key filtered by the incident's own column; never the follow-ups.
    if dialect == "sqlite":
        assert "follow_ups" not in plan, plan
        assert "TEMP B-TREE" not in plan or "ix_incidents_next_follow_up_due_at" in plan, plan
    else:
        assert '"Relation Name": "follow_ups"' not in plan, plan


def _assert_search_from_the_text_index(plan: str, dialect: str) -> None:
    if dialect == "sqlite":
        # FTS5 hands over its matches newest first; each incident is then read by its id.
        assert "SCAN incident_search VIRTUAL TABLE" in plan, plan
        assert "SCAN incidents" not in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    else:
        scans = [
            node for node in _nodes(json.loads(plan)) if node.get("Relation Name") == "incidents"
        ]
        assert scans and all(node["Node Type"] == "Bitmap Heap Scan" for node in scans), plan
        assert '"Index Name": "ix_incidents_search_actual"' in plan, plan


def _nodes(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _assert_list_plans(technician: User, dialect: str) -> None:
    # The page's plain rows (with customer and site joined) and the export's incidents.
    for read in (queries.list_rows, queries.list_incidents):
        everything = queries.IncidentFilters()
        first = _plan(everything, technician, read=read)
        _assert_newest_first_without_sorting_or_follow_ups(first, dialect)
        later = _plan(everything, technician, before_id=INCIDENTS // 2, read=read)
        _assert_newest_first_without_sorting_or_follow_ups(later, dialect)
        overdue = _plan(queries.IncidentFilters(overdue=True), technician, read=read)
        _assert_overdue_from_the_incident(overdue, dialect)
    if dialect == "postgresql":
        # PostgreSQL rightly reads a few thousand incidents whole rather than open an
        # index: bury the matching ones under a company's worth of newer incidents.
        _add_newer_incidents(technician, 50_000)
    search = _plan(queries.IncidentFilters(text=RARE.lower()), technician)
    _assert_search_from_the_text_index(search, dialect)
    if dialect == "sqlite":
        # (PostgreSQL may as well read the few ids below a low `before` by its key.)
        later_found = _plan(
            queries.IncidentFilters(text=RARE), technician, before_id=INCIDENTS // 2, rows=15
        )
        _assert_search_from_the_text_index(later_found, dialect)


def _add_newer_incidents(technician: User, count: int) -> None:
    """`count` incidents newer than the seeded ones, none with the rare words (PostgreSQL)."""
    connection = db.session.connection()
    connection.exec_driver_sql(
        "INSERT INTO incidents (id, reference, customer_id, site_id, status, severity, "
        "reported_via, reporter_name, actual, occurred_at, cause_category, created_by_id, "
        "created_at) "
        "SELECT n, 'INC-F-' || n, i.customer_id, i.site_id, i.status, i.severity, "
        "i.reported_via, i.reporter_name, 'Filler incident ' || n, i.occurred_at, "
        "i.cause_category, i.created_by_id, i.created_at "
        "FROM generate_series(%(first)s, %(last)s) AS n "
        "JOIN incidents i ON i.id = %(model)s",
        {
            "first": INCIDENTS + 1_000_000,
            "last": INCIDENTS + 1_000_000 + count - 1,
            "model": db.session.scalar(
                select(Incident.id).where(Incident.created_by_id == technician.id).limit(1)
            ),
        },
    )
    # As VACUUM would in time (it cannot run in the test's transaction): the rows just
    # added move from the trigram indexes' pending lists into the indexes proper.
    for column in ("reference", "expected", "actual", "equipment_tags"):
        connection.exec_driver_sql(f"SELECT gin_clean_pending_list('ix_incidents_search_{column}')")
    connection.exec_driver_sql("ANALYZE incidents")


def test_the_list_reads_newest_first_and_overdue_from_the_incident_on_both_databases(app):
    """On the suite's databases: SQLite with statistics gathered when the tables were
    empty (stale), PostgreSQL after ANALYZE of the seeded rows."""
    technician = _seed()
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("ANALYZE incidents, follow_ups, customers")
    _assert_list_plans(technician, connection.dialect.name)


@pytest.fixture(scope="module")
def never_analysed_sqlite(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("plans") / "never-analysed.sqlite3"
    url = f"sqlite:///{path}"
    app = create_app(conftest.test_config(url))
    with app.app_context():
        flask_migrate.upgrade()
        _seed()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    with sqlite3.connect(path) as raw:
        # Closing the connections after the bulk load gathered statistics (PRAGMA
        # optimize, as SQLite advises for connections that close)...
        tables = {row[0] for row in raw.execute("SELECT tbl FROM sqlite_stat1")}
        assert "incidents" in tables
        raw.execute("DELETE FROM sqlite_stat1")  # ...now as if ANALYZE had never run
    raw.close()
    return url


# Sampled statistics (`PRAGMA analysis_limit`) estimate each index's rows on its own,
# and SQLite takes the table's size from the last of them it reads. On the benchmark's
# set of 30,000 incidents the estimates ran from 24,766 to 96,418 while the rows per
# customer stayed right; once the incidents look bigger than their customers' share of
# them adds up to (here from 1.2 times), SQLite preferred to start from every customer
# on any join that looks one up, read their overdue incidents and sort them.
OVERSTATED = 3
_OVERSTATE_INCIDENTS = text(
    "UPDATE sqlite_stat1 SET stat = (CAST(stat AS INTEGER) * :times) "
    "|| substr(stat, instr(stat, ' ')) WHERE tbl = 'incidents'"
)


@pytest.mark.parametrize("statistics", ["never gathered", "fresh", "sampled, overstated"])
def test_the_list_plan_on_sqlite_needs_no_statistics_and_stays_right_with_them(
    never_analysed_sqlite, statistics
):
    app = create_app(conftest.test_config(never_analysed_sqlite))
    with app.app_context():
        try:
            if statistics != "never gathered":
                db.session.execute(text("ANALYZE"))
            if statistics == "sampled, overstated":
                db.session.execute(_OVERSTATE_INCIDENTS, {"times": OVERSTATED})
                db.session.execute(text("ANALYZE sqlite_schema"))  # read them again
            technician = db.session.scalar(
                select(User).where(User.email == "plan-technician@example.com")
            )
            _assert_list_plans(technician, "sqlite")
        finally:
            db.session.rollback()
            db.session.remove()
            db.engine.dispose()
