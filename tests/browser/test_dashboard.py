"""The supervisors' dashboard in Chromium at desktop (1280x800) and tablet (768x1024)."""

from playwright.sync_api import expect

from tests.browser.conftest import TABLET, sign_in, watched_page
from tests.conftest import ARTIFACTS

DESKTOP = {"width": 1280, "height": 800}


def test_a_supervisor_reads_the_dashboard_and_opens_the_list_behind_a_figure(browser, live_server):
    for name, viewport in (("desktop", DESKTOP), ("tablet", TABLET)):
        page, errors = watched_page(browser, live_server, viewport)
        try:
            sign_in(page, "supervisor@example.com")
            page.get_by_role("link", name="Dashboard").click()
            expect(page.get_by_role("heading", name="Open incidents by status")).to_be_visible()
            expect(page.get_by_role("heading", name="Incidents by cause")).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            page.screenshot(path=ARTIFACTS / f"dashboard-{name}.png", full_page=True)
            page.get_by_label("Incidents by cause").get_by_role("link").filter(
                has_text="Our technician"
            ).click()
            expect(page.get_by_text("From the dashboard: cause: our technician")).to_be_visible()
            expect(page.locator(".incident-link").first).to_be_visible()
        finally:
            page.context.close()
        assert not errors, errors
