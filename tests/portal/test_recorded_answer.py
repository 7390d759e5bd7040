"""The customer's status page after they answered by phone or on paper and a supervisor
recorded it: the page says how the answer was given and offers no more answers."""

import html
import io
import re

from pypdf import PdfWriter
from sqlalchemy import select

from fieldsvc import clock
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.portal.models import AnswerChannel, CustomerResponse, ResponseKind
from fieldsvc.proposals.models import RevisionStatus
from fieldsvc.template_filters import clock_time, long_date
from tests.factories import PASSWORD
from tests.proposals.broken_transmitters import build_broken_transmitters, send


def _text(response) -> str:
    page = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(page).split())


def _record(client, seed, **fields):
    """The supervisor records the customer's answer on the proposal page."""
    client.sign_in(seed.supervisor.email, PASSWORD)
    data = {
        "kind": "accepted",
        "channel": "phone",
        "answered_at": clock.to_local(utcnow()).strftime("%Y-%m-%dT%H:%M"),
        "full_name": "Dana Whitfield",
    } | fields
    response = client.post(f"/proposals/{seed.proposal.id}/revisions/1/answer", data=data)
    assert response.status_code == 302, _text(response)
    return db.session.scalar(select(CustomerResponse))


def test_after_a_phone_acceptance_the_page_says_so_and_offers_no_more_answers(
    client, seed, token, customer
):
    answer = _record(client, seed)

    page = _text(customer.get(f"/status/{token}"))

    assert "Status: You accepted our proposal; the work is planned" in page
    assert (
        f"Accepted by Dana Whitfield by phone on {long_date(answer.created_at)} at "
        f"{clock_time(answer.created_at)}." in page
    )
    assert "Sara Supervisor of our team recorded your answer; you no longer need to" in page
    assert "Dana Whitfield accepted the proposal by phone." in page  # the timeline
    for offered in ("I accept this proposal", "Ask for changes", "Decline the proposal"):
        assert offered not in page


def test_the_customer_cannot_answer_again_on_the_page_once_it_was_recorded(
    client, seed, token, customer
):
    _record(client, seed)
    revision = seed.revision

    again = customer.post(
        f"/status/{token}/answer/decline",
        data={
            "decline-revision_id": revision.id,
            "decline-pdf_sha256": revision.pdf_sha256,
            "decline-reason": "price",
        },
    )

    assert again.status_code == 303
    assert "already answered" in _text(customer.get(f"/status/{token}"))
    assert revision.status is RevisionStatus.ACCEPTED
    (answer,) = db.session.scalars(select(CustomerResponse)).all()
    assert (answer.kind, answer.channel) == (ResponseKind.ACCEPTED, AnswerChannel.PHONE)


def test_a_decline_on_paper_with_its_signed_copy_is_told_in_the_customers_words(
    client, seed, token, customer
):
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    signed = io.BytesIO()
    writer.write(signed)
    _record(
        client,
        seed,
        kind="declined",
        channel="paper",
        reason="price",
        scan=(io.BytesIO(signed.getvalue()), "signed.pdf"),
    )

    response = customer.get(f"/status/{token}")

    page = _text(response)
    assert "You declined this proposal on paper on" in page
    assert ": The price is too high." in page
    assert "Sara Supervisor of our team recorded your answer, with the signed copy;" in page
    assert "You declined the proposal on paper." in page
    # The scan is for staff: the customer's page neither shows nor links it.
    assert "signed-copy" not in response.get_data(as_text=True)


def test_a_recorded_answer_costs_the_page_no_more_queries_than_one_given_on_it(
    client, seed, token, customer, count_queries
):
    online = build_broken_transmitters(other="Online ")
    online_token = send(online)
    revision = online.revision
    customer.post(
        f"/status/{online_token}/answer/accept",
        data={
            "accept-revision_id": revision.id,
            "accept-pdf_sha256": revision.pdf_sha256,
            "accept-full_name": "Dana Whitfield",
        },
    )
    _record(client, seed)

    def queries(token: str) -> int:
        db.session.expunge_all()  # what a fresh request runs, not the test's cache
        with count_queries() as statements:
            assert customer.get(f"/status/{token}").status_code == 200
        return len(statements)

    assert queries(token) == queries(online_token)
