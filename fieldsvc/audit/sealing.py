"""Sealing the audit trail: each event's HMAC-SHA-256 under the audit key, chained.

An event's `hash` is the MAC of its content, its key id and the `hash` of the event
before it, so whoever lacks the key can neither append an event nor rewrite one (and
recompute the rest) without `audit verify` noticing. The key comes from configuration
(FIELDSVC_AUDIT_KEYS), never from the database.

A bulk loader that inserts events itself (benchmarks) numbers and seals its rows with
`seal_rows()` after `chain_head()`, so they verify like the app's own.
"""

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from flask import current_app
from sqlalchemy import Connection, select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.config import parse_audit_keys

GENESIS_HASH = "0" * 64
# The event `audit reseal --from-plain` appends to vouch for the plain events before it.
SEAL_ACTION = "chain_sealed"
# What an event's hash covers (the plain SHA-256 of events from before sealing too).
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


@dataclass(frozen=True)
class AuditKeys:
    """The configured audit keys: the newest seals, every one listed verifies."""

    current_id: str
    secrets: Mapping[str, bytes]

    @property
    def current(self) -> bytes:
        return self.secrets[self.current_id]


def audit_keys() -> AuditKeys:
    """The app's audit keys (FIELDSVC_AUDIT_KEYS, or the development key file)."""
    return _parsed(current_app.config["AUDIT_KEYS"])


@lru_cache(maxsize=8)
def _parsed(text: str) -> AuditKeys:
    keys = parse_audit_keys(text)
    return AuditKeys(next(iter(keys)), MappingProxyType(keys))


def chain_head(connection: Connection) -> tuple[int, str]:
    """The newest event's sequence number and hash: what the next event links to."""
    head = connection.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    return (head.seq, head.hash) if head else (0, GENESIS_HASH)


def seal_rows(
    rows: Iterable[dict[str, Any]], *, seq: int, prev_hash: str, keys: AuditKeys | None = None
) -> list[dict[str, Any]]:
    """Number, link and seal event rows that follow the event (seq, prev_hash).

    Each row needs at, actor_id, action, object_type, object_id, changes and reason;
    it gets seq, prev_hash, key_id and hash (its MAC under the current audit key).
    """
    keys = keys or audit_keys()
    key_id, secret = keys.current_id, keys.current
    sealed = []
    for row in rows:
        seq += 1
        row = {**row, "seq": seq, "prev_hash": prev_hash, "key_id": key_id}
        row["hash"] = prev_hash = event_mac(row, secret)
        sealed.append(row)
    return sealed


def event_mac(row: Mapping[str, Any], secret: bytes) -> str:
    """The HMAC-SHA-256 (hex) of a sealed event's content, key id and link."""
    mac = _keyed(secret).copy()  # cheaper than keying HMAC again for every event
    mac.update(_canonical(row, sealed=True))
    return mac.hexdigest()


@lru_cache(maxsize=16)
def _keyed(secret: bytes) -> "hmac.HMAC":
    return hmac.new(secret, digestmod=hashlib.sha256)


def plain_hash(row: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) that events written before sealing carry instead of a MAC."""
    return hashlib.sha256(_canonical(row, sealed=False)).hexdigest()


def event_content(event: Any) -> dict[str, Any]:
    """What an event's hash covers, from an AuditEvent or a row of audit_events."""
    return {column: getattr(event, column) for column in (*CONTENT, "key_id")}


def _canonical(row: Mapping[str, Any], *, sealed: bool) -> bytes:
    content = {key: row[key] for key in CONTENT}
    if sealed:
        content["key_id"] = row["key_id"]
    # Microsecond UTC text, identical whether the database kept a time zone or not.
    content["at"] = content["at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def anchor_mac(fields: Mapping[str, Any], secret: bytes) -> str:
    """The HMAC-SHA-256 (hex) of an anchor's fields, so an edited anchor line shows."""
    canonical = json.dumps(dict(fields), sort_keys=True, separators=(",", ":"))
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()
