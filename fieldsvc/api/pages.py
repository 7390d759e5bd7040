"""The pages where API tokens are made and revoked: a person's own, under their
settings, and the service accounts' for admins. A new token is shown once, in the
answer to the form that made it, and never again (only its hash is kept)."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from fieldsvc.api import forms, services
from fieldsvc.api.models import ApiToken
from fieldsvc.auth.access import role_required
from fieldsvc.auth.models import Role, User
from fieldsvc.database import utcnow
from fieldsvc.errors import FieldError
from fieldsvc.extensions import db

bp = Blueprint("api_tokens", __name__)


@bp.route("/settings/api-tokens", methods=["GET", "POST"])
@login_required
def own():
    form = forms.CreateTokenForm()
    issued = None
    if form.validate_on_submit():
        try:
            issued = services.issue_token(
                current_user,
                actor=current_user,
                name=form.name.data,
                scopes=form.scopes.data,
                days=form.days.data,
            )
        except FieldError as error:
            db.session.rollback()
            form[error.field].errors.append(error.message)
        else:
            db.session.commit()
            form = forms.CreateTokenForm(formdata=None)
    return _page("api/tokens.html", form, issued, services.tokens_of(current_user))


@bp.route("/api-tokens", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def service_accounts():
    form = forms.CreateServiceTokenForm()
    issued = None
    if form.validate_on_submit():
        try:
            account = db.session.scalar(
                select(User).where(User.service_account, User.name == form.account.data.strip())
            ) or services.create_service_account(
                actor=current_user,
                name=form.account.data,
                role=Role(form.role.data),
                team_id=form.team_id.data,
            )
            issued = services.issue_token(
                account,
                actor=current_user,
                name=form.name.data,
                scopes=form.scopes.data,
                days=form.days.data,
            )
        except FieldError as error:
            db.session.rollback()
            form[error.field if error.field in form else "account"].errors.append(error.message)
        else:
            db.session.commit()
            form = forms.CreateServiceTokenForm(formdata=None)
    return _page("api/service_tokens.html", form, issued, services.service_tokens())


@bp.post("/api-tokens/<int:token_id>/revoke")
@login_required
def revoke(token_id: int):
    token = db.session.get(ApiToken, token_id)
    if token is None or (
        token.user_id != current_user.id and not current_user.has_role(Role.ADMIN)
    ):
        abort(404, "No such API token.")
    services.revoke_token(token, actor=current_user)
    db.session.commit()
    flash(f"{token.name} ({token.prefix}…) is revoked: it opens nothing any more.", "success")
    if token.user_id == current_user.id:
        return redirect(url_for(".own"))
    return redirect(url_for(".service_accounts"))


def _page(template: str, form, issued, tokens):
    status = 422 if form.errors else 201 if issued else 200
    page = render_template(template, form=form, issued=issued, tokens=tokens, now=utcnow())
    # The page may hold a token in clear: no cache, no back-button copy.
    return page, status, {"Cache-Control": "no-store"}
