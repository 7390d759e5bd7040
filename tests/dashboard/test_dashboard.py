"""The supervisors' dashboard on a known data set: every figure, exactly,
for a supervisor (their team only) and an admin (everyone), and the lists behind them."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event
from sqlalchemy.engine.default import CacheStats

from fieldsvc.audit.services import acting
from fieldsvc.dashboard.services import dashboard
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents.models import CauseCategory, FollowUp, IncidentStatus, ReportedVia, Severity
from fieldsvc.incidents.services import IncidentReport, change_status, report_incident
from fieldsvc.parts.models import PartOrderStatus
from fieldsvc.parts.services import (
    OrderDetails,
    OrderLineInput,
    change_part_order_status,
    order_parts,
)
from fieldsvc.portal import services as portal
from fieldsvc.portal.links import issue_link, open_link
from fieldsvc.portal.models import ResponseKind, SurveyResponse
from fieldsvc.proposals.models import ProposalRevision
from tests.factories import PASSWORD
from tests.proposals.broken_transmitters import BrokenTransmitters, build_broken_transmitters, send

TODAY = date.today()


def _incident(seed: BrokenTransmitters, cause: CauseCategory, days_ago: int = 0):
    incident = report_incident(
        IncidentReport(
            customer_id=seed.customer.id,
            site_id=seed.incident.site_id,
            equipment_ids=[],
            reported_via=ReportedVia.PHONE,
            severity=Severity.MEDIUM,
            actual="Level sensor reads zero.",
            occurred_at=utcnow() - timedelta(days=days_ago),
            reporter_contact_id=seed.contact.id,
            cause_category=cause,
        ),
        actor=seed.technician,
    )
    incident.created_at = utcnow() - timedelta(days=days_ago)
    return incident


def _accept(seed: BrokenTransmitters, token: str) -> None:
    link = open_link(token)
    portal.respond(
        link,
        seed.revision,
        portal.Answer(ResponseKind.ACCEPTED, full_name="Dana Whitfield"),
        pdf_sha256=seed.revision.pdf_sha256,
        visitor=portal.Visitor("203.0.113.9"),
    )


def _survey(seed: BrokenTransmitters, score: int) -> None:
    incident = _incident(seed, CauseCategory.PRE_EXISTING)
    change_status(incident, IncidentStatus.RESOLVED, actor=seed.supervisor, note="Fixed.")
    link, _token = issue_link(incident, actor=seed.supervisor)
    with acting(None):
        db.session.add(SurveyResponse(incident=incident, status_link=link, score=score))
        db.session.flush()


@pytest.fixture
def data(app):
    """Team North-East: the story's offer sent and accepted (we absorb 1,180.00, Northwind
    pays 350.00); an open incident of 10 days caused by the customer, with a late part
    order (80.00, its 30-day return window over) and an overdue follow-up of Tom; two
    resolved incidents with survey scores 9 and 5. Another team: its offer sent five
    days ago and not answered."""
    seed = build_broken_transmitters()
    _accept(seed, send(seed))
    late = _incident(seed, CauseCategory.CUSTOMER, days_ago=10)
    order = order_parts(
        late,
        OrderDetails(
            supplier_id=seed.supplier.id,
            po_number="PO-9001",
            ordered_on=TODAY - timedelta(days=45),
            expected_on=TODAY - timedelta(days=40),
            return_window_days=30,
        ),
        [OrderLineInput("Level sensor LT-200", Decimal("2"), Decimal("40.00"))],
        actor=seed.technician,
    )
    change_part_order_status(order, PartOrderStatus.ORDERED, actor=seed.technician, today=TODAY)
    db.session.add(
        FollowUp(
            incident=late,
            owner=seed.technician,
            created_by=seed.technician,
            due_at=utcnow() - timedelta(hours=2),
            promise="Call Dana back about LT-200.",
        )
    )
    _survey(seed, 9)
    _survey(seed, 5)
    other = build_broken_transmitters(other="Second ")
    send(other)
    revision: ProposalRevision = other.revision
    revision.sent_at = utcnow() - timedelta(days=5)
    db.session.commit()
    return seed, other


def test_a_supervisor_sees_every_figure_of_their_team(data):
    seed, _other = data

    board = dashboard(seed.supervisor)

    assert {c.key: c.count for c in board.open_by_status} == {
        "open": 1,
        "remediation_proposed": 0,
        "remediation_accepted": 1,
    }
    assert {c.key: c.count for c in board.open_by_age} == {
        "day": 1,
        "week": 0,
        "month": 1,
        "older": 0,
    }
    assert board.awaiting_approval == 0
    assert [(o.label, o.count) for o in board.overdue_by_owner] == [("Tom Technician", 1)]
    assert board.late_part_orders == 1
    assert board.unanswered == 0  # the other team's offer is not theirs
    assert (board.answers.accepted, board.answers.declined, board.answers.accept_rate) == (
        1,
        0,
        Decimal("100"),
    )
    assert (board.month_cost.incidents, board.month_cost.we_absorbed) == (1, Decimal("1180.00"))
    assert board.month_cost.customer_paid == Decimal("350.00")
    assert board.at_risk.orders == 1
    assert board.at_risk.total == Decimal("80.00")  # PO-7781's offer was accepted
    assert (board.at_risk.past_deadline_orders, board.at_risk.past_deadline) == (
        1,
        Decimal("80.00"),
    )
    assert {c.key: c.count for c in board.by_cause if c.count} == {
        "our_technician": 1,
        "customer": 1,
        "pre_existing": 2,
    }
    assert (board.satisfaction.answers, board.satisfaction.average) == (2, Decimal("7.0"))
    assert board.satisfaction.nps == 0  # one promoter (9), one detractor (5)


def test_an_admin_sees_every_team(data):
    seed, _other = data

    board = dashboard(seed.admin)

    assert board.unanswered == 1
    assert {c.key: c.count for c in board.open_by_status}["remediation_proposed"] == 1
    assert board.at_risk.orders == 2  # the other team's PO-7781 is still at risk
    assert board.at_risk.total == Decimal("80.00") + Decimal("945.00")


def test_the_page_shows_the_figures_and_links_to_the_lists_behind_them(data, client):
    seed, _other = data
    client.sign_in(seed.supervisor.email, PASSWORD)

    page = client.get("/dashboard").get_data(as_text=True)

    assert 'id="late-orders">1<' in page
    assert "USD 1,180.00" in page and "USD 350.00" in page
    assert "/incidents/?parts=late" in page
    late_list = client.get("/incidents/?parts=late").get_data(as_text=True)
    assert "part orders late" in late_list
    assert late_list.count('class="incident-link"') == 1
    by_cause = client.get("/incidents/?cause=pre_existing").get_data(as_text=True)
    assert by_cause.count('class="incident-link"') == 2


def test_technicians_do_not_get_the_dashboard(data, client):
    seed, _other = data
    client.sign_in(seed.technician.email, PASSWORD)

    assert client.get("/dashboard").status_code == 403


def test_the_dashboard_runs_the_same_queries_however_many_incidents(data, client, count_queries):
    seed, _other = data
    client.sign_in(seed.admin.email, PASSWORD)  # an admin sees every team's incidents

    def queries() -> int:
        db.session.expunge_all()
        with count_queries() as statements:
            assert client.get("/dashboard").status_code == 200
        return len(statements)

    few = queries()
    more = build_broken_transmitters(other="Third ")
    send(more)
    for days in range(12):
        _incident(more, CauseCategory.THIRD_PARTY, days_ago=days * 3)
    _survey(more, 10)
    db.session.commit()

    assert queries() == few


def test_another_team_s_dashboard_a_moment_later_compiles_no_statement(data, client):
    """The figures' statements are built once with the team and the moment as parameters:
    another team's supervisor, a moment later, binds values and compiles nothing."""
    seed, other = data
    first, second = seed.supervisor.email, other.supervisor.email
    results = []

    def after(conn, cursor, statement, parameters, context, executemany):
        if context is not None and context.compiled is not None:
            results.append((context.cache_hit, statement))

    def dashboard_of(email: str) -> list[str]:
        db.session.expunge_all()
        client.sign_in(email, PASSWORD)
        results.clear()
        event.listen(db.engine, "after_cursor_execute", after)
        try:
            assert client.get("/dashboard").status_code == 200
        finally:
            event.remove(db.engine, "after_cursor_execute", after)
        return [statement for hit, statement in results if hit == CacheStats.CACHE_MISS]

    dashboard_of(first)
    client.post("/logout")
    assert dashboard_of(second) == []
    assert len(results) <= 16  # the page's statements, sign-in included
