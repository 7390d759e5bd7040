"""Verifying the audit trail: every event's MAC and link, and the anchors kept outside.

The walk does not stop at the first problem: it names each bad event (the first
MAX_PROBLEMS of them) and what is wrong with it, what the anchors show is missing, and
a key whose every event fails (the wrong secret configured).
"""

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from fieldsvc.audit.anchors import Anchor
from fieldsvc.audit.models import AuditEvent
from fieldsvc.audit.sealing import (
    GENESIS_HASH,
    SEAL_ACTION,
    anchor_mac,
    audit_keys,
    event_content,
    event_mac,
    plain_hash,
)
from fieldsvc.extensions import db

MAX_PROBLEMS = 100
RESEAL_COMMAND = "flask --app fieldsvc audit reseal --from-plain"
# Problem kinds a caller may act on; the others are just reported.
PLAIN_UNVOUCHED = "plain_unvouched"
EVENT = "event"
ANCHOR = "anchor"
KEY = "key"


@dataclass(frozen=True)
class Problem:
    text: str
    kind: str = EVENT
    seq: int | None = None
    event_id: int | None = None

    def __str__(self) -> str:
        if self.seq is None:
            return self.text
        return f"audit event #{self.seq} (id {self.event_id}): {self.text}"


@dataclass
class Verification:
    checked: int = 0
    head_seq: int = 0
    plain_events: int = 0
    plain_head: tuple[int, str] = (0, GENESIS_HASH)
    seal_seq: int | None = None  # the chain_sealed event that vouches for the plain events
    sealed_by: Counter[str] = field(default_factory=Counter)  # key id → events it verified
    anchors_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0

    @property
    def intact(self) -> bool:
        return self.problem_count == 0

    def add(self, problem: Problem) -> None:
        self.problem_count += 1
        # Findings about keys, anchors and the plain chain are few and say the most: kept
        # whatever the count, and listed before the events.
        if problem.kind != EVENT:
            self.problems.insert(sum(p.kind != EVENT for p in self.problems), problem)
        elif len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


def verify_trail(anchors: Sequence[Anchor] = (), session: Session | None = None) -> Verification:
    """Check every event's MAC (or, before sealing, plain hash) and link, and every anchor."""
    session = session or db.session()
    keys = audit_keys()
    report = Verification()
    anchored = defaultdict(list)
    for anchor in _trusted(anchors, report):
        anchored[anchor.seq].append(anchor)
    failed_by_key: Counter[str] = Counter()
    unknown: dict[str, Row] = {}  # key id not configured → the first event it sealed
    expected_seq, prev_hash, seal = 1, GENESIS_HASH, None
    # Plain rows, not AuditEvent objects: building millions of ORM objects (and joining
    # each actor) took longer than checking them.
    events = session.connection().execute(
        select(AuditEvent.__table__).order_by(AuditEvent.seq).execution_options(yield_per=1000)
    )
    for event in events:
        report.checked += 1
        if event.seq > expected_seq:
            missing = _range(expected_seq, event.seq - 1)
            report.add(_about(event, f"expected sequence {expected_seq}: {missing} missing"))
        if event.prev_hash != prev_hash:
            report.add(_about(event, "does not link to the event before it"))
        content = event_content(event)
        if event.key_id is None:
            if report.sealed_by or failed_by_key:
                forged = plain_hash(content) == event.hash
                report.add(_about(event, _unsealed_after_sealing(forged)))
            else:
                report.plain_events += 1
                report.plain_head = (event.seq, event.hash)
                if plain_hash(content) != event.hash:
                    report.add(_about(event, "its content does not match its hash (altered)"))
        elif (secret := keys.secrets.get(event.key_id)) is None:
            failed_by_key[event.key_id] += 1
            unknown.setdefault(event.key_id, event)
        elif event_mac(content, secret) != event.hash:
            failed_by_key[event.key_id] += 1
            if plain_hash(content) == event.hash:
                text = (
                    "carries a plain SHA-256 hash where its MAC belongs (written without the key)"
                )
            else:
                text = (
                    f"its content does not match its MAC under key '{event.key_id}' "
                    "(altered, or sealed with another secret)"
                )
            report.add(_about(event, text))
        else:
            report.sealed_by[event.key_id] += 1
            if event.action == SEAL_ACTION and seal is None:
                seal = event
        for anchor in anchored.pop(event.seq, ()):
            report.anchors_checked += 1
            if anchor.hash != event.hash:
                report.add(
                    _about(
                        event,
                        f"differs from {anchor}: rewritten or replaced after it was anchored",
                        ANCHOR,
                    )
                )
        expected_seq, prev_hash = event.seq + 1, event.hash
    report.head_seq = expected_seq - 1
    _check_plain_events(report, seal)
    _check_keys(report, failed_by_key, unknown)
    for _seq, lost in sorted(anchored.items()):
        for anchor in lost:
            report.anchors_checked += 1
            report.add(_beyond_head(anchor, report.head_seq))
    return report


def _trusted(anchors: Sequence[Anchor], report: Verification) -> list[Anchor]:
    """The anchors whose own MAC holds; each other one is a problem."""
    keys = audit_keys()
    trusted = []
    for anchor in anchors:
        secret = keys.secrets.get(anchor.mac_key_id)
        if secret is None:
            report.add(
                Problem(
                    f"{anchor} is sealed with key '{anchor.mac_key_id}', which is not configured",
                    ANCHOR,
                )
            )
        elif anchor_mac(anchor.signed_fields(), secret) != anchor.mac:
            report.add(
                Problem(f"{anchor} does not match its own MAC (the anchor was altered)", ANCHOR)
            )
        else:
            trusted.append(anchor)
    return trusted


def _check_plain_events(report: Verification, seal: Row | None) -> None:
    if not report.plain_events:
        return
    head_seq, head_hash = report.plain_head
    if seal is None:
        report.add(
            Problem(
                f"events #1 to #{head_seq} have the plain SHA-256 chain from before sealing "
                f"and no sealed event vouches for them: run `{RESEAL_COMMAND}`",
                PLAIN_UNVOUCHED,
            )
        )
        return
    changes = seal.changes
    if (changes.get("plain_head_seq"), changes.get("plain_head_hash")) != (head_seq, head_hash):
        report.add(
            _about(
                seal,
                f"vouches for plain events up to #{changes.get('plain_head_seq')}, but the plain "
                f"events now end at #{head_seq} with another hash",
            )
        )
    else:
        report.seal_seq = seal.seq


def _check_keys(report: Verification, failed_by_key: Counter[str], unknown: dict[str, Row]) -> None:
    """Name a key that is not configured, and one whose every event fails (wrong secret)."""
    for key_id, first in unknown.items():
        report.add(
            _about(
                first,
                f"sealed with key '{key_id}', which is not configured, as are "
                f"{failed_by_key[key_id]} event(s) in all (FIELDSVC_AUDIT_KEYS must keep "
                "every key that sealed events)",
                KEY,
            )
        )
    for key_id, failed in failed_by_key.items():
        if key_id not in unknown and failed > 1 and not report.sealed_by[key_id]:
            report.add(
                Problem(
                    f"none of the {failed} events sealed with key '{key_id}' matches its MAC: "
                    f"the secret configured for '{key_id}' is not the one that sealed them",
                    KEY,
                )
            )


def _beyond_head(anchor: Anchor, head_seq: int) -> Problem:
    if head_seq == 0:
        text = f"the audit trail is empty, but {anchor}: every event was deleted"
    else:
        text = (
            f"the trail ends at event #{head_seq}, but {anchor}: "
            f"{_range(head_seq + 1, anchor.seq)} deleted (head shorter than anchored)"
        )
    return Problem(text, ANCHOR)


def _unsealed_after_sealing(forged: bool) -> str:
    if forged:
        return (
            "has no key id and a plain SHA-256 hash where its MAC belongs: "
            "added after sealing, without the key"
        )
    return "has no key id: not sealed, added after sealing without the key"


def _about(event: Row, text: str, kind: str = EVENT) -> Problem:
    return Problem(text, kind, event.seq, event.id)


def _range(first: int, last: int) -> str:
    if first == last:
        return f"event #{first} is"
    return f"events #{first} to #{last} are"
