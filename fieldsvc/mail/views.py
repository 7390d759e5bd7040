"""The failed e-mail page: what the job queue could not deliver, for admins to retry or
cancel (each audited)."""

from flask import Blueprint, abort, current_app, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from fieldsvc.admin_actions import run_action
from fieldsvc.auth.access import role_required
from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from fieldsvc.mail import services
from fieldsvc.mail.models import OutgoingEmail

bp = Blueprint("emails", __name__, url_prefix="/admin/e-mails")


@bp.get("/failed")
@role_required(Role.ADMIN)
def failed():
    return render_template(
        "emails/failed.html",
        emails=services.failed_emails(),
        max_attempts=current_app.config["MAIL_MAX_ATTEMPTS"],
    )


@bp.post("/<int:email_id>/retry")
@role_required(Role.ADMIN)
def retry(email_id: int):
    email = _email_or_404(email_id)
    return run_action(
        lambda: services.retry_email(email, actor=current_user),
        after_commit=lambda: services.deliver_later(email),
        done=f"The e-mail {email} is sent again.",
        back=url_for(".failed"),
    )


@bp.post("/<int:email_id>/cancel")
@role_required(Role.ADMIN)
def cancel(email_id: int):
    email = _email_or_404(email_id)
    return run_action(
        lambda: services.cancel_email(email, actor=current_user),
        done=f"The e-mail {email} is cancelled; it will not be sent.",
        back=url_for(".failed"),
    )


def _email_or_404(email_id: int) -> OutgoingEmail:
    if not FlaskForm().validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    return db.get_or_404(OutgoingEmail, email_id)
