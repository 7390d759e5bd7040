"""Who may open what: role checks for views."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user, login_required

from fieldsvc.auth.models import Role

EVERYONE = (Role.TECHNICIAN, Role.SUPERVISOR, Role.ADMIN)


def role_required(*roles: Role) -> Callable:
    """Signed-in users with one of `roles` may pass; others get 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any):
            if not current_user.has_role(*roles):
                abort(403, "Your role does not allow this page.")
            return view(*args, **kwargs)

        return wrapped

    return decorator
