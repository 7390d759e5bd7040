"""An insider: someone with the database owner's rights (raw SQL, triggers) but no audit
key, who knows the open-source event format and computes hashes the way the code does."""

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, insert, select, text, update

from fieldsvc.audit.models import AuditEvent
from fieldsvc.extensions import db
from tests import postgres

CONTENT = (
    "seq",
    "at",
    "actor_id",
    "action",
    "object_type",
    "object_id",
    "changes",
    "reason",
    "prev_hash",
)


def canonical(row: dict, with_key_id: bool) -> bytes:
    content = {key: row[key] for key in CONTENT}
    if with_key_id:
        content["key_id"] = row["key_id"]
    content["at"] = content["at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def plain_sha256(row: dict) -> str:
    return hashlib.sha256(canonical(row, with_key_id=False)).hexdigest()


def hmac_sha256(row: dict, secret: bytes) -> str:
    return hmac.new(secret, canonical(row, with_key_id=True), hashlib.sha256).hexdigest()


def row_of(event: AuditEvent) -> dict:
    return {column: getattr(event, column) for column in (*CONTENT, "key_id", "hash")}


class Insider:
    def lift_triggers(self) -> None:
        """Drop the append-only triggers inside the test's transaction (rolled back)."""
        if db.engine.dialect.name == "postgresql":
            db.session.execute(
                text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
            )
        else:
            db.session.execute(text("DROP TRIGGER audit_events_no_update"))
            db.session.execute(text("DROP TRIGGER audit_events_no_delete"))

    def events(self) -> list[AuditEvent]:
        db.session.expire_all()
        return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))

    def append(self, key_id: str | None = None, secret: bytes | None = None, **values) -> dict:
        """An event after the head, linked to it, with a correctly computed plain
        SHA-256 hash (or an HMAC under a secret of the insider's own)."""
        head = self.events()[-1] if self.events() else None
        row = {
            "seq": head.seq + 1 if head else 1,
            "at": datetime.now(UTC),
            "actor_id": None,
            "action": "update",
            "object_type": "Customer",
            "object_id": 1,
            "changes": {"name": ["Northwind", "Nobody"]},
            "reason": None,
            "prev_hash": head.hash if head else "0" * 64,
            "key_id": key_id,
            **values,
        }
        row["hash"] = hmac_sha256(row, secret) if secret else plain_sha256(row)
        db.session.execute(insert(AuditEvent), [row])
        db.session.expire_all()
        return row

    def rewrite(
        self, seq: int, secret: bytes | None = None, until: int | None = None, **values
    ) -> None:
        """Edit event `seq`, then recompute its hash and every later one's (up to
        `until`), relinked."""
        prev_hash = None
        for event in self.events():
            if event.seq < seq or (until is not None and event.seq > until):
                continue
            row = row_of(event)
            if event.seq == seq:
                row.update(values)
            else:
                row["prev_hash"] = prev_hash
            row["hash"] = prev_hash = hmac_sha256(row, secret) if secret else plain_sha256(row)
            db.session.execute(
                update(AuditEvent)
                .where(AuditEvent.id == event.id)
                .values(**{k: v for k, v in row.items() if k != "seq"})
            )
        db.session.expire_all()

    def delete_from(self, seq: int) -> None:
        db.session.execute(delete(AuditEvent).where(AuditEvent.seq >= seq))
        db.session.expire_all()


@pytest.fixture
def fresh_database_url(database_url: str, tmp_path) -> Iterator[str]:
    """An empty, unmigrated database of the same kind, dropped afterwards."""
    with postgres.fresh_database(database_url, "fresh", tmp_path) as url:
        yield url


@pytest.fixture
def insider(app) -> Insider:
    return Insider()


@pytest.fixture
def trail(app, make_customer, insider) -> list[AuditEvent]:
    """Five committed events written by the app, and the triggers lifted for the insider."""
    for name in ("A", "B", "C", "D", "E"):
        make_customer(name=name)
    db.session.commit()
    insider.lift_triggers()
    events = insider.events()
    assert len(events) == 5, [e.action for e in events]
    return events
