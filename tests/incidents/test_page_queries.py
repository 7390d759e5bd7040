"""The incident page and My day run a number of queries that does not grow with the
number of photos, work-log entries, communications and follow-ups."""

from decimal import Decimal

from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from fieldsvc.parts.services import OrderDetails, OrderLineInput, order_parts
from fieldsvc.proposals.models import LineKind
from fieldsvc.proposals.services import LineDraft, RevisionDraft, draft_proposal
from tests.factories import add_activity


def test_incident_page_and_my_day_queries_do_not_grow_with_activity(
    client, signed_in, make_team, make_user, make_site, make_incident, count_queries
):
    team = make_team()
    me = signed_in(Role.TECHNICIAN, team=team)
    people = [me] + [make_user(Role.TECHNICIAN, team=team) for _ in range(3)]
    site = make_site()
    site.customer.team = team
    small, large = make_incident(site=site, actor=me), make_incident(site=site, actor=me)
    add_activity(small, people, 2)
    add_activity(large, people, 20)

    def queries(url: str) -> int:
        db.session.expunge_all()  # count what a fresh request runs, not the test's cache
        with count_queries() as statements:
            assert client.get(url).status_code == 200
        return len(statements)

    small_url, large_url = f"/incidents/{small.id}", f"/incidents/{large.id}"
    assert queries(small_url) == queries(large_url)
    before = queries("/my-day")
    add_activity(db.session.merge(large), [db.session.merge(p) for p in people], 12)
    assert queries("/my-day") == before


def test_incident_page_queries_do_not_grow_with_part_orders_and_proposals(
    client, signed_in, make_team, make_site, make_supplier, make_incident, count_queries
):
    team = make_team()
    me = signed_in(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team

    def incident_with(count: int) -> str:
        incident = make_incident(site=site, actor=me)
        for _ in range(count):
            _order_and_propose(incident, make_supplier(), actor=me)
        db.session.commit()
        return f"/incidents/{incident.id}"

    small, large = incident_with(1), incident_with(8)

    def queries(url: str) -> int:
        db.session.expunge_all()
        with count_queries() as statements:
            assert client.get(url).status_code == 200
        return len(statements)

    assert queries(small) == queries(large)


def test_incident_page_runs_at_most_twelve_statements_whatever_its_history(
    client,
    signed_in,
    make_team,
    make_user,
    make_customer,
    make_site,
    make_contact,
    make_equipment,
    make_supplier,
    make_incident,
    count_queries,
):
    from fieldsvc.incidents.models import ReportedVia, Severity
    from fieldsvc.incidents.services import IncidentReport, update_incident
    from fieldsvc.portal.links import issue_link

    team = make_team()
    me = signed_in(Role.SUPERVISOR, team=team)
    leaver = make_user(Role.TECHNICIAN, team=team, name="Lee Leaver")
    people = [me, leaver, make_user(Role.TECHNICIAN, team=team)]
    first_site = make_site(customer=make_customer(team=team), name="Old plant")
    site = make_site(customer=make_customer(team=team), name="New plant")
    contact = make_contact(customer=site.customer, name="Casey Contact")
    equipment = [make_equipment(site=site, tag=f"PT-{n}") for n in range(3)]
    incident = make_incident(site=first_site, actor=leaver)
    # Corrected later: another customer, site, contact and equipment than first reported.
    update_incident(
        incident,
        IncidentReport(
            customer_id=site.customer_id,
            site_id=site.id,
            equipment_ids=[item.id for item in equipment],
            reported_via=ReportedVia.PHONE,
            severity=Severity.HIGH,
            actual="Two transmitters over-pressured",
            occurred_at=incident.occurred_at,
            reporter_contact_id=contact.id,
        ),
        actor=me,
        reason="Wrong customer picked",
    )
    add_activity(incident, people, 6)
    for _ in range(3):
        _order_and_propose(incident, make_supplier(), actor=me)
    issue_link(incident, actor=me)
    leaver.active = False  # left the company: still named in the timeline
    db.session.commit()
    url = f"/incidents/{incident.id}"

    db.session.expunge_all()
    with count_queries() as statements:
        response = client.get(url)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Lee Leaver" in page[page.index("Timeline") :]
    assert "Old plant" in page and "Casey Contact" in page and "PT-2" in page
    assert len(statements) <= 12, "\n".join(statements)


def _order_and_propose(incident, supplier, *, actor) -> None:
    """A part order of three transmitters and a proposal drafted from its line."""
    order = order_parts(
        incident,
        OrderDetails(supplier_id=supplier.id),
        [OrderLineInput("PTX-400", Decimal("3"), Decimal("350.00"), Decimal("10"))],
        actor=actor,
    )
    line = LineDraft(
        LineKind.PART,
        "PTX-400",
        Decimal("2"),
        Decimal("350.00"),
        part_order_line_id=order.lines[0].id,
    )
    draft_proposal(incident, RevisionDraft(lines=[line]), actor=actor)


def test_an_incident_page_reads_no_kind_of_record_the_incident_has_none_of(
    client, signed_in, make_team, make_site, make_incident, count_queries
):
    team = make_team()
    me = signed_in(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team
    incident = make_incident(site=site, actor=me)  # just reported: no photo, call or order yet
    db.session.commit()
    url = f"/incidents/{incident.id}"

    db.session.expunge_all()
    with count_queries() as statements:
        response = client.get(url)

    page = response.get_data(as_text=True)
    assert "No parts ordered yet." in page and "No proposal yet." in page
    assert "No promises made yet." in page
    rows_read = [" ".join(s.split()) for s in statements]
    for table in (
        "attachments",
        "communications",
        "follow_ups",
        "part_orders",
        "proposals",
        "status_links",
    ):
        assert not any(s.startswith(f"SELECT {table}.") for s in rows_read), "\n".join(rows_read)
