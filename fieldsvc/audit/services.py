"""The audit trail: what was done, when, by whom and why.

Writing is generic: a session hook turns every flushed insert, update and delete
of an Audited model into an AuditEvent in the same transaction, so no service can
forget it. Services name the actor and reason with `acting(actor, reason)`;
`record()` adds an event for something that is not a column change.
"""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache, lru_cache
from typing import Any, NamedTuple

from flask import has_request_context
from flask_login import current_user
from sqlalchemy import Select, and_, bindparam, event, inspect, or_, select, text
from sqlalchemy.orm import ColumnProperty, Session, object_session
from sqlalchemy.orm.util import identity_key

from fieldsvc.audit.anchors import Anchor
from fieldsvc.audit.models import Audited, AuditEvent
from fieldsvc.audit.sealing import SEAL_ACTION, chain_head, seal_rows
from fieldsvc.audit.verification import PLAIN_UNVOUCHED, Problem, verify_trail
from fieldsvc.audit.wording import REDACTED, HistoryEntry, is_told, tell
from fieldsvc.auth.models import User
from fieldsvc.database import model_of, plain_rows, utcnow
from fieldsvc.extensions import db

_ACTING = "audit_acting"
# Any constant will do: it only has to be the same for every writer.
_PG_CHAIN_LOCK = 7_245_001


@dataclass(frozen=True)
class _Pending:
    action: str
    object_type: str
    object_id: int
    changes: dict[str, Any]
    reason: str | None = None


class ResealRefused(Exception):
    """The trail cannot be sealed as it is: the problems say why."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


@contextmanager
def acting(actor: Any, reason: str | None = None, session: Session | None = None) -> Iterator[None]:
    """Attribute the changes flushed inside the block to `actor` (None: the system)."""
    session = session or db.session()
    stack = session.info.setdefault(_ACTING, [])
    if reason is None and stack:
        reason = stack[-1][1]  # a nested block keeps the reason given outside it
    stack.append((getattr(actor, "id", None), reason))
    try:
        yield
    finally:
        stack.pop()


def record(
    obj: Any, action: str, changes: dict[str, Any] | None = None, reason: str | None = None
) -> None:
    """Add an event that is not a plain column change (a sign-in, an acknowledgement...)."""
    session = db.session()
    session.flush()
    _append(
        session, [_Pending(action, type(obj).__name__, obj.id, _jsonable(changes or {}), reason)]
    )


def events_about(*objects: Any, newest: int | None = None) -> list[AuditEvent]:
    """Every audit event about the given objects, oldest first, as stored; with
    `newest`, only the newest that many of them (still oldest first)."""
    if not objects:
        return []
    shape, values = _kinds_and_ids(objects)
    events = db.session.scalars(_events_statement(shape, newest), values).all()
    return events if newest is None else events[::-1]


class TimelineEvent(NamedTuple):
    """An audit event as a timeline tells it: what was recorded and who did it, read as
    plain values (a page reads dozens of events; the sealed hashes are not shown). A
    named tuple: made from each row at a fraction of a frozen dataclass's cost."""

    seq: int
    at: datetime
    actor_id: int | None
    action: str
    object_type: str
    object_id: int
    changes: dict[str, Any]
    reason: str | None
    actor: Any  # the User who acted, or None for the system


def latest_events_about(*objects: Any, newest: int) -> list[TimelineEvent]:
    """The newest `newest` audit events about the given objects, oldest first, as plain
    values. Their actors are the users already in the session (a page that names people
    holds them all); any other is read with one more statement. Read on the session's
    connection, without the ORM's result set-up (a page reads dozens of them)."""
    if not objects:
        return []
    shape, values = _kinds_and_ids(objects)
    rows = plain_rows(db.session(), _event_rows_statement(shape, newest), values).all()
    actors = _users_by_id({row.actor_id for row in rows if row.actor_id is not None})
    return [
        TimelineEvent(*row, actors.get(row.actor_id) if row.actor_id is not None else None)
        for row in reversed(rows)
    ]


@lru_cache(maxsize=256)
def _event_rows_statement(shape: tuple[tuple[str, int], ...], newest: int) -> Select:
    return _events_statement(shape, newest).with_only_columns(
        AuditEvent.seq,
        AuditEvent.at,
        AuditEvent.actor_id,
        AuditEvent.action,
        AuditEvent.object_type,
        AuditEvent.object_id,
        AuditEvent.changes,
        AuditEvent.reason,
    )


def _users_by_id(ids: set[int]) -> dict[int, Any]:
    session = db.session()
    found = {i: session.identity_map.get(identity_key(User, i)) for i in ids}
    if missing := [i for i, user in found.items() if user is None]:
        found.update((u.id, u) for u in session.scalars(select(User).where(User.id.in_(missing))))
    return found


def _kinds_and_ids(objects: tuple[Any, ...]) -> tuple[tuple[tuple[str, int], ...], dict]:
    """The objects' kinds, in order, each with the number of ids the events statement
    takes for it, and the ids as the statement's values.

    Each id is a value of its own (`IN (?, ?, ?, ?)`), not a list spread into the statement
    every time it runs (an expanding parameter: about 50 µs of the incident page).
    The number of ids of a kind is rounded up to a power of two, the last id repeated, so a
    few statements serve every incident and each is compiled once."""
    ids_by_type: dict[str, set[int]] = {}
    for obj in objects:
        ids_by_type.setdefault(model_of(obj).__name__, set()).add(obj.id)
    shape, values = [], {}
    for n, kind in enumerate(sorted(ids_by_type)):
        ids = sorted(ids_by_type[kind])
        slots = 1 << (len(ids) - 1).bit_length()
        ids += ids[-1:] * (slots - len(ids))
        shape.append((kind, slots))
        values.update(zip(_id_names(n, slots), ids, strict=True))
    return tuple(shape), values


@cache
def _id_names(n: int, slots: int) -> tuple[str, ...]:
    """The names of the ids of the `n`th kind in the events statement."""
    return tuple(f"ids_{n}_{k}" for k in range(slots))


@lru_cache(maxsize=256)
def _events_statement(shape: tuple[tuple[str, int], ...], newest: int | None) -> Select:
    """The events about objects of these kinds, as many ids of each as `shape` says, the
    ids given when it runs: built once for each shape (a page asks about the same few)."""
    about = or_(
        *(
            and_(
                AuditEvent.object_type == kind,
                AuditEvent.object_id.in_([bindparam(name) for name in _id_names(n, slots)]),
            )
            for n, (kind, slots) in enumerate(shape)
        )
    )
    if newest is None:
        return select(AuditEvent).where(about).order_by(AuditEvent.seq)
    return select(AuditEvent).where(about).order_by(AuditEvent.seq.desc()).limit(newest)


def history_for(*objects: Any, internal: bool = True) -> list[HistoryEntry]:
    """Every audit event about the given objects, oldest first, in words."""
    return history_from(events_about(*objects), *objects, internal=internal)


def history_from(
    events: list[AuditEvent], *objects: Any, internal: bool = True, in_hand: Sequence[Any] = ()
) -> list[HistoryEntry]:
    """`events` (from `events_about(*objects)`) as a person reads them (see `wording`);
    internal-only facts are marked, and left out of the sentences unless `internal`.

    A referenced row among the objects, in `in_hand` (plain records read with them) or
    already in the session is named from there; the others are read with one statement
    per kind of row, however many events refer to them.
    """
    models = {model_of(obj).__name__: model_of(obj) for obj in objects}
    references = {name: _told_references(model) for name, model in models.items()}
    held = {(model_of(obj), obj.id): obj for obj in (*objects, *in_hand)}
    names = _reference_names(references, events, held)
    records = {(model_of(obj).__name__, obj.id): obj for obj in objects}
    about = sorted((e for e in events if e.object_type in models), key=lambda e: e.seq)
    return tell(about, names, records, internal=internal)


def referenced_ids(events: list[AuditEvent], field: str) -> set[int]:
    """Every id a foreign-key `field` held before or after the changes in `events`."""
    return {v for e in events for v in e.changes.get(field, ()) if isinstance(v, int)}


@cache
def _told_references(model: type) -> dict[str, type]:
    """The foreign-key columns of `model` a timeline tells, and the model each points at."""
    name = model.__name__
    return {f: target for f, target in _reference_columns(model).items() if is_told(name, f)}


@cache
def _reference_columns(model: type) -> dict[str, type]:
    """Foreign-key columns of `model` and the model each one points at (the mappings do
    not change while the program runs: worked out once per model)."""
    by_table = {mapper.local_table: mapper.class_ for mapper in db.Model.registry.mappers}
    return {
        column.key: by_table[next(iter(column.foreign_keys)).column.table]
        for column in model.__table__.columns
        if column.foreign_keys
    }


def _reference_names(
    references: dict[str, dict[str, type]],
    events: list[AuditEvent],
    held: Mapping[tuple[type, int], Any],
) -> dict[tuple[str, int], str]:
    """(field, id) -> the referenced row as a person names it; `held` holds rows at hand by
    (model, id)."""
    wanted: dict[type, set[int]] = {}  # target model -> ids
    fields: dict[type, set[str]] = {}
    for event_ in events:
        for field, target in references.get(event_.object_type, {}).items():
            ids = referenced_ids([event_], field)
            if ids:
                wanted.setdefault(target, set()).update(ids)
                fields.setdefault(target, set()).add(field)
    session = db.session()
    found: dict[type, dict[int, Any]] = {}
    for target, ids in wanted.items():
        loaded = {
            i: held.get((target, i)) or session.identity_map.get(identity_key(target, i))
            for i in ids
        }
        found[target] = {i: obj for i, obj in loaded.items() if obj is not None}
        missing = ids - found[target].keys()
        if missing:
            for obj in session.scalars(select(target).where(target.id.in_(missing))):
                found[target][obj.id] = obj
    return {
        (field, target_id): str(obj)
        for target, by_id in found.items()
        for field in fields[target]
        for target_id, obj in by_id.items()
    }


def reseal_plain_chain(anchors: Sequence[Anchor] = (), *, actor: Any = None) -> AuditEvent:
    """Verify the trail (against the anchors too), then vouch for the plain SHA-256
    events from before sealing with one sealed `chain_sealed` event; the caller commits.

    No event is changed (the table stays append-only): the new event's MAC covers the
    plain chain's head hash, and through its links every plain event before it. The
    anchors stop it from vouching for a trail cut back to its plain events.
    """
    session = db.session()
    report = verify_trail(anchors, session=session)
    if report.plain_events == 0:
        raise ResealRefused("there are no plain events: every event is already sealed")
    if problems := [p for p in report.problems if p.kind != PLAIN_UNVOUCHED]:
        raise ResealRefused("the trail has problems; nothing was sealed", problems)
    if report.seal_seq is not None:
        raise ResealRefused(f"the plain events are already vouched for by event #{report.seal_seq}")
    head_seq, head_hash = report.plain_head
    changes = {
        "plain_events": report.plain_events,
        "plain_head_seq": head_seq,
        "plain_head_hash": head_hash,
    }
    reason = "plain SHA-256 chain verified and sealed (audit reseal --from-plain)"
    with acting(actor, reason, session=session):
        _append(session, [_Pending(SEAL_ACTION, "AuditTrail", head_seq, changes)])
    return session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()


# --- writing ------------------------------------------------------------------------------


_CASCADE_DELETED = "audit_cascade_deleted"


@event.listens_for(Audited, "after_delete", propagate=True)
def _note_deleted_row(mapper, connection, target) -> None:
    # session.deleted lists only what the session was told to delete; rows removed by a
    # delete-orphan cascade are found during the flush, and are noted here instead.
    if (session := object_session(target)) is not None:
        session.info.setdefault(_CASCADE_DELETED, []).append(target)


@event.listens_for(Session, "after_flush")
def _audit_flush(session: Session, flush_context) -> None:
    # After the flush new rows have ids, yet attribute history is still pre-flush.
    deleted = {id(o): o for o in [*session.deleted, *session.info.pop(_CASCADE_DELETED, [])]}
    pending = [
        *(_Pending("create", type(o).__name__, o.id, _snapshot(o)) for o in _audited(session.new)),
        *(p for o in _audited(session.dirty) if (p := _update(o)) is not None),
        *(
            _Pending("delete", type(o).__name__, o.id, _snapshot(o))
            for o in _audited(deleted.values())
        ),
    ]
    if pending:
        _append(session, pending)


def _audited(objects) -> list[Any]:
    return sorted(
        (o for o in objects if isinstance(o, Audited)), key=lambda o: (type(o).__name__, o.id or 0)
    )


def _columns(obj: Any) -> list[ColumnProperty]:
    return [p for p in inspect(obj).mapper.iterate_properties if isinstance(p, ColumnProperty)]


def _snapshot(obj: Any) -> dict[str, Any]:
    values = inspect(obj).dict
    return {
        p.key: [None, _value(obj, p.key, values.get(p.key))] for p in _columns(obj) if p.key != "id"
    }


def _update(obj: Any) -> _Pending | None:
    state = inspect(obj)
    changes = {}
    for prop in _columns(obj):
        history = state.attrs[prop.key].history
        if not history.has_changes():
            continue
        before = history.deleted[0] if history.deleted else None
        after = history.added[0] if history.added else None
        if before != after:
            changes[prop.key] = [_value(obj, prop.key, before), _value(obj, prop.key, after)]
    if not changes:
        return None
    return _Pending("update", type(obj).__name__, obj.id, changes)


def _value(obj: Any, key: str, value: Any) -> Any:
    if key in type(obj).__audit_redacted__ and value is not None:
        return REDACTED
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date | Decimal):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    return value


def _current_actor(session: Session) -> tuple[int | None, str | None]:
    stack = session.info.get(_ACTING)
    if stack:
        return stack[-1]
    if has_request_context() and current_user.is_authenticated:
        return current_user.id, None
    return None, None


def _append(session: Session, pending: list[_Pending]) -> None:
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Serialise writers so two transactions cannot both extend the same head.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_CHAIN_LOCK})
    seq, prev_hash = chain_head(connection)
    actor_id, context_reason = _current_actor(session)
    now = utcnow()
    rows = seal_rows(
        (
            {
                "at": now,
                "actor_id": actor_id,
                "action": item.action,
                "object_type": item.object_type,
                "object_id": item.object_id,
                "changes": item.changes,
                "reason": item.reason or context_reason,
            }
            for item in pending
        ),
        seq=seq,
        prev_hash=prev_hash,
    )
    connection.execute(AuditEvent.__table__.insert(), rows)
