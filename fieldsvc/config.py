"""Settings, read from FIELDSVC_* environment variables (documented in docs/operations.md)."""

import os
import re
import secrets
from collections.abc import Mapping, MutableMapping
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from limits import parse

from fieldsvc.sizes import MB

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key"
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
PAPER_SIZES = ("A4", "Letter")
SMTP_SECURITY = ("none", "starttls", "ssl")
STORAGES = ("local", "s3")
STORAGE_READS = ("stream", "redirect")
S3_ADDRESSING_STYLES = ("auto", "path", "virtual")
AUDIT_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
AUDIT_SECRET_MIN_LENGTH = 32
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
METRICS_TOKEN_MIN_LENGTH = 24


class ConfigurationError(RuntimeError):
    pass


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def from_environment(instance_path: str) -> dict[str, Any]:
    env = os.environ.get("FIELDSVC_ENV", "development")
    production = env == "production"
    database = Path(instance_path) / "fieldsvc.sqlite3"
    # One switch for several servers: the job queue and the rate limits share this Redis.
    redis_url = os.environ.get("FIELDSVC_REDIS_URL", "")
    return {
        "ENV_NAME": env,
        # Written by the first production command here; development then refuses to run
        # (fieldsvc/installation.py).
        "PRODUCTION_MARK": str(Path(instance_path) / "production"),
        "SECRET_KEY": os.environ.get("FIELDSVC_SECRET_KEY", DEFAULT_SECRET_KEY),
        "SQLALCHEMY_DATABASE_URI": os.environ.get("FIELDSVC_DATABASE_URL", f"sqlite:///{database}"),
        # PostgreSQL with two roles: `flask db` commands connect with this URL (the role
        # that owns the tables), the app with FIELDSVC_DATABASE_URL; empty: the same one.
        "MIGRATION_DATABASE_URI": os.environ.get("FIELDSVC_MIGRATION_DATABASE_URL", ""),
        # The app's role, granted what it needs (and no more) after each `flask db upgrade`.
        "APP_DATABASE_ROLE": os.environ.get("FIELDSVC_APP_DATABASE_ROLE", ""),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _flag("FIELDSVC_SECURE_COOKIES", production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _flag("FIELDSVC_SECURE_COOKIES", production),
        # Pages send Referrer-Policy: no-referrer (status-page URLs carry a token), so an
        # HTTPS form post has no Referer to compare; the CSRF token and SameSite cookies
        # remain the protection.
        "WTF_CSRF_SSL_STRICT": False,
        "FORCE_HTTPS": _flag("FIELDSVC_FORCE_HTTPS", False),
        "TRUSTED_PROXIES": int(os.environ.get("FIELDSVC_TRUSTED_PROXIES", "0")),
        # A sign-in ends after this long without a request (Flask refuses a session cookie
        # not re-signed within PERMANENT_SESSION_LIFETIME; it is re-signed at most once a
        # minute, auth/session_cookie.py), and in any case this long after it began: one
        # shift, so the next person on a shared tablet starts their own.
        "PERMANENT_SESSION_LIFETIME": timedelta(
            minutes=int(os.environ.get("FIELDSVC_SESSION_IDLE_MINUTES", "60"))
        ),
        "SESSION_REFRESH_EACH_REQUEST": True,
        "SESSION_LIFETIME": timedelta(hours=float(os.environ.get("FIELDSVC_SESSION_HOURS", "12"))),
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": os.environ.get(
            "FIELDSVC_RATELIMIT_STORAGE_URI", redis_url or "memory://"
        ),
        # The job queue (e-mail delivery, reminders, expiry, anchoring): Redis when
        # FIELDSVC_REDIS_URL is set, else a SQLite file beside the database that
        # `flask jobs worker` on the same machine reads.
        "JOBS_REDIS_URL": os.environ.get("FIELDSVC_JOBS_REDIS_URL", redis_url),
        "JOBS_FILE": os.environ.get(
            "FIELDSVC_JOBS_FILE", str(Path(instance_path) / "jobs.sqlite3")
        ),
        # Run each job inside the call that queues it (tests; no worker needed).
        "JOBS_IMMEDIATE": _flag("FIELDSVC_JOBS_IMMEDIATE", False),
        # Periodic jobs the worker's scheduler runs; off when cron runs the commands instead.
        "JOBS_PERIODIC": _flag("FIELDSVC_JOBS_PERIODIC", True),
        # Failed sign-ins only (wrong e-mail or password): successful ones are never counted,
        # so a crew of tablets behind one company address can all sign in at shift start.
        "LOGIN_RATE_LIMIT": os.environ.get("FIELDSVC_LOGIN_RATE_LIMIT", "30 per 10 minutes"),
        # Wrong passwords for one account before it is locked until the window ends.
        "LOGIN_ACCOUNT_LIMIT": os.environ.get("FIELDSVC_LOGIN_ACCOUNT_LIMIT", "5 per 15 minutes"),
        "COMPANY_NAME": os.environ.get("FIELDSVC_COMPANY_NAME", "fieldsvc"),
        # The proposal PDF's letterhead: lines separated by "\n" (literally, in the
        # environment variable) and an optional PNG/SVG under the static or instance folder.
        "COMPANY_ADDRESS": os.environ.get("FIELDSVC_COMPANY_ADDRESS", "").replace("\\n", "\n"),
        "COMPANY_LOGO": os.environ.get("FIELDSVC_COMPANY_LOGO", ""),
        "PAPER_SIZE": os.environ.get("FIELDSVC_PAPER_SIZE", "A4"),
        "CURRENCY": os.environ.get("FIELDSVC_CURRENCY", "USD"),
        # Applied to the customer's share of a proposal, e.g. 0.0625 for 6.25 %.
        "TAX_RATE": Decimal(os.environ.get("FIELDSVC_TAX_RATE", "0")),
        "TIMEZONE": os.environ.get("FIELDSVC_TIMEZONE", "UTC"),
        "PAGE_SIZE": 25,
        "UPLOAD_DIR": os.environ.get("FIELDSVC_UPLOAD_DIR", str(Path(instance_path) / "uploads")),
        # Photos, thumbnails, frozen PDFs and signed copies: in UPLOAD_DIR (local) or a bucket.
        "STORAGE": os.environ.get("FIELDSVC_STORAGE", "local"),
        "S3_BUCKET": os.environ.get("FIELDSVC_S3_BUCKET", ""),
        "S3_ENDPOINT_URL": os.environ.get("FIELDSVC_S3_ENDPOINT_URL", ""),
        "S3_REGION": os.environ.get("FIELDSVC_S3_REGION", ""),
        "S3_ADDRESSING_STYLE": os.environ.get("FIELDSVC_S3_ADDRESSING_STYLE", "auto"),
        # Optional: without them boto3's usual chain finds the credentials.
        "S3_ACCESS_KEY_ID": os.environ.get("FIELDSVC_S3_ACCESS_KEY_ID", ""),
        "S3_SECRET_ACCESS_KEY": os.environ.get("FIELDSVC_S3_SECRET_ACCESS_KEY", ""),
        # How a photo or PDF in a bucket reaches the browser once the app has checked who
        # asks: by a redirect to a presigned URL valid S3_URL_SECONDS (the default: faster,
        # half the app's CPU, benchmarks/storage_reads.py), or streamed through the app.
        "STORAGE_READS": os.environ.get("FIELDSVC_STORAGE_READS", "redirect"),
        "S3_URL_SECONDS": int(os.environ.get("FIELDSVC_S3_URL_SECONDS", "60")),
        "MAX_PHOTO_BYTES": int(float(os.environ.get("FIELDSVC_MAX_PHOTO_MB", "15")) * MB),
        "MAX_PHOTO_PIXELS": int(os.environ.get("FIELDSVC_MAX_PHOTO_MEGAPIXELS", "50")) * 1_000_000,
        # The scan of a signed proposal kept with an answer taken by phone or on paper.
        "MAX_SCAN_BYTES": int(float(os.environ.get("FIELDSVC_MAX_SCAN_MB", "20")) * MB),
        # Links in e-mails and PDFs point here (the address customers reach the app at).
        "BASE_URL": os.environ.get("FIELDSVC_BASE_URL", DEFAULT_BASE_URL).rstrip("/"),
        "SMTP_HOST": os.environ.get("FIELDSVC_SMTP_HOST", "localhost"),
        "SMTP_PORT": int(os.environ.get("FIELDSVC_SMTP_PORT", "25")),
        "SMTP_SECURITY": os.environ.get("FIELDSVC_SMTP_SECURITY", "none"),
        "SMTP_USERNAME": os.environ.get("FIELDSVC_SMTP_USERNAME", ""),
        "SMTP_PASSWORD": os.environ.get("FIELDSVC_SMTP_PASSWORD", ""),
        "SMTP_TIMEOUT": float(os.environ.get("FIELDSVC_SMTP_TIMEOUT", "10")),
        "MAIL_FROM": os.environ.get("FIELDSVC_MAIL_FROM", "fieldsvc@localhost"),
        # Delivery attempts before an e-mail is given up and shown to admins; the wait
        # before the second doubles before each further one (1, 2, 4, 8 minutes...).
        "MAIL_MAX_ATTEMPTS": int(os.environ.get("FIELDSVC_MAIL_MAX_ATTEMPTS", "6")),
        "MAIL_RETRY_SECONDS": int(os.environ.get("FIELDSVC_MAIL_RETRY_SECONDS", "60")),
        # Webhooks: hosts and networks (comma-separated, e.g. "hooks.internal, 10.8.0.0/16")
        # that may be private, loopback or link-local; every other receiver must be public.
        "WEBHOOK_ALLOW": os.environ.get("FIELDSVC_WEBHOOK_ALLOW", ""),
        # Delivery attempts before a webhook is given up (shown in its delivery log); the
        # wait doubles after each failed one (1, 2, 4, 8 minutes...). Seconds per attempt.
        "WEBHOOK_MAX_ATTEMPTS": int(os.environ.get("FIELDSVC_WEBHOOK_MAX_ATTEMPTS", "8")),
        "WEBHOOK_RETRY_SECONDS": int(os.environ.get("FIELDSVC_WEBHOOK_RETRY_SECONDS", "60")),
        "WEBHOOK_TIMEOUT": float(os.environ.get("FIELDSVC_WEBHOOK_TIMEOUT", "10")),
        # A sent proposal the customer has not answered for this many days is "unanswered"
        # (on the dashboard and in supervisors' reminders).
        "UNANSWERED_DAYS": int(os.environ.get("FIELDSVC_UNANSWERED_DAYS", "3")),
        "STATUS_LINK_DAYS": int(os.environ.get("FIELDSVC_STATUS_LINK_DAYS", "30")),
        # Requests one API token may make (FIELDSVC_RATELIMIT_STORAGE_URI keeps the count).
        "API_RATE_LIMIT": os.environ.get("FIELDSVC_API_RATE_LIMIT", "600 per minute"),
        "STATUS_PAGE_RATE_LIMIT": os.environ.get(
            "FIELDSVC_STATUS_PAGE_RATE_LIMIT", "60 per minute"
        ),
        # `keyid:secret` pairs separated by commas or spaces, newest first: the first seals
        # new audit events, the others only verify older ones (docs/operations.md, audit trail).
        "AUDIT_KEYS": os.environ.get("FIELDSVC_AUDIT_KEYS", ""),
        "AUDIT_KEY_FILE": os.environ.get(
            "FIELDSVC_AUDIT_KEY_FILE", str(Path(instance_path) / "audit-keys")
        ),
        "AUDIT_ANCHOR_FILE": os.environ.get(
            "FIELDSVC_AUDIT_ANCHOR_FILE", str(Path(instance_path) / "audit-anchors.jsonl")
        ),
        "AUDIT_ANCHOR_EMAIL": os.environ.get("FIELDSVC_AUDIT_ANCHOR_EMAIL", ""),
        # A tablet keeps the pages and reference data it read for offline use this long at
        # most; older copies are not shown and are deleted (the next sign-in online refreshes).
        "OFFLINE_DAYS": int(os.environ.get("FIELDSVC_OFFLINE_DAYS", "7")),
        "MAX_CONTENT_LENGTH": int(float(os.environ.get("FIELDSVC_MAX_REQUEST_MB", "100")) * MB),
        # Logs: JSON lines (one object a line, for a log collector) or plain text, which
        # reads better in a terminal during `make run`.
        "LOG_FORMAT": os.environ.get("FIELDSVC_LOG_FORMAT", "json" if production else "text"),
        # The app's own messages from this level up (e.g. INFO for each reminder sent).
        "LOG_LEVEL": os.environ.get("FIELDSVC_LOG_LEVEL", "WARNING").upper(),
        # /metrics answers only requests with `Authorization: Bearer <this>`; unset, it is off.
        "METRICS_TOKEN": os.environ.get("FIELDSVC_METRICS_TOKEN", ""),
    }


def check(config: Mapping[str, Any]) -> None:
    """Refuse settings that are unsafe in production."""
    if config["ENV_NAME"] == "production" and config["SECRET_KEY"] in ("", DEFAULT_SECRET_KEY):
        raise ConfigurationError(
            "FIELDSVC_SECRET_KEY must be set to a long random value in production "
            '(for example: python -c "import secrets; print(secrets.token_hex(32))")'
        )
    if config["AUDIT_KEYS"]:
        parse_audit_keys(config["AUDIT_KEYS"])
    elif config["ENV_NAME"] == "production" and not Path(config["AUDIT_KEY_FILE"]).is_file():
        raise ConfigurationError(
            "FIELDSVC_AUDIT_KEYS must be set in production to the key that seals the audit "
            "trail, kept outside the database, as keyid:secret, for example FIELDSVC_AUDIT_KEYS="
            "2026-1:$(python -c 'import secrets; print(secrets.token_hex(32))'); "
            "or FIELDSVC_AUDIT_KEY_FILE set to a file that holds it"
        )
    if config["SMTP_SECURITY"] not in SMTP_SECURITY:
        raise ConfigurationError(
            f"FIELDSVC_SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)}, "
            f"not {config['SMTP_SECURITY']!r}"
        )
    _check_storage(config)
    if config["MAIL_MAX_ATTEMPTS"] < 1 or config["MAIL_RETRY_SECONDS"] < 1:
        raise ConfigurationError(
            "FIELDSVC_MAIL_MAX_ATTEMPTS and FIELDSVC_MAIL_RETRY_SECONDS must be 1 or more"
        )
    _check_webhooks(config)
    if config["UNANSWERED_DAYS"] < 1:
        raise ConfigurationError(
            f"FIELDSVC_UNANSWERED_DAYS must be 1 or more, not {config['UNANSWERED_DAYS']}"
        )
    if not 1 <= config["OFFLINE_DAYS"] <= 90:
        raise ConfigurationError(
            f"FIELDSVC_OFFLINE_DAYS must be from 1 to 90, not {config['OFFLINE_DAYS']}"
        )
    for key in (
        "LOGIN_RATE_LIMIT",
        "LOGIN_ACCOUNT_LIMIT",
        "STATUS_PAGE_RATE_LIMIT",
        "API_RATE_LIMIT",
    ):
        try:
            parse(config[key])
        except ValueError as error:
            raise ConfigurationError(
                f"FIELDSVC_{key} must be a limit like '5 per 15 minutes', not {config[key]!r}"
            ) from error
    if config["PERMANENT_SESSION_LIFETIME"] <= timedelta(0) or config[
        "SESSION_LIFETIME"
    ] <= timedelta(0):
        raise ConfigurationError(
            "FIELDSVC_SESSION_IDLE_MINUTES and FIELDSVC_SESSION_HOURS must be more than 0"
        )
    if config["LOG_FORMAT"] not in LOG_FORMATS:
        raise ConfigurationError(
            f"FIELDSVC_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, "
            f"not {config['LOG_FORMAT']!r}"
        )
    if config["LOG_LEVEL"] not in LOG_LEVELS:
        raise ConfigurationError(
            f"FIELDSVC_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, "
            f"not {config['LOG_LEVEL']!r}"
        )
    if config["METRICS_TOKEN"] and len(config["METRICS_TOKEN"]) < METRICS_TOKEN_MIN_LENGTH:
        raise ConfigurationError(
            f"FIELDSVC_METRICS_TOKEN must be at least {METRICS_TOKEN_MIN_LENGTH} characters "
            '(for example: python -c "import secrets; print(secrets.token_urlsafe(32))")'
        )
    if config["PAPER_SIZE"] not in PAPER_SIZES:
        raise ConfigurationError(
            f"FIELDSVC_PAPER_SIZE must be one of {', '.join(PAPER_SIZES)}, "
            f"not {config['PAPER_SIZE']!r}"
        )


def _check_webhooks(config: Mapping[str, Any]) -> None:
    from fieldsvc.webhooks.addresses import AllowList

    try:
        AllowList.parse(config["WEBHOOK_ALLOW"])
    except ValueError as error:
        raise ConfigurationError(
            "FIELDSVC_WEBHOOK_ALLOW lists host names and networks separated by commas, "
            f"e.g. 'hooks.internal, 10.8.0.0/16' ({error})"
        ) from error
    if config["WEBHOOK_MAX_ATTEMPTS"] < 1 or config["WEBHOOK_RETRY_SECONDS"] < 1:
        raise ConfigurationError(
            "FIELDSVC_WEBHOOK_MAX_ATTEMPTS and FIELDSVC_WEBHOOK_RETRY_SECONDS must be 1 or more"
        )
    if not 0 < config["WEBHOOK_TIMEOUT"] <= 60:
        raise ConfigurationError(
            "FIELDSVC_WEBHOOK_TIMEOUT must be more than 0 and at most 60 seconds"
        )


def _check_storage(config: Mapping[str, Any]) -> None:
    for key, allowed in (
        ("STORAGE", STORAGES),
        ("STORAGE_READS", STORAGE_READS),
        ("S3_ADDRESSING_STYLE", S3_ADDRESSING_STYLES),
    ):
        if config[key] not in allowed:
            raise ConfigurationError(
                f"FIELDSVC_{key} must be one of {', '.join(allowed)}, not {config[key]!r}"
            )
    if config["STORAGE"] == "s3" and not config["S3_BUCKET"]:
        raise ConfigurationError("FIELDSVC_STORAGE=s3 needs FIELDSVC_S3_BUCKET, the bucket's name")
    if bool(config["S3_ACCESS_KEY_ID"]) != bool(config["S3_SECRET_ACCESS_KEY"]):
        raise ConfigurationError(
            "FIELDSVC_S3_ACCESS_KEY_ID and FIELDSVC_S3_SECRET_ACCESS_KEY are set together "
            "(or neither, for boto3's usual credentials)"
        )
    if not 1 <= config["S3_URL_SECONDS"] <= 3600:
        raise ConfigurationError("FIELDSVC_S3_URL_SECONDS must be from 1 to 3600")


def parse_audit_keys(text: str) -> dict[str, bytes]:
    """`keyid:secret` pairs, newest first, as {key id: secret}; refuse malformed ones."""
    keys: dict[str, bytes] = {}
    for pair in text.replace(",", " ").split():
        key_id, colon, secret = pair.partition(":")
        if not colon or not AUDIT_KEY_ID.fullmatch(key_id):
            raise ConfigurationError(
                "FIELDSVC_AUDIT_KEYS holds keyid:secret pairs separated by commas; a key id is "
                "1-40 letters, digits, dots, dashes or underscores"
            )
        if key_id in keys:
            raise ConfigurationError(f"FIELDSVC_AUDIT_KEYS names the key id {key_id!r} twice")
        if len(secret) < AUDIT_SECRET_MIN_LENGTH:
            raise ConfigurationError(
                f"FIELDSVC_AUDIT_KEYS: the secret of key {key_id!r} must be at least "
                f"{AUDIT_SECRET_MIN_LENGTH} characters (e.g. secrets.token_hex(32))"
            )
        keys[key_id] = secret.encode()
    if not keys:
        raise ConfigurationError("FIELDSVC_AUDIT_KEYS names no key")
    return keys


def provide_audit_keys(config: MutableMapping[str, Any]) -> None:
    """Without FIELDSVC_AUDIT_KEYS, read the key file; in development, create it first.

    Production never generates a key (check() refused to start without one): a key made
    on the server would be lost with it, and with it the means to verify the trail.
    """
    if config["AUDIT_KEYS"]:
        return
    path = Path(config["AUDIT_KEY_FILE"])
    if not path.exists() and config["ENV_NAME"] != "production":
        _create_key_file(path)
    config["AUDIT_KEYS"] = path.read_text().strip()
    parse_audit_keys(config["AUDIT_KEYS"])


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(f"dev-{secrets.token_hex(3)}:{secrets.token_hex(32)}\n")
    try:
        os.link(draft, path)  # atomic, and never replaces a key another process just made
    except FileExistsError:
        pass
    finally:
        draft.unlink()
