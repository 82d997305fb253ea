"""Pure rules: what a model's tokens cost. Prices are millionths of a US dollar per million tokens
(USD 0.15 per million input tokens is 150_000), so every sum is exact on every backend."""

from __future__ import annotations

from dataclasses import dataclass

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
