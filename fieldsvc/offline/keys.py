"""The name a tablet keeps one person's offline copies under."""

import hashlib
import hmac
from functools import lru_cache

from flask import current_app

from fieldsvc.auth.models import User


def user_key(user: User) -> str:
    """A stable, opaque key per person: their pages and data are cached under it, and a
    page announcing another key means someone else signed in on this browser. Derived
    with the app's secret, so it tells nobody the user's id."""
    return _key(current_app.config["SECRET_KEY"], user.id)


# Worked out once per person and secret in a process, not on every page (a keyed hash on
# each page view and in its response's header).
@lru_cache(maxsize=1024)
def _key(secret: str, user_id: int) -> str:
    digest = hmac.new(secret.encode(), f"offline-user:{user_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]
