"""What a tablet's outbox asks the server before it sends what was queued offline.

The outbox itself lives on the device (static/js/outbox.js): actions taken without a
connection wait in IndexedDB and are sent, in order and once each, to the same URLs
the forms post to, each with its idempotency key, asking for JSON.
"""

import json
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo

from flask import Blueprint, jsonify
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from fieldsvc.auth.access import EVERYONE, role_required
from fieldsvc.clock import reader_zone
from fieldsvc.database import utcnow

bp = Blueprint("outbox", __name__)


@bp.get("/outbox/token")
@role_required(*EVERYONE)
def token():
    """A CSRF token for this session: the page's own may have expired while the tablet
    was offline. Whose outbox it is, so nothing is sent under someone else's name."""
    response = jsonify(csrf_token=generate_csrf(), user_id=current_user.id)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_template_global()
def outbox_zone_names() -> str:
    """The abbreviations the pages write for the reader's zone, by UTC offset in minutes
    (this year and next), so the outbox writes when an item was saved as a page would:
    "09:05 JST", where the browser alone would say "GMT+9"."""
    return _zone_names(reader_zone().key, utcnow().year)


@cache
def _zone_names(zone_key: str, year: int) -> str:
    zone = ZoneInfo(zone_key)
    names: dict[int, str | None] = {}
    for month in range(24):
        at = datetime(year + month // 12, month % 12 + 1, 15, 12, tzinfo=UTC).astimezone(zone)
        offset = at.utcoffset()
        if offset is not None:
            names[int(offset.total_seconds() // 60)] = at.tzname()
    return json.dumps(names, separators=(",", ":"))
