"""Every refusal of part orders and proposals through the pages: a message the person can
act on, and nothing changed — not the revision, its lines, the part orders nor the audit
trail. Another team's proposals and part orders are not found at all."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from fieldsvc.parts.models import PartOrder
from fieldsvc.proposals.models import Proposal, ProposalLine, ProposalRevision, RevisionStatus
from tests.factories import PASSWORD
from tests.proposals.test_workflow import (
    OFFER_LINES,
    Story,
    arrange_offer,
    arrange_story,
    count,
    editor_form,
    order_transmitters,
    page_text,
    sign_in_as,
)


@pytest.fixture
def story(request) -> Story:
    return arrange_story(request)


@pytest.fixture
def technician(client, story):
    client.sign_in(story.technician.email, PASSWORD)
    return story.technician


def snapshot(proposal_id: int | None = None) -> tuple:
    """What the database holds: the proposal's revisions and lines, every row count
    that a refused request could have added to, and the length of the audit trail."""
    db.session.expire_all()
    revisions = []
    if proposal_id is not None:
        for revision in db.session.get(Proposal, proposal_id).revisions:
            revisions.append(
                (
                    revision.number,
                    revision.status,
                    revision.version,
                    revision.what_happened,
                    revision.already_done,
                    revision.plan,
                    revision.contact_id,
                    revision.return_visit_at,
                    revision.submitted_at,
                    revision.reviewed_by_id,
                    revision.approval_meaning,
                    list(revision.acknowledged_warnings),
                    [
                        (
                            line.kind,
                            line.description,
                            line.quantity,
                            line.unit_price,
                            line.discount_pct,
                            line.customer_share_pct,
                            line.part_order_line_id,
                        )
                        for line in revision.lines
                    ],
                )
            )
    counts = [count(m) for m in (AuditEvent, Proposal, ProposalRevision, ProposalLine, PartOrder)]
    return revisions, counts


def revision_content(revision: ProposalRevision) -> tuple:
    return (
        revision.what_happened,
        revision.plan,
        revision.return_visit_at,
        revision.reviewed_by_id,
        revision.approval_meaning,
        [(line.description, line.quantity, line.unit_price) for line in revision.lines],
    )


# --- lines the editor refuses ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"customer_share_pct": "101"}, "Line 1: Customer share must be between 0 and 100 %."),
        ({"customer_share_pct": "-1"}, "Line 1: Customer share must be between 0 and 100 %."),
        ({"quantity": "-2"}, "Line 1: Quantity must be more than 0."),
        ({"unit_price": "-350.00"}, "Line 1: Unit price cannot be negative."),
        ({"unit_price": "350.005"}, "Line 1: Use at most 2 decimals for money."),
    ],
    ids=["share-101", "share-minus-1", "negative-quantity", "negative-price", "three-decimals"],
)
def test_a_line_with_an_impossible_value_is_refused_and_nothing_is_saved(
    client, story, technician, change, message
):
    proposal = arrange_offer(story)
    url = f"/proposals/{proposal.id}"
    ordered_id = proposal.current.lines[0].part_order_line_id
    page = client.get(url)
    lines = [OFFER_LINES[0] | change, *OFFER_LINES[1:]]
    before = snapshot(proposal.id)

    response = client.post(url, data=editor_form(story, ordered_id, page, lines=lines))

    assert response.status_code == 400
    assert message in page_text(response)
    assert snapshot(proposal.id) == before


def test_a_line_linked_to_another_incidents_part_order_is_refused(
    client, story, technician, make_incident
):
    proposal = arrange_offer(story)
    url = f"/proposals/{proposal.id}"
    elsewhere = order_transmitters(
        story, make_incident(actor=story.technician, site=story.incident.site)
    )
    db.session.commit()
    page = client.get(url)
    before = snapshot(proposal.id)

    response = client.post(url, data=editor_form(story, elsewhere.id, page))

    assert response.status_code == 400
    assert f"Line 1: link a part ordered for {story.incident.reference}." in page_text(response)
    assert snapshot(proposal.id) == before


def test_a_crafted_form_with_501_lines_is_refused_and_nothing_is_saved(client, story, technician):
    proposal = arrange_offer(story)
    url = f"/proposals/{proposal.id}"
    page = client.get(url)
    labour = OFFER_LINES[2] | {"description": "Calibration point"}
    before = snapshot(proposal.id)

    response = client.post(url, data=editor_form(story, "", page, lines=[labour] * 501))

    assert response.status_code == 400
    assert "A proposal can have at most 500 lines; split it into two proposals." in page_text(
        response
    )
    assert snapshot(proposal.id) == before


# --- approval ------------------------------------------------------------------------------


def test_the_author_cannot_approve_their_own_offer(app, story, make_user):
    author = make_user(
        Role.SUPERVISOR, team=story.technician.team, approval_limit=Decimal("5000.00")
    )
    proposal = arrange_offer(story, RevisionStatus.SUBMITTED, author=author)
    browser = sign_in_as(app, author)
    url = f"/proposals/{proposal.id}/approve"
    page = browser.get(url)
    assert "You wrote this proposal; another supervisor must approve it." in page_text(page)
    before = snapshot(proposal.id)

    response = browser.post(url, data={"version": proposal.current.version, "password": PASSWORD})

    assert response.status_code == 403
    assert "You wrote this proposal; another supervisor must approve it." in page_text(response)
    assert snapshot(proposal.id) == before


def test_an_offer_beyond_the_approvers_limit_is_not_approved(app, story, make_user):
    proposal = arrange_offer(story, RevisionStatus.SUBMITTED)
    junior = make_user(
        Role.SUPERVISOR, team=story.technician.team, approval_limit=Decimal("1179.99")
    )
    db.session.commit()
    browser = sign_in_as(app, junior)
    before = snapshot(proposal.id)

    response = browser.post(
        f"/proposals/{proposal.id}/approve",
        data={"version": proposal.current.version, "password": PASSWORD},
    )

    assert response.status_code == 403
    assert "We absorb 1,180.00, above your approval limit of 1,179.99." in page_text(response)
    assert snapshot(proposal.id) == before


def test_a_wrong_password_approves_nothing(app, story):
    proposal = arrange_offer(story, RevisionStatus.SUBMITTED)
    browser = sign_in_as(app, story.supervisor)
    before = snapshot(proposal.id)

    response = browser.post(
        f"/proposals/{proposal.id}/approve",
        data={"version": proposal.current.version, "password": "not my password"},
    )

    assert response.status_code == 400
    assert "That is not your password; nothing was approved." in page_text(response)
    assert snapshot(proposal.id) == before


def test_a_technician_cannot_approve(client, story, technician):
    proposal = arrange_offer(story, RevisionStatus.SUBMITTED)
    url = f"/proposals/{proposal.id}/approve"
    before = snapshot(proposal.id)

    page = client.get(url)
    response = client.post(url, data={"version": proposal.current.version, "password": PASSWORD})

    assert (page.status_code, response.status_code) == (403, 403)
    assert "Your role does not allow this page." in page_text(response)
    assert client.get("/approvals").status_code == 403
    assert snapshot(proposal.id) == before


def test_a_draft_cannot_be_approved_directly_by_crafting_the_post(app, story):
    proposal = arrange_offer(story)  # complete, but never submitted
    browser = sign_in_as(app, story.supervisor)
    before = snapshot(proposal.id)

    response = browser.post(
        f"/proposals/{proposal.id}/approve",
        data={"version": proposal.current.version, "password": PASSWORD},
    )

    assert response.status_code == 403
    assert "Revision 1 is draft." in page_text(response)
    assert snapshot(proposal.id) == before
    assert proposal.current.status is RevisionStatus.DRAFT


# --- the send gate and revisions -------------------------------------------------------------


def test_submitting_a_blocked_offer_by_crafting_the_post_changes_nothing(client, story, technician):
    proposal = arrange_offer(story, return_visit_at=None)
    before = snapshot(proposal.id)

    response = client.post(
        f"/proposals/{proposal.id}/submit", data={"version": proposal.current.version}
    )

    assert response.status_code == 400
    shown = page_text(response)
    assert "Not submitted: the checklist below is not complete yet." in shown
    assert "Schedule the return visit (date and time)." in shown
    assert snapshot(proposal.id) == before
    assert proposal.current.status is RevisionStatus.DRAFT


def test_an_approved_revision_is_never_changed_in_place(client, story, technician):
    proposal = arrange_offer(story, RevisionStatus.APPROVED)
    approved = proposal.current
    url = f"/proposals/{proposal.id}"
    ordered_id = approved.lines[0].part_order_line_id
    approved_content = revision_content(approved)
    page = client.get(url)

    response = client.post(
        url,
        data=editor_form(
            story,
            ordered_id,
            page,
            plan=story.plan + " We will call you the day before.",
            lines=[OFFER_LINES[0] | {"customer_share_pct": "0"}, *OFFER_LINES[1:]],
        ),
    )

    assert response.status_code == 302
    db.session.expire_all()
    first, second = proposal.revisions
    assert revision_content(first) == approved_content
    assert first.status is RevisionStatus.SUPERSEDED
    assert (second.number, second.status, second.reviewed_by_id) == (2, RevisionStatus.DRAFT, None)
    assert second.plan.endswith("We will call you the day before.")
    assert second.lines[0].customer_share_pct == Decimal("0")


def test_a_duplicate_of_an_approved_offer_is_a_draft_that_needs_approval(client, story, technician):
    original = arrange_offer(story, RevisionStatus.APPROVED)

    response = client.post(f"/proposals/{original.id}/duplicate")

    assert response.status_code == 302
    copy = db.session.scalars(select(Proposal).where(Proposal.id != original.id)).one()
    assert response.location.endswith(f"/proposals/{copy.id}")
    revision = copy.current
    assert (revision.status, revision.reviewed_by_id, revision.approval_meaning) == (
        RevisionStatus.DRAFT,
        None,
        None,
    )
    assert [line.description for line in revision.lines] == [
        line.description for line in original.current.lines
    ]
    shown = page_text(client.get(f"/proposals/{copy.id}"))
    assert "A copy was made as a new draft; it needs its own approval." in shown
    assert "Approved by" not in shown
    assert original.current.status is RevisionStatus.APPROVED


def test_a_save_based_on_an_older_version_is_refused_and_the_earlier_save_kept(
    app, client, story, technician, make_user
):
    proposal = arrange_offer(story)
    url = f"/proposals/{proposal.id}"
    ordered_id = proposal.current.lines[0].part_order_line_id
    colleague = make_user(Role.TECHNICIAN, team=story.technician.team, name="Lee Park")
    db.session.commit()
    other = sign_in_as(app, colleague)
    mine, theirs = client.get(url), other.get(url)
    their_plan = story.plan + " Lee will bring the spare."
    assert (
        other.post(url, data=editor_form(story, ordered_id, theirs, plan=their_plan)).status_code
        == 302
    )
    before = snapshot(proposal.id)

    my_plan = story.plan + " Sam will bring the spare."
    response = client.post(url, data=editor_form(story, ordered_id, mine, plan=my_plan))

    assert response.status_code == 409
    shown = page_text(response)
    assert "Lee Park saved this proposal while you were editing it." in shown
    assert my_plan in shown  # what I typed is still in the form
    assert snapshot(proposal.id) == before
    assert proposal.current.plan == their_plan


# --- part orders ---------------------------------------------------------------------------


def _order_form(story: Story, **line) -> dict:
    data = {
        "supplier_id": story.supplier.id,
        "po_number": "PO-7781",
        "ordered_on": story.today.isoformat(),
        "expected_on": story.tomorrow.isoformat(),
        "return_window_days": "30",
        "restocking_fee_pct": "15",
    }
    if line:
        values = {"part_id": story.part.id, "description": "", "quantity": "3"}
        values |= {"unit_cost": "350.00", "discount_pct": "10"} | line
        data |= {f"lines-0-{name}": value for name, value in values.items()}
    return data


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"quantity": "0"}, "Line 1: Quantity must be more than 0."),
        ({"discount_pct": "150"}, "Line 1: Discount must be between 0 and 100 %."),
        ({}, "Add at least one line: what is being ordered."),
    ],
    ids=["quantity-0", "discount-150", "no-lines"],
)
def test_a_part_order_with_bad_input_is_refused_and_not_recorded(
    client, story, technician, line, message
):
    before = snapshot()

    response = client.post(
        f"/incidents/{story.incident.id}/part-orders/new", data=_order_form(story, **line)
    )

    assert response.status_code == 400
    assert message in page_text(response)
    assert snapshot() == before
    assert count(PartOrder) == 0


# --- another team --------------------------------------------------------------------------


def _another_teams_requests(proposal: Proposal) -> dict[str, tuple[str, str, dict]]:
    """Each page and change of a proposal and its part order, with a valid form."""
    base = f"/proposals/{proposal.id}"
    version = {"version": proposal.current.version}
    order_id = proposal.current.lines[0].part_order_line.part_order_id
    incident_id = proposal.incident_id
    return {
        "editor": ("get", base, {}),
        "save": ("post", base, {**version, "plan": "Changed by another team."}),
        "revision": ("get", f"{base}/revisions/1", {}),
        "approve-page": ("get", f"{base}/approve", {}),
        "approve": ("post", f"{base}/approve", {**version, "password": PASSWORD}),
        "submit": ("post", f"{base}/submit", version),
        "acknowledge": ("post", f"{base}/acknowledge", {**version, "key": "missing-apology"}),
        "duplicate": ("post", f"{base}/duplicate", version),
        "request-changes": ("post", f"{base}/request-changes", {**version, "comment": "No."}),
        "new-proposal": ("post", f"/incidents/{incident_id}/proposals", {}),
        "part-order-page": ("get", f"/part-orders/{order_id}/edit", {}),
        "part-order-edit": ("post", f"/part-orders/{order_id}/edit", {"po_number": "X-1"}),
        "part-order-status": ("post", f"/part-orders/{order_id}/status", {"status": "cancelled"}),
        "new-part-order-page": ("get", f"/incidents/{incident_id}/part-orders/new", {}),
        "new-part-order": ("post", f"/incidents/{incident_id}/part-orders/new", {}),
    }


REQUESTS = [
    "editor",
    "save",
    "revision",
    "approve-page",
    "approve",
    "submit",
    "acknowledge",
    "duplicate",
    "request-changes",
    "new-proposal",
    "part-order-page",
    "part-order-edit",
    "part-order-status",
    "new-part-order-page",
    "new-part-order",
]


@pytest.mark.parametrize("request_name", REQUESTS)
def test_another_teams_proposal_and_part_orders_are_not_found(
    client, story, make_team, make_user, request_name
):
    proposal = arrange_offer(story, RevisionStatus.SUBMITTED)
    method, url, data = _another_teams_requests(proposal)[request_name]
    if request_name == "new-part-order":
        data = _order_form(story, quantity="1")
    outsider = make_user(
        Role.SUPERVISOR, team=make_team(name="North crew"), approval_limit=Decimal("99999")
    )
    db.session.commit()
    client.sign_in(outsider.email, PASSWORD)
    before = snapshot(proposal.id)

    response = getattr(client, method)(url, data=data) if data else getattr(client, method)(url)

    assert response.status_code == 404
    assert "Northwind" not in page_text(response)
    assert snapshot(proposal.id) == before


def test_the_approval_queue_lists_only_the_supervisors_team(app, story, make_team, make_user):
    proposal = arrange_offer(story, RevisionStatus.SUBMITTED)
    outsider = make_user(
        Role.SUPERVISOR, team=make_team(name="North crew"), approval_limit=Decimal("99999")
    )
    db.session.commit()

    theirs = page_text(sign_in_as(app, outsider).get("/approvals"))
    ours = page_text(sign_in_as(app, story.supervisor).get("/approvals"))

    assert "Nothing is waiting for approval." in theirs
    assert story.incident.reference not in theirs
    assert f"{story.incident.reference} Proposal {proposal.id}, revision 1" in ours
