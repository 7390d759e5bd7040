"""Response times on the known data set (tests/reports/conftest.py): median and 90th
percentile of each step in hours, over the incidents reported in the period that
reached the step; percentiles interpolate linearly between the nearest ranks."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from fieldsvc import clock
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Incident
from fieldsvc.reports.services import (
    Period,
    StepTimes,
    _response_times_statement,
    percentile,
    response_time_parameters,
    response_times,
)
from tests import seeding
from tests.reports.conftest import PERIOD


def test_percentiles_interpolate_between_the_nearest_ranks():
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([30.0, 2.0, 6.0, 4.0], 0.5) == pytest.approx(5.0)
    assert percentile([2.0, 4.0, 6.0, 30.0], 0.9) == pytest.approx(22.8)  # 6 + 0.7 * 24
    assert percentile([10.0, 50.0, 696.0], 0.5) == 50.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0], 0.9) == 10.0


def _approx(steps: list[StepTimes]) -> list[tuple]:
    return [
        (
            step.step,
            step.incidents,
            None if step.median_hours is None else round(step.median_hours, 6),
            None if step.p90_hours is None else round(step.p90_hours, 6),
        )
        for step in steps
    ]


def test_each_steps_median_and_90th_percentile_for_the_team(known_data):
    steps = response_times(known_data.supervisor, PERIOD)

    # Sent: i1 2 h, i2 4 h, i3 6 h, i4 30 h (its first, declined, revision).
    # Accepted (first acceptance): i1 24 h, i2 35 h, i3 48 h, i4 90 h.
    # Accepted → resolved: i1 24 h, i3 642 h. Reported → resolved: i1 50 h,
    # i3 696 h, i5 10 h (resolved without a proposal). i6 was reopened: not resolved.
    # i7 was reported before the period; i8 belongs to another team.
    assert _approx(steps) == [
        ("Reported → first proposal sent", 4, 5.0, 22.8),
        ("Proposal sent → accepted", 4, 41.5, 77.4),
        ("Accepted → resolved", 2, 333.0, 580.2),
        ("Reported → resolved (whole way)", 3, 50.0, 566.8),
    ]


def test_admins_count_every_teams_incidents(known_data):
    steps = response_times(known_data.admin, PERIOD)

    # i8 adds 1 h to sent and 23 h to accepted.
    assert _approx(steps)[:2] == [
        ("Reported → first proposal sent", 5, 4.0, 20.4),
        ("Proposal sent → accepted", 5, 35.0, 73.2),
    ]


def test_steps_nobody_reached_have_no_figures(known_data):
    quiet = Period(PERIOD.last.replace(month=6, day=1), PERIOD.last)
    assert _approx(response_times(known_data.supervisor, quiet)) == [
        ("Reported → first proposal sent", 0, None, None),
        ("Proposal sent → accepted", 0, None, None),
        ("Accepted → resolved", 0, None, None),
        ("Reported → resolved (whole way)", 0, None, None),
    ]


def test_reports_page_shows_response_times_in_hours(client, known_data):
    client.sign_in(known_data.supervisor.email)

    page = client.get("/reports?from=2026-01-01&to=2026-06-30").get_data(as_text=True)

    assert 'data-label="90th percentile (hours)">22.8</td>' in page
    assert 'data-label="90th percentile (hours)">580.2</td>' in page


def test_the_percentiles_are_those_of_the_hours_for_any_number_of_incidents(app):
    """The database returns only the values next to each percentile's rank: checked
    against all the hours put in order here, for 1 to 12 incidents in a period."""
    plan = seeding.company(4, name="Ranks")
    first = plan.next_incident_id()
    reported = datetime(2026, 3, 1, 12, tzinfo=UTC)
    hours = [(n * 37) % 53 + n / 8 for n in range(12)]  # in no order, 2 equal ones
    hours[7] = hours[3]
    seeding.insert_incidents(
        plan,
        (
            {
                "id": first + n,
                "status": "resolved",
                "created_at": reported + timedelta(days=n),
                "resolved_at": reported + timedelta(days=n, hours=hours[n]),
            }
            for n in range(12)
        ),
    )
    seeding.keep_figures(clock.company_zone())
    team = [n for n in range(12) if (first + n) % 4 % 2]  # customers of the supervisor's team
    for count in range(1, 13):
        period = Period(date(2026, 3, 1), date(2026, 3, count))
        whole_way = response_times(plan.supervisor, period)[3]
        expected = [hours[n] for n in team if n < count]
        assert whole_way.incidents == len(expected)
        assert whole_way.median_hours == pytest.approx(percentile(expected, 0.5), abs=1e-6)
        assert whole_way.p90_hours == pytest.approx(percentile(expected, 0.9), abs=1e-6)


def _resolved_hourly(plan, minutes: list[int]) -> int:
    """Incidents of the supervisor's team reported an hour apart from 1 March 2026, noon,
    each resolved the given minutes later, with their figures kept; the first one's id."""
    first = plan.next_incident_id()
    reported = datetime(2026, 3, 1, 12, tzinfo=UTC)
    seeding.insert_incidents(
        plan,
        (
            {
                "id": first + n,
                "status": "resolved",
                "customer_id": plan.customers[1].id,  # the supervisor's team's
                "site_id": plan.sites[1].id,
                "created_at": reported + timedelta(hours=n),
                "resolved_at": reported + timedelta(hours=n, minutes=taken),
            }
            for n, taken in enumerate(minutes)
        ),
    )
    seeding.keep_figures(clock.company_zone())
    return first


def test_the_percentiles_are_exactly_those_of_the_kept_hours(app):
    """Worked out by the database (PostgreSQL) or here (SQLite), the figures are the
    same floating-point numbers `percentile` gives for the hours each incident keeps:
    exact, not rounded, whatever the number of incidents."""
    plan = seeding.company(4, name="Exact")
    # Hours with long fractions.
    first = _resolved_hourly(plan, [(n * 7919) % 4001 + 1 for n in range(41)])
    kept = db.session.scalars(
        select(Incident.reported_to_resolved_hours).where(Incident.id.between(first, first + 40))
    ).all()

    whole_way = response_times(plan.supervisor, Period(date(2026, 3, 1), date(2026, 3, 3)))[3]

    assert whole_way.incidents == 41
    assert whole_way.median_hours == percentile(kept, 0.5)
    assert whole_way.p90_hours == percentile(kept, 0.9)
    assert whole_way.p90_hours != round(whole_way.p90_hours, 6)  # a long fraction indeed


def test_the_figures_cross_from_the_database_as_a_row_per_month_whatever_the_incidents(app):
    """Each step's count and percentiles come back in one row on PostgreSQL
    (`percentile_cont`); on SQLite a row of sorted hours per team and whole month and one
    of the days around them (its own aggregate): not a row per incident of the period,
    as a year of a team's incidents is thousands of rows, most of the report's time."""
    plan = seeding.company(4, name="One row")
    _resolved_hourly(plan, [90 + n for n in range(5)])
    connection = db.session.connection()
    dialect = connection.dialect.name
    for period, rows in (
        (Period(date(2026, 3, 1), date(2026, 3, 3)), 1),
        (Period(date(2026, 2, 20), date(2026, 4, 3)), 1 if dialect == "postgresql" else 2),
    ):
        assert response_times(plan.supervisor, period)[3].incidents == 5
        shape, parameters = response_time_parameters(plan.supervisor, period, dialect)
        statement = _response_times_statement(*shape)
        assert len(connection.execute(statement, parameters).all()) == rows


def test_a_period_without_incidents_has_no_percentiles(known_data):
    steps = response_times(known_data.admin, Period(date(2001, 1, 1), date(2001, 12, 31)))
    assert [(step.incidents, step.median_hours, step.p90_hours) for step in steps] == [
        (0, None, None)
    ] * 4
