"""Who may open what: role checks for views."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user, login_required

from fieldsvc.auth.models import Role
from fieldsvc.errors import wants_json

EVERYONE = (Role.TECHNICIAN, Role.SUPERVISOR, Role.ADMIN)


def role_required(*roles: Role) -> Callable:
    """Signed-in users with one of `roles` may pass; others get 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def signed_in(*args: Any, **kwargs: Any):
            # A tablet's outbox sends what it queued; signed out, it asks its user to
            # sign in rather than following a redirect to the sign-in page. (Signed in
            # first: reading a browser's Accept header costs a page about 45 µs.)
            if not current_user.is_authenticated and wants_json():
                abort(401, "Sign in to send this.")
            return wrapped(*args, **kwargs)

        @login_required
        def wrapped(*args: Any, **kwargs: Any):
            if not current_user.has_role(*roles):
                abort(403, "Your role does not allow this page.")
            return view(*args, **kwargs)

        return signed_in

    return decorator
