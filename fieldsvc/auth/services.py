"""Accounts: password hashing and policy, sign-in, and creating and changing users."""

from contextlib import suppress
from decimal import Decimal
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select

from fieldsvc.audit.services import acting, record
from fieldsvc.auth.models import Role, User
from fieldsvc.errors import FieldError
from fieldsvc.extensions import db
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


def authenticate(email: str, password: str) -> User | None:
    """Return the active user with this e-mail and password, or None."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        _verify_dummy(password)
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def _verify_dummy(password: str) -> None:
    with suppress(VerificationError):
        _hasher.verify(_DUMMY_HASH, password)


def record_sign_in(user: User) -> None:
    with acting(user):
        record(user, "sign_in")


def create_user(
    *,
    name: str,
    email: str,
    role: Role | str,
    password: str,
    approval_limit: Decimal = Decimal("0"),
    team_id: int | None = None,
    actor: User | None,
    check_password: bool = True,
) -> User:
    """Create an account; the e-mail must be unused and the password strong enough."""
    email = email.strip().lower()
    _check_email_unused(email)
    if check_password and (problem := password_problem(password, email)):
        raise FieldError("password", problem)
    named(MONEY, "The approval limit").check("approval_limit", approval_limit)
    user = User(
        name=name.strip(),
        email=email,
        role=Role(role),
        approval_limit=approval_limit,
        team_id=team_id,
        password_hash=hash_password(password),
    )
    with acting(actor):
        db.session.add(user)
        db.session.flush()
    return user


def update_user(user: User, values: dict[str, Any], *, actor: User) -> User:
    """Change a user's details; a non-empty `password` value sets a new password."""
    email = values["email"].strip().lower()
    if email != user.email:
        _check_email_unused(email)
    named(MONEY, "The approval limit").check("approval_limit", values["approval_limit"])
    password = values.get("password") or ""
    if password and (problem := password_problem(password, email)):
        raise FieldError("password", problem)
    with acting(actor):
        user.name = values["name"].strip()
        user.email = email
        user.role = Role(values["role"])
        user.approval_limit = values["approval_limit"]
        if "team_id" in values:
            user.team_id = values["team_id"]
        if password:
            user.password_hash = hash_password(password)
        db.session.flush()
    return user


def _check_email_unused(email: str) -> None:
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        raise FieldError("email", f"Enter a valid e-mail address ({error}).") from error
    taken = db.session.scalar(select(User.id).where(func.lower(User.email) == email))
    if taken is not None:
        raise FieldError("email", "Another account already uses this e-mail address.")
