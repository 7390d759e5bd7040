"""API tokens: what an integration presents as `Authorization: Bearer <token>`."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldsvc.audit.models import Audited
from fieldsvc.auth.models import User
from fieldsvc.database import utcnow
from fieldsvc.extensions import db


class Area(StrEnum):
    """What a scope opens: each area is read or written separately."""

    CUSTOMERS = "customers"  # customers, sites, contacts, equipment
    INCIDENTS = "incidents"  # incidents, work log, communications, follow-ups
    PARTS = "parts"  # part orders, suppliers, the parts catalogue
    PROPOSALS = "proposals"  # proposals, revisions, the frozen PDF, e-mail delivery

    @property
    def label(self) -> str:
        return {
            "customers": "Customers, sites, contacts and equipment",
            "incidents": "Incidents, work log, communications and follow-ups",
            "parts": "Part orders, suppliers and the parts catalogue",
            "proposals": "Proposals, their PDFs and e-mail delivery",
        }[self.value]


SCOPES = tuple(f"{area.value}:{access}" for area in Area for access in ("read", "write"))


class ApiToken(Audited, db.Model):
    """One token of one user (a person, or a service account an admin made).

    Only the token's SHA-256 is stored: the token is 32 random bytes, so a fast hash
    cannot be reversed by guessing (unlike a password, there is nothing short to try),
    and one indexed lookup finds it on every request without a slow password hash.
    """

    __tablename__ = "api_tokens"
    __audit_redacted__ = frozenset({"token_hash"})

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The token's first characters, shown in lists so a person knows which one is which.
    prefix: Mapped[str] = mapped_column(String(12))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # Kept by a plain UPDATE at most once a minute, not in the audit trail (see services).
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now

    def __str__(self) -> str:
        return f"API token {self.name} ({self.prefix}…)"
