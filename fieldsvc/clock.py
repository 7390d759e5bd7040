"""Times are stored in UTC and typed and shown in the company's time zone."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app


def company_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def from_local(value: datetime) -> datetime:
    """A wall-clock time typed in a form (naive) as an aware UTC time."""
    return value.replace(tzinfo=company_zone())


def to_local(value: datetime) -> datetime:
    return value.astimezone(company_zone())


def end_of_local_day(now: datetime) -> datetime:
    """Midnight after `now`, in the company's time zone."""
    local = to_local(now)
    return datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=company_zone())
