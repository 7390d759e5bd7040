"""Incident pages: report (tablet and phone intake), list, the incident page with its
timeline, photos, work log, communications, follow-ups and status, and My day."""

import secrets
from typing import TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from wtforms import SelectChoice

from fieldsvc import clock
from fieldsvc.auth.access import EVERYONE, role_required
from fieldsvc.auth.models import Role, User
from fieldsvc.auth.session_cookie import csrf_token
from fieldsvc.customers.models import Contact, Customer, Equipment, Site
from fieldsvc.dashboard import drilldowns
from fieldsvc.database import plain_record_statement, plain_record_type, plain_rows, utcnow
from fieldsvc.errors import FieldError, wants_json
from fieldsvc.extensions import db
from fieldsvc.incidents import dispute, forms, queries, services
from fieldsvc.incidents import rows as incident_rows
from fieldsvc.incidents.models import (
    STAFF_TRANSITIONS,
    Attachment,
    CauseCategory,
    Channel,
    Direction,
    FollowUp,
    FollowUpOutcome,
    Incident,
    IncidentStatus,
    ReportedVia,
    Severity,
    equipment_of,
)
from fieldsvc.incidents.photos import PhotoRejected, ProcessedPhoto, process_photo
from fieldsvc.parts.models import PART_ORDER_TRANSITIONS, PartOrderStatus
from fieldsvc.proposals import services as proposal_services
from fieldsvc.ranges import record_id
from fieldsvc.storage import stored_file_response

bp = Blueprint("incidents", __name__)
T = TypeVar("T")
bp.record_once(lambda state: incident_rows.init_app(state.app))


def get_visible_or_404(incident_id: int, *options) -> Incident:
    return _found(services.get_visible_incident(current_user, incident_id, *options))


def _found(found: T | None) -> T:
    """What was found of a visible incident (the incident, or more), else 404."""
    if found is None:
        abort(404, "No such incident, or it belongs to another team.")
    return found


# --- reporting ------------------------------------------------------------------------------


@bp.route("/incidents/new", methods=["GET", "POST"])
@role_required(*EVERYONE)
def new():
    form = forms.ReportIncidentForm()
    _offer_choices(form)
    if form.validate_on_submit():
        if (done := services.find_submitted(current_user, form.submission_key.data)) is not None:
            return _already_recorded(done)
        try:
            photos = _processed_uploads(form.photos.data)
            incident = services.report_incident(
                _report_from(form, photos, _photo_choices(form, len(photos))),
                actor=current_user,
                submission_key=form.submission_key.data,
            )
            db.session.commit()
        except (FieldError, PhotoRejected) as error:
            db.session.rollback()
            _show_error(form, error)
        else:
            return _recorded(incident, "new")
    elif not form.is_submitted():
        form.submission_key.data = _fresh_key()
        form.occurred_at.data = clock.to_local(utcnow(), clock.reader_zone()).replace(
            tzinfo=None, second=0
        )
    if form.errors and wants_json():
        return _refused(form)
    return _form_page("incidents/new.html", form, photo_row=_photo_row())


@bp.route("/incidents/<int:incident_id>/edit", methods=["GET", "POST"])
@role_required(*EVERYONE)
def edit(incident_id: int):
    incident = get_visible_or_404(incident_id)
    form = forms.EditIncidentForm(data=None if request.method == "POST" else _form_data(incident))
    _offer_choices(form)
    if form.validate_on_submit():
        try:
            services.update_incident(
                incident, _report_from(form), actor=current_user, reason=form.reason.data
            )
            db.session.commit()
        except FieldError as error:
            db.session.rollback()
            _show_error(form, error)
        else:
            flash(f"{incident.reference} updated.", "success")
            return redirect(url_for(".detail", incident_id=incident.id))
    return _form_page("incidents/edit.html", form, incident=incident)


def _report_from(form, photos=(), photo_choices=()) -> services.IncidentReport:
    return services.IncidentReport(
        customer_id=form.customer_id.data,
        site_id=form.site_id.data,
        equipment_ids=form.equipment_ids.data or [],
        reported_via=ReportedVia(form.reported_via.data),
        severity=Severity(form.severity.data),
        expected=form.expected.data,
        actual=form.actual.data,
        occurred_at=form.occurred_at.utc,
        reporter_contact_id=form.reporter_contact_id.data,
        reporter_name=form.reporter_name.data,
        reporter_phone=form.reporter_phone.data,
        cause_category=CauseCategory(form.cause_category.data),
        cause_description=form.cause_description.data,
        technician_statement=form.technician_statement.data,
        claim_reference=form.claim_reference.data,
        photos=photos,
        photo_choices=photo_choices,
    )


def _form_data(incident: Incident) -> dict:
    return {
        "customer_id": incident.customer_id,
        "site_id": incident.site_id,
        "equipment_ids": [link.equipment_id for link in incident.equipment_links],
        "reported_via": incident.reported_via.value,
        "severity": incident.severity.value,
        "expected": incident.expected,
        "actual": incident.actual,
        "occurred_at": clock.to_local(incident.occurred_at, clock.reader_zone()).replace(
            tzinfo=None
        ),
        "reporter_contact_id": incident.reporter_contact_id,
        "reporter_name": incident.reporter_name,
        "reporter_phone": incident.reporter_phone,
        "cause_category": incident.cause_category.value,
        "cause_description": incident.cause_description,
        "technician_statement": incident.technician_statement,
        "claim_reference": incident.claim_reference,
    }


@bp.route("/incidents/phone", methods=["GET", "POST"])
@role_required(*EVERYONE)
def phone_intake():
    form = forms.PhoneIntakeForm()
    _offer_choices(form)
    if form.validate_on_submit():
        if (done := services.find_submitted(current_user, form.submission_key.data)) is not None:
            return _already_recorded(done)
        try:
            incident = services.take_phone_call(
                services.IncidentReport(
                    customer_id=form.customer_id.data,
                    site_id=form.site_id.data,
                    equipment_ids=[],
                    reported_via=ReportedVia.PHONE,
                    severity=Severity(form.severity.data),
                    actual=form.actual.data,
                    occurred_at=utcnow(),
                    reporter_contact_id=form.reporter_contact_id.data,
                    reporter_name=form.reporter_name.data,
                    reporter_phone=form.reporter_phone.data,
                ),
                callback_due_at=form.callback_due_at.utc,
                callback_promise=form.callback_promise.data,
                actor=current_user,
                submission_key=form.submission_key.data,
            )
            db.session.commit()
        except FieldError as error:
            db.session.rollback()
            _show_error(form, error)
        else:
            return _recorded(incident, "phone")
    elif not form.is_submitted():
        form.submission_key.data = _fresh_key()
    return _form_page("incidents/phone_intake.html", form)


def _offer_choices(form) -> None:
    """Customers the user's team serves, and their sites and contacts (tagged with the
    customer, so the browser can narrow them to the chosen customer)."""
    customers = db.session.scalars(
        select(Customer)
        .where(services.customers_visible_to(current_user), Customer.active)
        .order_by(Customer.name)
    ).all()
    ids = [customer.id for customer in customers]
    sites = db.session.scalars(
        select(Site).where(Site.customer_id.in_(ids), Site.active).order_by(Site.name)
    ).all()
    contacts = db.session.scalars(
        select(Contact).where(Contact.customer_id.in_(ids), Contact.active).order_by(Contact.name)
    ).all()
    blank = SelectChoice("", "Choose…")
    form.customer_id.choices = [blank] + [SelectChoice(c.id, c.name) for c in customers]
    form.site_id.choices = [blank] + [
        SelectChoice(s.id, s.name, render_kw={"data-parent": s.customer_id}) for s in sites
    ]
    form.reporter_contact_id.choices = [SelectChoice("", "Not a listed contact")] + [
        SelectChoice(c.id, c.name, render_kw={"data-parent": c.customer_id}) for c in contacts
    ]


def _processed_uploads(files) -> list[ProcessedPhoto]:
    limit = current_app.config["MAX_PHOTO_BYTES"]
    return [
        process_photo(
            upload.stream.read(limit + 1),
            upload.filename,
            max_bytes=limit,
            max_pixels=current_app.config["MAX_PHOTO_PIXELS"],
        )
        for upload in files or []
        if upload and upload.filename
    ]


def _photo_choices(form, count: int) -> list[services.PhotoChoice]:
    """What the page chose for each of `count` uploaded files: its row n (which always
    sends its caption, if empty) is about the n-th file sent. A file without a row (no
    script on the page) is kept for us."""
    return [
        services.PhotoChoice(entry.shown_to_customer.data, entry.caption.data)
        for entry in form.photo_details.entries[:count]
    ]


def _photo_row() -> forms.PhotoDetailsForm:
    """The fields of one photo being added, as the page's script copies them per file."""
    return forms.PhotoDetailsForm(prefix="photo_details-0")


def _photos_added(attached: list[Attachment]) -> str:
    shown = sum(photo.shown_to_customer for photo in attached)
    return (
        f"{len(attached)} photo(s) added: {shown} shown to the customer, "
        f"{len(attached) - shown} kept for us."
    )


def _show_error(form, error: Exception) -> None:
    if isinstance(error, PhotoRejected):
        form.photos.errors = [*form.photos.errors, f"{error.message} Choose the photos again."]
    elif (field := getattr(form, error.field, None)) is not None:
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "error")


def _form_page(template: str, form, **context):
    equipment = _equipment_options(form.site_id.data) if form.site_id.data else []
    status = 400 if form.errors else 200
    return render_template(template, form=form, equipment=equipment, **context), status


def _recorded(incident: Incident, draft: str):
    return _done(
        f"{incident.reference} recorded.",
        url_for(".detail", incident_id=incident.id, recorded=draft),
    )


def _already_recorded(incident: Incident):
    return _done(
        f"This report was already recorded as {incident.reference}.",
        url_for(".detail", incident_id=incident.id, recorded="new"),
    )


def _fresh_key() -> str:
    """A new submission key: 32 random hex digits (a page draws five)."""
    return secrets.token_hex(16)


def _done(message: str, url: str):
    """Say what was recorded and go to `url`; a tablet's outbox sending what it queued
    asks for JSON and is told the same."""
    if wants_json():
        return jsonify(ok=True, message=message, url=url)
    flash(message, "success")
    return redirect(url)


def _refused(form):
    """A form's errors as one message, for a tablet's outbox sending what it queued: its
    user fixes them in the form it opens again, filled in."""
    said = [
        f"{field.label.text}: {error}" if field.label.text else error
        for field in form
        for error in field.errors
        if isinstance(error, str)
    ]
    message = " ".join(said) or "This form could not be sent; open it to check it."
    return jsonify(ok=False, message=message), 400


@bp.get("/incidents/equipment-options")
@role_required(*EVERYONE)
def equipment_options():
    site_id = request.args.get("site_id", type=lambda value: record_id(value) or 0)
    site = db.session.get(Site, site_id) if site_id else None
    if site is None or not services.can_see_customer(current_user, site.customer):
        abort(404, "No such site, or it belongs to another team's customer.")
    return jsonify(equipment=_equipment_options(site.id))


def _equipment_options(site_id: int) -> list[dict]:
    equipment = db.session.scalars(
        select(Equipment)
        .where(Equipment.site_id == site_id, Equipment.active)
        .order_by(Equipment.tag)
    )
    return [
        {
            "id": item.id,
            "tag": item.tag,
            "detail": " · ".join(part for part in (item.model, item.serial) if part),
        }
        for item in equipment
    ]


# --- the list and My day ----------------------------------------------------------------------


@bp.get("/incidents/")
@role_required(*EVERYONE)
def index():
    args = request.args
    drilldown = drilldowns.from_args(args, utcnow())
    filters = list_filters(args, drilldown)
    rows, next_before = queries.list_rows(
        current_user,
        filters,
        before_id=args.get("before", type=int),
        limit=current_app.config["PAGE_SIZE"],
    )
    customers, sites = queries.filter_choices(current_user)
    return render_template(
        "incidents/index.html",
        rows=rows,
        filters=filters,
        drilldown=drilldown,
        customers=customers,
        sites=sites,
        next_url=next_before and url_for(".index", **{**args.to_dict(), "before": next_before}),
        # Every matching incident, not just the pages loaded so far (the template builds
        # the address: without filters it is the kept one, not built again for each list).
        export_args={name: value for name, value in args.items() if name != "before"},
        IncidentStatus=IncidentStatus,
        Severity=Severity,
        ReportedVia=ReportedVia,
    )


def list_filters(
    args: MultiDict[str, str], drilldown: drilldowns.Drilldown | None = None
) -> queries.IncidentFilters:
    """The list's filters as given in its query string (the CSV export reads the same);
    `drilldown`: the dashboard's filters in it, when the caller already read them."""
    if drilldown is None:
        drilldown = drilldowns.from_args(args, utcnow())
    return queries.IncidentFilters(
        status=_enum(IncidentStatus, args.get("status")),
        customer_id=args.get("customer_id", type=int),
        site_id=args.get("site_id", type=int),
        severity=_enum(Severity, args.get("severity")),
        reported_via=_enum(ReportedVia, args.get("reported_via")),
        overdue=args.get("overdue") == "1",
        mine=args.get("mine") == "1",
        text=args.get("q", "")[:200],
        conditions=drilldown.conditions,
    )


def _enum(enum, value: str | None):
    try:
        return enum(value) if value else None
    except ValueError:
        abort(400, f"Unknown filter value “{value}”.")


@bp.get("/my-day")
@role_required(*EVERYONE)
def my_day():
    now = utcnow()
    # "Today" ends at midnight where the person is.
    day_ends = clock.end_of_local_day(now, clock.reader_zone())
    day = queries.my_day(current_user, now=now, day_ends=day_ends)
    return render_template("incidents/my_day.html", day=day, now=now)


# --- the incident page ----------------------------------------------------------------------


# Everything the incident page shows in one statement per kind of record, whatever the
# history (the timeline adds two, the users, status links and sign-in one each), each
# built once: the incident with what it points at and its work log (the one collection
# joined to the single row) for each kind of reader, then each collection below with what
# its rows are shown with, read as plain records: no identity map, instance state or
# loaders for each piece of equipment, photo, call, promise, part order (with its supplier
# and lines) and proposal (with its revisions and their lines).
_DETAIL_PLAIN = (
    "equipment_links",
    "attachments",
    "communications",
    "follow_ups",
    "part_orders",
    "proposals",
    "status_links",
)


@bp.get("/incidents/<int:incident_id>")
@role_required(*EVERYONE)
def detail(incident_id: int):
    incident, plain = _found(
        queries.get_visible_incident_with(current_user, incident_id, _DETAIL_PLAIN)
    )
    return _detail_page(incident, plain=plain)


def _detail_page(
    incident: Incident, status: int = 200, plain: dict[str, list] | None = None, **forms_given
):
    """The incident page. Its forms are drawn blank by the template as plain HTML (the
    form classes still validate what is sent); a form sent with errors is passed in
    `forms_given` and drawn again from its WTForms object, with its values and errors.
    `plain` holds its collections (`_DETAIL_PLAIN`) if already read."""
    if plain is None:
        plain = queries.plain_collections(incident.id, _DETAIL_PLAIN)
    now = utcnow()
    zone = clock.reader_zone()
    photo_forms = forms_given.pop("photo_forms", {})
    close_forms = forms_given.pop("close_forms", {})
    page_forms = dict.fromkeys(_PAGE_FORMS) | forms_given
    # A fresh key in a form sent without one: one submission, recorded once.
    for form in (*page_forms.values(), *close_forms.values()):
        if form is not None and "submission_key" in form and not form.submission_key.data:
            form.submission_key.data = _fresh_key()
    # Every user, once, held for the whole page: it names people in many places (owners,
    # the work log, former colleagues too); a company has tens of them. Plain records: the
    # page only reads their names and whether they may own a follow-up here, and making
    # fifty of them the session's objects cost the page about 0.7 ms.
    everyone = list(map(_PERSON._make, plain_rows(db.session(), _EVERYONE, {})))
    colleagues = _colleagues(incident, everyone)
    if (follow_up_form := page_forms["follow_up_form"]) is not None:
        follow_up_form.owner_id.choices = [SelectChoice(u.id, u.name) for u in colleagues]
    # Only what staff may do by hand from here, and nothing chosen for them.
    next_statuses = sorted(STAFF_TRANSITIONS[incident.status], key=list(IncidentStatus).index)
    if (status_form := page_forms["status_form"]) is not None:
        status_form.status.choices = (
            [forms.NO_STATUS_CHOSEN, *(SelectChoice(s.value, s.label) for s in next_statuses)]
            if next_statuses
            else []
        )
    local_now = clock.to_local(now, zone).replace(tzinfo=None, second=0, microsecond=0)
    if (work_form := page_forms["work_form"]) is not None and work_form.started_at.data is None:
        work_form.started_at.data = local_now
    # The newest steps of the timeline, unless the reader asked for the whole of it.
    if request.args.get("timeline") == "all":
        timeline = queries.RecentTimeline(queries.timeline(incident, plain), earlier=False)
    else:
        timeline = queries.latest_timeline(incident, plain=plain)
    return render_template(
        "incidents/detail.html",
        incident=incident,
        now=now,
        timeline=timeline.entries,
        timeline_earlier_url=timeline.earlier
        and url_for(".detail", incident_id=incident.id, timeline="all", _anchor="history-title"),
        total_minutes=queries.total_minutes(incident),
        equipment=equipment_of(plain["equipment_links"]),
        photos=plain["attachments"],
        communications=plain["communications"],
        follow_ups=plain["follow_ups"],
        overdue=[f for f in plain["follow_ups"] if f.is_overdue(now)],
        clear_draft=request.args.get("recorded"),
        part_orders=plain["part_orders"],
        at_risk=proposal_services.money_at_risk_in(plain["part_orders"], plain["proposals"]),
        proposals=[(p, proposal_services.price(p.current)[1]) for p in plain["proposals"]],
        status_links=[link for link in plain["status_links"] if link.is_open(now)],
        PART_ORDER_TRANSITIONS=PART_ORDER_TRANSITIONS,
        PartOrderStatus=PartOrderStatus,
        FollowUpOutcome=FollowUpOutcome,
        Channel=Channel,
        Direction=Direction,
        close_forms=close_forms,
        photo_forms=photo_forms,
        photo_row=_photo_row() if page_forms["photos_form"] is not None else None,
        # What the blank forms need: the CSRF token, a fresh submission key each, the
        # reader's zone in the time fields' help, the people who may own a follow-up.
        csrf=csrf_token(),
        fresh_key=_fresh_key,
        zone_help=f"Your time zone: {clock.zone_label(zone)}.",
        started_at=local_now.strftime(forms.DATETIME_FORMAT),
        colleagues=colleagues,
        # Who recorded, owns or sent what, by id: a lookup, not a relationship loaded a row.
        people={user.id: user for user in everyone},
        next_statuses=next_statuses,
        **page_forms,
    ), status


_EVERYONE = plain_record_statement(User).order_by(User.name)
_PERSON = plain_record_type(User, ("has_role", "__str__"))

# The incident page's forms, given when one is drawn again with its errors.
_PAGE_FORMS = ("photos_form", "work_form", "communication_form", "follow_up_form", "status_form")


def _colleagues(incident: Incident, everyone: list) -> list:
    """Who may own a follow-up of the incident, of `everyone` (plain records of users)."""
    return [user for user in everyone if user.active and services.can_see(user, incident)]


def _act(incident: Incident, form, act, anchor: str | None = None, **page_forms):
    """Run one action of the incident page: on success commit, say what happened and
    go back to the page; on bad input show the page again with `page_forms` (holding
    `form`) showing their errors."""
    if form.validate_on_submit():
        try:
            message = act(form)
            db.session.commit()
        except (FieldError, PhotoRejected) as error:
            db.session.rollback()
            _show_error(form, error)
        else:
            return _done(message, url_for(".detail", incident_id=incident.id, _anchor=anchor))
    if wants_json():
        return _refused(form)
    return _detail_page(incident, 400, **page_forms)


@bp.post("/incidents/<int:incident_id>/photos")
@role_required(*EVERYONE)
def add_photos(incident_id: int):
    incident = get_visible_or_404(incident_id)

    def act(form) -> str:
        photos = _processed_uploads(form.photos.data)
        if not photos:
            raise FieldError("photos", "Choose at least one photo.")
        attached = services.attach_photos(
            incident,
            photos,
            actor=current_user,
            choices=_photo_choices(form, len(photos)),
            submission_key=form.submission_key.data,
        )
        return _photos_added(attached)

    form = forms.AddPhotosForm()
    return _act(incident, form, act, "photos", photos_form=form)


@bp.post("/incidents/<int:incident_id>/photos/<int:attachment_id>")
@role_required(*EVERYONE)
def choose_photo(incident_id: int, attachment_id: int):
    """Show a photo to the customer or keep it for us, and set its caption."""
    incident = get_visible_or_404(incident_id)
    attachment = _photo_or_404(incident, attachment_id)

    def act(form) -> str:
        choice = services.PhotoChoice(form.shown_to_customer.data, form.caption.data)
        if not services.choose_photo_for_customer(attachment, choice, actor=current_user):
            return "Nothing changed."
        said = "shown to the customer" if attachment.shown_to_customer else "kept for us"
        sent = any(r.sent_at for p in incident.proposals for r in p.revisions)
        return f"Photo {attachment.filename} is {said}." + (
            " Proposals already sent keep the photos they were sent with." if sent else ""
        )

    form = forms.ChoosePhotoForm(prefix=f"photo-{attachment.id}")
    return _act(incident, form, act, f"photo-{attachment.id}", photo_forms={attachment.id: form})


def _photo_or_404(incident: Incident, attachment_id: int) -> Attachment:
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.incident_id != incident.id:
        abort(404, "No such photo.")
    return attachment


@bp.get("/incidents/<int:incident_id>/photos/<int:attachment_id>")
@bp.get("/incidents/<int:incident_id>/photos/<int:attachment_id>/<any(thumbnail):size>")
@role_required(*EVERYONE)
def photo(incident_id: int, attachment_id: int, size: str | None = None):
    incident = get_visible_or_404(incident_id)
    attachment = _photo_or_404(incident, attachment_id)
    return stored_file_response(
        attachment.thumbnail_key if size else attachment.storage_key,
        content_type="image/jpeg" if size else attachment.content_type,
        disposition=f'inline; filename="{attachment.filename}"',
        headers={"Cache-Control": "private, max-age=86400"},
    )


@bp.post("/incidents/<int:incident_id>/status")
@role_required(*EVERYONE)
def change_status(incident_id: int):
    incident = get_visible_or_404(incident_id)
    form = forms.ChangeStatusForm(prefix=forms.ChangeStatusForm.PREFIX)
    # Any status parses; the service says why one cannot be set from here.
    form.status.choices = [forms.NO_STATUS_CHOSEN, *forms.choices_of(IncidentStatus)]

    def act(form) -> str:
        status = IncidentStatus(form.status.data)
        services.change_status(incident, status, actor=current_user, note=form.note.data)
        return f"{incident.reference} is now {status.label.lower()}."

    return _act(incident, form, act, status_form=form)


@bp.post("/incidents/<int:incident_id>/work")
@role_required(*EVERYONE)
def log_work(incident_id: int):
    incident = get_visible_or_404(incident_id)

    def act(form) -> str:
        services.log_work(
            incident,
            actor=current_user,
            started_at=form.started_at.utc,
            minutes=form.minutes.data,
            note=form.note.data,
            submission_key=form.submission_key.data,
        )
        return f"{form.minutes.data} minutes logged."

    form = forms.LogWorkForm(prefix=forms.LogWorkForm.PREFIX)
    return _act(incident, form, act, "work", work_form=form)


@bp.post("/incidents/<int:incident_id>/communications")
@role_required(*EVERYONE)
def record_communication(incident_id: int):
    incident = get_visible_or_404(incident_id)

    def act(form) -> str:
        services.record_communication(
            incident,
            actor=current_user,
            channel=Channel(form.channel.data),
            direction=Direction(form.direction.data),
            summary=form.summary.data,
            at=form.at.utc if form.at.data else None,
            submission_key=form.submission_key.data,
        )
        return "Communication recorded."

    form = forms.RecordCommunicationForm()
    return _act(incident, form, act, "communications", communication_form=form)


@bp.post("/incidents/<int:incident_id>/follow-ups")
@role_required(*EVERYONE)
def promise_follow_up(incident_id: int):
    incident = get_visible_or_404(incident_id)

    def act(form) -> str:
        follow_up = services.promise_follow_up(
            incident,
            actor=current_user,
            owner_id=form.owner_id.data,
            due_at=form.due_at.utc,
            promise=form.promise.data,
            submission_key=form.submission_key.data,
        )
        return f"Follow-up for {follow_up.owner.name} recorded."

    form = forms.PromiseFollowUpForm()
    return _act(incident, form, act, "follow-ups", follow_up_form=form)


@bp.post("/incidents/<int:incident_id>/follow-ups/<int:follow_up_id>/close")
@role_required(*EVERYONE)
def close_follow_up(incident_id: int, follow_up_id: int):
    incident = get_visible_or_404(incident_id)
    follow_up = db.session.get(FollowUp, follow_up_id)
    if follow_up is None or follow_up.incident_id != incident.id:
        abort(404, "No such follow-up.")

    def act(form) -> str:
        services.close_follow_up(
            follow_up,
            actor=current_user,
            outcome=FollowUpOutcome(form.outcome.data),
            note=form.note.data,
            next_due_at=form.next_due_at.utc if form.next_due_at.data else None,
            next_promise=form.next_promise.data,
            submission_key=form.submission_key.data,
        )
        return "Follow-up updated."

    form = forms.CloseFollowUpForm(prefix=f"close-{follow_up.id}")
    return _act(incident, form, act, "follow-ups", close_forms={follow_up.id: form})


# --- the dispute pack: what was done, when, by whom and why ---------------------------------


@bp.route("/incidents/<int:incident_id>/dispute-pack", methods=["GET", "POST"])
@role_required(Role.SUPERVISOR, Role.ADMIN)
def dispute_pack(incident_id: int):
    """The incident's whole record as a PDF for a customer who disputes a bill."""
    incident = get_visible_or_404(incident_id)
    form = forms.ProduceDisputePackForm()
    if not form.is_submitted():
        return render_template("incidents/dispute_pack.html", incident=incident, form=form)
    if not form.validate():
        abort(400, "The form expired; reload the page and try again.")
    body = dispute.produce_dispute_pack(
        incident, actor=current_user, include_internal=form.include_internal.data
    )
    db.session.commit()
    return Response(
        body,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{dispute.pack_filename(incident)}"',
            "Cache-Control": "no-store",
        },
    )
