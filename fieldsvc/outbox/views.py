"""What a tablet's outbox asks the server before it sends what was queued offline.

The outbox itself lives on the device (static/js/outbox.js): actions taken without a
connection wait in IndexedDB and are sent, in order and once each, to the same URLs
the forms post to, each with its idempotency key, asking for JSON.
"""

from flask import Blueprint, jsonify
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from fieldsvc.auth.access import EVERYONE, role_required

bp = Blueprint("outbox", __name__)


@bp.get("/outbox/token")
@role_required(*EVERYONE)
def token():
    """A CSRF token for this session: the page's own may have expired while the tablet
    was offline. Whose outbox it is, so nothing is sent under someone else's name."""
    response = jsonify(csrf_token=generate_csrf(), user_id=current_user.id)
    response.headers["Cache-Control"] = "no-store"
    return response
