"""Timelines in words: the incident page and the dispute pack tell the same story the way
the forms and selects name things — labels instead of column names, choices instead of
stored codes, money with its currency, times as the rest of the page shows them, and a
one-line meaning for what was created — with the internal cause only where staff may
read it."""

import html
import re
from datetime import timedelta
from io import BytesIO

import pypdf
import pytest
from markupsafe import escape
from sqlalchemy import select

from fieldsvc.audit.services import acting, history_for, record
from fieldsvc.audit.wording import humanise
from fieldsvc.auth.models import User
from fieldsvc.customers.models import Contact
from fieldsvc.database import utcnow
from fieldsvc.demo import DEMO_PASSWORD, load_demo_data
from fieldsvc.extensions import db
from fieldsvc.incidents import queries, services
from fieldsvc.incidents.models import Channel, Direction, FollowUp, FollowUpOutcome, Incident
from fieldsvc.parts.models import PartOrderStatus
from fieldsvc.parts.services import change_part_order_status
from fieldsvc.proposals.sending import send_revision
from fieldsvc.proposals.services import RevisionDraft, draft_proposal

REPORTED = "Reported PT-107, PT-117 as high severity"
SNAKE_CASE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
HOSTILE = '<b id="injected">bold</b> & <script>alert(1)</script>'


@pytest.fixture
def story(app) -> Incident:
    """The demo's broken transmitters carried on: the parts ordered, the offer sent and
    accepted on the status page, a call recorded and the promised call-back kept."""
    load_demo_data()
    incident = db.session.scalars(select(Incident)).one()
    technician, supervisor = _user("tech@example.com"), _user("supervisor@example.com")
    order = incident.part_orders[0]
    if order.status is PartOrderStatus.TO_ORDER:
        change_part_order_status(order, PartOrderStatus.ORDERED, actor=technician)
    revision = incident.proposals[0].current
    sent = send_revision(revision, sender=supervisor, expected_version=revision.version)
    services.record_communication(
        incident,
        actor=supervisor,
        channel=Channel.PHONE,
        direction=Direction.OUTBOUND,
        summary="Told Dana the replacements arrive tomorrow.",
    )
    services.close_follow_up(
        incident.follow_ups[0],
        actor=technician,
        outcome=FollowUpOutcome.DONE,
        note="Dana has the delivery date.",
    )
    db.session.commit()
    token = sent.status_url.rsplit("/", 1)[1]
    answer = app.test_client().post(
        f"/status/{token}/answer/accept",
        data={
            "accept-revision_id": revision.id,
            "accept-pdf_sha256": revision.pdf_sha256,
            "accept-full_name": "Dana Whitfield",
        },
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return db.session.merge(incident)


def _user(email: str) -> User:
    return db.session.scalars(select(User).where(User.email == email)).one()


def _timeline_text(client, incident: Incident) -> str:
    """The incident page's timeline as a person reads it: the text, not the markup."""
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    section = page[page.index('id="history-title"') :]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", section)).split())


def _pack_text(client, incident: Incident, **data) -> str:
    response = client.post(f"/incidents/{incident.id}/dispute-pack", data=data)
    assert response.status_code == 200
    pages = pypdf.PdfReader(BytesIO(response.data)).pages
    text = " ".join(" ".join(page.extract_text() for page in pages).split())
    return text[text.index("Timeline Every change") :]


# --- the incident page ------------------------------------------------------------------------


def test_the_incident_page_timeline_reads_in_words(client, story):
    client.sign_in("supervisor@example.com", DEMO_PASSWORD)

    timeline = _timeline_text(client, story)

    # What was created, in one line each.
    assert f"{REPORTED}, cause: our technician" in timeline
    assert (
        "Part order PO-7781 from Precision Instruments Supply: "
        "3 × PTX-400 pressure transmitter; delivery expected" in timeline  # noqa: RUF001
    )
    assert "Logged 150 min of work: Calibrated PT-101 to PT-130" in timeline
    assert "Promised “Call Dana back with the replacements' delivery date” by" in timeline
    assert (
        "Closed the follow-up “Call Dana back with the replacements' delivery date”: "
        "done — Dana has the delivery date." in timeline
    )
    assert "Phone, to the customer: Told Dana the replacements arrive tomorrow." in timeline
    assert f"Drafted proposal {story.proposals[0].id}, revision 1: 3 lines" in timeline
    # Labels and values as the forms and selects name them, money with its currency.
    assert "Reported via On site" in timeline and "Cause Our technician" in timeline
    assert "Status To order Ordered" in timeline
    assert "customer share 50 %" in timeline and "USD 350.00" in timeline
    assert "Changed the status to remediation accepted" in timeline
    # Nothing as the database stores it.
    assert SNAKE_CASE.findall(timeline) == []
    assert ISO_TIME.findall(timeline) == []
    for raw in ("our_technician", "on_site", "to_order", "pct", " fields"):
        assert raw not in timeline


def test_a_value_typed_by_a_person_is_shown_as_text_never_as_markup(client, story):
    client.sign_in("supervisor@example.com", DEMO_PASSWORD)
    services.log_work(
        story, actor=_user("tech@example.com"), started_at=utcnow(), minutes=5, note=HOSTILE
    )
    db.session.commit()

    page = client.get(f"/incidents/{story.id}").get_data(as_text=True)

    assert 'id="injected"' not in page and "<script>alert(1)" not in page
    assert str(escape(HOSTILE)) in page


def test_an_unknown_field_or_action_reads_humanised_instead_of_failing(client, story):
    client.sign_in("supervisor@example.com", DEMO_PASSWORD)
    with acting(_user("supervisor@example.com")):
        record(story, "moved_to_archive", {"archive_shelf_code": [None, "B-12"]})
    db.session.commit()

    entry = history_for(story)[-1]
    timeline = _timeline_text(client, story)

    assert entry.headline == "Moved to archive"
    assert [(c.label, c.after) for c in entry.changes] == [("Archive shelf code", "B-12")]
    assert "Moved to archive" in timeline and "Archive shelf code B-12" in timeline
    assert humanise("PartOrderLine") == "Part order line"


def test_the_internal_cause_is_marked_in_the_history(story):
    reported = history_for(story)[0]

    internal = {change.label for change in reported.changes if change.internal}

    assert internal == {
        "Cause",
        "Cause, internal description",
        "Technician's own statement",
        "Insurance or claim reference",
    }


# --- the dispute pack ------------------------------------------------------------------------


def test_the_dispute_pack_timeline_reads_in_words_without_the_internal_cause(client, story):
    client.sign_in("supervisor@example.com", DEMO_PASSWORD)

    timeline = _pack_text(client, story)

    assert f"{REPORTED} " in timeline and "cause:" not in timeline
    assert "Cause" not in timeline and "40 bar" not in timeline
    assert "Part order PO-7781 from Precision Instruments Supply: 3 × PTX-400" in timeline  # noqa: RUF001
    assert "Part order PO-7781: ordered Status: To order → Ordered" in timeline
    assert "Dana Whitfield accepted" in timeline and "on the status page" in timeline
    assert "Gave the customer a status page link, valid until" in timeline
    assert "Closed the follow-up" in timeline
    assert "customer share 50 %" in timeline and "USD 350.00" in timeline
    assert "Customer pays: — → USD 350.00" in timeline
    assert "Status: Remediation proposed → Remediation accepted" in timeline
    assert SNAKE_CASE.findall(timeline) == []
    assert ISO_TIME.findall(timeline) == []
    # What suppliers charge us stays ours.
    assert "unit cost" not in timeline.lower() and "restocking" not in timeline.lower()


def test_the_ticked_dispute_pack_tells_the_cause_in_words_marked_internal(client, story):
    client.sign_in("supervisor@example.com", DEMO_PASSWORD)

    timeline = _pack_text(client, story, include_internal="y")

    assert f"{REPORTED}, cause: our technician" in timeline
    assert "Cause (internal): Our technician" in timeline
    assert "Cause, internal description (internal): Test rig regulator" in timeline
    assert "Internal cause included: Yes" in timeline
    assert SNAKE_CASE.findall(timeline) == []


def test_the_incident_page_stays_within_twelve_statements_with_its_whole_story(
    client, story, count_queries
):
    client.sign_in("supervisor@example.com", DEMO_PASSWORD)
    # A second offer, to someone the report does not name.
    buyer = Contact(customer=story.customer, name="Pat Purchasing")
    db.session.add(buyer)
    db.session.flush()
    draft_proposal(story, RevisionDraft(contact_id=buyer.id), actor=_user("tech@example.com"))
    db.session.commit()
    url = f"/incidents/{story.id}"

    db.session.expunge_all()
    with count_queries() as statements:
        response = client.get(url)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert REPORTED in page and "Pat Purchasing" in page[page.index("Timeline") :]
    assert len(statements) <= 12, "\n".join(statements)


def test_promises_and_calls_read_as_plain_records_are_told_as_the_loaded_ones(story):
    plain = queries.plain_collections(story.id, ("attachments", "communications", "follow_ups"))
    kept = story.follow_ups[0].promise

    as_loaded = queries.latest_timeline(story).entries
    as_plain = queries.latest_timeline(story, plain=plain).entries

    assert [type(r).__name__ for r in plain["follow_ups"] + plain["communications"]] == [
        "FollowUp",
        "Communication",
    ]
    assert any(f"Closed the follow-up “{kept}”" in e.headline for e in as_plain)
    assert [(e.headline, e.changes) for e in as_plain] == [
        (e.headline, e.changes) for e in as_loaded
    ]


def test_a_promise_not_yet_saved_is_among_the_plain_records(story):
    technician, incident_id = _user("tech@example.com"), story.id
    due = utcnow() + timedelta(days=2)
    db.session.add(
        FollowUp(
            incident=story,
            owner_id=technician.id,
            created_by_id=technician.id,
            due_at=due,
            promise="Send the calibration certificates",
        )
    )

    plain = queries.plain_collections(incident_id, ("follow_ups",))

    assert "Send the calibration certificates" in [f.promise for f in plain["follow_ups"]]
