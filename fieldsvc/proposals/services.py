"""The rules of remediation proposals, so the fix exists before the customer is told:
lines and who pays what, revisions,
the send gate, the tone check, approval by someone else within their limit, and the
money at risk in parts bought before the customer said yes.

Approval limits apply to the amount we absorb — the company's money given away —
since that is what a supervisor answers for; the total value, the parts spend at
risk and damage caused by us are covered by the approval rules table.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from flask import current_app
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import aliased, contains_eager, joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from fieldsvc.audit.models import AuditEvent
from fieldsvc.audit.services import HistoryEntry, acting, history_for, record
from fieldsvc.auth.models import Role, User
from fieldsvc.auth.services import authenticate
from fieldsvc.clock import format_date, format_datetime, site_zone, to_local
from fieldsvc.customers.models import Contact
from fieldsvc.database import plain_columns, plain_record_type, plain_rows, utcnow
from fieldsvc.errors import DomainError, FieldError, InvalidTransition, NotAllowed, StaleVersion
from fieldsvc.extensions import db
from fieldsvc.incidents.models import (
    ALLOWED_TRANSITIONS,
    CauseCategory,
    FollowUp,
    Incident,
    IncidentStatus,
)
from fieldsvc.parts.models import COMMITTED_STATUSES, PartOrder, PartOrderLine
from fieldsvc.parts.services import ORDER_LINE_METHODS
from fieldsvc.proposals.models import (
    APPROVAL_MEANING,
    REVISION_TRANSITIONS,
    ApprovalMeasure,
    ApprovalRule,
    LineKind,
    Proposal,
    ProposalLine,
    ProposalRevision,
    RevisionStatus,
)
from fieldsvc.proposals.tone import ToneWarning, check_tone
from fieldsvc.proposals.totals import (
    LineAmounts,
    LineInput,
    LineProblem,
    Totals,
    document_totals,
    line_amounts,
    validate_line,
)
from fieldsvc.ranges import MAX_PROPOSAL_LINES, MONEY, PLANNED, window
from fieldsvc.webhooks import services as webhooks

MAX_LINES = MAX_PROPOSAL_LINES
CUSTOMER_TEXTS = ("what_happened", "already_done", "plan")


@dataclass(frozen=True)
class LineDraft:
    kind: LineKind
    description: str
    quantity: Decimal
    unit_price: Decimal
    discount_pct: Decimal = Decimal("0")
    customer_share_pct: Decimal = Decimal("100")
    part_order_line_id: int | None = None


@dataclass(frozen=True)
class RevisionDraft:
    what_happened: str = ""
    already_done: str = ""
    plan: str = ""
    contact_id: int | None = None
    return_visit_at: datetime | None = None
    return_technician_id: int | None = None
    valid_until: date | None = None
    lines: Sequence[LineDraft] = field(default_factory=list)


class Conflict(StaleVersion):
    """Someone else saved the revision since it was opened: nothing was overwritten."""

    def __init__(self, revision: ProposalRevision, changes: list[HistoryEntry]) -> None:
        who = sorted({e.event.actor.name for e in changes if e.event.actor}) or ["Someone"]
        super().__init__(
            f"{', '.join(who)} saved this proposal while you were editing it. Your changes "
            "were not saved; they are still in the form. Review what changed below and save again."
        )
        self.revision = revision
        self.changes = changes


# --- drafting ------------------------------------------------------------------------------


def draft_proposal(incident: Incident, draft: RevisionDraft, *, actor: User) -> Proposal:
    """Start a remediation proposal for an incident: revision 1, a draft."""
    lines = _checked_lines(incident, draft.lines)
    contact = _checked_contact(incident, draft.contact_id)
    _check_dates(draft, utcnow().date())
    with acting(actor):
        proposal = Proposal(incident=incident, author=actor)
        db.session.add(proposal)
        revision = ProposalRevision(proposal=proposal, number=1, created_by=actor)
        db.session.add(revision)
        _apply(revision, draft, contact, lines)
        db.session.flush()
    return proposal


def save_revision(
    revision: ProposalRevision,
    draft: RevisionDraft,
    *,
    actor: User,
    expected_version: int,
    seen_seq: int | None = None,
) -> ProposalRevision:
    """Save changes to the current revision; returns the revision that holds them.

    A draft (or one returned with comments) changes in place. A submitted, approved
    or sent revision never changes: the changes become the next revision, a draft
    that needs approval again.
    """
    proposal = revision.proposal
    if revision is not proposal.current:
        raise DomainError(f"Revision {revision.number} was replaced; edit the latest one.")
    if revision.version != expected_version:
        raise Conflict(revision, changes_since(revision, seen_seq))
    if revision.status not in (*REVISABLE, RevisionStatus.DRAFT, RevisionStatus.CHANGES_REQUESTED):
        raise InvalidTransition(
            f"Revision {revision.number} is {revision.status.label.lower()}; it can no longer "
            "change. Start a new proposal instead."
        )
    incident = proposal.incident
    lines = _checked_lines(incident, draft.lines)
    contact = _checked_contact(incident, draft.contact_id)
    _check_dates(draft, utcnow().date())
    try:
        with acting(actor):
            if not revision.editable:
                move(revision, RevisionStatus.SUPERSEDED)
                revision = ProposalRevision(
                    proposal=proposal,
                    number=revision.number + 1,
                    created_by=actor,
                    acknowledged_warnings=list(revision.acknowledged_warnings),
                )
                db.session.add(revision)
            _apply(revision, draft, contact, lines)
            db.session.flush()
    except StaleDataError:
        # Saved by someone else between our check and our write.
        db.session.rollback()
        raise Conflict(revision, changes_since(revision, seen_seq)) from None
    return revision


# Reviewed or sent: a change makes the next revision.
REVISABLE = (
    RevisionStatus.SUBMITTED,
    RevisionStatus.APPROVED,
    RevisionStatus.SENT,
    RevisionStatus.CUSTOMER_CHANGES,
)


def duplicate_proposal(proposal: Proposal, *, actor: User) -> Proposal:
    """A new proposal from the current revision's content — a draft, approved anew."""
    current = proposal.current
    draft = RevisionDraft(
        what_happened=current.what_happened,
        already_done=current.already_done,
        plan=current.plan,
        contact_id=current.contact_id,
        return_visit_at=current.return_visit_at,
        return_technician_id=current.return_technician_id,
        valid_until=current.valid_until,
        lines=[_draft_of(line) for line in current.lines],
    )
    return draft_proposal(proposal.incident, draft, actor=actor)


def _draft_of(line: ProposalLine) -> LineDraft:
    return LineDraft(
        kind=line.kind,
        description=line.description,
        quantity=line.quantity,
        unit_price=line.unit_price,
        discount_pct=line.discount_pct,
        customer_share_pct=line.customer_share_pct,
        part_order_line_id=line.part_order_line_id,
    )


def _checked_lines(incident: Incident, drafts: Sequence[LineDraft]) -> list[LineDraft]:
    if len(drafts) > MAX_LINES:
        raise FieldError(
            "lines",
            f"A proposal can have at most {MAX_LINES} lines; split it into two proposals.",
        )
    for n, line in enumerate(drafts, start=1):
        try:
            validate_line(
                LineInput(
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    discount_pct=line.discount_pct,
                    customer_share_pct=line.customer_share_pct,
                )
            )
        except LineProblem as problem:
            raise FieldError("lines", f"Line {n}: {problem.message}") from None
        if not line.description.strip():
            raise FieldError("lines", f"Line {n}: describe the line.")
        if line.part_order_line_id is not None:
            ordered = db.session.get(PartOrderLine, line.part_order_line_id)
            if ordered is None or ordered.part_order.incident_id != incident.id:
                raise FieldError(
                    "lines", f"Line {n}: link a part ordered for {incident.reference}."
                )
        elif line.kind is LineKind.PART:
            # Allowed in a draft; the send gate asks for the order before submitting.
            pass
    _check_total(drafts)
    return list(drafts)


def _check_total(drafts: Sequence[LineDraft]) -> None:
    """A proposal's list value is an amount like any other: at most MONEY.high, so its
    frozen figures fit their columns and every page and PDF can show them."""
    total = sum(
        (
            line_amounts(LineInput(quantity=line.quantity, unit_price=line.unit_price)).list_value
            for line in drafts
        ),
        Decimal("0"),
    )
    if total > MONEY.high:
        raise FieldError(
            "lines",
            f"The lines come to {total:,.2f}, more than a proposal can hold "
            f"({MONEY.high:,.2f}); split it into two proposals.",
        )


def _check_dates(draft: RevisionDraft, today: date) -> None:
    window(PLANNED, "The return visit").check("return_visit_at", draft.return_visit_at, today)
    window(PLANNED, "Valid until").check("valid_until", draft.valid_until, today)


def _checked_contact(incident: Incident, contact_id: int | None) -> Contact | None:
    if contact_id is None:
        return None
    contact = db.session.get(Contact, contact_id)
    if contact is None or contact.customer_id != incident.customer_id:
        raise FieldError("contact_id", f"Choose a contact of {incident.customer.name}.")
    return contact


def _apply(
    revision: ProposalRevision,
    draft: RevisionDraft,
    contact: Contact | None,
    lines: Sequence[LineDraft],
) -> None:
    revision.what_happened = draft.what_happened.strip()
    revision.already_done = draft.already_done.strip()
    revision.plan = draft.plan.strip()
    revision.contact = contact
    revision.return_visit_at = draft.return_visit_at
    revision.return_technician_id = draft.return_technician_id
    revision.valid_until = draft.valid_until
    # Always a row change, so the version moves even when only lines changed.
    revision.updated_at = utcnow()
    existing = list(revision.lines)
    for position, line in enumerate(lines, start=1):
        target = existing[position - 1] if position <= len(existing) else None
        if target is None:
            target = ProposalLine(revision=revision, position=position)
            db.session.add(target)
        target.kind = line.kind
        target.description = line.description.strip()
        target.quantity = line.quantity
        target.unit_price = line.unit_price
        target.discount_pct = line.discount_pct
        target.customer_share_pct = line.customer_share_pct
        target.part_order_line_id = line.part_order_line_id
    for extra in existing[len(lines) :]:
        revision.lines.remove(extra)
        db.session.delete(extra)


@dataclass(frozen=True)
class Difference:
    what: str
    before: str
    after: str


def differences(old: ProposalRevision, new: ProposalRevision) -> list[Difference]:
    """What changed from one revision to the next, as a customer would read it."""
    found = []
    for label, read in (
        ("What happened", lambda r: r.what_happened),
        ("What we have already done", lambda r: r.already_done),
        ("The plan", lambda r: r.plan),
        ("Return visit", lambda r: format_datetime(r.return_visit_at)),
        ("Technician", lambda r: r.return_technician.name if r.return_technician else ""),
        ("Valid until", lambda r: format_date(r.valid_until)),
        ("Sent to", lambda r: r.contact.name if r.contact else ""),
    ):
        if read(old) != read(new):
            found.append(Difference(label, read(old) or "—", read(new) or "—"))
    old_lines = [_describe(line) for line in old.lines]
    new_lines = [_describe(line) for line in new.lines]
    for n in range(max(len(old_lines), len(new_lines))):
        before = old_lines[n] if n < len(old_lines) else "—"
        after = new_lines[n] if n < len(new_lines) else "—"
        if before != after:
            found.append(Difference(f"Line {n + 1}", before, after))
    return found


def _describe(line: ProposalLine) -> str:
    return (
        f"{line.kind.label}: {line.description} — {line.quantity.normalize():f} × "  # noqa: RUF001
        f"{line.unit_price:,.2f}, discount {line.discount_pct.normalize():f} %, "
        f"customer share {line.customer_share_pct.normalize():f} %"
    )


def changes_since(revision: ProposalRevision, seen_seq: int | None) -> list[HistoryEntry]:
    """What happened to the revision and its lines after audit event `seen_seq`."""
    entries = history_for(revision, *revision.lines)
    return [entry for entry in entries if seen_seq is None or entry.event.seq > seen_seq]


def last_seq() -> int:
    """The newest audit event: a form remembers it to explain a later conflict."""
    return db.session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) or 0


# --- money -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PricedLine:
    line: ProposalLine
    amounts: LineAmounts


def price(revision: ProposalRevision) -> tuple[list[PricedLine], Totals]:
    """Each line's list value, our cost, what the customer pays and what we absorb."""
    priced = []
    for line in revision.lines:
        ordered = line.part_order_line
        amounts = line_amounts(
            LineInput(
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount_pct=line.discount_pct,
                customer_share_pct=line.customer_share_pct,
                unit_cost=ordered.unit_cost if ordered else None,
                cost_discount_pct=ordered.discount_pct if ordered else Decimal("0"),
            )
        )
        priced.append(PricedLine(line, amounts))
    tax_rate = Decimal(str(current_app.config["TAX_RATE"]))
    return priced, document_totals([p.amounts for p in priced], tax_rate)


@dataclass(frozen=True)
class MoneyAtRisk:
    total: Decimal
    orders: list[Any]  # the part orders as given: mapped, or plain records
    restocking_fees: Decimal
    earliest_return_deadline: date | None


def money_at_risk(incident: Incident) -> MoneyAtRisk:
    """Parts bought for the incident that the customer has not accepted yet: bought so
    the fix exists before the customer is told."""
    return money_at_risk_in(incident.part_orders, incident.proposals)


def money_at_risk_in(part_orders: Sequence[Any], proposals: Sequence[Any]) -> MoneyAtRisk:
    """`money_at_risk` from an incident's part orders (with their lines) and proposals
    (with their revisions), mapped or read as plain records (`shown_part_orders`,
    `shown_proposals`)."""
    accepted = any(
        revision.status is RevisionStatus.ACCEPTED
        for proposal in proposals
        for revision in proposal.revisions
    )
    orders = [] if accepted else [o for o in part_orders if o.status in COMMITTED_STATUSES]
    deadlines = [o.return_deadline for o in orders if o.return_deadline]
    return MoneyAtRisk(
        total=sum((o.net_cost for o in orders), Decimal("0.00")),
        orders=orders,
        restocking_fees=sum((o.restocking_fee for o in orders), Decimal("0.00")),
        earliest_return_deadline=min(deadlines) if deadlines else None,
    )


def shown_proposals(incident_id: int) -> list:
    """The incident's proposals, oldest first, as plain records (`plain_record_type`) with
    their `revisions` (by number), each with its `lines` (in order), each with the
    `part_order_line` it is linked to: one statement, built once, for a page that only
    shows them. `price` and `money_at_risk_in` work them out as they do mapped rows."""
    statement, proposal_type, revision_type, line_type, ordered_type = _shown_proposals()
    # Each row holds a proposal's columns, a revision's, a line's and its linked order line's
    # (the records' last field is what they are shown with, filled here).
    revision_at = len(proposal_type._fields) - 1
    line_at = revision_at + len(revision_type._fields) - 1
    ordered_at = line_at + len(line_type._fields) - 1
    proposal_id = proposal_type._fields.index("id")
    revision_id = revision_at + revision_type._fields.index("id")
    line_id = line_at + line_type._fields.index("id")
    ordered_id = ordered_at + ordered_type._fields.index("id")
    proposals: dict[int, tuple[tuple, dict]] = {}
    for row in plain_rows(db.session(), statement, {"incident_id": incident_id}):
        _, revisions = proposals.setdefault(row[proposal_id], (row[:revision_at], {}))
        if row[revision_id] is None:
            continue
        _, lines = revisions.setdefault(row[revision_id], (row[revision_at:line_at], []))
        if row[line_id] is not None:
            ordered = ordered_type._make(row[ordered_at:]) if row[ordered_id] is not None else None
            lines.append(line_type._make((*row[line_at:ordered_at], ordered)))
    return [
        proposal_type._make(
            (
                *columns,
                tuple(
                    revision_type._make((*revision, tuple(lines)))
                    for revision, lines in revisions.values()
                ),
            )
        )
        for columns, revisions in proposals.values()
    ]


@cache
def _shown_proposals() -> tuple[Select, type, type, type, type]:
    ordered = aliased(PartOrderLine)
    statement = (
        select(
            *plain_columns(Proposal, "proposal_"),
            *plain_columns(ProposalRevision, "revision_"),
            *plain_columns(ProposalLine, "line_"),
            *plain_columns(ordered, "ordered_"),
        )
        .outerjoin(ProposalRevision, ProposalRevision.proposal_id == Proposal.id)
        .outerjoin(ProposalLine, ProposalLine.revision_id == ProposalRevision.id)
        .outerjoin(ordered, ordered.id == ProposalLine.part_order_line_id)
        .where(Proposal.incident_id == bindparam("incident_id"))
        .order_by(Proposal.id, ProposalRevision.number, ProposalLine.position)
    )
    return (
        statement,
        plain_record_type(Proposal, ("current",), ("revisions",)),
        plain_record_type(ProposalRevision, (), ("lines",)),
        plain_record_type(ProposalLine, (), ("part_order_line",)),
        plain_record_type(PartOrderLine, ORDER_LINE_METHODS),
    )


# --- the tone check and the send gate --------------------------------------------------------


def tone_warnings(revision: ProposalRevision) -> dict[str, list[ToneWarning]]:
    """Warnings per customer-facing text; missing apology and next step are judged on
    the whole letter, so they are reported once, on the plan."""
    phrase_warnings = {name: [] for name in CUSTOMER_TEXTS}
    letter = "\n\n".join(getattr(revision, name) for name in CUSTOMER_TEXTS)
    whole = check_tone(letter)
    for name in CUSTOMER_TEXTS:
        for warning in check_tone(getattr(revision, name)):
            if warning.excerpt:
                phrase_warnings[name].append(warning)
    phrase_warnings["plan"] += [w for w in whole if not w.excerpt]
    return phrase_warnings


def unacknowledged(revision: ProposalRevision) -> list[ToneWarning]:
    warnings = [w for ws in tone_warnings(revision).values() for w in ws]
    return [w for w in warnings if w.key not in revision.acknowledged_warnings]


def acknowledge_warning(revision: ProposalRevision, key: str, *, actor: User) -> None:
    """The author read a tone warning and keeps the text: recorded in the audit trail."""
    if not revision.editable:
        raise InvalidTransition("Only a draft's tone warnings can be acknowledged.")
    warnings = {w.key: w for ws in tone_warnings(revision).values() for w in ws}
    if key not in warnings:
        raise DomainError("That tone warning no longer applies to the text.")
    with acting(actor):
        revision.acknowledged_warnings = [*revision.acknowledged_warnings, key]
        db.session.flush()
        record(
            revision,
            "acknowledge_tone_warning",
            {"warning": [None, warnings[key].message]},
            reason=key,
        )


class GateClosed(DomainError):
    """The send gate has unmet conditions: nothing goes to a supervisor yet."""

    def __init__(self, problems: list["GateProblem"]) -> None:
        super().__init__("Not submitted: " + " ".join(p.message for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class GateProblem:
    message: str
    fix: str  # the anchor of the page section (or page) where it is fixed


def send_gate(revision: ProposalRevision) -> list[GateProblem]:
    """Every reason the revision cannot go to a supervisor yet, in plain words."""
    problems = []
    visit = revision.return_visit_at
    if visit is None:
        problems.append(GateProblem("Schedule the return visit (date and time).", "visit"))
    elif visit < utcnow():
        problems.append(
            GateProblem("The return visit is in the past; schedule a new one.", "visit")
        )
    if revision.return_technician_id is None:
        problems.append(GateProblem("Choose the technician for the return visit.", "visit"))
    if revision.contact is None:
        problems.append(GateProblem("Choose the customer contact who receives it.", "contact"))
    elif not revision.contact.email:
        problems.append(
            GateProblem(f"{revision.contact.name} has no e-mail address; add one.", "contact")
        )
    if not revision.lines:
        problems.append(GateProblem("Add the lines of the offer.", "lines"))
    for n, line in enumerate(revision.lines, start=1):
        ordered = line.part_order_line
        if ordered is None:
            if line.kind is LineKind.PART:
                problems.append(
                    GateProblem(f"Line {n} ({line.description}): link it to a part order.", "lines")
                )
            continue
        # Any linked line (a free spare too) needs its parts on the way in time.
        order = ordered.part_order
        if order.status not in COMMITTED_STATUSES:
            problems.append(
                GateProblem(
                    f"Line {n} ({line.description}): part order {order} is "
                    f"{order.status.label.lower()}; place the order first.",
                    "parts",
                )
            )
        elif order.expected_on is None:
            problems.append(
                GateProblem(f"Part order {order}: enter the expected delivery date.", "parts")
            )
        elif visit is not None and order.expected_on > _site_date(revision, visit):
            problems.append(
                GateProblem(
                    f"Part order {order} arrives {format_date(order.expected_on)}, after the "
                    "return visit; move the visit or find a faster supplier.",
                    "parts",
                )
            )
    if not all(getattr(revision, name).strip() for name in CUSTOMER_TEXTS):
        problems.append(
            GateProblem("Write what happened, what is done and the plan for the customer.", "text")
        )
    for warning in unacknowledged(revision):
        problems.append(GateProblem(f"Tone: {warning.message}", "text"))
    # Lines sharing a part order would repeat the order's problem.
    return list(dict.fromkeys(problems))


def _site_date(revision: ProposalRevision, value: datetime) -> date:
    """The day `value` falls on at the customer's site, where the parts are delivered."""
    return to_local(value, site_zone(revision.proposal.incident.site)).date()


# --- submitting and approving ---------------------------------------------------------------


def submit_revision(revision: ProposalRevision, *, actor: User, expected_version: int) -> None:
    """Ask for approval: only through the send gate."""
    if revision.version != expected_version:
        raise Conflict(revision, [])
    _check_transition(revision, RevisionStatus.SUBMITTED)
    if problems := send_gate(revision):
        raise GateClosed(problems)
    with acting(actor):
        move(revision, RevisionStatus.SUBMITTED)
        revision.submitted_at = utcnow()
        db.session.flush()
    webhooks.emit("proposal.submitted", revision)


def active_rules() -> list[ApprovalRule]:
    """The approval rules in force (a page checking many revisions reads them once)."""
    return list(db.session.scalars(select(ApprovalRule).where(ApprovalRule.active)))


def approval_problems(
    revision: ProposalRevision, approver: User, rules: Sequence[ApprovalRule] | None = None
) -> list[str]:
    """Why `approver` may not approve this revision (empty: they may)."""
    problems = []
    if revision.status is not RevisionStatus.SUBMITTED:
        problems.append(f"Revision {revision.number} is {revision.status.label.lower()}.")
    if not approver.has_role(Role.SUPERVISOR, Role.ADMIN):
        problems.append("Only supervisors approve remediation offers.")
    if approver.id in (revision.proposal.author_id, revision.created_by_id):
        problems.append("You wrote this proposal; another supervisor must approve it.")
    _, totals = price(revision)
    if totals.we_absorb > approver.approval_limit:
        problems.append(
            f"We absorb {totals.we_absorb:,.2f}, above your approval limit of "
            f"{approver.approval_limit:,.2f}."
        )
    measures = {
        ApprovalMeasure.ABSORBED: totals.we_absorb,
        ApprovalMeasure.TOTAL_VALUE: totals.list_value,
        ApprovalMeasure.AT_RISK: money_at_risk(revision.proposal.incident).total,
    }
    caused_by_us = revision.proposal.incident.cause_category is CauseCategory.OUR_TECHNICIAN
    for rule in active_rules() if rules is None else rules:
        if rule.measure is ApprovalMeasure.CAUSED_BY_US:
            applies = caused_by_us
        else:
            applies = measures[rule.measure] > rule.threshold
        if applies and not _meets(approver, rule.required_role):
            role = rule.required_role.value
            article = "an" if role[0] in "aeiou" else "a"
            problems.append(f"{rule.description}: {article} {role} must approve.")
    problems += [f"Send gate: {problem.message}" for problem in send_gate(revision)]
    return problems


def _meets(user: User, required: Role) -> bool:
    rank = {Role.TECHNICIAN: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}
    return rank[user.role] >= rank[required]


class NotApproved(NotAllowed):
    """The approval rules say no; `problems` says why, one reason each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("Not approved: " + " ".join(problems))
        self.problems = problems


def approve_revision(
    revision: ProposalRevision, *, approver: User, password: str, expected_version: int
) -> None:
    """A supervisor approves with their password: "I approve this remediation offer"."""
    if revision.version != expected_version:
        raise Conflict(revision, [])
    if authenticate(approver.email, password) is None:
        raise FieldError("password", "That is not your password; nothing was approved.")
    if problems := approval_problems(revision, approver):
        raise NotApproved(problems)
    with acting(approver, reason=APPROVAL_MEANING):
        move(revision, RevisionStatus.APPROVED)
        revision.reviewed_by = approver
        revision.reviewed_at = utcnow()
        revision.approval_meaning = APPROVAL_MEANING
        db.session.flush()
    webhooks.emit("proposal.approved", revision)


def request_changes(
    revision: ProposalRevision, *, reviewer: User, comment: str, expected_version: int
) -> None:
    """Return the revision to its author with comments."""
    if revision.version != expected_version:
        raise Conflict(revision, [])
    if not reviewer.has_role(Role.SUPERVISOR, Role.ADMIN):
        raise NotAllowed("Only supervisors review remediation offers.")
    if not comment.strip():
        raise FieldError("comment", "Say what should change.")
    _check_transition(revision, RevisionStatus.CHANGES_REQUESTED)
    with acting(reviewer, reason=comment.strip()):
        move(revision, RevisionStatus.CHANGES_REQUESTED)
        revision.reviewed_by = reviewer
        revision.reviewed_at = utcnow()
        revision.review_comment = comment.strip()
        db.session.flush()


def approval_queue(reviewer: User) -> list[ProposalRevision]:
    """Submitted revisions the reviewer can see, oldest first."""
    from fieldsvc.incidents.services import incidents_visible_to

    return list(
        db.session.scalars(
            select(ProposalRevision)
            .join(ProposalRevision.proposal)
            .join(Proposal.incident)
            .where(ProposalRevision.status == RevisionStatus.SUBMITTED)
            .where(incidents_visible_to(reviewer))
            .order_by(ProposalRevision.submitted_at)
            # What the queue shows and checks of each revision, loaded for all at once:
            # what each row refers to joined to it, its collections one statement each.
            .options(
                selectinload(ProposalRevision.lines)
                .joinedload(ProposalLine.part_order_line)
                .joinedload(PartOrderLine.part_order),
                joinedload(ProposalRevision.contact),
                joinedload(ProposalRevision.created_by),
                contains_eager(ProposalRevision.proposal)
                .contains_eager(Proposal.incident)
                .options(
                    joinedload(Incident.customer),
                    joinedload(Incident.site),  # each offer's delivery day is the site's
                    selectinload(Incident.proposals).selectinload(Proposal.revisions),
                    selectinload(Incident.part_orders).selectinload(PartOrder.lines),
                ),
            )
        )
    )


def _check_transition(revision: ProposalRevision, status: RevisionStatus) -> None:
    if status not in REVISION_TRANSITIONS[revision.status]:
        raise InvalidTransition(
            f"Revision {revision.number} is {revision.status.label.lower()}; "
            f"it cannot become {status.label.lower()}."
        )


def move(revision: ProposalRevision, status: RevisionStatus) -> None:
    _check_transition(revision, status)
    revision.status = status


def follow_offer(incident: Incident, status: IncidentStatus) -> None:
    """The incident's status follows its offer (sent, accepted, declined, expired) when
    the status table allows that step; a cancelled or resolved incident stays as it is."""
    if incident.status is not status and status in ALLOWED_TRANSITIONS[incident.status]:
        incident.status = status
        db.session.flush()


# --- when the customer says no, or says nothing ---------------------------------------------


def decline_revision(revision: ProposalRevision, *, reason: str, actor: User | None) -> None:
    """The customer declined: record why, and have the author deal with the parts."""
    if not reason.strip():
        raise FieldError("reason", "Say why the offer was declined.")
    with acting(actor, reason=reason.strip()):
        move(revision, RevisionStatus.DECLINED)
        db.session.flush()
        follow_offer(revision.proposal.incident, IncidentStatus.OPEN)
        _follow_up_on_parts(revision, "declined")


def expire_revisions(now: datetime | None = None) -> list[ProposalRevision]:
    """Sent offers past their validity expire; each author gets a follow-up for the parts."""
    now = now or utcnow()
    today = to_local(now).date()
    overdue = db.session.scalars(
        select(ProposalRevision).where(
            ProposalRevision.status == RevisionStatus.SENT,
            ProposalRevision.valid_until < today,
        )
    ).all()
    with acting(None, reason="valid-until date passed"):
        for revision in overdue:
            move(revision, RevisionStatus.EXPIRED)
            db.session.flush()
            follow_offer(revision.proposal.incident, IncidentStatus.OPEN)
            _follow_up_on_parts(revision, "expired", now=now)
    return list(overdue)


def _follow_up_on_parts(
    revision: ProposalRevision, what: str, now: datetime | None = None
) -> FollowUp | None:
    """Parts bought before a yes must now be cancelled or returned in time."""
    incident = revision.proposal.incident
    at_risk = money_at_risk(incident)
    if not at_risk.orders:
        return None
    now = now or utcnow()
    deadline = at_risk.earliest_return_deadline
    promise = (
        f"Offer {what}: cancel or return the parts ordered for {incident.reference} "
        f"({', '.join(str(o) for o in at_risk.orders)}, {at_risk.total:,.2f})"
        + (f" before {format_date(deadline)}" if deadline else "")
        + (f"; restocking fees {at_risk.restocking_fees:,.2f}" if at_risk.restocking_fees else "")
    )
    follow_up = FollowUp(
        incident=incident,
        owner_id=revision.proposal.author_id,
        created_by_id=revision.proposal.author_id,
        due_at=now + timedelta(days=1),
        promise=promise,
    )
    db.session.add(follow_up)
    db.session.flush()
    return follow_up
