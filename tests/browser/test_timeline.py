"""The demo incident's timeline in Chromium, on a phone: one line that says what was
reported, the details in the words of the form, and each change naming its field."""

from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, PHONE, sign_in, watched_page


def test_a_supervisor_reads_the_timeline_in_words_on_a_phone(browser, live_server):
    page, errors = watched_page(browser, live_server, PHONE)
    try:
        sign_in(page, "supervisor@example.com")
        page.goto("/incidents/1")
        timeline = page.get_by_role("region", name="Timeline")
        reported = timeline.get_by_role("listitem").filter(
            has_text="Reported PT-107, PT-117 as high severity, cause: our technician"
        )
        expect(reported).to_have_count(1)
        reported.get_by_text("Details").click()
        expect(reported.get_by_role("cell", name="Reported via")).to_be_visible()
        expect(reported.get_by_role("cell", name="On site", exact=True)).to_be_visible()
        expect(reported.get_by_role("cell", name="PT-107, PT-117")).to_be_visible()
        ordered = timeline.get_by_role("listitem").filter(has_text="Part order PO-7781: ordered")
        expect(ordered.get_by_role("cell", name="To order")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        ARTIFACTS.mkdir(exist_ok=True)
        timeline.screenshot(path=ARTIFACTS / "incident-timeline-phone.png")
    finally:
        page.context.close()
    assert width <= PHONE["width"]
    assert not errors, errors
