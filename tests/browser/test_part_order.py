"""Ordering parts on a 768x1024 tablet: choosing a catalogue part fills the line."""

from playwright.sync_api import expect

from tests.browser.conftest import sign_in


def test_choosing_a_catalogue_part_fills_description_and_unit_cost_which_stay_editable(page):
    sign_in(page, "tech@example.com")
    page.goto("/incidents/1/part-orders/new")

    page.get_by_label("Catalogue part, line 1").select_option(
        label="PTX-400 — PTX-400 pressure transmitter"
    )

    expect(page.get_by_label("Description, line 1")).to_have_value("PTX-400 pressure transmitter")
    expect(page.get_by_label("Unit cost, line 1")).to_have_value("350.00")
    # The supplier's own price is typed over the list price and kept.
    page.get_by_label("Unit cost, line 1").fill("315.00")
    page.get_by_label("Catalogue part, line 1").select_option(label="Not in the catalogue")
    page.get_by_label("Catalogue part, line 1").select_option(
        label="PTX-400 — PTX-400 pressure transmitter"
    )
    expect(page.get_by_label("Unit cost, line 1")).to_have_value("315.00")

    # What was typed before choosing the part is not overwritten either.
    page.get_by_label("Description, line 2").fill("PTX-400, the free spare")
    page.get_by_label("Catalogue part, line 2").select_option(
        label="PTX-400 — PTX-400 pressure transmitter"
    )
    expect(page.get_by_label("Description, line 2")).to_have_value("PTX-400, the free spare")
    expect(page.get_by_label("Unit cost, line 2")).to_have_value("350.00")
