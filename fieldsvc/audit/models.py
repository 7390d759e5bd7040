from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldsvc.database import utcnow
from fieldsvc.extensions import db

if TYPE_CHECKING:
    from fieldsvc.auth.models import User


class Audited:
    """Mixin: every insert, update and delete of this model is written to the audit trail.

    Columns named in __audit_redacted__ are recorded as changed without their values.
    """

    __audit_redacted__: frozenset[str] = frozenset()


class AuditEvent(db.Model):
    """One entry of the append-only audit trail, sealed to the entry before it.

    `hash` is the HMAC-SHA-256 of the event's content and `prev_hash`, under the
    configured audit key named by `key_id`. Events written before the trail was sealed
    have no key id and a plain SHA-256 `hash`; a `chain_sealed` event vouches for them.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(unique=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(60))
    object_id: Mapped[int]
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(40))

    actor: Mapped["User | None"] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<AuditEvent #{self.seq} {self.action} {self.object_type}:{self.object_id}>"
