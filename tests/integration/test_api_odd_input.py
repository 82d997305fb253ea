"""Odd input the API fuzzer found: each is a 400 naming the field, never a 500 (PostgreSQL included)."""

from __future__ import annotations

import pytest

from tests.support.api import TENANTS, bearer, create_key, new_tenant, portal_url
from tests.support.apps import client_for

NUL = "\x00"


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", f"{TENANTS}?q=a%00", "q"),
        ("GET", f"{TENANTS}?status=a%00", "status"),
        ("GET", f"{TENANTS}/a%00b", "tenant_id"),
        ("GET", "/api/v1/admin/users?q=a%00", "q"),
        ("GET", "/api/v1/admin/users?tenant=a%00", "tenant"),
        ("GET", "/api/v1/admin/audit?tenant=a%00", "tenant"),
        ("GET", "{tenant}/api-keys?name=x%00", "name"),
        ("GET", "{tenant}/audit?actor=x%00", "actor"),
        ("GET", "{tenant}/providers/open%00ai/models", "provider_id"),
    ],
)
async def test_a_nul_in_the_path_or_query_is_400_naming_it(api, method, path, field):
    tenant = await new_tenant(api)
    response = await api.request(method, path.format(tenant=portal_url(tenant)))
    assert response.status_code == 400, response.text
    assert "NUL" in response.json()["errors"][field]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (TENANTS, {"name": f"a{NUL}b", "slug": "nul-tenant"}, "name"),
        ("{tenant}/api-keys", {"name": "k", "metadata": {"env": f"prod{NUL}"}}, "metadata.env"),
        ("{tenant}/api-keys", {"name": "k", "scopes": ["resolve", f"x{NUL}"]}, "scopes[1]"),
        ("{tenant}/invitations", {"email": f"a{NUL}@example.com", "role": "member"}, "email"),
        ("{tenant}/llm-keys", {"provider": f"openai{NUL}", "api_key": "sk-nul-test-0001"}, "provider"),
        ("{tenant}/llm-keys", {"provider": "openai", "api_key": "sk-nul-0001", "label": NUL}, "label"),
    ],
)
async def test_a_nul_in_a_body_is_400_naming_the_field(api, path, body, field):
    tenant = await new_tenant(api)
    response = await api.post(path.format(tenant=portal_url(tenant)), json=body)
    assert response.status_code == 400, response.text
    assert "NUL" in response.json()["errors"][field]


async def test_a_nul_in_a_usage_report_is_refused(api, app):
    tenant = await new_tenant(api)
    key = await create_key(api, tenant, scopes=["usage:write"])
    async with client_for(app) as client:
        response = await client.post(
            "/api/v1/usage",
            headers=bearer(key["key"]),
            json={"provider": f"openai{NUL}", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1},
        )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request"
    assert "provider" in response.json()["detail"]
