"""What a proposal's lines and the whole document come to: list value, discount, net,
what the customer pays, what we absorb, and our cost. Plain Decimal arithmetic with no
database, so the services, the PDF and the approval rules all use the same figures."""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from fieldsvc.errors import FieldError
from fieldsvc.money import to_money
from fieldsvc.ranges import MONEY, PERCENTAGE, QUANTITY, named

HUNDRED = Decimal("100")
ZERO = Decimal("0.00")


class LineProblem(FieldError):
    """A proposal line's value the totals cannot be worked out from."""


@dataclass(frozen=True)
class LineInput:
    """One line as the totals need it. `unit_cost` and `cost_discount_pct` come from the
    linked part order line; `unit_cost` is None when we do not know our cost."""

    quantity: Decimal
    unit_price: Decimal
    discount_pct: Decimal = Decimal("0")
    customer_share_pct: Decimal = Decimal("100")
    unit_cost: Decimal | None = None
    cost_discount_pct: Decimal = Decimal("0")


@dataclass(frozen=True)
class LineAmounts:
    list_value: Decimal
    discount: Decimal
    net: Decimal
    customer_pays: Decimal
    we_absorb: Decimal
    our_cost: Decimal | None


@dataclass(frozen=True)
class Totals:
    list_value: Decimal
    discount: Decimal
    net: Decimal
    customer_pays: Decimal
    we_absorb: Decimal
    # Only the lines whose cost we know; `cost_complete` says whether that is all of them.
    our_cost: Decimal
    tax: Decimal
    customer_total: Decimal
    cost_complete: bool


def line_amounts(line: LineInput) -> LineAmounts:
    """Work out one line's amounts in cents, so that net = list value - discount and
    customer pays + we absorb = net exactly."""
    # Each percentage applies to the rounded amount printed before it, so a reader can
    # check every figure on the proposal from the figures above it.
    list_value = to_money(line.quantity * line.unit_price)
    discount = to_money(list_value * line.discount_pct / HUNDRED)
    net = list_value - discount
    customer_pays = to_money(net * line.customer_share_pct / HUNDRED)
    our_cost = None
    if line.unit_cost is not None:
        our_cost = to_money(
            line.quantity * line.unit_cost * (HUNDRED - line.cost_discount_pct) / HUNDRED
        )
    return LineAmounts(
        list_value=list_value,
        discount=discount,
        net=net,
        customer_pays=customer_pays,
        we_absorb=net - customer_pays,
        our_cost=our_cost,
    )


def document_totals(lines: Iterable[LineAmounts], tax_rate: Decimal) -> Totals:
    """Add up the lines' rounded amounts and put tax on the customer's share only."""
    lines = list(lines)
    customer_pays = sum((line.customer_pays for line in lines), ZERO)
    tax = to_money(customer_pays * tax_rate)
    return Totals(
        list_value=sum((line.list_value for line in lines), ZERO),
        discount=sum((line.discount for line in lines), ZERO),
        net=sum((line.net for line in lines), ZERO),
        customer_pays=customer_pays,
        we_absorb=sum((line.we_absorb for line in lines), ZERO),
        our_cost=sum((line.our_cost for line in lines if line.our_cost is not None), ZERO),
        tax=tax,
        customer_total=customer_pays + tax,
        cost_complete=all(line.our_cost is not None for line in lines),
    )


def validate_line(line: LineInput) -> None:
    """Raise LineProblem for the first value of the line outside the domain's ranges."""
    checks = (
        ("quantity", line.quantity, QUANTITY),
        ("unit_price", line.unit_price, named(MONEY, "Unit price")),
        ("discount_pct", line.discount_pct, named(PERCENTAGE, "Discount")),
        ("customer_share_pct", line.customer_share_pct, named(PERCENTAGE, "Customer share")),
        ("unit_cost", line.unit_cost, named(MONEY, "Unit cost")),
        ("cost_discount_pct", line.cost_discount_pct, named(PERCENTAGE, "Supplier discount")),
    )
    # The columns hold 2 decimals; a third would be rounded away on saving, and the
    # saved line would no longer add up to what was shown.
    for field, value, allowed in checks:
        if (problem := allowed.problem(value)) is not None:
            raise LineProblem(field, problem)
