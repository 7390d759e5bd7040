from flask import Blueprint, render_template
from flask_login import current_user

from fieldsvc.auth.access import role_required
from fieldsvc.auth.models import Role
from fieldsvc.dashboard import services

bp = Blueprint("dashboard", __name__)


@bp.get("/dashboard")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def index():
    return render_template(
        "dashboard/index.html", board=services.dashboard(current_user), largest=services.largest
    )
