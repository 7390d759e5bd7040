"""The customer's status page, opened by the link in the e-mail or the PDF's QR code.

An unknown, expired or revoked token gets the same 404, so guessing learns nothing.
Every response says `Cache-Control: no-store` (a shared tablet keeps no copy) and
`X-Robots-Tag: noindex`, and the app-wide `Referrer-Policy: no-referrer` keeps the token
out of other sites' logs; the pages are rate-limited per address, and a customer who
hits the limit is told in their own words when to come back.
"""

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import selectinload
from wtforms import SelectChoice

from fieldsvc import clock
from fieldsvc.customers.models import Customer
from fieldsvc.errors import FieldError, StaleVersion, retry_after_seconds
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Incident
from fieldsvc.mail import services as mail
from fieldsvc.parts.models import PartOrder
from fieldsvc.portal import forms, links, services
from fieldsvc.portal.models import ResponseKind, StatusLink
from fieldsvc.proposals import pdf
from fieldsvc.proposals.models import Proposal, ProposalLine, ProposalRevision, RevisionPhoto
from fieldsvc.proposals.services import price
from fieldsvc.ranges import hidden_number
from fieldsvc.rate_limits import limit_blueprint
from fieldsvc.storage import stored_file_response

bp = Blueprint("portal", __name__, url_prefix="/status")
NOT_FOUND = "This link does not open a status page. It may have expired; ask us for a new one."
ANSWER_FORMS = {
    "accept": (ResponseKind.ACCEPTED, forms.AcceptForm),
    "changes": (ResponseKind.CHANGES_REQUESTED, forms.ChangesForm),
    "decline": (ResponseKind.DECLINED, forms.DeclineForm),
}


def _status_page_limit() -> str:
    return current_app.config["STATUS_PAGE_RATE_LIMIT"]


limit_blueprint(bp, _status_page_limit)


@bp.before_request
def keep_session_fresh() -> None:
    # The session (only the form's CSRF secret here) lasts the staff idle timeout from
    # the last request, not from the first: a customer who reloads the page and answers
    # within the form's own hour is not told it expired.
    session.permanent = True


@bp.after_request
def keep_private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    # A link pasted into a chat or a ticket must not end up in a search index.
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.errorhandler(429)
def too_many_requests(error):
    """The per-address limit, in the customer's words (the app-wide 429 page is the
    staff sign-in)."""
    retry_after = retry_after_seconds()
    page = render_template("portal/too_many_requests.html", minutes=max(1, -(-retry_after // 60)))
    return page, 429, {"Retry-After": str(retry_after)}


def _link_or_404(token: str) -> StatusLink:
    link = links.open_link(token)
    if link is None:
        abort(404, NOT_FOUND)
    return link


@bp.get("/<token>")
def status(token: str):
    return _page(token, _link_or_404(token))


@bp.post("/<token>/opened")
def opened(token: str):
    """The page's own script, once a browser has shown the page: only then does "last
    opened" change, so a mail scanner or link preview fetching the URL does not count."""
    link = _link_or_404(token)
    # Only a hint for staff: if the database is busy with a writer, nothing is lost.
    try:
        links.note_opened(link)
        db.session.commit()
    except OperationalError:
        db.session.rollback()
    return "", 204


def _page(token: str, link: StatusLink, answering: dict | None = None, report=None, survey=None):
    incident = _incident_for_page(link.incident_id)
    # The customer reads every time in their site's zone, whoever opens the link.
    with clock.reading_in(clock.site_zone(incident.site)):
        return _render_page(token, incident, link, answering, report, survey)


def _render_page(token, incident: Incident, link: StatusLink, answering, report, survey):
    offers = services.offers(incident)
    answer_forms = {}
    for offer in offers:
        revision = offer.revision
        given = (answering or {}).get(revision.id, {})
        answer_forms[revision.id] = {
            name: given.get(name)
            or form_class(
                formdata=None,
                prefix=name,
                revision_id=revision.id,
                pdf_sha256=revision.pdf_sha256,
            )
            for name, (_kind, form_class) in ANSWER_FORMS.items()
        }
    report = report or forms.ReportForm(formdata=None)
    _site_choices(report, link)
    return render_template(
        "portal/status.html",
        token=token,
        incident=incident,
        steps=services.timeline(incident, sent=offers),
        offers=offers,
        totals={offer.revision.id: price(offer.revision)[1] for offer in offers},
        photos={offer.revision.id: services.offer_photos(offer) for offer in offers},
        answer_forms=answer_forms,
        report_form=report,
        survey_form=survey or forms.SurveyForm(formdata=None),
        survey_open=services.survey_open(incident),
        reasons=services.DECLINE_REASONS,
        customer_status=services.CUSTOMER_STATUS,
    )


def _incident_for_page(incident_id: int) -> Incident:
    """The incident with all the page reads of it, in a few queries however many part
    orders and revisions it has."""
    revisions = selectinload(Incident.proposals).selectinload(Proposal.revisions)
    return db.session.scalars(
        select(Incident)
        .where(Incident.id == incident_id)
        .options(
            selectinload(Incident.part_orders).selectinload(PartOrder.lines),
            revisions.selectinload(ProposalRevision.lines).selectinload(
                ProposalLine.part_order_line
            ),
            revisions.selectinload(ProposalRevision.response),
            revisions.selectinload(ProposalRevision.photos).joinedload(RevisionPhoto.attachment),
            revisions.selectinload(ProposalRevision.contact),
            revisions.selectinload(ProposalRevision.return_technician),
            selectinload(Incident.customer).selectinload(Customer.sites),
            selectinload(Incident.site),
        )
    ).one()


def _site_choices(form: forms.ReportForm, link: StatusLink) -> None:
    incident = link.incident
    sites = [site for site in incident.customer.sites if site.active]
    form.site_id.choices = [SelectChoice("", "Choose…")] + [
        SelectChoice(site.id, site.name) for site in sites
    ]
    if form.site_id.data is None and incident.site_id is not None:
        form.site_id.data = incident.site_id


@bp.get("/<token>/proposals/<int:revision_id>.pdf")
def proposal_pdf(token: str, revision_id: int):
    """Exactly the bytes that were sent: what the customer accepts is what we keep."""
    link = _link_or_404(token)
    try:
        revision = services.offer_for(link, revision_id)
    except (LookupError, StaleVersion):
        abort(404, NOT_FOUND)
    if revision.pdf_key is None:  # offers on the page were all sent, so frozen
        abort(404, NOT_FOUND)
    return stored_file_response(
        revision.pdf_key,
        content_type="application/pdf",
        disposition=f'inline; filename="{pdf.pdf_filename(revision)}"',
    )


@bp.get("/<token>/photos/<int:attachment_id>")
@bp.get("/<token>/photos/<int:attachment_id>/<any(thumbnail):size>")
def photo(token: str, attachment_id: int, size: str | None = None):
    """A photo an offer on the page was sent with; any other gets the page's 404."""
    link = _link_or_404(token)
    try:
        shown = services.photo_for(link, attachment_id)
    except LookupError:
        abort(404, NOT_FOUND)
    attachment = shown.attachment
    extension = "jpg" if size or attachment.content_type == "image/jpeg" else "png"
    # Named for the customer: the file name from the camera or the technician is ours.
    filename = f"{link.incident.reference}-photo-{shown.number}.{extension}"
    return stored_file_response(
        attachment.thumbnail_key if size else attachment.storage_key,
        content_type="image/jpeg" if size else attachment.content_type,
        disposition=f'inline; filename="{filename}"',
    )


@bp.post("/<token>/answer/<action>")
def answer(token: str, action: str):
    link = _link_or_404(token)
    if action not in ANSWER_FORMS:
        abort(404, NOT_FOUND)
    kind, form_class = ANSWER_FORMS[action]
    # Prefixed by the action: asking for changes and declining both have a "comment".
    form = form_class(prefix=action)
    if not form.validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    try:
        revision = services.offer_for(link, hidden_number(form.revision_id.data, "revision_id"))
    except LookupError:
        abort(404, NOT_FOUND)
    except StaleVersion as stale:
        flash(str(stale), "error")
        return redirect(url_for(".status", token=token))
    submitted = services.Answer(
        kind=kind,
        full_name=_typed(form, "full_name"),
        comment=_typed(form, "comment"),
        reason=_typed(form, "reason") or None,
    )
    visitor = services.Visitor(request.remote_addr or "", request.user_agent.string)
    try:
        _response, emails = services.respond(
            link, revision, submitted, pdf_sha256=form.pdf_sha256.data or "", visitor=visitor
        )
        db.session.commit()
    except FieldError as error:
        db.session.rollback()
        getattr(form, error.field).errors = [error.message]
        return _page(token, link, answering={revision.id: {action: form}}), 400
    except StaleVersion as stale:
        db.session.rollback()
        flash(str(stale), "error")
        return redirect(url_for(".status", token=token)), 303
    for email in emails:
        mail.deliver_later(email)
    flash(THANKS[kind], "success")
    return redirect(url_for(".status", token=token), 303)


def _typed(form, name: str) -> str:
    """What the customer typed in a field the form may not have."""
    return (form[name].data or "") if name in form else ""


THANKS = {
    ResponseKind.ACCEPTED: "Thank you: you accepted the proposal. We will see you on the day.",
    ResponseKind.CHANGES_REQUESTED: "Thank you: we will get back to you with a new version.",
    ResponseKind.DECLINED: "Thank you for letting us know. We will be in touch about what's next.",
}


@bp.post("/<token>/report")
def report(token: str):
    link = _link_or_404(token)
    form = forms.ReportForm()
    _site_choices(form, link)
    if not form.validate_on_submit():
        return _page(token, link, report=form), 400
    try:
        incident, emails = services.report_incident(
            link,
            services.PortalReport(
                site_id=form.site_id.data,
                what_happened=form.what_happened.data or "",
                name=form.name.data or "",
                phone=form.phone.data or "",
            ),
        )
        db.session.commit()
    except FieldError as error:
        db.session.rollback()
        getattr(form, error.field).errors = [error.message]
        return _page(token, link, report=form), 400
    for email in emails:
        mail.deliver_later(email)
    flash(f"Thank you: we recorded it as {incident.reference} and will call you back.", "success")
    return redirect(url_for(".status", token=token), 303)


@bp.post("/<token>/survey")
def survey(token: str):
    link = _link_or_404(token)
    form = forms.SurveyForm()
    if form.validate_on_submit():
        try:
            services.answer_survey(link, form.score.data, form.comment.data or "")
            db.session.commit()
        except StaleVersion as done:
            db.session.rollback()
            flash(str(done), "success")
        else:
            flash("Thank you for telling us how we did.", "success")
        return redirect(url_for(".status", token=token), 303)
    return _page(token, link, survey=form), 400
