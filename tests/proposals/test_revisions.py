"""Revisions of a proposal: a draft changes in place; what a supervisor reviewed never
changes (a change becomes the next revision, approved anew); what changed between two
revisions; duplicating; and a save based on an outdated copy is refused, not merged."""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, inspect, select, update

from fieldsvc.auth.models import Role
from fieldsvc.customers.models import Contact
from fieldsvc.errors import DomainError, FieldError, InvalidTransition, NotAllowed
from fieldsvc.extensions import db
from fieldsvc.parts.services import OrderDetails, OrderLineInput, order_parts
from fieldsvc.proposals.models import (
    APPROVAL_MEANING,
    LineKind,
    Proposal,
    ProposalLine,
    ProposalRevision,
    RevisionStatus,
)
from fieldsvc.proposals.services import (
    MAX_LINES,
    Conflict,
    Difference,
    LineDraft,
    approve_revision,
    differences,
    duplicate_proposal,
    last_seq,
    save_revision,
    send_gate,
    submit_revision,
)
from tests.factories import PASSWORD
from tests.proposals.broken_transmitters import (
    PLAN,
    TODAY,
    TOMORROW,
    BrokenTransmitters,
    build_broken_transmitters,
    visit_at,
)

R = RevisionStatus
NEW_PLAN = (
    "Our technician will return on 24 November at 10:00 to install and calibrate the two "
    "replacements; the spare is yours, free of charge."
)


@pytest.fixture
def seed(app) -> BrokenTransmitters:
    return build_broken_transmitters()


def _save(seed: BrokenTransmitters, actor=None, revision=None, **changes) -> ProposalRevision:
    revision = revision or seed.revision
    saved = save_revision(
        revision,
        seed.draft(**changes),
        actor=actor or seed.technician,
        expected_version=revision.version,
    )
    db.session.commit()
    return saved


def _submit(seed: BrokenTransmitters) -> ProposalRevision:
    revision = seed.revision
    submit_revision(revision, actor=seed.technician, expected_version=revision.version)
    db.session.commit()
    return revision


def _approve(seed: BrokenTransmitters, approver=None) -> ProposalRevision:
    revision = _submit(seed)
    approve_revision(
        revision,
        approver=approver or seed.supervisor,
        password=PASSWORD,
        expected_version=revision.version,
    )
    db.session.commit()
    return revision


def _row(obj) -> dict:
    """Every column of a row, as the database holds it."""
    return {attr.key: getattr(obj, attr.key) for attr in inspect(obj).mapper.column_attrs}


def _reloaded(revision: ProposalRevision) -> tuple[dict, list[dict]]:
    db.session.expire_all()
    revision = db.session.get(ProposalRevision, revision.id)
    return _row(revision), [_row(line) for line in revision.lines]


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- drafts change in place ---------------------------------------------------------------------


def test_saving_a_draft_changes_it_in_place_and_moves_its_version(seed):
    revision = seed.revision
    assert (revision.number, revision.status, revision.version) == (1, R.DRAFT, 1)

    saved = _save(seed, plan=NEW_PLAN)

    assert saved is revision
    assert [r.number for r in seed.proposal.revisions] == [1]
    assert (saved.number, saved.status, saved.version) == (1, R.DRAFT, 2)
    db.session.expire_all()
    assert db.session.get(ProposalRevision, revision.id).plan == NEW_PLAN


def test_changing_only_a_line_of_a_draft_still_moves_its_version(seed):
    lines = seed.lines()
    lines[2] = replace(lines[2], quantity=Decimal("3"))

    saved = _save(seed, lines=lines)

    assert saved.version == 2
    assert [line.quantity for line in saved.lines] == [Decimal(2), Decimal(1), Decimal(3)]


def test_lines_removed_from_a_draft_are_deleted_and_new_ones_are_added_in_order(seed):
    first, _, labour = seed.lines()
    travel = LineDraft(LineKind.TRAVEL, "Return trip to Newark", Decimal("1"), Decimal("85.00"))

    _save(seed, lines=[first, labour, travel])

    db.session.expire_all()
    lines = seed.revision.lines
    assert [(line.position, line.kind) for line in lines] == [
        (1, LineKind.PART),
        (2, LineKind.LABOUR),
        (3, LineKind.TRAVEL),
    ]
    assert _count(ProposalLine) == 3


def test_the_author_edits_a_revision_returned_with_comments_in_place(seed):
    revision = _submit(seed)
    revision.status = R.CHANGES_REQUESTED  # as request_changes leaves it
    db.session.commit()

    saved = _save(seed, plan=NEW_PLAN)

    assert saved is revision
    assert (saved.number, saved.status, saved.plan) == (1, R.CHANGES_REQUESTED, NEW_PLAN)


# --- reviewed revisions never change --------------------------------------------------------


@pytest.mark.parametrize("reviewed", ["submitted", "approved"])
def test_editing_a_reviewed_revision_makes_the_next_revision_a_draft(seed, reviewed):
    old = _submit(seed) if reviewed == "submitted" else _approve(seed)
    old_row, old_lines = _reloaded(old)
    lines = seed.lines()
    lines[0] = replace(lines[0], customer_share_pct=Decimal("40"))

    new = _save(seed, plan=NEW_PLAN, lines=lines)

    assert new is not old
    assert (new.number, new.status, new.created_by) == (2, R.DRAFT, seed.technician)
    assert (new.reviewed_by, new.approval_meaning, new.submitted_at) == (None, None, None)
    assert new.plan == NEW_PLAN
    assert [line.customer_share_pct for line in new.lines] == [
        Decimal("40"),
        Decimal("0"),
        Decimal("0"),
    ]
    assert seed.proposal.current is new
    # The reviewed revision holds exactly what was reviewed; only its status moved on.
    row, lines_after = _reloaded(old)
    assert row == old_row | {"status": R.SUPERSEDED, "version": old_row["version"] + 1}
    assert lines_after == old_lines
    assert not {line["id"] for line in old_lines} & {line.id for line in new.lines}


def test_the_next_revision_must_be_approved_again(seed):
    _approve(seed)
    new = _save(seed, plan=NEW_PLAN)

    with pytest.raises(NotAllowed, match="Revision 2 is draft"):
        approve_revision(
            new, approver=seed.supervisor, password=PASSWORD, expected_version=new.version
        )

    submit_revision(new, actor=seed.technician, expected_version=new.version)
    approve_revision(new, approver=seed.supervisor, password=PASSWORD, expected_version=new.version)
    db.session.commit()
    assert [(r.number, r.status) for r in seed.proposal.revisions] == [
        (1, R.SUPERSEDED),
        (2, R.APPROVED),
    ]
    assert new.approval_meaning == APPROVAL_MEANING


def test_acknowledged_tone_warnings_carry_over_to_the_next_revision(seed):
    revision = seed.revision
    revision.acknowledged_warnings = ["dismissive-as-i-said:as i said"]
    db.session.commit()
    _submit(seed)

    new = _save(seed, plan=NEW_PLAN)

    assert new.acknowledged_warnings == ["dismissive-as-i-said:as i said"]


@pytest.mark.parametrize("final", [R.ACCEPTED, R.DECLINED, R.EXPIRED])
def test_an_accepted_declined_or_expired_revision_cannot_be_saved(seed, final):
    revision = seed.revision
    revision.status = final  # the customer's answer, arranged directly
    db.session.commit()
    row, lines = _reloaded(revision)
    revision = seed.revision

    with pytest.raises(InvalidTransition) as refused:
        save_revision(
            revision,
            seed.draft(plan=NEW_PLAN),
            actor=seed.technician,
            expected_version=revision.version,
        )

    assert str(refused.value) == (
        f"Revision 1 is {final.value}; it can no longer change. Start a new proposal instead."
    )
    db.session.rollback()
    assert _reloaded(revision) == (row, lines)
    assert _count(ProposalRevision) == 1


def test_a_superseded_revision_cannot_be_saved(seed):
    old = _submit(seed)
    _save(seed, plan=NEW_PLAN)
    row, lines = _reloaded(old)
    old = db.session.get(ProposalRevision, old.id)

    with pytest.raises(DomainError, match="Revision 1 was replaced; edit the latest one"):
        save_revision(
            old, seed.draft(plan="Other words"), actor=seed.technician, expected_version=old.version
        )

    db.session.rollback()
    assert _reloaded(old) == (row, lines)
    assert _count(ProposalRevision) == 2


# --- what a line may hold ---------------------------------------------------------------------


def test_a_line_linked_to_another_incidents_part_order_is_refused(seed, make_incident):
    other = make_incident(actor=seed.technician)
    theirs = order_parts(
        other,
        OrderDetails(supplier_id=seed.supplier.id, po_number="PO-9001", expected_on=TOMORROW),
        [OrderLineInput("PTX-400 pressure transmitter", Decimal("1"), Decimal("350.00"))],
        actor=seed.technician,
    )
    db.session.commit()
    row, lines = _reloaded(seed.revision)
    wrong = seed.lines()
    wrong[1] = replace(wrong[1], part_order_line_id=theirs.lines[0].id)

    with pytest.raises(FieldError) as refused:
        _save(seed, lines=wrong)

    assert refused.value.field == "lines"
    assert refused.value.message == f"Line 2: link a part ordered for {seed.incident.reference}."
    db.session.rollback()
    assert _reloaded(seed.revision) == (row, lines)


def test_a_contact_of_another_customer_is_refused(seed, make_contact):
    stranger = make_contact(name="Someone Else")

    with pytest.raises(FieldError, match="Choose a contact of Northwind Pharma"):
        _save(seed, contact_id=stranger.id)


def test_more_than_500_lines_are_refused_with_a_clear_message(seed):
    labour = LineDraft(LineKind.LABOUR, "Calibration (hours)", Decimal("1"), Decimal("120.00"))

    with pytest.raises(FieldError) as refused:
        _save(seed, lines=[labour] * (MAX_LINES + 1))

    assert MAX_LINES == 500
    assert (refused.value.field, refused.value.message) == (
        "lines",
        "A proposal can have at most 500 lines; split it into two proposals.",
    )
    db.session.rollback()
    assert len(seed.revision.lines) == 3


def test_500_lines_are_accepted(seed):
    labour = LineDraft(LineKind.LABOUR, "Calibration (hours)", Decimal("1"), Decimal("120.00"))

    saved = _save(seed, lines=[labour] * MAX_LINES)

    assert len(saved.lines) == 500
    assert _count(ProposalLine) == 500


# --- what changed -----------------------------------------------------------------------------


def test_differences_name_each_changed_text_field_and_line(seed, make_user):
    old = _submit(seed)
    substitute = make_user(Role.TECHNICIAN, team=seed.team, name="Priya Patel")
    replacements, spare, _ = seed.lines()
    cheaper = replace(replacements, customer_share_pct=Decimal("40"))

    new = _save(
        seed,
        plan=NEW_PLAN,
        return_visit_at=visit_at(hour=10),
        return_technician_id=substitute.id,
        lines=[cheaper, spare],
    )

    assert differences(old, new) == [
        Difference("The plan", PLAN, NEW_PLAN),
        Difference("Return visit", f"{TOMORROW} 08:00 UTC", f"{TOMORROW} 10:00 UTC"),
        Difference("Technician", "Tom Technician", "Priya Patel"),
        Difference(
            "Line 1",
            "Part: PTX-400 pressure transmitter, replacing PT-107 and PT-117 — 2 × 350.00, "  # noqa: RUF001
            "discount 0 %, customer share 50 %",
            "Part: PTX-400 pressure transmitter, replacing PT-107 and PT-117 — 2 × 350.00, "  # noqa: RUF001
            "discount 0 %, customer share 40 %",
        ),
        Difference(
            "Line 3",
            "Labour: Calibration and installation (hours), waived — 4 × 120.00, "  # noqa: RUF001
            "discount 0 %, customer share 0 %",
            "—",
        ),
    ]


def test_differences_show_added_lines_validity_and_contact(seed):
    old = _submit(seed)
    travel = LineDraft(
        LineKind.TRAVEL, "Return trip", Decimal("1.5"), Decimal("85.00"), Decimal("10")
    )
    deputy = Contact(customer=seed.customer, name="Lee Chen", email="lee.chen@northwind.example")
    db.session.add(deputy)
    db.session.flush()

    new = _save(
        seed,
        valid_until=old.valid_until + timedelta(days=7),
        contact_id=deputy.id,
        lines=[*seed.lines(), travel],
    )

    assert differences(old, new) == [
        Difference(
            "Valid until",
            _in_words(TODAY + timedelta(days=14)),
            _in_words(TODAY + timedelta(days=21)),
        ),
        Difference("Sent to", "Dana Whitfield", "Lee Chen"),
        Difference(
            "Line 4",
            "—",
            "Travel: Return trip — 1.5 × 85.00, discount 10 %, customer share 100 %",  # noqa: RUF001
        ),
    ]


def test_a_revision_saved_unchanged_has_no_differences(seed):
    old = _submit(seed)
    new = _save(seed)
    assert new.number == 2
    assert differences(old, new) == []


# --- duplicating --------------------------------------------------------------------------------


def test_a_duplicate_is_a_new_proposal_whose_first_revision_is_an_unapproved_draft(seed):
    original = _approve(seed)

    copy = duplicate_proposal(seed.proposal, actor=seed.supervisor)
    db.session.commit()

    assert copy.id != seed.proposal.id
    assert (copy.incident, copy.author) == (seed.incident, seed.supervisor)
    (first,) = copy.revisions
    assert (first.number, first.status, first.version) == (1, R.DRAFT, 1)
    assert (first.reviewed_by, first.reviewed_at, first.approval_meaning) == (None, None, None)
    assert first.submitted_at is None
    content = ("what_happened", "already_done", "plan", "contact_id", "return_visit_at")
    content += ("return_technician_id", "valid_until")
    assert {k: getattr(first, k) for k in content} == {k: getattr(original, k) for k in content}
    line_fields = ("position", "kind", "description", "quantity", "unit_price", "discount_pct")
    line_fields += ("customer_share_pct", "part_order_line_id")
    assert [[getattr(line, k) for k in line_fields] for line in first.lines] == [
        [getattr(line, k) for k in line_fields] for line in original.lines
    ]
    # The original keeps its approval and stays the only revision of its proposal.
    assert [(r.number, r.status) for r in seed.proposal.revisions] == [(1, R.APPROVED)]
    assert _count(Proposal) == 2
    assert send_gate(first) == []


# --- saves based on an outdated copy ------------------------------------------------------------


def test_a_save_based_on_an_outdated_version_is_refused_and_names_who_changed_what(seed):
    revision = seed.revision
    # The technician opens the editor...
    opened_version, opened_seq = revision.version, last_seq()
    # ...while the supervisor saves a new plan.
    _save(seed, actor=seed.supervisor, plan=NEW_PLAN)

    with pytest.raises(Conflict) as conflict:
        save_revision(
            revision,
            seed.draft(plan="The technician's plan, typed meanwhile."),
            actor=seed.technician,
            expected_version=opened_version,
            seen_seq=opened_seq,
        )

    assert str(conflict.value).startswith(
        "Sara Supervisor saved this proposal while you were editing it. Your changes were not saved"
    )
    changes = conflict.value.changes
    assert {entry.event.actor.name for entry in changes} == {"Sara Supervisor"}
    assert all(entry.event.seq > opened_seq for entry in changes)
    assert ("The plan", PLAN, NEW_PLAN) in [tuple(c) for entry in changes for c in entry.changes]
    assert conflict.value.revision is revision
    db.session.rollback()
    db.session.expire_all()
    saved = db.session.get(ProposalRevision, revision.id)
    assert (saved.plan, saved.version) == (NEW_PLAN, opened_version + 1)


def test_a_save_based_on_the_current_version_after_a_conflict_goes_through(seed):
    revision = seed.revision
    _save(seed, actor=seed.supervisor, plan=NEW_PLAN)

    saved = save_revision(
        revision,
        seed.draft(plan=NEW_PLAN + " We will call you the day before."),
        actor=seed.technician,
        expected_version=revision.version,
    )
    db.session.commit()

    assert saved.plan.endswith("We will call you the day before.")
    assert saved.version == 3


def test_a_save_that_loses_the_race_at_write_time_is_refused_and_rolled_back(seed):
    revision = seed.revision
    opened_version, opened_seq = revision.version, last_seq()
    # Another request saved between our version check and our write: the row moved on
    # behind this session's back.
    db.session.execute(
        update(ProposalRevision)
        .where(ProposalRevision.id == revision.id)
        .values(plan=NEW_PLAN, version=ProposalRevision.version + 1)
    )
    db.session.commit()

    with pytest.raises(Conflict, match="Someone saved this proposal while you were editing it"):
        save_revision(
            revision,
            seed.draft(plan="Typed meanwhile."),
            actor=seed.technician,
            expected_version=opened_version,
            seen_seq=opened_seq,
        )

    db.session.expire_all()
    saved = db.session.get(ProposalRevision, revision.id)
    assert (saved.plan, saved.version) == (NEW_PLAN, opened_version + 1)
    assert last_seq() == opened_seq


def _in_words(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"
