"""Settings, read from FIELDSVC_* environment variables (documented in README.md)."""

import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key"
PAPER_SIZES = ("A4", "Letter")
SMTP_SECURITY = ("none", "starttls", "ssl")


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
    return {
        "ENV_NAME": env,
        "SECRET_KEY": os.environ.get("FIELDSVC_SECRET_KEY", DEFAULT_SECRET_KEY),
        "SQLALCHEMY_DATABASE_URI": os.environ.get("FIELDSVC_DATABASE_URL", f"sqlite:///{database}"),
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
        "RATELIMIT_STORAGE_URI": os.environ.get("FIELDSVC_RATELIMIT_STORAGE_URI", "memory://"),
        "LOGIN_RATE_LIMIT": os.environ.get("FIELDSVC_LOGIN_RATE_LIMIT", "10 per minute"),
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
        "MAX_PHOTO_BYTES": int(float(os.environ.get("FIELDSVC_MAX_PHOTO_MB", "15")) * 1024 * 1024),
        "MAX_PHOTO_PIXELS": int(os.environ.get("FIELDSVC_MAX_PHOTO_MEGAPIXELS", "50")) * 1_000_000,
        # The scan of a signed proposal kept with an answer taken by phone or on paper.
        "MAX_SCAN_BYTES": int(float(os.environ.get("FIELDSVC_MAX_SCAN_MB", "20")) * 1024 * 1024),
        # Links in e-mails and PDFs point here (the address customers reach the app at).
        "BASE_URL": os.environ.get("FIELDSVC_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "SMTP_HOST": os.environ.get("FIELDSVC_SMTP_HOST", "localhost"),
        "SMTP_PORT": int(os.environ.get("FIELDSVC_SMTP_PORT", "25")),
        "SMTP_SECURITY": os.environ.get("FIELDSVC_SMTP_SECURITY", "none"),
        "SMTP_USERNAME": os.environ.get("FIELDSVC_SMTP_USERNAME", ""),
        "SMTP_PASSWORD": os.environ.get("FIELDSVC_SMTP_PASSWORD", ""),
        "SMTP_TIMEOUT": float(os.environ.get("FIELDSVC_SMTP_TIMEOUT", "10")),
        "MAIL_FROM": os.environ.get("FIELDSVC_MAIL_FROM", "fieldsvc@localhost"),
        # A sent proposal the customer has not answered for this many days is "unanswered"
        # (on the dashboard and in supervisors' reminders).
        "UNANSWERED_DAYS": int(os.environ.get("FIELDSVC_UNANSWERED_DAYS", "3")),
        "STATUS_LINK_DAYS": int(os.environ.get("FIELDSVC_STATUS_LINK_DAYS", "30")),
        "STATUS_PAGE_RATE_LIMIT": os.environ.get(
            "FIELDSVC_STATUS_PAGE_RATE_LIMIT", "60 per minute"
        ),
        "MAX_CONTENT_LENGTH": int(
            float(os.environ.get("FIELDSVC_MAX_REQUEST_MB", "100")) * 1024 * 1024
        ),
    }


def check(config: Mapping[str, Any]) -> None:
    """Refuse settings that are unsafe in production."""
    if config["ENV_NAME"] == "production" and config["SECRET_KEY"] in ("", DEFAULT_SECRET_KEY):
        raise ConfigurationError(
            "FIELDSVC_SECRET_KEY must be set to a long random value in production "
            '(for example: python -c "import secrets; print(secrets.token_hex(32))")'
        )
    if config["SMTP_SECURITY"] not in SMTP_SECURITY:
        raise ConfigurationError(
            f"FIELDSVC_SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)}, "
            f"not {config['SMTP_SECURITY']!r}"
        )
    if config["UNANSWERED_DAYS"] < 1:
        raise ConfigurationError(
            f"FIELDSVC_UNANSWERED_DAYS must be 1 or more, not {config['UNANSWERED_DAYS']}"
        )
    if config["PAPER_SIZE"] not in PAPER_SIZES:
        raise ConfigurationError(
            f"FIELDSVC_PAPER_SIZE must be one of {', '.join(PAPER_SIZES)}, "
            f"not {config['PAPER_SIZE']!r}"
        )
