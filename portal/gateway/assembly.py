"""The gateway's parts put together for one app: its pooled HTTP client, the app's spend ledger,
usage recorder and the rate limiter."""

from __future__ import annotations

import httpx

from portal import __version__
from portal.apikeys.hotpath import HotPath
from portal.config import Settings
from portal.gateway.rate_limits import RateLimits
from portal.gateway.service import Gateway
from portal.net.egress import egress_client
from portal.web.state import PortalState

# Many concurrent calls, most to a few providers: a large pool, connections kept warm.
LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=500, keepalive_expiry=60)


def gateway_client(settings: Settings) -> httpx.AsyncClient:
    """The gateway's own client: pooled per upstream host, behind the egress policy."""
    return egress_client(
        settings.outbound_allow,
        limits=LIMITS,
        headers={"user-agent": f"llm-portal-gateway/{__version__}", "accept-encoding": "identity"},
    )


def build_gateway(settings: Settings, hotpath: HotPath, state: PortalState) -> Gateway:
    """The gateway on the app's ledger (held by the hot path) and usage recorder."""
    assert state.gateway_http is not None
    limits = RateLimits.from_settings(settings)
    return Gateway(settings, hotpath, state.gateway_http, hotpath.ledger, state.usage_recorder, limits)
