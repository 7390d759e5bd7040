"""Admins subscribe an endpoint on a page: its secret is shown once, a URL inside the
company's network is refused with a reason unless the allow-list names it, and a new
secret replaces the old one at once. Each change is in the audit trail, the secret never."""

from sqlalchemy import select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from fieldsvc.webhooks import services as webhooks
from fieldsvc.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

SECRET_SHAPE = "whsec_"


def create(client, url: str, *events: str):
    return client.post(
        "/admin/webhooks/new",
        data={"url": url, "description": "ERP <sync>", "event_types": list(events)},
    )


def test_an_admin_subscribes_an_endpoint_and_sees_its_secret_once(client, signed_in, receiver):
    admin = signed_in(Role.ADMIN)

    page = create(client, receiver.url(), "incident.created", "proposal.sent")

    assert page.status_code == 201
    assert page.headers["Cache-Control"] == "no-store"
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    text = page.get_data(as_text=True)
    assert endpoint.secret.startswith(SECRET_SHAPE) and endpoint.secret in text
    assert len(webhooks.new_secret()) == len(endpoint.secret) == 50  # 32 random bytes
    assert endpoint.event_types == ["incident.created", "proposal.sent"]
    listing = client.get("/admin/webhooks/").get_data(as_text=True)
    assert "ERP &lt;sync&gt;" in listing  # escaped
    assert "An incident is recorded; A proposal is sent to the customer" in listing
    detail = client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    assert endpoint.secret not in listing and endpoint.secret not in detail
    created = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.object_type == "WebhookEndpoint", AuditEvent.object_id == endpoint.id
        )
    ).one()
    assert created.actor_id == admin.id
    assert endpoint.secret not in str(created.changes)


def test_urls_inside_the_network_are_refused_with_the_reason_unless_allow_listed(
    app, client, signed_in
):
    signed_in(Role.ADMIN)
    app.config.update(WEBHOOK_ALLOW="")

    for url in (
        "http://127.0.0.1:8080/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:127.0.0.1]/hook",
        "https://localhost/hook",
    ):
        page = create(client, url, "incident.created")
        assert page.status_code == 422, url
        assert "private, loopback, link-local" in page.get_data(as_text=True), url

    page = create(client, "http://93.184.215.14/in", "incident.created")  # public, but plain
    assert "must start with https://" in page.get_data(as_text=True)
    assert db.session.scalars(select(WebhookEndpoint)).all() == []

    app.config.update(WEBHOOK_ALLOW="10.1.0.0/16, localhost")
    assert create(client, "https://10.1.2.3/hook", "incident.created").status_code == 201
    assert create(client, "http://localhost:8080/hook", "incident.created").status_code == 201


def test_an_endpoint_must_ask_for_at_least_one_known_event(client, signed_in, receiver):
    signed_in(Role.ADMIN)

    assert create(client, receiver.url()).status_code == 422
    assert create(client, receiver.url(), "incident.deleted").status_code == 422
    assert db.session.scalars(select(WebhookEndpoint)).all() == []


def test_a_new_secret_replaces_the_old_one_and_is_shown_once(client, signed_in, receiver):
    admin = signed_in(Role.ADMIN)
    endpoint = webhooks.create_endpoint(receiver.url(), ["incident.created"], actor=admin)
    db.session.commit()
    old = endpoint.secret

    page = client.post(f"/admin/webhooks/{endpoint.id}/secret")

    db.session.refresh(endpoint)
    assert endpoint.secret != old
    assert endpoint.secret in page.get_data(as_text=True)
    assert "The old secret no longer signs anything" in page.get_data(as_text=True)
    rotated = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.object_type == "WebhookEndpoint", AuditEvent.action == "update"
        )
    ).one()
    assert old not in str(rotated.changes) and endpoint.secret not in str(rotated.changes)


def test_an_admin_switches_an_endpoint_off_and_it_hears_of_nothing(
    app, client, signed_in, receiver, make_incident
):
    admin = signed_in(Role.ADMIN)
    endpoint = webhooks.create_endpoint(receiver.url(), ["incident.created"], actor=admin)
    db.session.commit()

    page = client.post(
        f"/admin/webhooks/{endpoint.id}",
        data={"url": receiver.url(), "description": "ERP", "event_types": ["incident.created"]},
    )

    assert page.status_code == 200 and "Saved." in page.get_data(as_text=True)
    db.session.refresh(endpoint)
    assert endpoint.enabled is False
    make_incident()
    db.session.commit()
    assert receiver.received == []


def test_deliveries_waiting_when_an_endpoint_is_switched_off_are_not_sent(
    app, signed_in, receiver, make_incident, worker
):
    admin = signed_in(Role.ADMIN)
    endpoint = webhooks.create_endpoint(receiver.url(), ["incident.created"], actor=admin)
    db.session.commit()
    make_incident()
    db.session.commit()  # queued, not run yet
    webhooks.update_endpoint(
        endpoint, endpoint.url, endpoint.event_types, description="", enabled=False, actor=admin
    )
    db.session.commit()

    worker.run_queued()

    assert receiver.received == []
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    assert delivery.status is DeliveryStatus.GIVEN_UP
    assert delivery.last_error == "not sent: the endpoint is switched off"
