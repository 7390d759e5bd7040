"""Queue, deliver and retry e-mails through the outbox.

An e-mail is a committed row before any SMTP traffic, so a refused recipient, a mail
server that is down or a worker that dies mid-send leaves a row to show and retry.
A web request never talks to the mail server: it commits the row and hands its id to
the job queue (`deliver_later`); a worker delivers it, retrying with a growing wait up
to FIELDSVC_MAIL_MAX_ATTEMPTS, after which admins see it on the failed e-mail page.
"""

import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import and_, or_, select

from fieldsvc.database import utcnow, writing
from fieldsvc.errors import FieldError, InvalidTransition
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Incident
from fieldsvc.jobs import claims
from fieldsvc.mail.models import EmailStatus, OutgoingEmail
from fieldsvc.storage import get_storage

UNSENT = (EmailStatus.PENDING, EmailStatus.SENDING, EmailStatus.FAILED, EmailStatus.UNDELIVERABLE)
# What the failed e-mail page lists, and an admin may retry or cancel.
NEEDS_ADMIN = (EmailStatus.FAILED, EmailStatus.UNDELIVERABLE)
MAX_ERROR_LENGTH = 500
MAX_SUBJECT_LENGTH = OutgoingEmail.subject.type.length


class DeliveryFailed(Exception):
    """Why one delivery attempt failed, in words for the outbox."""


def queue_email(
    to_address: str,
    subject: str,
    body: str,
    *,
    attachment_key: str | None = None,
    attachment_name: str | None = None,
    attachment_type: str = "application/pdf",
    incident: Incident | None = None,
) -> OutgoingEmail:
    """Add a pending e-mail to the outbox and flush; the caller commits."""
    try:
        address = validate_email(to_address.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise FieldError("to_address", f"Enter a valid e-mail address ({error})") from error
    if "\n" in subject or "\r" in subject:
        raise FieldError("subject", "The subject must be a single line.")
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise FieldError("subject", f"Keep the subject under {MAX_SUBJECT_LENGTH} characters.")
    name = type_ = None
    if attachment_key:
        name, type_ = attachment_name or attachment_key.rsplit("/", 1)[-1], attachment_type
    email = OutgoingEmail(
        message_id=make_msgid(domain=_sender_domain()),
        to_address=address,
        subject=subject,
        body=body,
        attachment_key=attachment_key,
        attachment_name=name,
        attachment_type=type_,
        incident=incident,
        status=EmailStatus.PENDING,
        attempts=0,
    )
    db.session.add(email)
    db.session.flush()
    return email


def deliver(email: OutgoingEmail) -> bool:
    """Claim the e-mail, send it once and record the outcome; True if it is sent.

    The claim is a conditional update committed before any SMTP traffic, so a job run
    twice or by two workers at once sends one e-mail, and no database transaction is
    open while the mail server answers. Never raises for a delivery error (it is kept
    in `last_error`). Commits.
    """
    attempted = attempt_delivery(email, due_only=False)
    return email.status is EmailStatus.SENT if attempted is None else attempted


def attempt_delivery(email: OutgoingEmail, *, due_only: bool) -> bool | None:
    """`deliver`, for the job queue: None when this call did not attempt it (another job
    has it, it is done, or with `due_only` its next attempt is not due yet)."""
    with writing():
        if not claims.claim(email, due_only=due_only):
            return None
        try:
            _send(_build_message(email))
        except DeliveryFailed as failure:
            _record_failure(email, str(failure))
            current_app.logger.warning("e-mail %s not delivered: %s", email.id, email.last_error)
            return False
        email.status = EmailStatus.SENT
        email.sent_at = utcnow()
        email.last_error = None
        db.session.commit()
        return True


def _record_failure(email: OutgoingEmail, reason: str) -> None:
    """FAILED with the time of the next attempt, or UNDELIVERABLE after the last one."""
    email.last_error = reason[:MAX_ERROR_LENGTH]
    if email.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]:
        email.status = EmailStatus.UNDELIVERABLE
        email.next_attempt_at = None
    else:
        email.status = EmailStatus.FAILED
        email.next_attempt_at = utcnow() + retry_wait(email.attempts)
    db.session.commit()


def retry_wait(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: the first wait, doubled each time."""
    return claims.retry_wait(current_app.config["MAIL_RETRY_SECONDS"], attempts)


def retry_options() -> dict[str, Any]:
    """Huey's retries for one e-mail: the same waits as `retry_wait`."""
    config = current_app.config
    return claims.retry_options(config["MAIL_MAX_ATTEMPTS"], config["MAIL_RETRY_SECONDS"])


def deliver_now(email: OutgoingEmail) -> bool:
    """Commit, deliver, and commit the outcome: for commands, never for a web request.

    Call it after your own work is flushed and ready to be committed: the first commit
    commits the whole session, so the queued row survives a process that dies during
    SMTP, and a failed delivery leaves a FAILED row that the job queue retries.
    """
    return deliver(email)


def deliver_later(email: OutgoingEmail) -> None:
    """Commit, then hand the e-mail to the job queue: a web request never waits for
    the mail server. If the queue cannot be reached the row stays pending, and the
    periodic sweep (or `flask mail retry`) sends it."""
    db.session.commit()
    from fieldsvc.jobs.tasks import deliver_email

    try:
        deliver_email(email.id, **retry_options())
    except Exception:  # the queue's storage is down: the sweep finds the pending row
        current_app.logger.exception("e-mail %s not queued; the sweep will send it", email.id)


def retry_pending(limit: int | None = None, now: datetime | None = None) -> list[OutgoingEmail]:
    """Deliver every failed e-mail, and every pending one older than the pending grace,
    oldest first, committing after each; one that fails is reported and passed over,
    and after FIELDSVC_MAIL_MAX_ATTEMPTS it is left to an admin."""
    settled = (now or utcnow()) - claims.PENDING_GRACE
    query = (
        select(OutgoingEmail)
        .where(
            or_(
                OutgoingEmail.status == EmailStatus.FAILED,
                and_(
                    OutgoingEmail.status == EmailStatus.PENDING,
                    OutgoingEmail.created_at <= settled,
                ),
            )
        )
        .order_by(OutgoingEmail.created_at, OutgoingEmail.id)
        .limit(limit)
    )
    emails = list(db.session.scalars(query))
    for email in emails:
        deliver(email)
    return emails


def due_for_sweep(now: datetime | None = None) -> list[int]:
    """Ids of e-mails whose job was lost: pending past the grace, failed past their next
    attempt, or claimed by a job that died mid-send (made due again). Commits."""
    return claims.due_for_sweep(
        OutgoingEmail,
        stopped="the delivery job stopped before the mail server answered",
        now=now or utcnow(),
    )


def failed_emails() -> list[OutgoingEmail]:
    """What the failed e-mail page lists: given up first, then those still retried."""
    return list(
        db.session.scalars(
            select(OutgoingEmail)
            .where(OutgoingEmail.status.in_(NEEDS_ADMIN))
            .order_by(OutgoingEmail.status.desc(), OutgoingEmail.created_at, OutgoingEmail.id)
        )
    )


def retry_email(email: OutgoingEmail, *, actor: Any) -> None:
    """An admin sends a failed e-mail again, with a fresh set of attempts. Flushes;
    the caller commits and then calls `deliver_later`."""
    from fieldsvc.audit.services import record  # the audit package sends anchors by mail

    _check_needs_admin(email, "retried")
    record(
        email,
        "mail_retry",
        {"attempts": email.attempts, "last_error": email.last_error, "by": actor.id},
    )
    email.status = EmailStatus.PENDING
    email.attempts = 0
    email.next_attempt_at = None
    db.session.flush()


def cancel_email(email: OutgoingEmail, *, actor: Any) -> None:
    """An admin decides a failed e-mail is not to be sent. Flushes; the caller commits."""
    from fieldsvc.audit.services import record

    _check_needs_admin(email, "cancelled")
    record(
        email,
        "mail_cancel",
        {"attempts": email.attempts, "last_error": email.last_error, "by": actor.id},
    )
    email.status = EmailStatus.CANCELLED
    email.next_attempt_at = None
    db.session.flush()


def _check_needs_admin(email: OutgoingEmail, what: str) -> None:
    if email.status not in NEEDS_ADMIN:
        raise InvalidTransition(
            f"The e-mail {email} is {email.status.label.lower()}, so it cannot be {what}."
        )


def unsent_emails() -> list[OutgoingEmail]:
    """The outbox: e-mails not delivered yet, oldest first."""
    query = (
        select(OutgoingEmail)
        .where(OutgoingEmail.status.in_(UNSENT))
        .order_by(OutgoingEmail.created_at, OutgoingEmail.id)
    )
    return list(db.session.scalars(query))


def _sender_domain() -> str:
    """The domain for Message-IDs: make_msgid's default asks DNS for this host's name."""
    address = parseaddr(current_app.config["MAIL_FROM"])[1]
    return address.rpartition("@")[2] or "localhost"


def _build_message(email: OutgoingEmail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = email.to_address
    message["Subject"] = email.subject
    # The same Date and Message-ID on every attempt: a retry is the same message.
    message["Date"] = format_datetime(email.created_at)
    message["Message-ID"] = email.message_id
    message.set_content(email.body)
    if email.attachment_key:
        try:
            data = get_storage().get(email.attachment_key)
        except FileNotFoundError as error:
            raise DeliveryFailed(
                f"attachment {email.attachment_name} is missing from storage "
                f"({email.attachment_key})"
            ) from error
        except (OSError, ValueError) as error:
            raise DeliveryFailed(
                f"attachment {email.attachment_name} cannot be read ({error})"
            ) from error
        maintype, _, subtype = (email.attachment_type or "application/octet-stream").partition("/")
        message.add_attachment(
            data, maintype=maintype, subtype=subtype, filename=email.attachment_name
        )
    return message


def _send(message: EmailMessage) -> None:
    """Hand the message to the configured SMTP server, or raise DeliveryFailed."""
    config = current_app.config
    host, port, timeout = config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_TIMEOUT"]
    where = f"{host}:{port}"
    try:
        if config["SMTP_SECURITY"] == "ssl":
            context = ssl.create_default_context()
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
    except (OSError, smtplib.SMTPException) as error:
        raise DeliveryFailed(f"could not connect to {where} ({_reason(error, timeout)})") from error
    try:
        smtp.ehlo_or_helo_if_needed()
        if config["SMTP_SECURITY"] == "starttls":
            if not smtp.has_extn("starttls"):
                raise DeliveryFailed(f"{where} does not offer STARTTLS")
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if config["SMTP_USERNAME"]:
            if not smtp.has_extn("auth"):
                # Many servers offer AUTH only after STARTTLS.
                raise DeliveryFailed(f"{where} does not offer login (SMTP AUTH)")
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
        refused = smtp.send_message(message)
    except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused) as error:
        raise DeliveryFailed(_reason(error, timeout)) from error  # the server's own words
    except (OSError, smtplib.SMTPException) as error:
        raise DeliveryFailed(f"{_reason(error, timeout)} ({where})") from error
    finally:
        _close(smtp)
    if refused:  # only some recipients refused; we send to one, but be exact
        raise DeliveryFailed(_reason(smtplib.SMTPRecipientsRefused(refused), timeout))


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT politely; a server that hangs up first has still taken the message."""
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def _reason(error: Exception, timeout: float) -> str:
    """A short reason a person can act on, e.g. "550 mailbox unavailable"."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return (
            "; ".join(_reply(code, text) for code, text in error.recipients.values())
            or "recipient refused"
        )
    if isinstance(error, smtplib.SMTPResponseException):
        return _reply(error.smtp_code, error.smtp_error)
    if isinstance(error, smtplib.SMTPServerDisconnected) and isinstance(error.__context__, OSError):
        error = error.__context__  # smtplib wraps a time-out or reset while reading a reply
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, ssl.SSLError):
        detail = getattr(error, "verify_message", None) or error.reason or str(error)
        return f"TLS failed: {detail}"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(f"{code} {text}".split())
