"""Events reach a subscribed receiver signed per Standard Webhooks: the receiver checks
them with the reference implementation, a failed delivery is tried again with the same
id, a refused one is given up, a job run twice sends once, and an admin can replay."""

import socket
from datetime import timedelta

import pytest
from sqlalchemy import select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.jobs.tasks import deliver_webhook
from fieldsvc.proposals.services import submit_revision
from fieldsvc.webhooks import services as webhooks
from fieldsvc.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from tests.factories import PASSWORD
from tests.proposals.broken_transmitters import build_broken_transmitters


@pytest.fixture
def seed(app):
    return build_broken_transmitters()


def subscribe(seed, receiver, *events: str):
    endpoint = webhooks.create_endpoint(
        receiver.url(), list(events), description="ERP", actor=seed.admin
    )
    db.session.commit()
    return endpoint


def announce_incident(seed) -> WebhookDelivery:
    webhooks.emit("incident.created", seed.incident)
    db.session.commit()
    return db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id.desc())).first()


def test_approving_a_proposal_posts_a_signed_event_the_receiver_verifies(
    app, client, seed, receiver
):
    endpoint = subscribe(seed, receiver, "proposal.approved")
    revision = seed.revision
    submit_revision(revision, actor=seed.technician, expected_version=revision.version)
    db.session.commit()
    assert receiver.received == []  # submitted: this endpoint did not ask for that
    client.sign_in(seed.supervisor.email, PASSWORD)

    page = client.post(
        f"/proposals/{seed.proposal.id}/approve",
        data={"version": revision.version, "password": PASSWORD},
    )

    assert page.status_code == 302
    (request,) = receiver.received
    assert request.path == "/hooks/fieldsvc"
    event = request.verified_with(endpoint.secret)  # the reference implementation's check
    assert event["type"] == "proposal.approved"
    assert event["data"]["proposal"] == {
        "id": seed.proposal.id,
        "revision": 1,
        "status": "approved",
        "url": f"http://127.0.0.1:5000/api/v1/proposals/{seed.proposal.id}",
    }
    assert event["data"]["incident"]["reference"] == seed.incident.reference
    assert request.headers["webhook-id"].startswith("msg_")
    assert not request.verifies_with(webhooks.new_secret())  # another secret: refused
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        DeliveryStatus.DELIVERED,
        1,
        200,
    )


def test_a_receiver_that_answered_500_gets_the_same_event_again_after_the_wait(
    app, seed, receiver, worker
):
    endpoint = subscribe(seed, receiver, "incident.created")
    receiver.answers = [500, 200]

    delivery = announce_incident(seed)
    assert worker.run_queued() == 1

    db.session.refresh(delivery)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.last_error == "500 receiver trouble <b>escaped?</b>"
    wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert timedelta(seconds=59) < wait <= timedelta(seconds=61)

    assert worker.run_due(delivery.next_attempt_at + timedelta(seconds=1)) == 1

    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    assert second.verifies_with(endpoint.secret)
    db.session.refresh(delivery)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    attempts = db.session.scalars(
        select(WebhookAttempt.status_code).where(WebhookAttempt.delivery_id == delivery.id)
    ).all()
    assert sorted(attempts) == [200, 500]


def test_a_receiver_that_refuses_with_a_4xx_is_not_asked_again(app, seed, receiver, worker):
    subscribe(seed, receiver, "incident.created")
    receiver.answers = [410]

    delivery = announce_incident(seed)
    worker.run_queued()

    db.session.refresh(delivery)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.GIVEN_UP, 1)
    assert worker.scheduled_at() == []  # no retry waiting
    assert len(receiver.received) == 1


def test_a_receiver_that_is_not_listening_is_tried_again_later(app, seed, receiver):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    webhooks.create_endpoint(f"http://127.0.0.1:{port}/in", ["incident.created"], actor=seed.admin)
    db.session.commit()

    delivery = announce_incident(seed)

    db.session.refresh(delivery)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.last_error == "could not connect (Connection refused)"
    assert delivery.next_attempt_at is not None


def test_a_receiver_that_never_answers_is_given_up_on_after_the_time_out(app, seed, receiver):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/in"
        webhooks.create_endpoint(url, ["incident.created"], actor=seed.admin)
        db.session.commit()
        app.config.update(WEBHOOK_TIMEOUT=0.3)

        delivery = announce_incident(seed)

    db.session.refresh(delivery)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.last_error == "no answer within 0.3 s"


def test_the_delivery_job_run_twice_sends_once(app, seed, receiver, worker):
    subscribe(seed, receiver, "incident.created")
    delivery = announce_incident(seed)
    deliver_webhook(delivery.id)  # the same job queued a second time

    assert worker.run_queued() == 2

    assert len(receiver.received) == 1
    db.session.refresh(delivery)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)


def test_a_host_that_now_resolves_to_a_loopback_address_is_not_delivered_to(
    app, seed, receiver, monkeypatch
):
    """DNS rebinding: public when the endpoint was saved, loopback when delivering."""
    app.config.update(WEBHOOK_ALLOW="")
    answers = {"address": "93.184.215.14"}

    def resolver(host, port, *args, **kwargs):
        return [(2, 1, 6, "", (answers["address"], 0))]

    monkeypatch.setattr("fieldsvc.webhooks.addresses.socket.getaddrinfo", resolver)
    webhooks.create_endpoint(
        f"https://hooks.example.com:{receiver.port}/in", ["incident.created"], actor=seed.admin
    )
    db.session.commit()
    answers["address"] = "127.0.0.1"

    delivery = announce_incident(seed)

    assert receiver.received == []
    db.session.refresh(delivery)
    assert delivery.status is DeliveryStatus.FAILED
    assert "refused: hooks.example.com is a private, loopback" in delivery.last_error
    assert "(127.0.0.1)" in delivery.last_error


def test_an_admin_replays_a_delivery_with_the_same_id_and_body_and_it_is_audited(
    app, client, seed, receiver
):
    endpoint = subscribe(seed, receiver, "incident.created")
    delivery = announce_incident(seed)
    client.sign_in(seed.admin.email, PASSWORD)

    page = client.post(f"/admin/webhooks/deliveries/{delivery.id}/replay", follow_redirects=True)

    assert page.status_code == 200
    assert "is sent again to ERP" in page.get_data(as_text=True)
    first, again = receiver.received
    assert again.headers["webhook-id"] == first.headers["webhook-id"]
    assert again.body == first.body
    assert again.verifies_with(endpoint.secret)
    replayed = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "webhook_replay", AuditEvent.object_id == delivery.id
        )
    ).one()
    assert replayed.actor_id == seed.admin.id


def test_a_replay_without_the_form_token_is_refused(app, client, seed, receiver):
    subscribe(seed, receiver, "incident.created")
    delivery = announce_incident(seed)
    client.sign_in(seed.admin.email, PASSWORD)

    page = client.post(f"/admin/webhooks/deliveries/{delivery.id}/replay", csrf=False)

    assert page.status_code == 400
    assert len(receiver.received) == 1


@pytest.mark.parametrize("role", [Role.TECHNICIAN, Role.SUPERVISOR])
def test_only_admins_see_webhooks_or_replay_them(app, client, seed, receiver, role):
    subscribe(seed, receiver, "incident.created")
    delivery = announce_incident(seed)
    person = seed.technician if role is Role.TECHNICIAN else seed.supervisor
    client.sign_in(person.email, PASSWORD)

    assert client.get("/admin/webhooks/").status_code == 403
    assert client.get(f"/admin/webhooks/{delivery.endpoint_id}").status_code == 403
    assert client.post(f"/admin/webhooks/deliveries/{delivery.id}/replay").status_code == 403
    assert client.post(f"/admin/webhooks/{delivery.endpoint_id}/secret").status_code == 403
    assert len(receiver.received) == 1


def test_a_delivery_whose_job_was_lost_is_found_by_the_sweep(app, seed, receiver, worker):
    from fieldsvc.webhooks.delivery import due_for_sweep

    subscribe(seed, receiver, "incident.created")
    delivery = announce_incident(seed)  # queued, and the job never runs

    assert due_for_sweep(utcnow()) == []  # just queued: its job gets the first try
    assert due_for_sweep(utcnow() + timedelta(minutes=3)) == [delivery.id]
