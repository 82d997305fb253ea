"""Pure rules: money in micro-USD, parsed from what people type and formatted for them to read.

`format_usd` is also the templates' `money` filter (portal.web.templating), so pages, charts and the
command line show amounts the same way."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from portal.catalog.prices import parse_dollars

MICROS = 1_000_000
MAX_USD = Decimal("1000000")  # no single limit or report above a million dollars
AMOUNT_HINT = "a dollar amount such as 5.00"


def usd_to_micros(value: object, *, allow_zero: bool = False) -> int:
    """A dollar amount (number or text such as '5.00' or '$5') in micro-USD; ValueError if invalid."""
    amount = parse_dollars(value, AMOUNT_HINT)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValueError("must be more than 0" if not allow_zero else "must not be negative")
    if amount > MAX_USD:
        raise ValueError(f"at most {MAX_USD:,} USD")
    return int((amount * MICROS).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def micros_to_usd(micros: int | None) -> float | None:
    """For JSON answers and audit details: dollars as a number, None for no limit."""
    return None if micros is None else micros / MICROS


def format_usd(micros: int | None) -> str:
    """'$1,234.50', '$0.0012' below a cent, 'no limit' for None."""
    if micros is None:
        return "no limit"
    value = Decimal(micros) / MICROS
    places = Decimal("0.01") if value >= Decimal("0.01") or value == 0 else Decimal("0.0001")
    return f"${value.quantize(places, rounding=ROUND_HALF_UP):,}"


def usd_input(micros: int | None) -> str:
    """An amount as a form field's value ('5', '2.5'); empty for no limit."""
    return "" if micros is None else f"{micros / MICROS:g}"


def share(spent: int, limit: int | None) -> float | None:
    """Spend as a fraction of the limit (may exceed 1), or None without a limit."""
    return None if not limit else spent / limit
