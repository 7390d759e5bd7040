"""How the customer's side reads in a timeline: status page links, the customer's
answers (with the labels of the form that records one) and the survey."""

from fieldsvc.audit.wording import Facts, Wording, form_labels, register
from fieldsvc.portal.forms import SurveyForm
from fieldsvc.portal.models import CustomerResponse, ResponseKind, StatusLink, SurveyResponse
from fieldsvc.portal.services import DECLINE_REASONS
from fieldsvc.proposals.forms import RecordAnswerForm

VERBS = {
    ResponseKind.ACCEPTED: "accepted",
    ResponseKind.CHANGES_REQUESTED: "asked for changes to",
    ResponseKind.DECLINED: "declined",
}


def _answered(facts: Facts) -> str:
    """'Dana Whitfield accepted INC-2026-00001 revision 1 on the status page'."""
    who = facts.word("full_name") if facts.raw.get("full_name") else "The customer"
    try:
        verb = VERBS[ResponseKind(facts.raw.get("kind"))]
    except ValueError:
        verb = f"answered ({facts.word('kind')})"
    told = f"{who} {verb} {facts.word('revision_id')} {facts.lower('channel')}"
    if facts.raw.get("reason"):
        told += f": {facts.word('reason')}"
    return told


def _link_changed(facts: Facts) -> str | None:
    if facts.changed("revoked_at") and facts.raw.get("revoked_at"):
        return "Revoked the status page link"
    return None


register(
    StatusLink,
    Wording(
        noun="status page link",
        labels={
            "expires_at": "Valid until",
            "revoked_at": "Revoked",
            "revoked_by_id": "Revoked by",
            "last_used_at": "Last opened",
        },
        hidden=frozenset({"token_hash"}),
        part_of="incident_id",
        created=lambda facts: (
            f"Gave the customer a status page link, valid until {facts.word('expires_at')}"
        ),
        changed=_link_changed,
    ),
)
register(
    CustomerResponse,
    Wording(
        noun="customer's answer",
        labels=form_labels(RecordAnswerForm, full_name="Name given", reason="Why they declined")
        | {
            "revision_id": "Revision",
            "ip_address": "IP address",
            "user_agent": "Browser",
            "pdf_sha256": "PDF on the page (SHA-256)",
            "recorded_by_id": "Recorded by",
            "recorded_at": "Recorded",
            "scan_sha256": "Signed copy (SHA-256)",
        },
        values={
            "reason": lambda reason: DECLINE_REASONS.get(reason, reason),
        },
        # The link is the status page the headline names; the scan is kept by its hash.
        hidden=frozenset({"status_link_id", "scan_key", "scan_content_type", "scan_size"}),
        created=_answered,
    ),
)
register(
    SurveyResponse,
    Wording(
        noun="satisfaction survey",
        labels=form_labels(SurveyForm, score="Score"),
        hidden=frozenset({"status_link_id"}),
        part_of="incident_id",
        created=lambda facts: f"The customer rated us {facts.word('score')} out of 10",
    ),
)
