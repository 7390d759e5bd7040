"""How values look on a page: times in the company's time zone."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask, current_app

from fieldsvc.auth.models import Role
from fieldsvc.clock import to_local
from fieldsvc.money import format_money
from fieldsvc.sizes import megabytes


def local_time(value: datetime | None) -> str:
    if value is None:
        return ""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def long_date(value: date | datetime | None) -> str:
    """'Tuesday 24 November 2026' (a time is taken in the company's time zone first):
    unambiguous for customers in any country."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_local(value)
    return f"{value:%A} {value.day} {value:%B %Y}"


def clock_time(value: datetime | None) -> str:
    """'14:30' in the company's time zone."""
    return "" if value is None else to_local(value).strftime("%H:%M")


def money(value: Decimal | None) -> str:
    return format_money(value, current_app.config["CURRENCY"])


def percent(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f} %"


def init_app(app: Flask) -> None:
    app.add_template_filter(local_time)
    app.add_template_filter(long_date)
    app.add_template_filter(clock_time)
    app.add_template_filter(money)
    app.add_template_filter(percent)
    app.add_template_filter(megabytes)
    app.jinja_env.globals["Role"] = Role
