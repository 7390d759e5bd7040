"""Staff manage an incident's status links: revoke them (a forwarded e-mail, a contact
who left) and send a new one to the customer contact."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from fieldsvc.auth.access import role_required
from fieldsvc.auth.models import Role
from fieldsvc.errors import FieldError
from fieldsvc.extensions import db
from fieldsvc.incidents.views import get_visible_or_404
from fieldsvc.mail import services as mail
from fieldsvc.portal import links

bp = Blueprint("status_links", __name__)


@bp.post("/incidents/<int:incident_id>/status-links/revoke")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def revoke(incident_id: int):
    incident = get_visible_or_404(incident_id)
    if not FlaskForm().validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    revoked = links.revoke_links(incident, actor=current_user, reason="revoked by staff")
    db.session.commit()
    flash(
        f"{len(revoked)} status link(s) revoked: they now open nothing. "
        "Send a new link when the customer needs one.",
        "success",
    )
    return redirect(url_for("incidents.detail", incident_id=incident.id, _anchor="status-page"))


@bp.post("/incidents/<int:incident_id>/status-links")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def reissue(incident_id: int):
    """Revoke the open links and e-mail a new one to the customer contact."""
    incident = get_visible_or_404(incident_id)
    if not FlaskForm().validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    try:
        email = links.reissue_link(incident, actor=current_user)
    except FieldError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("incidents.detail", incident_id=incident.id, _anchor="status-page"))
    mail.deliver_later(email)  # commits first
    failed = email.status in mail.NEEDS_ADMIN  # known at once only where jobs run inline
    return render_template("portal/reissued.html", incident=incident, email=email, ok=not failed)
