"""The hot path's in-memory store: issued keys by their hash, tenants and the built-in catalogue,
loaded from the database on a miss and forgotten when a change says so (spend is the ledger's:
portal.budgets).

Loads racing an invalidation are not stored (epochs and versions), so a stale row never sticks;
one load per slot runs at a time and concurrent misses wait for it. How changes arrive is
portal.apikeys.propagation's business."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from portal.apikeys.changes import Change
from portal.apikeys.entries import (
    Caller,
    CredentialEntry,
    KeyEntry,
    ProviderEntry,
    Stats,
    TenantEntry,
)
from portal.crypto.issued_keys import key_digest, looks_like_issued_key
from portal.crypto.vault import Vault
from portal.db.models import ApiKey, Credential, Provider, Tenant, TenantModel

T = TypeVar("T")

NEGATIVE_TTL_S = 1.0  # unknown key hashes are remembered this long (a flood of bad keys stays cheap)
MAX_KEYS = 200_000
MAX_TENANTS = 50_000
MAX_NEGATIVE = 20_000


class KeyStore:
    def __init__(self, vault: Vault, sessions: async_sessionmaker[AsyncSession], secret: str) -> None:
        self.vault = vault
        self.sessions = sessions
        self.stats = Stats()
        self._secret = secret
        self._keys: dict[str, KeyEntry] = {}
        self._key_hashes: dict[uuid.UUID, str] = {}
        self._negative: dict[str, float] = {}
        self._tenants: dict[uuid.UUID, TenantEntry] = {}
        self._catalog: dict[str, ProviderEntry] | None = None
        # Spend is the ledger's (portal.budgets); new usage of a lineage is passed on to this.
        self.on_spend: Callable[[uuid.UUID], None] | None = None
        self._inflight: dict[tuple[str, Any], asyncio.Future[Any]] = {}
        self._all_epoch = 0
        self._key_epoch = 0
        self._catalog_epoch = 0
        self._versions: dict[tuple[str, Any], int] = {}

    # ------------------------------------------------------------------ invalidation

    def apply(self, changes: list[Change]) -> None:
        for kind, ref in changes:
            self.stats.invalidations += 1
            if kind == "key":
                self._key_epoch += 1
                self._negative.clear()
                with contextlib.suppress(ValueError):
                    digest = self._key_hashes.pop(uuid.UUID(ref), None)
                    if digest is not None:
                        self._keys.pop(digest, None)
            elif kind == "tenant":
                with contextlib.suppress(ValueError):
                    tenant_id = uuid.UUID(ref)
                    self._tenants.pop(tenant_id, None)
                    self._bump(("tenant", tenant_id))
            elif kind == "spend":
                with contextlib.suppress(ValueError):
                    lineage = uuid.UUID(ref)
                    if self.on_spend is not None:
                        self.on_spend(lineage)
            elif kind == "catalog":
                self._catalog_epoch += 1
                self._catalog = None
                self._tenants.clear()
            else:
                self.forget_all()

    def forget_all(self) -> None:
        self._all_epoch += 1
        self._keys.clear()
        self._key_hashes.clear()
        self._negative.clear()
        self._tenants.clear()
        self._catalog = None
        self._versions.clear()

    def _bump(self, slot: tuple[str, Any]) -> None:
        self._versions[slot] = self._versions.get(slot, 0) + 1
        if len(self._versions) > 4 * MAX_KEYS:
            self.forget_all()

    def _stamp(self, slot: tuple[str, Any]) -> tuple[int, int, int, int]:
        return (self._all_epoch, self._key_epoch, self._catalog_epoch, self._versions.get(slot, 0))

    async def _once(
        self, slot: tuple[str, Any], load: Callable[[], Awaitable[T]], store: Callable[[T], None]
    ) -> T:
        """One load per slot at a time; the result is kept only if nothing changed meanwhile."""
        pending = self._inflight.get(slot)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[slot] = future
        stamp = self._stamp(slot)
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters (if any) get it raised
            raise
        finally:
            self._inflight.pop(slot, None)
        if stamp == self._stamp(slot):
            store(value)
        future.set_result(value)
        return value

    # ------------------------------------------------------------------ keys

    async def authenticate(self, presented: str) -> Caller | None:
        """The key and its tenant, whatever their state; None when the key is not known."""
        if not looks_like_issued_key(presented):
            return None
        digest = key_digest(presented, self._secret)
        key = self._keys.get(digest)
        if key is None:
            negative_until = self._negative.get(digest)
            loop_time = asyncio.get_running_loop().time()
            if negative_until is not None and negative_until > loop_time:
                return None
            key = await self._once(
                ("key", digest), lambda: self._load_key(digest), lambda k: self._store_key(digest, k)
            )
            if key is None:
                if len(self._negative) >= MAX_NEGATIVE:
                    self._negative.clear()
                self._negative[digest] = loop_time + NEGATIVE_TTL_S
                return None
        else:
            self.stats.key_hits += 1
        tenant = self._tenants.get(key.tenant_id) or await self.tenant(key.tenant_id)
        return Caller(key, tenant) if tenant is not None else None

    def _store_key(self, digest: str, key: KeyEntry | None) -> None:
        if key is None:
            return
        if len(self._keys) >= MAX_KEYS:
            for old in list(self._keys)[: MAX_KEYS // 10]:
                entry = self._keys.pop(old)
                self._key_hashes.pop(entry.id, None)
        self._keys[digest] = key
        self._key_hashes[key.id] = digest

    async def _load_key(self, digest: str) -> KeyEntry | None:
        self.stats.key_loads += 1
        async with self.sessions() as db:
            row = await db.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
        return None if row is None else KeyEntry.of(row)

    # ------------------------------------------------------------------ tenants and the catalogue

    async def tenant(self, tenant_id: uuid.UUID) -> TenantEntry | None:
        entry = self._tenants.get(tenant_id)
        if entry is not None:
            return entry
        return await self._once(
            ("tenant", tenant_id),
            lambda: self._load_tenant(tenant_id),
            lambda t: self._store_tenant(tenant_id, t),
        )

    def _store_tenant(self, tenant_id: uuid.UUID, entry: TenantEntry | None) -> None:
        if entry is None:
            return
        if len(self._tenants) >= MAX_TENANTS:
            for old in list(self._tenants)[: MAX_TENANTS // 10]:
                self._tenants.pop(old, None)
        self._tenants[tenant_id] = entry

    async def _load_tenant(self, tenant_id: uuid.UUID) -> TenantEntry | None:
        self.stats.tenant_loads += 1
        async with self.sessions() as db:
            tenant = await db.scalar(select(Tenant).where(Tenant.id == tenant_id))
            if tenant is None:
                return None
            custom = await db.scalars(
                select(Provider).where(Provider.tenant_id == tenant_id).options(selectinload(Provider.models))
            )
            enabled = frozenset(
                await db.scalars(select(TenantModel.model_id).where(TenantModel.tenant_id == tenant_id))
            )
            credentials = (
                await db.execute(
                    select(
                        Credential.id, Credential.provider_id, Credential.sealed_fields, Credential.config
                    ).where(Credential.tenant_id == tenant_id)
                )
            ).all()
            providers = {p.name: ProviderEntry.of(p) for p in custom}
        return TenantEntry(
            id=tenant.id,
            slug=tenant.slug,
            status=tenant.status,
            monthly_limit_micros=tenant.monthly_limit_micros,
            opener=self.vault.opener(tenant.wrapped_data_key, tenant.id),
            custom_providers=providers,
            enabled_models=enabled,
            credentials={
                c.provider_id: CredentialEntry(c.id, dict(c.sealed_fields), dict(c.config))
                for c in credentials
            },
            public={"id": str(tenant.id), "slug": tenant.slug},
        )

    async def catalog(self) -> dict[str, ProviderEntry]:
        if self._catalog is not None:
            return self._catalog
        return await self._once(("catalog", None), self._load_catalog, self._store_catalog)

    def _store_catalog(self, catalog: dict[str, ProviderEntry]) -> None:
        self._catalog = catalog

    async def _load_catalog(self) -> dict[str, ProviderEntry]:
        async with self.sessions() as db:
            rows = await db.scalars(
                select(Provider).where(Provider.tenant_id.is_(None)).options(selectinload(Provider.models))
            )
            return {p.name: ProviderEntry.of(p) for p in rows}
