"""Reading offline on a 768x1024 tablet in Chromium: My day, an incident with its photo
thumbnails and the new-incident form's pickers from the kept bundle, after a browser
restart too; nothing of one person for the next; nothing older than the days kept."""

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from tests.browser.conftest import CHROMIUM, TABLET, lose_connection, serve_demo, sign_in
from tests.conftest import ARTIFACTS

PAGE_BUDGET_BYTES = 150_000


@pytest.fixture(scope="module")
def offline_server(tmp_path_factory, live_smtp):
    """The demo data on a server of its own: these tests add photos."""
    with serve_demo(tmp_path_factory, live_smtp, "offline") as base_url:
        yield base_url


@pytest.fixture
def tablet(browser, offline_server, tmp_path):
    """Opens a persistent Chromium profile (it keeps its service worker and caches across
    a restart, as a tablet does); `tablet(offline=True)` reopens it with no connection."""
    profile = tmp_path / "profile"
    contexts = []

    def open_(offline: bool = False):
        context = browser.browser_type.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
            viewport=TABLET,
            base_url=offline_server,
            offline=offline,
        )
        if offline:
            lose_connection(context)
        contexts.append(context)
        return context

    yield open_
    for context in contexts:
        context.close()


def refreshed(page) -> None:
    """Wait until the worker kept this person's pages and data (as on every page load)."""
    # Controlled, on a signed-in page, whose deferred offline script has run: just after
    # the sign-in is clicked, the login page (no one to keep pages for) or the next page
    # before its script ran may already be controlled. Between the two pages the
    # document may have no root element yet, hence `?.`.
    controlled = (
        "() => navigator.serviceWorker.controller !== null"
        " && document.documentElement?.dataset.offlineUser !== undefined"
        " && window.fieldsvcOffline !== undefined"
    )
    try:
        page.wait_for_function(controlled, timeout=15_000)
    except PlaywrightTimeoutError:
        # On a loaded machine the first install can miss its moment (a precache fetch
        # failed, or the claim came before this page): a page loaded again registers
        # again and is controlled once the worker is active, as a person's next page is.
        page.reload()
        page.wait_for_function(controlled, timeout=45_000)
    assert page.evaluate("() => window.fieldsvcOffline.refresh(true)") is not None


def _photo(tmp_path) -> str:
    path = tmp_path / "cracked-housing.jpg"
    image = Image.new("RGB", (1200, 900), (200, 90, 40))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())
    return str(path)


def _first_open_incident(page) -> str:
    page.goto("/my-day")
    link = page.locator("#open-title ~ ol a").first
    return link.get_attribute("href")


def test_technician_reads_my_day_an_incident_and_the_report_form_offline_after_a_restart(
    tablet, tmp_path
):
    context = tablet()
    page = context.pages[0] if context.pages else context.new_page()
    sign_in(page, "tech@example.com")
    incident_url = _first_open_incident(page)
    page.goto(incident_url)
    page.locator("label:has-text('Choose files') input").set_input_files(_photo(tmp_path))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("1 photo(s) added")).to_be_visible()
    refreshed(page)

    context.set_offline(True)
    page.goto("/my-day")
    expect(page.get_by_role("heading", name="My day")).to_be_visible()
    last_updated = re.compile(r"Offline — last updated \d{4}-\d\d-\d\d \d\d:\d\d UTC")
    expect(page.get_by_text(last_updated)).to_be_visible()

    page.goto(incident_url)
    thumbnail = page.locator("#photos img").first
    thumbnail.scroll_into_view_if_needed()
    expect(thumbnail).to_have_js_property("complete", True)
    assert thumbnail.evaluate("img => img.naturalWidth") > 0
    expect(page.get_by_text("Offline — last updated")).to_be_visible()

    page.goto("/incidents/new")
    page.get_by_label("Customer", exact=True).select_option(label="Northwind Pharma")
    page.get_by_label("Site", exact=True).select_option(label="Building 4 — Sterile Fill")
    expect(page.get_by_text("30 items")).to_be_visible()
    page.get_by_label("PT-107").check()
    expect(page.get_by_text("Selected: PT-107")).to_be_visible()
    expect(page.get_by_text("Offline — last updated")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "offline-new-incident-tablet.png")

    # The tablet is switched off and on again, still without a connection.
    context.close()
    context = tablet(offline=True)
    page = context.new_page()
    page.goto("/my-day")
    expect(page.get_by_role("heading", name="My day")).to_be_visible()
    expect(page.get_by_text("Offline — last updated")).to_be_visible()
    page.goto("/incidents/")  # a page the tablet does not keep
    expect(page.get_by_role("heading", name="You are offline")).to_be_visible()


def test_a_second_person_on_the_same_browser_sees_nothing_of_the_first(tablet):
    context = tablet()
    # The outbox's page interface (static/js/outbox.js), holding one item of Tom's.
    context.add_init_script(
        """window.fieldsvcOutbox = {
             count: () => 1,
             clear() { document.cookie = 'outbox=cleared; path=/'; },
           };"""
    )
    page = context.new_page()
    warnings = []
    page.on("dialog", lambda dialog: (warnings.append(dialog.message), dialog.accept()))
    sign_in(page, "tech@example.com")
    incident_url = _first_open_incident(page)
    page.goto(incident_url)
    refreshed(page)
    # Tom's sign-in ends without signing out (his shift's session ran out); Sara signs in.
    context.clear_cookies()
    sign_in(page, "supervisor@example.com")
    expect(page.get_by_role("link", name="Sara Supervisor")).to_be_visible()
    refreshed(page)
    # Tom's unsent item cannot be sent as Sara: she is told before it is deleted.
    assert [w[:60] for w in warnings] == [
        "1 item recorded on this tablet by the person signed in befor"
    ]
    assert "outbox=cleared" in page.evaluate("() => document.cookie")
    names = page.evaluate("() => caches.keys()")
    assert len([name for name in names if name.startswith("fieldsvc-user-")]) == 1, names

    context.set_offline(True)
    page.goto("/my-day")
    expect(page.get_by_role("link", name="Sara Supervisor")).to_be_visible()
    expect(page.get_by_text("Tom Technician")).to_have_count(0)
    page.goto(incident_url)  # Tom's incident: Sara never opened it
    expect(page.get_by_role("heading", name="You are offline")).to_be_visible()


def test_kept_pages_older_than_the_days_kept_are_not_shown(tablet):
    context = tablet()
    page = context.new_page()
    sign_in(page, "tech@example.com")
    refreshed(page)
    eight_days_ago = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    page.evaluate(
        """async (storedAt) => {
            for (const name of await caches.keys()) {
                if (!name.startsWith('fieldsvc-user-')) continue;
                const cache = await caches.open(name);
                for (const request of await cache.keys()) {
                    const kept = await cache.match(request);
                    const headers = new Headers(kept.headers);
                    headers.set('Fieldsvc-Stored-At', storedAt);
                    await cache.put(request, new Response(await kept.blob(), { headers }));
                }
            }
        }""",
        eight_days_ago,
    )
    context.set_offline(True)
    page.goto("/my-day")
    expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
    expect(page.get_by_text("kept for at most 7 days")).to_be_visible()


def test_signing_out_warns_of_unsent_items_then_leaves_nothing_behind(tablet):
    context = tablet()
    page = context.new_page()
    # The outbox's page interface (static/js/outbox.js), as it reports two unsent items.
    # It stands in for the real one (tested in test_outbox.py), which must not replace it.
    page.add_init_script(
        """const standIn = {
             items: 2,
             count() { return Promise.resolve(this.items); },
             clear() { this.items = 0; document.cookie = 'outbox=cleared; path=/'; },
           };
           Object.defineProperty(window, "fieldsvcOutbox", { get: () => standIn, set() {} });"""
    )
    sign_in(page, "tech@example.com")
    refreshed(page)

    messages = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert messages and messages[0].startswith("2 items not sent yet"), messages
    assert "outbox=cleared" not in page.evaluate("() => document.cookie")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    assert "outbox=cleared" in page.evaluate("() => document.cookie")
    assert [name for name in page.evaluate("() => caches.keys()") if "user" in name] == []

    # The sign-in page installs the worker again, with the shell only.
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    context.set_offline(True)
    page.goto("/my-day")
    expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
    expect(page.get_by_text("Tom Technician")).to_have_count(0)


def test_the_new_incident_page_loads_at_most_150_kb(page):
    sign_in(page, "tech@example.com")
    page.goto("/incidents/new")
    page.wait_for_load_state("networkidle")
    weights = page.evaluate(
        """['navigation', 'resource']
             .flatMap(type => performance.getEntriesByType(type))
             .map(entry => [entry.name, entry.decodedBodySize])"""
    )
    names = " ".join(name for name, _ in weights)
    assert "offline." in names and "incident-form." in names, weights
    assert sum(size for _, size in weights) <= PAGE_BUDGET_BYTES, weights
