"""Proposal pages: the editor with its totals, tone warnings and send-gate checklist,
revisions and their differences, and the supervisors' approval queue and page."""

from decimal import Decimal

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import SelectChoice

from fieldsvc import clock, records
from fieldsvc.auth.access import EVERYONE, role_required
from fieldsvc.auth.models import Role, User
from fieldsvc.customers.models import Contact
from fieldsvc.database import utcnow
from fieldsvc.errors import DomainError, FieldError
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Incident
from fieldsvc.incidents.views import get_visible_or_404
from fieldsvc.mail import services as mail
from fieldsvc.parts.models import PartOrder
from fieldsvc.portal import services as answers
from fieldsvc.portal.models import AnswerChannel, ResponseKind
from fieldsvc.portal.scans import Scan, read_scan
from fieldsvc.portal.services import DECLINE_REASONS
from fieldsvc.proposals import forms, pdf, sending, services
from fieldsvc.proposals.models import (
    APPROVAL_MEANING,
    ApprovalRule,
    LineKind,
    Proposal,
    ProposalRevision,
    RevisionStatus,
)
from fieldsvc.ranges import hidden_number
from fieldsvc.records import Column, RecordType
from fieldsvc.sizes import megabytes
from fieldsvc.storage import stored_file_response

bp = Blueprint("proposals", __name__)


def get_proposal_or_404(proposal_id: int) -> Proposal:
    # The pages read every part order's lines (choices, send gate, money at risk) and
    # the revisions' lines: one query each, not one per order.
    proposal = db.session.scalar(
        select(Proposal)
        .where(Proposal.id == proposal_id)
        .options(
            selectinload(Proposal.incident)
            .selectinload(Incident.part_orders)
            .selectinload(PartOrder.lines),
            selectinload(Proposal.revisions).selectinload(ProposalRevision.lines),
        )
    )
    if proposal is None:
        abort(404, "No such proposal.")
    get_visible_or_404(proposal.incident_id)  # the incident's team rule decides
    return proposal


@bp.post("/incidents/<int:incident_id>/proposals")
@role_required(*EVERYONE)
def create(incident_id: int):
    """A first draft: the parts already ordered as lines, sent to the reporting contact."""
    incident = get_visible_or_404(incident_id)
    form = forms.VersionForm()
    if not form.validate_on_submit():
        abort(400, "The form expired; reload the incident page and try again.")
    proposal = services.draft_proposal(incident, _first_draft(incident), actor=current_user)
    db.session.commit()
    flash("Proposal drafted from the parts already ordered.", "success")
    return redirect(url_for(".edit", proposal_id=proposal.id))


def _first_draft(incident: Incident) -> services.RevisionDraft:
    lines = [
        services.LineDraft(
            kind=LineKind.PART,
            description=ordered.description,
            quantity=ordered.quantity,
            unit_price=ordered.part.list_price if ordered.part else ordered.unit_cost,
            part_order_line_id=ordered.id,
        )
        for order in incident.part_orders
        if order.status.value != "cancelled"
        for ordered in order.lines
    ]
    return services.RevisionDraft(contact_id=incident.reporter_contact_id, lines=lines)


@bp.route("/proposals/<int:proposal_id>", methods=["GET", "POST"])
@role_required(*EVERYONE)
def edit(proposal_id: int):
    proposal = get_proposal_or_404(proposal_id)
    revision = proposal.current
    form = forms.EditRevisionForm(obj=None if request.method == "POST" else revision)
    conflict = None
    if form.validate_on_submit():
        try:
            saved = services.save_revision(
                revision,
                _draft(form),
                actor=current_user,
                expected_version=hidden_number(form.version.data, "version"),
                seen_seq=hidden_number(form.seen_seq.data, "seen_seq"),
            )
            db.session.commit()
        except services.Conflict as error:
            conflict = error
            revision = db.session.get(ProposalRevision, revision.id)
        except (FieldError, DomainError) as error:
            db.session.rollback()
            flash(str(error), "error")
        else:
            if saved is not revision:
                flash(
                    f"Saved as revision {saved.number}; revision {revision.number} stays as it "
                    "was and this one needs approval again.",
                    "success",
                )
            else:
                flash("Proposal saved.", "success")
            return redirect(url_for(".edit", proposal_id=proposal.id))
    if request.method == "GET":
        form.version.data = revision.version
        form.seen_seq.data = services.last_seq()
    elif conflict is not None:
        # Keep what the person typed; the next save is based on what is saved now.
        form.version.data = revision.version
        form.seen_seq.data = services.last_seq()
    status = 409 if conflict else 400 if form.is_submitted() else 200
    return _editor(proposal, revision, form, conflict=conflict), status


def _editor(proposal: Proposal, revision: ProposalRevision, form, conflict=None, answer_form=None):
    incident = proposal.incident
    if answer_form is None and revision.status is RevisionStatus.SENT:
        answer_form = forms.RecordAnswerForm(formdata=None)
        answer_form.answered_at.data = clock.to_local(utcnow(), clock.reader_zone()).replace(
            tzinfo=None, second=0, microsecond=0
        )
    if answer_form is not None:
        limit = megabytes(current_app.config["MAX_SCAN_BYTES"])
        answer_form.scan.description = (
            f"A PDF, or a photo of the signed page (JPEG, PNG or WebP), at most {limit}. "
            "Only staff of this incident's team can download it."
        )
    _offer_choices(form, incident)
    priced, totals = services.price(revision)
    return render_template(
        "proposals/edit.html",
        proposal=proposal,
        revision=revision,
        incident=incident,
        form=form,
        priced=priced,
        totals=totals,
        gate=services.send_gate(revision),
        tone=services.tone_warnings(revision),
        at_risk=services.money_at_risk(incident),
        conflict=conflict,
        version_form=forms.VersionForm(formdata=None, version=revision.version),
        acknowledge_form=forms.AcknowledgeForm(formdata=None, version=revision.version),
        send_problems=sending.send_problems(revision, current_user)
        if revision.status is RevisionStatus.APPROVED
        else [],
        emails=sending.emails_of(revision),
        decline_reasons=DECLINE_REASONS,
        answer_form=answer_form,
    )


def _offer_choices(form, incident: Incident) -> None:
    forms.pad_blank_rows(form.lines)
    contacts = db.session.scalars(
        select(Contact).where(Contact.customer_id == incident.customer_id).order_by(Contact.name)
    )
    form.contact_id.choices = [SelectChoice("", "Choose…")] + [
        SelectChoice(c.id, f"{c.name} <{c.email}>" if c.email else f"{c.name} (no e-mail)")
        for c in contacts
    ]
    technicians = db.session.scalars(select(User).where(User.active).order_by(User.name))
    form.return_technician_id.choices = [SelectChoice("", "Choose…")] + [
        SelectChoice(u.id, u.name) for u in technicians
    ]
    ordered = [line for order in incident.part_orders for line in order.lines]
    part_choices = [SelectChoice("", "—")] + [
        SelectChoice(line.id, f"{line.part_order}: {line}") for line in ordered
    ]
    for entry in form.lines:
        entry.form.part_order_line_id.choices = part_choices


def _draft(form) -> services.RevisionDraft:
    lines = [
        services.LineDraft(
            kind=LineKind(entry.form.kind.data),
            description=entry.form.description.data or "",
            quantity=_number(entry.form.quantity.data, "0"),
            unit_price=_number(entry.form.unit_price.data, "0"),
            discount_pct=_number(entry.form.discount_pct.data, "0"),
            customer_share_pct=_number(entry.form.customer_share_pct.data, "100"),
            part_order_line_id=entry.form.part_order_line_id.data,
        )
        for entry in form.lines
        if not entry.form.is_blank
    ]
    return services.RevisionDraft(
        what_happened=form.what_happened.data or "",
        already_done=form.already_done.data or "",
        plan=form.plan.data or "",
        contact_id=form.contact_id.data,
        return_visit_at=form.return_visit_at.utc if form.return_visit_at.data else None,
        return_technician_id=form.return_technician_id.data,
        valid_until=form.valid_until.data,
        lines=lines,
    )


def _number(value: Decimal | None, default: str) -> Decimal:
    return value if value is not None else Decimal(default)


@bp.post("/proposals/<int:proposal_id>/acknowledge")
@role_required(*EVERYONE)
def acknowledge(proposal_id: int):
    proposal = get_proposal_or_404(proposal_id)
    form = forms.AcknowledgeForm()
    if form.validate_on_submit():
        services.acknowledge_warning(proposal.current, form.key.data or "", actor=current_user)
        db.session.commit()
        flash("Tone warning acknowledged; it is kept in the history.", "success")
    return redirect(url_for(".edit", proposal_id=proposal.id, _anchor="text"))


@bp.post("/proposals/<int:proposal_id>/submit")
@role_required(*EVERYONE)
def submit(proposal_id: int):
    proposal = get_proposal_or_404(proposal_id)
    form = forms.VersionForm()
    if not form.validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    try:
        services.submit_revision(
            proposal.current,
            actor=current_user,
            expected_version=hidden_number(form.version.data, "version"),
        )
    except services.GateClosed as closed:
        db.session.rollback()
        flash("Not submitted: the checklist below is not complete yet.", "error")
        revision = proposal.current
        editor = forms.EditRevisionForm(formdata=None, obj=revision)
        editor.version.data, editor.seen_seq.data = revision.version, services.last_seq()
        return _editor(proposal, revision, editor), closed.status
    db.session.commit()
    flash("Submitted for approval.", "success")
    return redirect(url_for(".edit", proposal_id=proposal.id))


@bp.post("/proposals/<int:proposal_id>/duplicate")
@role_required(*EVERYONE)
def duplicate(proposal_id: int):
    proposal = get_proposal_or_404(proposal_id)
    if not forms.VersionForm().validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    copy = services.duplicate_proposal(proposal, actor=current_user)
    db.session.commit()
    flash("A copy was made as a new draft; it needs its own approval.", "success")
    return redirect(url_for(".edit", proposal_id=copy.id))


@bp.get("/proposals/<int:proposal_id>/revisions/<int:number>")
@role_required(*EVERYONE)
def revision(proposal_id: int, number: int):
    proposal = get_proposal_or_404(proposal_id)
    revisions = {r.number: r for r in proposal.revisions}
    if number not in revisions:
        abort(404, "No such revision.")
    shown = revisions[number]
    priced, totals = services.price(shown)
    previous = revisions.get(number - 1)
    return render_template(
        "proposals/revision.html",
        proposal=proposal,
        revision=shown,
        priced=priced,
        totals=totals,
        previous=previous,
        differences=services.differences(previous, shown) if previous else [],
    )


@bp.get("/proposals/<int:proposal_id>/revisions/<int:number>/proposal.pdf")
@role_required(*EVERYONE)
def preview_pdf(proposal_id: int, number: int):
    """The PDF exactly as sent, or as the customer would get it: marked DRAFT until a
    supervisor approved it."""
    # One revision, not the whole proposal page's data: a frozen download is a file read.
    shown = db.session.scalar(
        select(ProposalRevision).where(
            ProposalRevision.proposal_id == proposal_id, ProposalRevision.number == number
        )
    )
    if shown is None:
        abort(404, "No such revision.")
    get_visible_or_404(shown.proposal.incident_id)  # the incident's team rule decides
    disposition = f'inline; filename="{pdf.pdf_filename(shown)}"'
    if shown.pdf_key is not None:
        return stored_file_response(
            shown.pdf_key, content_type="application/pdf", disposition=disposition
        )
    body = pdf.render_proposal_pdf(shown, draft=pdf.is_draft(shown))
    return Response(body, mimetype="application/pdf", headers={"Content-Disposition": disposition})


# --- an answer the customer gave by phone or on paper -----------------------------------------


@bp.post("/proposals/<int:proposal_id>/revisions/<int:number>/answer")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def record_answer(proposal_id: int, number: int):
    """A supervisor records what the customer answered by phone, on paper, by e-mail or
    in person, as the customer's answer to this sent revision."""
    proposal = get_proposal_or_404(proposal_id)
    revision = next((r for r in proposal.revisions if r.number == number), None)
    if revision is None:
        abort(404, "No such revision.")
    answers.check_answerable(revision)  # not sent, replaced, expired, answered: 409
    form = forms.RecordAnswerForm()
    if form.validate_on_submit():
        try:
            taken = answers.TakenAnswer(
                answer=answers.Answer(
                    kind=ResponseKind(form.kind.data),
                    full_name=form.full_name.data or "",
                    comment=form.comment.data or "",
                    reason=form.reason.data or None,
                ),
                channel=AnswerChannel(form.channel.data),
                answered_at=form.answered_at.utc,
                scan=_scan(form.scan.data),
            )
            response, emails = answers.record_answer(revision, taken, actor=current_user)
            db.session.commit()
        except FieldError as error:
            db.session.rollback()
            getattr(form, error.field).errors.append(error.message)
        else:
            for email in emails:
                mail.deliver_later(email)
            flash(
                f"Recorded as the customer's answer: {response.kind.label.lower()} "
                f"{response.channel.label.lower()}, by {response.full_name}.",
                "success",
            )
            return redirect(url_for(".edit", proposal_id=proposal.id, _anchor="sent"))
    editor = forms.EditRevisionForm(formdata=None, obj=revision)
    editor.version.data, editor.seen_seq.data = revision.version, services.last_seq()
    return _editor(proposal, revision, editor, answer_form=form), 400


def _scan(upload) -> Scan | None:
    if not upload or not upload.filename:
        return None
    limit = current_app.config["MAX_SCAN_BYTES"]
    return read_scan(
        upload.stream.read(limit + 1),
        upload.filename,
        max_bytes=limit,
        max_pixels=current_app.config["MAX_PHOTO_PIXELS"],
    )


@bp.get("/proposals/<int:proposal_id>/revisions/<int:number>/signed-copy")
@role_required(*EVERYONE)
def signed_copy(proposal_id: int, number: int):
    """The scan kept with an answer taken by phone or on paper: for the incident's team."""
    shown = db.session.scalar(
        select(ProposalRevision).where(
            ProposalRevision.proposal_id == proposal_id, ProposalRevision.number == number
        )
    )
    if shown is None:
        abort(404, "No such revision.")
    incident = get_visible_or_404(shown.proposal.incident_id)  # the team rule decides
    answer = shown.response
    if answer is None or answer.scan_key is None or answer.scan_content_type is None:
        abort(404, "No signed copy was recorded with this revision's answer.")
    extension = answer.scan_key.rsplit(".", 1)[-1]
    return stored_file_response(
        answer.scan_key,
        content_type=answer.scan_content_type,
        disposition=(
            f'attachment; filename="{incident.reference}-revision-{shown.number}'
            f'-signed.{extension}"'
        ),
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


@bp.post("/proposals/<int:proposal_id>/send")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def send(proposal_id: int):
    proposal = get_proposal_or_404(proposal_id)
    form = forms.VersionForm()
    if not form.validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    sent = sending.send_revision(
        proposal.current,
        sender=current_user,
        expected_version=hidden_number(form.version.data, "version"),
    )
    mail.deliver_later(sent.email)  # commits first
    if sent.email.status in mail.NEEDS_ADMIN:  # known at once only where jobs run inline
        flash(
            f"The proposal is sent and frozen, but the e-mail to {sent.email.to_address} was not "
            f"delivered: {sent.email.last_error}. It is retried, and shown to admins under "
            "Failed e-mails until it is delivered.",
            "error",
        )
    else:
        flash(
            f"Sent to {sent.email.to_address} with the PDF and the status-page link "
            "(the e-mail is on its way).",
            "success",
        )
    return redirect(url_for(".edit", proposal_id=proposal.id, _anchor="sent"))


# --- approval ---------------------------------------------------------------------------------


@bp.get("/approvals")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def queue():
    rules = services.active_rules()
    waiting = [
        (
            revision,
            services.price(revision)[1],
            services.approval_problems(revision, current_user, rules),
        )
        for revision in services.approval_queue(current_user)
    ]
    return render_template("proposals/queue.html", waiting=waiting)


@bp.route("/proposals/<int:proposal_id>/approve", methods=["GET", "POST"])
@role_required(Role.SUPERVISOR, Role.ADMIN)
def approve(proposal_id: int):
    proposal = get_proposal_or_404(proposal_id)
    revision = proposal.current
    form = forms.ApproveForm()
    if form.validate_on_submit():
        try:
            services.approve_revision(
                revision,
                approver=current_user,
                password=form.password.data,
                expected_version=hidden_number(form.version.data, "version"),
            )
            db.session.commit()
        except FieldError as error:
            db.session.rollback()
            form.password.errors = [*form.password.errors, error.message]
        else:
            flash(f"Approved: “{APPROVAL_MEANING}”.", "success")
            return redirect(url_for(".edit", proposal_id=proposal.id))
    elif not form.is_submitted():
        form.version.data = revision.version
    return _approval_page(proposal, form, forms.RequestChangesForm(formdata=None)), (
        400 if form.is_submitted() else 200
    )


@bp.post("/proposals/<int:proposal_id>/request-changes")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def request_changes(proposal_id: int):
    proposal = get_proposal_or_404(proposal_id)
    form = forms.RequestChangesForm()
    if form.validate_on_submit():
        try:
            services.request_changes(
                proposal.current,
                reviewer=current_user,
                comment=form.comment.data,
                expected_version=hidden_number(form.version.data, "version"),
            )
            db.session.commit()
        except FieldError as error:
            db.session.rollback()
            form.comment.errors = [*form.comment.errors, error.message]
        else:
            flash("Returned to the author with your comments.", "success")
            return redirect(url_for(".queue"))
    approve_form = forms.ApproveForm(formdata=None, version=proposal.current.version)
    return _approval_page(proposal, approve_form, form), 400


def _approval_page(proposal: Proposal, approve_form, changes_form):
    revision = proposal.current
    changes_form.version.data = revision.version
    priced, totals = services.price(revision)
    return render_template(
        "proposals/approve.html",
        proposal=proposal,
        revision=revision,
        incident=proposal.incident,
        priced=priced,
        totals=totals,
        problems=services.approval_problems(revision, current_user),
        at_risk=services.money_at_risk(proposal.incident),
        form=approve_form,
        changes_form=changes_form,
        meaning=APPROVAL_MEANING,
    )


records.register(
    bp,
    RecordType(
        key="approval_rule",
        url="/approval-rules",
        model=ApprovalRule,
        singular="Approval rule",
        plural="Approval rules",
        form=forms.EditApprovalRuleForm,
        columns=[
            Column("Rule", "description"),
            Column("When", "measure"),
            Column("Is above", "threshold", money=True),
            Column("Approver must be", "required_role"),
        ],
        search=[ApprovalRule.description],
        order_by=[ApprovalRule.description],
        read_roles=(Role.SUPERVISOR, Role.ADMIN),
    ),
)
