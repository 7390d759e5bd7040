"""How values look on a page: times in the company's time zone."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask, current_app

from fieldsvc.auth.models import Role
from fieldsvc.money import format_money


def local_time(value: datetime | None) -> str:
    if value is None:
        return ""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def money(value: Decimal | None) -> str:
    return format_money(value, current_app.config["CURRENCY"])


def percent(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f} %"


def init_app(app: Flask) -> None:
    app.add_template_filter(local_time)
    app.add_template_filter(money)
    app.add_template_filter(percent)
    app.jinja_env.globals["Role"] = Role
