"""The demo tour: the whole story on the demo data, through real pages in headless Chromium.

A technician reports two broken transmitters on a tablet (768x1024), orders the
replacements and drafts the offer; a supervisor approves and sends it on a desk screen
(1280x800); the customer opens the status page on a phone (390x844) and accepts; the
supervisor opens the dashboard and the PDF as sent. Each step leaves
tests/artifacts/tour-NN-<step>.png, and `make docs-screenshots` copies the ones the
README and docs/ show to docs/images/.

The checks look at what stays put while pages evolve: headings, the incident's
reference, buttons and the figures of the offer.
"""

import re
import shutil
import subprocess
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, TABLET, serve_demo, sign_in, watched_page
from tests.conftest import ARTIFACTS, missing

DESK = {"width": 1280, "height": 800}
REFERENCE = re.compile(r"INC-\d{4}-\d{5}")


@pytest.fixture(scope="module")
def tour_server(tmp_path_factory, live_smtp):
    """The demo data on a database of its own, so the tour's story is the only new one."""
    with serve_demo(tmp_path_factory, live_smtp, "tour") as base_url:
        yield base_url


@pytest.fixture
def open_tab(browser, tour_server):
    """Open a tab at a viewport size in a context of its own; fail on any script error."""
    opened: list[tuple[Page, list[str]]] = []

    def open_(viewport: dict) -> Page:
        page, errors = watched_page(browser, tour_server, viewport)
        opened.append((page, errors))
        return page

    yield open_
    for page, _ in opened:
        page.context.close()
    errors = [error for _, page_errors in opened for error in page_errors]
    assert not errors, f"browser console errors: {errors}"


def shot(page: Page, number: int, step: str, full_page: bool = False) -> None:
    """Save the step's screenshot: what the viewport shows, or the whole page."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"tour-{number:02d}-{step}.png", full_page=full_page)


def test_the_demo_story_from_report_to_the_customers_yes(
    open_tab, tour_server, live_smtp, tmp_path
):
    tomorrow = date.today() + timedelta(days=1)

    # 1. The technician signs in on the tablet.
    tech = open_tab(TABLET)
    tech.goto("/login")
    expect(tech.get_by_role("button", name="Sign in")).to_be_visible()
    tech.get_by_label("E-mail").fill("tech@example.com")
    tech.get_by_label("Password").fill("demo")
    shot(tech, 1, "sign-in")
    tech.get_by_role("button", name="Sign in").click()
    expect(tech.get_by_role("button", name="Sign out")).to_be_visible()

    # 2. Reports the incident: customer, site, the two transmitters, the facts, the cause.
    tech.goto("/incidents/new")
    tech.get_by_label("Type to find a customer").fill("northw")
    expect(tech.get_by_label("Customer", exact=True)).to_have_value(re.compile(r"^\d+$"))
    tech.get_by_label("Site", exact=True).select_option(label="Building 4 — Sterile Fill")
    search = tech.get_by_placeholder("Filter by tag, model or serial")
    for tag in ("PT-107", "PT-117"):
        search.fill(tag.lower())
        tech.get_by_label(tag).check()
    search.fill("")
    tech.locator("label.pill", has_text="High").click()
    tech.get_by_label("What the customer expected").fill("All 30 transmitters back in service")
    tech.get_by_label("What happened").fill("PT-107 and PT-117 over-pressured on our test rig")
    tech.get_by_label("Reported by (contact)").select_option(label="Dana Whitfield")
    tech.get_by_label("Cause", exact=True).select_option(label="Our technician")
    tech.get_by_label("Technician's own statement").fill("I did not re-check the regulator.")
    tech.get_by_label("Site", exact=True).scroll_into_view_if_needed()
    shot(tech, 2, "report-incident")
    tech.get_by_role("button", name="Record incident").click()

    heading = tech.get_by_role("heading", level=1)
    expect(heading).to_contain_text(REFERENCE)
    reference = REFERENCE.search(heading.inner_text()).group()
    expect(tech.get_by_role("link", name="PT-107")).to_be_visible()
    expect(tech.get_by_role("heading", name=re.compile("^Cause"))).to_be_visible()
    shot(tech, 3, "incident")
    incident_url = tech.url

    # 3. Orders three transmitters (two to replace, a free spare) before the customer is told.
    tech.get_by_role("link", name="Order parts").click()
    expect(tech.get_by_role("heading", name=f"Order parts for {reference}")).to_be_visible()
    tech.get_by_label("Supplier").select_option(label="Precision Instruments Supply")
    tech.get_by_label("PO number").fill("PO-7790")
    tech.get_by_label("Expected delivery").fill(tomorrow.isoformat())
    tech.get_by_label("Catalogue part, line 1").select_option(index=1)
    tech.get_by_label("Description, line 1").fill("PTX-400 pressure transmitter")
    tech.get_by_label("Quantity, line 1").fill("3")
    tech.get_by_label("Unit cost, line 1").fill("350.00")
    tech.get_by_label("Discount, line 1").fill("10")
    shot(tech, 4, "order-parts")
    tech.get_by_role("button", name="Record part order").click()
    parts = tech.locator("#parts")
    expect(parts.get_by_text("PO-7790")).to_be_visible()
    parts.get_by_role("button", name=re.compile("^Mark ordered", re.I)).click()
    parts = tech.locator("#parts")
    expect(parts.get_by_role("button", name=re.compile("^Mark shipped", re.I))).to_be_visible()
    parts.scroll_into_view_if_needed()
    shot(tech, 5, "parts-ordered")

    # 4. Drafts the offer: the send gate lists what is missing until the fix exists.
    tech.get_by_role("button", name="Draft a proposal").click()
    expect(tech.get_by_role("heading", name="Before it can go to a supervisor")).to_be_visible()
    tech.get_by_label("What happened", exact=True).fill(
        "We are sorry: our technician damaged two of your transmitters today."
    )
    tech.get_by_label("What we have already done", exact=True).fill(
        "We have already ordered three new transmitters; they arrive tomorrow."
    )
    tech.get_by_label("The plan", exact=True).fill(
        f"Our technician will return on {tomorrow.day} {tomorrow:%B} at 08:00"
        " to install and calibrate them."
    )
    tech.get_by_label("Return visit").fill(f"{tomorrow.isoformat()}T08:00")
    tech.get_by_label("Technician").select_option(label="Tom Technician")
    tech.get_by_label("Valid until").fill((tomorrow + timedelta(days=13)).isoformat())
    tech.get_by_label("Quantity, line 1").fill("2")
    tech.get_by_label("Customer share, line 1").fill("50")
    tech.get_by_label("Kind, line 2").select_option("goodwill")
    tech.get_by_label("Description, line 2").fill("Spare transmitter, free of charge")
    tech.get_by_label("Quantity, line 2").fill("1")
    tech.get_by_label("Unit price, line 2").fill("350.00")
    tech.get_by_label("Customer share, line 2").fill("0")
    tech.get_by_label("Kind, line 3").select_option("labour")
    tech.get_by_label("Description, line 3").fill("Calibration and installation, waived")
    tech.get_by_label("Quantity, line 3").fill("4")
    tech.get_by_label("Unit price, line 3").fill("120.00")
    tech.get_by_label("Customer share, line 3").fill("0")
    tech.get_by_role("button", name="Save", exact=True).click()
    expect(tech.get_by_role("heading", name="Ready for approval")).to_be_visible()
    # The offer's totals: list value and what we absorb (however the table is laid out).
    expect(tech.get_by_text("USD 1,530.00").first).to_be_visible()
    expect(tech.get_by_text("USD 1,180.00").first).to_be_visible()
    tech.get_by_role("heading", name="Who pays what").scroll_into_view_if_needed()
    shot(tech, 6, "draft-offer")
    tech.get_by_role("button", name="Submit for approval").click()
    expect(tech.get_by_role("heading", level=1)).to_contain_text("Submitted")
    proposal_path = re.sub(r"^https?://[^/]+", "", tech.url).split("#")[0]

    # 5. The supervisor, on a desk screen, approves: four eyes, their password.
    desk = open_tab(DESK)
    sign_in(desk, "supervisor@example.com")
    desk.goto("/approvals")
    expect(desk.get_by_role("heading", level=1)).to_be_visible()
    desk.get_by_role("link", name=reference).first.click()
    expect(desk.get_by_role("heading", name="Approve")).to_be_visible()
    expect(desk.get_by_role("link", name=reference)).to_be_visible()
    expect(desk.get_by_text("USD 1,180.00").first).to_be_visible()
    desk.get_by_label("Your password").fill("demo")
    desk.get_by_role("button", name="Approve").scroll_into_view_if_needed()
    shot(desk, 7, "approve")
    desk.get_by_role("button", name="Approve").click()
    expect(desk.get_by_role("heading", level=1)).to_contain_text("Approved")

    # 6. Sends it: the PDF is frozen and e-mailed with the status-page link.
    desk.goto(proposal_path)
    already = len(live_smtp.messages)
    desk.get_by_role("button", name="Send the proposal").click()
    expect(desk.get_by_role("heading", name="Sent to the customer")).to_be_visible()
    desk.get_by_role("heading", name="Sent to the customer").scroll_into_view_if_needed()
    shot(desk, 8, "sent")
    sent = [
        message
        for message in live_smtp.messages[already:]
        if message["To"] and "dana.whitfield@northwind.example" in message["To"]
    ]
    assert sent, "the contact is e-mailed the proposal"
    body = sent[-1].get_body(preferencelist=("plain",)).get_content()
    (link,) = re.findall(re.escape(tour_server) + r"/status/\S+", body)

    # 7. The customer opens the link on a phone and accepts with their name.
    phone = open_tab(PHONE)
    phone.goto(link)
    expect(phone.get_by_role("heading", level=1)).to_contain_text(reference)
    expect(phone.get_by_role("heading", name="Our proposal")).to_be_visible()
    expect(phone.get_by_text("USD 350.00").first).to_be_visible()
    accept = phone.get_by_role("button", name="I accept this proposal")
    expect(accept).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(phone, 9, "status-page")
    phone.get_by_label("Your full name").fill("Dana Whitfield")
    accept.click()
    expect(phone.get_by_role("button", name="I accept this proposal")).to_have_count(0)
    expect(phone.get_by_text(re.compile("Accepted by Dana Whitfield")).first).to_be_visible()
    shot(phone, 10, "accepted", full_page=True)

    # 8. The incident follows the customer's answer; the supervisor's dashboard.
    desk.goto(incident_url)
    expect(desk.get_by_role("heading", level=1)).to_contain_text(reference)
    expect(desk.get_by_role("heading", level=1)).to_contain_text(re.compile("accepted", re.I))
    desk.goto("/dashboard")
    expect(desk.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    expect(desk.get_by_role("heading", name="Open incidents by status")).to_be_visible()
    shot(desk, 11, "dashboard")

    # 9. The PDF as sent: what the customer received, with their status-page link.
    desk.goto(proposal_path)
    pdf_url = desk.get_by_role("link", name="The PDF as sent").get_attribute("href")
    response = desk.request.get(pdf_url)
    assert response.ok and response.body().startswith(b"%PDF")
    if shutil.which("pdftoppm") is None:
        missing("poppler-utils (pdftotext, pdftoppm) is not installed; `make test` installs it")
    pdf = tmp_path / "proposal.pdf"
    pdf.write_bytes(response.body())
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert reference in text
    assert link in re.sub(r"\s+", "", text), "the PDF carries the customer's status-page link"
    first_page = ["-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile"]
    subprocess.run(
        ["pdftoppm", *first_page, str(pdf), str(ARTIFACTS / "tour-12-proposal-pdf")], check=True
    )
