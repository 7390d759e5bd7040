"""Hostile input to every form: no 5xx, and a refused post stores nothing.

The routes are not listed here. Every POST rule of the app's URL map is found, its URL
filled with ids of a small world (a sent and a submitted proposal, a part order, a
follow-up, a status link, one record of each reference type), and its fields read from
the forms the pages show each role (technician, supervisor, admin, and the customer on
the status page). Hypothesis then posts, per field, values of that field's kind that a
careless or hostile person would send — huge, negative, NaN, `1e308`, too many decimals,
years 1 and 9999, 100 KB of text, control, bidi and zero-width characters, 25-digit ids —
or leaves the field out or sends it twice. Every answer must be below 500, and an answer
of 400 or more must leave every table's row count as it was (the audit trail included,
so a refused change to an existing row shows too).
"""

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from io import BytesIO
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

from fieldsvc.auth.models import Role, User
from fieldsvc.extensions import db, limiter
from fieldsvc.incidents import services as incident_services
from fieldsvc.incidents.photos import process_photo
from fieldsvc.incidents.services import PhotoChoice
from fieldsvc.parts.models import PartOrder
from fieldsvc.portal import links
from fieldsvc.proposals import sending
from fieldsvc.proposals.models import RevisionStatus
from fieldsvc.records import REGISTRY
from tests.factories import PASSWORD
from tests.proposals.test_workflow import arrange_offer, arrange_story

EXAMPLES_PER_FIELD = 3  # for the first role; one for each other role with the form
SLOW_ROUTE_SECONDS = 0.5  # a route this slow (it renders a PDF) gets one example a field
STAFF = (Role.TECHNICIAN, Role.SUPERVISOR, Role.ADMIN)
CUSTOMER = "customer"

COVERED: dict[str, set] = {"routes": set(), "roles": set(), "cells": set(), "fields": set()}
# Cleared per run below, so each database's line counts its own run.

ids = st.sampled_from(["9" * 25, "-1", "0", "abc", "1e3", " 1", "1.5", "NaN", "2147483648"])
numbers = st.sampled_from(
    [
        "1e308",
        "-1e308",
        "1e15",
        "9" * 25,
        "-1",
        "-0.01",
        "NaN",
        "Infinity",
        "-Infinity",
        "0.0000001",
        "1.23456789",
        "12,50",
        "0x10",
        "",
    ]
) | st.decimals(allow_nan=True, allow_infinity=True).map(str)
dates = st.sampled_from(
    ["0001-01-01", "9999-12-31", "1999-12-31", "2100-01-01", "2026-02-30", "01/02/2026", ""]
) | st.dates().map(str)
datetimes = st.sampled_from(
    [
        "0001-01-01T00:00",
        "9999-12-31T23:59",
        "1900-01-01T00:00",
        "2026-13-01T25:00",
        "2026-01-01",
        "",
    ]
) | st.datetimes().map(lambda value: value.strftime("%Y-%m-%dT%H:%M"))
texts = st.sampled_from(
    [
        "x" * 100_000,
        "\x01\x02\x07\x1b[31m\x7f",
        "\u202eevil\u202c",
        "\u200b\u200c\u200d\ufeff",
        "\x00",
        "<script>alert(1)</script>",
        "' OR 1=1 --",
        '=HYPERLINK("x")',
        "😀" * 300,
        " ",
    ]
) | st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
flags = st.sampled_from(["on", "1", "0", "yes", "", "y" * 1000])
KINDS = {
    "number": numbers,
    "date": dates,
    "datetime-local": datetimes,
    "select": ids | numbers,
    "hidden": ids | texts,
    "radio": ids | texts,
    "checkbox": flags,
    "text": texts,
}


@dataclass
class FormSeen:
    endpoint: str
    action: str
    fields: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # name -> kind, values


class FormParser(HTMLParser):
    """The POST forms of a page: action and fields with the values the page filled in."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[str, list[tuple[str, str, str | None]]]] = []
        self._fields: list[tuple[str, str, str | None]] | None = None
        self._select: tuple[str, list[str]] | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "get").lower() == "post":
            self.forms.append((a.get("action") or "", []))
            self._fields = self.forms[-1][1]
        elif self._fields is None or ("name" not in a and tag not in ("option",)):
            return
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "file", "reset", "image"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                self._fields.append((a["name"], kind, None))
                return
            self._fields.append(
                (a["name"], kind, a.get("value", "on" if kind == "checkbox" else ""))
            )
        elif tag == "select":
            self._select = (a["name"], [])
        elif tag == "option" and self._select is not None:
            self._select[1].append(a.get("value") or "")
        elif tag == "textarea":
            self._textarea, self._text = a["name"], ""

    def handle_data(self, data):
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._fields = None
        elif tag == "select" and self._select is not None and self._fields is not None:
            name, options = self._select
            chosen = next((value for value in options if value), "")
            self._fields.append((name, "select", chosen))
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._fields is not None:
            # As a browser does, the newline right after <textarea> is not part of the value.
            value = self._text[1:] if self._text.startswith("\n") else self._text
            self._fields.append((self._textarea, "text", value.removeprefix("\r\n")))
            self._textarea = None


# --- the world the routes are filled from ------------------------------------------------------


@dataclass
class World:
    story: object
    admin: User
    token: str
    url_values: dict[str, object]
    record_ids: dict[str, int]
    adapter: object


@pytest.fixture
def world(app, request, make_user) -> World:
    story = arrange_story(request)
    sent = arrange_offer(story, RevisionStatus.APPROVED)
    sending.send_revision(
        sent.current, sender=story.supervisor, expected_version=sent.current.version
    )
    # A second offer of the same incident waits for approval: the reviewers' forms show.
    waiting = arrange_offer(story, RevisionStatus.SUBMITTED)
    follow_up = incident_services.promise_follow_up(
        story.incident,
        actor=story.technician,
        owner_id=story.technician.id,
        due_at=_tomorrow(),
        promise="Call back with the delivery date",
    )
    # A photo, so the incident page shows its "what the customer sees" form.
    (photo,) = incident_services.attach_photos(
        story.incident, [_photo()], actor=story.technician, choices=[PhotoChoice(True, "PT-107")]
    )
    _link, token = links.issue_link(story.incident, actor=story.supervisor)
    admin = make_user(Role.ADMIN, name="Ada Admin")
    db.session.commit()
    order = db.session.scalar(
        select(PartOrder).where(PartOrder.incident_id == story.incident.id).limit(1)
    )
    record_ids = {}
    for rt in REGISTRY.values():
        record_ids[rt.url.strip("/")] = db.session.scalar(select(rt.model.id).limit(1))
    return World(
        story=story,
        admin=admin,
        token=token,
        url_values={
            "incident_id": story.incident.id,
            "proposal_id": waiting.id,
            "order_id": order.id,
            "follow_up_id": follow_up.id,
            "attachment_id": photo.id,
            "token": token,
        },
        record_ids=record_ids,
        adapter=app.url_map.bind("localhost"),
    )


def _photo():
    out = BytesIO()
    Image.new("RGB", (64, 48), "orange").save(out, "JPEG")
    return process_photo(out.getvalue(), "rig.jpg", max_bytes=10**6, max_pixels=10**6)


def _tomorrow():
    from datetime import timedelta

    from fieldsvc.database import utcnow

    return utcnow() + timedelta(days=1)


def fill(rule: Rule, world: World, extra: dict[str, list[str]]) -> list[str]:
    """Every URL of the rule the world has values for (several for string choices)."""
    urls = [{}]
    for argument in rule.arguments:
        if argument == "id":
            values = [world.record_ids.get(rule.rule.strip("/").split("/")[0])]
        elif argument in world.url_values:
            values = [world.url_values[argument]]
        else:
            values = extra.get(argument, [])
        values = [value for value in values if value is not None]
        if not values:
            return []
        urls = [url | {argument: value} for url in urls for value in values]
    adapter = world.adapter
    method = "POST" if "POST" in rule.methods else "GET"
    return [adapter.build(rule.endpoint, values, method=method) for values in urls]


def pages_seen(app, clients, world: World) -> dict[tuple[str, str], FormSeen]:
    """(endpoint, role) -> the biggest POST form the role's pages show for that endpoint."""
    adapter = app.url_map.bind("localhost")
    seen: dict[tuple[str, str], FormSeen] = {}
    get_rules = [
        rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods
        and rule.endpoint != "static"
        and not re.search(r"pdf|csv|export|photo|thumbnail|download|options", rule.endpoint)
    ]
    for role, client in clients.items():
        for rule in get_rules:
            for url in fill(rule, world, {"action": ["accept", "changes", "decline"]}):
                response = client.get(url)
                if response.status_code != 200 or "html" not in response.content_type:
                    continue
                parser = FormParser()
                parser.feed(response.get_data(as_text=True))
                for action, fields in parser.forms:
                    target = urlsplit(action or url).path
                    try:
                        endpoint, _args = adapter.match(target, method="POST")
                    except HTTPException:
                        continue
                    form = FormSeen(endpoint, target)
                    for name, kind, value in fields:
                        kinds = form.fields.setdefault(name, (_kind(kind), []))
                        if value is not None:
                            kinds[1].append(value)
                    key = (endpoint, role)
                    if key not in seen or len(form.fields) > len(seen[key].fields):
                        seen[key] = form
    return seen


def _kind(html_type: str) -> str:
    if html_type in KINDS:
        return html_type
    return "text"  # email, tel, password, search…


def row_counts() -> tuple[int, ...]:
    """Every table's row count, in one statement."""
    tables = db.metadata.sorted_tables
    return tuple(
        db.session.execute(
            select(*(select(func.count()).select_from(t).scalar_subquery() for t in tables))
        ).one()
    )


def baseline(form: FormSeen, client) -> list[tuple[str, str]]:
    data = [("csrf_token", client.csrf_token())]
    for name, (_field_kind, values) in form.fields.items():
        if name == "csrf_token":
            continue
        data.extend((name, value) for value in values)
    return data


def post(client, url: str, data: list[tuple[str, str]]):
    return client.post(url, data=MultiDict(data), csrf=False)


# --- the fuzzer ----------------------------------------------------------------------------------


@pytest.fixture
def unlimited(app):
    """Signing in again after the logout route, hundreds of times: no rate limit here."""
    limiter.enabled = False
    yield
    limiter.enabled = True


def test_no_hostile_value_in_any_form_gives_a_5xx_and_a_refused_post_stores_nothing(
    app, world, unlimited, record_property, database_url
):
    import time

    emails = {
        Role.TECHNICIAN: world.story.technician.email,
        Role.SUPERVISOR: world.story.supervisor.email,
        Role.ADMIN: world.admin.email,
    }
    clients = {}
    for role in STAFF:
        clients[role.value] = app.test_client().sign_in(emails[role], PASSWORD)
    clients[CUSTOMER] = app.test_client()
    forms_seen = pages_seen(app, clients, world)
    for seen in COVERED.values():
        seen.clear()
    connection = db.session.bind
    failures: list[str] = []
    fuzzed: set[tuple[str, str]] = set()

    post_rules = [rule for rule in app.url_map.iter_rules() if "POST" in rule.methods]
    assert post_rules, "the URL map has no POST routes"
    for rule in post_rules:
        for url in fill(rule, world, {"action": ["accept", "changes", "decline"]}):
            for role, client in clients.items():
                form = forms_seen.get((rule.endpoint, role))
                if form is None:
                    # Not this role's form: one post of another role's form, refused or not.
                    others = [f for (e, _r), f in forms_seen.items() if e == rule.endpoint]
                    data = baseline(others[0], client) if others else []
                    _check(connection, client, role, url, data, failures)
                    continue
                COVERED["routes"].add(rule.endpoint)
                COVERED["roles"].add((rule.endpoint, role))
                started = time.monotonic()
                _check(connection, client, role, url, baseline(form, client), failures)
                _sign_in_again(client, role, emails)
                # The first role with the form gets the most examples; the others, who see
                # the same fields, one each (the suite's time budget is a few minutes).
                first_role = not any(e == rule.endpoint for e, _r in fuzzed)
                fuzzed.add((rule.endpoint, role))
                slow = time.monotonic() - started > SLOW_ROUTE_SECONDS
                examples = EXAMPLES_PER_FIELD if first_role and not slow else 1
                for name, (kind, _values) in form.fields.items():
                    if name == "csrf_token":
                        continue
                    COVERED["cells"].add((rule.endpoint, role, name))
                    COVERED["fields"].add((rule.endpoint, name))
                    _fuzz_field(connection, client, role, url, form, name, kind, examples, failures)
                    _sign_in_again(client, role, emails)
                _sign_in_again(client, role, emails)

    # Reported with the test (so pytest-xdist workers pass it on) and printed at the end.
    database = database_url.split(":", 1)[0].split("+", 1)[0]
    record_property("form_fuzzer", f"{summary_line()} on {database}")
    assert failures == [], "\n".join(failures[:30])
    assert len(COVERED["routes"]) >= 40


def _fuzz_field(connection, client, role, url, form, name, kind, examples, failures):
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutation=st.sampled_from(["replace", "replace", "missing", "repeat"]), value=KINDS[kind])
    def attack(mutation, value):
        data = [(key, old) for key, old in baseline(form, client) if key != name]
        if mutation == "replace":
            data.append((name, value))
        elif mutation == "repeat":
            data.extend(baseline(form, client)[1:])
            data.append((name, value))
        _check(connection, client, role, url, data, failures, f"{name}={value!r:.60} ({mutation})")

    attack()


def _check(connection, client, role, url, data, failures, what="baseline") -> None:
    db.session.remove()  # the session's own savepoint must sit inside this one
    savepoint = connection.begin_nested()
    try:
        before = row_counts()
        try:
            response = post(client, url, data)
        except Exception as error:  # TESTING propagates what would have been a 500
            failures.append(f"{type(error).__name__} {role} POST {url} {what}: {error!s:.200}")
            return
        if response.status_code >= 500:
            failures.append(f"{response.status_code} {role} POST {url} {what}")
        elif response.status_code >= 400 and row_counts() != before:
            failures.append(f"{response.status_code} stored rows: {role} POST {url} {what}")
    finally:
        db.session.remove()
        savepoint.rollback()


def _sign_in_again(client, role, emails) -> None:
    if role == CUSTOMER:
        return
    with client.session_transaction() as session:
        signed_in = "_user_id" in session
    if not signed_in:
        client.sign_in(emails[Role(role)], PASSWORD)


def summary_line() -> str:
    return (
        f"form fuzzer: {len(COVERED['routes'])} routes, {len(COVERED['roles'])} route x role "
        f"pairs, {len(COVERED['cells'])} route x role x field cells "
        f"({len(COVERED['fields'])} distinct route fields)"
    )
