"""Rate limits where they are declared, and nowhere else.

The limits themselves sit on their routes: failed sign-ins (auth.login), the customers'
status page (the portal blueprint) and each API token (the API's resource blueprints).
fieldsvc sets no default, application-wide or meta limit, so Flask-Limiter, bound to the
app as it documents, finds no limit for any other page and never reads or writes its
storage (Redis with several app servers) for one: a page pays only for the lookup
(benchmarks/rate_limit_hooks.py measures it).
"""

from flask import Flask

from fieldsvc.extensions import limiter


def init_app(app: Flask) -> None:
    limiter.init_app(app)
