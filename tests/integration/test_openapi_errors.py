"""The OpenAPI document names every JSON operation's refusals, with the body they carry."""

from __future__ import annotations

METHODS = {"get", "post", "put", "patch", "delete"}


async def test_every_api_operation_documents_its_refusals(api):
    document = (await api.get("/schema/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert set(schemas["ErrorBody"]["required"]) == {"status_code", "detail"}
    assert set(schemas["RefusalBody"]["required"]) == {"status_code", "code", "detail"}
    missing = []
    for path, operations in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        body = "RefusalBody" if path in ("/api/v1/resolve", "/api/v1/usage") else "ErrorBody"
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            for status in ("401", "403"):
                answer = operation["responses"].get(status)
                ref = answer and answer["content"]["application/json"]["schema"].get("$ref", "")
                if not ref or not ref.endswith(f"/{body}"):
                    missing.append(f"{method.upper()} {path} {status}")
    assert not missing, missing


async def test_a_tenant_operation_documents_404_and_a_change_409(api):
    document = (await api.get("/schema/openapi.json")).json()
    responses = document["paths"]["/api/portal/tenants/{tenant_id}/api-keys/{key_id}"]["patch"]["responses"]
    assert {"400", "401", "403", "404", "409"} <= set(responses)
    assert "errors" in document["components"]["schemas"]["ErrorBody"]["properties"]
