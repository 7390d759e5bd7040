"""Sending an approved proposal: the PDF is frozen once, the customer gets it
by e-mail with their status-page link, and a failed delivery is kept and retried."""

import hashlib
import json
import re
from decimal import Decimal
from io import BytesIO
from urllib.parse import urlsplit

import pypdf
import pytest
from sqlalchemy import select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from fieldsvc.incidents.models import IncidentStatus
from fieldsvc.mail.models import EmailStatus, OutgoingEmail
from fieldsvc.proposals.models import RevisionStatus
from fieldsvc.proposals.services import save_revision
from fieldsvc.storage import get_storage
from tests.factories import PASSWORD
from tests.proposals.broken_transmitters import (
    BrokenTransmitters,
    approve,
    build_broken_transmitters,
    send,
)


@pytest.fixture
def seed(app) -> BrokenTransmitters:
    return build_broken_transmitters()


def _send_over_http(client, seed: BrokenTransmitters):
    client.sign_in(seed.supervisor.email, PASSWORD)
    revision = seed.revision
    return client.post(
        f"/proposals/{seed.proposal.id}/send",
        data={"version": revision.version},
        follow_redirects=True,
    )


def _attachment(message) -> bytes:
    (part,) = [p for p in message.iter_attachments()]
    assert part.get_content_type() == "application/pdf"
    return part.get_payload(decode=True)


def test_a_supervisor_sends_an_approved_offer_and_the_customer_gets_the_frozen_pdf(
    app, seed, client, smtp_server
):
    approve(seed)

    page = _send_over_http(client, seed)

    assert page.status_code == 200
    assert "Sent to dana.whitfield@northwind.example" in page.get_data(as_text=True)
    revision = seed.revision
    db.session.refresh(revision)
    assert revision.status is RevisionStatus.SENT
    assert revision.sent_by == seed.supervisor
    frozen = get_storage().get(revision.pdf_key)
    assert revision.pdf_sha256 == hashlib.sha256(frozen).hexdigest()
    assert seed.incident.status is IncidentStatus.REMEDIATION_PROPOSED
    # The figures sent are kept with the PDF, for reports to add up.
    assert (revision.customer_pays, revision.customer_tax, revision.we_absorb) == (
        Decimal("350.00"),
        Decimal("0.00"),
        Decimal("1180.00"),
    )
    # The SHA-256 is in the audit trail, with who sent it.
    event = db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.object_type == "ProposalRevision", AuditEvent.object_id == revision.id)
        .order_by(AuditEvent.seq.desc())
    )
    assert event.changes["pdf_sha256"] == [None, revision.pdf_sha256]
    assert event.actor_id == seed.supervisor.id

    (message,) = smtp_server.messages
    assert message["To"] == "dana.whitfield@northwind.example"
    assert seed.incident.reference in message["Subject"]
    assert _attachment(message) == frozen
    body = message.get_body(preferencelist=("plain",)).get_content()
    (link,) = re.findall(r"https?://\S+/status/\S+", body)
    assert link.startswith(app.config["BASE_URL"] + "/status/")
    status_page = app.test_client().get(urlsplit(link).path)
    assert status_page.status_code == 200
    assert seed.incident.reference in status_page.get_data(as_text=True)
    # The PDF the customer was sent carries the same link.
    text = "".join(p.extract_text() for p in pypdf.PdfReader(BytesIO(frozen)).pages)
    assert link in text.replace("\n", "")


def test_every_download_returns_the_frozen_bytes_after_the_template_and_prices_change(
    app, seed, client, tmp_path
):
    token = send(seed)
    revision = seed.revision
    frozen, digest = get_storage().get(revision.pdf_key), revision.pdf_sha256

    # A new letterhead, a new template and a price changed behind the revision's back.
    app.config["COMPANY_NAME"] = "Renamed Field Services Ltd"
    (tmp_path / "pdf").mkdir()
    (tmp_path / "pdf" / "proposal.html").write_text("<h1>A completely different template</h1>")
    app.jinja_loader.searchpath.insert(0, str(tmp_path))
    app.jinja_env.cache.clear()
    revision.lines[0].unit_price = revision.lines[0].unit_price * 3
    db.session.commit()

    client.sign_in(seed.technician.email, PASSWORD)
    staff = client.get(f"/proposals/{seed.proposal.id}/revisions/1/proposal.pdf")
    customer = app.test_client().get(f"/status/{token}/proposals/{revision.id}.pdf")

    assert staff.data == frozen
    assert customer.data == frozen
    assert hashlib.sha256(customer.data).hexdigest() == digest == revision.pdf_sha256


def test_only_supervisors_send_and_only_an_approved_revision(app, seed, client, signed_in):
    client.sign_in(seed.technician.email, PASSWORD)
    url = f"/proposals/{seed.proposal.id}/send"

    assert client.post(url, data={"version": seed.revision.version}).status_code == 403

    client.post("/logout")
    client.sign_in(seed.supervisor.email, PASSWORD)
    draft = client.post(url, data={"version": seed.revision.version})
    assert draft.status_code == 403
    assert "only an approved revision is sent" in draft.get_data(as_text=True)
    assert seed.revision.status is RevisionStatus.DRAFT
    assert db.session.scalar(select(OutgoingEmail)) is None


def test_another_team_cannot_send_it(app, seed, client, signed_in, make_team):
    approve(seed)
    signed_in(Role.SUPERVISOR, team=make_team(name="North crew"))

    response = client.post(
        f"/proposals/{seed.proposal.id}/send", data={"version": seed.revision.version}
    )

    assert response.status_code == 404
    assert seed.revision.status is RevisionStatus.APPROVED


def test_a_refused_delivery_is_shown_kept_in_the_outbox_and_sent_by_mail_retry(
    app, seed, client, smtp_server, runner
):
    approve(seed)
    smtp_server.refuse("dana.whitfield@northwind.example")

    page = _send_over_http(client, seed)

    text = page.get_data(as_text=True)
    assert "was not delivered" in text
    assert "550" in text
    email = db.session.scalar(select(OutgoingEmail))
    assert email.status is EmailStatus.FAILED
    assert seed.revision.status is RevisionStatus.SENT  # the offer itself is sent and frozen
    assert smtp_server.messages == []

    smtp_server.accept("dana.whitfield@northwind.example")
    result = runner.invoke(args=["mail", "retry"])

    assert result.exit_code == 0, result.output
    db.session.refresh(email)
    assert email.status is EmailStatus.SENT
    (message,) = smtp_server.messages
    assert _attachment(message) == get_storage().get(seed.revision.pdf_key)


def test_the_command_writes_the_frozen_pdf_of_a_sent_proposal(app, seed, runner, tmp_path):
    send(seed)
    app.config["COMPANY_NAME"] = "Renamed Field Services Ltd"
    output = tmp_path / "proposal.pdf"

    result = runner.invoke(
        args=["proposals", "pdf", seed.incident.reference, "--output", str(output)]
    )

    assert result.exit_code == 0, result.output
    assert output.read_bytes() == get_storage().get(seed.revision.pdf_key)
    assert "frozen" in result.output


def test_the_frozen_pdf_carries_its_data_and_names_the_pdf_it_replaces(app, seed):
    send(seed)
    first = seed.revision
    draft = seed.draft(plan="Our technician returns at 10:00 instead.")
    second = save_revision(first, draft, actor=seed.technician, expected_version=first.version)
    db.session.commit()
    send(seed)

    data = json.loads(_embedded_json(get_storage().get(second.pdf_key)))

    assert (data["revision"], data["status"]) == (2, "sent")
    assert data["totals"]["customer_pays"] == "350.00"
    assert data["previous_revision"] == 1
    assert data["previous_revision_pdf_sha256"] == first.pdf_sha256
    first_data = json.loads(_embedded_json(get_storage().get(first.pdf_key)))
    assert first_data["previous_revision_pdf_sha256"] is None


def _embedded_json(pdf_bytes: bytes) -> bytes:
    (content,) = pypdf.PdfReader(BytesIO(pdf_bytes)).attachments["proposal.json"]
    return content
