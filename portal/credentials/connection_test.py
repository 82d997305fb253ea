"""Test a provider credential with its cheapest authenticated call: listing models."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from portal.audit import services as audit
from portal.catalog.sources import base_url_for
from portal.catalog.spec import ProviderSpec, spec_for
from portal.credentials.effective import CredentialSource, effective_credential
from portal.credentials.services import CredentialWork, existing_credential, open_credential
from portal.crypto.sealing import Undecryptable
from portal.db.base import utcnow
from portal.db.models import Provider
from portal.net.egress import EgressRefused


@dataclass(frozen=True)
class TestResult:
    ok: bool
    reason: str | None
    source: CredentialSource

    def as_json(self) -> dict[str, object]:
        return {"ok": True} if self.ok else {"ok": False, "reason": self.reason}


def build_request(
    spec: ProviderSpec, values: dict[str, str], base_url: str | None
) -> tuple[str, dict[str, str], dict[str, str]]:
    """URL, headers and query of the test call; the secret goes only into a header."""
    root = values.get("endpoint") if spec.test.base == "endpoint" else base_url
    if not root:
        raise ValueError("no endpoint or base URL is configured")
    url = root.rstrip("/") + spec.test.path
    headers = dict(spec.test.headers)
    api_key = values.get("api_key")
    if api_key:
        auth_header = {
            "bearer": ("Authorization", f"Bearer {api_key}"),
            "x-api-key": ("x-api-key", api_key),
            "api-key": ("api-key", api_key),
            "x-goog-api-key": ("x-goog-api-key", api_key),
        }[spec.test.auth]
        headers[auth_header[0]] = auth_header[1]
    query = {k: v.format(**values) for k, v in spec.test.query.items()}
    return url, headers, query


def _describe_status(status: int) -> str:
    if status in (401, 403):
        return f"the provider refused the key (HTTP {status}): check the API key"
    if status == 404:
        return "the provider answered 404: check the endpoint, base URL or API version"
    if status == 429:
        return "the provider is rate limiting this key (HTTP 429); the key itself was accepted"
    return f"the provider answered HTTP {status}"


async def call_provider(
    http: httpx.AsyncClient,
    spec: ProviderSpec,
    values: dict[str, str],
    base_url: str | None,
    timeout: float,  # noqa: ASYNC109 (a per-call HTTP timeout, not a task deadline)
) -> str | None:
    """None when the provider accepted the credential, else why not (never the secret)."""
    try:
        url, headers, query = build_request(spec, values, base_url)
    except (ValueError, KeyError) as exc:
        return f"cannot build the request: {exc}"
    try:
        response = await http.get(url, headers=headers, params=query, timeout=timeout, follow_redirects=False)
    except httpx.TimeoutException:
        return f"timed out after {timeout:g} s"
    except EgressRefused as exc:
        return str(exc)
    except httpx.HTTPError as exc:
        return f"unreachable: {type(exc).__name__} connecting to {httpx.URL(url).host}"
    if 200 <= response.status_code < 300:
        return None
    return _describe_status(response.status_code)


async def test_credential(work: CredentialWork, http: httpx.AsyncClient, provider: Provider) -> TestResult:
    """Call the provider with the credential that applies (the tenant's own, else the shared one);
    the outcome is kept on the tenant's credential and audited."""
    db, vault, settings, actor, tenant = work.db, work.vault, work.settings, work.actor, work.tenant
    spec = spec_for(provider)
    effective = effective_credential(settings, spec, await existing_credential(db, tenant, provider))
    base_url = base_url_for(spec, settings.environ, provider.base_url)
    source = effective.source
    reason: str | None
    if (credential := effective.own) is not None:
        try:
            values = {**credential.config, **open_credential(vault, tenant, credential)}
        except Undecryptable as exc:
            values, reason = {}, f"undecryptable: {exc}"
        else:
            reason = await call_provider(http, spec, values, base_url, settings.provider_test_timeout)
        credential.last_test_at = utcnow()
        credential.last_test_ok = reason is None
        credential.last_test_reason = reason
    elif effective.shared is not None:
        reason = await call_provider(http, spec, effective.shared, base_url, settings.provider_test_timeout)
    else:
        reason = "no credential: this tenant has none for this provider" + (
            "" if settings.strict_credentials else " and no shared one is configured"
        )
    await audit.record(
        db,
        actor,
        "credential.tested",
        tenant_id=tenant.id,
        target=f"credential:{provider.name}",
        outcome="success" if reason is None else "failure",
        details={"source": source.value, "reason": reason},
    )
    return TestResult(ok=reason is None, reason=reason, source=source)
