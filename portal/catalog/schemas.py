from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from portal.catalog.prices import describe, price_input
from portal.catalog.services import ModelView, ProviderView, prices_of
from portal.db.models import Model, Provider
from portal.inputs import Input


class FieldOut(msgspec.Struct):
    name: str
    label: str
    secret: bool
    required: bool


class ProviderOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    display_name: str
    base_url: str | None
    builtin: bool
    has_api_key: bool
    credential_source: str  # tenant | shared | none
    key_hint: str | None
    models_total: int
    models_enabled: int
    fields: list[FieldOut]

    @classmethod
    def of(cls, view: ProviderView, strict: bool) -> ProviderOut:
        provider = view.provider
        return cls(
            id=provider.id,
            name=provider.name,
            display_name=provider.display_name,
            base_url=provider.base_url,
            builtin=provider.is_builtin,
            has_api_key=view.has_api_key,
            credential_source=view.source.value,
            key_hint=view.credential.key_hint if view.credential else None,
            models_total=len(provider.models),
            models_enabled=view.enabled_models,
            fields=[FieldOut(f.name, f.label, f.secret, f.is_required(strict)) for f in view.spec.fields],
        )


class CustomProviderCreate(Input):
    name: str
    base_url: str
    display_name: str = ""
    api_key: str | None = None
    models: list[str] = msgspec.field(default_factory=list)


class ProviderUpdate(Input):
    api_key: str | None = None
    display_name: str | None = None
    base_url: str | None = None


PER_MILLION = "USD per million tokens; null: not priced"


class PricedModelOut(msgspec.Struct, kw_only=True):
    """A model and its prices (portal.catalog.prices): what the gateway charges for its tokens."""

    id: uuid.UUID
    provider_id: uuid.UUID
    name: str
    display_name: str
    input_usd_per_million: Annotated[float | None, msgspec.Meta(description=PER_MILLION)]
    output_usd_per_million: Annotated[float | None, msgspec.Meta(description=PER_MILLION)]
    max_output_tokens: Annotated[
        int | None, msgspec.Meta(description="The longest answer, reserved for a request without max_tokens")
    ]
    prices: Annotated[str, msgspec.Meta(description="e.g. '$0.15 / $0.60 per 1M tokens' or 'not priced'")]
    prices_edited_at: Annotated[
        datetime | None, msgspec.Meta(description="When an admin set them (the start-up sync keeps them)")
    ]

    @staticmethod
    def fields_of(m: Model) -> dict[str, Any]:
        prices = prices_of(m)
        return {
            "id": m.id,
            "provider_id": m.provider_id,
            "name": m.name,
            "display_name": m.display_name,
            "input_usd_per_million": None if prices.input_micros is None else prices.input_micros / 1e6,
            "output_usd_per_million": None if prices.output_micros is None else prices.output_micros / 1e6,
            "max_output_tokens": prices.max_output_tokens,
            "prices": describe(prices),
            "prices_edited_at": m.prices_edited_at,
        }

    @classmethod
    def of_model(cls, m: Model) -> PricedModelOut:
        return cls(**cls.fields_of(m))


class ModelOut(PricedModelOut, kw_only=True):
    enabled: bool

    @classmethod
    def of(cls, view: ModelView) -> ModelOut:
        return cls(**cls.fields_of(view.model), enabled=view.enabled)


class CatalogProviderOut(msgspec.Struct):
    """A provider of the built-in catalogue with its models and their prices."""

    id: uuid.UUID
    name: str
    display_name: str
    models: list[PricedModelOut]

    @classmethod
    def of(cls, provider: Provider) -> CatalogProviderOut:
        models = [PricedModelOut.of_model(m) for m in provider.models]
        return cls(provider.id, provider.name, provider.display_name, models)


class PricesIn(Input):
    """A model's prices: both in USD per million tokens (0 is a price), or both null for 'not priced'."""

    input_usd_per_million: float | str | None = None
    output_usd_per_million: float | str | None = None
    max_output_tokens: int | str | None = None

    def prices(self) -> dict[str, Any]:
        return _prices_args(self)


class ModelCreate(Input):
    name: str
    display_name: str = ""


class ModelEnablement(Input):
    enabled: bool


class CustomProviderForm(msgspec.Struct):
    """The new-provider form (HTML): models one per line or comma separated."""

    name: str = ""
    display_name: str = ""
    base_url: str = ""
    models: str = ""
    api_key: str = ""

    def model_names(self) -> list[str]:
        return [line.strip() for line in self.models.replace(",", "\n").splitlines() if line.strip()]


class ProviderForm(msgspec.Struct):
    display_name: str = ""
    base_url: str = ""


class ModelForm(msgspec.Struct):
    model_name: str = ""
    model_display_name: str = ""


class EnabledForm(msgspec.Struct):
    enabled: str = ""


class PricesForm(msgspec.Struct):
    input_usd_per_million: str = ""
    output_usd_per_million: str = ""
    max_output_tokens: str = ""

    def prices(self) -> dict[str, Any]:
        return _prices_args(self)

    @classmethod
    def of(cls, model: Model) -> PricesForm:
        prices = prices_of(model)
        return cls(
            price_input(prices.input_micros),
            price_input(prices.output_micros),
            str(prices.max_output_tokens or ""),
        )


def _prices_args(given: PricesIn | PricesForm) -> dict[str, Any]:
    """The fields of a prices body or form, as `pricing.set_model_prices` takes them."""
    return {
        "input_usd": given.input_usd_per_million,
        "output_usd": given.output_usd_per_million,
        "max_output": given.max_output_tokens,
    }
