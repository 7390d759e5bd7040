"""A delivery that fails — refused recipient, server down, no answer — is kept as a
FAILED row with the reason, and `flask mail retry` delivers it later, exactly once."""

import smtplib
import socket

import pytest
from sqlalchemy import select

from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.jobs.claims import PENDING_GRACE, STUCK_AFTER
from fieldsvc.mail.models import EmailStatus, OutgoingEmail
from fieldsvc.mail.services import (
    deliver,
    deliver_now,
    due_for_sweep,
    queue_email,
    retry_pending,
)
from tests.smtp import HOST, free_port


def _reload(email_id: int) -> OutgoingEmail:
    """The row as the database holds it (a CLI run ends the test's session)."""
    db.session.expire_all()
    return db.session.get(OutgoingEmail, email_id)


def test_a_refused_recipient_fails_with_the_server_reason_then_retry_sends_it(smtp_server, runner):
    smtp_server.refuse("nobody@example.com")
    email = queue_email("nobody@example.com", "Proposal", "Body")

    assert deliver(email) is False

    assert email.status is EmailStatus.FAILED
    assert email.attempts == 1
    assert email.last_error == "550 mailbox unavailable"
    assert email.last_attempt_at is not None and email.sent_at is None
    assert smtp_server.messages == []
    db.session.commit()
    email_id = email.id

    smtp_server.accept("nobody@example.com")
    result = runner.invoke(args=["mail", "retry"])

    assert result.exit_code == 0, result.output
    assert result.output == "sent “Proposal” to nobody@example.com\n1 sent, 0 failed\n"
    email = _reload(email_id)
    assert email.status is EmailStatus.SENT
    assert email.attempts == 2
    assert email.last_error is None
    [message] = smtp_server.messages
    assert message["Message-ID"] == email.message_id


def test_a_server_that_is_down_fails_with_a_connection_reason_and_retry_exits_1(app, runner):
    port = free_port()
    app.config.update(SMTP_HOST=HOST, SMTP_PORT=port)
    email = queue_email("dana@example.com", "Proposal", "Body")

    assert deliver(email) is False

    assert email.status is EmailStatus.FAILED
    assert email.last_error == f"could not connect to {HOST}:{port} (Connection refused)"
    db.session.commit()
    email_id = email.id

    result = runner.invoke(args=["mail", "retry"])

    assert result.exit_code == 1
    assert result.stderr == (
        f"failed “Proposal” to dana@example.com: could not connect to {HOST}:{port} "
        "(Connection refused)\n"
    )
    assert result.stdout == "0 sent, 1 failed\n"
    assert _reload(email_id).attempts == 2


def test_a_server_that_never_answers_fails_after_the_timeout(app):
    with socket.socket() as silent:  # accepts connections (backlog) but never greets
        silent.bind((HOST, 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        app.config.update(SMTP_HOST=HOST, SMTP_PORT=port, SMTP_TIMEOUT=0.2)
        email = queue_email("dana@example.com", "Proposal", "Body")

        assert deliver(email) is False

    assert email.last_error == f"could not connect to {HOST}:{port} (no answer within 0.2 s)"


def test_retry_sends_only_unsent_emails_oldest_first_and_never_a_sent_one_again(
    smtp_server, runner
):
    sent = queue_email("first@example.com", "Already sent", "Body")
    deliver(sent)
    smtp_server.refuse("second@example.com")
    failed = queue_email("second@example.com", "Refused once", "Body")
    deliver(failed)
    smtp_server.accept("second@example.com")
    pending = queue_email("third@example.com", "Not tried yet", "Body")
    db.session.commit()
    assert len(smtp_server.messages) == 1

    retried = retry_pending(now=utcnow() + PENDING_GRACE)

    assert retried == [failed, pending]
    assert [m["Subject"] for m in smtp_server.messages] == [
        "Already sent",
        "Refused once",
        "Not tried yet",
    ]
    assert sent.attempts == 1
    assert deliver(sent) is True  # delivering a sent e-mail again is a no-op
    assert len(smtp_server.messages) == 3
    result = runner.invoke(args=["mail", "retry"])
    assert result.exit_code == 0
    assert result.output == "0 sent, 0 failed\n"
    assert len(smtp_server.messages) == 3


def test_retry_limit_takes_the_oldest_first(smtp_server):
    emails = [queue_email(f"n{n}@example.com", f"Number {n}", "Body") for n in range(3)]

    assert retry_pending(limit=2, now=utcnow() + PENDING_GRACE) == emails[:2]
    assert [e.status for e in emails] == [EmailStatus.SENT, EmailStatus.SENT, EmailStatus.PENDING]


def test_retry_leaves_an_e_mail_just_queued_to_the_request_delivering_it(smtp_server):
    """A web request commits its e-mail, then delivers it: a retry running meanwhile must
    not send it a second time."""
    email = queue_email("dana@example.com", "Proposal", "Body")
    db.session.commit()

    assert retry_pending() == []
    assert smtp_server.messages == []
    assert retry_pending(now=email.created_at + PENDING_GRACE) == [email]
    assert len(smtp_server.messages) == 1


def test_deliver_now_keeps_the_failed_row(app):
    app.config.update(SMTP_HOST=HOST, SMTP_PORT=free_port())
    email = queue_email("dana@example.com", "Proposal", "Body")

    assert deliver_now(email) is False

    db.session.rollback()  # whatever the caller does next, the outcome is committed
    row = db.session.scalars(select(OutgoingEmail)).one()
    assert row.status is EmailStatus.FAILED
    assert row.attempts == 1
    assert row.last_error.startswith("could not connect")


def test_deliver_now_commits_the_row_before_talking_smtp(smtp_server, monkeypatch):
    class ProcessDied(BaseException):
        pass

    def die(*args, **kwargs):
        raise ProcessDied

    monkeypatch.setattr(smtplib.SMTP, "send_message", die)
    email = queue_email("dana@example.com", "Proposal", "Body")

    with pytest.raises(ProcessDied):
        deliver_now(email)

    db.session.rollback()
    row = db.session.scalars(select(OutgoingEmail)).one()
    assert row.status is EmailStatus.SENDING  # claimed, kept; no second job may send it
    assert due_for_sweep() == []
    # Longer than any SMTP time-out later, the sweep takes it as a job that died mid-send.
    assert due_for_sweep(now=row.last_attempt_at + STUCK_AFTER + PENDING_GRACE) == [row.id]
    db.session.refresh(row)
    assert row.status is EmailStatus.FAILED
    assert row.last_error == "the delivery job stopped before the mail server answered"


def test_deliver_now_sends_and_commits(smtp_server):
    email = queue_email("dana@example.com", "Proposal", "Body")

    assert deliver_now(email) is True

    db.session.rollback()
    assert db.session.scalars(select(OutgoingEmail)).one().status is EmailStatus.SENT
    assert len(smtp_server.messages) == 1


def test_outbox_lists_unsent_emails_with_attempts_and_last_error(smtp_server, runner):
    deliver(queue_email("sent@example.com", "Delivered", "Body"))
    smtp_server.refuse("nobody@example.com")
    failed = queue_email("nobody@example.com", "Refused", "Body")
    deliver(failed)
    pending = queue_email("later@example.com", "Waiting", "Body")
    db.session.commit()
    failed_id, pending_id = failed.id, pending.id

    result = runner.invoke(args=["mail", "outbox"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"#{failed_id} failed (1 attempt) queued ")
    assert lines[0].endswith("“Refused” to nobody@example.com: 550 mailbox unavailable")
    assert lines[1].startswith(f"#{pending_id} pending (0 attempts) queued ")
    assert lines[1].endswith("“Waiting” to later@example.com")
    assert lines[2] == "2 unsent e-mail(s)"
    assert "Delivered" not in result.output
