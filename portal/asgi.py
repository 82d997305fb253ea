"""create_app(): the one place the app is assembled."""

from __future__ import annotations

import gc
import logging
import os

from litestar import Litestar, get
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.plugins.flash import FlashConfig, FlashPlugin
from litestar.plugins.htmx import HTMXPlugin
from litestar.static_files import create_static_files_router

from portal import __version__
from portal.apikeys.api import ApiKeysApi
from portal.apikeys.bulk_pages import ApiKeyBulkPages
from portal.apikeys.hotpath import HotPath
from portal.apikeys.pages import ApiKeyPages
from portal.apikeys.refusals import Refusal
from portal.apikeys.service_api import ServiceApi
from portal.audit import anonymous
from portal.audit.actor import Actor
from portal.audit.api import AdminAuditApi, TenantAuditApi
from portal.audit.pages import AdminAuditPages, TenantAuditPages
from portal.budgets.factory import ledger_for
from portal.catalog.api import CatalogApi, ProvidersApi
from portal.catalog.pages import CatalogPages, ProviderPages
from portal.catalog.services import sync_builtin_catalog
from portal.config import REPO_ROOT, Settings, load_settings
from portal.credentials.api import LlmKeysApi, SysadminCredentialsApi
from portal.credentials.pages import CredentialPages
from portal.crypto.vault import Vault
from portal.db.engine import create_engine, create_session_factory
from portal.db.session import unit_of_work
from portal.gateway.api import GatewayApi
from portal.gateway.assembly import build_gateway, gateway_client
from portal.identity.federation.api import FederationApi
from portal.identity.federation.pages import FederationPages
from portal.identity.federation.tenant_import import import_tenant_configs
from portal.identity.invitation_pages import InvitationPages
from portal.identity.oidc.pages import SsoPages
from portal.identity.pages import SignInPages
from portal.identity.second_factor_pages import SecondFactorPages
from portal.identity.services import record_throttled_account
from portal.impersonation.api import ImpersonationApi
from portal.impersonation.middleware import ImpersonationExpiryMiddleware
from portal.impersonation.pages import ImpersonationPages
from portal.members.api import AdminUsersApi, MembersApi
from portal.members.pages import AdminUserPages, MemberPages
from portal.net.egress import egress_client
from portal.tenants.api import TenantsApi
from portal.tenants.pages import AdminTenantPages, TenantPages, TenantSettingsPages
from portal.usage.pages import UsagePages
from portal.usage.recorder import UsageRecorder
from portal.usage.service_api import UsageServiceApi
from portal.web import log_redaction
from portal.web.auth import CSRF_COOKIE, CSRF_HEADER, PrincipalMiddleware
from portal.web.deps import ReleaseRequestSession, dependencies
from portal.web.errors import exception_handlers
from portal.web.guards import allow_anyone
from portal.web.headers import security_headers_hook
from portal.web.nul import RefuseNul
from portal.web.sessions import SESSION_STORE, cookie_name, session_config, session_store
from portal.web.state import PortalState
from portal.web.swagger import VendoredSwaggerUI
from portal.web.templating import template_config
from portal.web.throttle import WINDOW, Throttle, ThrottleStart, storage_for


@get("/health", guards=[allow_anyone], tags=["health"], sync_to_thread=False)
def health() -> dict[str, str]:
    """A trivial JSON endpoint: the process answers."""
    return {"status": "ok"}


async def freeze_startup_objects(app: Litestar) -> None:
    """Take what start-up built (modules, the app, SQLAlchemy's registries…) out of the cyclic
    garbage collector's sight: its full collections then scan only what requests create. Measured
    with wrk: p99 latency about ten times lower under load (tests/perf/bench_resolve.py)."""
    gc.freeze()


def create_app(
    settings: Settings | None = None, *, sessions_shared_between_processes: bool = False
) -> Litestar:
    settings = settings or load_settings()
    log_redaction.install()
    engine = create_engine(settings)
    db_sessions = create_session_factory(engine)
    portal_state = PortalState(
        settings=settings,
        vault=Vault.of_keys(settings.encryption_key, settings.encryption_key_previous),
        engine=engine,
        sessions=db_sessions,
        # Every call to a URL a tenant chose goes through this client, and so through the egress policy.
        http=egress_client(settings.outbound_allow, headers={"user-agent": f"llm-portal/{__version__}"}),
        usage_recorder=UsageRecorder(db_sessions),
    )

    async def on_account_throttled(start: ThrottleStart) -> None:
        async with portal_state.sessions() as db:
            await record_throttled_account(
                db,
                kind=start.kind,
                email=start.account,
                ip=start.client_ip,
                failures=start.failures,
                window_minutes=WINDOW // 60,
            )

    # Failed sign-ins and keys counted per address and account: in Redis when there is one.
    portal_state.throttle = Throttle(
        storage_for(settings.redis_url), on_account_throttled=on_account_throttled
    )
    # Issued keys, tenants, models and sealed credentials in memory for the resolve API.
    # The spend ledger every budget check reads and every spend goes to (portal.budgets).
    ledger = ledger_for(settings, engine, portal_state.sessions)
    hotpath = HotPath(settings, portal_state.vault, engine, portal_state.sessions, ledger=ledger)
    # The OpenAI-compatible gateway: its own pooled client (same egress policy) and usage writer.
    portal_state.gateway_http = gateway_client(settings)
    gateway = build_gateway(settings, hotpath, portal_state)
    sessions = session_config(settings)
    templates = template_config()

    async def on_startup(app: Litestar) -> None:
        async with unit_of_work(portal_state.sessions) as db:
            await sync_builtin_catalog(db)
        await ledger.start()
        await hotpath.start()
        await portal_state.usage_recorder.start()
        if settings.tenant_configs or settings.default_tenant_id:
            async with unit_of_work(portal_state.sessions) as db:
                actor = Actor.system("TENANT_CONFIGS")
                report = await import_tenant_configs(db, portal_state.vault, settings, actor)
            for line in report.lines():
                logging.getLogger("portal.tenants").info("TENANT_CONFIGS: %s", line)

    async def on_shutdown(app: Litestar) -> None:
        await portal_state.http.aclose()
        await gateway.stop()
        await portal_state.usage_recorder.stop()  # before the hot path, which passes its changes on
        await hotpath.stop()
        await ledger.stop()
        await portal_state.throttle.close()
        anonymous.flush()
        await engine.dispose()

    return Litestar(
        route_handlers=[
            health,
            create_static_files_router(
                path="/static",
                directories=[REPO_ROOT / "static"],
                guards=[allow_anyone],
                include_in_schema=False,
            ),
            TenantsApi,
            SysadminCredentialsApi,
            LlmKeysApi,
            ProvidersApi,
            CatalogApi,
            SignInPages,
            SecondFactorPages,
            SsoPages,
            FederationApi,
            FederationPages,
            AdminTenantPages,
            TenantPages,
            TenantSettingsPages,
            CredentialPages,
            ProviderPages,
            CatalogPages,
            ApiKeysApi,
            ServiceApi,
            UsageServiceApi,
            GatewayApi,
            ApiKeyPages,
            ApiKeyBulkPages,
            UsagePages,
            MembersApi,
            AdminUsersApi,
            ImpersonationApi,
            TenantAuditApi,
            AdminAuditApi,
            MemberPages,
            InvitationPages,
            AdminUserPages,
            ImpersonationPages,
            TenantAuditPages,
            AdminAuditPages,
        ],
        dependencies=dependencies,
        middleware=[
            RefuseNul(),
            sessions.middleware,
            PrincipalMiddleware(),
            ImpersonationExpiryMiddleware(),
            ReleaseRequestSession(),
        ],
        stores={
            SESSION_STORE: session_store(settings, shared_between_processes=sessions_shared_between_processes)
        },
        csrf_config=CSRFConfig(
            secret=settings.session_secret,
            cookie_name=cookie_name(CSRF_COOKIE, settings),
            cookie_path="/",
            header_name=CSRF_HEADER,
            cookie_secure=settings.https,
            cookie_httponly=True,
            # Regular expressions searched anywhere in the path: anchored, or a tenant slugged
            # "healthcare" or "api" would switch CSRF off for its pages. The JSON API checks the
            # header itself when a session calls it (portal.web.guards).
            exclude=["^/api/", "^/health$", "^/v1/"],
        ),
        template_config=templates,
        plugins=[HTMXPlugin(), FlashPlugin(FlashConfig(template_config=templates))],
        openapi_config=OpenAPIConfig(
            title="LLM credentials portal",
            version=__version__,
            path="/schema",
            render_plugins=[VendoredSwaggerUI()],
            description="Platform API: send the platform key in X-API-Key, or use a signed-in "
            "session with the x-csrftoken header for changes.",
        ),
        exception_handlers=exception_handlers,  # type: ignore[arg-type]
        before_send=[security_headers_hook(settings)],
        state=State(
            {"portal": portal_state, "session_config": sessions, "hotpath": hotpath, "gateway": gateway}
        ),
        on_startup=[on_startup, freeze_startup_objects],
        on_shutdown=[on_shutdown],
        logging_config=LoggingConfig(
            root={"level": "INFO", "handlers": ["queue_listener"]},
            loggers={"portal": {"level": "INFO"}},
            # Refusals and other 4xx are answers, not errors; portal.web.errors logs real failures.
            log_exceptions="never",
            disable_stack_trace={Refusal},
        ),
        debug=False,
    )


logging.getLogger("httpx").setLevel(logging.WARNING)


def app_factory() -> Litestar:
    """For uvicorn --factory (several workers): settings come from the environment."""
    return create_app(sessions_shared_between_processes=os.environ.get("PORTAL_SESSIONS_SHARED") == "1")
