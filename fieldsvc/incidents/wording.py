"""How an incident and what hangs off it read in a timeline: the labels of the report,
work log, communication and follow-up forms, and what each event means."""

from fieldsvc.audit.wording import Facts, Wording, form_labels, name_actions, register
from fieldsvc.incidents import forms
from fieldsvc.incidents.models import (
    Attachment,
    Communication,
    FollowUp,
    Incident,
    IncidentEquipment,
    WorkLogEntry,
)

DISPUTE_PACK = "dispute_pack"
INTERNAL_CAUSE = frozenset(
    {"cause_category", "cause_description", "technician_statement", "claim_reference"}
)


_CLOSING = form_labels(forms.CloseFollowUpForm)


def _reported(facts: Facts) -> str:
    """'Reported PT-107, PT-117 as high severity, cause: our technician'."""
    equipment = [part.word("equipment_id") for part in facts.parts_of("IncidentEquipment")]
    what = ", ".join(equipment) or facts.word("reference")
    told = f"Reported {what} as {facts.lower('severity')} severity"
    if facts.internal:
        told += f", cause: {facts.lower('cause_category')}"
    return told


def _incident_changed(facts: Facts) -> str | None:
    if facts.changed("status"):
        return f"Changed the status to {facts.lower('status')}"
    return None


def _work_logged(facts: Facts) -> str:
    who = facts.word("user_id")
    own = facts.event.actor is not None and facts.event.actor.name == who
    for_whom = "" if own else f" for {who}"
    return f"Logged {facts.word('minutes')} min of work{for_whom}: {facts.word('note')}"


def _communicated(facts: Facts) -> str:
    return f"{facts.word('channel')}, {facts.lower('direction')}: {facts.word('summary')}"


def _promised(facts: Facts) -> str:
    return (
        f"Promised “{facts.word('promise')}” by {facts.word('due_at')}, "
        f"owner {facts.word('owner_id')}"
    )


def _follow_up_changed(facts: Facts) -> str | None:
    if not (facts.changed("closed_at") and facts.raw.get("closed_at")):
        return None
    promise = f" “{facts.record.promise}”" if facts.record is not None else ""
    told = f"Closed the follow-up{promise}: {facts.lower('outcome')}"
    if facts.raw.get("outcome_note"):
        told += f" — {facts.word('outcome_note')}"
    return told


register(
    Incident,
    Wording(
        noun="incident",
        labels=form_labels(
            forms.ReportIncidentForm,
            reporter_contact_id="Reported by",
            reporter_name="Reporter's name",
            reporter_phone="Reporter's phone",
        )
        | {
            "reference": "Reference",
            "status": "Status",
            "resolution_note": "Resolution",
            "resolved_at": "Resolved",
            "equipment": "Equipment",
            "internal_cause_included": "Internal cause included",
        },
        hidden=frozenset({"submission_key", "next_follow_up_due_at"}),
        internal=INTERNAL_CAUSE,
        created=_reported,
        changed=_incident_changed,
    ),
)
# The keys that make a retried or replayed submission count once: how the app keeps it.
SENT_ONCE = frozenset({"submission_key"})

register(
    IncidentEquipment,
    Wording(
        noun="equipment",
        labels={"equipment_id": "Equipment"},
        part_of="incident_id",
        told_with_parent=True,
        created=lambda facts: f"Added equipment {facts.word('equipment_id')}",
        brief=lambda facts: facts.word("equipment_id"),
        listed=True,
    ),
)
register(
    Attachment,
    Wording(
        noun="photo",
        labels={"filename": "File", "uploaded_by_id": "Taken by", "uploaded_at": "Uploaded"}
        | form_labels(forms.ChoosePhotoForm),
        hidden=frozenset(
            {
                "storage_key",
                "thumbnail_key",
                "content_type",
                "size",
                "width",
                "height",
                "submission_key",
            }
        ),
        part_of="incident_id",
        subject=lambda photo: photo.filename,
        created=lambda facts: f"Added photo {facts.word('filename')}",
    ),
)
register(
    WorkLogEntry,
    Wording(
        noun="work log entry",
        labels=form_labels(forms.LogWorkForm) | {"user_id": "Who"},
        hidden=SENT_ONCE,
        part_of="incident_id",
        created=_work_logged,
    ),
)
register(
    Communication,
    Wording(
        noun="communication",
        labels=form_labels(forms.RecordCommunicationForm) | {"user_id": "Recorded by"},
        hidden=SENT_ONCE,
        part_of="incident_id",
        created=_communicated,
    ),
)
register(
    FollowUp,
    Wording(
        noun="follow-up",
        labels=form_labels(forms.PromiseFollowUpForm)
        | {
            "outcome": _CLOSING["outcome"],
            "outcome_note": _CLOSING["note"],
            "closed_at": "Closed",
            "closed_by_id": "Closed by",
        },
        hidden=SENT_ONCE | {"close_key"},
        part_of="incident_id",
        subject=lambda follow_up: f"“{follow_up.promise}”",
        created=_promised,
        changed=_follow_up_changed,
    ),
)
name_actions(
    {
        DISPUTE_PACK: "Produced a dispute pack",
        "change_equipment": "Changed the equipment",
    }
)
