"""Part orders and remediation proposals through the API.

Proposals are read whole (revisions, lines, totals, the send gate's state, the
approval, the customer's answer, the frozen PDF, the e-mails that carried it), drafted
or edited as the proposal editor does, submitted for approval, approved and sent, with
the revision's version as its ETag: each of these must send If-Match, and one based on
an older version gets 412. Submitting goes through the send gate, approving through the
approval rules, sending through both again (the fix exists before the customer is
told): a refusal lists the same problems the pages show, one per entry of `errors`.
"""

from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask import Response, url_for
from flask_smorest import abort
from marshmallow import fields, validate
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from fieldsvc.api import auth, etags
from fieldsvc.api.blueprints import ApiBlueprint
from fieldsvc.api.incidents import visible_incident_or_404
from fieldsvc.api.schemas import Id, Moment, Money, text
from fieldsvc.auth.models import Role
from fieldsvc.errors import problem
from fieldsvc.extensions import db
from fieldsvc.mail import services as mail
from fieldsvc.mail.models import EmailStatus
from fieldsvc.parts import services as part_services
from fieldsvc.parts.models import PartOrder, PartOrderStatus
from fieldsvc.portal.models import AnswerChannel, ResponseKind
from fieldsvc.proposals import pdf, sending
from fieldsvc.proposals import services as proposal_services
from fieldsvc.proposals.models import LineKind, Proposal, ProposalRevision, RevisionStatus
from fieldsvc.ranges import MAX_ORDER_LINES, MAX_PROPOSAL_LINES

blp = ApiBlueprint(
    "api_proposals",
    __name__,
    tag="Part orders and proposals",
    description="Part orders (scope parts:read / write) and proposals (proposals:read / write)",
)


def _enum(enum, **kwargs) -> fields.Enum:
    return fields.Enum(enum, by_value=True, **kwargs)


# --- part orders -----------------------------------------------------------------------------


class PartOrderLineSchema(ma.Schema):
    class Meta:
        name = "PartOrderLine"

    id = fields.Integer(dump_only=True)
    part_id = Id(allow_none=True, load_default=None)
    description = fields.String(required=True, validate=validate.Length(min=1, max=300))
    quantity = Money(required=True)
    unit_cost = Money(
        allow_none=True, load_default=None, metadata={"description": "null: list price"}
    )
    discount_pct = Money(load_default=Decimal("0"))


class PartOrderIn(ma.Schema):
    supplier_id = Id(required=True)
    po_number = text(60, allow_none=True, load_default=None)
    ordered_on = fields.Date(allow_none=True, load_default=None)
    expected_on = fields.Date(allow_none=True, load_default=None)
    return_window_days = fields.Integer(strict=True, allow_none=True, load_default=None)
    restocking_fee_pct = Money(load_default=Decimal("0"))
    lines = fields.List(
        fields.Nested(PartOrderLineSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_ORDER_LINES),
    )


class PartOrderOut(PartOrderIn):
    id = fields.Integer()
    incident_id = fields.Integer()
    supplier_name = fields.String(attribute="supplier.name")
    status = _enum(PartOrderStatus)
    received_on = fields.Date(allow_none=True)
    created_at = Moment()


class PartOrderStatusIn(ma.Schema):
    status = _enum(PartOrderStatus, required=True)


def _order_or_404(order_id: int) -> PartOrder:
    order = db.session.get(PartOrder, order_id)
    if order is None:
        abort(404, message="No such part order, or it belongs to another team.")
    visible_incident_or_404(order.incident_id)
    return order


@blp.route("/incidents/<int:incident_id>/part-orders", methods=["GET"])
@blp.response(200, PartOrderOut(many=True))
@blp.doc(summary="The incident's part orders")
@auth.requires("parts:read")
def list_part_orders(incident_id: int):
    return visible_incident_or_404(incident_id).part_orders


@blp.route("/incidents/<int:incident_id>/part-orders", methods=["POST"])
@blp.arguments(PartOrderIn)
@blp.response(201, PartOrderOut)
@blp.doc(summary="Record a part order for the incident (to order until it is placed)")
@auth.requires("parts:write")
def order_parts(data: dict[str, Any], incident_id: int):
    incident = visible_incident_or_404(incident_id)
    lines = [part_services.OrderLineInput(**line) for line in data.pop("lines")]
    with auth.writing() as user:
        order = part_services.order_parts(
            incident, part_services.OrderDetails(**data), lines, actor=user
        )
    db.session.commit()
    return order, 201, {"Location": url_for("api_proposals.get_part_order", order_id=order.id)}


@blp.route("/part-orders/<int:order_id>", methods=["GET"])
@blp.response(200, PartOrderOut)
@blp.doc(summary="Read a part order")
@auth.requires("parts:read")
def get_part_order(order_id: int):
    return _order_or_404(order_id)


@blp.route("/part-orders/<int:order_id>/status", methods=["POST"])
@blp.arguments(PartOrderStatusIn)
@blp.response(200, PartOrderOut)
@blp.doc(summary="Move a part order on: ordered (needs PO number and date), shipped, …")
@auth.requires("parts:write")
def change_part_order_status(data: dict[str, Any], order_id: int):
    order = _order_or_404(order_id)
    with auth.writing() as user:
        part_services.change_part_order_status(order, data["status"], actor=user)
    db.session.commit()
    return order


# --- proposals -------------------------------------------------------------------------------


class LineIn(ma.Schema):
    kind = _enum(LineKind, required=True)
    description = fields.String(required=True, validate=validate.Length(min=1, max=300))
    quantity = Money(required=True)
    unit_price = Money(required=True)
    discount_pct = Money(load_default=Decimal("0"))
    customer_share_pct = Money(load_default=Decimal("100"))
    part_order_line_id = Id(allow_none=True, load_default=None)


class RevisionIn(ma.Schema):
    """A draft as the proposal editor saves it: the customer's texts, the return visit,
    the contact and the lines (the whole list: it replaces the lines there were)."""

    what_happened = text(load_default="")
    already_done = text(load_default="")
    plan = text(load_default="")
    contact_id = Id(allow_none=True, load_default=None)
    return_visit_at = Moment(allow_none=True, load_default=None)
    return_technician_id = Id(allow_none=True, load_default=None)
    valid_until = fields.Date(allow_none=True, load_default=None)
    lines = fields.List(
        fields.Nested(LineIn), load_default=list, validate=validate.Length(max=MAX_PROPOSAL_LINES)
    )


class LineOut(ma.Schema):
    id = fields.Integer()
    position = fields.Integer()
    kind = _enum(LineKind)
    description = fields.String()
    quantity = Money()
    unit_price = Money()
    discount_pct = Money()
    customer_share_pct = Money()
    part_order_line_id = fields.Integer(allow_none=True)
    list_value = Money()
    net = Money()
    customer_pays = Money()
    we_absorb = Money()


class TotalsOut(ma.Schema):
    list_value = Money()
    discount = Money()
    net = Money()
    customer_pays = Money()
    tax = Money()
    customer_total = Money()
    we_absorb = Money()
    our_cost = Money(metadata={"description": "Only the lines whose cost is known"})
    cost_complete = fields.Boolean()


class GateOut(ma.Schema):
    open = fields.Boolean(metadata={"description": "Whether it may go to a supervisor"})
    problems = fields.List(fields.String(), metadata={"description": "What is missing, in words"})


class ApprovalOut(ma.Schema):
    submitted_at = Moment(allow_none=True)
    reviewed_by = fields.String(allow_none=True)
    reviewed_at = Moment(allow_none=True)
    meaning = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)


class AnswerOut(ma.Schema):
    kind = _enum(ResponseKind)
    channel = _enum(AnswerChannel)
    full_name = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    comment = fields.String()
    answered_at = Moment(attribute="created_at")
    recorded_by = fields.String(attribute="recorded_by.name", allow_none=True)


class SentOut(ma.Schema):
    sent_at = Moment()
    sent_by = fields.String(allow_none=True)
    pdf_sha256 = fields.String()
    pdf_url = fields.String()


class RevisionOut(ma.Schema):
    class Meta:
        name = "Revision"

    id = fields.Integer()
    proposal_id = fields.Integer()
    number = fields.Integer()
    status = _enum(RevisionStatus)
    version = fields.Integer(metadata={"description": 'The ETag is "v<version>"'})
    what_happened = fields.String()
    already_done = fields.String()
    plan = fields.String()
    contact_id = fields.Integer(allow_none=True)
    return_visit_at = Moment(allow_none=True)
    return_technician_id = fields.Integer(allow_none=True)
    valid_until = fields.Date(allow_none=True)
    created_at = Moment()
    lines = fields.List(fields.Nested(LineOut))
    totals = fields.Nested(TotalsOut)
    send_gate = fields.Nested(GateOut)
    approval = fields.Nested(ApprovalOut)
    sent = fields.Nested(SentOut, allow_none=True)
    customer_answer = fields.Nested(AnswerOut, allow_none=True)


class RevisionSummary(ma.Schema):
    number = fields.Integer()
    status = _enum(RevisionStatus)
    created_at = Moment()
    sent_at = Moment(allow_none=True)


class ProposalOut(ma.Schema):
    class Meta:
        name = "Proposal"

    id = fields.Integer()
    incident_id = fields.Integer()
    author = fields.String(attribute="author.name")
    created_at = Moment()
    revisions = fields.List(fields.Nested(RevisionSummary))
    current = fields.Nested(RevisionOut)


class EmailOut(ma.Schema):
    id = fields.Integer()
    to_address = fields.String()
    subject = fields.String()
    status = _enum(EmailStatus)
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    created_at = Moment()
    last_attempt_at = Moment(allow_none=True)
    sent_at = Moment(allow_none=True)


def _revision(revision: ProposalRevision) -> dict[str, Any]:
    """A revision with what the pages work out about it, through the same services."""
    priced, totals = proposal_services.price(revision)
    problems = proposal_services.send_gate(revision) if revision.editable else []
    lines = [
        {
            **{
                name: getattr(p.line, name)
                for name in LineOut._declared_fields
                if hasattr(p.line, name)
            },
            "list_value": p.amounts.list_value,
            "net": p.amounts.net,
            "customer_pays": p.amounts.customer_pays,
            "we_absorb": p.amounts.we_absorb,
        }
        for p in priced
    ]
    sent = None
    if revision.sent_at is not None and revision.pdf_key is not None:
        sent = {
            "sent_at": revision.sent_at,
            "sent_by": revision.sent_by.name if revision.sent_by else None,
            "pdf_sha256": revision.pdf_sha256,
            "pdf_url": url_for(
                "api_proposals.frozen_pdf", proposal_id=revision.proposal_id, number=revision.number
            ),
        }
    values = {
        name: getattr(revision, name)
        for name in RevisionOut._declared_fields
        if hasattr(revision, name) and name not in ("lines", "sent")
    }
    return {
        **values,
        "lines": lines,
        "totals": totals,
        "send_gate": {
            "open": revision.editable and not problems,
            "problems": [p.message for p in problems],
        },
        "approval": {
            "submitted_at": revision.submitted_at,
            "reviewed_by": revision.reviewed_by.name if revision.reviewed_by else None,
            "reviewed_at": revision.reviewed_at,
            "meaning": revision.approval_meaning,
            "comment": revision.review_comment,
        },
        "sent": sent,
        "customer_answer": revision.response,
        "version": revision.version,
    }


def _proposal(proposal: Proposal) -> dict[str, Any]:
    return {
        "id": proposal.id,
        "incident_id": proposal.incident_id,
        "author": proposal.author,
        "created_at": proposal.created_at,
        "revisions": proposal.revisions,
        "current": _revision(proposal.current),
    }


def _proposal_or_404(proposal_id: int) -> Proposal:
    proposal = db.session.scalar(
        select(Proposal)
        .where(Proposal.id == proposal_id)
        .options(selectinload(Proposal.revisions).selectinload(ProposalRevision.lines))
    )
    if proposal is None:
        abort(404, message="No such proposal, or it belongs to another team.")
    visible_incident_or_404(proposal.incident_id)  # the incident's team rule decides
    return proposal


def _revision_or_404(proposal_id: int, number: int) -> ProposalRevision:
    proposal = _proposal_or_404(proposal_id)
    for revision in proposal.revisions:
        if revision.number == number:
            return revision
    abort(404, message=f"Proposal {proposal_id} has no revision {number}.")


def _draft(data: dict[str, Any]) -> proposal_services.RevisionDraft:
    lines = [proposal_services.LineDraft(**line) for line in data.pop("lines")]
    return proposal_services.RevisionDraft(**data, lines=lines)


def _etag(revision: ProposalRevision) -> dict[str, str]:
    return {"ETag": f'"v{revision.version}"'}


@blp.route("/incidents/<int:incident_id>/proposals", methods=["GET"])
@blp.response(200, ProposalOut(many=True))
@blp.doc(summary="The incident's proposals, each with its current revision")
@auth.requires("proposals:read")
def list_proposals(incident_id: int):
    incident = visible_incident_or_404(incident_id)
    return [_proposal(proposal) for proposal in incident.proposals]


@blp.route("/incidents/<int:incident_id>/proposals", methods=["POST"])
@blp.arguments(RevisionIn)
@blp.response(201, ProposalOut)
@blp.doc(summary="Draft a remediation proposal for the incident (revision 1, a draft)")
@auth.requires("proposals:write")
def draft_proposal(data: dict[str, Any], incident_id: int):
    incident = visible_incident_or_404(incident_id)
    with auth.writing() as user:
        proposal = proposal_services.draft_proposal(incident, _draft(data), actor=user)
    db.session.commit()
    location = url_for("api_proposals.get_proposal", proposal_id=proposal.id)
    return _proposal(proposal), 201, {"Location": location, **_etag(proposal.current)}


@blp.route("/proposals/<int:proposal_id>", methods=["GET"])
@blp.response(200, ProposalOut)
@blp.doc(summary="Read a proposal: its revisions and the current one in full")
@auth.requires("proposals:read")
def get_proposal(proposal_id: int):
    proposal = _proposal_or_404(proposal_id)
    return _proposal(proposal), 200, _etag(proposal.current)


@blp.route("/proposals/<int:proposal_id>/current", methods=["PUT"])
@blp.arguments(RevisionIn)
@blp.response(200, RevisionOut)
@blp.doc(
    summary="Edit the current revision (If-Match: its ETag; 412 if someone saved since). "
    "A reviewed or sent revision stays as it was: the edit becomes the next revision."
)
@auth.requires("proposals:write")
def save_revision(data: dict[str, Any], proposal_id: int):
    proposal = _proposal_or_404(proposal_id)
    expected = etags.expected_version()
    with auth.writing() as user:
        revision = proposal_services.save_revision(
            proposal.current, _draft(data), actor=user, expected_version=expected
        )
    db.session.commit()
    return _revision(revision), 200, _etag(revision)


@blp.route("/proposals/<int:proposal_id>/revisions/<int:number>", methods=["GET"])
@blp.response(200, RevisionOut)
@blp.doc(summary="Read one revision: lines, totals, send gate, approval, the customer's answer")
@auth.requires("proposals:read")
def get_revision(proposal_id: int, number: int):
    revision = _revision_or_404(proposal_id, number)
    return _revision(revision), 200, _etag(revision)


@blp.route("/proposals/<int:proposal_id>/revisions/<int:number>/proposal.pdf", methods=["GET"])
@blp.response(
    200,
    {"type": "string", "format": "binary"},
    content_type="application/pdf",
    description="The PDF exactly as the customer was sent it",
)
@blp.doc(summary="The frozen PDF of a sent revision (404 before it is sent)")
@auth.requires("proposals:read")
def frozen_pdf(proposal_id: int, number: int):
    revision = _revision_or_404(proposal_id, number)
    body = sending.frozen_pdf(revision)
    if body is None:
        abort(404, message=f"Revision {number} was not sent: it has no frozen PDF.")
    return Response(
        body,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{pdf.pdf_filename(revision)}"',
            "ETag": f'"{revision.pdf_sha256}"',
        },
    )


@blp.route("/proposals/<int:proposal_id>/revisions/<int:number>/emails", methods=["GET"])
@blp.response(200, EmailOut(many=True))
@blp.doc(summary="The e-mails that carried the revision's PDF, and how their delivery went")
@auth.requires("proposals:read")
def emails(proposal_id: int, number: int):
    return sending.emails_of(_revision_or_404(proposal_id, number))


# --- submit, approve, send ---------------------------------------------------------------------


class ApproveIn(ma.Schema):
    password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=1, max=1000),
        metadata={
            "description": "The approver's own password, as on the approval page: approving "
            "signs \u201cI approve this remediation offer\u201d. A service account has none, "
            "so it cannot approve."
        },
    )


def _refused(error: Exception, problems: list[str], field: str):
    """A rule's refusal as problem details, one entry of `errors` per problem."""
    db.session.rollback()
    return problem(
        getattr(error, "status", 400),
        str(error),
        errors=[{"field": field, "message": message} for message in problems],
    )


@blp.route("/proposals/<int:proposal_id>/submit", methods=["POST"])
@blp.response(200, RevisionOut)
@blp.doc(
    summary="Submit the current revision for approval (If-Match: its ETag). Refused while "
    "the send gate has problems: each is listed in `errors`."
)
@auth.requires("proposals:write")
def submit_revision(proposal_id: int):
    proposal = _proposal_or_404(proposal_id)
    expected = etags.expected_version()
    try:
        with auth.writing() as user:
            proposal_services.submit_revision(
                proposal.current, actor=user, expected_version=expected
            )
    except proposal_services.GateClosed as closed:
        return _refused(closed, [p.message for p in closed.problems], "send_gate")
    db.session.commit()
    return _revision(proposal.current), 200, _etag(proposal.current)


@blp.route("/proposals/<int:proposal_id>/approve", methods=["POST"])
@blp.arguments(ApproveIn)
@blp.response(200, RevisionOut)
@blp.doc(
    summary="Approve the submitted revision (supervisors and admins; If-Match: its ETag) "
    "with your password. Refused for the proposal's author, above your approval limit, "
    "by an approval rule or the send gate: each reason is listed in `errors`."
)
@auth.requires("proposals:write", Role.SUPERVISOR, Role.ADMIN)
def approve_revision(data: dict[str, Any], proposal_id: int):
    proposal = _proposal_or_404(proposal_id)
    expected = etags.expected_version()
    try:
        with auth.writing() as user:
            proposal_services.approve_revision(
                proposal.current,
                approver=user,
                password=data["password"],
                expected_version=expected,
            )
    except proposal_services.NotApproved as refused:
        return _refused(refused, refused.problems, "approval")
    db.session.commit()
    return _revision(proposal.current), 200, _etag(proposal.current)


@blp.route("/proposals/<int:proposal_id>/send", methods=["POST"])
@blp.response(200, RevisionOut)
@blp.doc(
    summary="Send the approved revision to the customer (supervisors and admins; If-Match: "
    "its ETag): the PDF is frozen and e-mailed with the status-page link. Refused, with "
    "each problem in `errors`, unless the fix exists: every part ordered and arriving "
    "before the return visit, the visit scheduled, a supervisor's approval."
)
@auth.requires("proposals:write", Role.SUPERVISOR, Role.ADMIN)
def send_revision(proposal_id: int):
    proposal = _proposal_or_404(proposal_id)
    expected = etags.expected_version()
    try:
        with auth.writing() as user:
            sent = sending.send_revision(proposal.current, sender=user, expected_version=expected)
    except sending.SendRefused as refused:
        return _refused(refused, refused.problems, "send")
    mail.deliver_later(sent.email)  # commits first
    return _revision(sent.revision), 200, _etag(sent.revision)
