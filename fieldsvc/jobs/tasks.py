"""The jobs: e-mail and webhook delivery, and the periodic jobs the worker's scheduler runs.

Every job is safe to run twice: delivery claims its e-mail or webhook before sending, reminders
record what they sent, expiry only moves offers still sent, and an anchor already
written for the same head is not written again. A lock keeps one run of a periodic job
at a time across every worker sharing the queue.
"""

from flask import current_app
from huey import crontab

from fieldsvc.extensions import db
from fieldsvc.jobs.queue import huey, in_app_context


@huey.task()
@in_app_context
def deliver_email(email_id: int) -> None:
    """Deliver one e-mail; raising makes Huey try again after its backoff wait."""
    from fieldsvc.mail import services as mail
    from fieldsvc.mail.models import EmailStatus, OutgoingEmail

    email = db.session.get(OutgoingEmail, email_id)
    if email is None:
        return
    attempted = mail.attempt_delivery(email, due_only=True)
    if attempted is False and email.status is EmailStatus.FAILED:  # not given up yet
        raise mail.DeliveryFailed(f"e-mail {email_id}: {email.last_error}")


@huey.periodic_task(crontab(minute="*"))
@in_app_context
def sweep_outbox() -> None:
    """Queue the e-mails whose job was lost (a queue that was down, a worker that died)."""
    if not current_app.config["JOBS_PERIODIC"]:
        return
    from fieldsvc.mail import services as mail

    with huey.lock_task("sweep-outbox"):
        for email_id in mail.due_for_sweep():
            deliver_email(email_id, **mail.retry_options())


@huey.task()
@in_app_context
def deliver_webhook(delivery_id: int) -> None:
    """Deliver one webhook; raising makes Huey try again after its backoff wait."""
    from fieldsvc.webhooks import delivery as webhooks
    from fieldsvc.webhooks.models import DeliveryStatus, WebhookDelivery

    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        return
    attempted = webhooks.attempt_delivery(delivery, due_only=True)
    if attempted is False and delivery.status is DeliveryStatus.FAILED:  # not given up yet
        raise webhooks.DeliveryFailed(f"webhook delivery {delivery_id}: {delivery.last_error}")


@huey.periodic_task(crontab(minute="*"))
@in_app_context
def sweep_webhooks() -> None:
    """Queue the webhook deliveries whose job was lost."""
    if not current_app.config["JOBS_PERIODIC"]:
        return
    from fieldsvc.webhooks import delivery as webhooks

    with huey.lock_task("sweep-webhooks"):
        for delivery_id in webhooks.due_for_sweep():
            deliver_webhook(delivery_id, **webhooks.retry_options())


@huey.periodic_task(crontab(minute="*/15"))
@in_app_context
def send_reminders() -> None:
    """Overdue and soon-due follow-ups, late part orders, unanswered proposals."""
    if not current_app.config["JOBS_PERIODIC"]:
        return
    from fieldsvc.mail import services as mail
    from fieldsvc.reminders import services as reminders

    with huey.lock_task("send-reminders"):
        reminders.send_reminders(deliver=mail.deliver_later)


@huey.periodic_task(crontab(minute="5"))
@in_app_context
def expire_proposals() -> None:
    """Sent offers past their valid-until date expire (hourly: the date is local)."""
    if not current_app.config["JOBS_PERIODIC"]:
        return
    from fieldsvc.proposals import services as proposals

    with huey.lock_task("expire-proposals"):
        expired = proposals.expire_revisions()
        db.session.commit()
        current_app.logger.info("proposals: %d offer(s) expired", len(expired))


@huey.periodic_task(crontab(hour="2", minute="15"))
@in_app_context
def anchor_audit_trail() -> None:
    """Anchor the audit trail's head in the anchor file, and by e-mail if configured."""
    if not current_app.config["JOBS_PERIODIC"]:
        return
    from fieldsvc.audit import anchors
    from fieldsvc.mail import services as mail

    with huey.lock_task("anchor-audit-trail"):
        anchors.anchor_periodically(deliver=mail.deliver_later)
