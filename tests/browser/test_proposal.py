"""A technician drafts the broken-transmitters offer on a 768x1024 tablet, guided by the send
gate's checklist; a supervisor approves it with their password."""

import re
from datetime import date, timedelta

from playwright.sync_api import expect

from tests.browser.conftest import TABLET, sign_in

TEXTS = {
    "What happened": "We are sorry: our technician damaged two of your transmitters today.",
    "What we have already done": "We have already ordered three new transmitters.",
    "The plan": "Our technician will return on {day} at 08:00 to install and calibrate them.",
}


def test_draft_through_the_gate_then_approval(page, browser, live_server, screenshot):
    sign_in(page, "tech@example.com")
    page.goto("/incidents/")
    page.locator(".incident-link").last.click()
    page.get_by_role("button", name="Draft a proposal").click()
    expect(page.get_by_role("heading", name="Before it can go to a supervisor")).to_be_visible()
    gate = page.locator("#gate")
    expect(gate.get_by_text("Schedule the return visit (date and time).")).to_be_visible()
    expect(gate.get_by_text("Write what happened, what is done and the plan")).to_be_visible()
    # Where the button will be, the author reads what it still waits for.
    hint = page.locator(".submit-hint")
    expect(hint.first).to_contain_text("Submit for approval appears here once the checklist is met")
    expect(
        hint.get_by_role("link", name="Schedule the return visit (date and time).")
    ).to_be_visible()
    screenshot("proposal-editor-gate-tablet")

    tomorrow = date.today() + timedelta(days=1)
    for label, text in TEXTS.items():
        page.get_by_label(label, exact=True).fill(text.format(day=f"{tomorrow.day} {tomorrow:%B}"))
    page.get_by_label("Return visit").fill(f"{tomorrow.isoformat()}T08:00")
    page.get_by_label("Technician").select_option(label="Tom Technician")
    page.get_by_label("Quantity, line 1").fill("2")
    page.get_by_label("Customer share, line 1").fill("50")
    page.get_by_label("Kind, line 2").select_option("goodwill")
    page.get_by_label("Description, line 2").fill("Spare transmitter, free of charge")
    page.get_by_label("Quantity, line 2").fill("1")
    page.get_by_label("Unit price, line 2").fill("350.00")
    page.get_by_label("Customer share, line 2").fill("0")
    page.get_by_label("Kind, line 3").select_option("labour")
    page.get_by_label("Description, line 3").fill("Calibration and installation, waived")
    page.get_by_label("Quantity, line 3").fill("4")
    page.get_by_label("Unit price, line 3").fill("120.00")
    page.get_by_label("Customer share, line 3").fill("0")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text("Proposal saved.")).to_be_visible()
    expect(page.get_by_role("heading", name="Ready for approval")).to_be_visible()
    totals = page.locator(".money-table tfoot")
    expect(totals.get_by_text("USD 1,530.00")).to_be_visible()
    expect(totals.get_by_text("USD 350.00").first).to_be_visible()
    # What we absorb, the figure the supervisor approves against, is on the tablet's screen.
    absorbed = totals.locator("td[data-label='We absorb']")
    expect(absorbed).to_have_text("USD 1,180.00")
    box = absorbed.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= TABLET["width"]
    expect(page.locator(".submit-hint")).to_have_count(0)
    screenshot("proposal-editor-ready-tablet")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.get_by_text("Submitted for approval.")).to_be_visible()
    proposal_url = page.url

    supervisor = browser.new_context(
        viewport=TABLET, has_touch=True, base_url=live_server
    ).new_page()
    try:
        sign_in(supervisor, "supervisor@example.com")
        supervisor.goto("/approvals")
        supervisor.locator(".incident-link").first.click()
        expect(
            supervisor.get_by_text("“I approve this remediation offer”", exact=True)
        ).to_be_visible()
        supervisor.screenshot(path=_artifact("proposal-approval-tablet"), full_page=True)
        supervisor.get_by_label("Your password").fill("wrong password")
        supervisor.get_by_role("button", name="Approve").click()
        # The answer comes back beside the field, on screen, ready for the right password.
        refused = supervisor.get_by_text("That is not your password; nothing was approved.")
        expect(refused).to_be_in_viewport()
        expect(supervisor.get_by_label("Your password")).to_be_focused()
        supervisor.get_by_label("Your password").fill("demo")
        supervisor.get_by_role("button", name="Approve").click()
        expect(supervisor.get_by_text(re.compile("Approved by Sara Supervisor"))).to_be_visible()
    finally:
        supervisor.context.close()

    page.goto(proposal_url)
    expect(page.get_by_text(re.compile("Approved by Sara Supervisor"))).to_be_visible()


def _artifact(name: str) -> str:
    from tests.conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / f"{name}.png")
