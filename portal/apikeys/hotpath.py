"""The resolve hot path, served from memory.

Per process it keeps: issued keys by their hash, each tenant's status, wrapped data key, custom
providers, enabled models and *sealed* credentials, the built-in catalogue, and spend counters per
key lineage and period. A request costs an HMAC, dictionary look-ups, unwrapping the tenant's data
key and opening the credential's fields with AES-GCM: no database round trip once warm, and no
plaintext secret kept between requests.

Changes reach the cache three ways (see portal.apikeys.changes):
- this process's own commits, at once (a session listener);
- other workers' and the command line's commits through Redis pub/sub, within milliseconds,
  where REDIS_URL is set;
- a poll of the audit and usage tables (every 0.5 s without Redis, every 5 s with it as a
  backstop), which also covers workers without Redis and messages lost while Redis was away.
Loads racing an invalidation are not stored (epochs and versions), so a stale row never sticks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from portal.apikeys import changes as change_feed
from portal.apikeys.changes import Change
from portal.apikeys.periods import Clock, period_bounds
from portal.apikeys.refusals import Refusal
from portal.catalog.sources import CredentialSource, base_url_for, shared_values
from portal.catalog.spec import ProviderSpec, builtin_specs, custom_provider_spec
from portal.config import Settings
from portal.credentials.services import TABLE as CREDENTIALS_TABLE
from portal.crypto.issued_keys import key_digest, looks_like_issued_key
from portal.crypto.sealing import Undecryptable
from portal.crypto.vault import TenantOpener, Vault
from portal.db.base import utcnow
from portal.db.models import ApiKey, AuditEvent, Credential, Provider, Tenant, TenantModel, UsageEvent

log = logging.getLogger("portal.hotpath")
T = TypeVar("T")

FAST_POLL_S = 0.5  # without Redis: changes from other processes show within this
BACKSTOP_POLL_S = 5.0  # with Redis: only a backstop
NEGATIVE_TTL_S = 1.0  # unknown key hashes are remembered this long (a flood of bad keys stays cheap)
MAX_KEYS = 200_000
MAX_TENANTS = 50_000
MAX_NEGATIVE = 20_000
USAGE_LOOKBACK = 256  # PostgreSQL may commit usage rows out of id order: look back this far


@dataclass(frozen=True, slots=True)
class KeyEntry:
    id: uuid.UUID
    tenant_id: uuid.UUID
    lineage_id: uuid.UUID
    name: str
    prefix: str
    last_four: str
    scopes: frozenset[str]
    allowed_models: frozenset[str]
    limit_micros: int | None
    reset_period: str
    expires_at: datetime | None
    grace_ends_at: datetime | None
    revoked_at: datetime | None
    disabled: bool
    public: dict[str, str]  # what the resolve answer says of the key, made once

    @property
    def label(self) -> str:
        return f"api-key:{self.prefix}…{self.last_four}"

    def refusal(self, now: datetime) -> Refusal | None:
        """Why this key may not be used now (tenant status aside), or None."""
        if self.revoked_at is not None:
            return Refusal("key_revoked")
        if self.grace_ends_at is not None and self.grace_ends_at <= now:
            return Refusal("key_grace_ended")
        if self.expires_at is not None and self.expires_at <= now:
            return Refusal("key_expired")
        if self.disabled:
            return Refusal("key_disabled")
        return None


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    id: uuid.UUID
    name: str
    spec: ProviderSpec
    base_url: str | None
    models: dict[str, uuid.UUID]  # model name -> id


@dataclass(frozen=True, slots=True)
class CredentialEntry:
    id: uuid.UUID
    sealed_fields: dict[str, str]  # sealed: opened per request, never kept open
    config: dict[str, str]


@dataclass(frozen=True, slots=True)
class TenantEntry:
    id: uuid.UUID
    slug: str
    status: str
    opener: TenantOpener  # the data key, unwrapped once; secrets stay sealed
    custom_providers: dict[str, ProviderEntry]
    enabled_models: frozenset[uuid.UUID]
    credentials: dict[uuid.UUID, CredentialEntry]  # provider id -> credential
    public: dict[str, str]  # what the resolve answer says of the tenant, made once


@dataclass(slots=True)
class SpendEntry:
    period: str
    start: datetime
    end: datetime | None
    micros: int


@dataclass(frozen=True, slots=True)
class Spend:
    micros: int
    limit_micros: int | None
    period_start: datetime
    period_end: datetime | None

    @property
    def exhausted(self) -> bool:
        return self.limit_micros is not None and self.micros >= self.limit_micros


@dataclass(frozen=True, slots=True)
class Caller:
    key: KeyEntry
    tenant: TenantEntry


@dataclass
class Stats:
    key_hits: int = 0
    key_loads: int = 0
    tenant_loads: int = 0
    spend_loads: int = 0
    invalidations: int = 0
    redis_messages: int = 0
    polls: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class HotPath:
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
        self.vault = vault
        self.engine = engine
        self.sessions = sessions
        self.clock = clock
        self.redis_url = settings.redis_url
        self.poll_interval = BACKSTOP_POLL_S if settings.redis_url else FAST_POLL_S
        self.polling = True
        self.stats = Stats()
        self.subscribed = asyncio.Event()
        self.channel = change_feed.channel_for(settings)
        self.origin = os.urandom(8).hex()
        self._secret = settings.api_key_secret
        self._keys: dict[str, KeyEntry] = {}
        self._key_hashes: dict[uuid.UUID, str] = {}
        self._negative: dict[str, float] = {}
        self._tenants: dict[uuid.UUID, TenantEntry] = {}
        self._catalog: dict[str, ProviderEntry] | None = None
        self._spend: dict[uuid.UUID, SpendEntry] = {}
        self._inflight: dict[tuple[str, Any], asyncio.Future[Any]] = {}
        self._all_epoch = 0
        self._key_epoch = 0
        self._catalog_epoch = 0
        self._versions: dict[tuple[str, Any], int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._outbox: asyncio.Queue[list[Change]] | None = None
        self._redis: Any = None
        self._audit_seen = 0
        self._usage_max = 0
        self._usage_recent: set[int] = set()
        change_feed.register(engine, self)  # this process's own commits, from the start

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Poll (and subscribe to Redis) for other processes' changes; this one's arrive regardless."""
        async with self.engine.connect() as conn:
            self._audit_seen = (await conn.scalar(select(func.max(AuditEvent.id)))) or 0
            self._usage_max = (await conn.scalar(select(func.max(UsageEvent.id)))) or 0
            self._usage_recent = set(
                (
                    await conn.scalars(
                        select(UsageEvent.id).where(UsageEvent.id > self._usage_max - USAGE_LOOKBACK)
                    )
                ).all()
            )
        self._tasks.append(asyncio.create_task(self._poll_loop(), name="hotpath-poll"))
        if self.redis_url:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(self.redis_url)
            self._outbox = asyncio.Queue()
            self._tasks.append(asyncio.create_task(self._subscribe_loop(), name="hotpath-subscribe"))
            self._tasks.append(asyncio.create_task(self._publish_loop(), name="hotpath-publish"))

    async def stop(self) -> None:
        if self._outbox is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._outbox.join(), 2)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    # ------------------------------------------------------------------ invalidation

    def on_commit(self, changes: list[Change]) -> None:
        """Called by the session listener after this process commits."""
        self.apply(changes)
        if self._outbox is not None:
            self._outbox.put_nowait(changes)

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
                    self._spend.pop(lineage, None)
                    self._bump(("spend", lineage))
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
        self._spend.clear()
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
            return await asyncio.shield(pending)  # type: ignore[no-any-return]
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

    # ------------------------------------------------------------------ look-ups

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
        if row is None:
            return None
        return KeyEntry(
            id=row.id,
            tenant_id=row.tenant_id,
            lineage_id=row.lineage_id,
            name=row.name,
            prefix=row.prefix,
            last_four=row.last_four,
            scopes=frozenset(row.scopes),
            allowed_models=frozenset(row.allowed_models),
            limit_micros=row.limit_micros,
            reset_period=row.reset_period,
            expires_at=row.expires_at,
            grace_ends_at=row.grace_ends_at,
            revoked_at=row.revoked_at,
            disabled=row.disabled,
            public={"id": str(row.id), "name": row.name},
        )

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
            providers = {p.name: _provider_entry(p) for p in custom}
        return TenantEntry(
            id=tenant.id,
            slug=tenant.slug,
            status=tenant.status,
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
            return {p.name: _provider_entry(p) for p in rows}

    async def spend(self, key: KeyEntry) -> Spend:
        now = self.clock()
        entry = self._spend.get(key.lineage_id)
        if (
            entry is not None
            and entry.period == key.reset_period
            and entry.start <= now
            and (entry.end is None or now < entry.end)
        ):
            return Spend(entry.micros, key.limit_micros, entry.start, entry.end)
        start, end = period_bounds(key.reset_period, now)
        entry = await self._once(
            ("spend", key.lineage_id),
            lambda: self._load_spend(key.lineage_id, key.reset_period, start, end),
            lambda e: self._store_spend(key.lineage_id, e),
        )
        if (entry.period, entry.start) != (key.reset_period, start):  # a concurrent load for another period
            entry = await self._load_spend(key.lineage_id, key.reset_period, start, end)
        return Spend(entry.micros, key.limit_micros, start, end)

    def _store_spend(self, lineage: uuid.UUID, entry: SpendEntry) -> None:
        if len(self._spend) >= MAX_KEYS:
            self._spend.clear()
        self._spend[lineage] = entry

    async def _load_spend(
        self, lineage: uuid.UUID, period: str, start: datetime, end: datetime | None
    ) -> SpendEntry:
        self.stats.spend_loads += 1
        query = select(func.coalesce(func.sum(UsageEvent.cost_micros), 0)).where(
            UsageEvent.lineage_id == lineage, UsageEvent.occurred_at >= start
        )
        if end is not None:
            query = query.where(UsageEvent.occurred_at < end)
        async with self.sessions() as db:
            total = await db.scalar(query)
        return SpendEntry(period, start, end, int(total or 0))

    # ------------------------------------------------------------------ the use cases

    def check(self, caller: Caller) -> None:
        """Refuse a key that may not be used now: revoked, past grace, expired, disabled, suspended."""
        refusal = caller.key.refusal(self.clock())
        if refusal is not None:
            raise refusal
        if caller.tenant.status != "active":
            raise Refusal("tenant_suspended")

    async def find_model(self, caller: Caller, provider_name: str, model_name: str) -> ProviderEntry:
        """The provider, if the model exists for the tenant, is allowed by the key and enabled."""
        tenant = caller.tenant
        provider = tenant.custom_providers.get(provider_name) or (await self.catalog()).get(provider_name)
        model_id = provider.models.get(model_name) if provider is not None else None
        if provider is None or model_id is None:
            raise Refusal(
                "unknown_model", f"no model {model_name!r} of provider {provider_name!r} for this tenant"
            )
        if caller.key.allowed_models and model_name not in caller.key.allowed_models:
            raise Refusal("model_not_allowed", f"this API key may not use {model_name!r}")
        if model_id not in tenant.enabled_models:
            raise Refusal("model_not_enabled", f"the tenant has not enabled {provider_name}/{model_name}")
        return provider

    async def resolve(self, caller: Caller, provider_name: str, model_name: str) -> dict[str, Any]:
        """The effective credential for a provider and model. The one place a secret leaves the portal."""
        provider = await self.find_model(caller, provider_name, model_name)
        spend = await self.spend(caller.key) if caller.key.limit_micros is not None else None
        if spend is not None and spend.exhausted:
            headers = {}
            if spend.period_end is not None:
                wait = max(1, int((spend.period_end - self.clock()).total_seconds()))
                headers["Retry-After"] = str(wait)
            raise Refusal(
                "limit_reached",
                f"spent {spend.micros / 1e6:.2f} of {spend.limit_micros / 1e6:.2f} USD"  # type: ignore[operator]
                + (f"; resets at {spend.period_end.isoformat()}" if spend.period_end else ""),
                headers,
            )
        tenant = caller.tenant
        spec = provider.spec
        credential = tenant.credentials.get(provider.id)
        if credential is not None:
            try:
                secrets = tenant.opener.open_fields(
                    table=CREDENTIALS_TABLE,
                    row_id=credential.id,
                    sealed=credential.sealed_fields,
                )
            except Undecryptable as exc:
                raise Refusal(
                    "credential_undecryptable", f"the stored credential cannot be opened: {exc}"
                ) from None
            config = dict(credential.config)
            source = CredentialSource.TENANT
        else:
            shared = shared_values(self.settings, spec)
            if shared is None:
                detail = f"tenant has no credential for {provider.name}" + (
                    " (tenant credentials are enforced: shared keys never apply)"
                    if self.settings.strict_credentials
                    else " and no shared one is configured"
                )
                raise Refusal("no_credential", detail)
            secret_names = {f.name for f in spec.secret_fields}
            secrets = {k: v for k, v in shared.items() if k in secret_names}
            config = {k: v for k, v in shared.items() if k not in secret_names}
            source = CredentialSource.SHARED
        answer: dict[str, Any] = {
            "provider": provider.name,
            "model": model_name,
            "source": source.value,
            "secrets": secrets,
            "config": config,
            "base_url": config.get("endpoint")
            or base_url_for(spec, self.settings.environ, provider.base_url),
            "tenant": tenant.public,
            "key": caller.key.public,
        }
        if spend is not None:
            answer["spend"] = {
                "spent_usd": spend.micros / 1e6,
                "limit_usd": caller.key.limit_micros / 1e6,  # type: ignore[operator]
                "period_end": spend.period_end.isoformat() if spend.period_end else None,
            }
        return answer

    # ------------------------------------------------------------------ propagation

    async def _poll_loop(self) -> None:
        while True:
            subscribed = self._redis is None or self.subscribed.is_set()
            await asyncio.sleep(self.poll_interval if subscribed else FAST_POLL_S)
            if not self.polling:
                continue
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database hiccup must not stop the loop
                log.warning("hot path poll failed: %s", type(exc).__name__)

    async def poll_once(self) -> None:
        """Apply changes committed by other processes, read from the audit and usage tables."""
        self.stats.polls += 1
        found: list[Change] = []
        async with self.engine.connect() as conn:
            audit_rows = (
                await conn.execute(
                    select(AuditEvent.id, AuditEvent.action, AuditEvent.tenant_id, AuditEvent.target)
                    .where(AuditEvent.id > self._audit_seen)
                    .order_by(AuditEvent.id)
                    .limit(5000)
                )
            ).all()
            floor = self._usage_max - USAGE_LOOKBACK
            usage_rows = (
                await conn.execute(
                    select(UsageEvent.id, UsageEvent.lineage_id)
                    .where(UsageEvent.id > floor)
                    .order_by(UsageEvent.id)
                    .limit(20_000)
                )
            ).all()
        for row in audit_rows:
            found.extend(change_feed.changes_from_audit(row.action, row.tenant_id, row.target))
            self._audit_seen = max(self._audit_seen, row.id)
        if len(audit_rows) == 5000:
            found.append(("all", "*"))
        for row in usage_rows:
            if row.id not in self._usage_recent:
                self._usage_recent.add(row.id)
                found.append(("spend", str(row.lineage_id)))
                self._usage_max = max(self._usage_max, row.id)
        if len(usage_rows) == 20_000:
            self._spend.clear()
            self._versions.clear()
            self._all_epoch += 1
        floor = self._usage_max - USAGE_LOOKBACK
        self._usage_recent = {i for i in self._usage_recent if i > floor}
        if found:
            self.apply(list(dict.fromkeys(found)))

    async def _publish_loop(self) -> None:
        assert self._outbox is not None
        while True:
            batch = await self._outbox.get()
            try:
                payload = json.dumps({"origin": self.origin, "changes": batch})
                await self._redis.publish(self.channel, payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the poll backstop still carries it
                log.warning("hot path: publishing to Redis failed: %s", type(exc).__name__)
            finally:
                self._outbox.task_done()

    async def _subscribe_loop(self) -> None:
        delay = 0.2
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    if delay > 0.2:  # reconnected: messages may have been missed
                        self.forget_all()
                    self.subscribed.set()
                    delay = 0.2
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        self._receive(message.get("data"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed.clear()
                log.warning("hot path: Redis subscription lost (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _receive(self, data: Any) -> None:
        try:
            message = json.loads(data)
            if message.get("origin") == self.origin:
                return
            changes = [(str(kind), str(ref)) for kind, ref in message.get("changes", [])]
        except (ValueError, TypeError, AttributeError):
            log.warning("hot path: ignored a malformed Redis message")
            return
        self.stats.redis_messages += 1
        self.apply(changes)


def _provider_entry(provider: Provider) -> ProviderEntry:
    spec = (
        builtin_specs()[provider.name]
        if provider.tenant_id is None and provider.name in builtin_specs()
        else custom_provider_spec(provider.name, provider.display_name, provider.base_url)
    )
    return ProviderEntry(
        id=provider.id,
        name=provider.name,
        spec=spec,
        base_url=provider.base_url,
        models={m.name: m.id for m in provider.models},
    )
