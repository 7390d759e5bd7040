"""Who may open the reports, and bad input: reversed, absurd or unparsable date
ranges, unknown parameters and reports get a clear message in the page (400), never
a 500 and never a file."""

from datetime import date

import pytest

from fieldsvc.auth.models import Role
from fieldsvc.clock import to_local
from fieldsvc.database import utcnow
from fieldsvc.errors import FieldError
from fieldsvc.reports.services import Period, default_first_day, report_period

TODAY = date(2026, 11, 23)


def test_the_default_period_is_the_last_twelve_calendar_months():
    assert report_period(None, None, today=TODAY) == Period(date(2025, 12, 1), TODAY)
    assert report_period(None, date(2026, 1, 15), today=TODAY) == Period(
        date(2025, 2, 1), date(2026, 1, 15)
    )
    assert report_period(date(2026, 3, 1), None, today=TODAY) == Period(date(2026, 3, 1), TODAY)
    assert default_first_day(date(2026, 12, 31)) == date(2026, 1, 1)


def test_a_period_of_up_to_ten_years_is_accepted():
    assert report_period(date(2016, 1, 1), date(2025, 12, 31), today=TODAY)
    assert report_period(date(2016, 2, 29), date(2026, 2, 27), today=TODAY)
    with pytest.raises(FieldError, match="at most 10 years"):
        report_period(date(2016, 1, 1), date(2026, 1, 1), today=TODAY)
    with pytest.raises(FieldError, match="at most 10 years"):
        report_period(date(2016, 2, 29), date(2026, 2, 28), today=TODAY)


def test_months_of_a_period_include_partial_ones():
    assert Period(date(2025, 11, 30), date(2026, 2, 1)).months() == [
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-05-01&to=2026-01-01", "“From” (2026-05-01) is after “to” (2026-01-01)"),
        ("from=1999-12-31&to=2000-06-30", "Reports start on 1 January 2000 at the earliest."),
        ("from=1066-10-14", "Reports start on 1 January 2000 at the earliest."),
        ("from=2000-01-01&to=2026-01-01", "Choose at most 10 years"),
        ("from=9990-01-01&to=9999-12-31", "“To” (9999-12-31) is more than a year from today."),
        ("from=yesterday", "Not a date: type it as YYYY-MM-DD"),
        ("to=2026-02-30", "Not a date: type it as YYYY-MM-DD"),
        ("to=99999-01-01", "Not a date: type it as YYYY-MM-DD"),
        ("group=planet", "Unknown parameter “group”: reports take only “from” and “to”"),
        ("from=2026-01-01&from_date=2026-01-01", "Unknown parameter “from_date”"),
    ],
)
@pytest.mark.parametrize("url", ["/reports", "/reports/cost-by-month.csv"])
def test_bad_ranges_and_parameters_are_a_clear_400_in_the_page(
    client, signed_in, make_team, url, query, message
):
    signed_in(Role.SUPERVISOR, team=make_team())

    response = client.get(f"{url}?{query}")

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert message in page
    assert 'name="from"' in page  # the form, to correct it


def test_an_unknown_report_is_a_clear_400(client, signed_in, make_team):
    signed_in(Role.ADMIN)

    response = client.get("/reports/cost-by-planet.csv?from=2026-01-01&to=2026-06-30")

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "There is no report “cost-by-planet”; the reports are cost-by-month," in page


def test_the_page_shows_the_dates_it_used(client, signed_in, make_team):
    signed_in(Role.SUPERVISOR, team=make_team())
    today = to_local(utcnow()).date()

    page = client.get("/reports?from=&to=").get_data(as_text=True)

    assert f'value="{default_first_day(today):%Y-%m-%d}"' in page
    assert f'value="{today:%Y-%m-%d}"' in page


def test_technicians_may_not_open_reports(client, signed_in, make_team):
    signed_in(Role.TECHNICIAN, team=make_team())

    assert client.get("/reports").status_code == 403
    assert client.get("/reports/cost-by-customer.csv").status_code == 403
    assert client.get("/reports/response-times.csv").status_code == 403
    assert 'href="/reports"' not in client.get("/my-day").get_data(as_text=True)


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/reports/cost-by-month.csv")

    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN])
def test_supervisors_and_admins_find_reports_in_the_menu(client, signed_in, make_team, role):
    signed_in(role, team=make_team())

    assert '<a href="/reports">Reports</a>' in client.get("/my-day").get_data(as_text=True)
    assert client.get("/reports").status_code == 200


def test_another_teams_supervisor_sees_none_of_this_teams_figures(client, known_data):
    client.sign_in(known_data.other_supervisor.email)

    page = client.get("/reports?from=2026-01-01&to=2026-06-30").get_data(as_text=True)

    assert "Northwind Pharma" not in page
    assert "Tom Technician" not in page
    assert "Other Co" in page
    assert "USD 999.00" in page
