"""Reminders run at a fixed moment, in a company time zone that is not UTC."""

from datetime import UTC, datetime, timedelta

import pytest

from fieldsvc.auth.models import Role
from fieldsvc.incidents.services import promise_follow_up

# Monday 23 November 2026, 10:00 in Berlin (CET, UTC+1).
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
BASE_URL = "https://service.example.com"


@pytest.fixture(autouse=True)
def company_settings(app):
    app.config.update(TIMEZONE="Europe/Berlin", BASE_URL=BASE_URL, UNANSWERED_DAYS=3)


@pytest.fixture
def make_owner(make_user, make_team):
    """A technician of a new team; the incidents made with them as actor are their team's."""

    def make(**overrides):
        return make_user(Role.TECHNICIAN, team=make_team(), **overrides)

    return make


@pytest.fixture
def promise():
    """A follow-up promised yesterday by its owner, due at `due_at`."""

    def make(incident, owner, due_at: datetime, text: str = "Call Dana back"):
        return promise_follow_up(
            incident,
            actor=owner,
            owner_id=owner.id,
            due_at=due_at,
            promise=text,
            now=NOW - timedelta(days=1),
        )

    return make
