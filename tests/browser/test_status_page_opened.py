""" "Last opened" in Chromium: a supervisor e-mails the customer a status link; a mail
scanner fetching it does not count, the customer's browser opening it does."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import PHONE, sign_in, watched_page


def test_last_opened_counts_the_customers_browser_not_a_scanners_fetch(
    page, browser, live_server, live_smtp
):
    sign_in(page, "supervisor@example.com")
    page.goto("/incidents/1")
    page.locator("#status-page").get_by_role("button", name=re.compile("by e-mail")).click()
    body = live_smtp.messages[-1].get_body(preferencelist=("plain",)).get_content()
    (link,) = re.findall(re.escape(live_server) + r"/status/\S+", body)
    links = page.locator("#status-page .status-links")

    scanner = browser.new_context()  # an HTTP fetch, as a mail scanner makes: no script runs
    try:
        fetched = scanner.request.get(link)
        assert fetched.status == 200
        assert "noindex" in fetched.headers["x-robots-tag"]
    finally:
        scanner.close()
    page.goto("/incidents/1")
    expect(links).to_contain_text("not opened yet")

    customer, errors = watched_page(browser, live_server, PHONE)
    try:
        with customer.expect_response(lambda r: r.url.endswith("/opened")) as told:
            customer.goto(link)
        assert told.value.status == 204
    finally:
        customer.context.close()
    assert not errors, errors

    page.goto("/incidents/1")
    expect(links).to_contain_text("last opened")
    expect(links).not_to_contain_text("not opened yet")
