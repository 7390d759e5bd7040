"""E-mail goes out through the job queue: a request only commits the row and queues a
job; the worker delivers it once, however often the job runs, and retries a refused or
unreachable delivery with a doubling wait until it gives it up to the admins."""

import socket
from datetime import timedelta

import pytest
from sqlalchemy import select

from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.jobs.queue import huey
from fieldsvc.jobs.tasks import deliver_email
from fieldsvc.mail.models import EmailStatus, OutgoingEmail
from fieldsvc.mail.services import deliver, deliver_later, queue_email
from tests.concurrency import run_together
from tests.factories import PASSWORD
from tests.proposals.broken_transmitters import approve, build_broken_transmitters
from tests.smtp import HOST, SmtpServer


def test_sending_a_proposal_answers_before_the_mail_server_is_asked_and_the_worker_delivers_it(
    app, client, smtp_server, worker
):
    seed = build_broken_transmitters()
    approve(seed)
    client.sign_in(seed.supervisor.email, PASSWORD)

    page = client.post(
        f"/proposals/{seed.proposal.id}/send",
        data={"version": seed.revision.version},
        follow_redirects=True,
    )

    assert "Sent to dana.whitfield@northwind.example" in page.get_data(as_text=True)
    assert smtp_server.messages == []  # the request did not talk to the mail server
    email = db.session.scalars(select(OutgoingEmail)).one()
    assert email.status is EmailStatus.PENDING
    assert huey.pending_count() == 1

    assert worker.run_queued() == 1

    (message,) = smtp_server.messages
    assert message["To"] == "dana.whitfield@northwind.example"
    db.session.refresh(email)
    assert email.status is EmailStatus.SENT


def test_a_mail_server_that_never_answers_does_not_hold_the_request(app, client, worker):
    with socket.socket() as silent:  # accepts connections but never greets
        silent.bind((HOST, 0))
        silent.listen(1)
        app.config.update(SMTP_HOST=HOST, SMTP_PORT=silent.getsockname()[1], SMTP_TIMEOUT=0.5)
        seed = build_broken_transmitters()
        client.sign_in(seed.supervisor.email, PASSWORD)

        page = client.post(f"/incidents/{seed.incident.id}/status-links")

        assert page.status_code == 200
        assert "E-mailed to dana.whitfield@northwind.example (on its way)" in page.get_data(
            as_text=True
        )
        email = db.session.scalars(select(OutgoingEmail)).one()
        assert (email.status, email.attempts) == (EmailStatus.PENDING, 0)

        worker.run_queued()  # the worker waits for the silent server, not the request

    db.session.refresh(email)
    assert email.status is EmailStatus.FAILED
    assert email.last_error.endswith("(no answer within 0.5 s)")


def test_the_job_run_twice_sends_one_e_mail(smtp_server, worker):
    email = queue_email("dana@example.com", "Proposal", "Body")
    deliver_later(email)
    deliver_email(email.id)  # the same job queued a second time

    assert worker.run_queued() == 2

    assert len(smtp_server.messages) == 1
    db.session.refresh(email)
    assert (email.status, email.attempts) == (EmailStatus.SENT, 1)


@pytest.fixture
def own_smtp_server():
    """An SMTP server for an app other than the test's `app` (whose fixture it needs)."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def test_two_workers_delivering_the_same_e_mail_at_once_send_it_once(
    committed_app, own_smtp_server
):
    smtp_server = own_smtp_server
    committed_app.config.update(
        SMTP_HOST=smtp_server.host, SMTP_PORT=smtp_server.port, SMTP_SECURITY="none"
    )
    with committed_app.app_context():
        email_id = queue_email("dana@example.com", "Proposal", "Body").id
        db.session.commit()

    def one_worker() -> bool:
        with committed_app.app_context():
            return deliver(db.session.get(OutgoingEmail, email_id))

    results = run_together([one_worker, one_worker])

    assert True in results  # the other worker found it claimed, and left it
    assert len(smtp_server.messages) == 1
    with committed_app.app_context():
        email = db.session.get(OutgoingEmail, email_id)
        assert (email.status, email.attempts) == (EmailStatus.SENT, 1)


def test_a_refused_address_is_retried_with_a_doubling_wait_then_given_up_to_admins(
    app, smtp_server, worker
):
    app.config.update(MAIL_MAX_ATTEMPTS=4, MAIL_RETRY_SECONDS=60)
    smtp_server.refuse("nobody@example.com")
    email = queue_email("nobody@example.com", "Proposal", "Body")
    deliver_later(email)

    worker.run_queued()
    waits = []
    for _ in range(3):
        db.session.refresh(email)
        assert email.status is EmailStatus.FAILED
        wait = round((email.next_attempt_at - email.last_attempt_at).total_seconds())
        waits.append(wait)
        (retry,) = huey.scheduled()  # one retry, after the same wait (Huey's own clock)
        assert retry.retry_delay == 2 * wait  # already doubled for the one after
        # Not before its time: the sweep or a stray job leave it alone until then.
        deliver_email(email.id)
        worker.run_queued()
        db.session.refresh(email)
        assert email.status is EmailStatus.FAILED
        assert worker.run_due(email.next_attempt_at + timedelta(seconds=1)) == 1

    db.session.refresh(email)
    assert waits == [60, 120, 240]
    assert email.status is EmailStatus.UNDELIVERABLE
    assert email.attempts == 4
    assert email.next_attempt_at is None
    assert email.last_error == "550 mailbox unavailable"
    assert worker.scheduled_at() == []  # no further retry
    assert smtp_server.messages == []


def test_an_e_mail_whose_job_was_lost_is_sent_by_the_periodic_sweep(smtp_server, worker):
    email = queue_email("dana@example.com", "Proposal", "Body")
    db.session.commit()  # committed, but the process died before queueing the job
    from fieldsvc.jobs.tasks import sweep_outbox

    worker.run_due(utcnow())
    sweep_outbox.call_local()
    worker.run_queued()
    assert smtp_server.messages == []  # a request that just queued it gets the first try

    later = utcnow() + timedelta(minutes=3)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("fieldsvc.mail.services.utcnow", lambda: later)
        sweep_outbox.call_local()
    worker.run_queued()

    assert len(smtp_server.messages) == 1
    db.session.refresh(email)
    assert email.status is EmailStatus.SENT
