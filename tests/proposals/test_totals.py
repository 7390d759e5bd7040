from dataclasses import fields, replace
from decimal import ROUND_CEILING, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldsvc.errors import FieldError
from fieldsvc.money import to_money
from fieldsvc.proposals.totals import (
    LineAmounts,
    LineInput,
    LineProblem,
    document_totals,
    line_amounts,
    validate_line,
)

D = Decimal
TAX_RATE = D("0.0625")

# The demo story: two transmitters broken on site are replaced at half price, a third is
# given free as a spare, the labour is waived; the supplier gave us 10 % off.
REPLACEMENTS = LineInput(
    quantity=D("2"),
    unit_price=D("350.00"),
    customer_share_pct=D("50"),
    unit_cost=D("350.00"),
    cost_discount_pct=D("10"),
)
SPARE = LineInput(
    quantity=D("1"),
    unit_price=D("350.00"),
    customer_share_pct=D("0"),
    unit_cost=D("350.00"),
    cost_discount_pct=D("10"),
)
LABOUR = LineInput(quantity=D("4"), unit_price=D("120.00"), customer_share_pct=D("0"))


def test_replacement_offer_lines_show_what_the_customer_pays_and_what_we_absorb():
    assert line_amounts(REPLACEMENTS) == LineAmounts(
        list_value=D("700.00"),
        discount=D("0.00"),
        net=D("700.00"),
        customer_pays=D("350.00"),
        we_absorb=D("350.00"),
        our_cost=D("630.00"),
    )
    assert line_amounts(SPARE) == LineAmounts(
        list_value=D("350.00"),
        discount=D("0.00"),
        net=D("350.00"),
        customer_pays=D("0.00"),
        we_absorb=D("350.00"),
        our_cost=D("315.00"),
    )
    assert line_amounts(LABOUR) == LineAmounts(
        list_value=D("480.00"),
        discount=D("0.00"),
        net=D("480.00"),
        customer_pays=D("0.00"),
        we_absorb=D("480.00"),
        our_cost=None,
    )


def test_the_broken_transmitters_document_taxes_only_the_customers_share():
    totals = document_totals(map(line_amounts, [REPLACEMENTS, SPARE, LABOUR]), TAX_RATE)

    assert totals.list_value == D("1530.00")
    assert totals.discount == D("0.00")
    assert totals.net == D("1530.00")
    assert totals.customer_pays == D("350.00")
    assert totals.we_absorb == D("1180.00")
    assert totals.our_cost == D("945.00")
    assert totals.tax == D("21.88")  # 21.875 rounded half up
    assert totals.customer_total == D("371.88")
    # The labour line has no known cost, so 945.00 is the transmitters only.
    assert totals.cost_complete is False


def test_cost_is_complete_when_every_line_has_a_known_cost():
    totals = document_totals([line_amounts(REPLACEMENTS), line_amounts(SPARE)], TAX_RATE)

    assert totals.our_cost == D("945.00")
    assert totals.cost_complete is True


def test_an_empty_document_comes_to_zero_in_cents():
    totals = document_totals([], TAX_RATE)

    assert totals.cost_complete is True
    for field in fields(totals):
        if field.name != "cost_complete":
            assert str(getattr(totals, field.name)) == "0.00", field.name


def test_each_amount_is_rounded_half_up_once_and_the_rest_reconciles():
    line = LineInput(quantity=D("3"), unit_price=D("0.335"), customer_share_pct=D("50"))

    amounts = line_amounts(line)

    assert amounts.list_value == D("1.01")  # 1.005
    assert amounts.customer_pays == D("0.51")  # half of 1.01 is 0.505
    assert amounts.we_absorb == D("0.50")  # the remainder, not rounded again


def test_a_discount_is_rounded_half_up_on_the_list_value_shown():
    line = LineInput(quantity=D("1"), unit_price=D("10.10"), discount_pct=D("12.5"))

    amounts = line_amounts(line)

    assert amounts.discount == D("1.26")  # 1.2625
    assert amounts.net == D("8.84")


def test_our_cost_takes_off_the_suppliers_discount():
    line = LineInput(
        quantity=D("3"), unit_price=D("0"), unit_cost=D("0.45"), cost_discount_pct=D("50")
    )

    assert line_amounts(line).our_cost == D("0.68")  # 0.675


def test_a_valid_line_passes_validation():
    validate_line(REPLACEMENTS)
    validate_line(LineInput(quantity=D("0.25"), unit_price=D("0"), customer_share_pct=D("100")))


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"quantity": D("0")}, "quantity", "Quantity must be more than 0."),
        ({"quantity": D("-1")}, "quantity", "Quantity must be more than 0."),
        ({"quantity": D("1.005")}, "quantity", "Use at most 2 decimals for the quantity."),
        ({"quantity": D("NaN")}, "quantity", "Enter a number."),
        ({"unit_price": D("-0.01")}, "unit_price", "Unit price cannot be negative."),
        ({"unit_price": D("350.001")}, "unit_price", "Use at most 2 decimals for money."),
        ({"unit_price": D("Infinity")}, "unit_price", "Enter a number."),
        ({"unit_price": D("1E+30")}, "unit_price", "Unit price can be at most 10,000,000."),
        ({"discount_pct": D("-1")}, "discount_pct", "Discount must be between 0 and 100 %."),
        ({"discount_pct": D("100.01")}, "discount_pct", "Discount must be between 0 and 100 %."),
        (
            {"discount_pct": D("12.345")},
            "discount_pct",
            "Use at most 2 decimals for a percentage.",
        ),
        (
            {"customer_share_pct": D("-0.01")},
            "customer_share_pct",
            "Customer share must be between 0 and 100 %.",
        ),
        (
            {"customer_share_pct": D("101")},
            "customer_share_pct",
            "Customer share must be between 0 and 100 %.",
        ),
        ({"unit_cost": D("-5")}, "unit_cost", "Unit cost cannot be negative."),
        ({"unit_cost": D("0.125")}, "unit_cost", "Use at most 2 decimals for money."),
        (
            {"cost_discount_pct": D("110")},
            "cost_discount_pct",
            "Supplier discount must be between 0 and 100 %.",
        ),
    ],
)
def test_a_bad_value_is_refused_with_a_message_for_its_field(changes, field, message):
    with pytest.raises(LineProblem) as refused:
        validate_line(replace(REPLACEMENTS, **changes))

    assert isinstance(refused.value, FieldError)
    assert (refused.value.field, refused.value.message) == (field, message)


def test_trailing_zeros_are_not_extra_decimals():
    validate_line(LineInput(quantity=D("1.500"), unit_price=D("350.0000")))


# Valid lines as a form would give them: 2-decimal values, and whole numbers too.
def values_between(low: str, high: str) -> st.SearchStrategy[Decimal]:
    return st.one_of(
        st.decimals(min_value=low, max_value=high, places=2),
        st.integers(int(D(low).to_integral_value(ROUND_CEILING)), int(high)).map(Decimal),
    )


# Round shares and discounts meet half cents far more often than random ones do.
percentages = st.sampled_from([D("12.5"), D("25"), D("50"), D("75")]) | values_between("0", "100")
lines = st.builds(
    LineInput,
    quantity=values_between("0.01", "1000"),
    unit_price=values_between("0", "100000"),
    discount_pct=percentages,
    customer_share_pct=percentages,
    unit_cost=st.none() | values_between("0", "100000"),
    cost_discount_pct=values_between("0", "100"),
)
tax_rates = st.decimals(min_value="0", max_value="0.3", places=4)


def has_two_decimals(amount: Decimal) -> bool:
    return amount.as_tuple().exponent == -2


@settings(max_examples=200, deadline=None)
@given(lines)
def test_every_valid_line_reconciles_to_the_cent(line):
    validate_line(line)

    amounts = line_amounts(line)

    assert amounts.list_value - amounts.discount == amounts.net
    assert amounts.customer_pays + amounts.we_absorb == amounts.net
    assert 0 <= amounts.customer_pays <= amounts.net
    assert 0 <= amounts.we_absorb <= amounts.net
    assert (amounts.our_cost is None) == (line.unit_cost is None)
    for field in fields(LineAmounts):
        amount = getattr(amounts, field.name)
        assert amount is None or has_two_decimals(amount), field.name


@settings(max_examples=200, deadline=None)
@given(lines)
def test_a_full_share_is_all_paid_and_no_share_is_all_absorbed(line):
    paid_in_full = line_amounts(replace(line, customer_share_pct=D("100")))
    waived = line_amounts(replace(line, customer_share_pct=D("0")))

    assert (paid_in_full.customer_pays, paid_in_full.we_absorb) == (paid_in_full.net, 0)
    assert (waived.customer_pays, waived.we_absorb) == (0, waived.net)


@settings(max_examples=200, deadline=None)
@given(st.lists(lines, min_size=1, max_size=30), tax_rates)
def test_document_totals_are_the_sums_of_the_lines_shown(inputs, tax_rate):
    rows = [line_amounts(line) for line in inputs]

    totals = document_totals(iter(rows), tax_rate)

    for name in ["list_value", "discount", "net", "customer_pays", "we_absorb"]:
        assert getattr(totals, name) == sum(getattr(row, name) for row in rows), name
    assert totals.our_cost == sum(row.our_cost for row in rows if row.our_cost is not None)
    assert totals.cost_complete == all(row.our_cost is not None for row in rows)
    assert totals.customer_pays + totals.we_absorb == totals.list_value - totals.discount
    assert totals.tax == to_money(totals.customer_pays * tax_rate)
    assert totals.customer_total == totals.customer_pays + totals.tax
    for field in fields(totals):
        if field.name != "cost_complete":
            assert has_two_decimals(getattr(totals, field.name)), field.name
