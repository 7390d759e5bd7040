"""Admins see the e-mails the queue gave up on — recipient, subject, last error,
attempts — and send each again or cancel it; both are recorded in the audit trail."""

import pytest
from sqlalchemy import select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from fieldsvc.mail.models import EmailStatus
from fieldsvc.mail.services import deliver, queue_email


@pytest.fixture
def given_up(app, smtp_server):
    """An e-mail refused on every attempt, and one sent fine."""
    app.config.update(MAIL_MAX_ATTEMPTS=2)
    smtp_server.refuse("nobody@example.com")
    email = queue_email("nobody@example.com", "Your proposal <INC-1>", "Body")
    deliver(email)
    deliver(email)
    deliver(queue_email("dana@example.com", "Delivered fine", "Body"))
    assert email.status is EmailStatus.UNDELIVERABLE
    return email


def test_an_admin_sees_the_given_up_e_mail_with_its_recipient_subject_error_and_attempts(
    client, signed_in, given_up
):
    signed_in(Role.ADMIN)

    page = client.get("/admin/e-mails/failed").get_data(as_text=True)

    assert "nobody@example.com" in page
    assert "Your proposal &lt;INC-1&gt;" in page  # escaped
    assert "550 mailbox unavailable" in page
    assert "Not delivered; 2 attempts" in page
    assert "Delivered fine" not in page
    assert 'href="/admin/e-mails/failed">Failed e-mails</a>' in page  # in the admin's menu


@pytest.mark.parametrize("role", [Role.TECHNICIAN, Role.SUPERVISOR])
def test_only_admins_open_the_page_or_press_its_buttons(client, signed_in, given_up, role):
    signed_in(role)

    assert client.get("/admin/e-mails/failed").status_code == 403
    assert client.post(f"/admin/e-mails/{given_up.id}/retry").status_code == 403
    assert client.post(f"/admin/e-mails/{given_up.id}/cancel").status_code == 403
    db.session.refresh(given_up)
    assert given_up.status is EmailStatus.UNDELIVERABLE


def test_send_again_delivers_it_once_the_address_works_and_is_audited(
    client, signed_in, given_up, smtp_server
):
    admin = signed_in(Role.ADMIN)
    smtp_server.accept("nobody@example.com")

    page = client.post(f"/admin/e-mails/{given_up.id}/retry", follow_redirects=True)

    assert "is sent again" in page.get_data(as_text=True)
    db.session.refresh(given_up)
    assert (given_up.status, given_up.attempts) == (EmailStatus.SENT, 1)
    assert [m["To"] for m in smtp_server.messages] == ["dana@example.com", "nobody@example.com"]
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "mail_retry")).one()
    assert (event.object_type, event.object_id, event.actor_id) == (
        "OutgoingEmail",
        given_up.id,
        admin.id,
    )
    assert event.changes["last_error"] == "550 mailbox unavailable"


def test_cancel_keeps_it_from_being_sent_and_is_audited(client, signed_in, given_up, runner):
    admin = signed_in(Role.ADMIN)

    page = client.post(f"/admin/e-mails/{given_up.id}/cancel", follow_redirects=True)

    assert "will not be sent" in page.get_data(as_text=True)
    db.session.refresh(given_up)
    assert given_up.status is EmailStatus.CANCELLED
    assert "No failed e-mails" in page.get_data(as_text=True)
    assert runner.invoke(args=["mail", "retry"]).output == "0 sent, 0 failed\n"
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "mail_cancel")).one()
    assert (event.object_id, event.actor_id) == (given_up.id, admin.id)
    # Cancelled is final: a second press says so instead of sending.
    again = client.post(f"/admin/e-mails/{given_up.id}/retry", follow_redirects=True)
    assert "is cancelled, so it cannot be retried" in again.get_data(as_text=True)


def test_the_buttons_need_the_form_token(client, signed_in, given_up):
    signed_in(Role.ADMIN)

    assert client.post(f"/admin/e-mails/{given_up.id}/retry", csrf=False).status_code == 400
    assert client.post(f"/admin/e-mails/{given_up.id}/cancel", csrf=False).status_code == 400
    db.session.refresh(given_up)
    assert given_up.status is EmailStatus.UNDELIVERABLE


def test_mail_retry_reports_a_refused_address_and_moves_on_until_it_is_given_up(
    app, smtp_server, runner
):
    app.config.update(MAIL_MAX_ATTEMPTS=2)
    smtp_server.refuse("nobody@example.com")
    refused = queue_email("nobody@example.com", "Refused", "Body")
    deliver(refused)
    smtp_server.refuse("later@example.com")
    fine = queue_email("later@example.com", "Works now", "Body")
    deliver(fine)
    smtp_server.accept("later@example.com")
    refused_id = refused.id

    first = runner.invoke(args=["mail", "retry"])

    assert first.exit_code == 1
    assert first.stderr == "failed “Refused” to nobody@example.com: 550 mailbox unavailable\n"
    assert first.stdout == "sent “Works now” to later@example.com\n1 sent, 1 failed\n"
    # Given up after its last attempt: the next run leaves it to the admins.
    second = runner.invoke(args=["mail", "retry"])
    assert (second.exit_code, second.output) == (0, "0 sent, 0 failed\n")
    db.session.expire_all()
    assert db.session.get(type(refused), refused_id).status is EmailStatus.UNDELIVERABLE
