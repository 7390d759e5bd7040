"""Working with no connection, in Chromium at tablet size: what the technician records
offline waits in the tablet's outbox ("N waiting to send"), survives a browser restart,
and arrives exactly once when the connection is back — also when the connection drops in
the middle of sending and when two tabs send at once. What the server refuses stays in
the outbox as "needs you", with the server's message, to fix or discard.

The whole day is played with the service worker serving the pages offline; the other
tests open their pages online, then the browser goes offline."""

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import ExifTags, Image
from playwright.sync_api import expect
from sqlalchemy import func, select
from werkzeug.serving import make_server

from fieldsvc import create_app
from fieldsvc.auth.models import User
from fieldsvc.database import utcnow
from fieldsvc.demo import load_demo_data
from fieldsvc.extensions import db
from fieldsvc.incidents import services
from fieldsvc.incidents.models import (
    Attachment,
    Communication,
    FollowUp,
    FollowUpOutcome,
    Incident,
    WorkLogEntry,
)
from fieldsvc.storage import get_storage
from tests import conftest
from tests.browser.conftest import CHROMIUM, TABLET, lose_connection, regain_connection
from tests.conftest import ARTIFACTS

ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]


@pytest.fixture(scope="module")
def app(tmp_path_factory, live_smtp) -> Iterator:
    """The demo data served from a thread; the test reads its database through `app`."""
    url = f"sqlite:///{tmp_path_factory.mktemp('outbox') / 'fieldsvc.sqlite3'}"
    conftest.migrate(url)
    app = create_app(
        conftest.test_config(
            url,
            SERVER_NAME=None,
            LOGIN_RATE_LIMIT="100 per minute",
            SMTP_HOST=live_smtp.host,
            SMTP_PORT=live_smtp.port,
            UPLOAD_DIR=str(tmp_path_factory.mktemp("outbox-uploads")),
        )
    )
    with app.app_context():
        load_demo_data()
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
    try:
        yield app
    finally:
        server.shutdown()
        thread.join()
        with app.app_context():
            db.engine.dispose()


@contextmanager
def tablet(browser, app, profile, offline: bool = False) -> Iterator:
    """Chromium with a profile on disk: closing it and opening it again is a restart of
    the browser, with its cookies, service worker and IndexedDB kept."""
    context = browser.browser_type.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=ARGS,
        viewport=TABLET,
        has_touch=True,
        base_url=app.config["BASE_URL"],
        offline=offline,
    )
    if offline:
        lose_connection(context)
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    try:
        yield context
    finally:
        context.close()
    assert not errors, f"script errors: {errors}"


@contextmanager
def _posts_to(app) -> Iterator[list[str]]:
    """The paths of the POST requests that reach the server while this lasts."""
    posts: list[str] = []
    served = app.wsgi_app

    def wsgi_app(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            posts.append(environ["PATH_INFO"])
        return served(environ, start_response)

    app.wsgi_app = wsgi_app
    try:
        yield posts
    finally:
        app.wsgi_app = served


@contextmanager
def _reading_in(app, zone: str) -> Iterator[None]:
    """The demo technician reads times in `zone` while this lasts."""

    def set_zone(name: str | None) -> None:
        with app.app_context():
            tech = db.session.scalar(select(User).where(User.email == "tech@example.com"))
            tech.time_zone = name
            db.session.commit()

    set_zone(zone)
    try:
        yield
    finally:
        set_zone(None)


def _read(app, statement):
    with app.app_context():
        return db.session.execute(statement).all()


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _camera_photo(path, colour) -> str:
    """A wide JPEG as a camera writes it, with location and camera in its EXIF."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Tabletmaker"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 29.0)
    buffer = io.BytesIO()
    Image.new("RGB", (2600, 1000), colour).save(buffer, "JPEG", exif=exif, quality=80)
    path.write_bytes(buffer.getvalue())
    return str(path)


def _sign_in(page, email="tech@example.com") -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".flash-error")).to_have_count(0)


def _outbox(page):
    return page.locator("[data-outbox-root]")


def _all_sent(page) -> None:
    """Wait until the outbox says nothing is left to send, and is out of sight."""
    expect(_outbox(page)).to_have_attribute("data-pending", "0", timeout=30000)
    expect(_outbox(page)).to_be_hidden()


def _open_follow_up(app, promise: str) -> int:
    """A promise of the demo technician on the demo incident, open."""
    with app.app_context():
        tech = db.session.scalar(select(User).where(User.email == "tech@example.com"))
        incident = db.session.get(Incident, 1)
        follow_up = services.promise_follow_up(
            incident,
            actor=tech,
            owner_id=tech.id,
            due_at=utcnow() + timedelta(hours=5),
            promise=promise,
        )
        db.session.commit()
        return follow_up.id


def _log_work(page, minutes: str, note: str) -> None:
    work = page.locator("#work")
    if not work.locator("details").evaluate("details => details.open"):
        work.locator("summary").click()
    work.get_by_label("Minutes").fill(minutes)
    work.get_by_label("What was done").fill(note)
    work.get_by_role("button", name="Log work").click()


def _close(page, follow_up_id: int, note: str) -> None:
    form = page.locator(f"form[action$='/follow-ups/{follow_up_id}/close']")
    form.locator("xpath=..").locator("summary").click()
    form.get_by_label("What the customer was told").fill(note)
    form.get_by_role("button", name="Save outcome").click()


def _close_from_the_office(app, follow_up_id: int) -> None:
    """A colleague keeps the promise meanwhile, from the office."""
    with app.app_context():
        supervisor = db.session.scalar(select(User).where(User.email == "supervisor@example.com"))
        services.close_follow_up(
            db.session.get(FollowUp, follow_up_id),
            actor=supervisor,
            outcome=FollowUpOutcome.DONE,
            note="Sent from the office",
        )
        db.session.commit()


def _report(page, what: str, photos: list[str]) -> None:
    page.get_by_label("Customer", exact=True).select_option(label="Northwind Pharma")
    page.get_by_label("Site", exact=True).select_option(label="Building 4 — Sterile Fill")
    page.get_by_label("Reported by (contact)").select_option(label="Dana Whitfield")
    page.get_by_label("What happened").fill(what)
    page.locator("input[type=file]:not([capture])").set_input_files(photos)
    page.get_by_role("button", name="Record incident").click()


def test_a_day_offline_with_the_worker_arrives_once_through_a_reload_a_restart_and_a_cut(
    browser, app, tmp_path
):
    """The issue's whole day with the tablet's service worker and the outbox together.

    Online once: signed in (the worker keeps My day and the technician's incidents).
    Offline: My day and an incident from the worker's copies, 3 incidents with 2 photos
    each, work logged, two follow-ups closed; a reload (the page from the worker, all
    still waiting), a browser restart with no connection. Online: the connection is lost
    just after the second report reached the server, comes back, and everything arrives
    once; the outcome of a promise a colleague kept meanwhile stays as "needs you"."""
    kept = _open_follow_up(app, "Confirm the spare is labelled")
    kept_meanwhile = _open_follow_up(app, "Send the calibration certificate")
    incidents_before = _count(app, Incident)
    last_before = _read(app, select(func.max(Incident.id)))[0][0]
    work_before = _read(app, select(func.max(WorkLogEntry.id)))[0][0] or 0
    photos = [_camera_photo(tmp_path / f"site-{n}.jpg", (40 * n, 90, 120)) for n in range(6)]
    profile = tmp_path / "profile"

    with _reading_in(app, "Asia/Tokyo"), _posts_to(app) as posts:
        with tablet(browser, app, profile) as context:
            page = context.new_page()
            _sign_in(page)
            page.goto("/my-day")
            page.wait_for_function("() => navigator.serviceWorker.controller !== null")
            assert page.evaluate("() => window.fieldsvcOffline.refresh(true)") is not None

            lose_connection(context)
            posts.clear()
            page.goto("/my-day")
            expect(page.get_by_text("Offline — last updated")).to_be_visible()
            page.goto("/incidents/1")
            expect(page.get_by_text("Offline — last updated")).to_be_visible()
            page.goto("/incidents/new")
            for n in range(3):
                _report(page, f"Offline report {n}: transmitter cracked", photos[2 * n : 2 * n + 2])
                # Shrinking two photos takes a few seconds on a busy test machine.
                expect(page.locator(".outbox-saved")).to_have_text(
                    "Saved on this tablet, will be sent: New incident (2 photos).", timeout=30000
                )
                expect(_outbox(page)).to_contain_text(f"{n + 1} waiting to send")
            page.goto("/incidents/1")
            _log_work(page, "40", "Labelled the spare offline")
            _close(page, kept, "Spare labelled and shelved")
            _close(page, kept_meanwhile, "Certificate e-mailed")
            expect(_outbox(page)).to_contain_text("6 waiting to send")

            page.reload()
            expect(page.get_by_text("Offline — last updated")).to_be_visible()
            expect(_outbox(page)).to_contain_text("6 waiting to send")
            # When each was saved, written as the pages write a time: in the reader's zone.
            page.get_by_role("button", name="6 waiting to send").click()
            queued_at = page.evaluate(
                "async () => (await window.fieldsvcOutbox.items())[0].queuedAt"
            )
            saved = datetime.fromtimestamp(queued_at / 1000, ZoneInfo("Asia/Tokyo"))
            expect(page.locator("[data-outbox-item]").first).to_contain_text(
                f"Saved {saved:%Y-%m-%d %H:%M %Z} · 2 photos"  # JST, as a page writes it
            )
        # The tablet is switched off with everything waiting, and on again offline.

        with tablet(browser, app, profile, offline=True) as context:
            page = context.pages[0] if context.pages else context.new_page()
            page.goto("/my-day")
            expect(page.get_by_role("heading", name="My day")).to_be_visible()
            expect(page.get_by_text("Offline — last updated")).to_be_visible()
            expect(_outbox(page)).to_contain_text("6 waiting to send")
            assert posts == []  # nothing left the tablet while it had no connection
            assert _count(app, Incident) == incidents_before

            _close_from_the_office(app, kept_meanwhile)
            reports: list[str] = []

            def lost_after_the_second_report(route) -> None:
                request = route.request
                if not cut and request.method == "POST" and request.url.endswith("/new"):
                    reports.append(request.url)
                    if len(reports) == 2:
                        route.fetch()  # the server records it ...
                        cut.append(request.url)
                if cut:
                    route.abort("internetdisconnected")  # ... and the connection is gone
                else:
                    route.fallback()

            cut: list[str] = []
            context.route("**/*", lost_after_the_second_report)
            regain_connection(context)
            while not cut:
                page.wait_for_timeout(100)
            page.wait_for_function(
                "async () => (await window.fieldsvcOutbox.items())[1].state === 'waiting'"
            )
            expect(_outbox(page)).to_contain_text("5 waiting to send")
            lose_connection(context)
            context.unroute("**/*", lost_after_the_second_report)
            assert _count(app, Incident) == incidents_before + 2

            regain_connection(context)
            page.evaluate("window.fieldsvcOutbox.replay()")
            needs_you = page.get_by_role("button", name="1 waiting to send · 1 needs you")
            expect(needs_you).to_be_visible(timeout=30000)
            needs_you.click()
            refused = page.locator("[data-outbox-item]").filter(has_text="Needs you")
            expect(refused).to_contain_text("Outcome of “Send the calibration certificate”")
            expect(refused).to_contain_text(
                "This follow-up was already closed by Sara Supervisor (done): nothing was changed."
            )

            # On the next page, signing out warns of it before anything is deleted.
            page.goto("/my-day")
            warnings: list[str] = []
            page.once("dialog", lambda dialog: (warnings.append(dialog.message), dialog.dismiss()))
            page.get_by_role("button", name="Sign out").click()
            expect(page.get_by_role("button", name="Sign out")).to_be_visible()
            assert [w[:20] for w in warnings] == ["1 item not sent yet."]

    new = _read(app, select(Incident.id, Incident.actual).where(Incident.id > last_before))
    assert sorted(actual for _, actual in new) == [
        f"Offline report {n}: transmitter cracked" for n in range(3)
    ]
    assert _count(app, Incident) == incidents_before + 3
    stored = _read(
        app,
        select(Attachment.storage_key, Attachment.width).where(
            Attachment.incident_id.in_([id for id, _ in new])
        ),
    )
    assert len(stored) == 6
    with app.app_context():
        for key, width in stored:
            image = Image.open(io.BytesIO(get_storage().get(key)))
            assert dict(image.getexif()) == {} and width == 2560  # downscaled on the tablet
    work = _read(app, select(WorkLogEntry.note).where(WorkLogEntry.id > work_before))
    assert work == [("Labelled the spare offline",)]
    outcomes = _read(
        app,
        select(FollowUp.id, FollowUp.outcome_note).where(FollowUp.id.in_([kept, kept_meanwhile])),
    )
    assert sorted(outcomes) == [
        (kept, "Spare labelled and shelved"),
        (kept_meanwhile, "Sent from the office"),
    ]


def test_a_connection_lost_mid_send_leaves_the_item_waiting_and_it_arrives_once(
    browser, app, tmp_path
):
    with tablet(browser, app, tmp_path / "profile") as context:
        page = context.new_page()
        _sign_in(page)
        page.goto("/incidents/1")
        context.set_offline(True)
        _log_work(page, "11", "Cut off: first")
        expect(_outbox(page)).to_contain_text("1 waiting to send")
        _log_work(page, "12", "Cut off: second")
        expect(_outbox(page)).to_contain_text("2 waiting to send")

        posts: list[str] = []

        def answered_then_lost(route) -> None:
            posts.append(route.request.url)
            if len(posts) == 1:
                route.fetch()  # the server records it ...
                route.abort("internetdisconnected")  # ... and the answer never arrives
            else:
                route.continue_()

        page.route("**/incidents/1/work", answered_then_lost)
        context.set_offline(False)
        page.evaluate("window.fieldsvcOutbox.replay()")
        expect(_outbox(page)).to_contain_text("2 waiting to send")
        page.get_by_role("button", name="2 waiting to send").click()
        expect(page.locator("[data-outbox-item]").first).to_contain_text("Waiting")
        for width in (390, 768, 1280):
            page.set_viewport_size({"width": width, "height": 1024})
            _outbox(page).screenshot(path=ARTIFACTS / f"outbox-waiting-{width}.png")
        page.set_viewport_size(TABLET)

        page.evaluate("window.fieldsvcOutbox.replay()")
        _all_sent(page)

    assert len(posts) == 3  # the first one twice
    assert _count(app, WorkLogEntry, WorkLogEntry.note == "Cut off: first") == 1
    assert _count(app, WorkLogEntry, WorkLogEntry.note == "Cut off: second") == 1


def test_two_tabs_sending_at_once_send_each_item_once(browser, app, tmp_path):
    with tablet(browser, app, tmp_path / "profile") as context:
        first = context.new_page()
        _sign_in(first)
        first.goto("/incidents/1")
        second = context.new_page()
        second.goto("/my-day")
        context.set_offline(True)
        communications = first.locator("#communications")
        communications.locator("summary").click()
        for n in range(3):
            communications.get_by_label("Summary").fill(f"Two tabs: call {n}")
            communications.get_by_role("button", name="Record", exact=True).click()
            expect(_outbox(first)).to_contain_text(f"{n + 1} waiting to send")
        expect(_outbox(second)).to_contain_text("3 waiting to send")

        posts: list[str] = []
        context.on(
            "request",
            lambda request: (
                posts.append(request.url)
                if request.method == "POST" and request.url.endswith("/communications")
                else None
            ),
        )
        context.set_offline(False)  # both tabs hear "online" and start sending
        first.evaluate("window.fieldsvcOutbox.replay()")
        second.evaluate("window.fieldsvcOutbox.replay()")
        _all_sent(first)
        _all_sent(second)

    assert len(posts) == 3
    for n in range(3):
        assert _count(app, Communication, Communication.summary == f"Two tabs: call {n}") == 1


def test_an_item_the_server_refuses_needs_you_with_its_message_to_fix_or_discard(
    browser, app, tmp_path
):
    follow_up_id = _open_follow_up(app, "Send the calibration certificate")
    with tablet(browser, app, tmp_path / "profile") as context:
        page = context.new_page()
        _sign_in(page)
        page.goto("/incidents/1")
        context.set_offline(True)
        _log_work(page, "2000", "Too long to be true")
        expect(_outbox(page)).to_contain_text("1 waiting to send")
        form = page.locator(f"form[action$='/follow-ups/{follow_up_id}/close']")
        form.locator("xpath=..").locator("summary").click()
        form.get_by_label("What the customer was told").fill("Certificate sent")
        form.get_by_role("button", name="Save outcome").click()
        expect(_outbox(page)).to_contain_text("2 waiting to send")
        # Meanwhile a colleague kept that promise from the office.
        with app.app_context():
            supervisor = db.session.scalar(
                select(User).where(User.email == "supervisor@example.com")
            )
            services.close_follow_up(
                db.session.get(FollowUp, follow_up_id),
                actor=supervisor,
                outcome=FollowUpOutcome.DONE,
                note="Sent from the office",
            )
            db.session.commit()

        context.set_offline(False)
        page.evaluate("window.fieldsvcOutbox.replay()")
        toggle = page.get_by_role("button", name="2 waiting to send · 2 need you")
        expect(toggle).to_be_visible()
        toggle.click()
        items = page.locator("[data-outbox-item]")
        expect(items.nth(0)).to_contain_text("Needs you")
        expect(items.nth(0)).to_contain_text("Minutes:")
        expect(items.nth(1)).to_contain_text(
            "This follow-up was already closed by Sara Supervisor (done): nothing was changed."
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for width in (390, 768, 1280):
            page.set_viewport_size({"width": width, "height": 1024})
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            page.locator("[data-outbox-root]").screenshot(
                path=ARTIFACTS / f"outbox-needs-you-{width}.png"
            )
        page.set_viewport_size(TABLET)

        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=ARTIFACTS / "outbox-on-the-page-390.png")
        page.set_viewport_size(TABLET)

        # The outcome cannot be fixed (the promise is kept): the page says so; discarded.
        items.nth(1).get_by_role("button", name="Fix and send").click()
        expect(page.locator(".outbox-fixing")).to_contain_text("cannot be sent from here any more")
        page.get_by_role("button", name="2 waiting to send · 2 need you").click()
        page.once("dialog", lambda dialog: dialog.accept())
        items.nth(1).get_by_role("button", name="Discard").click()
        expect(page.get_by_role("button", name="1 waiting to send · 1 needs you")).to_be_visible()

        # Fix: the work form opens again, filled in, with the server's message.
        items.nth(0).get_by_role("button", name="Fix and send").click()
        work = page.locator("#work")
        expect(work.get_by_role("alert")).to_contain_text("Not sent yet: Minutes:")
        expect(work.get_by_label("What was done")).to_have_value("Too long to be true")
        work.get_by_label("Minutes").fill("20")
        work.get_by_role("button", name="Log work").click()
        expect(page.get_by_text("20 minutes logged.")).to_be_visible()
        expect(_outbox(page)).to_be_hidden()

        # Refused photos come back where they were chosen: "Take a photo" or "Choose files".
        context.set_offline(True)
        photos = page.locator("form[data-outbox=photos]")
        label = tmp_path / "label.jpg"
        label.write_bytes(b"not a photo")
        photos.locator("input[capture]").set_input_files(str(label))
        gauge = _camera_photo(tmp_path / "gauge.jpg", (10, 20, 30))
        photos.locator("input[type=file]:not([capture])").set_input_files(gauge)
        photos.get_by_role("button", name="Upload").click()
        expect(_outbox(page)).to_contain_text("1 waiting to send")
        context.set_offline(False)
        page.evaluate("window.fieldsvcOutbox.replay()")
        page.get_by_role("button", name="1 waiting to send · 1 needs you").click()
        page.get_by_role("button", name="Fix and send").click()
        expect(photos.get_by_role("alert")).to_contain_text("Not sent yet")
        chosen = "input => [...input.files].map(file => file.name)"
        assert photos.locator("input[capture]").evaluate(chosen) == ["label.jpg"]
        assert photos.locator("input:not([capture])[type=file]").evaluate(chosen) == ["gauge.jpg"]

    assert _count(app, WorkLogEntry, WorkLogEntry.note == "Too long to be true") == 1
    assert _read(app, select(FollowUp.outcome_note).where(FollowUp.id == follow_up_id)) == [
        ("Sent from the office",)
    ]
