"""One upstream HTTP exchange on the gateway's connection pool, straight through httpcore.

httpx's request and response models (URL parsing and header merging on every request, auth and
redirect flows, event hooks, byte-stream wrappers) cost about as much CPU as everything else the
gateway does per request. The pool underneath is the same one (the egress policy sits in its
network backend, so every new connection is still checked), only the per-request wrapping is gone:
an upstream's URL is parsed once and its request line and headers are prepared as bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpcore
import httpx

# httpx's transport errors and httpcore's own, as they reach the gateway from the pool.
TIMEOUTS = (httpx.TimeoutException, httpcore.TimeoutException)
CONNECT_TIMEOUTS = (httpx.ConnectTimeout, httpx.PoolTimeout, httpcore.ConnectTimeout, httpcore.PoolTimeout)
TRANSPORT_ERRORS = (
    httpx.HTTPError,
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)
FIXED_HEADERS = ((b"accept", b"*/*"), (b"accept-encoding", b"identity"))  # user-agent: the Upstream's
MAX_PREPARED = 1024  # distinct upstream URLs whose parsed form is kept


class Answer:
    """The provider's response: status, headers, and its body (read whole, or streamed)."""

    __slots__ = ("_headers", "_raw", "status_code")

    def __init__(self, raw: httpcore.Response) -> None:
        self._raw = raw
        self.status_code = raw.status
        self._headers: dict[str, str] | None = None

    @property
    def headers(self) -> Mapping[str, str]:
        if self._headers is None:
            self._headers = {
                name.decode("latin-1").lower(): value.decode("latin-1") for name, value in self._raw.headers
            }
        return self._headers

    async def aread(self) -> bytes:
        return b"".join([chunk async for chunk in self._raw.aiter_stream()])

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        async for chunk in self._raw.aiter_stream():
            if chunk:
                yield chunk

    async def aclose(self) -> None:
        await self._raw.aclose()


class Prepared:
    """An upstream URL parsed once: httpcore's URL and the Host header."""

    __slots__ = ("_host_header", "url")

    def __init__(self, url: str, params: Mapping[str, str]) -> None:
        parsed = httpx.URL(url, params=dict(params)) if params else httpx.URL(url)
        default_port = {"http": 80, "https": 443}.get(parsed.scheme)
        authority = parsed.netloc if parsed.port not in (None, default_port) else parsed.raw_host
        self.url = httpcore.URL(
            scheme=parsed.raw_scheme,
            host=parsed.raw_host,
            port=parsed.port,
            target=parsed.raw_path,
        )
        self._host_header = (b"host", authority)

    def headers(self, extra: Mapping[str, str], length: int) -> list[tuple[bytes, bytes]]:
        return [
            self._host_header,
            *FIXED_HEADERS,
            *((name.encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()),
            (b"content-length", str(length).encode()),
        ]


class Exchanger:
    """Sends a POST on the pool; the answer with its body still to read (or stream)."""

    def __init__(self, pool: httpcore.AsyncConnectionPool, timeout: httpx.Timeout) -> None:
        self.pool = pool
        self.extensions: dict[str, Any] = {"timeout": timeout.as_dict()}
        self._prepared: dict[tuple[str, tuple[tuple[str, str], ...]], Prepared] = {}

    def prepared(self, url: str, params: Mapping[str, str]) -> Prepared:
        key = (url, tuple(params.items()))
        found = self._prepared.get(key)
        if found is None:
            if len(self._prepared) >= MAX_PREPARED:
                self._prepared.clear()
            found = self._prepared[key] = Prepared(url, params)
        return found

    async def post(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> Answer:
        prepared = self.prepared(url, params)
        request = httpcore.Request(
            b"POST",
            prepared.url,
            headers=prepared.headers(headers, len(body)),
            content=body,
            extensions=self.extensions,
        )
        return Answer(await self.pool.handle_async_request(request))
