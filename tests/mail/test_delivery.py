"""An e-mail is queued as a row, then delivered over real SMTP with what the customer
should receive: sender, recipient, subject, body, Message-ID and the stored attachment."""

import pytest
from sqlalchemy import select

from fieldsvc.errors import FieldError
from fieldsvc.extensions import db
from fieldsvc.mail.models import EmailStatus, OutgoingEmail
from fieldsvc.mail.services import deliver, queue_email
from fieldsvc.storage import get_storage

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def test_a_queued_email_is_a_pending_row_with_its_own_message_id(smtp_server, make_incident):
    incident = make_incident()
    email = queue_email(
        " Dana.Whitfield@northwind.example ",
        "Your remediation proposal",
        "Dear Dana, …",
        incident=incident,
    )
    row = db.session.scalars(select(OutgoingEmail)).one()
    assert row is email
    assert row.status is EmailStatus.PENDING
    assert row.attempts == 0
    assert row.to_address == "Dana.Whitfield@northwind.example"
    assert row.incident_id == incident.id
    assert row.message_id.startswith("<") and row.message_id.endswith("@fieldsvc.example>")
    assert smtp_server.messages == []  # queued, not sent
    other = queue_email("dana.whitfield@northwind.example", "Again", "…")
    assert other.message_id != email.message_id


@pytest.mark.parametrize(
    "address", ["dana", "dana@", "Dana <dana@example.com>", "a@example.com\nBcc: b@example.com"]
)
def test_an_invalid_address_is_refused_with_a_clear_message(app, address):
    with pytest.raises(FieldError, match="Enter a valid e-mail address") as refused:
        queue_email(address, "Subject", "Body")
    assert refused.value.field == "to_address"
    assert db.session.scalars(select(OutgoingEmail)).all() == []


def test_a_subject_on_several_lines_is_refused(app):
    with pytest.raises(FieldError, match="single line"):
        queue_email("dana@example.com", "Hello\r\nBcc: someone@example.com", "Body")


def test_the_message_arrives_with_sender_recipient_subject_body_and_message_id(smtp_server):
    email = queue_email(
        "dana@example.com", "Your remediation proposal — INC-2026-00001", "Dear Dana,\n\nÜber …\n"
    )

    assert deliver(email) is True

    assert email.status is EmailStatus.SENT
    assert email.attempts == 1
    assert email.sent_at is not None and email.last_error is None
    [message] = smtp_server.messages
    assert message["From"] == "Fieldsvc Service <service@fieldsvc.example>"
    assert message["To"] == "dana@example.com"
    assert message["Subject"] == "Your remediation proposal — INC-2026-00001"
    assert message["Message-ID"] == email.message_id
    assert message["Date"] is not None
    assert message.get_content() == "Dear Dana,\n\nÜber …\n"
    assert smtp_server.recipients == [["dana@example.com"]]


def test_the_attachment_arrives_byte_identical_to_the_stored_file(smtp_server):
    get_storage().put("proposals/1/revision-2.pdf", PDF)
    email = queue_email(
        "dana@example.com",
        "Proposal",
        "Attached.",
        attachment_key="proposals/1/revision-2.pdf",
        attachment_name="Proposal INC-2026-00001 rev 2.pdf",
    )

    assert deliver(email) is True

    [message] = smtp_server.messages
    assert message.get_body(("plain",)).get_content() == "Attached.\n"
    [attachment] = message.iter_attachments()
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "Proposal INC-2026-00001 rev 2.pdf"
    assert attachment.get_content() == PDF


def test_a_missing_attachment_file_fails_the_delivery_and_says_so(smtp_server):
    email = queue_email(
        "dana@example.com", "Proposal", "Attached.", attachment_key="proposals/9/gone.pdf"
    )

    assert deliver(email) is False

    assert email.status is EmailStatus.FAILED
    assert email.attempts == 1
    assert email.last_error == "attachment gone.pdf is missing from storage (proposals/9/gone.pdf)"
    assert smtp_server.messages == []
