"""The reports read a period from the kept figures' indexes, on both databases and with
statistics stale or fresh: the cost reports the period's range of the cost entries'
index for each of the team's customers, the response times the same of the incidents'
period index, and nothing of the history before or after the period (no scan of
incidents, proposals, answers or the audit trail)."""

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, insert, select

from fieldsvc.auth.models import Role, Team, User
from fieldsvc.clock import to_local
from fieldsvc.customers.models import Customer, Site
from fieldsvc.dashboard import services as dashboard
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Incident
from fieldsvc.portal.models import CustomerResponse
from fieldsvc.proposals.models import Proposal, ProposalRevision
from fieldsvc.reports import rollups
from fieldsvc.reports.services import (
    CostGrouping,
    Period,
    cost_of_incidents,
    cost_total,
    response_times,
)

INCIDENTS = 3_000
STEP = timedelta(hours=15)  # 3,000 incidents: five years
CUSTOMERS = 20  # half of them the supervisor's team's
HISTORY = ("proposals", "proposal_revisions", "customer_responses", "audit_events")


def _seed() -> User:
    """Five years of incidents; every third with a proposal sent, then accepted."""
    team, other = Team(name="Plan team"), Team(name="Other team")
    customers = [
        Customer(name=f"Plan customer {n}", team=team if n % 2 else other) for n in range(CUSTOMERS)
    ]
    sites = [Site(customer=customer, name="Plant", address="1 Road") for customer in customers]
    people = [
        User(
            name=f"Plan {role.value}",
            email=f"plans-{role.value}@example.com",
            role=role,
            password_hash="x",
            team=team,
        )
        for role in (Role.TECHNICIAN, Role.SUPERVISOR)
    ]
    db.session.add_all([team, other, *customers, *sites, *people])
    db.session.flush()
    technician, supervisor = people
    now = utcnow()
    first = (db.session.scalar(select(Incident.id).order_by(Incident.id.desc())) or 0) + 1
    ids = range(first, first + INCIDENTS)
    offered = [n for n in ids if n % 3 == 0]

    def reported(n: int):
        return now - (first + INCIDENTS - n) * STEP

    db.session.execute(
        insert(Incident),
        [
            {
                "id": n,
                "reference": f"INC-R-{n:06d}",
                "customer_id": customers[n % CUSTOMERS].id,
                "site_id": sites[n % CUSTOMERS].id,
                "status": "resolved",
                "severity": "medium",
                "reported_via": "phone",
                "reporter_name": "Caller",
                "actual": f"Plan incident {n}",
                "occurred_at": reported(n),
                "cause_category": ["customer", "unknown", "our_technician"][n % 3],
                "created_by_id": technician.id,
                "created_at": reported(n),
                "resolved_at": reported(n) + timedelta(days=3),
            }
            for n in ids
        ],
    )
    db.session.execute(
        insert(Proposal),
        [
            {"id": n, "incident_id": n, "author_id": technician.id, "created_at": reported(n)}
            for n in offered
        ],
    )
    db.session.execute(
        insert(ProposalRevision),
        [
            {
                "id": n,
                "proposal_id": n,
                "number": 1,
                "status": "accepted",
                "created_by_id": technician.id,
                "created_at": reported(n),
                "sent_at": reported(n) + timedelta(hours=5),
                "sent_by_id": supervisor.id,
                "pdf_sha256": "0" * 64,
                "customer_pays": Decimal("100.00"),
                "customer_tax": Decimal("6.25"),
                "we_absorb": Decimal("250.00"),
            }
            for n in offered
        ],
    )
    db.session.execute(
        insert(CustomerResponse),
        [
            {
                "revision_id": n,
                "channel": "phone",
                "kind": "accepted",
                "full_name": "Dana Whitfield",
                "pdf_sha256": "0" * 64,
                "created_at": reported(n) + timedelta(days=1),
                "recorded_by_id": supervisor.id,
                "recorded_at": reported(n) + timedelta(days=1),
            }
            for n in offered
        ],
    )
    # The kept figures, as the migration fills them.
    rollups.recompute(db.session.connection())
    db.session.flush()
    return supervisor


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


def _assert_reads_the_period_from(index: str, table: str, column: str, plan: str, dialect: str):
    if dialect == "sqlite":
        # One range per customer of the team: (customer_id=? AND <period>).
        search = f"SEARCH {table} USING COVERING INDEX {index} (customer_id=? AND {column}>?"
        assert search in plan, plan
        assert not re.search(rf"^SCAN {table}\b", plan, re.MULTILINE), plan
        for other in HISTORY:
            assert not re.search(rf"\b{other}\b", plan), plan
    else:
        assert f'"Index Name": "{index}"' in plan, plan
        assert f'"Node Type": "Seq Scan",\n "Relation Name": "{table}"' not in plan, plan
        nodes = re.findall(r'"Relation Name": "(\w+)"', plan)
        assert not set(nodes) & set(HISTORY), plan


def _assert_report_plans(supervisor: User, dialect: str) -> None:
    last = to_local(utcnow()).date()
    period = Period(last - timedelta(days=60), last)
    for grouping in CostGrouping:
        for plan in _plans(lambda g=grouping: cost_of_incidents(supervisor, period, g)):
            _assert_reads_the_period_from(
                "ix_cost_entries_period", "cost_entries", "accepted_at", plan, dialect
            )
    (plan,) = _plans(lambda: cost_total(supervisor, period))
    _assert_reads_the_period_from(
        "ix_cost_entries_period", "cost_entries", "accepted_at", plan, dialect
    )
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
    month_cost = [plan for plan in plans if "cost_entries" in plan]
    assert len(month_cost) == 1
    _assert_reads_the_period_from(
        "ix_cost_entries_period", "cost_entries", "accepted_at", month_cost[0], dialect
    )
    # Incidents by cause, over the last year.
    (by_cause,) = [plan for plan in plans if "ix_incidents_period_figures" in plan]
    _assert_reads_the_period_from(
        "ix_incidents_period_figures", "incidents", "created_at", by_cause, dialect
    )
    for plan in plans:
        assert "audit_events" not in plan, plan
