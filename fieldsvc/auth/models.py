from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldsvc.audit.models import Audited
from fieldsvc.database import str_enum, utcnow
from fieldsvc.extensions import db
from fieldsvc.ranges import MONEY


class Role(StrEnum):
    TECHNICIAN = "technician"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Team(Audited, db.Model):
    """A field team. It sees the incidents of the customers it serves."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    active: Mapped[bool] = mapped_column(default=True, index=True)

    def __str__(self) -> str:
        return self.name


class User(Audited, UserMixin, db.Model):
    __tablename__ = "users"
    __audit_redacted__ = frozenset({"password_hash"})
    __table_args__ = (
        CheckConstraint("approval_limit >= 0", name="approval_limit_not_negative"),
        MONEY.constraint("approval_limit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role, 20))
    approval_limit: Mapped[Decimal] = mapped_column(default=Decimal("0.00"), info={"range": MONEY})
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # An IANA name like Europe/Berlin; None: the company's. Pages show times in it.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # An integration (an ERP, a CMMS) that acts through API tokens an admin gives it,
    # never through the sign-in page.
    service_account: Mapped[bool] = mapped_column(default=False, server_default=false())

    team: Mapped[Team | None] = relationship()

    # The sign-in this request belongs to (not columns): its token and id, set by
    # start_session() or the session loader; its row is read only when asked for
    # (signing out, changing one's own password), not on every request.
    sign_in_token = None
    sign_in_id = None
    _current_session = None

    @property
    def current_session(self) -> "UserSession | None":
        if self._current_session is None and self.sign_in_id is not None:
            self._current_session = db.session.get(UserSession, self.sign_in_id)
        return self._current_session

    @current_session.setter
    def current_session(self, user_session: "UserSession") -> None:
        self._current_session = user_session
        self.sign_in_id = user_session.id
        self.sign_in_token = user_session.token

    def signed_in_with(self, sign_in_id: int, token: str) -> None:
        """This request belongs to the sign-in with this id and token (its row unread)."""
        self._current_session = None
        self.sign_in_id = sign_in_id
        self.sign_in_token = token

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """What Flask-Login keeps in the session cookie: this sign-in's token, never the
        user's id, so ending the sign-in makes a copied cookie worthless."""
        if self.sign_in_token is None:
            raise RuntimeError("get_id() needs the sign-in started by start_session()")
        return self.sign_in_token

    def __eq__(self, other: object) -> bool:
        # The same account, as UserMixin compared users before get_id() became a token.
        if isinstance(other, User):
            return str(self.id) == str(other.id)
        return NotImplemented

    __hash__ = object.__hash__

    @property
    def time_zone_label(self) -> str:
        return self.time_zone.replace("_", " ") if self.time_zone else "The company's"

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles

    def __str__(self) -> str:
        return self.name


class UserSession(db.Model):
    """One sign-in on one device. The cookie holds its token; here is only the token's
    SHA-256, so a copy of the database opens no session. Signing out, a new password and
    deactivation set `ended_at`; the lifetime limit is checked on every request."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(40))

    user: Mapped[User] = relationship()

    # The token itself, only while the request that started or presented it runs.
    token = None
