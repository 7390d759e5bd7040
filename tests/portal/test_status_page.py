"""The customer's status page: opened by a link without an account, it shows
one incident, its proposal and timeline, and takes the customer's answer."""

from datetime import timedelta

from sqlalchemy import select

from fieldsvc.auth.models import Role
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents.models import FollowUp, Incident, IncidentStatus, ReportedVia
from fieldsvc.incidents.services import change_status
from fieldsvc.parts.services import OrderDetails, update_part_order
from fieldsvc.portal.links import token_hash
from fieldsvc.portal.models import CustomerResponse, ResponseKind, StatusLink, SurveyResponse
from fieldsvc.portal.services import timeline
from fieldsvc.proposals.models import RevisionStatus
from fieldsvc.proposals.services import save_revision
from tests.factories import PASSWORD
from tests.proposals.broken_transmitters import (
    TOMORROW,
    build_broken_transmitters,
    send,
)


def _answer(customer, token, seed, action, **fields):
    revision = seed.revision
    data = {"revision_id": revision.id, "pdf_sha256": revision.pdf_sha256} | fields
    # Each answer's form is prefixed by its action, as the page names its fields.
    prefixed = {f"{action}-{name}": value for name, value in data.items()}
    return customer.post(f"/status/{token}/answer/{action}", data=prefixed)


# --- the link -----------------------------------------------------------------------------


def test_the_page_shows_this_incident_its_offer_and_keeps_itself_private(seed, token, customer):
    response = customer.get(f"/status/{token}")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert seed.incident.reference in page
    assert "USD 350.00" in page
    assert f"/status/{token}/proposals/{seed.revision.id}.pdf" in page
    assert "I accept this proposal" in page
    # Never the internal cause, and no staff navigation.
    assert "40 bar" not in page
    assert "My mistake" not in page
    assert "/incidents" not in page
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_token_is_stored_only_as_its_hash(seed, token):
    link = db.session.scalar(select(StatusLink))
    assert link.token_hash == token_hash(token)
    assert token not in link.token_hash
    assert len(token) >= 40  # 256 random bits, URL-safe


def test_unknown_expired_and_revoked_tokens_get_the_same_404(
    app, seed, token, customer, client, signed_in
):
    unknown = customer.get("/status/not-a-token")
    link = db.session.scalar(select(StatusLink))
    link.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    expired = customer.get(f"/status/{token}")
    link.expires_at = utcnow() + timedelta(days=1)
    db.session.commit()
    assert customer.get(f"/status/{token}").status_code == 200
    client.sign_in(seed.supervisor.email, PASSWORD)
    assert client.post(f"/incidents/{seed.incident.id}/status-links/revoke").status_code == 302
    revoked = customer.get(f"/status/{token}")
    pdf = customer.get(f"/status/{token}/proposals/{seed.revision.id}.pdf")

    for response in (unknown, expired, revoked, pdf):
        assert response.status_code == 404
        assert response.data == unknown.data
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert seed.incident.reference.encode() not in unknown.data


def test_a_new_link_replaces_the_old_one_and_is_e_mailed(
    app, seed, token, customer, client, smtp_server
):
    client.sign_in(seed.supervisor.email, PASSWORD)

    response = client.post(f"/incidents/{seed.incident.id}/status-links")

    assert response.status_code == 200
    assert "E-mailed to dana.whitfield@northwind.example" in response.get_data(as_text=True)
    assert customer.get(f"/status/{token}").status_code == 404
    (message,) = smtp_server.messages
    body = message.get_body(preferencelist=("plain",)).get_content()
    new_path = body.split(app.config["BASE_URL"], 1)[1].split()[0]
    assert customer.get(new_path).status_code == 200


def test_technicians_and_other_teams_cannot_revoke_or_reissue(
    app, seed, token, client, signed_in, make_team, customer
):
    signed_in(Role.TECHNICIAN, team=seed.team)
    assert client.post(f"/incidents/{seed.incident.id}/status-links/revoke").status_code == 403
    client.post("/logout")
    signed_in(Role.SUPERVISOR, team=make_team(name="North crew"))
    assert client.post(f"/incidents/{seed.incident.id}/status-links/revoke").status_code == 404
    assert client.post(f"/incidents/{seed.incident.id}/status-links").status_code == 404
    assert customer.get(f"/status/{token}").status_code == 200


def test_a_link_opens_only_its_own_incident(app, seed, token, customer):
    other = build_broken_transmitters(other="Second ")  # another customer's incident, also sent
    other_token = send(other)

    assert customer.get(f"/status/{token}/proposals/{other.revision.id}.pdf").status_code == 404
    page = customer.get(f"/status/{other_token}").get_data(as_text=True)
    assert other.incident.reference in page
    assert seed.incident.reference not in page


def test_the_status_page_is_rate_limited(app, seed, token, customer):
    app.config["STATUS_PAGE_RATE_LIMIT"] = "3 per minute"

    codes = [customer.get(f"/status/{token}").status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]


# --- answering -----------------------------------------------------------------------------


def test_the_customer_accepts_with_their_name_and_staff_see_it(
    app, seed, token, customer, client, smtp_server
):
    response = _answer(customer, token, seed, "accept", full_name="Dana Whitfield")

    assert response.status_code == 303
    page = customer.get(f"/status/{token}").get_data(as_text=True)
    assert "you accepted the proposal" in page
    assert "Accepted by Dana Whitfield" in page
    revision = seed.revision
    assert revision.status is RevisionStatus.ACCEPTED
    assert seed.incident.status is IncidentStatus.REMEDIATION_ACCEPTED
    answer = db.session.scalar(select(CustomerResponse))
    assert answer.kind is ResponseKind.ACCEPTED
    assert answer.full_name == "Dana Whitfield"
    assert answer.ip_address == "127.0.0.1"
    assert answer.pdf_sha256 == revision.pdf_sha256
    # The author and the sender are told by e-mail at once.
    told = sorted(m["To"] for m in smtp_server.messages)
    assert told == sorted([seed.technician.email, seed.supervisor.email])
    assert "accepted" in smtp_server.messages[0]["Subject"]

    client.sign_in(seed.technician.email, PASSWORD)
    staff = client.get(f"/proposals/{seed.proposal.id}").get_data(as_text=True)
    assert "Accepted</strong> by Dana Whitfield" in staff
    assert revision.pdf_sha256 in staff


def test_accepting_needs_a_typed_name_and_keeps_nothing_half_done(seed, token, customer):
    response = _answer(customer, token, seed, "accept", full_name=" ")

    assert response.status_code == 400
    assert "Type your full name to accept the proposal." in response.get_data(as_text=True)
    assert seed.revision.status is RevisionStatus.SENT
    assert db.session.scalar(select(CustomerResponse)) is None


def test_an_answer_about_a_pdf_the_customer_did_not_see_is_refused(seed, token, customer):
    response = _answer(customer, token, seed, "accept", full_name="Dana", pdf_sha256="0" * 64)

    assert response.status_code == 303
    page = customer.get(f"/status/{token}").get_data(as_text=True)
    assert "The proposal changed since you opened the page" in page
    assert seed.revision.status is RevisionStatus.SENT


def test_a_second_answer_is_refused_and_the_first_stands(seed, token, customer):
    _answer(customer, token, seed, "accept", full_name="Dana Whitfield")

    again = _answer(customer, token, seed, "decline", reason="price")

    assert again.status_code == 303
    assert "already answered" in customer.get(f"/status/{token}").get_data(as_text=True)
    assert seed.revision.status is RevisionStatus.ACCEPTED
    assert db.session.scalar(select(CustomerResponse)).kind is ResponseKind.ACCEPTED


def test_an_offer_whose_incident_was_cancelled_can_be_read_but_not_accepted(
    seed, token, customer, client
):
    change_status(seed.incident, IncidentStatus.CANCELLED, actor=seed.supervisor)
    db.session.commit()

    page = customer.get(f"/status/{token}").get_data(as_text=True)
    assert "This proposal no longer stands: we cancelled this incident before you answered." in page
    for offered in ("I accept this proposal", "Ask for changes", "Decline the proposal"):
        assert offered not in page

    # A page opened before the cancellation still posts its answer: refused, said why.
    response = _answer(customer, token, seed, "accept", full_name="Dana Whitfield")

    assert response.status_code == 303
    after = customer.get(f"/status/{token}").get_data(as_text=True)
    assert "was cancelled, so this proposal no longer stands" in after
    assert seed.revision.status is RevisionStatus.SENT
    assert seed.incident.status is IncidentStatus.CANCELLED
    assert db.session.scalar(select(CustomerResponse)) is None

    # Nor can a supervisor record an answer the customer gave by phone.
    client.sign_in(seed.supervisor.email, PASSWORD)
    recorded = client.post(
        f"/proposals/{seed.proposal.id}/revisions/{seed.revision.number}/answer",
        data={
            "kind": "accepted",
            "channel": "phone",
            "answered_at": utcnow().strftime("%Y-%m-%dT%H:%M"),
            "full_name": "Dana Whitfield",
        },
        follow_redirects=True,
    )
    assert "was cancelled, so this proposal no longer stands" in recorded.get_data(as_text=True)
    assert db.session.scalar(select(CustomerResponse)) is None


def test_asking_for_changes_returns_the_offer_to_its_author(seed, token, customer):
    empty = _answer(customer, token, seed, "changes", comment="")
    assert empty.status_code == 400
    assert "Tell us what you would like us to change." in empty.get_data(as_text=True)

    _answer(customer, token, seed, "changes", comment="Could you come on Friday instead?")

    assert seed.revision.status is RevisionStatus.CUSTOMER_CHANGES
    follow_up = db.session.scalar(select(FollowUp).where(FollowUp.promise.like("%Friday%")))
    assert follow_up.owner == seed.technician
    assert "asked for changes" in follow_up.promise


def test_a_new_revision_sent_shows_the_customer_what_changed(seed, token, customer):
    _answer(customer, token, seed, "changes", comment="Please come at 10:00.")
    revision = seed.revision
    draft = seed.draft(plan="Our technician returns at 10:00 as you asked.")
    save_revision(revision, draft, actor=seed.technician, expected_version=revision.version)
    db.session.commit()
    new_token = send(seed)

    page = customer.get(f"/status/{new_token}").get_data(as_text=True)

    assert "revision 2" in page
    assert "What changed since revision 1" in page
    assert "Our technician returns at 10:00 as you asked." in page
    # The old PDF is no longer offered for an answer.
    stale = customer.post(
        f"/status/{new_token}/answer/accept",
        data={
            "accept-revision_id": revision.id,
            "accept-pdf_sha256": revision.pdf_sha256,
            "accept-full_name": "D",
        },
    )
    assert stale.status_code == 302
    assert "A newer version of this proposal was sent" in customer.get(
        f"/status/{new_token}"
    ).get_data(as_text=True)


def test_declining_needs_a_reason_and_starts_returning_the_parts(seed, token, customer):
    missing = _answer(customer, token, seed, "decline", comment="")
    assert missing.status_code == 400
    assert "Choose why you decline the proposal." in missing.get_data(as_text=True)

    _answer(customer, token, seed, "decline", reason="other_company", comment="In-house team.")

    assert seed.revision.status is RevisionStatus.DECLINED
    assert seed.incident.status is IncidentStatus.OPEN
    answer = db.session.scalar(select(CustomerResponse))
    assert (answer.reason, answer.comment) == ("other_company", "In-house team.")
    follow_up = db.session.scalar(select(FollowUp).where(FollowUp.promise.like("Offer declined%")))
    assert "PO-7781" in follow_up.promise


def test_answers_need_the_forms_csrf_token(seed, token, customer):
    revision = seed.revision
    response = customer.post(
        f"/status/{token}/answer/accept",
        data={
            "accept-revision_id": revision.id,
            "accept-pdf_sha256": revision.pdf_sha256,
            "accept-full_name": "X",
        },
        csrf=False,
    )

    assert response.status_code == 400
    assert revision.status is RevisionStatus.SENT


# --- the timeline ----------------------------------------------------------------------------


def test_the_timeline_follows_the_suppliers_delivery_date_as_it_changes(seed, token, customer):
    order = seed.order
    later = TOMORROW + timedelta(days=3)
    update_part_order(
        order,
        OrderDetails(
            supplier_id=order.supplier_id,
            po_number=order.po_number,
            ordered_on=order.ordered_on,
            expected_on=later,
            return_window_days=order.return_window_days,
            restocking_fee_pct=order.restocking_fee_pct,
        ),
        actor=seed.technician,
    )
    db.session.commit()

    page = customer.get(f"/status/{token}").get_data(as_text=True)

    first = f"{TOMORROW:%A} {TOMORROW.day} {TOMORROW:%B %Y}"
    moved = f"{later:%A} {later.day} {later:%B %Y}"
    assert f"The supplier expects to deliver the parts on {first}." in page
    assert f"The supplier moved the delivery of the parts to {moved}." in page
    assert "We ordered the parts (3 items)." in page
    assert "We sent you our proposal to put it right." in page
    assert page.index("We recorded the problem") < page.index("We ordered the parts")


def test_the_return_visit_is_planned_then_done_and_no_longer_planned_once_resolved(
    seed, token, customer
):
    _answer(customer, token, seed, "accept", full_name="Dana Whitfield")
    visit = seed.revision.return_visit_at
    before, after = timeline(seed.incident), timeline(seed.incident, now=visit + timedelta(hours=2))

    assert ("Our technician comes back to do the work.", False) in [
        (step.text, step.done) for step in before
    ]
    assert ("Our technician came back to do the work.", True) in [
        (step.text, step.done) for step in after
    ]
    assert "Planned: Our technician comes back" in customer.get(f"/status/{token}").get_data(
        as_text=True
    )

    # Resolved today, before the visit's time: the work is done, nothing is planned.
    change_status(
        seed.incident, IncidentStatus.RESOLVED, actor=seed.supervisor, note="Fixed on site."
    )
    db.session.commit()
    page = customer.get(f"/status/{token}").get_data(as_text=True)

    assert "Planned:" not in page
    assert "comes back" not in page
    assert "Resolved." in page


# --- reporting and the survey ----------------------------------------------------------------


def test_the_customer_reports_a_new_incident_that_the_team_sees(
    app, seed, token, customer, client, smtp_server
):
    site = seed.incident.site
    missing = customer.post(f"/status/{token}/report", data={"what_happened": "", "name": "Dana"})
    assert missing.status_code == 400
    assert "Describe what happened." in missing.get_data(as_text=True)

    response = customer.post(
        f"/status/{token}/report",
        data={
            "site_id": site.id,
            "what_happened": "Level sensor LT-201 reads zero.",
            "name": "Dana Whitfield",
            "phone": "+1 555 0100",
        },
    )

    assert response.status_code == 303
    new = db.session.scalar(select(Incident).where(Incident.actual.like("%LT-201%")))
    assert new.reported_via is ReportedVia.PORTAL
    assert new.customer == seed.customer and new.site == site
    assert new.created_by is None
    assert new.follow_ups[0].owner == seed.supervisor
    assert f"recorded it as {new.reference}" in customer.get(f"/status/{token}").get_data(
        as_text=True
    )
    (message,) = smtp_server.messages
    assert message["To"] == seed.supervisor.email
    client.sign_in(seed.technician.email, PASSWORD)
    listed = client.get("/incidents/").get_data(as_text=True)
    assert new.reference in listed
    assert client.get(f"/incidents/{new.id}").status_code == 200


def test_a_site_of_another_customer_is_refused_in_a_portal_report(seed, token, customer):
    other = build_broken_transmitters(other="Second ")

    response = customer.post(
        f"/status/{token}/report",
        data={"site_id": other.incident.site_id, "what_happened": "x", "name": "Dana"},
    )

    assert response.status_code == 400
    assert "Choose one of the sites of Northwind Pharma." in response.get_data(as_text=True)


def test_the_survey_opens_once_resolved_and_is_answered_once(seed, token, customer):
    assert "How did we do?" not in customer.get(f"/status/{token}").get_data(as_text=True)
    _answer(customer, token, seed, "accept", full_name="Dana Whitfield")
    change_status(
        seed.incident, IncidentStatus.RESOLVED, actor=seed.supervisor, note="Replaced both."
    )
    db.session.commit()
    page = customer.get(f"/status/{token}").get_data(as_text=True)
    assert "How did we do?" in page
    assert "Resolved." in page

    wrong = customer.post(f"/status/{token}/survey", data={"score": "11"})
    assert wrong.status_code == 400
    assert db.session.scalar(select(SurveyResponse)) is None

    customer.post(f"/status/{token}/survey", data={"score": "9", "comment": "Quick and honest."})
    again = customer.post(f"/status/{token}/survey", data={"score": "2"})

    assert again.status_code == 303
    (survey,) = db.session.scalars(select(SurveyResponse)).all()
    assert (survey.score, survey.comment) == (9, "Quick and honest.")
    assert "How did we do?" not in customer.get(f"/status/{token}").get_data(as_text=True)


def test_the_page_runs_the_same_queries_however_many_orders_and_revisions(
    seed, token, customer, count_queries
):
    busy = build_broken_transmitters(other="Second ")
    busy_token = send(busy)
    for _ in range(3):
        busy.order_more()
    for n in range(2):  # the customer asks for changes; revisions 2 and 3 are sent
        revision = busy.revision
        _answer(customer, busy_token, busy, "changes", comment=f"Change {n}")
        draft = busy.draft(plan=f"The plan, version {n + 2}.")
        save_revision(revision, draft, actor=busy.technician, expected_version=revision.version)
        db.session.commit()
        busy_token = send(busy)

    def queries(token: str) -> int:
        db.session.expunge_all()  # what a fresh request runs, not the test's cache
        with count_queries() as statements:
            assert customer.get(f"/status/{token}").status_code == 200
        return len(statements)

    assert queries(token) == queries(busy_token)
