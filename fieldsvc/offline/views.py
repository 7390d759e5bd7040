"""The installable app: its manifest, its service worker (served from the site's root so
it may answer every page), the page shown offline when a page is not kept, and the
bundle a technician's tablet keeps for offline reading.

Which responses a tablet may keep is decided here, on the server: a response carries
`Fieldsvc-Offline: <user key>` only when it is one of the pages below, read by its
signed-in user, with status 200. The worker keeps nothing else, so customer status
pages, PDFs, dispute packs and admin pages are never on the tablet.
"""

import json
from datetime import datetime
from pathlib import Path

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_login import current_user

from fieldsvc.auth.access import EVERYONE, role_required
from fieldsvc.database import utcnow
from fieldsvc.offline import queries
from fieldsvc.offline.keys import user_key

bp = Blueprint("offline", __name__)

KEEP_HEADER = "Fieldsvc-Offline"
# GET pages a signed-in technician reads on site; the photo endpoint only as a thumbnail.
KEPT_ENDPOINTS = frozenset(
    {"incidents.my_day", "incidents.new", "incidents.detail", "incidents.photo", "offline.bundle"}
)
# The app shell precached by the worker: what the kept pages load. Only files that exist
# are listed (static/js/outbox.js, the outbox's script, is one once it is merged).
SHELL_FILES = (
    "css/app.css",
    "css/incident-form.css",
    "js/incident-form.js",
    "js/offline.js",
    "js/outbox.js",
    "favicon.svg",
    "icons/icon-192.png",
    "icons/icon-512.png",
    "icons/maskable-512.png",
)
# A page that has not answered within this time is shown from the tablet's copy, if it
# has one (the answer still refreshes the copy); with no copy the page waits as usual.
PAGE_TIMEOUT_MS = 4000
REFRESH_MINUTES = 10
# Browsers check for a new worker on page views; within this many seconds of the last
# check they take /sw.js from their HTTP cache.
WORKER_MAX_AGE = 300
WORKER_PATH = "/sw.js"
WORKER_SOURCE = Path(__file__).resolve().parent.parent / "static" / "js" / "sw.js"


@bp.get("/manifest.webmanifest")
def manifest():
    def icon(name: str, size: int, purpose: str) -> dict[str, str]:
        src = url_for("static", filename=f"icons/{name}.png")
        return {"src": src, "sizes": f"{size}x{size}", "type": "image/png", "purpose": purpose}

    body = {
        "id": "/",
        "name": current_app.config["COMPANY_NAME"],
        "short_name": current_app.config["COMPANY_NAME"][:12],
        "description": "Incidents, follow-ups and remediation proposals on site.",
        "start_url": url_for("incidents.my_day"),
        "scope": "/",
        "display": "standalone",
        # The top bar's colour (--ink in app.css) and the page background (--bg).
        "theme_color": "#1b2430",
        "background_color": "#f4f6f9",
        "icons": [
            icon("icon-192", 192, "any"),
            icon("icon-512", 512, "any"),
            icon("maskable-512", 512, "maskable"),
        ],
    }
    return Response(
        json.dumps(body, ensure_ascii=False),
        mimetype="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


@bp.get(WORKER_PATH)
def service_worker():
    """The worker with its settings on its first line: a new deploy (other static files,
    other settings) changes its bytes, so browsers install it and drop the old shell."""
    shell = [url_for("offline.fallback")] + [
        url_for("static", filename=name) for name in SHELL_FILES if _static_file_exists(name)
    ]
    settings = {
        "shell": shell,
        "fallbackUrl": url_for("offline.fallback"),
        "bundleUrl": url_for("offline.bundle"),
        "equipmentOptionsUrl": url_for("incidents.equipment_options"),
        "keepDays": current_app.config["OFFLINE_DAYS"],
        "pageTimeoutMs": PAGE_TIMEOUT_MS,
        "refreshMinutes": REFRESH_MINUTES,
        "keepHeader": KEEP_HEADER,
    }
    source = f"const SETTINGS = {json.dumps(settings)};\n{WORKER_SOURCE.read_text()}"
    return Response(
        source,
        mimetype="text/javascript",
        # A deploy reaches tablets within WORKER_MAX_AGE of their next page view.
        headers={
            "Cache-Control": f"max-age={WORKER_MAX_AGE}",
            "Service-Worker-Allowed": "/",
        },
    )


@bp.record_once
def _serve_worker_without_cookies(state) -> None:
    """The worker's script is the same for everyone, so its response carries no session
    cookie and no `Vary: Cookie` (which Flask adds to every response, and which would
    keep browsers from reusing their copy: the session cookie changes on each request).
    Browsers check for a new worker on every page view; this way the check costs a
    request only once per WORKER_MAX_AGE."""
    wrapped = state.app.wsgi_app

    def app(environ, start_response):
        if environ.get("PATH_INFO") != WORKER_PATH:
            return wrapped(environ, start_response)

        def start(status, headers, exc_info=None):
            kept = []
            for name, value in headers:
                if name.lower() == "vary":
                    value = ", ".join(v for v in value.split(", ") if v.lower() != "cookie")
                if name.lower() != "set-cookie" and value:
                    kept.append((name, value))
            return start_response(status, kept, exc_info)

        return wrapped(environ, start)

    state.app.wsgi_app = app


def _static_file_exists(name: str) -> bool:
    return (Path(current_app.static_folder or "") / name).is_file()


@bp.get("/offline")
def fallback():
    """What the worker shows for a page the tablet does not keep. The same for everyone
    (the worker fetches it without cookies): it names no person and no record."""
    return render_template("offline/fallback.html", keep_days=current_app.config["OFFLINE_DAYS"])


@bp.get("/offline/bundle")
@role_required(*EVERYONE)
def bundle():
    """What a tablet keeps to work offline: the reference data of the new-incident form
    for the customers the user's team serves, and the pages to keep."""
    kept = queries.kept_incidents(current_user)
    data = queries.reference_data(current_user)
    pages = [url_for("incidents.my_day"), url_for("incidents.new")]
    pages += [url_for("incidents.detail", incident_id=id_) for id_ in kept.incident_ids]
    pages += [
        url_for("incidents.photo", incident_id=incident, attachment_id=photo, size="thumbnail")
        for incident, photo in kept.thumbnails
    ]
    body = {
        "user": user_key(current_user),
        "generated_at": utcnow().isoformat(),
        "keep_days": current_app.config["OFFLINE_DAYS"],
        "complete": data.complete,
        "customers": data.customers,
        "sites": data.sites,
        "equipment": data.equipment,
        "contacts": data.contacts,
        "pages": pages,
    }
    return Response(
        queries.to_json(body),
        mimetype="application/json",
        headers={"Cache-Control": "private, no-store"},
    )


@bp.after_app_request
def mark_kept_pages(response: Response) -> Response:
    """Say which responses this user's tablet may keep, and clear the browser's copies
    when someone signs out."""
    endpoint = request.endpoint
    if response.mimetype == "text/html" and "Cache-Control" not in response.headers:
        # A page is kept only in its reader's own offline copy, never in the browser's
        # HTTP cache, where the next person on a shared tablet could be shown it.
        response.headers["Cache-Control"] = "no-store"
    if endpoint in KEPT_ENDPOINTS and _may_keep(response):
        response.headers[KEEP_HEADER] = user_key(current_user)
        response.vary.add("Cookie")
    elif endpoint == "auth.logout" and request.method == "POST" and response.status_code == 302:
        # Chromium then drops this site's Cache Storage, IndexedDB (the outbox), local
        # storage (form drafts) and its service worker registration; the page's script
        # already cleared them after warning about unsent items.
        response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


def _may_keep(response: Response) -> bool:
    if request.method != "GET" or response.status_code != 200:
        return False
    if request.endpoint == "incidents.photo" and (request.view_args or {}).get("size") is None:
        return False  # full-size photos stay on the server: only thumbnails are kept
    return current_user.is_authenticated


@bp.app_template_global()
def offline_user_key() -> str | None:
    """The key the signed-in user's offline copies are kept under (None when signed out)."""
    return user_key(current_user) if current_user.is_authenticated else None


@bp.app_template_global()
def offline_rendered_at() -> datetime | None:
    """When this page was rendered: what "last updated" says when it is shown offline.
    None on a page the tablet never keeps (the customer's status page, admin pages)."""
    return utcnow() if request.endpoint in KEPT_ENDPOINTS else None
