"""Is this server ready for traffic? Each feature registers a check of what it needs
(the database, its schema, storage, the job queue); `/readyz` runs them all.

A check is a function of no arguments, run inside the app context, that returns when
the thing it checks works and raises when it does not. `NotReady` carries a reason
safe to show anyone (the endpoint needs no sign-in); any other exception is logged
with its traceback and shown only as "unreachable", so no host name, user name or
driver message reaches the public answer.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import text

from fieldsvc.extensions import db
from fieldsvc.storage import get_storage

Check = Callable[[], None]

# A key no feature writes: asking whether it exists is a round trip to the store and
# nothing more (a 404 from a bucket, a missing file on disk).
STORAGE_PROBE_KEY = "readiness/probe"

_checks: dict[str, Check] = {}


class NotReady(Exception):
    """A check's failure, with a reason that may be shown publicly."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    reason: str | None = None


def register_readiness_check(name: str, check: Check) -> None:
    """Add (or replace) the check called `name`; `/readyz` is 503 while any one fails."""
    _checks[name] = check


def registered_checks() -> dict[str, Check]:
    return dict(_checks)


def run_checks() -> list[CheckResult]:
    """Every registered check, in the order registered, each whatever the others did."""
    results = []
    for name, check in _checks.items():
        try:
            check()
        except NotReady as not_ready:
            results.append(CheckResult(name, ok=False, reason=str(not_ready)))
        except Exception:
            current_app.logger.exception("readiness check %r failed", name)
            results.append(CheckResult(name, ok=False, reason="unreachable"))
        else:
            results.append(CheckResult(name, ok=True))
    return results


def check_database() -> None:
    db.session.execute(text("SELECT 1"))


def check_migrations() -> None:
    """The database's Alembic revision is the newest the code knows (the script head)."""
    current = set(MigrationContext.configure(db.session.connection()).get_current_heads())
    expected = script_heads()
    if current != expected:
        raise NotReady(
            f"database at {', '.join(sorted(current)) or 'no revision'}, "
            f"code expects {', '.join(sorted(expected))}: run `flask --app fieldsvc db upgrade`"
        )


@cache
def _script_heads(directory: str) -> frozenset[str]:
    # Reading the migration scripts takes milliseconds; they cannot change under a
    # running process, so once per process is enough.
    config = current_app.extensions["migrate"].migrate.get_config(directory)
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def script_heads() -> frozenset[str]:
    return _script_heads(current_app.extensions["migrate"].directory)


def check_storage() -> None:
    get_storage().exists(STORAGE_PROBE_KEY)


register_readiness_check("database", check_database)
register_readiness_check("migrations", check_migrations)
register_readiness_check("storage", check_storage)
