"""The signed session cookie, re-signed only when it changed or its idle clock needs
pushing forward.

Flask refuses a cookie signed longer ago than PERMANENT_SESSION_LIFETIME: that is the idle
timeout. Re-signing it on every request (SESSION_REFRESH_EACH_REQUEST) costs a signature
and a Set-Cookie on every page; once a minute keeps the idle timeout within a minute of
exact. What the cookie opens is still checked against the database on every request
(auth.services.session_user), so signing out or a revoked sign-in takes effect at once.

The API shares no session with the pages (a bearer token only: no cookie read or set
under /api/), and the health, readiness and metrics answers never set one, not even the
refresh of a signed-in browser's session.
"""

import time
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from urllib.parse import urlsplit

from flask import Flask, Request, current_app, g, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_wtf.csrf import CSRFError, generate_csrf
from itsdangerous import BadSignature, URLSafeTimedSerializer

from fieldsvc.errors import API_PREFIX, answer_http_error, refused

REFRESH_AFTER = timedelta(minutes=1)

NEVER_SET_BY = frozenset({"ops"})  # blueprints whose answers set no cookie


class SignedSession(SecureCookieSession):
    """A session that knows when its cookie was signed (None: not signed yet)."""

    signed_at: datetime | None = None


# Cookies this process has verified, by their exact text: a browser sends the same cookie
# on every request until it is re-signed (at most once a minute), and checking its
# signature and decoding it again was a tenth of a signed-in page's fixed cost. Only the
# exact text verified under the same keys is taken as read, its age is checked on every
# request as the signature's would be, and only sessions of plain values are kept (a
# request may change a list inside its session in place).
OPENED_KEPT = 1024
_PLAIN = (str, int, float, bool, type(None))


class IdleRefreshSessionInterface(SecureCookieSessionInterface):
    session_class = SignedSession

    def __init__(self) -> None:
        self._serializers: dict[tuple, URLSafeTimedSerializer] = {}
        self._opened: dict[str, tuple[URLSafeTimedSerializer, dict, datetime, int]] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        # One per set of keys, not a new one for each request's open and save (Flask's
        # builds it from the keys and this class's settings, nothing else).
        if not app.secret_key:
            return None
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if (serializer := self._serializers.get(keys)) is None:
            serializer = self._serializers[keys] = super().get_signing_serializer(app)
        return serializer

    def open_session(self, app: Flask, request: Request) -> SignedSession | None:
        if request.path.startswith(API_PREFIX):
            return self.null_session_class()
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        kept = self._opened.get(cookie)
        # The age as itsdangerous works it out (whole seconds); an expired cookie goes on
        # to the signature check below, which refuses it.
        if (
            kept is not None
            and kept[0] is serializer
            and 0 <= int(time.time()) - kept[3] <= max_age
        ):
            session = self.session_class(kept[1])
            session.signed_at = kept[2]
            return session
        try:
            data, signed_at = serializer.loads(cookie, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if all(type(value) in _PLAIN for value in data.values()):
            if len(self._opened) >= OPENED_KEPT:
                self._opened.clear()
            self._opened[cookie] = (serializer, data, signed_at, int(signed_at.timestamp()))
        session = self.session_class(data)
        session.signed_at = signed_at
        return session

    def save_session(self, app: Flask, session: SessionMixin, response) -> None:
        if request.path.startswith(API_PREFIX):
            return
        if session and not self.should_set_cookie(app, session):
            # What Flask's own does for an answer that sets no cookie, without first
            # working out every attribute of the cookie it will not set.
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)

    def should_set_cookie(self, app: Flask, session: SessionMixin) -> bool:
        if request.blueprint in NEVER_SET_BY:
            return False
        if session.modified:
            return True
        if not (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        signed_at = getattr(session, "signed_at", None)
        return signed_at is None or datetime.now(UTC) - signed_at >= REFRESH_AFTER


# The signed CSRF token a page's forms carry, by the session's own token and the signing
# key: Flask-WTF signs it afresh for every page (about 60 µs of a page's CPU), stamped
# with the time, and accepts it for WTF_CSRF_TIME_LIMIT (an hour). The pages one
# person opens within SIGNED_TOKEN_REUSED carry the same signed token, so a form is
# accepted until at most that much earlier than it would be. It stays bound to the
# session that holds its token, as Flask-WTF's is.
SIGNED_TOKEN_REUSED = 60  # seconds
SIGNED_TOKENS_KEPT = 1024
_signed_tokens: dict[tuple[str, str], tuple[str, int]] = {}


def csrf_token() -> str:
    """Flask-WTF's `generate_csrf()` for the session, signed at most once a minute: the
    pages' `csrf_token()`. Flask-WTF's own forms and checks read the same token, kept
    where it keeps it for the request."""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    if field in g:
        return g.get(field)
    key = current_app.config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
    raw = session.get(field)
    now = int(time.time())
    if isinstance(raw, str) and (kept := _signed_tokens.get((raw, key))) is not None:
        signed, signed_at = kept
        if 0 <= now - signed_at < SIGNED_TOKEN_REUSED:
            setattr(g, field, signed)
            return signed
    signed = generate_csrf()
    raw = session.get(field)
    if isinstance(raw, str):
        if len(_signed_tokens) >= SIGNED_TOKENS_KEPT:
            _signed_tokens.clear()
        _signed_tokens[(raw, key)] = (signed, now)
    return signed


def cookie_over_http_problem() -> str | None:
    """Why no sign-in can work on this request, or None: the session cookie is Secure (the
    production default) and the request came over plain http (as the trusted proxies'
    headers tell it), so the browser never sends the cookie back and every form is refused
    with "The CSRF session token is missing"."""
    if not current_app.config["SESSION_COOKIE_SECURE"] or request.is_secure:
        return None
    if _loopback(request.host):
        return None  # browsers send Secure cookies to http://localhost: it works there
    return (
        "This page came over plain http, but this server sends its sign-in cookie only "
        "over https (FIELDSVC_SECURE_COOKIES, on in production), so signing in cannot work "
        "here. Open it at "
        "its https address, through the proxy that terminates TLS. If you did, the proxy's "
        "X-Forwarded-Proto header is not trusted: set FIELDSVC_TRUSTED_PROXIES to the "
        "number of proxies in front of the app. Only for a trial on a private network: "
        "FIELDSVC_SECURE_COOKIES=false."
    )


def _loopback(host: str) -> bool:
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost":
        return True
    try:
        return ip_address(name).is_loopback
    except ValueError:
        return False


def _csrf_refused(error: CSRFError):
    """A form refused because the cookie could not come back says why, not only "CSRF"."""
    problem = cookie_over_http_problem()
    if problem is None or request.path.startswith(API_PREFIX):
        return answer_http_error(error)
    return refused(f"{error.description} {problem}", error.code or 400)


def init_app(app: Flask) -> None:
    app.session_interface = IdleRefreshSessionInterface()
    app.register_error_handler(CSRFError, _csrf_refused)


def init_csrf_token(app: Flask) -> None:
    """The pages' `csrf_token()`, in place of the one Flask-WTF's `init_app` gave them (as
    a global and through a context processor, which this one follows)."""
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(lambda: {"csrf_token": csrf_token})
