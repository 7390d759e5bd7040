"""How proposals read in a timeline: the proposal editor's labels, and what a revision,
its lines and its review mean."""

from fieldsvc.audit.wording import Facts, Wording, form_labels, humanise, name_actions, register
from fieldsvc.proposals.forms import (
    EditApprovalRuleForm,
    EditRevisionForm,
    ProposalLineForm,
    RequestChangesForm,
)
from fieldsvc.proposals.models import ApprovalRule, Proposal, ProposalLine, ProposalRevision


def _line(facts: Facts) -> str:
    """'Part: PTX-400 … — 2 × USD 350.00, discount 0 %, customer share 50 %'."""  # noqa: RUF002
    return (
        f"{facts.word('kind')}: {facts.word('description')} — "
        f"{facts.word('quantity')} × {facts.word('unit_price')}, "  # noqa: RUF001
        f"discount {facts.word('discount_pct')}, customer share {facts.word('customer_share_pct')}"
    )


def _acknowledged(keys: list[str]) -> str:
    """Acknowledged tone warnings by the words they were about (else by their rule)."""
    return ", ".join(
        f"“{key.split(':', 1)[1]}”" if ":" in key else humanise(key.replace("-", "_"))
        for key in keys
    )


def _revision_name(facts: Facts) -> str:
    return f"proposal {facts.raw.get('proposal_id')}, revision {facts.word('number')}"


def _drafted(facts: Facts) -> str:
    """'Drafted proposal 3, revision 1: 3 lines; return visit … with Tom Technician'."""
    lines = len(facts.parts_of("ProposalLine"))
    told = f"Drafted {_revision_name(facts)}"
    if lines:
        told += f": {lines} line{'' if lines == 1 else 's'}"
    if facts.raw.get("return_visit_at"):
        told += f"; return visit {facts.word('return_visit_at')}"
        if facts.raw.get("return_technician_id"):
            told += f" with {facts.word('return_technician_id')}"
    return told


def _revision_changed(facts: Facts) -> str | None:
    if not facts.changed("status"):
        return None
    name = f" {_subject(facts.record)}" if facts.record is not None else ""
    return f"Proposal{name}: {facts.lower('status')}"


def _subject(revision: ProposalRevision) -> str:
    return f"{revision.proposal_id}, revision {revision.number}"


def _proposal_started(facts: Facts) -> str:
    revisions = facts.parts_of("ProposalRevision")
    return _drafted(revisions[0]) if revisions else "Started a proposal"


_EDITOR = form_labels(EditRevisionForm, return_technician_id="Return visit technician")

register(
    Proposal,
    Wording(
        noun="proposal",
        labels={"author_id": "Author"},
        part_of="incident_id",
        subject=lambda proposal: str(proposal.id),
        created=_proposal_started,
    ),
)
register(
    ProposalRevision,
    Wording(
        noun="proposal",  # named with its revision: "proposal 3, revision 2"
        labels=_EDITOR
        | {
            "number": "Revision",
            "status": "Status",
            "submitted_at": "Submitted",
            "reviewed_by_id": "Reviewed by",
            "reviewed_at": "Reviewed",
            "approval_meaning": "Approval",
            "review_comment": form_labels(RequestChangesForm)["comment"],
            "sent_at": "Sent",
            "sent_by_id": "Sent by",
            "pdf_sha256": "PDF sent (SHA-256)",
            "customer_pays": "Customer pays",
            "customer_tax": "Tax",
            "we_absorb": "We absorb",
            "acknowledged_warnings": "Tone warnings acknowledged",
            "warning": "Tone warning",
        },
        values={"acknowledged_warnings": _acknowledged},
        hidden=frozenset({"pdf_key"}),
        part_of="proposal_id",
        told_with_parent=True,
        subject=_subject,
        created=_drafted,
        changed=_revision_changed,
    ),
)
register(
    ProposalLine,
    Wording(
        noun="line",
        labels=form_labels(ProposalLineForm, quantity="Quantity"),
        hidden=frozenset({"position"}),
        part_of="revision_id",
        told_with_parent=True,
        created=lambda facts: f"Added a line: {_line(facts)}",
        brief=_line,
    ),
)
register(
    ApprovalRule,
    Wording(noun="approval rule", labels=form_labels(EditApprovalRuleForm) | {"active": "Active"}),
)
name_actions({"acknowledge_tone_warning": "Acknowledged a tone warning"})
