"""A small price table to estimate what a model call cost, in USD per million tokens."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Price:
    prompt_per_million: float
    completion_per_million: float


# Published list prices (USD per 1M tokens, input / output). Longest matching prefix wins, so
# dated snapshots such as "gpt-4o-mini-2024-07-18" find their family.
PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4-turbo": Price(10.00, 30.00),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "o4-mini": Price(1.10, 4.40),
    "o3-mini": Price(1.10, 4.40),
    "o3": Price(2.00, 8.00),
}
# An unknown model (a self-hosted or third-party one) is costed like gpt-4o: rather an
# overestimate that someone questions than a zero that hides spending.
DEFAULT_PRICE = Price(2.50, 10.00)


def price_for(model: str) -> Price:
    """The price of MODEL; provider prefixes ("openai/gpt-4o") are ignored."""
    name = model.lower().rsplit("/", 1)[-1]
    best = max((prefix for prefix in PRICES if name.startswith(prefix)), key=len, default=None)
    return PRICES[best] if best is not None else DEFAULT_PRICE


def estimate_cost(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """Estimated USD for one call, rounded to a millionth of a dollar."""
    price = price_for(model)
    cost = (
        prompt_tokens * price.prompt_per_million + completion_tokens * price.completion_per_million
    ) / 1_000_000
    return round(cost, 6)
