"""Rate limits where they are declared, and nowhere else.

The limits themselves sit on their routes: failed sign-ins (auth.login), the
customers' status page (the portal blueprint) and each API token (the API's resource
blueprints). Flask-Limiter hooks every request of the
app to look for default limits; fieldsvc has none, so every other page would pay for
learning it has no limit. Its hooks run for the blueprints below only. A route limit
(`@limiter.limit`) is checked by its decorator wherever it is; a blueprint-wide limit or
a `deduct_when` needs its blueprint listed here.
"""

from flask import Flask

from fieldsvc.extensions import limiter

LIMITED_BLUEPRINTS = ("auth", "portal", "api_incidents", "api_proposals", "api_reference")


def init_app(app: Flask) -> None:
    registries = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    app_wide = [list(registry.get(None, ())) for registry in registries]
    limiter.init_app(app)
    for registry, before in zip(registries, app_wide, strict=True):
        added = [hook for hook in registry.get(None, ()) if hook not in before]
        registry[None] = before
        for blueprint in LIMITED_BLUEPRINTS:
            registry.setdefault(blueprint, []).extend(added)
