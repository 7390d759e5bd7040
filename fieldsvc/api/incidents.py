"""Incidents through the API: the list with the page's filters and keyset paging, one
incident with its timeline, reporting one (the form's idempotency key rule), correcting
it (If-Match), moving its status as staff may by hand, and its work log, communications
and follow-ups. Team scoping is the pages' own: another team's incident is 404."""

from typing import Any

import marshmallow as ma
from flask import url_for
from flask_smorest import abort
from marshmallow import fields, validate
from sqlalchemy.orm import joinedload, selectinload

from fieldsvc.api import auth, etags
from fieldsvc.api.blueprints import ApiBlueprint
from fieldsvc.api.schemas import Id, Moment, required_text, text
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents import queries, services
from fieldsvc.incidents.models import (
    CauseCategory,
    Channel,
    Direction,
    FollowUp,
    FollowUpOutcome,
    Incident,
    IncidentEquipment,
    IncidentStatus,
    ReportedVia,
    Severity,
)

blp = ApiBlueprint(
    "api_incidents",
    __name__,
    tag="Incidents",
    description="Incidents, work log, communications and follow-ups (scope incidents:read / write)",
)
READ = "incidents:read"
WRITE = "incidents:write"
SUBMISSION_KEY_MAX = 64


def _enum(enum) -> fields.Enum:
    return fields.Enum(enum, by_value=True)


# --- schemas ---------------------------------------------------------------------------------


class IncidentListArgs(ma.Schema):
    status = _enum(IncidentStatus)
    customer_id = Id()
    site_id = Id()
    severity = _enum(Severity)
    reported_via = _enum(ReportedVia)
    overdue = fields.Boolean(metadata={"description": "Only those with an overdue follow-up"})
    mine = fields.Boolean(metadata={"description": "Only those I reported or owe a follow-up on"})
    open_only = fields.Boolean()
    q = fields.String(load_default="", validate=validate.Length(max=200))
    before_id = fields.Integer(
        validate=validate.Range(1, 2**31 - 1),
        metadata={"description": "The `next_before_id` of the previous page (newest first)"},
    )
    limit = fields.Integer(load_default=25, validate=validate.Range(1, 100))


class IncidentRow(ma.Schema):
    id = fields.Integer()
    reference = fields.String()
    status = _enum(IncidentStatus)
    severity = _enum(Severity)
    reported_via = _enum(ReportedVia)
    actual = fields.String()
    created_at = Moment()
    customer_name = fields.String()
    site_name = fields.String(allow_none=True)
    overdue = fields.Boolean()
    equipment_tags = fields.List(fields.String())


class IncidentPage(ma.Schema):
    items = fields.List(fields.Nested(IncidentRow))
    next_before_id = fields.Integer(allow_none=True)


class Change(ma.Schema):
    field = fields.String()
    label = fields.String()
    before = fields.String()
    after = fields.String()


class TimelineEntry(ma.Schema):
    at = Moment(attribute="event.at")
    actor = fields.String(allow_none=True, metadata={"description": "null: the system"})
    action = fields.String(attribute="event.action")
    headline = fields.String()
    reason = fields.String(attribute="event.reason", allow_none=True)
    changes = fields.List(fields.Nested(Change))


class IncidentReportIn(ma.Schema):
    customer_id = Id(required=True)
    site_id = Id(allow_none=True, load_default=None)
    equipment_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=100))
    reported_via = fields.Enum(ReportedVia, by_value=True, required=True)
    severity = fields.Enum(Severity, by_value=True, required=True)
    occurred_at = Moment(required=True)
    expected = text(allow_none=True, load_default=None)
    actual = required_text()
    reporter_contact_id = Id(allow_none=True, load_default=None)
    reporter_name = text(200, allow_none=True, load_default=None)
    reporter_phone = text(50, allow_none=True, load_default=None)
    cause_category = fields.Enum(CauseCategory, by_value=True, load_default=CauseCategory.UNKNOWN)
    cause_description = text(allow_none=True, load_default=None)
    technician_statement = text(allow_none=True, load_default=None)
    claim_reference = text(100, allow_none=True, load_default=None)

    class Meta:
        ordered = True


class IncidentRead(IncidentReportIn):
    """One incident as staff read it (internal facts included, as on its page)."""

    id = fields.Integer()
    reference = fields.String()
    status = _enum(IncidentStatus)
    equipment_ids = fields.Method(
        "_equipment_ids", metadata={"type": "array", "items": {"type": "integer"}}
    )
    resolution_note = fields.String(allow_none=True)
    resolved_at = Moment(allow_none=True)
    next_follow_up_due_at = Moment(allow_none=True)
    created_at = Moment()
    created_by_id = fields.Integer(allow_none=True)

    def _equipment_ids(self, incident: Incident) -> list[int]:
        return sorted(link.equipment_id for link in incident.equipment_links)


class IncidentWithTimeline(IncidentRead):
    timeline = fields.Method("_timeline", metadata={"type": "array"})

    def _timeline(self, incident: Incident) -> list[dict[str, Any]]:
        entries = [
            {
                "event": entry.event,
                "actor": entry.event.actor.name if entry.event.actor else None,
                "headline": entry.headline,
                "changes": entry.changes,
            }
            for entry in queries.timeline(incident)
        ]
        return TimelineEntry(many=True).dump(entries)


class IncidentEditIn(IncidentReportIn):
    """The incident edit page's fields (photos aside), and why it changed."""

    reason = text(
        500,
        allow_none=True,
        load_default=None,
        metadata={"description": "Why it changed: kept in the timeline with the change"},
    )


class StatusChangeIn(ma.Schema):
    status = fields.Enum(
        IncidentStatus,
        by_value=True,
        required=True,
        metadata={
            "description": "A step staff may take by hand: resolved (with a note), closed, "
            "cancelled, or open again after resolved. Proposed and accepted come from "
            "sending a proposal and from the customer's answer, never from here."
        },
    )
    note = text(
        allow_none=True,
        load_default=None,
        metadata={"description": "How it was resolved (needed to resolve); why, otherwise"},
    )


class IdempotencyHeaders(ma.Schema):
    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        validate=validate.Length(min=1, max=SUBMISSION_KEY_MAX),
        metadata={
            "description": "The same key again (a retry after a time-out) returns the "
            "incident the first request made instead of a second one"
        },
    )


class WorkLogEntry(ma.Schema):
    id = fields.Integer(dump_only=True)
    user_id = fields.Integer(dump_only=True)
    user_name = fields.String(attribute="user.name", dump_only=True)
    started_at = Moment(required=True)
    minutes = fields.Integer(required=True, strict=True, metadata={"description": "1 to 1440"})
    note = required_text()


class CommunicationRecord(ma.Schema):
    id = fields.Integer(dump_only=True)
    user_name = fields.String(attribute="user.name", dump_only=True)
    channel = fields.Enum(Channel, by_value=True, required=True)
    direction = fields.Enum(Direction, by_value=True, required=True)
    summary = required_text()
    at = Moment(load_default=None, metadata={"description": "When; absent: now"})


class FollowUpRecord(ma.Schema):
    id = fields.Integer(dump_only=True)
    owner_id = Id(load_default=None, metadata={"description": "Absent: the token's user"})
    owner_name = fields.String(attribute="owner.name", dump_only=True)
    due_at = Moment(required=True)
    promise = required_text()
    created_at = Moment(dump_only=True)
    closed_at = Moment(dump_only=True, allow_none=True)
    outcome = fields.Enum(FollowUpOutcome, by_value=True, dump_only=True, allow_none=True)
    outcome_note = fields.String(dump_only=True, allow_none=True)


class CloseFollowUpIn(ma.Schema):
    outcome = fields.Enum(FollowUpOutcome, by_value=True, required=True)
    note = required_text()
    next_due_at = Moment(load_default=None, metadata={"description": "Needed unless done"})
    next_promise = text(allow_none=True, load_default=None)


class ClosedFollowUp(ma.Schema):
    closed = fields.Nested(FollowUpRecord)
    next = fields.Nested(FollowUpRecord, allow_none=True)


# --- views -----------------------------------------------------------------------------------


# Loader options as constants: the incident's statement is built once for each set.
_WITH_EQUIPMENT = (selectinload(Incident.equipment_links).joinedload(IncidentEquipment.equipment),)


def visible_incident_or_404(incident_id: int, *options) -> Incident:
    incident = services.get_visible_incident(auth.caller(), incident_id, *options)
    if incident is None:
        abort(404, message="No such incident, or it belongs to another team.")
    return incident


@blp.route("/incidents", methods=["GET"])
@blp.arguments(IncidentListArgs, location="query")
@blp.response(200, IncidentPage)
@blp.doc(summary="List incidents, newest first, with the incidents page's filters")
@auth.requires(READ)
def list_incidents(args: dict[str, Any]):
    filters = queries.IncidentFilters(
        status=args.get("status"),
        customer_id=args.get("customer_id"),
        site_id=args.get("site_id"),
        severity=args.get("severity"),
        reported_via=args.get("reported_via"),
        overdue=args.get("overdue", False),
        mine=args.get("mine", False),
        open_only=args.get("open_only", False),
        text=args["q"],
    )
    rows, next_before = queries.list_rows(
        auth.caller(), filters, before_id=args.get("before_id"), limit=args["limit"]
    )
    return {"items": rows, "next_before_id": next_before}


@blp.route("/incidents", methods=["POST"])
@blp.arguments(IdempotencyHeaders, location="headers")
@blp.arguments(IncidentReportIn)
@blp.response(201, IncidentRead)
@blp.alt_response(200, schema=IncidentRead, description="Already made by a request with this key")
@blp.doc(summary="Report an incident (send an Idempotency-Key to make retries safe)")
@auth.requires(WRITE)
def report_incident(headers: dict[str, Any], data: dict[str, Any]):
    key = headers.get("idempotency_key")
    if (done := services.find_submitted(auth.caller(), key)) is not None:
        return done, 200
    report = services.IncidentReport(**data)
    with auth.writing() as user:
        incident = services.report_incident(report, actor=user, submission_key=key)
    db.session.commit()
    location = url_for("api_incidents.get_incident", incident_id=incident.id)
    return incident, 201, {"Location": location}


@blp.route("/incidents/<int:incident_id>", methods=["GET"])
@blp.response(200, IncidentWithTimeline)
@blp.doc(
    summary="Read an incident with its timeline (what happened, when, by whom, why); "
    "its ETag, which changes with the incident's own fields and status, goes in If-Match "
    "when you change it"
)
@auth.requires(READ)
def get_incident(incident_id: int):
    incident = visible_incident_or_404(incident_id, *_WITH_EQUIPMENT)
    return incident, 200, {"ETag": etags.etag_of(IncidentRead, incident)}


@blp.route("/incidents/<int:incident_id>", methods=["PUT"])
@blp.arguments(IncidentEditIn)
@blp.response(200, IncidentRead)
@blp.doc(
    summary="Correct what was reported, as the incident's edit page does: every field is "
    "sent (one left out is emptied or takes its default). If-Match: its ETag (428 without, "
    "412 if someone changed it since); the timeline keeps every value before and after"
)
@auth.requires(WRITE)
def edit_incident(data: dict[str, Any], incident_id: int):
    incident = visible_incident_or_404(incident_id)
    etags.require_if_match(IncidentRead, incident)
    reason = data.pop("reason")
    with auth.writing() as user:
        services.update_incident(
            incident, services.IncidentReport(**data), actor=user, reason=reason
        )
    db.session.commit()
    return etags.answer(IncidentRead, incident)


@blp.route("/incidents/<int:incident_id>/status", methods=["POST"])
@blp.arguments(StatusChangeIn)
@blp.response(200, IncidentRead)
@blp.doc(
    summary="Move the incident on as staff may by hand (resolve with a note, close, "
    "cancel, reopen); If-Match, when sent, must be its current ETag (412 otherwise)"
)
@auth.requires(WRITE)
def change_status(data: dict[str, Any], incident_id: int):
    incident = visible_incident_or_404(incident_id)
    etags.check_if_match(IncidentRead, incident)
    with auth.writing() as user:
        services.change_status(incident, data["status"], actor=user, note=data["note"])
    db.session.commit()
    return etags.answer(IncidentRead, incident)


@blp.route("/incidents/<int:incident_id>/work-log", methods=["GET"])
@blp.response(200, WorkLogEntry(many=True))
@blp.doc(summary="The incident's work log, oldest first")
@auth.requires(READ)
def list_work(incident_id: int):
    return visible_incident_or_404(incident_id).work_log


@blp.route("/incidents/<int:incident_id>/work-log", methods=["POST"])
@blp.arguments(WorkLogEntry)
@blp.response(201, WorkLogEntry)
@blp.doc(summary="Log time spent on the incident")
@auth.requires(WRITE)
def log_work(data: dict[str, Any], incident_id: int):
    incident = visible_incident_or_404(incident_id)
    with auth.writing() as user:
        entry = services.log_work(incident, actor=user, **data)
    db.session.commit()
    return entry


@blp.route("/incidents/<int:incident_id>/communications", methods=["GET"])
@blp.response(200, CommunicationRecord(many=True))
@blp.doc(summary="Calls, e-mails and visits with the customer about the incident")
@auth.requires(READ)
def list_communications(incident_id: int):
    return visible_incident_or_404(incident_id).communications


@blp.route("/incidents/<int:incident_id>/communications", methods=["POST"])
@blp.arguments(CommunicationRecord)
@blp.response(201, CommunicationRecord)
@blp.doc(summary="Record a communication with the customer")
@auth.requires(WRITE)
def record_communication(data: dict[str, Any], incident_id: int):
    incident = visible_incident_or_404(incident_id)
    with auth.writing() as user:
        communication = services.record_communication(incident, actor=user, **data)
    db.session.commit()
    return communication


@blp.route("/incidents/<int:incident_id>/follow-ups", methods=["GET"])
@blp.response(200, FollowUpRecord(many=True))
@blp.doc(summary="The promises made to the customer about the incident, by due time")
@auth.requires(READ)
def list_follow_ups(incident_id: int):
    return visible_incident_or_404(incident_id).follow_ups


@blp.route("/incidents/<int:incident_id>/follow-ups", methods=["POST"])
@blp.arguments(FollowUpRecord)
@blp.response(201, FollowUpRecord)
@blp.doc(summary="Promise a follow-up: who will do what by when")
@auth.requires(WRITE)
def promise_follow_up(data: dict[str, Any], incident_id: int):
    incident = visible_incident_or_404(incident_id)
    with auth.writing() as user:
        follow_up = services.promise_follow_up(
            incident,
            actor=user,
            owner_id=data["owner_id"] or user.id,
            due_at=data["due_at"],
            promise=data["promise"],
        )
    db.session.commit()
    return follow_up


@blp.route("/incidents/<int:incident_id>/follow-ups/<int:follow_up_id>/close", methods=["POST"])
@blp.arguments(CloseFollowUpIn)
@blp.response(200, ClosedFollowUp)
@blp.doc(summary="Keep a promise: its outcome, and the next one unless it is done")
@auth.requires(WRITE)
def close_follow_up(data: dict[str, Any], incident_id: int, follow_up_id: int):
    incident = visible_incident_or_404(incident_id)
    follow_up = db.session.get(FollowUp, follow_up_id, options=[joinedload(FollowUp.owner)])
    if follow_up is None or follow_up.incident_id != incident.id:
        abort(404, message="No such follow-up on this incident.")
    with auth.writing() as user:
        following = services.close_follow_up(follow_up, actor=user, now=utcnow(), **data)
    db.session.commit()
    return {"closed": follow_up, "next": following}
