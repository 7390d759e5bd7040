"""Response times on the known data set (tests/reports/conftest.py): median and 90th
percentile of each step in hours, over the incidents reported in the period that
reached the step; percentiles interpolate linearly between the nearest ranks."""

import pytest

from fieldsvc.reports.services import Period, StepTimes, percentile, response_times
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
