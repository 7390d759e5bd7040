"""Approval of a remediation offer: by someone other than its author, within the amount
they may give away, as the approval rules require, with their password; returning it
with comments; and the money at risk in parts bought before the customer said yes."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import inspect, select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.errors import FieldError, InvalidTransition, NotAllowed
from fieldsvc.extensions import db
from fieldsvc.incidents.models import CauseCategory
from fieldsvc.parts.models import PartOrderStatus
from fieldsvc.parts.services import change_part_order_status
from fieldsvc.proposals.models import (
    APPROVAL_MEANING,
    ApprovalMeasure,
    ApprovalRule,
    ProposalRevision,
    RevisionStatus,
)
from fieldsvc.proposals.services import (
    Conflict,
    approval_problems,
    approve_revision,
    draft_proposal,
    money_at_risk,
    price,
    request_changes,
    save_revision,
    submit_revision,
)
from tests.factories import PASSWORD
from tests.proposals.broken_transmitters import TODAY, BrokenTransmitters, build_broken_transmitters

R = RevisionStatus
REPLACEMENTS = "PTX-400 pressure transmitter, replacing PT-107 and PT-117"


@pytest.fixture
def seed(app) -> BrokenTransmitters:
    return build_broken_transmitters()


@pytest.fixture
def submitted(seed) -> ProposalRevision:
    revision = seed.revision
    submit_revision(revision, actor=seed.technician, expected_version=revision.version)
    db.session.commit()
    return revision


def _approve(revision: ProposalRevision, approver, password: str = PASSWORD) -> None:
    approve_revision(
        revision, approver=approver, password=password, expected_version=revision.version
    )
    db.session.commit()


def _rule(measure: ApprovalMeasure, threshold: str = "0", role=Role.ADMIN, **overrides):
    rule = ApprovalRule(
        description=overrides.pop("description", f"{measure.label} above {threshold}"),
        measure=measure,
        threshold=Decimal(threshold),
        required_role=role,
        **overrides,
    )
    db.session.add(rule)
    db.session.commit()
    return rule


def _row(revision: ProposalRevision) -> dict:
    db.session.expire_all()
    revision = db.session.get(ProposalRevision, revision.id)
    return {attr.key: getattr(revision, attr.key) for attr in inspect(revision).mapper.column_attrs}


def _events(revision: ProposalRevision) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.object_type == "ProposalRevision", AuditEvent.object_id == revision.id
            )
            .order_by(AuditEvent.seq)
        )
    )


def _refused(revision: ProposalRevision, approver, *problems: str) -> None:
    """`approver` may not approve, for exactly these reasons, and nothing changes."""
    before = _row(revision)
    assert approval_problems(revision, approver) == list(problems)
    with pytest.raises(NotAllowed) as refused:
        approve_revision(
            revision, approver=approver, password=PASSWORD, expected_version=revision.version
        )
    assert str(refused.value) == "Not approved: " + " ".join(problems)
    db.session.rollback()
    assert _row(revision) == before


# --- who approves -------------------------------------------------------------------------------


def test_a_supervisor_approves_within_their_limit_with_their_password(seed, submitted):
    assert approval_problems(submitted, seed.supervisor) == []

    _approve(submitted, seed.supervisor)

    db.session.expire_all()
    assert submitted.status is R.APPROVED
    assert submitted.reviewed_by == seed.supervisor
    assert submitted.reviewed_at is not None
    assert submitted.approval_meaning == "I approve this remediation offer" == APPROVAL_MEANING
    approval = _events(submitted)[-1]
    assert (approval.action, approval.actor_id) == ("update", seed.supervisor.id)
    assert approval.reason == "I approve this remediation offer"
    assert approval.changes["status"] == ["submitted", "approved"]
    assert approval.changes["approval_meaning"] == [None, APPROVAL_MEANING]


def test_the_author_of_the_proposal_cannot_approve_it(seed):
    own = draft_proposal(seed.incident, seed.draft(), actor=seed.supervisor).current
    submit_revision(own, actor=seed.supervisor, expected_version=own.version)
    db.session.commit()

    _refused(own, seed.supervisor, "You wrote this proposal; another supervisor must approve it.")


def test_the_supervisor_who_made_a_revision_cannot_approve_it(seed, submitted, make_user):
    editor = make_user(Role.SUPERVISOR, team=seed.team, approval_limit=Decimal("5000"))
    second = save_revision(
        submitted,
        seed.draft(valid_until=TODAY + timedelta(days=21)),
        actor=editor,
        expected_version=submitted.version,
    )
    submit_revision(second, actor=seed.technician, expected_version=second.version)
    db.session.commit()

    _refused(second, editor, "You wrote this proposal; another supervisor must approve it.")
    _approve(second, seed.supervisor)
    assert second.status is R.APPROVED


def test_a_technician_cannot_approve(seed, submitted, make_user):
    colleague = make_user(Role.TECHNICIAN, team=seed.team, approval_limit=Decimal("5000"))

    _refused(submitted, colleague, "Only supervisors approve remediation offers.")


def test_a_supervisor_whose_limit_is_below_what_we_absorb_cannot_approve(
    seed, submitted, make_user
):
    junior = make_user(Role.SUPERVISOR, team=seed.team, approval_limit=Decimal("1000"))

    _refused(submitted, junior, "We absorb 1,180.00, above your approval limit of 1,000.00.")


@pytest.mark.parametrize(
    ("limit", "approvable"), [("1200.00", True), ("1180.00", True), ("1179.99", False)]
)
def test_the_limit_applies_to_what_we_absorb_not_to_the_total(
    seed, submitted, make_user, limit, approvable
):
    _, totals = price(submitted)
    assert (totals.list_value, totals.customer_pays, totals.we_absorb) == (
        Decimal("1530.00"),
        Decimal("350.00"),
        Decimal("1180.00"),
    )
    approver = make_user(Role.SUPERVISOR, team=seed.team, approval_limit=Decimal(limit))

    if approvable:
        _approve(submitted, approver)
        assert submitted.status is R.APPROVED
    else:
        _refused(submitted, approver, "We absorb 1,180.00, above your approval limit of 1,179.99.")


# --- approval rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measure", "threshold"),
    [
        (ApprovalMeasure.ABSORBED, "1000"),  # we absorb 1,180.00
        (ApprovalMeasure.TOTAL_VALUE, "1500"),  # list value 1,530.00
        (ApprovalMeasure.AT_RISK, "900"),  # PO-7781: 945.00 spent before a yes
        (ApprovalMeasure.CAUSED_BY_US, "0"),  # the regulator our technician set
    ],
)
def test_each_rule_requiring_an_admin_blocks_a_supervisor_and_lets_an_admin_approve(
    seed, submitted, measure, threshold
):
    _rule(measure, threshold, description=f"Rule on {measure.value}")

    _refused(submitted, seed.supervisor, f"Rule on {measure.value}: an admin must approve.")
    _approve(submitted, seed.admin)

    assert (submitted.status, submitted.reviewed_by) == (R.APPROVED, seed.admin)


@pytest.mark.parametrize(
    ("measure", "threshold"),
    [
        (ApprovalMeasure.ABSORBED, "1180.00"),
        (ApprovalMeasure.TOTAL_VALUE, "1530.00"),
        (ApprovalMeasure.AT_RISK, "945.00"),
    ],
)
def test_a_rule_applies_only_above_its_threshold(seed, submitted, measure, threshold):
    _rule(measure, threshold)

    assert approval_problems(submitted, seed.supervisor) == []


@pytest.mark.parametrize("cause", [CauseCategory.CUSTOMER, CauseCategory.UNKNOWN])
def test_the_caused_by_us_rule_ignores_damage_we_did_not_cause(seed, submitted, cause):
    seed.incident.cause_category = cause
    db.session.commit()
    _rule(ApprovalMeasure.CAUSED_BY_US)

    assert approval_problems(submitted, seed.supervisor) == []


def test_a_rule_a_supervisor_meets_does_not_block_them(seed, submitted):
    _rule(ApprovalMeasure.CAUSED_BY_US, role=Role.SUPERVISOR)

    assert approval_problems(submitted, seed.supervisor) == []


def test_inactive_rules_are_ignored(seed, submitted):
    _rule(ApprovalMeasure.TOTAL_VALUE, "0", active=False)
    _rule(ApprovalMeasure.CAUSED_BY_US, active=False)

    _approve(submitted, seed.supervisor)

    assert submitted.status is R.APPROVED


def test_an_admin_is_still_bound_by_their_own_approval_limit(seed, submitted):
    seed.admin.approval_limit = Decimal("0")
    db.session.commit()

    _refused(submitted, seed.admin, "We absorb 1,180.00, above your approval limit of 0.00.")


# --- the approval itself --------------------------------------------------------------------------


def test_a_wrong_password_approves_nothing(seed, submitted):
    before, events = _row(submitted), len(_events(submitted))

    with pytest.raises(FieldError) as refused:
        approve_revision(
            submitted,
            approver=seed.supervisor,
            password="not my password",
            expected_version=submitted.version,
        )

    assert (refused.value.field, refused.value.message) == (
        "password",
        "That is not your password; nothing was approved.",
    )
    db.session.rollback()
    assert _row(submitted) == before
    assert len(_events(submitted)) == events


def test_a_revision_that_is_not_submitted_cannot_be_approved(seed):
    draft = seed.revision
    _refused(draft, seed.supervisor, "Revision 1 is draft.")


def test_an_approved_revision_cannot_be_approved_again(seed, submitted, make_user):
    _approve(submitted, seed.supervisor)
    other = make_user(Role.SUPERVISOR, team=seed.team, approval_limit=Decimal("5000"))

    _refused(submitted, other, "Revision 1 is approved.")


def test_approval_checks_the_send_gate_again(seed, submitted):
    change_part_order_status(seed.order, PartOrderStatus.CANCELLED, actor=seed.technician)
    db.session.commit()

    _refused(
        submitted,
        seed.supervisor,
        f"Send gate: Line 1 ({REPLACEMENTS}): part order PO-7781 is cancelled; place the "
        "order first.",
        "Send gate: Line 2 (PTX-400 pressure transmitter, spare, free of charge): part order "
        "PO-7781 is cancelled; place the order first.",
    )


def test_approving_a_version_someone_else_changed_is_refused(seed, submitted):
    opened = submitted.version
    request_changes(
        submitted, reviewer=seed.admin, comment="Add the travel.", expected_version=opened
    )
    db.session.commit()

    with pytest.raises(Conflict):
        approve_revision(
            submitted, approver=seed.supervisor, password=PASSWORD, expected_version=opened
        )

    db.session.rollback()
    assert submitted.status is R.CHANGES_REQUESTED


# --- returning it with comments -------------------------------------------------------------------


@pytest.mark.parametrize("comment", ["", "   \n"])
def test_asking_for_changes_needs_a_comment(seed, submitted, comment):
    before = _row(submitted)

    with pytest.raises(FieldError) as refused:
        request_changes(
            submitted, reviewer=seed.supervisor, comment=comment, expected_version=before["version"]
        )

    assert (refused.value.field, refused.value.message) == ("comment", "Say what should change.")
    db.session.rollback()
    assert _row(submitted) == before


def test_a_technician_cannot_ask_for_changes(seed, submitted, make_user):
    colleague = make_user(Role.TECHNICIAN, team=seed.team)

    with pytest.raises(NotAllowed, match="Only supervisors review remediation offers"):
        request_changes(
            submitted, reviewer=colleague, comment="Cheaper", expected_version=submitted.version
        )


def test_returned_with_comments_the_author_edits_in_place_and_resubmits(seed, submitted):
    request_changes(
        submitted,
        reviewer=seed.supervisor,
        comment="  Say when the spare is delivered.  ",
        expected_version=submitted.version,
    )
    db.session.commit()

    assert submitted.status is R.CHANGES_REQUESTED
    assert submitted.reviewed_by == seed.supervisor
    assert submitted.review_comment == "Say when the spare is delivered."
    returned = _events(submitted)[-1]
    assert (returned.actor_id, returned.reason) == (
        seed.supervisor.id,
        "Say when the spare is delivered.",
    )

    edited = save_revision(
        submitted,
        seed.draft(already_done=seed.revision.already_done + " The spare comes with them."),
        actor=seed.technician,
        expected_version=submitted.version,
    )
    submit_revision(edited, actor=seed.technician, expected_version=edited.version)
    db.session.commit()
    _approve(edited, seed.supervisor)

    assert edited is submitted
    assert [(r.number, r.status) for r in seed.proposal.revisions] == [(1, R.APPROVED)]
    assert edited.already_done.endswith("The spare comes with them.")


def test_only_a_submitted_revision_can_be_returned_with_comments(seed):
    draft = seed.revision
    with pytest.raises(InvalidTransition, match="Revision 1 is draft; it cannot become changes"):
        request_changes(
            draft, reviewer=seed.supervisor, comment="Cheaper", expected_version=draft.version
        )


# --- money at risk ------------------------------------------------------------------------------


def test_money_at_risk_adds_up_the_parts_ordered_before_a_yes(seed):
    shipped = seed.order_more(
        status=PartOrderStatus.SHIPPED,
        expected_on=TODAY + timedelta(days=2),
        return_window_days=10,
        restocking_fee_pct=Decimal("10"),
    )
    received = seed.order_more(status=PartOrderStatus.RECEIVED)
    for status in (PartOrderStatus.TO_ORDER, PartOrderStatus.CANCELLED, PartOrderStatus.INSTALLED):
        seed.order_more(status=status)
    db.session.commit()

    at_risk = money_at_risk(seed.incident)

    assert at_risk.orders == [seed.order, shipped, received]
    assert at_risk.total == Decimal("1105.00")  # 945.00 + 80.00 + 80.00
    assert at_risk.restocking_fees == Decimal("149.75")  # 15 % of 945.00 + 10 % of 80.00
    # 2 days + 10 days; PO-7781's is 1 + 30 days away
    assert at_risk.earliest_return_deadline == TODAY + timedelta(days=12)


def test_the_seed_order_puts_945_at_risk_until_24_december(seed):
    at_risk = money_at_risk(seed.incident)

    assert (at_risk.total, at_risk.restocking_fees) == (Decimal("945.00"), Decimal("141.75"))
    assert at_risk.earliest_return_deadline == TODAY + timedelta(days=31)


def test_nothing_is_at_risk_once_the_customer_accepted(seed, submitted):
    _approve(submitted, seed.supervisor)
    submitted.status = R.ACCEPTED  # sent and accepted, arranged directly
    db.session.commit()

    at_risk = money_at_risk(seed.incident)

    assert at_risk.orders == []
    assert (at_risk.total, at_risk.restocking_fees) == (Decimal("0.00"), Decimal("0.00"))
    assert at_risk.earliest_return_deadline is None
