"""The rules of API tokens: who may create one for whom, what it may do, how long it
lives, and how a presented token is recognised."""

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from fieldsvc.api.models import SCOPES, ApiToken
from fieldsvc.audit.services import acting
from fieldsvc.auth.models import Role, Team, User
from fieldsvc.database import utcnow
from fieldsvc.errors import FieldError, NotAllowed
from fieldsvc.extensions import db

TOKEN_PREFIX = "fsv_"
MAX_DAYS = 366
# A token used many times a minute (an ERP polling) records its last use once a minute.
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    """A new token: `secret` is shown once, to the person who made it, and never again."""

    token: ApiToken
    secret: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(
    user: User,
    *,
    actor: User,
    name: str,
    scopes: Sequence[str],
    days: int,
    now: datetime | None = None,
) -> IssuedToken:
    """A new API token for `user`: a person for themselves, or an admin for a service
    account (never an admin for another person: the token would act as them)."""
    now = now or utcnow()
    if user.id != actor.id and not (actor.has_role(Role.ADMIN) and user.service_account):
        raise NotAllowed(
            "You can create API tokens for yourself, or as an admin for a service account."
        )
    if not user.active:
        raise FieldError("user_id", f"{user.name}'s account is deactivated.")
    name = (name or "").strip()
    if not name:
        raise FieldError("name", "Name the token after what will use it, e.g. “ERP sync”.")
    if len(name) > 100:
        raise FieldError("name", "A token's name can be at most 100 characters.")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise FieldError("scopes", "Choose at least one of the listed scopes.")
    if not 1 <= days <= MAX_DAYS:
        raise FieldError("days", f"A token lives between 1 and {MAX_DAYS} days.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with acting(actor):
        token = ApiToken(
            user=user,
            name=name,
            token_hash=_hash(secret),
            prefix=secret[: len(TOKEN_PREFIX) + 4],
            scopes=[scope for scope in SCOPES if scope in scopes],
            created_by=actor,
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
        db.session.add(token)
        db.session.flush()
    return IssuedToken(token, secret)


def revoke_token(token: ApiToken, *, actor: User, now: datetime | None = None) -> None:
    """End a token at once: its owner or an admin may."""
    if token.user_id != actor.id and not actor.has_role(Role.ADMIN):
        raise NotAllowed("Only the token's owner or an admin can revoke it.")
    if token.revoked_at is not None:
        return
    with acting(actor):
        token.revoked_at = now or utcnow()
        db.session.flush()


def create_service_account(*, actor: User, name: str, role: Role, team_id: int | None) -> User:
    """A user an integration acts as: no password, so it cannot sign in to the pages."""
    if not actor.has_role(Role.ADMIN):
        raise NotAllowed("Only admins create service accounts.")
    name = (name or "").strip()
    if not name:
        raise FieldError("name", "Name the integration, e.g. “ERP sync”.")
    if team_id is not None and db.session.get(Team, team_id) is None:
        raise FieldError("team_id", "Choose one of the teams.")
    with acting(actor):
        user = User(
            name=name[:120],
            email=f"service-{secrets.token_hex(6)}@service-account.invalid",
            # Not an Argon2 hash: no password matches it, so no sign-in is possible.
            password_hash="!service-account",
            role=role,
            team_id=team_id,
            service_account=True,
        )
        db.session.add(user)
        db.session.flush()
    return user


def token_for(secret: str, now: datetime | None = None) -> ApiToken | None:
    """The usable token with this secret whose user is active, or None."""
    if not secret or len(secret) > 200 or not secret.startswith(TOKEN_PREFIX):
        return None
    now = now or utcnow()
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(secret)))
    if token is None or not token.usable(now) or not token.user.active:
        return None
    return token


def note_use(token: ApiToken, now: datetime | None = None) -> bool:
    """Keep the token's last use, at most once a minute.

    A plain UPDATE, not an audit event: reads by an ERP polling every few seconds would
    otherwise be most of the audit trail (and serialise on its chain). Writes are in the
    trail with the token's id as their reason (see api.auth).
    """
    now = now or utcnow()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_EVERY:
        return False
    db.session.execute(
        update(ApiToken.__table__)
        .where(ApiToken.__table__.c.id == token.id)
        .values(last_used_at=now)
    )
    set_committed_value(token, "last_used_at", now)
    return True


def tokens_of(user: User) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def service_tokens() -> list[ApiToken]:
    """Every service account's tokens, for the admins' page."""
    return list(
        db.session.scalars(
            select(ApiToken)
            .join(ApiToken.user)
            .where(User.service_account)
            .order_by(ApiToken.id.desc())
        )
    )
