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

from portal.apikeys.entries import (
    Caller,
    CredentialEntry,
    KeyEntry,
    ModelEntry,
    OpenCredential,
    ProviderEntry,
    Spend,
    Stats,
    Target,
    TenantEntry,
)
from portal.apikeys.money import micros_to_usd
from portal.apikeys.periods import Clock
from portal.apikeys.propagation import Propagation
from portal.apikeys.refusals import Refusal
from portal.apikeys.rules import REFUSAL_CODES, key_state
from portal.apikeys.store import KeyStore
from portal.budgets.ledger import Budget, Ledger
from portal.budgets.memory import MemoryLedger
from portal.catalog.sources import base_url_for
from portal.config import Settings
from portal.credentials.effective import CredentialSource, Effective, effective_credential
from portal.credentials.services import TABLE as CREDENTIALS_TABLE
from portal.crypto.sealing import Undecryptable
from portal.crypto.vault import Vault
from portal.db.base import utcnow

__all__ = ["Caller", "HotPath", "OpenCredential", "Target"]


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
        ledger: Ledger | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.store = KeyStore(vault, sessions, settings.api_key_secret)
        # The one spend ledger of the app (portal.budgets.factory): the gateway reserves and settles
        # here, the usage reports record here, the resolve API and the spend answers read here.
        self.ledger: Ledger = ledger if ledger is not None else MemoryLedger(sessions)
        self.store.on_spend = getattr(self.ledger, "usage_seen", None)
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

    def budgets(self, caller: Caller) -> tuple[Budget, Budget]:
        """The key lineage's budget and its tenant's monthly one, in their periods now."""
        now = self.clock()
        key, tenant = caller.key, caller.tenant
        return (
            Budget.of_key(key.lineage_id, key.limit_micros, key.reset_period, now),
            Budget.of_tenant(tenant.id, tenant.monthly_limit_micros, now),
        )

    async def spend(self, key: KeyEntry) -> Spend:
        budget = Budget.of_key(key.lineage_id, key.limit_micros, key.reset_period, self.clock())
        return Spend(await self.ledger.spent(budget), key.limit_micros, budget.start, budget.end)

    async def tenant_spend(self, tenant: TenantEntry) -> Spend:
        budget = Budget.of_tenant(tenant.id, tenant.monthly_limit_micros, self.clock())
        return Spend(await self.ledger.spent(budget), tenant.monthly_limit_micros, budget.start, budget.end)

    def check(self, caller: Caller) -> None:
        """Refuse a key that may not be used now: revoked, past grace, expired, disabled, suspended."""
        code = REFUSAL_CODES.get(key_state(caller.key, self.clock()))
        if code is not None:
            raise Refusal(code)
        if caller.tenant.status != "active":
            raise Refusal("tenant_suspended")

    async def providers(self, caller: Caller) -> dict[str, ProviderEntry]:
        """Every provider the caller's tenant sees by name: its custom ones, then the catalogue's."""
        return {**(await self.store.catalog()), **caller.tenant.custom_providers}

    async def find_model(self, caller: Caller, provider_name: str, model_name: str) -> Target:
        """The provider and model, if the model exists for the tenant, is allowed by the key and enabled."""
        tenant = caller.tenant
        provider = tenant.custom_providers.get(provider_name) or (await self.store.catalog()).get(
            provider_name
        )
        model = provider.models.get(model_name) if provider is not None else None
        if provider is None or model is None:
            raise Refusal(
                "unknown_model", f"no model {model_name!r} of provider {provider_name!r} for this tenant"
            )
        if not self.allowed(caller, model):
            raise Refusal("model_not_allowed", f"this API key may not use {model_name!r}")
        if model.id not in tenant.enabled_models:
            raise Refusal("model_not_enabled", f"the tenant has not enabled {provider_name}/{model_name}")
        return Target(provider, model)

    @staticmethod
    def allowed(caller: Caller, model: ModelEntry) -> bool:
        """The key's allow-list (empty: every model) admits the model."""
        return not caller.key.allowed_models or model.name in caller.key.allowed_models

    def usable(self, caller: Caller, provider: ProviderEntry, model: ModelEntry) -> bool:
        """The key may call the model now: allowed, enabled by the tenant, and a credential applies."""
        return (
            self.allowed(caller, model)
            and model.id in caller.tenant.enabled_models
            and self._effective(caller, provider).source is not CredentialSource.NONE
        )

    def _effective(self, caller: Caller, provider: ProviderEntry) -> Effective[CredentialEntry]:
        return effective_credential(self.settings, provider.spec, caller.tenant.credentials.get(provider.id))

    def _refuse_at_limit(self, spend: Spend, whose: str = "") -> None:
        if not spend.exhausted or spend.limit_micros is None:
            return
        headers = {}
        if spend.period_end is not None:
            wait = max(1, int((spend.period_end - self.clock()).total_seconds()))
            headers["Retry-After"] = str(wait)
        raise Refusal(
            "limit_reached",
            f"{whose}spent {spend.micros / 1e6:.2f} of {spend.limit_micros / 1e6:.2f} USD"
            + (f"; resets at {spend.period_end.isoformat()}" if spend.period_end else ""),
            headers,
        )

    def credential(self, caller: Caller, provider: ProviderEntry) -> OpenCredential:
        """The effective credential, opened: the tenant's own, else the shared one where allowed.
        Resolve answers it; the gateway sends it upstream. Never kept beyond the request."""
        spec = provider.spec
        effective = self._effective(caller, provider)
        if effective.own is not None:
            try:
                secrets = caller.tenant.opener.open_fields(
                    table=CREDENTIALS_TABLE, row_id=effective.own.id, sealed=effective.own.sealed_fields
                )
            except Undecryptable as exc:
                raise Refusal(
                    "credential_undecryptable", f"the stored credential cannot be opened: {exc}"
                ) from None
            config = dict(effective.own.config)
        elif effective.shared is not None:
            secret_names = {f.name for f in spec.secret_fields}
            secrets = {k: v for k, v in effective.shared.items() if k in secret_names}
            config = {k: v for k, v in effective.shared.items() if k not in secret_names}
        else:
            detail = f"tenant has no credential for {provider.name}" + (
                " (tenant credentials are enforced: shared keys never apply)"
                if self.settings.strict_credentials
                else " and no shared one is configured"
            )
            raise Refusal("no_credential", detail)
        base_url = config.get("endpoint") or base_url_for(spec, self.settings.environ, provider.base_url)
        return OpenCredential(effective.source.value, secrets, config, base_url)

    async def resolve(self, caller: Caller, provider_name: str, model_name: str) -> dict[str, Any]:
        """The effective credential for a provider and model. The one place a secret leaves the portal."""
        provider = (await self.find_model(caller, provider_name, model_name)).provider
        spend = await self.spend(caller.key) if caller.key.limit_micros is not None else None
        if spend is not None:
            self._refuse_at_limit(spend)
        if caller.tenant.monthly_limit_micros is not None:
            self._refuse_at_limit(await self.tenant_spend(caller.tenant), "the tenant's monthly limit: ")
        credential = self.credential(caller, provider)
        answer: dict[str, Any] = {
            "provider": provider.name,
            "model": model_name,
            "source": credential.source,
            "secrets": credential.secrets,
            "config": credential.config,
            "base_url": credential.base_url,
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
