"""The broken transmitters through the pages: parts ordered before the customer said
yes, the offer drafted
from them, the send gate as a checklist, approval with a password, revisions and what
changed between them, comments back to the author, and the tone check's warnings."""

import html
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, inspect, select

from fieldsvc import clock
from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role, User
from fieldsvc.customers.models import Contact, Customer
from fieldsvc.database import utcnow
from fieldsvc.demo import add_example_approval_rules
from fieldsvc.extensions import db
from fieldsvc.incidents.models import CauseCategory, Incident
from fieldsvc.parts.models import Part, PartOrder, PartOrderStatus, Supplier
from fieldsvc.parts.services import (
    OrderDetails,
    OrderLineInput,
    change_part_order_status,
    order_parts,
)
from fieldsvc.proposals import services
from fieldsvc.proposals.models import (
    LineKind,
    Proposal,
    RevisionStatus,
)
from tests.factories import PASSWORD

WHAT_HAPPENED = (
    "We are sorry: our technician damaged two of your pressure transmitters, PT-107 and "
    "PT-117, while calibrating them today."
)
ALREADY_DONE = (
    "We have already ordered three new PTX-400 transmitters from Precision Instruments "
    "Supply; they arrive tomorrow."
)
AS_I_SAID = "As I said on the phone, we have already ordered three new PTX-400 transmitters."
IMPATIENT = "Reminding the customer that they were already told sounds impatient."
IMPATIENT_SUGGESTION = "Simply repeat the information, kindly, as if for the first time."

# The broken-transmitters offer: two replacements at half price, the spare free, the labour waived.
OFFER_LINES = [
    {
        "kind": "part",
        "description": "PTX-400 pressure transmitter, replacing PT-107 and PT-117",
        "quantity": "2",
        "unit_price": "350.00",
        "discount_pct": "0",
        "customer_share_pct": "50",
        "ordered": True,
    },
    {
        "kind": "goodwill",
        "description": "PTX-400 pressure transmitter, spare, free of charge",
        "quantity": "1",
        "unit_price": "350.00",
        "discount_pct": "0",
        "customer_share_pct": "0",
        "ordered": True,
    },
    {
        "kind": "labour",
        "description": "Calibration and installation (hours), waived",
        "quantity": "4",
        "unit_price": "120.00",
        "discount_pct": "0",
        "customer_share_pct": "0",
        "ordered": False,
    },
]


# --- reading pages ---------------------------------------------------------------------------


def page_text(response) -> str:
    """What a reader sees: the page without tags, entities decoded, spaces collapsed."""
    body = response.get_data(as_text=True)
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    return " ".join(html.unescape(body).split())


def row_text(response, starts: str) -> str:
    """The text of the first table row that starts with `starts`."""
    for row in re.findall(r"<tr\b.*?</tr>", response.get_data(as_text=True), flags=re.S):
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split())
        if text.startswith(starts):
            return text
    raise AssertionError(f"no table row starting with {starts!r}")


def gate_checklist(response) -> list[str]:
    """The send gate's unmet conditions as listed on the editor."""
    items = re.findall(r'<li class="unmet">(.*?)</li>', response.get_data(as_text=True), re.S)
    return [" ".join(html.unescape(re.sub(r"<a\b.*?</a>", "", item)).split()) for item in items]


def form_value(response, name: str) -> str:
    """The value of the first input called `name` (hidden fields such as `version`)."""
    page = response.get_data(as_text=True)
    for tag in re.findall(r"<input\b[^>]*>", page):
        if f'name="{name}"' in tag:
            value = re.search(r'value="([^"]*)"', tag)
            return html.unescape(value[1]) if value else ""
    raise AssertionError(f"no input named {name!r} on the page")


def sign_in_as(app, user: User):
    """A second browser, signed in as `user`."""
    return app.test_client().sign_in(user.email, PASSWORD)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- arranging the story -----------------------------------------------------------------------


@dataclass
class Story:
    technician: User
    supervisor: User
    contact: Contact
    incident: Incident
    supplier: Supplier
    part: Part
    today: date

    @property
    def tomorrow(self) -> date:
        return self.today + timedelta(days=1)

    @property
    def plan(self) -> str:
        return (
            f"Our technician will return on {self.tomorrow.day} {self.tomorrow:%B} at 08:00 to "
            "install and calibrate the two replacements. The third transmitter is yours to "
            "keep as a spare, free of charge, and we waive the labour."
        )


def arrange_story(request) -> Story:
    """The broken transmitters before anything is ordered: our technician broke two
    transmitters of a
    customer of their team; a supervisor of the team may approve up to 1,180.00."""
    make = request.getfixturevalue
    team = make("make_team")(name="South crew")
    technician = make("make_user")(Role.TECHNICIAN, team=team, name="Sam Okafor")
    supervisor = make("make_user")(
        Role.SUPERVISOR, team=team, name="Rita Moreno", approval_limit=Decimal("1180.00")
    )
    site = make("make_site")(customer=Customer(name="Northwind Pharma", team=team))
    contact = make("make_contact")(
        customer=site.customer, name="Dana Whitfield", email="dana@northwind.example"
    )
    incident = make("make_incident")(
        actor=technician,
        site=site,
        cause_category=CauseCategory.OUR_TECHNICIAN,
        cause_description="Test rig regulator set to 40 bar instead of 4 bar.",
    )
    add_example_approval_rules(reason="test data")
    story = Story(
        technician=technician,
        supervisor=supervisor,
        contact=contact,
        incident=incident,
        supplier=make("make_supplier")(name="Precision Instruments Supply"),
        part=make("make_part")(
            number="PTX-400",
            description="PTX-400 pressure transmitter",
            list_price=Decimal("350.00"),
        ),
        today=clock.to_local(utcnow()).date(),
    )
    db.session.commit()
    return story


def order_transmitters(story: Story, incident: Incident | None = None, quantity: int = 3):
    """PTX-400s ordered (PO-7781, 10 % off), arriving tomorrow; returns the order's line."""
    order = order_parts(
        incident or story.incident,
        OrderDetails(
            supplier_id=story.supplier.id,
            po_number="PO-7781",
            ordered_on=story.today,
            expected_on=story.tomorrow,
            return_window_days=30,
            restocking_fee_pct=Decimal("15"),
        ),
        [
            OrderLineInput(
                part_id=story.part.id,
                description=story.part.description,
                quantity=Decimal(quantity),
                unit_cost=Decimal("350.00"),
                discount_pct=Decimal("10"),
            )
        ],
        actor=story.technician,
    )
    change_part_order_status(
        order, PartOrderStatus.ORDERED, actor=story.technician, today=story.today
    )
    return order.lines[0]


def replacement_offer_lines(ordered_line_id: int, lines=OFFER_LINES) -> list[services.LineDraft]:
    return [
        services.LineDraft(
            kind=LineKind(line["kind"]),
            description=line["description"],
            quantity=Decimal(line["quantity"]),
            unit_price=Decimal(line["unit_price"]),
            discount_pct=Decimal(line["discount_pct"]),
            customer_share_pct=Decimal(line["customer_share_pct"]),
            part_order_line_id=ordered_line_id if line["ordered"] else None,
        )
        for line in lines
    ]


def offer_draft(story: Story, lines: list[services.LineDraft], **changes):
    """The broken-transmitters offer as the service takes it."""
    values = {
        "what_happened": WHAT_HAPPENED,
        "already_done": ALREADY_DONE,
        "plan": story.plan,
        "contact_id": story.contact.id,
        "return_visit_at": datetime.combine(story.tomorrow, time(8, 0), clock.company_zone()),
        "return_technician_id": story.technician.id,
        "valid_until": story.today + timedelta(days=14),
        "lines": lines,
    } | changes
    return services.RevisionDraft(**values)


def arrange_offer(
    story: Story,
    status: RevisionStatus = RevisionStatus.DRAFT,
    incident: Incident | None = None,
    author: User | None = None,
    **changes,
) -> Proposal:
    """The broken-transmitters offer, drafted by the technician (or `author`) and, if asked,
    submitted and approved by the team's supervisor."""
    incident = incident or story.incident
    author = author or story.technician
    ordered = order_transmitters(story, incident)
    proposal = services.draft_proposal(
        incident,
        offer_draft(story, replacement_offer_lines(ordered.id), **changes),
        actor=author,
    )
    revision = proposal.current
    if status in (RevisionStatus.SUBMITTED, RevisionStatus.APPROVED):
        services.submit_revision(revision, actor=author, expected_version=revision.version)
    if status is RevisionStatus.APPROVED:
        services.approve_revision(
            revision,
            approver=story.supervisor,
            password=PASSWORD,
            expected_version=revision.version,
        )
    db.session.commit()
    return proposal


def editor_form(
    story: Story, ordered_line_id: int, editor_page, lines=OFFER_LINES, **changes
) -> dict:
    """The editor's fields filled with the broken-transmitters offer, as the page opened."""
    data = {
        "version": form_value(editor_page, "version"),
        "seen_seq": form_value(editor_page, "seen_seq"),
        "what_happened": WHAT_HAPPENED,
        "already_done": ALREADY_DONE,
        "plan": story.plan,
        "contact_id": story.contact.id,
        "return_visit_at": f"{story.tomorrow.isoformat()}T08:00",
        "return_technician_id": story.technician.id,
        "valid_until": (story.today + timedelta(days=14)).isoformat(),
    }
    for n, line in enumerate(lines):
        for name in ("kind", "description", "quantity", "unit_price", "discount_pct"):
            data[f"lines-{n}-{name}"] = line[name]
        data[f"lines-{n}-customer_share_pct"] = line["customer_share_pct"]
        data[f"lines-{n}-part_order_line_id"] = ordered_line_id if line["ordered"] else ""
    return data | changes


@pytest.fixture
def story(request) -> Story:
    return arrange_story(request)


@pytest.fixture
def technician(client, story) -> User:
    client.sign_in(story.technician.email, PASSWORD)
    return story.technician


# --- the whole story ---------------------------------------------------------------------------


def test_parts_ordered_offer_drafted_checked_submitted_and_approved(app, client, story, technician):
    incident = story.incident
    # Three transmitters ordered before the customer has said yes.
    response = client.post(
        f"/incidents/{incident.id}/part-orders/new",
        data={
            "supplier_id": story.supplier.id,
            "po_number": "",
            "ordered_on": story.today.isoformat(),
            "expected_on": "",
            "return_window_days": "30",
            "restocking_fee_pct": "15",
            "lines-0-part_id": story.part.id,
            "lines-0-description": "",
            "lines-0-quantity": "3",
            "lines-0-unit_cost": "350.00",
            "lines-0-discount_pct": "10",
        },
    )
    assert response.status_code == 302
    order = db.session.scalars(select(PartOrder).where(PartOrder.incident_id == incident.id)).one()
    assert order.status is PartOrderStatus.TO_ORDER
    assert [(line.description, line.quantity, line.net_cost) for line in order.lines] == [
        ("PTX-400 pressure transmitter", Decimal("3.00"), Decimal("945.00"))
    ]

    # "Mark ordered" waits for the PO number and the delivery date.
    refused = client.post(
        f"/part-orders/{order.id}/status", data={"status": "ordered"}, follow_redirects=True
    )
    assert "Enter the PO number and expected delivery date before marking it ordered." in page_text(
        refused
    )
    assert order.status is PartOrderStatus.TO_ORDER
    response = client.post(
        f"/part-orders/{order.id}/edit",
        data={
            "supplier_id": story.supplier.id,
            "po_number": "PO-7781",
            "ordered_on": story.today.isoformat(),
            "expected_on": story.tomorrow.isoformat(),
            "return_window_days": "30",
            "restocking_fee_pct": "15",
        },
    )
    assert response.status_code == 302
    response = client.post(f"/part-orders/{order.id}/status", data={"status": "ordered"})
    assert response.status_code == 302
    assert (order.status, order.po_number, order.expected_on) == (
        PartOrderStatus.ORDERED,
        "PO-7781",
        story.tomorrow,
    )

    # The first draft has a part line per line ordered.
    response = client.post(f"/incidents/{incident.id}/proposals")
    proposal = db.session.scalars(select(Proposal).where(Proposal.incident_id == incident.id)).one()
    url = f"/proposals/{proposal.id}"
    assert response.status_code == 302 and response.location.endswith(url)
    ordered = order.lines[0]
    assert [
        (line.kind, line.description, line.quantity, line.unit_price, line.part_order_line_id)
        for line in proposal.current.lines
    ] == [
        (
            LineKind.PART,
            "PTX-400 pressure transmitter",
            Decimal("3.00"),
            Decimal("350.00"),
            ordered.id,
        )
    ]
    page = client.get(url)
    assert form_value(page, "lines-0-description") == "PTX-400 pressure transmitter"
    assert "Before it can go to a supervisor" in page_text(page)
    assert gate_checklist(page) == [
        "Schedule the return visit (date and time).",
        "Choose the technician for the return visit.",
        "Choose the customer contact who receives it.",
        "Write what happened, what is done and the plan for the customer.",
    ]
    # No button yet, and the author is told where it will be and what it waits for.
    assert f'action="/proposals/{proposal.id}/submit"' not in page.get_data(as_text=True)
    assert (
        "Submit for approval appears here once the checklist is met. Still missing: "
        "Schedule the return visit (date and time). Choose the technician for the return visit."
    ) in page_text(page)

    # The broken-transmitters offer, still without the return visit: one condition left.
    no_visit = editor_form(story, ordered.id, page, return_visit_at="")
    assert client.post(url, data=no_visit).status_code == 302
    page = client.get(url)
    assert gate_checklist(page) == ["Schedule the return visit (date and time)."]
    assert "Ready for approval" not in page_text(page)

    # The visit tomorrow at 08:00, the day the transmitters arrive: every condition met.
    assert client.post(url, data=editor_form(story, ordered.id, page)).status_code == 302
    page = client.get(url)
    shown = page_text(page)
    assert gate_checklist(page) == []
    assert "Ready for approval" in shown
    assert "Before it can go to a supervisor" not in shown
    assert "Still missing" not in shown
    assert f'action="/proposals/{proposal.id}/submit"' in page.get_data(as_text=True)
    totals = row_text(page, "Total before tax")
    assert totals.startswith("Total before tax USD 1,530.00")  # the list value
    assert totals.endswith("USD 350.00 USD 1,180.00")  # the customer pays, we absorb
    assert "The customer pays USD 350.00" in shown
    assert "At risk until the customer accepts: USD 945.00 in parts already ordered" in shown

    response = client.post(f"{url}/submit", data={"version": form_value(page, "version")})
    assert response.status_code == 302
    assert f"Proposal {proposal.id} revision 1 Submitted" in page_text(client.get(url))

    # The team's supervisor finds it waiting and approves it with their password.
    supervisor = sign_in_as(app, story.supervisor)
    queue = page_text(supervisor.get("/approvals"))
    assert f"{incident.reference} Proposal {proposal.id}, revision 1" in queue
    assert "we absorb USD 1,180.00 of USD 1,530.00" in queue
    approval_page = supervisor.get(f"{url}/approve")
    assert approval_page.status_code == 200
    assert "“I approve this remediation offer”" in page_text(approval_page)
    response = supervisor.post(
        f"{url}/approve",
        data={"version": form_value(approval_page, "version"), "password": PASSWORD},
    )
    assert response.status_code == 302 and response.location.endswith(url)

    shown = page_text(client.get(url))
    assert "Approved by Rita Moreno" in shown
    assert "“I approve this remediation offer”" in shown
    revision = proposal.current
    assert (revision.status, revision.reviewed_by_id) == (
        RevisionStatus.APPROVED,
        story.supervisor.id,
    )

    incident_page = page_text(client.get(f"/incidents/{incident.id}"))
    assert (
        f"Proposal {proposal.id}, revision 1 Approved — the customer pays USD 350.00 before tax; "
        "we absorb USD 1,180.00." in incident_page
    )
    assert "At risk: USD 945.00 spent on parts the customer has not accepted yet" in incident_page


# --- revisions -------------------------------------------------------------------------------


def test_changing_an_approved_offer_saves_revision_2_and_keeps_revision_1(
    client, story, technician
):
    proposal = arrange_offer(story, RevisionStatus.APPROVED)
    url = f"/proposals/{proposal.id}"
    ordered_id = proposal.current.lines[0].part_order_line_id
    page = client.get(url)
    assert "saving makes revision 2, which needs approval again" in page_text(page)
    fewer_hours = [*OFFER_LINES[:2], OFFER_LINES[2] | {"quantity": "3"}]

    response = client.post(
        url,
        data=editor_form(
            story,
            ordered_id,
            page,
            lines=fewer_hours,
            return_visit_at=f"{story.tomorrow.isoformat()}T10:00",
        ),
        follow_redirects=True,
    )

    shown = page_text(response)
    assert (
        "Saved as revision 2; revision 1 stays as it was and this one needs approval again."
        in shown
    )
    assert f"Proposal {proposal.id} revision 2 Draft" in shown
    first, second = proposal.revisions
    assert (first.status, second.status) == (RevisionStatus.SUPERSEDED, RevisionStatus.DRAFT)
    assert [line.quantity for line in first.lines] == [Decimal("2"), Decimal("1"), Decimal("4")]

    old = client.get(f"{url}/revisions/1")
    assert "Approved by Rita Moreno" in page_text(old)
    assert f"Return visit {story.tomorrow.isoformat()} 08:00" in page_text(old)
    assert "USD 480.00" in row_text(old, "Labour: Calibration and installation")
    assert "Total before tax USD 1,530.00" in row_text(old, "Total before tax")

    new = client.get(f"{url}/revisions/2")
    assert "USD 360.00" in row_text(new, "Labour: Calibration and installation")
    changed = page_text(new)
    assert "Changed since revision 1" in changed
    day = story.tomorrow.isoformat()
    assert f"Return visit {day} 08:00 UTC {day} 10:00 UTC" in changed
    assert (
        "Line 3 Labour: Calibration and installation (hours), waived — 4 × 120.00, "  # noqa: RUF001
        "discount 0 %, customer share 0 % "
        "Labour: Calibration and installation (hours), waived — 3 × 120.00, "  # noqa: RUF001
        "discount 0 %, customer share 0 %" in changed
    )
    assert "Line 1" not in changed and "Line 2" not in changed
    assert "Approved by" not in changed


def test_a_supervisor_returns_the_offer_and_the_author_sees_the_comment(
    app, client, story, technician
):
    proposal = arrange_offer(story, RevisionStatus.SUBMITTED)
    url = f"/proposals/{proposal.id}"
    supervisor = sign_in_as(app, story.supervisor)
    approval_page = supervisor.get(f"{url}/approve")

    response = supervisor.post(
        f"{url}/request-changes",
        data={
            "version": form_value(approval_page, "version"),
            "comment": "Say which day the spare is delivered.",
        },
    )

    assert response.status_code == 302 and response.location.endswith("/approvals")
    assert "Nothing is waiting for approval." in page_text(supervisor.get("/approvals"))
    shown = page_text(client.get(url))
    assert "Changes requested" in shown
    assert "Rita Moreno asked for changes: Say which day the spare is delivered." in shown
    assert proposal.current.status is RevisionStatus.CHANGES_REQUESTED


# --- the tone check --------------------------------------------------------------------------


def test_as_i_said_is_flagged_next_to_its_text_until_acknowledged(client, story, technician):
    proposal = arrange_offer(story)
    url = f"/proposals/{proposal.id}"
    ordered_id = proposal.current.lines[0].part_order_line_id
    saved = client.post(
        url, data=editor_form(story, ordered_id, client.get(url), already_done=AS_I_SAID)
    )
    assert saved.status_code == 302

    page = client.get(url)
    body, shown = page.get_data(as_text=True), page_text(page)
    next_to_text = body[body.index('id="already_done"') : body.index('id="plan"')]
    assert IMPATIENT in next_to_text and IMPATIENT_SUGGESTION in next_to_text
    assert f"{IMPATIENT} (“As I said”) Suggestion: {IMPATIENT_SUGGESTION}" in shown
    assert gate_checklist(page) == [f"Tone: {IMPATIENT}"]
    assert f'action="/proposals/{proposal.id}/submit"' not in body
    assert f"Still missing: Tone: {IMPATIENT}" in shown

    seen = services.last_seq()
    key = form_value(page, "key")
    response = client.post(
        f"{url}/acknowledge",
        data={"version": form_value(page, "version"), "key": key},
        follow_redirects=True,
    )

    shown = page_text(response)
    assert "Tone warning acknowledged; it is kept in the history." in shown
    assert gate_checklist(response) == []
    assert "Ready for approval" in shown
    assert f"{IMPATIENT} (“As I said”) Suggestion: {IMPATIENT_SUGGESTION} Acknowledged." in shown
    assert proposal.current.acknowledged_warnings == [key]
    recorded = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.seq > seen, AuditEvent.action == "acknowledge_tone_warning"
        )
    ).all()
    assert [(e.actor_id, e.reason) for e in recorded] == [(story.technician.id, key)]


# --- queries -----------------------------------------------------------------------------------


def _offer_with_lines(story: Story, incident: Incident, lines: int) -> Proposal:
    """An offer with `lines` part lines, each ordered on its own part order."""
    ordered = [order_transmitters(story, incident, quantity=1) for _ in range(lines)]
    draft = offer_draft(
        story, [replacement_offer_lines(item.id, OFFER_LINES[:1])[0] for item in ordered]
    )
    proposal = services.draft_proposal(incident, draft, actor=story.technician)
    db.session.commit()
    return proposal


def _reloaded(story: Story) -> Story:
    """The story's rows in the session again, after `expunge_all`."""
    return Story(
        **{
            name: db.session.get(type(value), inspect(value).identity)
            if isinstance(value, db.Model)
            else value
            for name, value in vars(story).items()
        }
    )


def test_editor_and_approvals_queries_do_not_grow_with_lines_or_proposals(
    app, client, story, technician, make_incident, make_site, count_queries
):
    def another_incident(story: Story) -> Incident:
        # Each at a site of its own, as a company's offers are: a site read per row
        # would show in the count.
        return make_incident(
            actor=story.technician,
            site=make_site(customer=story.incident.site.customer),
            cause_category=CauseCategory.OUR_TECHNICIAN,
        )

    def submitted_offers(story: Story, how_many: int) -> None:
        for _ in range(how_many):
            arrange_offer(story, RevisionStatus.SUBMITTED, incident=another_incident(story))

    def queries(browser, url: str) -> int:
        db.session.expunge_all()  # count what a fresh request runs, not the test's cache
        with count_queries() as statements:
            assert browser.get(url).status_code == 200
        return len(statements)

    small = _offer_with_lines(story, another_incident(story), 3).id
    large = _offer_with_lines(story, another_incident(story), 30).id
    submitted_offers(story, 3)
    supervisor = sign_in_as(app, story.supervisor)

    assert queries(client, f"/proposals/{small}") == queries(client, f"/proposals/{large}")
    few = queries(supervisor, "/approvals")
    submitted_offers(_reloaded(story), 27)
    assert len(services.approval_queue(_reloaded(story).supervisor)) == 30
    assert queries(supervisor, "/approvals") == few
