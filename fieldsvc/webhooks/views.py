"""The webhook pages, for admins: the endpoints, a new one (its secret shown once), an
endpoint's settings and delivery log with Replay, and a new secret on demand. Every
change is audited; the secret never is."""

from flask import Blueprint, abort, current_app, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from fieldsvc.admin_actions import run_action
from fieldsvc.auth.access import role_required
from fieldsvc.auth.models import Role
from fieldsvc.errors import FieldError
from fieldsvc.extensions import db
from fieldsvc.webhooks import forms, services
from fieldsvc.webhooks.models import WebhookDelivery, WebhookEndpoint

bp = Blueprint("webhooks", __name__, url_prefix="/admin/webhooks")


@bp.get("/")
@role_required(Role.ADMIN)
def index():
    return _page("webhooks/index.html", endpoints=services.endpoints())


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def new():
    form = forms.CreateEndpointForm()
    if form.validate_on_submit():
        try:
            endpoint = services.create_endpoint(
                form.url.data,
                form.event_types.data,
                description=form.description.data or "",
                actor=current_user,
            )
        except FieldError as error:
            db.session.rollback()
            form[error.field].errors.append(error.message)
        else:
            db.session.commit()
            return _page("webhooks/secret.html", 201, endpoint=endpoint, secret=endpoint.secret)
    return _page("webhooks/new.html", 422 if form.errors else 200, form=form)


@bp.route("/<int:endpoint_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def detail(endpoint_id: int):
    endpoint = db.get_or_404(WebhookEndpoint, endpoint_id)
    form = forms.EditEndpointForm(obj=endpoint)
    saved = False
    if form.validate_on_submit():
        try:
            services.update_endpoint(
                endpoint,
                form.url.data,
                form.event_types.data,
                description=form.description.data or "",
                enabled=form.enabled.data,
                actor=current_user,
            )
        except FieldError as error:
            db.session.rollback()
            form[error.field].errors.append(error.message)
        else:
            db.session.commit()
            form, saved = forms.EditEndpointForm(formdata=None, obj=endpoint), True
    return _page(
        "webhooks/detail.html",
        422 if form.errors else 200,
        endpoint=endpoint,
        form=form,
        saved=saved,
        deliveries=services.recent_deliveries(endpoint),
        max_attempts=current_app.config["WEBHOOK_MAX_ATTEMPTS"],
    )


@bp.post("/<int:endpoint_id>/secret")
@role_required(Role.ADMIN)
def rotate_secret(endpoint_id: int):
    endpoint = db.get_or_404(WebhookEndpoint, endpoint_id)
    _check_form()
    secret = services.rotate_secret(endpoint, actor=current_user)
    db.session.commit()
    return _page("webhooks/secret.html", endpoint=endpoint, secret=secret, rotated=True)


@bp.post("/deliveries/<int:delivery_id>/replay")
@role_required(Role.ADMIN)
def replay(delivery_id: int):
    delivery = db.get_or_404(WebhookDelivery, delivery_id)
    _check_form()
    return run_action(
        lambda: services.replay_delivery(delivery, actor=current_user),
        done=f"The event {delivery} is sent again to {delivery.endpoint}.",
        back=url_for(".detail", endpoint_id=delivery.endpoint_id),
    )


def _check_form() -> None:
    if not FlaskForm().validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")


def _page(template: str, status: int = 200, **context):
    # A page may hold a signing secret in clear: no cache, no back-button copy.
    return render_template(template, **context), status, {"Cache-Control": "no-store"}
