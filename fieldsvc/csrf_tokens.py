"""The CSRF token a page carries: Flask-WTF's own token, signed with parts kept per
process.

Flask-WTF's `generate_csrf()` builds a serializer, encodes the session's raw token and
derives the signing key from the secret on each page before it signs. Only the signature
(over the raw token and the current second) differs from one page to the next, so the
serializer, the signer with its derived key and each raw token's encoding are kept, and
every page is still signed afresh: the token is the very text `generate_csrf()` returns
in that second, tied to the session's raw token, and expires as WTF_CSRF_TIME_LIMIT says
(its time is when it was signed). Flask-WTF itself checks it, and makes the raw token
when a session has none.
"""

from functools import cached_property

from flask import Flask, current_app, g, session
from flask_wtf.csrf import generate_csrf
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

SALT = "wtf-csrf-token"  # Flask-WTF's
ENCODINGS_KEPT = 1024


class _KeptKeySigner(TimestampSigner):
    """A signer that derives its key from its secret once, not for every signature."""

    @cached_property
    def _derived_key(self) -> bytes:
        return super().derive_key()

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        return self._derived_key if secret_key is None else super().derive_key(secret_key)


class _Signing:
    def __init__(self, secret_key: str | bytes) -> None:
        self.serializer = URLSafeTimedSerializer(secret_key, salt=SALT, signer=_KeptKeySigner)
        self.signer = self.serializer.make_signer()
        self.encoded: dict[str, bytes] = {}

    def token(self, raw: str) -> str:
        if (payload := self.encoded.get(raw)) is None:
            if len(self.encoded) >= ENCODINGS_KEPT:
                self.encoded.clear()
            payload = self.encoded[raw] = self.serializer.dump_payload(raw)
        return self.signer.sign(payload).decode()


_signing: dict[str | bytes, _Signing] = {}


def csrf_token() -> str:
    """The signed CSRF token of this request: what Flask-WTF's `generate_csrf()` gives."""
    field_name = current_app.config["WTF_CSRF_FIELD_NAME"]
    if field_name in g or type(session.get(field_name)) is not str:
        return generate_csrf()  # already made for this request, or no raw token yet
    secret_key = current_app.config.get("WTF_CSRF_SECRET_KEY", current_app.secret_key)
    if not secret_key:
        return generate_csrf()  # Flask-WTF says what is missing
    if (signing := _signing.get(secret_key)) is None:
        signing = _signing[secret_key] = _Signing(secret_key)
    token = signing.token(session[field_name])
    setattr(g, field_name, token)  # where Flask-WTF's forms and generate_csrf() look
    return token


def init_app(app: Flask) -> None:
    """Pages' `csrf_token()` (after CSRFProtect.init_app, which set Flask-WTF's)."""
    app.jinja_env.globals["csrf_token"] = csrf_token
