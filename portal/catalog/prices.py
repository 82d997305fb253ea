"""Pure rules: what a model's tokens cost. Prices are millionths of a US dollar per million tokens
(USD 0.15 per million input tokens is 150_000), so every sum is exact on every backend."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

TOKENS_PER_PRICE = 1_000_000


@dataclass(frozen=True, slots=True)
class Prices:
    input_micros: int | None  # per million input tokens; None: not priced
    output_micros: int | None  # per million output tokens
    max_output_tokens: int | None = None  # the model's longest answer, for the worst case

    @property
    def priced(self) -> bool:
        return self.input_micros is not None and self.output_micros is not None

    def cost_micros(self, input_tokens: int, output_tokens: int) -> int:
        """The cost of tokens, rounded up to a whole micro-USD (0 for an unpriced model)."""
        total = input_tokens * (self.input_micros or 0) + output_tokens * (self.output_micros or 0)
        return -(-total // TOKENS_PER_PRICE)


UNPRICED = Prices(None, None)


# ---------------------------------------------------------------------------- what people type

MAX_PRICE_USD = Decimal(1000)  # per million tokens: far above any list price, so a typo stands out
PRICE_HINT = "a dollar amount per million tokens, such as 0.15"
MAX_OUTPUT_LIMIT = 10_000_000


def parse_dollars(value: object, hint: str) -> Decimal:
    """A number or text such as '5', '$0.15' as a finite Decimal; ValueError(hint) otherwise.
    The one parser of typed dollar amounts (also portal.apikeys.money's)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(hint)
    raw = str(value).strip().removeprefix("$").strip()
    try:
        amount = Decimal(raw)
    except InvalidOperation as exc:
        raise ValueError(hint) from exc
    if not amount.is_finite():
        raise ValueError(hint)
    return amount


def price_to_micros(value: object) -> int:
    """A price in USD per million tokens ('0.15', '$2.50', 0.15) in micro-USD; ValueError if invalid:
    negative, above MAX_PRICE_USD, or finer than a millionth of a dollar."""
    amount = parse_dollars(value, PRICE_HINT)
    if amount < 0:
        raise ValueError("must not be negative")
    if amount > MAX_PRICE_USD:
        raise ValueError(f"at most {MAX_PRICE_USD} USD per million tokens")
    micros = amount * TOKENS_PER_PRICE
    if micros != micros.to_integral_value():
        raise ValueError("at most 6 decimal places")
    return int(micros)


def max_output_tokens(value: object) -> int | None:
    """A model's longest answer: a positive whole number of tokens, or None (empty)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip().replace("_", "").replace(",", "")
    if isinstance(value, bool) or not text.isdigit() or int(text) <= 0:
        raise ValueError("a positive whole number of tokens, such as 16384, or empty")
    if int(text) > MAX_OUTPUT_LIMIT:
        raise ValueError(f"at most {MAX_OUTPUT_LIMIT:,} tokens")
    return int(text)


def format_price(micros: int) -> str:
    """'$0.15', '$2.50', '$0.075': a price per million tokens, as exact as it is stored."""
    value = Decimal(micros) / TOKENS_PER_PRICE
    text = f"{value:.6f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"${int(whole):,}.{fraction.ljust(2, '0')}"


def price_input(micros: int | None) -> str:
    """A price as a form field's value: '0.15', '2.50', '' for not priced."""
    return "" if micros is None else format_price(micros).lstrip("$").replace(",", "")


def describe(prices: Prices) -> str:
    """'$0.15 / $0.60 per 1M tokens' (input / output), or 'not priced'."""
    if prices.input_micros is None or prices.output_micros is None:
        return "not priced"
    return f"{format_price(prices.input_micros)} / {format_price(prices.output_micros)} per 1M tokens"
