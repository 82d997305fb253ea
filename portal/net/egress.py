"""The egress policy: every outbound call to a URL a tenant chose goes through it.

Tenant admins choose URLs the portal then calls (a credential's endpoint, a custom provider's base
URL, an OIDC issuer and every URL its discovery document names). Unchecked, that is server-side
request forgery: cloud metadata, loopback and the private network would answer, with the tenant's
secret attached. So each new connection resolves its host once, refuses it unless every address is
public or allowed by OUTBOUND_ALLOW, and then connects to an address it checked: there is no second
lookup that a rebinding DNS server could answer differently. The policy sits in the connection pool's
network backend, so it holds for every request and every redirect hop, while TLS still verifies the
certificate for the host name and connections stay pooled per host name (a pooled connection was
checked when it was opened).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import time
import typing

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

FIX = "if the portal should reach it, add it to OUTBOUND_ALLOW"
EXAMPLES = "CIDRs (10.0.0.0/8, 127.0.0.1, ::1) or exact host names (vllm.internal), separated by commas"

_RULES: tuple[tuple[str, tuple[IPNetwork, ...]], ...] = tuple(
    (rule, tuple(ipaddress.ip_network(n) for n in networks))
    for rule, networks in (
        ("unspecified address", ("0.0.0.0/8", "::/128")),
        ("loopback address", ("127.0.0.0/8", "::1/128")),
        ("link-local address", ("169.254.0.0/16", "fe80::/10")),
        ("private address", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fec0::/10")),
        ("shared address (carrier-grade NAT)", ("100.64.0.0/10",)),
        ("multicast address", ("224.0.0.0/4", "ff00::/8")),
        ("documentation address", ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")),
        ("reserved address", ("192.0.0.0/24", "198.18.0.0/15", "240.0.0.0/4", "100::/64")),
    )
)
# IPv6 forms that carry an IPv4 address the packets end up at (besides ::ffff:0:0/96 and 2002::/16).
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")  # "_": container service names


class EgressRefused(httpx.TransportError):
    """The policy refused a connection. An httpx.TransportError, so `except httpx.HTTPError` sees it;
    the message names the host, the address and the rule, and nothing that was fetched."""

    def __init__(self, host: str, address: str, rule: str) -> None:
        where = host if host == address else f"{host} ({address})"
        super().__init__(f"refused to connect to {where}: a {rule}, which the egress policy blocks; {FIX}")
        self.host, self.address, self.rule = host, address, rule


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, compatible, translated, NAT64, 6to4), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_TRANSLATED or ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return low32
    return None


def refusal_rule(ip: IPAddress) -> str | None:
    """Which rule refuses this address (None: a public address)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            rule = refusal_rule(inner)
            return f"{rule} in IPv6 form" if rule else None
    for rule, networks in _RULES:
        if any(ip.version == net.version and ip in net for net in networks):
            return rule
    return None if ip.is_global else "reserved address"


class OutboundAllow:
    """What OUTBOUND_ALLOW lets through: address ranges, and host names whatever they resolve to.

    A plain class, not a dataclass: Litestar's signature model (msgspec) inspects a dataclass's
    field types when Settings is injected, and cannot handle a union of two network types.
    """

    __slots__ = ("hosts", "networks")

    def __init__(self, networks: typing.Iterable[IPNetwork] = (), hosts: typing.Iterable[str] = ()) -> None:
        self.networks = tuple(networks)
        self.hosts = frozenset(hosts)

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, ip: IPAddress) -> bool:
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and (inner := embedded_ipv4(ip)) is not None:
            candidates.append(inner)
        # ipaddress's `in` compares integers only: the version check keeps ::7f00:1 out of 127.0.0.1/32.
        return any(c.version == net.version and c in net for c in candidates for net in self.networks)

    def __str__(self) -> str:
        return ",".join([*(str(n) for n in self.networks), *sorted(self.hosts)])


def _is_host_name(entry: str) -> bool:
    labels = entry.lower().rstrip(".").split(".")
    return (
        len(entry) <= 253 and all(_HOST_LABEL.match(label) for label in labels) and not labels[-1].isdigit()
    )


def parse_outbound_allow(raw: str | None) -> tuple[OutboundAllow, list[str]]:
    """OUTBOUND_ALLOW parsed, and one problem line per entry that is neither a CIDR nor a host name."""
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    problems: list[str] = []
    for entry in (part.strip() for part in (raw or "").split(",")):
        if not entry:
            continue
        if _is_host_name(entry):
            hosts.add(entry.lower().rstrip("."))
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=True))
        except ValueError as exc:
            hint = f" ({exc})" if "/" in entry else ""
            problems.append(f"OUTBOUND_ALLOW: {entry!r} is not allowed{hint}; list {EXAMPLES}")
    return OutboundAllow(tuple(networks), frozenset(hosts)), problems


def check(allow: OutboundAllow, host: str, addresses: typing.Sequence[str]) -> None:
    """Raise EgressRefused unless the host is allowed by name, or each of its addresses is
    public or allowed (one refused address refuses the host: the connection could go to any)."""
    if allow.allows_host(host):
        return
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if allow.allows_address(ip):
            continue
        if rule := refusal_rule(ip):
            raise EgressRefused(host, address, rule)


async def resolve(host: str, port: int) -> list[str]:
    """The host's addresses, in the resolver's order, without blocking the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def _addresses(host: str, port: int, timeout: float | None) -> list[str]:  # noqa: ASYNC109
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    else:
        return [host]
    try:
        async with asyncio.timeout(timeout):
            addresses = await resolve(host, port)
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"resolving {host} took longer than {timeout:g} s") from None
    except OSError:
        raise httpcore.ConnectError(f"cannot resolve the host name {host}") from None
    if not addresses:
        raise httpcore.ConnectError(f"the host name {host} has no address")
    return addresses


class EgressBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the policy in front: resolve, check, connect to a checked address."""

    def __init__(self, allow: OutboundAllow, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.allow = allow
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        deadline = None if timeout is None else time.monotonic() + timeout
        addresses = await _addresses(host, port, timeout)
        check(self.allow, host, addresses)
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                return await self.inner.connect_tcp(address, port, left, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("outbound calls do not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


DEFAULT_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)


class EgressTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (one pool, keep-alive) whose every new connection passes the policy.

    Never from the environment's proxy settings: a proxy would resolve and connect for us, unchecked.
    """

    def __init__(
        self,
        allow: OutboundAllow,
        *,
        limits: httpx.Limits = DEFAULT_LIMITS,
        verify: ssl.SSLContext | bool = True,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx builds its pool in __init__ with no way to pass a network backend: build it again.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),  # honours SSL_CERT_FILE / SSL_CERT_DIR
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend or EgressBackend(allow),
        )

    @property
    def pool(self) -> httpcore.AsyncConnectionPool:
        return self._pool


def egress_client(
    allow: OutboundAllow, *, limits: httpx.Limits = DEFAULT_LIMITS, **kwargs: typing.Any
) -> httpx.AsyncClient:
    """The client for every call to a URL a tenant chose. trust_env=False: httpx would otherwise
    mount proxy transports from HTTP(S)_PROXY beside ours, and those bypass the policy."""
    return httpx.AsyncClient(transport=EgressTransport(allow, limits=limits), trust_env=False, **kwargs)
