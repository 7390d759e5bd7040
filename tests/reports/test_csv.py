"""CSV files: every report, and the incident list with the list's filters; UTF-8 with
a header row, downloaded as an attachment, and text that a spreadsheet would run as a
formula neutralised with a leading ' (OWASP CSV injection)."""

import csv
import io
from decimal import Decimal

import pytest

from fieldsvc.audit.services import acting
from fieldsvc.auth.models import Role
from fieldsvc.clock import to_local
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents.models import FollowUp, IncidentStatus, Severity
from fieldsvc.reports.exports import neutralise
from tests.incidents.test_list import _references
from tests.reports.conftest import FORMULA_CUSTOMER, utc

RANGE = "from=2026-01-01&to=2026-06-30"


def _download(client, url: str, filename: str) -> list[list[str]]:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    assert response.mimetype_params["charset"] == "utf-8"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{filename}"'
    body = response.get_data()
    assert body.startswith("\ufeff".encode())  # so Excel reads it as UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("=1+2", "'=1+2"),
        ("+1+2", "'+1+2"),
        ("-1+2", "'-1+2"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1+2", "'\t=1+2"),
        ("\r=1+2", "'\r=1+2"),
        ("Northwind = good", "Northwind = good"),
        ("", ""),
    ],
)
def test_text_a_spreadsheet_would_run_gets_a_leading_quote(text, safe):
    assert neutralise(text) == safe


def test_numbers_stay_numbers():
    assert neutralise(Decimal("-12.50")) == Decimal("-12.50")
    assert neutralise(3) == 3


def test_cost_reports_as_csv(client, known_data):
    client.sign_in(known_data.supervisor.email)

    def download(name: str) -> list[list[str]]:
        return _download(
            client, f"/reports/{name}.csv?{RANGE}", f"{name}-2026-01-01-to-2026-06-30.csv"
        )

    amounts = [
        "Incidents",
        "We absorbed (USD)",
        "Customer paid before tax (USD)",
        "Customer tax (USD)",
    ]
    assert download("cost-by-month") == [
        ["Month", *amounts],
        ["2026-01", "1", "1180.00", "350.00", "21.88"],
        ["2026-02", "1", "50.00", "100.00", "6.25"],
        ["2026-03", "1", "300.00", "200.00", "12.50"],
        ["2026-04", "2", "75.50", "500.00", "31.25"],
        ["2026-05", "0", "0.00", "0.00", "0.00"],
        ["2026-06", "0", "0.00", "0.00", "0.00"],
    ]
    assert download("cost-by-customer") == [
        ["Customer", *amounts],
        ["Northwind Pharma", "3", "1555.50", "1050.00", "65.63"],
        ["'" + FORMULA_CUSTOMER, "1", "50.00", "100.00", "6.25"],
    ]
    assert download("cost-by-technician") == [
        ["Technician", *amounts],
        ["Tom Technician", "2", "1230.00", "450.00", "28.13"],
        ["Uma Technician", "1", "375.50", "200.00", "12.50"],
        ["Reported by the customer", "1", "0.00", "500.00", "31.25"],
    ]
    assert download("cost-by-cause") == [
        ["Cause (internal)", *amounts],
        ["Our technician", "2", "1555.50", "550.00", "34.38"],
        ["Third party", "1", "50.00", "100.00", "6.25"],
        ["Customer", "1", "0.00", "500.00", "31.25"],
    ]


def test_response_times_as_csv(client, known_data):
    client.sign_in(known_data.supervisor.email)

    rows = _download(
        client,
        f"/reports/response-times.csv?{RANGE}",
        "response-times-2026-01-01-to-2026-06-30.csv",
    )

    assert rows == [
        ["Step", "Incidents", "Median (hours)", "90th percentile (hours)"],
        ["Reported → first proposal sent", "4", "5.0", "22.8"],
        ["Proposal sent → accepted", "4", "41.5", "77.4"],
        ["Accepted → resolved", "2", "333.0", "580.2"],
        ["Reported → resolved (whole way)", "3", "50.0", "566.8"],
    ]


def test_the_reports_page_links_each_csv_with_its_period(client, known_data):
    client.sign_in(known_data.admin.email)

    page = client.get(f"/reports?{RANGE}").get_data(as_text=True)

    for name in ("cost-by-month", "cost-by-customer", "cost-by-technician", "cost-by-cause"):
        assert f'href="/reports/{name}.csv?from=2026-01-01&amp;to=2026-06-30"' in page
    assert 'href="/reports/response-times.csv?from=2026-01-01&amp;to=2026-06-30"' in page


# --- the incident list ----------------------------------------------------------------


@pytest.fixture
def listed(app, company_time, make_team, make_user, make_site, make_equipment, make_incident):
    """Five incidents of one team (one with formula-like texts), one of another team."""
    team = make_team()
    technician = make_user(Role.TECHNICIAN, team=team)
    site = make_site(name="-Annex")
    with acting(None, reason="test data"):
        site.customer.name, site.customer.team = "+Acme Labs", team
    tag = make_equipment(site=site, tag="PT-107")
    made = [
        make_incident(actor=technician, site=site, now=utc(1, 10 + n, 14), actual=f"Fault {n}")
        for n in range(4)
    ]
    formula = make_incident(
        actor=technician,
        site=site,
        now=utc(1, 20, 14),
        severity=Severity.CRITICAL,
        equipment_ids=[tag.id],
        expected="=1+2",
        actual="@SUM(A1:A2) broke",
        cause_description="Regulator left at 40 bar",
        technician_statement="My mistake",
    )
    made.append(formula)
    with acting(None, reason="test data"):
        made[1].status = IncidentStatus.CANCELLED
        db.session.add(
            FollowUp(
                incident=made[0],
                owner=technician,
                created_by=technician,
                promise="Call back",
                due_at=utc(1, 11, 9),
            )
        )
    elsewhere = make_incident(now=utc(1, 12, 14), actual="Another team's fault")
    db.session.commit()
    return technician, made, elsewhere


def test_incident_list_exports_every_matching_incident_not_just_a_page(app, client, listed):
    app.config["PAGE_SIZE"] = 2
    technician, made, elsewhere = listed
    client.sign_in(technician.email)

    rows = _download(client, "/incidents/export.csv", "incidents-" + _today(app) + ".csv")

    assert rows[0] == [
        "Reference",
        "Status",
        "Severity",
        "Customer",
        "Site",
        "Equipment",
        "Reported via",
        "Reported at (America/New_York)",
        "Expected",
        "Actual",
        "Follow-up overdue",
    ]
    assert [row[0] for row in rows[1:]] == [i.reference for i in reversed(made)]
    assert elsewhere.reference not in {row[0] for row in rows}
    formula, first = rows[1], rows[-1]
    assert formula == [
        made[-1].reference,
        "Open",
        "Critical",
        "'+Acme Labs",
        "'-Annex",
        "PT-107",
        "On site",
        "2026-01-20 09:00",  # 14:00 UTC, in New York
        "'=1+2",
        "'@SUM(A1:A2) broke",
        "no",
    ]
    assert first[-1] == "yes"  # its call-back is overdue
    text = "\n".join(",".join(row) for row in rows)
    assert "40 bar" not in text and "My mistake" not in text  # the internal cause stays in


@pytest.mark.parametrize(
    "query",
    ["severity=critical", "status=cancelled", "q=fault+2", "overdue=1", "q=pt-107", "mine=1"],
)
def test_incident_export_honours_the_list_filters(app, client, listed, query):
    app.config["PAGE_SIZE"] = 100
    technician, _, _ = listed
    client.sign_in(technician.email)
    shown = _references(client.get(f"/incidents/?{query}").get_data(as_text=True))

    rows = _download(client, f"/incidents/export.csv?{query}", f"incidents-{_today(app)}.csv")

    assert [row[0] for row in rows[1:]] == shown
    assert shown  # each filter keeps something


def test_incident_list_links_its_export_with_the_same_filters(client, listed):
    technician, _, _ = listed
    client.sign_in(technician.email)

    page = client.get("/incidents/?severity=critical&before=999999").get_data(as_text=True)

    assert 'href="/incidents/export.csv?severity=critical"' in page


def test_unknown_filter_value_in_the_export_is_a_clear_400(client, listed):
    technician, _, _ = listed
    client.sign_in(technician.email)

    response = client.get("/incidents/export.csv?status=lost")

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Unknown filter value “lost”" in response.get_data(as_text=True)


def _today(app) -> str:
    return f"{to_local(utcnow()):%Y-%m-%d}"
