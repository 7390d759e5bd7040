"""Money is Decimal end to end; this is the one place that rounds."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


def to_money(value: Decimal | int | str) -> Decimal:
    """Round to cents, half up (1.005 -> 1.01)."""
    try:
        return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation as error:
        raise ValueError(f"not an amount of money: {value!r}") from error


def format_money(value: Decimal | None, currency: str) -> str:
    if value is None:
        return ""
    return f"{currency} {to_money(value):,.2f}"
