"""Rows a job delivers to the outside world (e-mails, webhooks), each its own lock.

A job claims a row with a conditional update committed before any traffic, so a job
run twice, or by two workers at once, sends once, and no transaction is open while
the other side answers. A failed attempt is tried again after a doubling wait; the
sweep finds rows whose job was lost (the queue was down, or the job died mid-send).

A row kind has `id`, `status` (an enum with PENDING, SENDING and FAILED), `attempts`,
`created_at`, `last_attempt_at`, `next_attempt_at` and `last_error` columns.
"""

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, or_, select, update

from fieldsvc.database import utcnow
from fieldsvc.extensions import db

# A claim older than this is a job that died mid-send (far longer than any time-out).
STUCK_AFTER = timedelta(minutes=15)
# A request queues its row at once; the sweep leaves a pending one alone this long, so
# the queued job gets the first try (and the claim would stop a second send anyway).
PENDING_GRACE = timedelta(minutes=2)
# A due time this close is due: the queue's clock and the database's may differ a little.
DUE_TOLERANCE = timedelta(seconds=5)


def claim(row: Any, *, due_only: bool) -> bool:
    """Commit the caller's work, then take the row for one attempt: False when another
    job has it, it is done, or with `due_only` its next attempt is not due yet."""
    model = type(row)
    status = _statuses(model)
    db.session.commit()  # the row is kept whatever the other side does
    now = utcnow()
    condition = model.status.in_((status.PENDING, status.FAILED))
    if due_only:
        condition = and_(
            condition,
            or_(model.next_attempt_at.is_(None), model.next_attempt_at <= now + DUE_TOLERANCE),
        )
    claimed = db.session.execute(
        update(model)
        .where(model.id == row.id, condition)
        .values(
            status=status.SENDING,
            attempts=model.attempts + 1,
            last_attempt_at=now,
            next_attempt_at=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    db.session.refresh(row)
    return claimed == 1


def retry_wait(first_seconds: float, attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: the first wait, doubled each time."""
    return timedelta(seconds=first_seconds * 2 ** (attempts - 1))


def retry_options(max_attempts: int, first_seconds: float) -> dict[str, Any]:
    """The job queue's retries for one row: the same waits as `retry_wait`."""
    return {"retries": max_attempts - 1, "retry_delay": first_seconds, "retry_backoff": 2}


def due_for_sweep(model: Any, *, stopped: str, now: datetime) -> list[int]:
    """Ids of rows whose job was lost: pending past the grace, failed past their next
    attempt, or claimed by a job that died mid-send (made due again, with `stopped` as
    their last error). Commits."""
    status = _statuses(model)
    stuck = db.session.execute(
        update(model)
        .where(model.status == status.SENDING, model.last_attempt_at <= now - STUCK_AFTER)
        .values(
            status=status.FAILED,
            next_attempt_at=now - PENDING_GRACE,  # due for the sweep at once
            last_error=stopped,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if stuck:
        current_app.logger.warning("%s: %d left sending by a stopped job", model.__name__, stuck)
    return list(
        db.session.scalars(
            select(model.id)
            .where(
                or_(
                    and_(model.status == status.PENDING, model.created_at <= now - PENDING_GRACE),
                    and_(
                        model.status == status.FAILED,
                        model.next_attempt_at <= now - PENDING_GRACE,
                    ),
                )
            )
            .order_by(model.id)
        )
    )


def _statuses(model: Any) -> Any:
    """The enum of the model's status column."""
    return model.status.type.enum_class
