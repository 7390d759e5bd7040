"""The response times read the steps' hours kept sorted by team and month for the whole
months of a period (SQLite) and the days around them from the incidents, and show
exactly the percentiles of the incidents' own hours: for a team, an admin (every team,
and the customers no team serves) and someone of no team, in a zone with daylight
saving time and one with a half-hour offset, incidents on both sides of month edges.
The kept hours follow sending, acceptance, resolution, an incident moved to another
customer or month, and a customer's move to another team; `flask reports verify`
names a month that differs, `rebuild` mends it; the migration fills them."""

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import flask_migrate
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, update

from fieldsvc import create_app
from fieldsvc.auth.models import Role, User
from fieldsvc.customers.models import Customer, Site
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Incident, IncidentStatus
from fieldsvc.incidents.services import customers_visible_to
from fieldsvc.portal.models import ResponseKind
from fieldsvc.reports import months, steps
from fieldsvc.reports.models import TeamMonthSteps
from fieldsvc.reports.services import (
    PERCENTILES,
    STEPS,
    Period,
    StepTimes,
    percentile,
    response_times,
    whole_months,
)
from tests import postgres, seeding
from tests.conftest import test_config as config_for
from tests.reports.conftest import utc

INCIDENTS = 160
FIRST_MONTH, LAST_MONTH = date(2025, 1, 1), date(2026, 6, 1)


def _from_the_incidents(user: User, period: Period) -> list[StepTimes]:
    """The response times worked out here from every visible incident of the period."""
    incidents = Incident.__table__.c
    rows = db.session.execute(
        select(*(incidents[name] for name in steps.STEP_COLUMNS))
        .join(Customer, Customer.id == incidents.customer_id)
        .where(
            customers_visible_to(user),
            incidents.created_at >= period.start,
            incidents.created_at < period.end,
        )
    ).all()
    found = []
    for n, name in enumerate(STEPS):
        hours = [row[n] for row in rows if row[n] is not None]
        found.append(StepTimes(name, len(hours), *(percentile(hours, f) for f in PERCENTILES)))
    return found


def _random_history(rng: random.Random, zone: ZoneInfo) -> dict[str, User]:
    """Incidents reported close to a month's start in `zone` (on either side) or within
    it, by customers of two teams and one no team serves; most sent and accepted, many
    resolved, hours with long fractions."""
    plan = seeding.company(6, name="Steps")
    loner = Customer(name="Steps loner", team=None)
    loner_site = Site(customer=loner, name="Plant", address="1 Road")
    admin = User(name="Steps admin", email="steps-admin@example.com", role=Role.ADMIN)
    nobody = User(name="Steps nobody", email="steps-nobody@example.com", role=Role.SUPERVISOR)
    for user in (admin, nobody):
        user.password_hash = "x"
    db.session.add_all([loner, loner_site, admin, nobody])
    db.session.flush()
    firsts, month = [], FIRST_MONTH
    while month <= LAST_MONTH:
        firsts.append(month)
        month = months.following(month)

    def moment() -> datetime:
        start = months.month_start(rng.choice(firsts), zone)
        if rng.random() < 0.6:
            return start + timedelta(minutes=rng.randint(-180, 180), seconds=rng.randint(0, 59))
        return start + timedelta(minutes=rng.randint(0, 60 * 24 * 27))

    def later(at: datetime) -> datetime:
        return at + timedelta(minutes=rng.randint(1, 60 * 24 * 9), seconds=rng.randint(0, 59))

    first = plan.next_incident_id()
    rows, offers = [], []
    for n in range(first, first + INCIDENTS):
        reported = moment()
        row = {"id": n, "created_at": reported}
        if n % 7 == 0:
            row |= {"customer_id": loner.id, "site_id": loner_site.id}
        accepted = reported
        if rng.random() < 0.8:
            sent = later(reported)
            accepted = later(sent)
            offers.append(seeding.Offer(n, sent, accepted))
        if rng.random() < 0.6:
            row |= {"status": "resolved", "resolved_at": later(accepted)}
        rows.append(row)
    seeding.insert_incidents(plan, rows)
    seeding.insert_accepted_offers(plan, offers)
    seeding.keep_figures(zone)
    return {"admin": admin, "supervisor": plan.supervisor, "nobody": nobody}


def _periods(rng: random.Random) -> list[Period]:
    periods = [
        Period(date(2025, 1, 1), date(2026, 6, 30)),  # whole months only
        Period(date(2025, 3, 1), date(2025, 3, 31)),  # one whole month
        Period(date(2025, 3, 9), date(2025, 3, 9)),  # the night the clocks change
        Period(date(2025, 12, 31), date(2026, 1, 1)),  # across a year's edge
    ]
    days = (LAST_MONTH - FIRST_MONTH).days + 29
    for _ in range(8):
        first = FIRST_MONTH + timedelta(days=rng.randint(0, days))
        periods.append(Period(first, first + timedelta(days=rng.randint(0, 400))))
    assert sum(1 for period in periods if whole_months(period)) >= 5
    return periods


@pytest.fixture(params=["America/New_York", "Asia/Kolkata"])
def zone(app, request) -> ZoneInfo:
    app.config.update(TIMEZONE=request.param)
    return ZoneInfo(request.param)


def test_every_period_shows_the_percentiles_of_its_incidents_hours_to_the_bit(zone, app):
    rng = random.Random(21)
    people = _random_history(rng, zone)
    assert db.session.scalar(select(func.count()).select_from(TeamMonthSteps)) > 30
    for period in _periods(rng):
        for name, user in people.items():
            assert response_times(user, period) == _from_the_incidents(user, period), (
                name,
                period,
            )
    year = Period(date(2025, 1, 1), date(2025, 12, 31))
    assert response_times(people["admin"], year)[3].incidents > 40
    assert response_times(people["nobody"], year)[3].incidents == 0

    # After the company's zone changed, the months kept in the old one are not read.
    auckland = ZoneInfo("Pacific/Auckland")
    app.config.update(TIMEZONE=auckland.key)
    for period in (
        year,
        Period(date(2025, 2, 14), date(2025, 9, 3)),  # days before and after whole months
        Period(date(2025, 2, 14), date(2025, 6, 30)),  # days before them only
        Period(date(2025, 3, 9), date(2025, 3, 9)),  # no whole month
    ):
        for user in people.values():
            assert response_times(user, period) == _from_the_incidents(user, period)


def _assert_kept_as_the_incidents_say(*users: User) -> None:
    db.session.flush()
    assert steps.problems(db.session.connection()) == []
    year = Period(date(2025, 12, 1), date(2026, 11, 30))
    for user in users:
        assert response_times(user, year) == _from_the_incidents(user, year)


def test_the_kept_hours_follow_sending_acceptance_resolution_and_moves(
    known_data, make_offer, make_team
):
    """Every change below goes through the flush: the kept rows must follow each one."""
    supervisor, admin = known_data.supervisor, known_data.admin
    i1, i5, i6 = (known_data.incidents[name] for name in ("i1", "i5", "i6"))
    kept = select(func.count()).select_from(TeamMonthSteps)
    assert db.session.scalar(kept) >= 4
    _assert_kept_as_the_incidents_say(supervisor, admin)

    # Sent, then accepted: i6 reaches the first two steps.
    revision = make_offer(i6, sent_at=utc(5, 3, 7), pays="1.00", tax="0.00", absorb="0.00")
    _assert_kept_as_the_incidents_say(supervisor, admin)
    make_offer(
        i6,
        proposal=revision.proposal,
        sent_at=utc(5, 4, 7),
        pays="1.00",
        tax="0.00",
        absorb="0.00",
        answer=ResponseKind.ACCEPTED,
        answered_at=utc(5, 9, 1),
    )
    _assert_kept_as_the_incidents_say(supervisor, admin)
    # Resolved again, later.
    i6.status, i6.resolved_at = IncidentStatus.RESOLVED, utc(5, 20, 3)
    _assert_kept_as_the_incidents_say(supervisor, admin)
    # Reported in another month (31 January in New York), and for another customer.
    i1.created_at = utc(2, 1, 3)
    _assert_kept_as_the_incidents_say(supervisor, admin)
    i5.customer = known_data.incidents["i8"].customer
    _assert_kept_as_the_incidents_say(supervisor, admin, known_data.other_supervisor)
    # A customer served by another team, then by none, then by the team again.
    customer = i1.customer
    team = customer.team
    customer.team = make_team()
    _assert_kept_as_the_incidents_say(supervisor, admin)
    customer.team = None
    _assert_kept_as_the_incidents_say(supervisor, admin)
    customer.team_id = team.id
    _assert_kept_as_the_incidents_say(supervisor, admin)


def test_verify_names_a_month_that_differs_and_rebuild_mends_it(app, runner):
    rng = random.Random(22)
    zone = ZoneInfo("America/New_York")
    app.config.update(TIMEZONE=zone.key)
    people = _random_history(rng, zone)
    db.session.commit()
    assert runner.invoke(args=["reports", "verify"]).exit_code == 0

    supervisor = people["supervisor"]
    march = db.session.scalars(
        select(TeamMonthSteps).where(
            TeamMonthSteps.team_id == supervisor.team_id, TeamMonthSteps.month == date(2025, 3, 1)
        )
    ).one()
    db.session.execute(
        update(TeamMonthSteps)
        .where(TeamMonthSteps.id == march.id)
        .values(reported_to_resolved_hours=steps.pack([1e6] * 3))
    )
    db.session.commit()
    period = Period(date(2025, 3, 1), date(2025, 3, 31))
    if db.session.connection().dialect.name == "sqlite":  # read from the kept months
        assert response_times(supervisor, period)[3].p90_hours == 1e6
    broken = runner.invoke(args=["reports", "verify"])
    assert broken.exit_code == 1
    assert (
        f"month 2025-03 of team {supervisor.team_id}: response times differ from its incidents"
        in broken.output
    )

    assert runner.invoke(args=["reports", "rebuild"]).exit_code == 0
    assert runner.invoke(args=["reports", "verify"]).exit_code == 0
    assert response_times(supervisor, period) == _from_the_incidents(supervisor, period)


def test_the_migration_fills_the_kept_hours(database_url, tmp_path):
    with postgres.fresh_database(database_url, "steps", tmp_path) as fresh:
        app = create_app(config_for(fresh, TIMEZONE="America/New_York"))
        with app.app_context():
            flask_migrate.upgrade()
            _random_history(random.Random(23), ZoneInfo("America/New_York"))
            db.session.commit()
            facts = db.session.execute(select(TeamMonthSteps.team_id, TeamMonthSteps.month)).all()
            db.session.close()
            alembic_config = app.extensions["migrate"].migrate.get_config()
            before = ScriptDirectory.from_config(alembic_config).get_revision(
                "0026_team_month_steps"
            )
            command.downgrade(alembic_config, before.down_revision)
            command.upgrade(alembic_config, "head")
            backfilled = db.session.execute(
                select(TeamMonthSteps.team_id, TeamMonthSteps.month)
            ).all()
            assert len(backfilled) > 30
            assert sorted(backfilled, key=str) == sorted(facts, key=str)
            assert steps.problems(db.session.connection()) == []
            db.session.close()
            db.engine.dispose()


def test_kept_hours_are_the_incidents_floats_to_the_bit():
    hours = [1 / 3, 2.0**-40, 1e300, 123456.789012345678, 0.1 + 0.2]
    assert list(steps.unpack(steps.pack(hours))) == hours
    assert steps.pack([1.0]) == b"\x00\x00\x00\x00\x00\x00\xf0\x3f"  # little-endian
