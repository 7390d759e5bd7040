"""Queue, deliver and retry e-mails through the outbox.

An e-mail is a committed row before any SMTP traffic, so a refused recipient, a mail
server that is down or a worker that dies mid-send leaves a row to show and retry.
"""

import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import and_, or_, select

from fieldsvc.database import utcnow
from fieldsvc.errors import FieldError
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Incident
from fieldsvc.mail.models import EmailStatus, OutgoingEmail
from fieldsvc.storage import get_storage

UNSENT = (EmailStatus.PENDING, EmailStatus.FAILED)
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
    """Try to send an unsent e-mail once and record the outcome; never raises for a
    delivery error (it is kept in `last_error`). Does not commit."""
    if email.status is EmailStatus.SENT:
        return True  # sending twice would give the customer a second copy
    now = utcnow()
    email.attempts += 1
    email.last_attempt_at = now
    try:
        _send(_build_message(email))
    except DeliveryFailed as failure:
        email.status = EmailStatus.FAILED
        email.last_error = str(failure)[:MAX_ERROR_LENGTH]
        current_app.logger.warning("e-mail %s not delivered: %s", email.id, email.last_error)
        db.session.flush()
        return False
    email.status = EmailStatus.SENT
    email.sent_at = now
    email.last_error = None
    db.session.flush()
    return True


def deliver_now(email: OutgoingEmail) -> bool:
    """Commit, deliver, and commit the outcome.

    Call it after your own work is flushed and ready to be committed: the first commit
    commits the whole session, so the queued row survives a process that dies during
    SMTP, and a failed delivery leaves a FAILED row for `flask mail retry`.
    """
    db.session.commit()
    delivered = deliver(email)
    db.session.commit()
    return delivered


# A web request delivers the e-mail it queued right after committing it; the retry
# leaves a pending e-mail alone this long, so the two never send the same message.
PENDING_GRACE = timedelta(minutes=2)


def retry_pending(limit: int | None = None, now: datetime | None = None) -> list[OutgoingEmail]:
    """Deliver every failed e-mail, and every pending one older than PENDING_GRACE,
    oldest first, committing after each."""
    settled = (now or utcnow()) - PENDING_GRACE
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
        db.session.commit()
    return emails


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
