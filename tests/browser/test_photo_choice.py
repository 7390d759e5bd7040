"""What the customer sees of the photos, in Chromium: the technician chooses per photo as
they add them (a row per chosen file), the incident page says which are shown, and the
customer's phone shows only those, with their captions, under the sent offer."""

import io
import re
from collections.abc import Iterator

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, TABLET, serve_demo, watched_page
from tests.conftest import ARTIFACTS

WIDTHS = (390, 768, 1280)


@pytest.fixture(scope="module")
def server(tmp_path_factory, live_smtp) -> Iterator[str]:
    """The demo data on its own database: its proposal is sent here."""
    with serve_demo(tmp_path_factory, live_smtp, "photos") as base_url:
        yield base_url


def _photo(tmp_path, name: str, colour) -> str:
    path = tmp_path / name
    buffer = io.BytesIO()
    Image.new("RGB", (1200, 900), colour).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())
    return str(path)


def _sign_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()


def _fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_customer_sees_only_the_photo_chosen_for_them_with_its_caption(
    browser, server, live_smtp, tmp_path
):
    ARTIFACTS.mkdir(exist_ok=True)
    staff, staff_errors = watched_page(browser, server, TABLET)
    phone, phone_errors = watched_page(browser, server, PHONE)
    try:
        _sign_in(staff, "tech@example.com")
        staff.goto("/incidents/1")
        photos = staff.locator("#photos")
        photos.locator("input[type=file]:not([capture])").set_input_files(
            [
                _photo(tmp_path, "pt-107.jpg", (160, 60, 60)),
                _photo(tmp_path, "test-rig.jpg", (60, 60, 160)),
            ]
        )
        rows = photos.locator(".photo-detail")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("pt-107.jpg")
        expect(rows.nth(1)).to_contain_text("test-rig.jpg")
        # Kept for us unless ticked.
        expect(rows.nth(1).get_by_label("Show to the customer")).not_to_be_checked()
        rows.nth(0).get_by_label("Show to the customer").check()
        rows.nth(0).get_by_label("Caption").fill("PT-107: the cracked diaphragm")
        rows.nth(1).get_by_label("Caption").fill("Our test rig at 40 bar")
        staff.screenshot(path=ARTIFACTS / "photos-choosing-tablet.png", full_page=True)
        photos.get_by_role("button", name="Upload").click()

        expect(
            staff.get_by_text("2 photo(s) added: 1 shown to the customer, 1 kept for us.")
        ).to_be_visible()
        shown = staff.locator(".photo-choice.shown")
        expect(shown).to_have_count(1)
        expect(shown).to_contain_text("PT-107: the cracked diaphragm")
        expect(staff.locator(".photo-choice", has_text="Kept for us")).to_have_count(1)
        for width in WIDTHS:
            staff.set_viewport_size({"width": width, "height": 900})
            assert _fits(staff), f"the incident page scrolls sideways at {width} px"
            staff.locator("#photos").screenshot(path=ARTIFACTS / f"photos-incident-{width}.png")
        staff.set_viewport_size(TABLET)

        staff.context.clear_cookies()
        _sign_in(staff, "supervisor@example.com")
        staff.goto("/proposals/1")
        staff.get_by_role("button", name="Send the proposal").click()
        expect(staff.get_by_text("Sent to dana.whitfield@northwind.example")).to_be_visible()
        link = [
            found
            for message in live_smtp.messages
            for found in re.findall(
                re.escape(server) + r"/status/\S+",
                message.get_body(preferencelist=("plain",)).get_content(),
            )
        ][-1]

        phone.goto(link)
        figures = phone.locator(".customer-photos figure")
        expect(figures).to_have_count(1)
        expect(figures).to_contain_text("Photo 1 · PT-107: the cracked diaphragm")
        expect(phone.get_by_text("Our test rig")).to_have_count(0)
        figures.locator("img").scroll_into_view_if_needed()
        phone.wait_for_function(
            "[...document.querySelectorAll('.customer-photos img')]"
            ".every(image => image.complete && image.naturalWidth > 0)"
        )
        for width in WIDTHS:
            phone.set_viewport_size({"width": width, "height": 900})
            assert _fits(phone), f"the status page scrolls sideways at {width} px"
            phone.screenshot(path=ARTIFACTS / f"photos-status-page-{width}.png", full_page=True)
    finally:
        staff.context.close()
        phone.context.close()
    assert not staff_errors, staff_errors
    assert not phone_errors, phone_errors
