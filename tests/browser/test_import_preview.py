"""What an admin sees after uploading a spreadsheet with refused rows, on a phone, a
tablet and a laptop: the refused rows and why, before anything is saved."""

import csv
import io

from playwright.sync_api import expect

from tests.browser.test_every_page import READ_PAGE, SCREENS
from tests.conftest import ARTIFACTS
from tests.imports.conftest import HEADER, as_csv, thirty_rows


def test_the_preview_tells_an_admin_which_rows_are_refused_and_why_at_every_width(page, browser):
    from tests.browser.conftest import sign_in

    sign_in(page, "admin@example.com")
    # One of the demo's customers, changed: the preview shows its old and new notes.
    exported = page.request.get("/imports/reference-data.csv").text().lstrip("\ufeff")
    customer = next(
        row for row in csv.DictReader(io.StringIO(exported)) if row["kind"] == "customer"
    )
    changed = {key: customer[key] for key in ("kind", "id", "name", "team")}
    changed["notes"] = "Prefers calls before 10:00"
    # The demo has no team "North": these customers are served by no team.
    rows = [{**row, "team": ""} for row in thirty_rows()]
    content = as_csv([changed, *rows], ["id", *HEADER])

    shots = ARTIFACTS / "imports"
    shots.mkdir(parents=True, exist_ok=True)
    page.goto("/imports/")
    page.screenshot(path=shots / "import-upload-768.png", full_page=True)
    page.get_by_label("Spreadsheet").set_input_files(
        files=[{"name": "transmitters.csv", "mimeType": "text/csv", "buffer": content}]
    )
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", name="3 rows are refused")).to_be_visible()
    refused = page.locator(".import-refused")
    expect(refused).to_contain_text("Row 9 · Contact Sam Patel (K-203): email")
    expect(refused).to_contain_text("There is no site with external id S-999.")
    expect(refused).to_contain_text("tag is empty: every equipment row needs one.")
    expect(page.get_by_label("Import the valid rows, skip the refused ones")).to_be_visible()
    expect(page.locator("tr.outcome-update")).to_contain_text(
        "notes: " + customer["notes"] + " → Prefers calls before 10:00"
    )

    for width, height in SCREENS:
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate(READ_PAGE) == [], f"at {width} px"
        page.screenshot(path=shots / f"import-preview-{width}.png", full_page=True)
