"""How values look on a page. Times are written by fieldsvc.clock, in the reader's zone
unless a zone is given (`{{ visit | clock_time(zone) }}`)."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request, url_for

from fieldsvc import clock
from fieldsvc.auth.models import Role
from fieldsvc.money import format_money
from fieldsvc.sizes import megabytes


def local_time(value: datetime | None, zone: ZoneInfo | None = None) -> str:
    """'2026-12-01 09:00 EST'."""
    return clock.format_datetime(value, zone)


def long_date(value: date | datetime | None, zone: ZoneInfo | None = None) -> str:
    """'Tuesday 1 December 2026' (a time is taken in the reader's zone first):
    unambiguous for customers in any country."""
    return clock.format_date(value, zone)


def clock_time(value: datetime | None, zone: ZoneInfo | None = None) -> str:
    """'09:00 EST'."""
    return clock.format_time(value, zone)


def money(value: Decimal | None) -> str:
    return format_money(value, current_app.config["CURRENCY"])


def percent(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f} %"


def nav_url(endpoint: str) -> str:
    """The address of a page that takes no arguments (the navigation's links): built
    once per app and mount point, not on every page."""
    urls = current_app.extensions.setdefault("fieldsvc.nav_urls", {})
    key = (request.script_root, endpoint)
    if (url := urls.get(key)) is None:
        url = urls[key] = url_for(endpoint)
    return url


def init_app(app: Flask) -> None:
    app.add_template_filter(local_time)
    app.add_template_filter(long_date)
    app.add_template_filter(clock_time)
    app.add_template_filter(money)
    app.add_template_filter(percent)
    app.add_template_filter(megabytes)
    app.jinja_env.globals["Role"] = Role
    app.jinja_env.globals["nav_url"] = nav_url
    app.jinja_env.globals["reader_zone"] = clock.reader_zone
