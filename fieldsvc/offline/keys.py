"""The name a tablet keeps one person's offline copies under."""

import hashlib
import hmac

from flask import current_app

from fieldsvc.auth.models import User


def user_key(user: User) -> str:
    """A stable, opaque key per person: their pages and data are cached under it, and a
    page announcing another key means someone else signed in on this browser. Derived
    with the app's secret, so it tells nobody the user's id."""
    secret = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(secret, f"offline-user:{user.id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]
