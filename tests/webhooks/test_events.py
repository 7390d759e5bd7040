"""What each event tells, and when: ids, references, external ids and API links, never
the customer's status-page token or the internal cause; late part orders and overdue
follow-ups found by the periodic scan are announced once, however often it runs."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents.models import IncidentStatus
from fieldsvc.incidents.services import change_status, promise_follow_up
from fieldsvc.reminders.services import announce_late_and_overdue
from fieldsvc.webhooks import services as webhooks
from fieldsvc.webhooks.models import WebhookEvent
from tests.proposals.broken_transmitters import build_broken_transmitters, send


@pytest.fixture
def seed(app):
    seed = build_broken_transmitters()
    seed.customer.external_id = "ERP-C-1042"
    db.session.commit()
    return seed


def subscribe(seed, receiver, *events: str):
    endpoint = webhooks.create_endpoint(receiver.url(), list(events), actor=seed.admin)
    db.session.commit()
    return endpoint


def test_the_sent_and_answered_events_carry_ids_and_links_but_no_token_or_internal_cause(
    app, seed, receiver
):
    endpoint = subscribe(seed, receiver, "proposal.sent", "proposal.answered")
    token = send(seed)
    revision = seed.revision
    customer = app.test_client()

    customer.post(
        f"/status/{token}/answer/accept",
        data={
            "accept-revision_id": revision.id,
            "accept-pdf_sha256": revision.pdf_sha256,
            "accept-full_name": "Dana Whitfield",
        },
    )

    sent, answered = (request.verified_with(endpoint.secret) for request in receiver.received)
    assert sent["type"] == "proposal.sent"
    assert sent["data"]["proposal"]["status"] == "sent"
    assert sent["data"]["incident"]["customer"] == {
        "id": seed.customer.id,
        "external_id": "ERP-C-1042",
        "name": seed.customer.name,
    }
    assert answered["type"] == "proposal.answered"
    assert answered["data"]["answer"]["kind"] == "accepted"
    assert answered["data"]["proposal"]["status"] == "accepted"
    for request in receiver.received:
        body = request.body.decode()
        assert token not in body
        assert "/status/" not in body
        assert "regulator" not in body  # the internal cause and the technician's statement
        assert "My mistake" not in body


def test_an_incident_recorded_and_resolved_is_announced_with_its_equipment_and_external_ids(
    app, seed, receiver, make_incident
):
    endpoint = subscribe(seed, receiver, "incident.created", "incident.resolved")
    site = seed.incident.site
    site.external_id = "ERP-S-7"

    incident = make_incident(actor=seed.technician, site=site)
    db.session.commit()
    change_status(incident, IncidentStatus.RESOLVED, actor=seed.supervisor, note="Replaced")
    db.session.commit()

    created, resolved = (request.verified_with(endpoint.secret) for request in receiver.received)
    assert created["type"] == "incident.created"
    assert created["data"]["incident"]["reference"] == incident.reference
    assert created["data"]["incident"]["site"]["external_id"] == "ERP-S-7"
    assert created["data"]["incident"]["url"].endswith(f"/api/v1/incidents/{incident.id}")
    assert resolved["type"] == "incident.resolved"
    assert resolved["data"]["incident"]["status"] == "resolved"
    assert resolved["data"]["incident"]["resolved_at"] is not None


def test_a_change_that_is_rolled_back_announces_nothing(app, seed, receiver):
    subscribe(seed, receiver, "incident.resolved")

    change_status(seed.incident, IncidentStatus.RESOLVED, actor=seed.supervisor, note="Done")
    db.session.rollback()

    assert receiver.received == []
    assert db.session.scalars(select(WebhookEvent)).all() == []


def test_a_late_part_order_and_an_overdue_follow_up_are_announced_once_per_scan_state(
    app, seed, receiver
):
    endpoint = subscribe(seed, receiver, "part_order.late", "follow_up.overdue")
    now = utcnow()
    promise_follow_up(
        seed.incident,
        actor=seed.technician,
        owner_id=seed.technician.id,
        due_at=now + timedelta(hours=2),
        promise="Call Dana back with the delivery date",
        now=now,
    )
    db.session.commit()
    later = now + timedelta(days=3)  # the order was expected tomorrow

    for _ in range(3):  # the scan runs every 15 minutes
        announce_late_and_overdue(later)
        db.session.commit()

    events = sorted(
        (request.verified_with(endpoint.secret) for request in receiver.received),
        key=lambda event: event["type"],
    )
    assert [event["type"] for event in events] == ["follow_up.overdue", "part_order.late"]
    overdue, late = events
    assert late["data"]["part_order"]["id"] == seed.order.id
    assert late["data"]["part_order"]["url"].endswith(f"/api/v1/part-orders/{seed.order.id}")
    assert overdue["data"]["follow_up"]["owner"]["id"] == seed.technician.id

    seed.order.expected_on = (later + timedelta(days=1)).date()  # the supplier's new date
    db.session.commit()
    announce_late_and_overdue(later + timedelta(days=3))
    db.session.commit()
    assert len(receiver.received) == 3  # late again against the new date: told again


def test_the_body_sent_is_the_body_recorded(app, seed, receiver):
    subscribe(seed, receiver, "incident.resolved")

    change_status(seed.incident, IncidentStatus.RESOLVED, actor=seed.supervisor, note="Done")
    db.session.commit()

    event = db.session.scalars(select(WebhookEvent)).one()
    (request,) = receiver.received
    assert request.body.decode() == event.body
    assert json.loads(event.body)["timestamp"].endswith("Z")
