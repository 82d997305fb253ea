from __future__ import annotations

import uuid

import msgspec

from portal.catalog.services import ModelView, ProviderView
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


class ModelOut(msgspec.Struct):
    id: uuid.UUID
    provider_id: uuid.UUID
    name: str
    display_name: str
    enabled: bool

    @classmethod
    def of(cls, view: ModelView) -> ModelOut:
        m = view.model
        return cls(m.id, m.provider_id, m.name, m.display_name, view.enabled)


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
