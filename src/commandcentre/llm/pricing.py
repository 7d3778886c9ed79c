"""What a model call costs, for the usage ledger and the daily cost budget.

Prices are USD per million tokens, input and output separately. Model names match exactly or
by prefix, so dated snapshots (``gpt-4o-mini-2024-07-18``, ``claude-sonnet-4-5-20250929``) are
priced like their family; the longest matching prefix wins, so ``gpt-4o-mini`` is never billed
as ``gpt-4o``.

A model missing from the table (a local model behind Ollama, vLLM or llama.cpp, or a provider
model nobody has priced yet) costs 0.0: local models really are free per token, and for an
unpriced hosted model the call and token budgets still apply.
"""

from __future__ import annotations

from dataclasses import dataclass

_PER_MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    input_per_million: float
    output_per_million: float


# List prices as published by the providers (checked October 2025); update when they change.
# Standard (non-batch, non-cached-input) rates; Anthropic's long-context surcharge above 200k
# input tokens is not modelled because drafts are far below it.
PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(input_per_million=0.15, output_per_million=0.60),
    "gpt-4o": Price(input_per_million=2.50, output_per_million=10.00),
    "claude-sonnet-4-5": Price(input_per_million=3.00, output_per_million=15.00),
    "claude-haiku-4-5": Price(input_per_million=1.00, output_per_million=5.00),
}


def price_of(model: str) -> Price | None:
    """The price for ``model`` (exact name or longest known prefix); ``None`` if unknown."""
    name = model.strip().lower()
    if name in PRICES:
        return PRICES[name]
    matches = [known for known in PRICES if name.startswith(known + "-")]
    if not matches:
        return None
    return PRICES[max(matches, key=len)]


def cost_usd(model: str, tokens_in: int, tokens_out: int) -> float:
    """USD for one call; 0.0 for models without a listed price (see the module docstring)."""
    price = price_of(model)
    if price is None:
        return 0.0
    return (
        max(tokens_in, 0) * price.input_per_million + max(tokens_out, 0) * price.output_per_million
    ) / _PER_MILLION
