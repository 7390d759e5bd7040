"""The reports read a period from the kept figures' indexes, on both databases and with
statistics stale or fresh: the cost reports the whole months' range of the customers'
months' index and the days around them from the cost entries' index, for each of the
team's customers (and by month, technician and cause one range of the team's months), the
response times the same of the incidents'
period index, and nothing of the history before or after the period (no scan of
incidents, proposals, answers or the audit trail)."""

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event

from fieldsvc import clock
from fieldsvc.auth.models import User
from fieldsvc.clock import to_local
from fieldsvc.dashboard import services as dashboard
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.reports.services import (
    CostGrouping,
    Period,
    cost_of_incidents,
    cost_total,
    response_times,
)
from tests import seeding

INCIDENTS = 3_000
STEP = timedelta(hours=15)  # 3,000 incidents: five years
CUSTOMERS = 20  # half of them the supervisor's team's
HISTORY = ("proposals", "proposal_revisions", "customer_responses", "audit_events")


def _seed() -> User:
    """Five years of incidents; every third with a proposal sent, then accepted."""
    plan = seeding.company(CUSTOMERS)
    now = utcnow()
    first = plan.next_incident_id()
    ids = range(first, first + INCIDENTS)

    def reported(n: int):
        return now - (first + INCIDENTS - n) * STEP

    seeding.insert_incidents(
        plan,
        (
            {
                "id": n,
                "status": "resolved",
                "cause_category": ["customer", "unknown", "our_technician"][n % 3],
                "created_at": reported(n),
                "resolved_at": reported(n) + timedelta(days=3),
            }
            for n in ids
        ),
    )
    seeding.insert_accepted_offers(
        plan,
        [
            seeding.Offer(n, reported(n) + timedelta(hours=5), reported(n) + timedelta(days=1))
            for n in ids
            if n % 3 == 0
        ],
    )
    seeding.keep_figures(clock.company_zone())
    return plan.supervisor


@contextmanager
def _statements() -> Iterator[list[tuple[str, object]]]:
    seen: list[tuple[str, object]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def _plans(read: Callable[[], object]) -> list[str]:
    with _statements() as seen:
        read()
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        # A few thousand rows are a page or two, which PostgreSQL rightly reads whole;
        # the plan that matters is the one for a real history: the index's shape must
        # answer the period per customer (the benchmarks show the planner choosing it).
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    plans = []
    for statement, parameters in seen:
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plans.append("\n".join(row.detail for row in rows))
        else:
            document = connection.exec_driver_sql(
                f"EXPLAIN (FORMAT JSON) {statement}", parameters
            ).scalar_one()
            plans.append(json.dumps(document[0]["Plan"], indent=1))
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = on")
    assert plans
    return plans


def _assert_reads_the_period_from(
    index: str, table: str, column: str, plan: str, dialect: str, compare: str = ">"
):
    if dialect == "sqlite":
        # One range per customer of the team: (customer_id=? AND <period>).
        search = f"SEARCH {table} USING COVERING INDEX {index} (customer_id=? AND {column}"
        search += f"{compare}?"
        assert search in plan, plan
        assert not re.search(rf"^SCAN {table}\b", plan, re.MULTILINE), plan
        for other in HISTORY:
            assert not re.search(rf"\b{other}\b", plan), plan
    else:
        assert f'"Index Name": "{index}"' in plan, plan
        assert f'"Node Type": "Seq Scan",\n "Relation Name": "{table}"' not in plan, plan
        nodes = re.findall(r'"Relation Name": "(\w+)"', plan)
        assert not set(nodes) & set(HISTORY), plan


def _assert_cost_plans(read: Callable[[], object], dialect: str) -> None:
    """One statement adds the period up: the whole months from the customers' months
    (by customer: a row per customer and month, not the month rows by technician and
    cause) and from the team's (by month, technician and cause), the days before and
    after them from the cost entries, each a range of its index; besides it, only which
    time zone the months are added up in."""
    plans = _plans(read)
    figures = [plan for plan in plans if re.search(r"\b(cost_entries|customer_months)\b", plan)]
    zone = [plan for plan in plans if plan not in figures]
    assert (len(figures), len(zone)) == (1, 1), plans
    assert "report_months_zone" in zone[0]
    _assert_reads_the_period_from(
        "ix_cost_entries_period", "cost_entries", "accepted_at", figures[0], dialect
    )
    _assert_reads_the_period_from(
        "ix_customer_months_period", "customer_months", "month", figures[0], dialect
    )
    assert not re.search(r"\breport_months\b", figures[0]), figures[0]
    # The team's months: one range for the team, not one per customer.
    if dialect == "sqlite":
        team_range = "SEARCH team_months USING COVERING INDEX ix_team_months_period (team_id=?"
        assert f"{team_range} AND month>? AND month<?)" in figures[0], figures[0]
        assert not re.search(r"^SCAN team_months\b", figures[0], re.MULTILINE), figures[0]
    else:
        assert '"Index Name": "ix_team_months_period"' in figures[0], figures[0]


def _assert_report_plans(supervisor: User, dialect: str) -> None:
    # Two partial months at the edges, whole ones between them.
    this_month = to_local(utcnow()).date().replace(day=1)
    period = Period((this_month - timedelta(days=70)).replace(day=15), this_month.replace(day=15))
    for grouping in CostGrouping:
        _assert_cost_plans(lambda g=grouping: cost_of_incidents(supervisor, period, g), dialect)
    _assert_cost_plans(lambda: cost_total(supervisor, period), dialect)
    (plan,) = _plans(lambda: response_times(supervisor, period))
    _assert_reads_the_period_from(
        "ix_incidents_period_figures", "incidents", "created_at", plan, dialect
    )


@pytest.fixture
def supervisor(app) -> User:
    supervisor = _seed()
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("ANALYZE")
    return supervisor


def test_reports_read_only_the_period_from_the_kept_figures_with_stale_statistics(supervisor):
    """SQLite with statistics gathered when the tables were empty, PostgreSQL after
    ANALYZE of the seeded rows."""
    _assert_report_plans(supervisor, db.session.connection().dialect.name)


def test_reports_read_only_the_period_from_the_kept_figures_with_fresh_statistics(supervisor):
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("ANALYZE")
    _assert_report_plans(supervisor, connection.dialect.name)


def test_the_dashboard_reads_this_month_from_the_kept_figures(supervisor):
    dialect = db.session.connection().dialect.name
    plans = _plans(lambda: dashboard.dashboard(supervisor))
    # This month, a whole calendar month: its month rows, none of its cost entries.
    (month_cost,) = [plan for plan in plans if re.search(r"\breport_months\b", plan)]
    _assert_reads_the_period_from(
        "ix_report_months_period", "report_months", "month", month_cost, dialect, compare="="
    )
    assert not [plan for plan in plans if "cost_entries" in plan]
    # Incidents by cause, over the last year.
    (by_cause,) = [plan for plan in plans if "ix_incidents_period_figures" in plan]
    _assert_reads_the_period_from(
        "ix_incidents_period_figures", "incidents", "created_at", by_cause, dialect
    )
    if dialect == "sqlite":
        # Counted as read, not sorted by cause first: a year of a team is 4,000 entries.
        assert "TEMP B-TREE" not in by_cause, by_cause
    for plan in plans:
        assert "audit_events" not in plan, plan
