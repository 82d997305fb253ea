"""A tenant's providers and models: sources of credentials, custom providers, model enablement."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from portal.catalog.spec import builtin_specs
from tests.support.api import azure_fields, credentials_url, new_tenant, portal_url
from tests.support.rows import credential_rows

KEY = "sk-valid-provider-key-0001"


@pytest.fixture
async def tenant(api):
    return await new_tenant(api, name="Providers")


def providers_url(tenant, rest=""):
    return portal_url(tenant, f"/providers{rest}")


async def providers_by_name(api, tenant):
    response = await api.get(providers_url(tenant))
    assert response.status_code == 200, response.text
    return {p["name"]: p for p in response.json()}


async def custom(api, tenant, name="my-gw", **extra):
    body = {"name": name, "base_url": "https://gw.example.com/v1", **extra}
    response = await api.post(providers_url(tenant), json=body)
    assert response.status_code == 201, response.text
    return response.json()


# --- listing and sources ----------------------------------------------------------------------


async def test_listing_shows_every_builtin_with_its_source(api, tenant):
    providers = await providers_by_name(api, tenant)
    assert set(builtin_specs()) <= set(providers)
    for provider in providers.values():
        assert provider["credential_source"] in {"tenant", "shared", "none"}
        assert provider["has_api_key"] is (provider["credential_source"] != "none")
        assert provider["builtin"] is True
        assert uuid.UUID(provider["id"])
    # The test settings set ANTHROPIC_API_KEY only.
    assert providers["anthropic"]["credential_source"] == "shared"
    assert providers["anthropic"]["has_api_key"] is True
    assert providers["anthropic"]["key_hint"] is None  # a shared key is never hinted at
    assert providers["openai"]["credential_source"] == "none"
    assert providers["openai"]["has_api_key"] is False
    assert providers["azure"]["credential_source"] == "none"


async def test_a_stored_key_makes_the_source_tenant(api, tenant):
    await api.put(credentials_url(tenant, "openai"), json={"api_key": KEY})
    await api.put(credentials_url(tenant, "anthropic"), json={"api_key": KEY})
    providers = await providers_by_name(api, tenant)
    for name in ("openai", "anthropic"):
        assert providers[name]["credential_source"] == "tenant"
        assert providers[name]["has_api_key"] is True
        assert providers[name]["key_hint"] == "..." + KEY[-4:]
    # Deleting the tenant's own key falls back to the shared one, or to none.
    await api.delete(credentials_url(tenant, "anthropic"))
    await api.delete(credentials_url(tenant, "openai"))
    providers = await providers_by_name(api, tenant)
    assert providers["anthropic"]["credential_source"] == "shared"
    assert providers["openai"]["credential_source"] == "none"


async def test_with_keys_lists_only_providers_that_have_one(api, tenant):
    response = await api.get(providers_url(tenant, "/with-keys"))
    assert response.status_code == 200
    assert {p["name"] for p in response.json()} == {"anthropic"}
    await api.put(credentials_url(tenant, "mistral"), json={"api_key": KEY})
    await custom(api, tenant, "keyed-gw", api_key=KEY)
    await custom(api, tenant, "keyless-gw")
    names = {p["name"] for p in (await api.get(providers_url(tenant, "/with-keys"))).json()}
    assert names == {"anthropic", "mistral", "keyed-gw"}
    assert all(p["has_api_key"] for p in (await api.get(providers_url(tenant, "/with-keys"))).json())


async def test_a_new_tenant_starts_with_every_builtin_model_enabled(api, tenant):
    providers = await providers_by_name(api, tenant)
    for name, spec in builtin_specs().items():
        if name not in providers:  # removed from the catalogue by an admin
            continue
        provider = providers[name]
        assert provider["models_enabled"] == provider["models_total"], name
        models = (await api.get(providers_url(tenant, f"/{provider['id']}/models"))).json()
        assert set(spec.model_names) <= {m["name"] for m in models}
        assert all(m["enabled"] for m in models), name


# --- custom providers -------------------------------------------------------------------------


async def test_create_custom_provider(api, tenant):
    created = await custom(
        api,
        tenant,
        "my-gw",
        display_name="My gateway",
        base_url="https://gw.example.com/v1/",
        models=["llama-3.1-70b", "mixtral-8x7b", "llama-3.1-70b"],
    )
    assert created["name"] == "my-gw"
    assert created["display_name"] == "My gateway"
    assert created["base_url"] == "https://gw.example.com/v1"
    assert created["builtin"] is False
    assert created["credential_source"] == "none"
    assert created["models_total"] == created["models_enabled"] == 2
    models = (await api.get(providers_url(tenant, f"/{created['id']}/models"))).json()
    assert sorted(m["name"] for m in models) == ["llama-3.1-70b", "mixtral-8x7b"]
    assert all(m["enabled"] for m in models)
    assert (await providers_by_name(api, tenant))["my-gw"]["id"] == created["id"]


async def test_create_custom_provider_with_a_key(api, tenant, app):
    created = await custom(api, tenant, "keyed", api_key=KEY)
    assert created["credential_source"] == "tenant"
    assert created["has_api_key"] is True
    assert created["key_hint"] == "..." + KEY[-4:]
    assert [c["provider"] for c in (await api.get(credentials_url(tenant))).json()["credentials"]] == [
        "keyed"
    ]
    assert len(await credential_rows(app, tenant["id"])) == 1


async def test_display_name_defaults_to_the_name(api, tenant):
    assert (await custom(api, tenant, "plain-gw"))["display_name"] == "plain-gw"


@pytest.mark.parametrize("name", ["openai", "anthropic", "azure", "vllm"])
async def test_a_builtin_name_is_taken(api, tenant, name):
    response = await api.post(providers_url(tenant), json={"name": name, "base_url": "https://x.example.com"})
    assert response.status_code == 409, response.text


async def test_a_custom_name_is_taken_within_the_tenant_only(api, tenant):
    await custom(api, tenant, "dup-gw")
    again = await api.post(
        providers_url(tenant), json={"name": "dup-gw", "base_url": "https://y.example.com"}
    )
    assert again.status_code == 409
    upper = await api.post(
        providers_url(tenant), json={"name": "DUP-GW", "base_url": "https://y.example.com"}
    )
    assert upper.status_code == 409
    other = await new_tenant(api)
    assert (await custom(api, other, "dup-gw"))["name"] == "dup-gw"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "bad-url", "base_url": "not a url"}, "base_url"),
        ({"name": "bad-url", "base_url": "ftp://gw.example.com"}, "base_url"),
        ({"name": "bad-url", "base_url": "https://"}, "base_url"),
        ({"name": "bad-url", "base_url": "https://u:p@gw.example.com"}, "base_url"),
        ({"name": "bad-url", "base_url": ""}, "base_url"),
        ({"name": "Bad Name", "base_url": "https://gw.example.com"}, "name"),
        ({"name": "x", "base_url": "https://gw.example.com"}, "name"),
        ({"name": "ok-name", "base_url": "https://gw.example.com", "models": ["bad model"]}, "models"),
        ({"name": "ok-name", "base_url": "https://gw.example.com", "api_key": "short"}, "api_key"),
    ],
)
async def test_bad_custom_provider_is_400_naming_the_field(api, app, tenant, body, field):
    response = await api.post(providers_url(tenant), json=body)
    assert response.status_code == 400, response.text
    assert set(response.json()["errors"]) == {field}
    names = {p["name"] for p in (await api.get(providers_url(tenant))).json()}
    assert body["name"].lower() not in names
    assert await credential_rows(app, tenant["id"]) == []


async def test_update_custom_provider(api, tenant):
    created = await custom(api, tenant, "upd-gw")
    response = await api.put(
        providers_url(tenant, f"/{created['id']}"),
        json={"display_name": "Renamed", "base_url": "https://new.example.com/v2"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["display_name"] == "Renamed"
    assert response.json()["base_url"] == "https://new.example.com/v2"
    bad = await api.put(providers_url(tenant, f"/{created['id']}"), json={"base_url": "gopher://x"})
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"base_url"}
    blank = await api.put(providers_url(tenant, f"/{created['id']}"), json={"display_name": " "})
    assert blank.status_code == 400
    assert set(blank.json()["errors"]) == {"display_name"}
    assert (await providers_by_name(api, tenant))["upd-gw"]["base_url"] == "https://new.example.com/v2"


async def test_update_custom_provider_key(api, tenant):
    created = await custom(api, tenant, "key-gw")
    response = await api.put(providers_url(tenant, f"/{created['id']}"), json={"api_key": KEY})
    assert response.status_code == 200, response.text
    assert response.json()["credential_source"] == "tenant"
    assert response.json()["key_hint"] == "..." + KEY[-4:]
    assert KEY not in response.text


async def test_update_builtin_api_key(api, tenant):
    openai = (await providers_by_name(api, tenant))["openai"]
    response = await api.put(providers_url(tenant, f"/{openai['id']}"), json={"api_key": KEY})
    assert response.status_code == 200, response.text
    assert response.json()["credential_source"] == "tenant"
    # By name works too.
    by_name = await api.put(providers_url(tenant, "/openai"), json={"api_key": "sk-second-key-ZZZZ"})
    assert by_name.status_code == 200
    assert by_name.json()["key_hint"] == "...ZZZZ"


@pytest.mark.parametrize("body", [{"display_name": "Mine"}, {"base_url": "https://evil.example.com/v1"}])
async def test_renaming_or_moving_a_builtin_is_400(api, tenant, body):
    response = await api.put(providers_url(tenant, "/openai"), json=body)
    assert response.status_code == 400, response.text
    assert "provider" in response.json()["errors"]
    openai = (await providers_by_name(api, tenant))["openai"]
    assert openai["display_name"] == "OpenAI"
    assert openai["base_url"] == "https://api.openai.com/v1"


async def test_a_new_azure_key_keeps_its_endpoint_config(api, tenant):
    fields = azure_fields("https://contoso.openai.azure.com", KEY)
    assert (await api.put(credentials_url(tenant, "azure"), json=fields)).status_code == 200
    response = await api.put(providers_url(tenant, "/azure"), json={"api_key": "azure-rotated-key-QQQQ"})
    assert response.status_code == 200, response.text
    assert response.json()["key_hint"] == "...QQQQ"
    (record,) = (await api.get(credentials_url(tenant))).json()["credentials"]
    assert record["config"] == {k: v for k, v in fields.items() if k != "api_key"}
    assert record["masked_key"] == "...QQQQ"
    assert record["encryption_status"] == "encrypted"


async def test_an_azure_key_without_endpoint_config_is_400(api, tenant):
    response = await api.put(providers_url(tenant, "/azure"), json={"api_key": KEY})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"endpoint", "api_version", "deployment_name"}
    assert (await api.get(credentials_url(tenant))).json()["credentials"] == []


async def test_unknown_field_on_update_is_400(api, tenant):
    response = await api.put(providers_url(tenant, "/openai"), json={"models": []})
    assert response.status_code == 400
    assert "models" in response.json()["errors"]


async def test_delete_custom_provider(api, tenant, app):
    created = await custom(api, tenant, "del-gw", api_key=KEY, models=["m1"])
    response = await api.delete(providers_url(tenant, f"/{created['id']}"))
    assert response.status_code == 204
    assert "del-gw" not in await providers_by_name(api, tenant)
    assert await credential_rows(app, tenant["id"]) == []
    assert (await api.delete(providers_url(tenant, f"/{created['id']}"))).status_code == 404
    assert (await api.get(providers_url(tenant, f"/{created['id']}/models"))).status_code == 404


@pytest.mark.parametrize("ref", ["openai", "azure"])
async def test_deleting_a_builtin_is_400(api, tenant, ref):
    response = await api.delete(providers_url(tenant, f"/{ref}"))
    assert response.status_code == 400
    assert "provider" in response.json()["errors"]
    assert ref in await providers_by_name(api, tenant)


async def test_unknown_provider_is_404(api, tenant):
    for ref in (str(uuid.uuid4()), "nope-gw"):
        assert (await api.put(providers_url(tenant, f"/{ref}"), json={"api_key": KEY})).status_code == 404
        assert (await api.delete(providers_url(tenant, f"/{ref}"))).status_code == 404
        assert (await api.get(providers_url(tenant, f"/{ref}/models"))).status_code == 404
        assert (
            await api.post(providers_url(tenant, f"/{ref}/models"), json={"name": "m"})
        ).status_code == 404


# --- models -----------------------------------------------------------------------------------


async def test_add_and_delete_custom_models(api, tenant):
    created = await custom(api, tenant, "models-gw")
    url = providers_url(tenant, f"/{created['id']}/models")
    added = await api.post(url, json={"name": "qwen2.5-72b", "display_name": "Qwen"})
    assert added.status_code == 201, added.text
    model = added.json()
    assert model["name"] == "qwen2.5-72b"
    assert model["display_name"] == "Qwen"
    assert model["enabled"] is True
    assert model["provider_id"] == created["id"]
    assert [m["id"] for m in (await api.get(url)).json()] == [model["id"]]
    assert (await api.post(url, json={"name": "qwen2.5-72b"})).status_code == 409
    bad = await api.post(url, json={"name": "has space"})
    assert bad.status_code == 400
    assert "name" in bad.json()["errors"]

    deleted = await api.delete(providers_url(tenant, f"/models/{model['id']}"))
    assert deleted.status_code == 204
    assert (await api.get(url)).json() == []
    assert (await api.delete(providers_url(tenant, f"/models/{model['id']}"))).status_code == 404
    assert (await api.delete(providers_url(tenant, "/models/not-a-uuid"))).status_code == 404


async def test_builtin_models_cannot_be_added_or_deleted(api, tenant):
    openai = (await providers_by_name(api, tenant))["openai"]
    url = providers_url(tenant, f"/{openai['id']}/models")
    models = (await api.get(url)).json()
    assert (await api.post(url, json={"name": "gpt-9"})).status_code == 400
    response = await api.delete(providers_url(tenant, f"/models/{models[0]['id']}"))
    assert response.status_code == 400
    assert "provider" in response.json()["errors"]
    assert [m["id"] for m in (await api.get(url)).json()] == [m["id"] for m in models]


async def test_toggle_a_builtin_model(api, tenant):
    other = await new_tenant(api)
    openai = (await providers_by_name(api, tenant))["openai"]
    url = providers_url(tenant, f"/{openai['id']}/models")
    model = (await api.get(url)).json()[0]
    toggle = providers_url(tenant, f"/models/{model['id']}")

    off = await api.put(toggle, json={"enabled": False})
    assert off.status_code == 200, off.text
    assert off.json()["enabled"] is False
    states = {m["id"]: m["enabled"] for m in (await api.get(url)).json()}
    assert states[model["id"]] is False
    assert sum(states.values()) == len(states) - 1
    assert (await providers_by_name(api, tenant))["openai"]["models_enabled"] == openai["models_total"] - 1
    # Idempotent, and only this tenant is affected.
    assert (await api.put(toggle, json={"enabled": False})).json()["enabled"] is False
    other_models = (await api.get(providers_url(other, f"/{openai['id']}/models"))).json()
    assert all(m["enabled"] for m in other_models)

    on = await api.put(toggle, json={"enabled": True})
    assert on.json()["enabled"] is True
    assert all(m["enabled"] for m in (await api.get(url)).json())


async def test_toggle_needs_a_boolean(api, tenant):
    openai = (await providers_by_name(api, tenant))["openai"]
    model = (await api.get(providers_url(tenant, f"/{openai['id']}/models"))).json()[0]
    for body in ({}, {"enabled": "no"}, {"enabled": False, "extra": 1}):
        response = await api.put(providers_url(tenant, f"/models/{model['id']}"), json=body)
        assert response.status_code == 400, (body, response.text)


async def test_concurrent_toggles_never_fail(api, tenant):
    openai = (await providers_by_name(api, tenant))["openai"]
    model = (await api.get(providers_url(tenant, f"/{openai['id']}/models"))).json()[0]
    toggle = providers_url(tenant, f"/models/{model['id']}")
    assert (await api.put(toggle, json={"enabled": False})).status_code == 200
    responses = await asyncio.gather(*(api.put(toggle, json={"enabled": True}) for _ in range(10)))
    assert [r.status_code for r in responses] == [200] * 10, [r.text[:200] for r in responses]
    models = (await api.get(providers_url(tenant, f"/{openai['id']}/models"))).json()
    assert next(m for m in models if m["id"] == model["id"])["enabled"] is True


# --- isolation --------------------------------------------------------------------------------


async def test_another_tenant_cannot_see_or_touch_a_custom_provider(api, tenant):
    theirs = await custom(api, tenant, "private-gw", api_key=KEY, models=["secret-model"])
    model = (await api.get(providers_url(tenant, f"/{theirs['id']}/models"))).json()[0]
    intruder = await new_tenant(api)

    assert "private-gw" not in await providers_by_name(api, intruder)
    with_keys = (await api.get(providers_url(intruder, "/with-keys"))).json()
    assert theirs["id"] not in {p["id"] for p in with_keys}
    for ref in (theirs["id"], "private-gw"):
        assert (await api.get(providers_url(intruder, f"/{ref}/models"))).status_code == 404
        assert (
            await api.put(providers_url(intruder, f"/{ref}"), json={"display_name": "x"})
        ).status_code == 404
        assert (await api.put(providers_url(intruder, f"/{ref}"), json={"api_key": KEY})).status_code == 404
        assert (
            await api.post(providers_url(intruder, f"/{ref}/models"), json={"name": "x"})
        ).status_code == 404
        assert (await api.delete(providers_url(intruder, f"/{ref}"))).status_code == 404
        assert (await api.put(credentials_url(intruder, ref), json={"api_key": KEY})).status_code == 404
        assert (await api.post(portal_url(intruder, f"/credentials/{ref}/test"))).status_code == 404
    model_url = providers_url(intruder, f"/models/{model['id']}")
    assert (await api.put(model_url, json={"enabled": False})).status_code == 404
    assert (await api.delete(model_url)).status_code == 404

    # Still there, unchanged, for its owner.
    mine = (await providers_by_name(api, tenant))["private-gw"]
    assert mine["display_name"] == theirs["display_name"]
    assert mine["credential_source"] == "tenant"
    models = (await api.get(providers_url(tenant, f"/{theirs['id']}/models"))).json()
    assert [(m["id"], m["enabled"]) for m in models] == [(model["id"], True)]
