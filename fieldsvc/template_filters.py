"""How values look on a page: times in the company's time zone."""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app

from fieldsvc.auth.models import Role


def local_time(value: datetime | None) -> str:
    if value is None:
        return ""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def init_app(app: Flask) -> None:
    app.add_template_filter(local_time)
    app.jinja_env.globals["Role"] = Role
