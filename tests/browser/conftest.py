"""Fixtures for what a person sees: the app served on a real port with the demo data,
and Debian's headless Chromium driven by Playwright at tablet size (768x1024)."""

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from fieldsvc import create_app
from fieldsvc.demo import load_demo_data
from fieldsvc.extensions import db
from tests.conftest import ARTIFACTS, migrate, missing, test_config
from tests.smtp import SmtpServer

CHROMIUM = "/usr/bin/chromium"
TABLET = {"width": 768, "height": 1024}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def live_smtp() -> Iterator[SmtpServer]:
    """The mail server the live app delivers to: what customers and staff were sent."""
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, live_smtp) -> Iterator[str]:
    """The app with the demo data on its own SQLite file, served from a thread."""
    with serve_demo(tmp_path_factory, live_smtp, "browser") as base_url:
        yield base_url


@contextmanager
def serve_demo(tmp_path_factory, live_smtp: SmtpServer, name: str, **settings) -> Iterator[str]:
    """Serve the demo data on a database and upload folder of its own (named `name`),
    with any further settings (e.g. a bucket's)."""
    url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'fieldsvc.sqlite3'}"
    migrate(url)
    app = create_app(
        test_config(
            url,
            SERVER_NAME=None,
            LOGIN_RATE_LIMIT="100 per minute",
            SMTP_HOST=live_smtp.host,
            SMTP_PORT=live_smtp.port,
            UPLOAD_DIR=str(tmp_path_factory.mktemp(f"{name}-uploads")),
            **settings,
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
        yield app.config["BASE_URL"]
    finally:
        server.shutdown()
        thread.join()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def browser():
    if shutil.which("chromium") is None:
        missing("Debian's chromium is not installed; `make test` installs it as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh tablet-sized tab. Fails the test when a page's script errors, its own CSP
    blocks something, or an asset it loads is missing (a page itself may answer 4xx)."""
    page, errors = watched_page(browser, live_server, TABLET)
    yield page
    page.context.close()
    assert not errors, f"browser console errors: {errors}"


def watched_page(browser, base_url: str, viewport: dict):
    """A tab in a context of its own (its own cookies), and the list its script errors,
    CSP violations and missing assets are collected in."""
    context = browser.new_context(viewport=viewport, has_touch=True, base_url=base_url)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message) -> None:
        # Chromium logs every 4xx as "Failed to load resource"; assets are checked below.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response) -> None:
        if response.request.resource_type != "document" and response.status >= 400:
            errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", on_response)
    return page, errors


@pytest.fixture
def screenshot(page):
    """Save a full-page screenshot under tests/artifacts/ for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(name: str) -> None:
        page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)

    return take


def _no_connection(route) -> None:
    route.abort("internetdisconnected")


def lose_connection(context) -> None:
    """No connection for the pages and for the service worker: the browser says it is
    offline (navigator.onLine, the `offline` event), and every request that would leave
    the browser fails as with no network. Chromium's emulated offline alone did not
    always reach a worker started by a browser restart, which then fetched live pages."""
    context.route("**/*", _no_connection)
    context.set_offline(True)


def regain_connection(context) -> None:
    """The connection is back: requests go out again, then the pages hear `online`."""
    context.unroute("**/*", _no_connection)
    context.set_offline(False)


def sign_in(page, email: str, password: str = "demo", *, signed_in: bool = True) -> None:
    """Signs in through the form; with `signed_in`, returns once the page after it has
    loaded (its deferred scripts run), so what follows never reads the page in between."""
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if signed_in:
        page.wait_for_url(lambda url: urlsplit(url).path != "/login")
