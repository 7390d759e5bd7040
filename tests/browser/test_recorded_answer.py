"""The customer answers by phone: a supervisor records it on a 768 px tablet with the
scan of the signed copy, and the customer's page on a 390 px phone then says how the
answer was given and offers no more buttons."""

import io
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from pypdf import PdfWriter

from tests.browser.conftest import PHONE, TABLET, serve_demo, watched_page
from tests.conftest import ARTIFACTS


@pytest.fixture(scope="module")
def server(tmp_path_factory, live_smtp) -> Iterator[str]:
    """The demo data served on its own database: its proposal is sent and answered here,
    whatever the other browser tests do with theirs."""
    with serve_demo(tmp_path_factory, live_smtp, "answers") as base_url:
        yield base_url


def _signed_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_phone_acceptance_recorded_on_a_tablet_shows_on_the_customers_phone(
    browser, server, live_smtp
):
    staff, staff_errors = watched_page(browser, server, TABLET)
    phone, phone_errors = watched_page(browser, server, PHONE)
    try:
        staff.goto("/login")
        staff.get_by_label("E-mail").fill("supervisor@example.com")
        staff.get_by_label("Password").fill("demo")
        staff.get_by_role("button", name="Sign in").click()
        staff.goto("/proposals/1")
        staff.get_by_role("button", name="Send the proposal").click()
        expect(staff.get_by_text("Sent to dana.whitfield@northwind.example")).to_be_visible()
        links = [
            found
            for message in live_smtp.messages
            for found in re.findall(
                re.escape(server) + r"/status/\S+",
                message.get_body(preferencelist=("plain",)).get_content(),
            )
        ]
        link = links[-1]

        staff.get_by_text("Record an answer the customer gave by phone or on paper").click()
        form = staff.locator("#record-answer form")
        expect(form.get_by_label("When they answered")).not_to_have_value("")
        form.locator("label.pill", has_text="Accepted").click()
        form.locator("label.pill", has_text="By phone").click()
        form.get_by_label("The customer's name, as they gave it").fill("Dana Whitfield")
        form.get_by_label("Scan of the signed copy (optional)").set_input_files(
            files=[{"name": "signed.pdf", "mimeType": "application/pdf", "buffer": _signed_pdf()}]
        )
        assert staff.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]
        staff.locator("#record-answer").screenshot(path=ARTIFACTS / "record-answer-form-tablet.png")
        form.get_by_role("button", name="Record the customer's answer").click()

        expect(
            staff.get_by_text("Recorded as the customer's answer: accepted by phone")
        ).to_be_visible()
        answer = staff.locator(".customer-answer")
        expect(answer).to_contain_text("Accepted by phone, taken by Sara Supervisor at")
        expect(answer).to_contain_text("customer name given: Dana Whitfield")
        copy = answer.get_by_role("link", name=re.compile(r"Signed copy \(PDF"))
        download = staff.request.get(copy.get_attribute("href"))
        assert download.status == 200 and download.body() == _signed_pdf()
        staff.screenshot(
            path=ARTIFACTS / "proposal-phone-acceptance-staff-tablet.png", full_page=True
        )

        phone.goto(link)
        expect(phone.locator("#incident-status")).to_contain_text("You accepted our proposal")
        told = phone.locator(".answer")
        expect(told).to_contain_text("Accepted by Dana Whitfield by phone on")
        expect(told).to_contain_text("Sara Supervisor of our team recorded your answer")
        expect(phone.get_by_role("button", name="I accept this proposal")).to_have_count(0)
        expect(phone.get_by_text("Decline", exact=True)).to_have_count(0)
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        phone.screenshot(
            path=ARTIFACTS / "status-page-phone-after-phone-acceptance.png", full_page=True
        )
    finally:
        staff.context.close()
        phone.context.close()
    assert not staff_errors and not phone_errors, staff_errors + phone_errors
