"""An answer the customer gave by phone, on paper, by e-mail or in person: a supervisor
records it on the sent revision, with how, when, the name given and a scan of the
signed copy, and it does exactly what the same answer on the status page does."""

import hashlib
import html
import io
import re
from datetime import datetime, timedelta

import pytest
from jinja2.filters import do_filesizeformat
from PIL import Image
from pypdf import PdfWriter
from sqlalchemy import func, select

from fieldsvc import clock
from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.database import utcnow
from fieldsvc.errors import FieldError, InvalidTransition, NotAllowed
from fieldsvc.extensions import db
from fieldsvc.incidents.models import FollowUp, IncidentStatus
from fieldsvc.portal import services as answers
from fieldsvc.portal.models import AnswerChannel, CustomerResponse, ResponseKind
from fieldsvc.proposals.models import RevisionStatus
from fieldsvc.proposals.services import expire_revisions, save_revision
from fieldsvc.template_filters import local_time
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


@pytest.fixture
def token(seed) -> str:
    return send(seed)


@pytest.fixture
def supervisor(client, seed, token):
    client.sign_in(seed.supervisor.email, PASSWORD)
    return seed.supervisor


def _text(response) -> str:
    """The page as a person reads it: no tags, entities decoded, spaces collapsed."""
    page = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(page).split())


def _typed(at: datetime) -> str:
    """A time as a person types it in the form: the company's wall clock, to the minute."""
    return clock.to_local(at).strftime("%Y-%m-%dT%H:%M")


def _record(client, seed, number: int | None = None, **fields):
    data = {
        "kind": "accepted",
        "channel": "phone",
        "answered_at": _typed(utcnow()),
        "full_name": "Dana Whitfield",
        "reason": "",
        "comment": "",
    } | fields
    number = number or seed.revision.number
    return client.post(f"/proposals/{seed.proposal.id}/revisions/{number}/answer", data=data)


def _answers() -> int:
    return db.session.scalar(select(func.count()).select_from(CustomerResponse))


def _pdf(pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- recording an answer -------------------------------------------------------------------


def test_a_phone_acceptance_accepts_the_offer_and_the_proposal_page_says_who_took_it(
    client, seed, supervisor, smtp_server
):
    answered = utcnow().replace(second=0, microsecond=0)

    response = _record(client, seed, answered_at=_typed(answered))

    assert response.status_code == 302
    revision = seed.revision
    assert revision.status is RevisionStatus.ACCEPTED
    assert seed.incident.status is IncidentStatus.REMEDIATION_ACCEPTED
    answer = db.session.scalar(select(CustomerResponse))
    assert (answer.kind, answer.channel) == (ResponseKind.ACCEPTED, AnswerChannel.PHONE)
    assert answer.recorded_by == supervisor
    assert answer.created_at == answered
    assert answer.full_name == "Dana Whitfield"
    assert answer.status_link is None and answer.ip_address is None
    assert answer.pdf_sha256 == revision.pdf_sha256
    page = _text(client.get(f"/proposals/{seed.proposal.id}"))
    assert "Recorded as the customer's answer: accepted by phone, by Dana Whitfield." in page
    assert (
        f"Accepted by phone , taken by Sara Supervisor at {local_time(answered)}, "
        "customer name given: Dana Whitfield." in page
    )
    assert "Record an answer the customer gave by phone or on paper" not in page
    # The author and the sender hear of it as when the customer answers on the page.
    told = sorted(m["To"] for m in smtp_server.messages)
    assert told == sorted([seed.technician.email, seed.supervisor.email])
    body = smtp_server.messages[0].get_body(preferencelist=("plain",)).get_content()
    assert "accepted revision 1 of the proposal" in body and "by phone" in body
    assert "Taken by Sara Supervisor" in body


def test_the_answer_is_audited_as_the_supervisors_act_naming_how_it_was_given(
    client, seed, supervisor
):
    _record(client, seed, channel="in_person", full_name="Dana W.")

    answer = db.session.scalar(select(CustomerResponse))
    event = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.object_type == "CustomerResponse", AuditEvent.object_id == answer.id
        )
    )
    assert event.action == "create"
    assert event.actor_id == supervisor.id
    assert event.reason == "accepted in person by Dana W., taken by Sara Supervisor"
    assert event.changes["channel"] == [None, "in_person"]
    assert event.changes["recorded_by_id"] == [None, supervisor.id]


def test_a_decline_on_paper_reopens_the_incident_and_starts_returning_the_parts(
    client, seed, supervisor
):
    response = _record(
        client, seed, kind="declined", channel="paper", reason="price", comment="Too dear."
    )

    assert response.status_code == 302
    assert seed.revision.status is RevisionStatus.DECLINED
    assert seed.incident.status is IncidentStatus.OPEN
    answer = db.session.scalar(select(CustomerResponse))
    assert (answer.reason, answer.comment) == ("price", "Too dear.")
    follow_up = db.session.scalar(select(FollowUp).where(FollowUp.promise.like("Offer declined%")))
    assert "PO-7781" in follow_up.promise
    assert follow_up.owner == seed.technician


def test_changes_asked_for_by_e_mail_go_back_to_the_author(client, seed, supervisor):
    missing = _record(client, seed, kind="changes_requested", channel="email", comment="")
    assert missing.status_code == 400
    assert "Write down what the customer asked to change." in _text(missing)

    _record(client, seed, kind="changes_requested", channel="email", comment="Friday, please.")

    assert seed.revision.status is RevisionStatus.CUSTOMER_CHANGES
    assert seed.incident.status is IncidentStatus.REMEDIATION_PROPOSED
    follow_up = db.session.scalar(select(FollowUp).where(FollowUp.promise.like("%Friday%")))
    assert follow_up.owner == seed.technician
    assert follow_up.promise.startswith("Dana Whitfield asked for changes to revision 1")


def test_the_form_needs_the_answer_how_it_was_given_and_the_name(client, seed, supervisor):
    response = client.post(
        f"/proposals/{seed.proposal.id}/revisions/1/answer", data={"answered_at": ""}
    )

    assert response.status_code == 400
    page = _text(response)
    for message in (
        "Choose the customer's answer.",
        "Say how the customer answered.",
        "When did the customer answer?",
        "Enter the customer's name as they gave it.",
    ):
        assert message in page
    assert seed.revision.status is RevisionStatus.SENT
    assert _answers() == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("channel", "portal", "Choose one of the ways listed."),
        ("kind", "maybe", "Choose one of the answers listed."),
        ("answered_at", "0001-01-01T00:00", "Enter a time within the last year."),
        ("answered_at", "9999-12-31T23:59", "The customer's answer cannot be in the future."),
        ("full_name", "D" * 201, "Field must be between 2 and 200 characters long."),
        ("reason", "because", "Not a valid choice."),
    ],
    ids=["portal-channel", "unknown-kind", "year-1", "year-9999", "long-name", "bad-reason"],
)
def test_a_crafted_field_is_refused_next_to_it_and_nothing_changes(
    client, seed, supervisor, field, value, message
):
    response = _record(client, seed, **{field: value})

    assert response.status_code == 400
    assert message in _text(response)
    assert seed.revision.status is RevisionStatus.SENT
    assert _answers() == 0


def test_the_answer_cannot_be_dated_in_the_future_or_before_the_proposal_was_sent(
    client, seed, supervisor
):
    sent_at = seed.revision.sent_at

    later = _record(client, seed, answered_at=_typed(utcnow() + timedelta(hours=2)))
    earlier = _record(client, seed, answered_at=_typed(sent_at - timedelta(hours=1)))

    assert later.status_code == earlier.status_code == 400
    assert "The customer's answer cannot be in the future." in _text(later)
    assert f"The proposal was sent {local_time(sent_at)}; the customer cannot" in _text(earlier)
    assert seed.revision.status is RevisionStatus.SENT
    assert _answers() == 0


def test_declining_needs_the_reason_the_customer_gave(client, seed, supervisor):
    response = _record(client, seed, kind="declined", reason="")

    assert response.status_code == 400
    assert "Choose the reason the customer gave for declining." in _text(response)
    assert seed.incident.status is IncidentStatus.REMEDIATION_PROPOSED


def test_recording_needs_the_forms_csrf_token(client, seed, supervisor):
    response = client.post(
        f"/proposals/{seed.proposal.id}/revisions/1/answer",
        data={"kind": "accepted", "channel": "phone", "full_name": "Dana Whitfield"},
        csrf=False,
    )

    assert response.status_code == 400
    assert _answers() == 0


# --- who may record it ---------------------------------------------------------------------


def test_technicians_cannot_record_an_answer_and_do_not_see_the_form(client, seed, token):
    client.sign_in(seed.technician.email, PASSWORD)

    page = client.get(f"/proposals/{seed.proposal.id}").get_data(as_text=True)
    response = _record(client, seed)

    assert "Record an answer the customer gave" not in page
    assert response.status_code == 403
    assert seed.revision.status is RevisionStatus.SENT
    assert _answers() == 0


def test_a_supervisor_of_another_team_gets_404(client, seed, token, signed_in, make_team):
    signed_in(Role.SUPERVISOR, team=make_team(name="South crew"))

    response = _record(client, seed)

    assert response.status_code == 404
    assert seed.revision.status is RevisionStatus.SENT
    assert _answers() == 0


def test_an_admin_may_record_an_answer(client, seed, token):
    client.sign_in(seed.admin.email, PASSWORD)

    assert _record(client, seed, channel="paper").status_code == 302
    assert db.session.scalar(select(CustomerResponse)).recorded_by == seed.admin


def test_the_service_refuses_a_technician_and_another_team_whatever_calls_it(
    seed, token, make_user, make_team
):
    taken = answers.TakenAnswer(
        answer=answers.Answer(ResponseKind.ACCEPTED, full_name="Dana Whitfield"),
        channel=AnswerChannel.PHONE,
        answered_at=utcnow(),
    )
    outsider = make_user(Role.SUPERVISOR, team=make_team())

    with pytest.raises(NotAllowed, match="Only a supervisor records"):
        answers.record_answer(seed.revision, taken, actor=seed.technician)
    with pytest.raises(NotAllowed, match="another team"):
        answers.record_answer(seed.revision, taken, actor=outsider)
    with pytest.raises(FieldError, match="Say how the customer answered"):
        answers.record_answer(
            seed.revision,
            answers.TakenAnswer(taken.answer, AnswerChannel.PORTAL, taken.answered_at),
            actor=seed.supervisor,
        )

    assert seed.revision.status is RevisionStatus.SENT
    assert _answers() == 0


# --- revisions that cannot be answered -----------------------------------------------------


def _not_sent(seed, client):
    fresh = build_broken_transmitters(other="Unsent ")
    approve(fresh)
    client.sign_in(fresh.supervisor.email, PASSWORD)
    return fresh, "Revision 1 was not sent to the customer"


def _superseded(seed, client):
    send(seed)
    revision = seed.revision
    save_revision(
        revision,
        seed.draft(plan="A later plan."),
        actor=seed.technician,
        expected_version=revision.version,
    )
    db.session.commit()
    client.sign_in(seed.supervisor.email, PASSWORD)
    return seed, "Revision 1 was replaced by a newer revision"


def _expired(seed, client):
    send(seed)
    expire_revisions(now=utcnow() + timedelta(days=30))
    db.session.commit()
    client.sign_in(seed.supervisor.email, PASSWORD)
    return seed, "Revision 1 expired on"


def _answered(seed, client):
    send(seed)
    client.sign_in(seed.supervisor.email, PASSWORD)
    assert _record(client, seed, kind="declined", reason="price").status_code == 302
    return seed, "Revision 1 was already answered (declined); the first answer stands."


@pytest.mark.parametrize(
    "arrange",
    [_not_sent, _superseded, _expired, _answered],
    ids=["not-sent", "superseded", "expired", "answered"],
)
def test_a_revision_the_customer_cannot_answer_now_is_refused_with_why(client, seed, arrange):
    seed, message = arrange(seed, client)
    revision = seed.proposal.revisions[0]
    status_before, answers_before = revision.status, _answers()

    response = _record(client, seed, number=1)

    assert response.status_code == 409
    assert message in _text(response)
    db.session.expire_all()
    assert revision.status is status_before
    assert _answers() == answers_before


# --- the signed copy -----------------------------------------------------------------------


def test_a_signed_pdf_is_kept_as_uploaded_and_only_the_team_downloads_it(
    app, client, seed, supervisor, signed_in, make_team
):
    signed = _pdf(pages=2)

    response = _record(client, seed, channel="paper", scan=(io.BytesIO(signed), "signed.pdf"))

    assert response.status_code == 302
    answer = db.session.scalar(select(CustomerResponse))
    assert answer.scan_sha256 == hashlib.sha256(signed).hexdigest()
    assert answer.scan_content_type == "application/pdf"
    page = _text(client.get(f"/proposals/{seed.proposal.id}"))
    assert f"Signed copy (PDF, {do_filesizeformat(len(signed))})" in page
    url = f"/proposals/{seed.proposal.id}/revisions/1/signed-copy"
    download = client.get(url)
    assert download.status_code == 200
    assert download.data == signed
    assert download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    client.post("/logout")
    client.sign_in(seed.technician.email, PASSWORD)  # the same team: may read it
    assert client.get(url).data == signed
    client.post("/logout")
    signed_in(Role.SUPERVISOR, team=make_team(name="West crew"))
    assert client.get(url).status_code == 404
    client.post("/logout")
    assert client.get(url).status_code == 302  # to the sign-in page
    assert app.test_client().get(url).status_code == 302


def test_a_photo_of_the_signed_page_is_kept_re_encoded(client, seed, supervisor):
    photo = io.BytesIO()
    Image.new("RGB", (120, 160), "white").save(photo, "PNG")

    _record(client, seed, channel="paper", scan=(io.BytesIO(photo.getvalue()), "page.png"))

    answer = db.session.scalar(select(CustomerResponse))
    assert answer.scan_content_type == "image/png"
    download = client.get(f"/proposals/{seed.proposal.id}/revisions/1/signed-copy")
    assert Image.open(io.BytesIO(download.data)).size == (120, 160)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<script>alert(1)</script>", "is neither a PDF nor a photo"),
        (b"%PDF-1.7\nnot really a PDF", "could not be read as a PDF"),
        (b"", "is an empty file"),
    ],
    ids=["html-named-pdf", "broken-pdf", "empty"],
)
def test_a_scan_is_judged_by_its_content_and_a_bad_one_records_nothing(
    client, seed, supervisor, upload_dir, content, message
):
    response = _record(client, seed, scan=(io.BytesIO(content), "signed.pdf"))

    assert response.status_code == 400
    assert f"signed.pdf {message}" in _text(response)
    assert seed.revision.status is RevisionStatus.SENT
    assert _answers() == 0
    assert not list(upload_dir.glob("proposals/*/answers/*"))


def test_a_scan_above_the_size_limit_is_refused(app, client, seed, supervisor):
    app.config["MAX_SCAN_BYTES"] = 1_000_000  # FIELDSVC_MAX_SCAN_MB=1: a megabyte is 10⁶ bytes
    large = _pdf() + b"%" + b"x" * 1_000_000  # a comment line: still a readable PDF

    response = _record(client, seed, scan=(io.BytesIO(large), "signed.pdf"))

    assert response.status_code == 400
    assert "signed.pdf is 1.1 MB; a scan can be at most 1 MB." in _text(response)
    assert _answers() == 0


def test_an_answer_without_a_scan_has_nothing_to_download(client, seed, supervisor):
    _record(client, seed)

    response = client.get(f"/proposals/{seed.proposal.id}/revisions/1/signed-copy")

    assert response.status_code == 404
    assert "No signed copy was recorded" in _text(response)


def test_a_second_answer_recorded_at_the_same_time_is_refused(seed, token):
    """Two supervisors taking the same customer's call: the first answer stands."""
    taken = answers.TakenAnswer(
        answer=answers.Answer(ResponseKind.ACCEPTED, full_name="Dana Whitfield"),
        channel=AnswerChannel.PHONE,
        answered_at=utcnow(),
    )
    answers.record_answer(seed.revision, taken, actor=seed.supervisor)
    db.session.commit()

    with pytest.raises(InvalidTransition, match="already answered"):
        answers.record_answer(seed.revision, taken, actor=seed.admin)


def test_recording_works_on_objects_read_before_the_last_commit(seed, token):
    """A CLI or a later request holds expired objects: reading them must not flush the
    half-built answer."""
    db.session.commit()  # expires everything the test holds
    revision, supervisor = seed.revision, seed.supervisor
    db.session.expire_all()

    answers.record_answer(
        revision,
        answers.TakenAnswer(
            answer=answers.Answer(ResponseKind.DECLINED, full_name="Dana", reason="price"),
            channel=AnswerChannel.EMAIL,
            answered_at=utcnow(),
        ),
        actor=supervisor,
    )
    db.session.commit()

    assert revision.status is RevisionStatus.DECLINED
    assert db.session.scalar(select(CustomerResponse)).channel is AnswerChannel.EMAIL
