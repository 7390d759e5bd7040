"""The cost reports read whole months from the month rows and the days around them from
the cost entries, and show exactly the figures of every accepted revision added up one
by one: on a random history, in a zone with daylight saving time and one with a
half-hour offset, for periods that start and end on any day (month edges, the nights
the clocks change). The months, and their sums by customer and by team, follow every
change to the facts and a customer moving to another team; `flask reports verify` names
a month that differs or a time zone that changed, `rebuild` repairs both; the migration
adds the customers' months up as `rebuild` does."""

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import flask_migrate
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import select, update

from fieldsvc import create_app
from fieldsvc.auth.models import Role, User
from fieldsvc.customers.models import Customer
from fieldsvc.extensions import db
from fieldsvc.incidents.models import CauseCategory, Incident
from fieldsvc.portal.models import CustomerResponse
from fieldsvc.reports import months
from fieldsvc.reports.models import CostEntry, CustomerMonth, ReportMonth, TeamMonth
from fieldsvc.reports.services import (
    REPORTED_BY_CUSTOMER,
    CostGrouping,
    CostRow,
    Costs,
    Period,
    costs,
    whole_months,
)
from tests import postgres, seeding
from tests.conftest import test_config as config_for

INCIDENTS = 150
FIRST_MONTH, LAST_MONTH = date(2024, 1, 1), date(2026, 12, 1)
# Nights the clocks change in New York (2025) and the turn of a year.
SPECIAL_DAYS = (date(2025, 3, 9), date(2025, 11, 2), date(2025, 12, 31), date(2026, 1, 1))


def _month_firsts() -> list[date]:
    firsts, month = [], FIRST_MONTH
    while month <= LAST_MONTH:
        firsts.append(month)
        month = months.following(month)
    return firsts


def _random_history(rng: random.Random, zone: ZoneInfo) -> dict[str, User]:
    """Incidents with one to three accepted revisions each, many within hours of a month's
    start in `zone`, some twice in a month or twice at the same instant."""
    plan = seeding.company(6, name="Months")
    admin = User(
        name="Months admin", email="months-admin@example.com", role=Role.ADMIN, password_hash="x"
    )
    db.session.add(admin)
    first = plan.next_incident_id()
    ids = range(first, first + INCIDENTS)
    firsts = _month_firsts()
    seeding.insert_incidents(
        plan,
        (
            {
                "id": n,
                "created_at": datetime(2023, 12, 1, tzinfo=UTC),
                "cause_category": rng.choice(list(CauseCategory)).value,
                "created_by_id": None if n % 9 == 0 else plan.technician.id,
            }
            for n in ids
        ),
    )

    def moment() -> datetime:
        start = months.month_start(rng.choice(firsts), zone)
        if rng.random() < 0.6:  # close to a month's edge, on either side
            return start + timedelta(minutes=rng.randint(-180, 180), seconds=rng.randint(0, 59))
        return start + timedelta(minutes=rng.randint(0, 60 * 24 * 27))

    def money() -> Decimal:
        return Decimal(rng.randint(0, 9_999_999)) / 100

    offers = []
    for n in ids:
        times = sorted(moment() for _ in range(rng.choice((1, 1, 2, 3))))
        if len(times) > 1 and rng.random() < 0.3:
            times[1] = times[0] + rng.choice((timedelta(0), timedelta(days=3)))
        offers += [
            seeding.Offer(n, at - timedelta(hours=2), at, money(), money(), money()) for at in times
        ]
    seeding.insert_accepted_offers(plan, offers)
    seeding.keep_figures(zone)
    return {"admin": admin, "supervisor": plan.supervisor}


def _one_by_one(user: User, period: Period, zone: ZoneInfo) -> Costs:
    """The cost report as the accepted revisions give it, each read and added up here."""
    visible = select(Customer.id)
    if user.role is not Role.ADMIN:
        visible = visible.where(Customer.team_id == user.team_id)
    found = db.session.execute(
        select(CostEntry, Customer.name, User.name)
        .join(Customer, Customer.id == CostEntry.customer_id)
        .outerjoin(User, User.id == CostEntry.technician_id)
        .where(
            CostEntry.customer_id.in_(visible),
            CostEntry.accepted_at >= period.start,
            CostEntry.accepted_at < period.end,
        )
    ).all()
    groups: dict[tuple, list] = {}

    def add(key: tuple, entry: CostEntry) -> None:
        figures = groups.setdefault(key, [set(), Decimal(0), Decimal(0), Decimal(0)])
        figures[0].add(entry.incident_id)
        figures[1] += entry.we_absorb or 0
        figures[2] += entry.customer_pays or 0
        figures[3] += entry.customer_tax or 0

    for month in period.months():
        groups[CostGrouping.MONTH, f"{month:%Y-%m}"] = [set(), Decimal(0), Decimal(0), Decimal(0)]
    for entry, customer, technician in found:
        add((CostGrouping.MONTH, f"{entry.accepted_at.astimezone(zone):%Y-%m}"), entry)
        add((CostGrouping.CUSTOMER, customer), entry)
        add((CostGrouping.TECHNICIAN, technician or REPORTED_BY_CUSTOMER), entry)
        add((CostGrouping.CAUSE, entry.cause_category.label), entry)
        add(("total", "Total"), entry)

    def row(key: tuple) -> CostRow:
        ids, absorbed, paid, tax = groups.get(key, [set(), 0, 0, 0])
        return CostRow(key[1], len(ids), Decimal(absorbed), Decimal(paid), Decimal(tax))

    result = {}
    for grouping in CostGrouping:
        rows = [row(key) for key in groups if key[0] == grouping]
        if grouping is not CostGrouping.MONTH:
            rows.sort(key=lambda r: (-r.we_absorbed, r.label))
        result[grouping] = rows
    return Costs(result, row(("total", "Total")))


def _random_periods(rng: random.Random) -> list[Period]:
    days = [*SPECIAL_DAYS]
    for month in _month_firsts():
        days += [month, months.following(month) - timedelta(days=1)]
    days += [FIRST_MONTH + timedelta(days=rng.randint(0, 1100)) for _ in range(20)]
    periods = [Period(date(2024, 1, 1), date(2026, 12, 31))]
    while len(periods) < 40:
        first, last = sorted(rng.sample(days, 2))
        periods.append(Period(first, last))
    periods += [Period(day, day) for day in SPECIAL_DAYS]
    return periods


@pytest.fixture(params=["America/New_York", "Asia/Kolkata"])
def zone(app, request) -> ZoneInfo:
    app.config.update(TIMEZONE=request.param)
    return ZoneInfo(request.param)


def test_every_period_shows_the_figures_of_its_accepted_revisions_added_up_one_by_one(zone):
    rng = random.Random(13)
    people = _random_history(rng, zone)
    periods = _random_periods(rng)
    # Both ways of reading are exercised: whole months with partial ones around them,
    # and periods inside one or two months.
    assert sum(1 for p in periods if whole_months(p) and p.first.day != 1) >= 5
    assert sum(1 for p in periods if not whole_months(p)) >= 5
    for period in periods:
        for user in people.values():
            assert costs(user, period) == _one_by_one(user, period, zone), (user.name, period)


def test_the_months_follow_every_change_to_the_accepted_revisions_and_to_the_teams(zone):
    rng = random.Random(14)
    people = _random_history(rng, zone)
    period = Period(date(2024, 2, 10), date(2026, 11, 20))

    def assert_months_as_the_entries_say():
        db.session.flush()
        assert months.problems(db.session.connection(), zone) == []
        for user in people.values():  # an admin (every team), a supervisor (their team)
            assert costs(user, period) == _one_by_one(user, period, zone), user.name

    responses = db.session.scalars(select(CustomerResponse).order_by(CustomerResponse.id)).all()
    incidents = db.session.scalars(select(Incident).order_by(Incident.id)).all()
    other_customer = db.session.scalars(select(Customer).order_by(Customer.id.desc())).first()
    # Accepted a few hours later: across a month's edge for many of them.
    for response in rng.sample(responses, 10):
        response.created_at += timedelta(hours=rng.randint(1, 12))
        assert_months_as_the_entries_say()
    incidents[0].cause_category = CauseCategory.THIRD_PARTY
    assert_months_as_the_entries_say()
    incidents[1].customer = other_customer
    assert_months_as_the_entries_say()
    db.session.delete(responses[2])
    assert_months_as_the_entries_say()
    # "Served by" changes: the supervisor's team takes a customer over, another
    # customer is served by no team for a while, then by the team again.
    supervisor = people["supervisor"]
    theirs = db.session.scalars(
        select(Customer).where(Customer.team_id == supervisor.team_id).order_by(Customer.id)
    ).all()
    taken_over = db.session.scalars(
        select(Customer).where(Customer.team_id != supervisor.team_id).order_by(Customer.id)
    ).first()
    before = costs(supervisor, period)
    taken_over.team_id = supervisor.team_id
    assert_months_as_the_entries_say()
    assert costs(supervisor, period).total.we_absorbed > before.total.we_absorbed
    theirs[0].team = None
    assert_months_as_the_entries_say()
    theirs[0].team = supervisor.team
    assert_months_as_the_entries_say()


def test_verify_names_a_month_that_differs_and_a_changed_zone_and_rebuild_repairs_both(
    zone, app, runner
):
    rng = random.Random(15)
    _random_history(rng, zone)
    db.session.commit()
    verified = runner.invoke(args=["reports", "verify"])
    assert verified.exit_code == 0, verified.output

    db.session.execute(update(ReportMonth).values(we_absorb=Decimal("1.00")))
    db.session.commit()
    broken = runner.invoke(args=["reports", "verify"])
    assert broken.exit_code == 1
    assert "differs from its cost entries" in broken.output
    assert "differs from its customers' months" in broken.output  # no longer their sum

    app.config.update(TIMEZONE="Pacific/Auckland")
    moved = runner.invoke(args=["reports", "verify"])
    assert f"monthly figures are added up in {zone.key}" in moved.output
    assert "the company's time zone is Pacific/Auckland" in moved.output

    rebuilt = runner.invoke(args=["reports", "rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert runner.invoke(args=["reports", "verify"]).exit_code == 0
    assert months.zone_added_up_in(db.session.connection()) == "Pacific/Auckland"

    db.session.execute(update(TeamMonth).values(customer_tax=Decimal("2.00")))
    db.session.commit()
    teams_broken = runner.invoke(args=["reports", "verify"])
    assert teams_broken.exit_code == 1
    assert "differs from its customers' months" in teams_broken.output
    assert "differs from its cost entries" not in teams_broken.output
    assert runner.invoke(args=["reports", "rebuild"]).exit_code == 0
    assert runner.invoke(args=["reports", "verify"]).exit_code == 0


def test_verify_names_a_customer_month_that_differs_and_rebuild_mends_it(zone, runner):
    rng = random.Random(17)
    people = _random_history(rng, zone)
    db.session.commit()
    supervisor = people["supervisor"]
    tampered = db.session.scalars(
        select(CustomerMonth)
        .join(Customer, Customer.id == CustomerMonth.customer_id)
        .where(Customer.team_id == supervisor.team_id, CustomerMonth.month == date(2025, 6, 1))
        .order_by(CustomerMonth.id)
    ).first()
    customer = db.session.get(Customer, tampered.customer_id)
    period = Period(date(2025, 6, 1), date(2025, 6, 30))
    before = costs(supervisor, period)
    db.session.execute(
        update(CustomerMonth)
        .where(CustomerMonth.id == tampered.id)
        .values(we_absorb=CustomerMonth.we_absorb + Decimal("1000.00"))
    )
    db.session.commit()
    # The grouping by customer reads the customers' months; the others do not.
    (shown,) = [
        r
        for r in costs(supervisor, period).groupings[CostGrouping.CUSTOMER]
        if r.label == customer.name
    ]
    (was,) = [r for r in before.groupings[CostGrouping.CUSTOMER] if r.label == customer.name]
    assert shown.we_absorbed == was.we_absorbed + Decimal("1000.00")
    assert (
        costs(supervisor, period).groupings[CostGrouping.CAUSE]
        == before.groupings[CostGrouping.CAUSE]
    )

    broken = runner.invoke(args=["reports", "verify"])
    assert broken.exit_code == 1
    assert (
        f"month 2025-06 of customer {customer.id}: added up differs from its month rows"
        in broken.output
    )
    assert "differs from its cost entries" not in broken.output
    assert "differs from its customers' months" not in broken.output

    assert runner.invoke(args=["reports", "rebuild"]).exit_code == 0
    assert runner.invoke(args=["reports", "verify"]).exit_code == 0
    assert costs(supervisor, period) == before == _one_by_one(supervisor, period, zone)


def _customer_months() -> list[tuple]:
    rows = db.session.execute(
        select(
            CustomerMonth.customer_id,
            CustomerMonth.month,
            CustomerMonth.previous_accepted_at,
            CustomerMonth.revisions,
            CustomerMonth.we_absorb,
            CustomerMonth.customer_pays,
            CustomerMonth.customer_tax,
        )
    )
    return sorted((tuple(row) for row in rows), key=str)


def test_the_migration_adds_up_the_customers_months_as_rebuild_does(database_url, tmp_path):
    zone = ZoneInfo("America/New_York")
    with postgres.fresh_database(database_url, "customer_months", tmp_path) as fresh:
        app = create_app(config_for(fresh, TIMEZONE=zone.key))
        with app.app_context():
            flask_migrate.upgrade()
            _random_history(random.Random(18), zone)
            db.session.commit()
            kept = _customer_months()
            assert len(kept) > 100
            assert any(row[2] is not None for row in kept)  # earlier acceptances apart
            db.session.close()
            alembic_config = app.extensions["migrate"].migrate.get_config()
            this = ScriptDirectory.from_config(alembic_config).get_revision("0027_customer_months")
            command.downgrade(alembic_config, this.down_revision)
            command.upgrade(alembic_config, "head")
            assert _customer_months() == kept
            assert months.problems(db.session.connection(), zone) == []
            db.session.close()
            db.engine.dispose()


def test_a_report_after_the_zone_changed_reads_the_accepted_revisions_until_rebuilt(zone, app):
    rng = random.Random(16)
    people = _random_history(rng, zone)
    auckland = ZoneInfo("Pacific/Auckland")
    app.config.update(TIMEZONE=auckland.key)
    period = Period(date(2024, 3, 15), date(2026, 6, 15))
    admin = people["admin"]
    assert costs(admin, period) == _one_by_one(admin, period, auckland)
