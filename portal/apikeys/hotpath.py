"""The resolve use case, served from memory: who calls (an issued key and its tenant), whether the
key may be used now, which model and provider, its spend against its limit, and the effective
credential, opened for this one answer.

A request costs an HMAC, dictionary look-ups, unwrapping the tenant's data key and opening the
credential's fields with AES-GCM: no database round trip once warm, and no plaintext secret kept
between requests. What is kept: portal.apikeys.store; how changes reach it:
portal.apikeys.propagation."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from portal.apikeys.entries import Caller, KeyEntry, ProviderEntry, Spend, Stats
from portal.apikeys.money import micros_to_usd
from portal.apikeys.periods import Clock
from portal.apikeys.propagation import Propagation
from portal.apikeys.refusals import Refusal
from portal.apikeys.rules import REFUSAL_CODES, key_state
from portal.apikeys.store import KeyStore
from portal.catalog.sources import base_url_for
from portal.config import Settings
from portal.credentials.effective import effective_credential
from portal.credentials.services import TABLE as CREDENTIALS_TABLE
from portal.crypto.sealing import Undecryptable
from portal.crypto.vault import Vault
from portal.db.base import utcnow

__all__ = ["Caller", "HotPath"]


class HotPath:
    """The app's one instance (app.state.hotpath): the store, its propagation and the use cases."""

    def __init__(
        self,
        settings: Settings,
        vault: Vault,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.store = KeyStore(vault, sessions, settings.api_key_secret)
        self.propagation = Propagation(self.store, settings, engine)
        self.authenticate = self.store.authenticate  # bound once: the middleware calls it per request

    @property
    def stats(self) -> Stats:
        return self.store.stats

    @property
    def polling(self) -> bool:
        return self.propagation.polling

    @polling.setter
    def polling(self, value: bool) -> None:
        self.propagation.polling = value

    @property
    def subscribed(self) -> asyncio.Event:
        return self.propagation.subscribed

    async def start(self) -> None:
        await self.propagation.start()

    async def stop(self) -> None:
        await self.propagation.stop()

    async def forget_all(self) -> None:
        """Forget every cached entry and read the change feed on from its current end: for a
        database replaced under the running app (restored from a backup; the tests' clean slate)."""
        self.store.forget_all()
        await self.propagation.skip_to_end()

    async def spend(self, key: KeyEntry) -> Spend:
        return await self.store.spend(key, self.clock())

    def check(self, caller: Caller) -> None:
        """Refuse a key that may not be used now: revoked, past grace, expired, disabled, suspended."""
        code = REFUSAL_CODES.get(key_state(caller.key, self.clock()))
        if code is not None:
            raise Refusal(code)
        if caller.tenant.status != "active":
            raise Refusal("tenant_suspended")

    async def find_model(self, caller: Caller, provider_name: str, model_name: str) -> ProviderEntry:
        """The provider, if the model exists for the tenant, is allowed by the key and enabled."""
        tenant = caller.tenant
        provider = tenant.custom_providers.get(provider_name) or (await self.store.catalog()).get(
            provider_name
        )
        model = provider.models.get(model_name) if provider is not None else None
        if provider is None or model is None:
            raise Refusal(
                "unknown_model", f"no model {model_name!r} of provider {provider_name!r} for this tenant"
            )
        if caller.key.allowed_models and model_name not in caller.key.allowed_models:
            raise Refusal("model_not_allowed", f"this API key may not use {model_name!r}")
        if model.id not in tenant.enabled_models:
            raise Refusal("model_not_enabled", f"the tenant has not enabled {provider_name}/{model_name}")
        return provider

    def _refuse_at_limit(self, spend: Spend) -> None:
        if not spend.exhausted or spend.limit_micros is None:
            return
        headers = {}
        if spend.period_end is not None:
            wait = max(1, int((spend.period_end - self.clock()).total_seconds()))
            headers["Retry-After"] = str(wait)
        raise Refusal(
            "limit_reached",
            f"spent {spend.micros / 1e6:.2f} of {spend.limit_micros / 1e6:.2f} USD"
            + (f"; resets at {spend.period_end.isoformat()}" if spend.period_end else ""),
            headers,
        )

    def _credential(
        self, caller: Caller, provider: ProviderEntry
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        """The source, the secret fields and the config of the effective credential."""
        tenant = caller.tenant
        spec = provider.spec
        effective = effective_credential(self.settings, spec, tenant.credentials.get(provider.id))
        if effective.own is not None:
            try:
                secrets = tenant.opener.open_fields(
                    table=CREDENTIALS_TABLE, row_id=effective.own.id, sealed=effective.own.sealed_fields
                )
            except Undecryptable as exc:
                raise Refusal(
                    "credential_undecryptable", f"the stored credential cannot be opened: {exc}"
                ) from None
            return effective.source.value, secrets, dict(effective.own.config)
        if effective.shared is None:
            detail = f"tenant has no credential for {provider.name}" + (
                " (tenant credentials are enforced: shared keys never apply)"
                if self.settings.strict_credentials
                else " and no shared one is configured"
            )
            raise Refusal("no_credential", detail)
        secret_names = {f.name for f in spec.secret_fields}
        secrets = {k: v for k, v in effective.shared.items() if k in secret_names}
        config = {k: v for k, v in effective.shared.items() if k not in secret_names}
        return effective.source.value, secrets, config

    async def resolve(self, caller: Caller, provider_name: str, model_name: str) -> dict[str, Any]:
        """The effective credential for a provider and model. The one place a secret leaves the portal."""
        provider = await self.find_model(caller, provider_name, model_name)
        spend = await self.spend(caller.key) if caller.key.limit_micros is not None else None
        if spend is not None:
            self._refuse_at_limit(spend)
        source, secrets, config = self._credential(caller, provider)
        answer: dict[str, Any] = {
            "provider": provider.name,
            "model": model_name,
            "source": source,
            "secrets": secrets,
            "config": config,
            "base_url": config.get("endpoint")
            or base_url_for(provider.spec, self.settings.environ, provider.base_url),
            "tenant": caller.tenant.public,
            "key": caller.key.public,
        }
        if spend is not None:
            answer["spend"] = {
                "spent_usd": micros_to_usd(spend.micros),
                "limit_usd": micros_to_usd(spend.limit_micros),
                "period_end": spend.period_end.isoformat() if spend.period_end else None,
            }
        return answer
