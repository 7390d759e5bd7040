"""What reminders were sent, so running `reminders send` twice sends nothing new."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fieldsvc.database import utcnow
from fieldsvc.extensions import db


class ReminderSent(db.Model):
    """One reminder about one thing to one person. `key` names the thing and the state
    it was in (e.g. `follow_up:12:due:2026-11-23T10:00`), so a moved due date or a new
    delay is a new reminder while the same one is never sent twice."""

    __tablename__ = "reminders_sent"
    __table_args__ = (UniqueConstraint("recipient_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    key: Mapped[str] = mapped_column(String(200))
    email_id: Mapped[int | None] = mapped_column(ForeignKey("outgoing_emails.id"))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
