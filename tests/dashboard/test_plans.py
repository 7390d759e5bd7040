"""The dashboard's figures that look back through the history read only what they count,
on both databases: the answers of the last 90 days from the answers' date index, each
answer's proposal found from the revisions' (id, proposal) index without reading the
revision (PostgreSQL read every revision ever made to join them); and overdue promises
by owner from the team's incidents whose earliest open promise is past due and those
incidents' open promises past due (not the promises they kept), both read from their
indexes alone, counted per owner before the owners are read; and the part orders still
committed (bought, not installed or returned), and those late, from the orders' status
index, not by walking every order ever made. The answers' and the incidents by cause's
months from the first whole one on come from the counts kept per team and month (one
range of the team's rows), the partial month at the window's start from the answers'
date index and the team's customers' ranges of the incidents' period index. Checked
with EXPLAIN QUERY PLAN on SQLite (statistics stale and fresh) and EXPLAIN on
PostgreSQL."""

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import event, insert

from fieldsvc import clock, create_app
from fieldsvc.auth.models import User
from fieldsvc.dashboard import services as dashboard
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents.models import FollowUp
from fieldsvc.parts.models import PartOrder, PartOrderLine, PartOrderStatus, Supplier
from fieldsvc.reports import months
from tests import postgres, seeding
from tests.conftest import migrate
from tests.conftest import test_config as config_for

INCIDENTS = 3_000
STEP = timedelta(hours=15)  # 3,000 incidents: five years
PROMISES = 10  # made for each incident, as over the years of a long-running incident
COMMITTED_EVERY = 50  # of the part orders, one in 50 still committed (ordered)


def _seed() -> User:
    """Five years of incidents of 20 customers (half of them the supervisor's team's),
    each with ten promises due three days after it was reported, all kept on time but
    one of a quarter of the incidents (still open, so overdue; a fifth of those the
    team's, as with five teams); every third incident with an offer sent and accepted a
    day later; every incident with a part order of two lines, installed but one in 50
    (still ordered)."""
    plan = seeding.company(20)
    now = utcnow()
    first = plan.next_incident_id()
    ids = range(first, first + INCIDENTS)

    def reported(n: int):
        return now - (first + INCIDENTS - n) * STEP

    def due(n: int):
        return reported(n) + timedelta(days=3)

    # Promises overdue at one customer of the team and four of the other team.
    open_ = {n for n in ids if n % 20 in (1, 2, 4, 6, 8)}
    seeding.insert_incidents(
        plan,
        (
            {
                "id": n,
                "status": "open" if n in open_ else "resolved",
                "created_at": reported(n),
                "next_follow_up_due_at": due(n) if n in open_ else None,
            }
            for n in ids
        ),
    )
    db.session.execute(
        insert(FollowUp),
        [
            {
                "incident_id": n,
                "owner_id": plan.technician.id,
                "created_by_id": plan.technician.id,
                "due_at": due(n),
                "promise": "Call back",
                "created_at": reported(n),
            }
            | (
                {}
                if n in open_ and _ == 0
                else {
                    "closed_at": due(n) - timedelta(hours=2),
                    "closed_by_id": plan.technician.id,
                    "outcome": "done",
                }
            )
            for n in ids
            for _ in range(PROMISES)
        ],
    )
    seeding.insert_accepted_offers(
        plan,
        [
            seeding.Offer(n, reported(n) + timedelta(hours=5), reported(n) + timedelta(days=1))
            for n in ids
            if n % 3 == 0
        ],
    )
    supplier = Supplier(name="Plan supplier")
    db.session.add(supplier)
    db.session.flush()
    db.session.execute(
        insert(PartOrder),
        [
            {
                "id": n,
                "incident_id": n,
                "supplier_id": supplier.id,
                "status": PartOrderStatus.ORDERED
                if n % COMMITTED_EVERY == 1
                else PartOrderStatus.INSTALLED,
                "expected_on": reported(n).date() + timedelta(days=7),
                "return_window_days": 30,
                "created_by_id": plan.technician.id,
                "created_at": reported(n),
            }
            for n in ids
        ],
    )
    db.session.execute(
        insert(PartOrderLine),
        [
            {
                "part_order_id": n,
                "description": "Pressure transmitter",
                "quantity": Decimal("2"),
                "unit_cost": Decimal("350.00"),
                "discount_pct": Decimal("10"),
            }
            for n in ids
            for _ in range(2)
        ],
    )
    months.rebuild_counts(db.session.connection(), clock.company_zone())
    return plan.supervisor


@contextmanager
def _statements() -> Iterator[list[tuple[str, object]]]:
    seen: list[tuple[str, object]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def _plans(supervisor: User) -> dict[str, str]:
    """The plans of the answers', the overdue promises' and the committed part orders'
    statements, by name."""
    with _statements() as seen:
        figures = dashboard.dashboard(supervisor)
    # The seed counts: answers, overdue promises, committed orders of offers not accepted.
    assert figures.answers.accepted > 0 and figures.overdue_by_owner
    assert figures.at_risk.orders > 0 and figures.late_part_orders > 0
    connection = db.session.connection()
    postgresql = connection.dialect.name == "postgresql"
    if postgresql:
        # A few thousand rows are a few pages, which PostgreSQL rightly reads whole or
        # as a bitmap; what matters is that an index of the right shape answers a real
        # history (at 100,000 incidents the planner chooses these plans by itself).
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        connection.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
    plans = {}
    for statement, parameters in seen:
        name = (
            "causes"
            if re.search(r"\bincidents\.cause_category =", statement)
            else "answers"
            if re.search(r"\bcustomer_responses\b", statement)
            else "overdue"
            if re.search(r"\bfollow_ups\b", statement)
            else "committed"
            if re.search(r"\bpart_order_lines\b", statement)
            else "late"
            if re.search(r"\bpart_orders\.expected_on <", statement)
            else None
        )
        if name is None:
            continue
        if postgresql:
            document = connection.exec_driver_sql(
                f"EXPLAIN (FORMAT JSON) {statement}", parameters
            ).scalar_one()
            plans[name] = json.dumps(document[0]["Plan"], indent=1)
        else:
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plans[name] = "\n".join(row.detail for row in rows)
    if postgresql:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = on")
        connection.exec_driver_sql("SET LOCAL enable_bitmapscan = on")
    assert set(plans) == {"answers", "overdue", "committed", "late", "causes"}, seen
    return plans


def _reads(plan: str, table: str, index: str, dialect: str) -> bool:
    """Whether the plan reads `table` through `index` alone."""
    if dialect == "sqlite":
        return f"SEARCH {table} USING COVERING INDEX {index} (" in plan
    return bool(
        re.search(
            rf'"Node Type": "Index Only Scan",[^{{}}]*"Index Name": "{index}",'
            rf'\s*"Relation Name": "{table}"',
            plan,
        )
    )


def _scans(plan: str, table: str, dialect: str) -> bool:
    if dialect == "sqlite":
        return bool(re.search(rf"^SCAN {table}\b", plan, re.MULTILINE))
    return bool(re.search(rf'"Node Type": "Seq Scan",\s*[^{{}}]*"Relation Name": "{table}"', plan))


def _assert_dashboard_plans(supervisor: User) -> None:
    dialect = db.session.connection().dialect.name
    plans = _plans(supervisor)
    answers, overdue = plans["answers"], plans["overdue"]
    # The answers of the last 90 days: a range of their date index; each answer's
    # proposal from the revisions' index, no revision row read, none scanned.
    assert "ix_customer_responses_created_at" in answers, answers
    if dialect == "sqlite":
        # SQLite finds a revision by its rowid, or in the index: one lookup either way.
        assert re.search(
            r"^SEARCH proposal_revisions USING (INTEGER PRIMARY KEY \(rowid=\?\)|COVERING INDEX "
            r"ix_proposal_revisions_id_proposal \(id=\?\))",
            answers,
            re.MULTILINE,
        ), answers
    else:
        index = "ix_proposal_revisions_id_proposal"
        assert _reads(answers, "proposal_revisions", index, dialect), answers
    for table in ("customer_responses", "proposal_revisions", "proposals", "incidents"):
        assert not _scans(answers, table, dialect), answers
    if dialect == "sqlite":
        # Counted by kind as read, not sorted by kind first.
        assert "TEMP B-TREE" not in answers, answers
    # Both windows' months from the first whole one on: one range of the team's kept
    # counts, from the index alone; the incidents of the partial month at the start from
    # the team's customers' ranges of the period index, not from an index of the
    # company's whole history.
    causes = plans["causes"]
    for plan in (answers, causes):
        assert _reads(plan, "team_month_counts", "ix_team_month_counts_period", dialect), plan
        if dialect == "sqlite":
            assert "(team_id=? AND month>?)" in plan, plan
        assert not _scans(plan, "team_month_counts", dialect), plan
    assert _reads(causes, "incidents", "ix_incidents_period_figures", dialect), causes
    if dialect == "sqlite":
        assert re.search(
            r"ix_incidents_period_figures \(customer_id=\? AND created_at>\? AND created_at<\?\)",
            causes,
        ), causes
    for index in ("ix_incidents_created_at", "ix_incidents_cause_category"):
        assert index not in causes, causes
    assert not _scans(causes, "incidents", dialect), causes
    # Overdue promises by owner: the team's incidents with a promise past due, a range
    # for each customer of the team, then those incidents' open promises past due.
    if dialect == "sqlite":
        assert _reads(overdue, "incidents", "ix_incidents_customer_next_due", dialect), overdue
    else:
        # PostgreSQL reads the incidents past due from either index of the next due
        # time: at 3,000 incidents all of them, at 100,000 the team's customers' ranges.
        assert re.search(
            r'"Index Name": "ix_incidents_(customer_next_due|next_follow_up_due_at)"', overdue
        ), overdue
    for index in ("ix_follow_ups_open_due", "ix_follow_ups_owner_open_due"):
        assert index not in overdue, overdue  # not every open promise of the company
    assert _reads(overdue, "follow_ups", "ix_follow_ups_incident_open_due", dialect), overdue
    # Only each incident's open promises are read, not the ones kept long ago (nine of
    # ten here): the index's range covers the incident, open, and past due.
    if dialect == "sqlite":
        assert "(incident_id=? AND closed_at=? AND due_at<?)" in overdue, overdue
    else:
        assert re.search(
            r'"Index Name": "ix_follow_ups_incident_open_due",[^{}]*"Index Cond": '
            r'"\(\(incident_id = [^"]*\) AND \(closed_at IS NULL\) AND \(due_at < ',
            overdue,
        ), overdue
    for table in ("incidents", "follow_ups"):
        assert not _scans(overdue, table, dialect), overdue
    if dialect == "sqlite":
        # Counted per owner first, then the few owners read: not one lookup of an owner
        # per overdue promise, all grouped by owner afterwards.
        lines = overdue.splitlines()
        assert lines.index("USE TEMP B-TREE FOR GROUP BY") < lines.index(
            "SEARCH users USING INTEGER PRIMARY KEY (rowid=?)"
        ), overdue
    # The part orders still committed, from the status index: the few bought and not yet
    # installed or returned, not every order ever made walked in id order.
    committed = plans["committed"]
    if dialect == "sqlite":
        assert "SEARCH part_orders USING INDEX ix_part_orders_status (status=?)" in committed, (
            committed
        )
    else:
        assert '"Index Name": "ix_part_orders_status"' in committed, committed
        assert '"Index Name": "pk_part_orders"' not in committed, committed
    assert not _scans(committed, "part_orders", dialect), committed
    # Late part orders (ordered or shipped, expected before today) from the status index
    # too, not from every order ever expected before today.
    late = plans["late"]
    if dialect == "sqlite":
        assert "SEARCH part_orders USING INDEX ix_part_orders_status (status=?)" in late, late
    else:
        assert '"Index Name": "ix_part_orders_status"' in late, late
    assert "ix_part_orders_expected_on" not in late, late
    assert not _scans(late, "part_orders", dialect), late


@pytest.fixture(scope="module")
def history(database_url: str, tmp_path_factory) -> Iterator[Flask]:
    """The history on a database of its own, committed, so that PostgreSQL plans with
    what a running database has: statistics and a visibility map (VACUUM ANALYZE, as
    autovacuum keeps them). SQLite keeps the statistics of its migration (empty tables)."""
    folder = tmp_path_factory.mktemp("dashboard-plans")
    with postgres.fresh_database(database_url, "dashboard_plans", folder) as fresh:
        migrate(fresh)
        app = create_app(config_for(fresh, UPLOAD_DIR=str(tmp_path_factory.mktemp("uploads"))))
        try:
            with app.app_context():
                app.config["PLAN_SUPERVISOR_ID"] = _seed().id
                db.session.commit()
                if db.engine.dialect.name == "postgresql":
                    with db.engine.connect() as connection:
                        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                            "VACUUM ANALYZE"
                        )
            yield app
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


@pytest.fixture
def supervisor(history: Flask) -> Iterator[User]:
    with history.app_context():
        try:
            yield db.session.get(User, history.config["PLAN_SUPERVISOR_ID"])
        finally:
            db.session.rollback()  # what a test changed (statistics) is not kept


def test_the_dashboard_reads_answers_and_overdue_promises_from_indexes_with_stale_statistics(
    supervisor,
):
    """SQLite with statistics gathered when the tables were empty, PostgreSQL after
    VACUUM ANALYZE of the history."""
    _assert_dashboard_plans(supervisor)


def test_the_dashboard_reads_answers_and_overdue_promises_from_indexes_with_fresh_statistics(
    supervisor,
):
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("ANALYZE")
    _assert_dashboard_plans(supervisor)
