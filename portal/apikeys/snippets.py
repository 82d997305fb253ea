"""What the page that shows a new key once offers beside it: a ready `curl` command and OpenAI Python
SDK code that call the gateway with that key, for a model the key may use.

The model is chosen by the gateway's rule (HotPath.usable: allowed by the key, enabled by the tenant,
a credential applies, by portal.credentials.effective), so the example works as shown."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.catalog.services import providers_for_tenant
from portal.config import Settings
from portal.db.models import ApiKey, Tenant, TenantModel
from portal.db.models.apikeys import Scope

PLACEHOLDER_MODEL = "PROVIDER/MODEL"
PROMPT = [{"role": "user", "content": "Say hello in five words."}]


@dataclass(frozen=True)
class Snippets:
    base_url: str
    model: str  # provider/model, or PLACEHOLDER_MODEL when the key may use none yet
    curl: str
    python: str

    @property
    def has_model(self) -> bool:
        return self.model != PLACEHOLDER_MODEL


async def example_model(db: AsyncSession, settings: Settings, tenant: Tenant, key: ApiKey) -> str | None:
    """`provider/model` of a chat model this key may call now (an embeddings model if that is all):
    the gateway's rule (HotPath.usable) read in the request's own transaction, which has just
    written the key (on SQLite another session would wait for that transaction's lock)."""
    enabled = set(await db.scalars(select(TenantModel.model_id).where(TenantModel.tenant_id == tenant.id)))
    usable = [
        f"{view.provider.name}/{model.name}"
        for view in await providers_for_tenant(db, settings, tenant)
        if view.has_api_key
        for model in view.provider.models
        if model.id in enabled and (not key.allowed_models or model.name in key.allowed_models)
    ]
    usable.sort(key=lambda name: ("embed" in name, name))
    return usable[0] if usable else None


def gateway_snippets(public_url: str, secret: str, model: str | None) -> Snippets:
    base = f"{public_url.rstrip('/')}/v1"
    model = model or PLACEHOLDER_MODEL
    body = json.dumps({"model": model, "messages": PROMPT})
    curl = (
        f"curl {base}/chat/completions \\\n"
        f'  -H "Authorization: Bearer {secret}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d '{body}'"
    )
    python = (
        "from openai import OpenAI\n\n"
        f'client = OpenAI(\n    base_url="{base}",\n    api_key="{secret}",\n)\n'
        "reply = client.chat.completions.create(\n"
        f'    model="{model}",\n'
        f"    messages={json.dumps(PROMPT)},\n"
        ")\n"
        "print(reply.choices[0].message.content)"
    )
    return Snippets(base, model, curl, python)


async def snippets_for(
    db: AsyncSession, settings: Settings, tenant: Tenant, key: ApiKey, secret: str
) -> Snippets | None:
    """The snippets for a key with the inference scope; None for a key that cannot call the gateway."""
    if Scope.INFERENCE.value not in key.scopes:
        return None
    return gateway_snippets(settings.public_url, secret, await example_model(db, settings, tenant, key))
