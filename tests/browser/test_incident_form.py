"""Reporting an incident on a 768x1024 tablet in Chromium: pickers, a reload midway
that must not lose the report, a photo, and the incident page afterwards."""

import io
import re

from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

MIN_TOUCH_PX = 44
PAGE_BUDGET_BYTES = 150_000


def _photo(tmp_path) -> str:
    path = tmp_path / "broken-transmitter.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (1600, 1200), (90, 120, 160)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())
    return str(path)


def test_technician_reports_an_incident_surviving_a_reload(page, screenshot, tmp_path):
    sign_in(page, "tech@example.com")
    page.goto("/incidents/new")
    weights = page.evaluate(
        """['navigation', 'resource']
             .flatMap(type => performance.getEntriesByType(type))
             .map(entry => [entry.name, entry.decodedBodySize])"""
    )
    assert 0 < sum(size for _, size in weights) < PAGE_BUDGET_BYTES, weights
    screenshot("incident-new-empty-tablet")

    page.get_by_label("Type to find a customer").fill("northw")
    expect(page.get_by_label("Customer", exact=True)).to_have_value(re.compile(r"^\d+$"))
    page.get_by_label("Site", exact=True).select_option(label="Building 4 — Sterile Fill")
    expect(page.get_by_text("30 items")).to_be_visible()
    search = page.get_by_placeholder("Filter by tag, model or serial")
    search.fill("pt-107")
    expect(page.locator(".picker-option:visible")).to_have_count(1)
    page.get_by_label("PT-107").check()
    search.fill("117")
    page.get_by_label("PT-117").check()
    search.fill("")
    expect(page.get_by_text("Selected: PT-107, PT-117")).to_be_visible()
    page.locator("label.pill", has_text="High").click()
    page.get_by_label("What the customer expected").fill("All 30 transmitters back in service")
    page.get_by_label("What happened").fill("PT-107 and PT-117 over-pressured on our test rig")
    page.get_by_label("Reported by (contact)").select_option(label="Dana Whitfield")
    page.get_by_label("Cause", exact=True).select_option(label="Our technician")
    page.get_by_label("Technician's own statement").fill("I did not re-check the regulator.")

    # The tablet crashes or the page is reloaded: the report must come back.
    page.reload()
    expect(page.get_by_text("You have an unsent report from")).to_be_visible()
    screenshot("incident-draft-banner-tablet")
    page.get_by_role("button", name="Restore it").click()
    expect(page.get_by_label("What happened")).to_have_value(
        "PT-107 and PT-117 over-pressured on our test rig"
    )
    expect(page.get_by_label("PT-107")).to_be_checked()
    expect(page.get_by_label("PT-117")).to_be_checked()
    expect(page.get_by_label("Technician's own statement")).to_have_value(
        "I did not re-check the regulator."
    )

    page.locator("input[type=file]:not([capture])").set_input_files(_photo(tmp_path))
    expect(page.get_by_text("Attached: broken-transmitter.jpg")).to_be_visible()
    _assert_touch_targets(page)
    screenshot("incident-new-filled-tablet")
    page.get_by_role("button", name="Record incident").click()

    expect(page.get_by_text(re.compile(r"INC-\d{4}-\d{5} recorded\."))).to_be_visible()
    expect(page.locator(".photos img")).to_have_count(1)
    expect(page.get_by_role("link", name="PT-107")).to_be_visible()
    cause = page.get_by_role("region", name=re.compile("^Cause"))
    expect(cause.get_by_text("I did not re-check the regulator.")).to_be_visible()
    assert page.evaluate("localStorage.getItem('fieldsvc:incident:new')") is None
    assert "recorded=" not in page.url
    screenshot("incident-detail-tablet")

    # Printed, the page is the record: no forms or buttons, every section on paper.
    page.emulate_media(media="print")
    expect(page.get_by_role("button", name="Log work")).to_be_hidden()
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    screenshot("incident-print")


def test_incident_list_and_my_day_on_a_tablet(page, screenshot):
    sign_in(page, "tech@example.com")
    page.goto("/incidents/")
    expect(page.locator(".incident-card").first).to_be_visible()
    screenshot("incident-list-tablet")
    page.goto("/my-day")
    expect(page.get_by_role("heading", name="My day")).to_be_visible()
    expect(page.get_by_text("Call Dana back with the replacements")).to_be_visible()
    screenshot("my-day-tablet")


def _assert_touch_targets(page) -> None:
    small = page.evaluate(
        """(minimum) => [...document.querySelectorAll(
              'main button, main .button, main select, main input:not([type=checkbox])'
              + ':not([type=radio]):not([type=hidden]):not([type=file]), main textarea,'
              + ' main label.pill, main label.picker-option')]
            .filter(el => el.offsetParent !== null)
            .map(el => [el.outerHTML.slice(0, 80), el.getBoundingClientRect().height])
            .filter(([, height]) => height < minimum)""",
        MIN_TOUCH_PX,
    )
    assert small == [], small
