"""What a technician and an admin see on a 768x1024 tablet, in Debian's Chromium."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import sign_in


def test_technician_signs_in_browses_equipment_and_signs_out(page, screenshot):
    page.goto("/login")
    screenshot("login-tablet")
    sign_in(page, "tech@example.com")

    expect(page.get_by_text("Tom Technician · Technician")).to_be_visible()
    # A technician reads reference data but is offered no way to change it or manage users.
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    screenshot("home-tablet")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Equipment").click()
    expect(page.get_by_role("heading", name="Equipment")).to_be_visible()
    expect(page.get_by_text("30 in all")).to_be_visible()
    expect(page.get_by_role("link", name="New equipment")).to_have_count(0)
    screenshot("equipment-list-tablet")

    page.get_by_role("searchbox").fill("PT-117")
    page.get_by_role("searchbox").press("Enter")
    expect(page.get_by_text("1 in all")).to_be_visible()
    page.get_by_role("link", name="PT-117").click()
    expect(page.get_by_role("heading", name=re.compile("PT-117"))).to_be_visible()
    expect(page.get_by_text("Building 4 — Sterile Fill").first).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto("/equipment/")
    expect(page).to_have_url(re.compile(r"/login"))


def test_wrong_password_is_told_plainly_and_keeps_the_email(page):
    sign_in(page, "tech@example.com", password="not the password", signed_in=False)
    expect(
        page.get_by_text("E-mail or password is wrong, or the account is inactive.")
    ).to_be_visible()
    expect(page.get_by_label("E-mail")).to_have_value("tech@example.com")
    expect(page.get_by_label("Password")).to_have_value("")


def test_admin_edits_a_customer_and_sees_it_in_the_history(page, screenshot):
    sign_in(page, "admin@example.com")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers").click()
    page.get_by_role("link", name="Northwind Pharma").click()
    screenshot("customer-tablet")
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Notes").fill(
        "Pharmaceutical manufacturer; GMP site. Gate code at reception."
    )
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_text("Gate code at reception.").first).to_be_visible()
    history = page.get_by_role("region", name="History")
    expect(history.get_by_text("Alex Admin").first).to_be_visible()
    expect(history.get_by_text("Gate code at reception.")).to_be_visible()
    screenshot("customer-history-tablet")
