from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from fieldsvc import clock, records
from fieldsvc.auth import forms, services, session_cookie
from fieldsvc.auth.models import Role, Team, User
from fieldsvc.errors import FieldError, retry_after_seconds
from fieldsvc.extensions import db, limiter, login_manager
from fieldsvc.records import Column, RecordType

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(token: str) -> User | None:
    return services.session_user(token)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _sign_in_failed(response: Response) -> bool:
    return response.status_code == 401


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_sign_in_failed)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = forms.LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except services.AccountLocked as locked:
            page = render_template("auth/login.html", form=form, blocked=str(locked))
            return page, 429, {"Retry-After": str(locked.retry_after)}
        if user is None:
            db.session.commit()  # the failure may have locked the account: audited
            form.password.errors.append("E-mail or password is wrong, or the account is inactive.")
        else:
            services.start_session(user)
            services.record_sign_in(user)
            db.session.commit()
            session.permanent = True  # re-signed as it is used: the idle timeout
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
    page = render_template(
        "auth/login.html", form=form, cookie_problem=session_cookie.cookie_over_http_problem()
    )
    return page, 401 if form.errors else 200


@bp.post("/logout")
@login_required
def logout():
    services.end_session(current_user.current_session, reason="signed out")
    services.record_sign_out(current_user)
    db.session.commit()
    logout_user()
    flash("You are signed out.", "success")
    return redirect(url_for(".login"))


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    """What a signed-in person sets for themselves: the time zone of their pages."""
    form = forms.EditOwnSettingsForm(obj=current_user)
    if form.validate_on_submit():
        try:
            services.set_time_zone(current_user, form.time_zone.data or None, actor=current_user)
        except FieldError as error:
            db.session.rollback()
            form[error.field].errors.append(error.message)
        else:
            db.session.commit()
            zone = clock.zone_label(clock.user_zone(current_user))
            flash(f"Saved. Times are now shown in {zone}.", "success")
            return redirect(url_for(".settings"))
    return render_template("auth/settings.html", form=form), 422 if form.errors else 200


def too_many_attempts(error: Any):
    """The per-address limit on failed sign-ins: say plainly what happened and when to
    try again."""
    form = forms.LoginForm()
    retry_after = retry_after_seconds()
    minutes = max(1, -(-retry_after // 60))
    message = (
        "Too many failed sign-ins from this address. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )
    page = render_template("auth/login.html", form=form, blocked=message)
    return page, 429, {"Retry-After": str(retry_after)}


def _safe_next(target: str | None) -> str:
    # Only same-site paths, so the sign-in page cannot be used to redirect elsewhere.
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/"):
            return target
    return url_for("home.index")


def _save_user(user: User | None, values: dict[str, Any], *, actor: User) -> User:
    if user is None:
        return services.create_user(
            name=values["name"],
            email=values["email"],
            role=values["role"],
            password=values["password"] or "",
            approval_limit=values["approval_limit"],
            team_id=values.get("team_id"),
            time_zone=values.get("time_zone"),
            actor=actor,
        )
    return services.update_user(user, values, actor=actor)


records.register(
    bp,
    RecordType(
        key="user",
        url="/users",
        model=User,
        singular="User",
        plural="Users",
        form=forms.EditUserForm,
        create_form=forms.CreateUserForm,
        edit_form=lambda user: (
            forms.EditServiceAccountForm if user.service_account else forms.EditUserForm
        ),
        columns=[
            Column("Name", "name"),
            Column("E-mail", "email"),
            Column("Role", "role"),
            Column("Team", "team.name", link="team"),
            Column("Approval limit", "approval_limit", money=True),
            Column("Time zone", "time_zone_label", listed=False),
        ],
        search=[User.name, User.email],
        order_by=[User.name],
        save=_save_user,
        read_roles=(Role.ADMIN,),
    ),
)

records.register(
    bp,
    RecordType(
        key="team",
        url="/teams",
        model=Team,
        singular="Team",
        plural="Teams",
        form=forms.EditTeamForm,
        columns=[Column("Name", "name")],
        search=[Team.name],
        order_by=[Team.name],
        read_roles=(Role.ADMIN,),
    ),
)
