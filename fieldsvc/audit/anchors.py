"""Anchors: the audit trail's head (sequence, event id, MAC) recorded outside the database.

The chain alone cannot show that its newest events were deleted. An anchor kept where
a database writer cannot reach it (an append-only file on another machine, a log
collector, a mailbox) can: `audit verify --anchors FILE` checks that every anchored
event is still there with the same MAC, so anything deleted or rewritten up to the
last anchor is found. Each anchor carries its own MAC, so an edited anchor line shows.
"""

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldsvc.audit.models import AuditEvent
from fieldsvc.audit.sealing import anchor_mac, audit_keys, event_content, event_mac
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.mail.models import OutgoingEmail
from fieldsvc.mail.services import deliver_now, queue_email

ANCHOR_TYPE = "fieldsvc-audit-anchor"


class AnchorRefused(Exception):
    """The head cannot be anchored as it is."""


class AnchorFileError(Exception):
    """An anchor file cannot be read."""


@dataclass(frozen=True)
class Anchor:
    seq: int
    event_id: int
    hash: str
    key_id: str
    event_at: str
    anchored_at: str
    mac_key_id: str
    mac: str
    source: str = ""  # where it was read from, e.g. "anchors.jsonl line 3"

    def signed_fields(self) -> dict[str, Any]:
        fields = asdict(self)
        del fields["mac"], fields["source"]
        return {"type": ANCHOR_TYPE, **fields}

    def to_json(self) -> str:
        return json.dumps({**self.signed_fields(), "mac": self.mac}, separators=(",", ":"))

    def __str__(self) -> str:
        where = f" ({self.source})" if self.source else ""
        when = self.anchored_at[:19].replace("T", " ")
        return f"the anchor of {when} UTC for event #{self.seq}{where}"

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str) -> "Anchor":
        text_fields = ("hash", "key_id", "event_at", "anchored_at", "mac_key_id", "mac")
        if data.get("type") != ANCHOR_TYPE or not all(
            isinstance(data.get(name), str) for name in text_fields
        ):
            raise ValueError("not an anchor")
        if not all(type(data.get(name)) is int for name in ("seq", "event_id")):
            raise ValueError("not an anchor")
        return cls(
            seq=data["seq"],
            event_id=data["event_id"],
            **{name: data[name] for name in text_fields},
            source=source,
        )


def anchor_head(session: Session | None = None) -> Anchor:
    """The trail's newest event as an anchor, MAC'd with the current audit key.

    Refuses a head that is not sealed or fails its MAC: an anchor vouches for the head.
    """
    session = session or db.session()
    head = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()
    if head is None:
        raise AnchorRefused("the audit trail is empty: nothing to anchor yet")
    if head.key_id is None:
        raise AnchorRefused(
            f"the newest event #{head.seq} is not sealed: run "
            "`flask --app fieldsvc audit reseal --from-plain` first"
        )
    keys = audit_keys()
    secret = keys.secrets.get(head.key_id)
    if secret is None or event_mac(event_content(head), secret) != head.hash:
        raise AnchorRefused(
            f"the newest event #{head.seq} does not match its MAC, so it was not anchored: "
            "run `flask --app fieldsvc audit verify`"
        )
    unsigned = Anchor(
        seq=head.seq,
        event_id=head.id,
        hash=head.hash,
        key_id=head.key_id,
        event_at=_iso(head.at),
        anchored_at=_iso(utcnow()),
        mac_key_id=keys.current_id,
        mac="",
    )
    return Anchor(**{**asdict(unsigned), "mac": anchor_mac(unsigned.signed_fields(), keys.current)})


def append_to_file(anchor: Anchor, path: str | Path) -> None:
    """Add the anchor as one JSON line at the end of the file (created if missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    with os.fdopen(descriptor, "a") as file:
        file.write(anchor.to_json() + "\n")
        file.flush()
        os.fsync(file.fileno())


def email_anchor(
    anchor: Anchor, address: str, deliver: Callable[[OutgoingEmail], bool | None] = deliver_now
) -> tuple[OutgoingEmail, bool | None]:
    """Queue the anchor in the outbox for `address` and deliver it; True if delivered,
    None if handed to the job queue (`deliver=deliver_later`).

    Commits the session (the outbox keeps a failed delivery, and the queue retries it).
    """
    company = current_app.config["COMPANY_NAME"]
    email = queue_email(
        address,
        f"{company} audit anchor: event #{anchor.seq}",
        f"The audit trail of {company} ended at event #{anchor.seq} at {anchor.anchored_at}.\n\n"
        "Keep this e-mail where the people who run the database cannot change it. "
        "To check the trail against it, save the line below (with the lines of other such "
        "e-mails) in a file and run\n"
        "    flask --app fieldsvc audit verify --anchors FILE\n\n"
        f"{anchor.to_json()}\n",
    )
    return email, deliver(email)


def anchor_periodically(deliver: Callable[[OutgoingEmail], bool | None]) -> Anchor | None:
    """The scheduled anchor: the head in FIELDSVC_AUDIT_ANCHOR_FILE, and by e-mail to
    FIELDSVC_AUDIT_ANCHOR_EMAIL if set; nothing when the file's last anchor already
    vouches for this head (a second run the same day adds nothing)."""
    try:
        head = anchor_head()
    except AnchorRefused as refused:
        current_app.logger.warning("audit: not anchored: %s", refused)
        return None
    path = Path(current_app.config["AUDIT_ANCHOR_FILE"])
    previous = read_anchors(path)[-1:] if path.exists() else []
    if previous and (previous[0].event_id, previous[0].hash) == (head.event_id, head.hash):
        return None
    append_to_file(head, path)
    if address := current_app.config["AUDIT_ANCHOR_EMAIL"]:
        email_anchor(head, address, deliver)
    current_app.logger.info("audit: anchored event #%d", head.seq)
    return head


def read_anchors(path: str | Path) -> list[Anchor]:
    """The anchors in a file: its lines that hold one (a JSON-lines file, a saved e-mail,
    a log with a prefix before each line); other lines are skipped."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise AnchorFileError(f"cannot read the anchor file {path}: {error}") from error
    anchors = []
    decoder = json.JSONDecoder()
    for number, line in enumerate(lines, start=1):
        if ANCHOR_TYPE not in line or "{" not in line:
            continue
        try:
            data, _ = decoder.raw_decode(line, line.index("{"))
            anchors.append(Anchor.from_json(data, source=f"{path} line {number}"))
        except (ValueError, AttributeError) as error:
            raise AnchorFileError(f"{path} line {number} is not a readable anchor") from error
    return anchors


def _iso(moment) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
