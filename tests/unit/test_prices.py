"""Model prices: what the shipped catalogue says, what people may type, and how prices read."""

from __future__ import annotations

import pytest

from portal.catalog.prices import Prices, describe, format_price, max_output_tokens, price_to_micros
from portal.catalog.pricing import check_prices
from portal.catalog.spec import CatalogError, ModelSpec, builtin_specs, model_from_yaml
from portal.errors import InvalidInput

# Routed per request to a model OpenRouter picks: no one price is honest.
UNPRICED_ON_PURPOSE = {("openrouter", "openrouter/auto")}


def test_every_builtin_model_is_priced_except_the_router():
    for spec in builtin_specs().values():
        for model in spec.models:
            if (spec.name, model.name) in UNPRICED_ON_PURPOSE:
                assert not model.prices.priced
                continue
            assert model.prices.priced, f"{spec.name}/{model.name} has no price"
            assert 0 < model.prices.input_micros <= 1000 * 1_000_000  # type: ignore[operator]


def test_shipped_prices_are_read_from_the_yaml():
    openai = {m.name: m.prices for m in builtin_specs()["openai"].models}
    assert openai["gpt-4o-mini"] == Prices(150_000, 600_000, 16384)
    embeddings = openai["text-embedding-3-small"]
    assert (embeddings.input_micros, embeddings.output_micros) == (20_000, 0)
    assert embeddings.max_output_tokens is None
    chat_models = [m for s in builtin_specs().values() for m in s.models if "embedding" not in m.name]
    assert all(m.prices.max_output_tokens for m in chat_models if m.prices.priced)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("gpt-x", ModelSpec("gpt-x")),
        ({"name": "m", "input": 0.15, "output": 0.6}, ModelSpec("m", Prices(150_000, 600_000))),
        (
            {"name": "m", "input": 1, "output": 2, "max_output": 8192},
            ModelSpec("m", Prices(1_000_000, 2_000_000, 8192)),
        ),
        ({"name": "m"}, ModelSpec("m")),
    ],
)
def test_yaml_model_entries(raw, expected):
    assert model_from_yaml("p", raw) == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"name": "m", "input": 1}, "p/m: give both input and output prices"),
        ({"name": "m", "input": -1, "output": 1}, "p/m: must not be negative"),
        ({"name": "m", "input": 1, "output": 1, "max_output": 0}, "p/m: a positive whole number"),
        ({"name": "m", "inptu": 1}, "p/m: unknown field 'inptu'"),
        ({"input": 1}, "p: a model is a name or a mapping with a name"),
        (42, "p: a model is a name"),
    ],
)
def test_yaml_model_entries_that_are_wrong_name_the_model_and_the_field(raw, problem):
    with pytest.raises(CatalogError) as info:
        model_from_yaml("p", raw)
    assert str(info.value).startswith(problem)


@pytest.mark.parametrize(
    ("typed", "micros"),
    [("0.15", 150_000), ("$2.50", 2_500_000), (0, 0), ("0", 0), (1000, 1_000_000_000), ("0.000001", 1)],
)
def test_prices_people_type(typed, micros):
    assert price_to_micros(typed) == micros


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("-0.01", "must not be negative"),
        ("1000.01", "at most 1000 USD per million tokens"),
        ("abc", "a dollar amount per million tokens"),
        ("0.0000001", "at most 6 decimal places"),
        ("NaN", "a dollar amount"),
        (True, "a dollar amount"),
    ],
)
def test_prices_refused(typed, problem):
    with pytest.raises(ValueError, match=problem):
        price_to_micros(typed)


@pytest.mark.parametrize(("typed", "tokens"), [("16384", 16384), (8192, 8192), ("", None), (None, None)])
def test_max_output(typed, tokens):
    assert max_output_tokens(typed) == tokens


@pytest.mark.parametrize("typed", ["0", "-5", "1.5", "lots", True, 10_000_001])
def test_max_output_refused(typed):
    with pytest.raises(ValueError):
        max_output_tokens(typed)


def test_how_prices_read():
    assert format_price(150_000) == "$0.15"
    assert format_price(75_000) == "$0.075"
    assert format_price(2_500_000) == "$2.50"
    assert format_price(1_000_000_000) == "$1,000.00"
    assert describe(Prices(150_000, 600_000)) == "$0.15 / $0.60 per 1M tokens"
    assert describe(Prices(None, None)) == "not priced"


def test_check_prices_names_every_field_at_once():
    with pytest.raises(InvalidInput) as info:
        check_prices("-1", "x", "0")
    assert set(info.value.errors) == {"input_usd_per_million", "output_usd_per_million", "max_output_tokens"}


def test_check_prices_wants_both_or_neither():
    with pytest.raises(InvalidInput) as info:
        check_prices("0.15", "", "")
    assert "give both prices" in info.value.errors["output_usd_per_million"]
    assert check_prices("", " ", "") == Prices(None, None, None)
    assert check_prices("0", "0", "100") == Prices(0, 0, 100)
