"""The gateway's parts put together for one app: its pooled HTTP client, the app's spend ledger,
usage recorder and the rate limiter."""

from __future__ import annotations

import httpcore
import httpx

from portal import __version__
from portal.apikeys.hotpath import HotPath
from portal.config import Settings
from portal.gateway.rate_limits import RateLimits
from portal.gateway.service import Gateway
from portal.net.egress import EgressTransport, egress_client
from portal.web.state import PortalState

# Many concurrent calls, most to a few providers. httpcore looks through every pooled connection for
# each request, so idle ones kept beyond what a burst needs cost CPU on every call: keep 100 warm.
LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100, keepalive_expiry=60)


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
    pool = gateway_pool(state.gateway_http)
    return Gateway(settings, hotpath, pool, hotpath.ledger, state.usage_recorder, limits)


def gateway_pool(client: httpx.AsyncClient) -> httpcore.AsyncConnectionPool:
    """The egress transport's connection pool under the client: the gateway sends on it directly
    (portal.gateway.exchange), the client closes it at shutdown."""
    transport = client._transport  # httpx has no public accessor; the transport is ours
    assert isinstance(transport, EgressTransport)
    return transport.pool
