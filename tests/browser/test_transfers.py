"""What a tablet on a weak connection downloads: the incident page's first view is small,
and a repeat view fetches only the page itself, every asset coming from the cache."""

import logging
import re

from tests.browser.conftest import TABLET, sign_in, watched_page

# The live server's request log; werkzeug colours some status lines, so no anchor on the quote.
REQUEST_LINE = re.compile(r"(?:GET|HEAD) (\S+) HTTP/")
TRANSFER_LIMIT = 20_000  # bytes: the incident page and everything it loads first


def _demo_incident_url(page) -> str:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Incidents").click()
    page.locator(".incident-link").first.wait_for()
    return page.locator(".incident-link").first.get_attribute("href")


def _fresh_tab(browser, live_server, storage_state):
    """A tab with the signed-in cookies and an empty browser cache."""
    context = browser.new_context(
        viewport=TABLET, base_url=live_server, storage_state=storage_state
    )
    return context.new_page()


def test_the_incident_page_first_view_transfers_under_20_kb(browser, live_server):
    page, errors = watched_page(browser, live_server, TABLET)
    sign_in(page, "supervisor@example.com")
    url = _demo_incident_url(page)
    cold = _fresh_tab(browser, live_server, page.context.storage_state())
    finished = []
    cold.on("requestfinished", lambda request: finished.append(request))
    try:
        cold.goto(url)
        cold.wait_for_load_state("networkidle")

        sizes = {
            request.url: request.sizes()["responseBodySize"]
            + request.sizes()["responseHeadersSize"]
            for request in finished
        }
        kinds = {request.resource_type for request in finished}
        document = next(r for r in finished if r.resource_type == "document")
        assert {"document", "stylesheet", "script"} <= kinds
        assert document.response().header_value("content-encoding") in ("gzip", "br")
        # The service worker's registration comes with every signed-in page; the outbox's
        # script only once it has something to do (nothing waits, nothing was typed).
        assert any("/static/js/offline." in url for url in sizes), sizes
        assert not any("/static/js/outbox." in url for url in sizes), sizes
        assert sum(sizes.values()) <= TRANSFER_LIMIT, sizes
    finally:
        cold.context.close()
        page.context.close()
    assert not errors, errors


def test_a_repeat_view_of_the_incident_page_fetches_only_the_page(browser, live_server, caplog):
    page, errors = watched_page(browser, live_server, TABLET)
    try:
        sign_in(page, "supervisor@example.com")
        url = _demo_incident_url(page)
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assets = page.evaluate("performance.getEntriesByType('resource').map(entry => entry.name)")
        assert any("/static/css/" in asset for asset in assets)
        assert any("/static/js/" in asset for asset in assets)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Incidents").click()
        page.locator(".incident-link").first.wait_for()

        caplog.clear()
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            page.locator(".incident-link").first.click()
            page.wait_for_url(f"**{url}")
            page.wait_for_load_state("networkidle")
        served = [
            match[1]
            for record in caplog.records
            if record.name == "werkzeug" and (match := REQUEST_LINE.search(record.getMessage()))
        ]

        assert served == [url]
        # The page still has its stylesheets and script: they came from the cache.
        assert page.evaluate("document.styleSheets.length") >= 2
        assert (
            page.evaluate(
                "performance.getEntriesByType('resource')"
                ".filter(entry => entry.name.includes('/static/')).length"
            )
            >= 2
        )
    finally:
        page.context.close()
    assert not errors, errors
