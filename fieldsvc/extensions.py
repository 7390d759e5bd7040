"""Flask extensions, created unbound and initialised by create_app()."""

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_talisman import Talisman as _Talisman
from flask_wtf import CSRFProtect

from fieldsvc.database import Base


class Talisman(_Talisman):
    """Flask-Talisman with each view's options and each policy's header text worked out
    once, not on every request (it worked out the options four times a request and wrote
    the policies out again each time). The headers are the same; a nonce, when
    configured, still makes a new policy text for each request. Reset by init_app, which
    may set other options (the tests make many apps)."""

    def init_app(self, app, **options):
        self._view_options: dict = {}
        self._policy_texts: dict = {}
        super().init_app(app, **options)

    def _get_local_options(self):
        view = current_app.view_functions.get(request.endpoint)
        if (options := self._view_options.get(view)) is None:
            options = self._view_options[view] = super()._get_local_options()
        return options

    def _parse_policy(self, policy):
        if hasattr(request, "csp_nonce"):
            return super()._parse_policy(policy)
        return self._policy_text(policy, super()._parse_policy)

    def _parse_structured_header_policy(self, policy):
        return self._policy_text(policy, super()._parse_structured_header_policy)

    def _policy_text(self, policy, write):
        # By identity: the policies are the objects given to init_app (or to a view's
        # decorator), kept alive here with their text.
        kept = self._policy_texts.get(id(policy))
        if kept is None or kept[0] is not policy:
            kept = self._policy_texts[id(policy)] = (policy, write(policy))
        return kept[1]


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address)
talisman = Talisman()

# Only the app's own assets: no CDN, no inline script or style.
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
