"""The customer's side in Chromium: a supervisor sends the demo proposal,
the customer opens the link from the e-mail on a phone (390x844) and a tablet
(768x1024), accepts with their name, and the staff then see "Accepted"."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import PHONE, TABLET, sign_in, watched_page
from tests.conftest import ARTIFACTS


def test_the_customer_accepts_on_a_phone_and_staff_see_it(
    page, browser, live_server, live_smtp, screenshot
):
    sign_in(page, "supervisor@example.com")
    page.goto("/proposals/1")
    page.get_by_role("button", name="Send the proposal").click()
    expect(page.get_by_text("Sent to dana.whitfield@northwind.example")).to_be_visible()
    body = live_smtp.messages[-1].get_body(preferencelist=("plain",)).get_content()
    (link,) = re.findall(re.escape(live_server) + r"/status/\S+", body)

    tablet, tablet_errors = watched_page(browser, live_server, TABLET)
    phone, phone_errors = watched_page(browser, live_server, PHONE)
    try:
        tablet.goto(link)
        expect(tablet.get_by_role("heading", name="Our proposal")).to_be_visible()
        expect(tablet.get_by_text("USD 350.00")).to_be_visible()
        tablet.screenshot(path=ARTIFACTS / "status-page-tablet.png", full_page=True)

        phone.goto(link)
        accept = phone.get_by_role("button", name="I accept this proposal")
        expect(accept).to_be_visible()
        # Nothing wider than the phone: no sideways scrolling to find the button.
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        box = accept.bounding_box()
        assert box["height"] >= 44 and box["width"] <= PHONE["width"]
        phone.screenshot(path=ARTIFACTS / "status-page-phone.png", full_page=True)
        accept.click()  # without a name the browser asks for it; nothing is sent
        expect(phone.get_by_label("Your full name")).to_be_focused()
        phone.get_by_label("Your full name").fill("Dana Whitfield")
        phone.get_by_role("button", name="I accept this proposal").click()
        expect(phone.get_by_text("Thank you: you accepted the proposal.")).to_be_visible()
        expect(phone.get_by_text(re.compile("Accepted by Dana Whitfield"))).to_be_visible()
        expect(phone.locator("#incident-status")).to_contain_text("You accepted our proposal")
        phone.screenshot(path=ARTIFACTS / "status-page-phone-accepted.png", full_page=True)

        tablet.reload()
        expect(tablet.get_by_text(re.compile("Accepted by Dana Whitfield"))).to_be_visible()
        expect(tablet.get_by_role("button", name="I accept this proposal")).to_have_count(0)
    finally:
        tablet.context.close()
        phone.context.close()
    assert not tablet_errors and not phone_errors, tablet_errors + phone_errors

    page.goto("/proposals/1")
    expect(page.locator(".customer-answer")).to_contain_text("Accepted by Dana Whitfield")
    screenshot("proposal-accepted-staff-tablet")
    told = [m for m in live_smtp.messages if "accepted the proposal" in m["Subject"]]
    assert told, "the staff are e-mailed the decision"
