"""An admin's one-button action on a page of records (send an e-mail again, replay a
webhook): run the service, commit or roll back, say what happened, and go back."""

from collections.abc import Callable

from flask import flash, redirect
from werkzeug.wrappers import Response

from fieldsvc.errors import DomainError
from fieldsvc.extensions import db


def run_action(
    change: Callable[[], object],
    *,
    done: str,
    back: str,
    after_commit: Callable[[], object] | None = None,
) -> Response:
    """Call `change`; if a rule refuses it, roll back and show why, else commit, call
    `after_commit` (e.g. hand the work to the job queue) and show `done`. Redirect to `back`."""
    try:
        change()
    except DomainError as refused:
        db.session.rollback()
        flash(str(refused), "error")
        return redirect(back)
    db.session.commit()
    if after_commit is not None:
        after_commit()
    flash(done, "success")
    return redirect(back)
