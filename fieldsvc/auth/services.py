"""Accounts: password hashing and policy, sign-in and its limits, the sessions a
sign-in starts, and creating and changing users."""

import hashlib
import math
import secrets
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from limits import RateLimitItem, parse
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import bindparam, delete, func, or_, select, update

from fieldsvc.audit.services import acting, record
from fieldsvc.auth.models import Role, Team, User, UserSession
from fieldsvc.clock import time_zone_problem
from fieldsvc.database import loaded_instance, plain_rows, utcnow
from fieldsvc.errors import DomainError, FieldError, NotAllowed
from fieldsvc.extensions import db, limiter
from fieldsvc.ranges import MONEY, named

MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()
# Computed once so an unknown e-mail costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_problem(password: str, email: str = "") -> str | None:
    """Say why a password is too weak, or None when it is acceptable."""
    if not password or not password.strip():
        return "Enter a password."
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(set(password)) < 4:
        return "Use more different characters."
    local_part = email.split("@")[0].lower()
    if len(local_part) >= 3 and local_part in password.lower():
        return "Do not use your e-mail address in the password."
    return None


class AccountLocked(DomainError):
    """Too many wrong passwords for one account: no password is checked until `until`."""

    status = 429

    def __init__(self, until: datetime, now: datetime | None = None) -> None:
        self.until = until
        self.retry_after = max(1, math.ceil((until - (now or utcnow())).total_seconds()))
        minutes = math.ceil(self.retry_after / 60)
        super().__init__(
            "Too many wrong passwords for this account: it is locked for a while to stop "
            f"guessing. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def authenticate(email: str, password: str) -> User | None:
    """Return the active user with this e-mail and password, or None; raise AccountLocked
    (before any password is checked) while the account's failure limit is reached."""
    email = email.strip().lower()
    _check_not_locked(email)
    user = db.session.scalar(select(User).where(func.lower(User.email) == email))
    if user is None:
        _verify_dummy(password)
    elif _password_matches(user, password) and user.active:
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        _failures().clear(_account_limit(), *_account_key(email))
        return user
    _count_failure(email, user)
    return None


def _password_matches(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# --- the per-account limit on wrong passwords ---------------------------------------------
# Counted in the rate limiter's storage (memory:// or Redis, FIELDSVC_RATELIMIT_STORAGE_URI),
# keyed by a hash of the typed e-mail, so an unknown address locks like a real one and
# the answer says nothing about which accounts exist.


def _failures() -> FixedWindowRateLimiter:
    return FixedWindowRateLimiter(limiter.storage)


def _account_limit() -> RateLimitItem:
    return parse(current_app.config["LOGIN_ACCOUNT_LIMIT"])


def _account_key(email: str) -> tuple[str, str]:
    return "sign-in-failures", hashlib.sha256(email.encode()).hexdigest()


def _check_not_locked(email: str) -> None:
    limit = _account_limit()
    if not _failures().test(limit, *_account_key(email)):
        reset_at, _remaining = _failures().get_window_stats(limit, *_account_key(email))
        raise AccountLocked(datetime.fromtimestamp(reset_at, UTC))


def _count_failure(email: str, user: User | None) -> None:
    limit = _account_limit()
    _failures().hit(limit, *_account_key(email))
    if user is not None and not _failures().test(limit, *_account_key(email)):
        reset_at, _remaining = _failures().get_window_stats(limit, *_account_key(email))
        until = datetime.fromtimestamp(reset_at, UTC)
        with acting(None, reason=f"{limit.amount} wrong passwords within {_window(limit)}"):
            record(user, "account_locked", {"until": until.isoformat(timespec="seconds")})


def _window(limit: RateLimitItem) -> str:
    unit = limit.GRANULARITY.name
    return f"{limit.multiples} {unit}{'s' if limit.multiples != 1 else ''}"


def _verify_dummy(password: str) -> None:
    with suppress(VerificationError):
        _hasher.verify(_DUMMY_HASH, password)


def record_sign_in(user: User) -> None:
    with acting(user):
        record(user, "sign_in")


def record_sign_out(user: User) -> None:
    with acting(user):
        record(user, "sign_out")


# --- sessions -----------------------------------------------------------------------------
# Flask-Login keeps User.get_id() in the signed session cookie; get_id() is the token of one
# UserSession row, so the cookie opens pages only while that row is open. Idle time is
# Flask's own: the cookie is re-signed as it is used (at most once a minute,
# auth/session_cookie.py) and refused when older than PERMANENT_SESSION_LIFETIME
# (FIELDSVC_SESSION_IDLE_MINUTES).


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User) -> UserSession:
    """A new sign-in for `user` with a fresh random token (kept only as its hash)."""
    token = secrets.token_urlsafe(32)
    user_session = UserSession(user=user, token_hash=_token_hash(token))
    db.session.add(user_session)
    _forget_old_sessions(user)
    db.session.flush()
    user_session.token = token
    user.current_session = user_session
    return user_session


# Built once, run on every request of a signed-in person: the open, unexpired sign-in with
# this token and its active user, in one statement of plain values. The user is made a
# loaded ORM object from them (the same object every later read of the request gets); the
# sign-in's own row is read only when asked for (User.current_session). Loading both
# through the ORM cost a signed-in page about 80 µs more.
_USERS = User.__table__
# Each column's attribute name from the table, not `plain_columns(User, "")`, which would
# configure every mapper while this module is imported, before all models are.
_USER_KEYS = tuple(User.__mapper__.get_property_by_column(column).key for column in _USERS.c)
_OPEN_SIGN_IN = (
    select(UserSession.id, *_USERS.c)
    .join_from(UserSession, User, UserSession.user_id == User.id)
    .where(
        UserSession.token_hash == bindparam("token_hash"),
        UserSession.ended_at.is_(None),
        UserSession.started_at > bindparam("started_after"),
        User.active,
    )
)


def session_user(token: str, now: datetime | None = None) -> User | None:
    """The active user whose open, unexpired sign-in has this token, or None."""
    if not token or len(token) > 100:
        return None
    now = now or utcnow()
    found = plain_rows(
        db.session,
        _OPEN_SIGN_IN,
        {"token_hash": _token_hash(token), "started_after": now - _lifetime()},
    ).first()
    if found is None:
        return None
    sign_in_id, *values = found
    user = loaded_instance(db.session, User, dict(zip(_USER_KEYS, values, strict=True)))
    user.signed_in_with(sign_in_id, token)
    return user


def end_session(user_session: UserSession, *, reason: str) -> None:
    """Sign out: the token this sign-in's cookie carries opens nothing any more."""
    user_session.ended_at = utcnow()
    user_session.end_reason = reason
    db.session.flush()


def end_sessions(user: User, *, reason: str, keep: UserSession | None = None) -> None:
    """End every open sign-in of `user` on every device, except `keep` (the actor's own
    when they changed their own password)."""
    still_open = [UserSession.user_id == user.id, UserSession.ended_at.is_(None)]
    if keep is not None:
        still_open.append(UserSession.id != keep.id)
    db.session.execute(
        update(UserSession)
        .where(*still_open)
        .values(ended_at=utcnow(), end_reason=reason)
        .execution_options(synchronize_session="fetch")
    )


def _lifetime() -> timedelta:
    return current_app.config["SESSION_LIFETIME"]


def _forget_old_sessions(user: User) -> None:
    """Rows of sign-ins that ended or expired over a day ago are no use to anyone."""
    cutoff = utcnow() - _lifetime() - timedelta(days=1)
    db.session.execute(
        delete(UserSession).where(
            UserSession.user_id == user.id,
            or_(
                UserSession.started_at < cutoff, UserSession.ended_at < utcnow() - timedelta(days=1)
            ),
        )
    )


def create_user(
    *,
    name: str,
    email: str,
    role: Role | str,
    password: str,
    approval_limit: Decimal = Decimal("0"),
    team_id: int | None = None,
    time_zone: str | None = None,
    actor: User | None,
    check_password: bool = True,
) -> User:
    """Create an account; the e-mail must be unused and the password strong enough."""
    email = email.strip().lower()
    _check_email_unused(email)
    if check_password and (problem := password_problem(password, email)):
        raise FieldError("password", problem)
    named(MONEY, "The approval limit").check("approval_limit", approval_limit)
    _check_time_zone(time_zone)
    user = User(
        name=name.strip(),
        email=email,
        role=Role(role),
        approval_limit=approval_limit,
        team_id=team_id,
        time_zone=time_zone or None,
        password_hash=hash_password(password),
    )
    with acting(actor):
        db.session.add(user)
        db.session.flush()
    return user


def find_or_create_team(name: str, *, actor: User | None) -> tuple[Team, bool]:
    """The team with this name (in any case), or a new one; True when it was created."""
    name = " ".join(name.split())
    if not name:
        raise FieldError("team", "Give the team a name.")
    if len(name) > Team.name.type.length:
        raise FieldError("team", f"A team's name has at most {Team.name.type.length} characters.")
    team = db.session.scalar(select(Team).where(func.lower(Team.name) == name.lower()))
    if team is not None and not team.active:
        raise FieldError("team", f"The team {team.name} is deactivated; reactivate it first.")
    if team is not None:
        return team, False
    with acting(actor):
        team = Team(name=name)
        db.session.add(team)
        db.session.flush()
    return team, True


def update_user(user: User, values: dict[str, Any], *, actor: User) -> User:
    """Change a user's details; a non-empty `password` value sets a new password."""
    email = values["email"].strip().lower() if "email" in values else user.email
    if email != user.email:
        _check_email_unused(email)
    named(MONEY, "The approval limit").check("approval_limit", values["approval_limit"])
    password = values.get("password") or ""
    if password and user.service_account:
        raise FieldError(
            "password",
            "A service account never signs in, so it has no password; its API tokens are "
            "made on the API tokens page.",
        )
    if password and (problem := password_problem(password, email)):
        raise FieldError("password", problem)
    if "time_zone" in values:
        _check_time_zone(values["time_zone"])
    if password:
        # A new password ends the sign-ins made with the old one, but not the one in use
        # by the person who just set it.
        keep = actor.current_session if actor.id == user.id else None
        end_sessions(user, reason="password changed", keep=keep)
    with acting(actor):
        user.name = values["name"].strip()
        user.email = email
        user.role = Role(values["role"])
        user.approval_limit = values["approval_limit"]
        if "team_id" in values:
            user.team_id = values["team_id"]
        if "time_zone" in values:
            user.time_zone = values["time_zone"] or None
        if password:
            user.password_hash = hash_password(password)
        db.session.flush()
    return user


def set_time_zone(user: User, time_zone: str | None, *, actor: User) -> None:
    """A person's own time zone (None: the company's): the one their pages show times
    in and their forms read typed times in."""
    if actor.id != user.id and not actor.has_role(Role.ADMIN):
        raise NotAllowed("Only an administrator can change another person's time zone.")
    _check_time_zone(time_zone)
    with acting(actor):
        user.time_zone = time_zone or None
        db.session.flush()


def _check_time_zone(time_zone: str | None) -> None:
    if problem := time_zone_problem(time_zone):
        raise FieldError("time_zone", problem)


def _check_email_unused(email: str) -> None:
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        raise FieldError("email", f"Enter a valid e-mail address ({error}).") from error
    taken = db.session.scalar(select(User.id).where(func.lower(User.email) == email))
    if taken is not None:
        raise FieldError("email", "Another account already uses this e-mail address.")
