"""An uploaded spreadsheet of customers, sites, contacts and equipment, kept between its
preview and its import so that the import reads exactly the bytes the preview showed."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldsvc.auth.models import User
from fieldsvc.database import utcnow
from fieldsvc.extensions import db


class SpreadsheetImport(db.Model):
    """One uploaded file. The preview is opened by its random token, never by its id; the
    audit trail holds one event for the import itself (who, file name, SHA-256, counts),
    beside the events of the records it created or changed."""

    __tablename__ = "spreadsheet_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    # "csv" or "xlsx", from the file's content, not its name.
    file_format: Mapped[str] = mapped_column(String(8))
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    imported_at: Mapped[datetime | None]
    # {"create": 20, "update": 7, "unchanged": 0, "refused": 3} once imported.
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    user: Mapped[User] = relationship()

    def __str__(self) -> str:
        return self.file_name
