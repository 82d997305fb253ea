"""Credentials: the sysadmin per-provider API, BYO llm-keys, connection tests, undecryptable rows."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from tests.conftest import VALID_PROVIDER_KEYS
from tests.support.api import azure_fields, credentials_url, new_tenant, portal_url
from tests.support.rows import credential_rows, set_sealed_fields
from tests.support.servers import closed_port, silent_server

GOOD_KEY = "sk-valid-provider-key-0001"
BAD_KEY = "sk-refused-by-the-stub-0001"
assert GOOD_KEY in VALID_PROVIDER_KEYS
assert BAD_KEY not in VALID_PROVIDER_KEYS


def check_url(tenant, provider):
    return portal_url(tenant, f"/credentials/{provider}/test")


@pytest.fixture
async def tenant(api):
    return await new_tenant(api, name="Credentials")


# --- sysadmin credentials API ---------------------------------------------------------------


async def test_put_answers_the_masked_record(api, tenant):
    secret = "sk-live-abcdefghijklmnop-WXYZ"
    response = await api.put(credentials_url(tenant, "openai"), json={"api_key": secret, "label": "Prod"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert {"provider", "masked_key", "configured_at", "encryption_status", "config", "label"} <= set(body)
    assert body["provider"] == "openai"
    assert body["label"] == "Prod"
    assert body["masked_key"] == "...WXYZ"
    assert body["encryption_status"] == "encrypted"
    assert body["config"] == {}
    assert body["configured_at"]
    assert secret not in response.text
    listed = await api.get(credentials_url(tenant))
    assert listed.status_code == 200
    # The PUT answer is the listed record plus Eneo's tenant_id, message and set_at.
    eneo = {"tenant_id": tenant["id"], "message": "API credential for openai set successfully"}
    assert {k: body[k] for k in eneo} == eneo and body["set_at"] == body["configured_at"]
    assert listed.json()["credentials"] == [{k: v for k, v in body.items() if k not in {*eneo, "set_at"}}]


async def test_label_defaults_to_the_providers_name(api, tenant):
    response = await api.put(credentials_url(tenant, "mistral"), json={"api_key": GOOD_KEY})
    assert response.json()["label"] == "Mistral AI"


@pytest.mark.parametrize(
    ("secret", "masked"),
    [
        ("abcdefgh", "..."),  # 8: the shortest accepted
        ("abcdefghijk", "..."),  # 11
        ("abcdefghijkl", "...ijkl"),  # 12: the shortest that shows four
        ("x" * 60 + "TAIL", "...TAIL"),
    ],
)
async def test_masked_key_shows_four_characters_only_for_long_secrets(api, tenant, secret, masked):
    response = await api.put(credentials_url(tenant, "openai"), json={"api_key": secret})
    assert response.status_code == 200, response.text
    assert response.json()["masked_key"] == masked
    keys = await api.get(portal_url(tenant, "/llm-keys"))
    assert keys.json()[0]["key_hint"] == masked
    if len(secret) < 12:
        assert secret[-4:] not in response.text


@pytest.mark.parametrize("secret", ["sk-shrt", "1234567", "has a space in it", "line\nbreak-key-123"])
async def test_bad_secret_is_400_naming_api_key(api, tenant, secret):
    response = await api.put(credentials_url(tenant, "openai"), json={"api_key": secret})
    assert response.status_code == 400, response.text
    assert set(response.json()["errors"]) == {"api_key"}
    assert secret not in response.text
    assert (await api.get(credentials_url(tenant))).json()["credentials"] == []


async def test_missing_api_key_is_400(api, tenant):
    response = await api.put(credentials_url(tenant, "openai"), json={"label": "nothing else"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"api_key"}


async def test_azure_config_holds_only_the_non_secret_fields(api, tenant):
    secret = "azure-secret-key-0123456789"
    fields = azure_fields("https://contoso.openai.azure.com", secret)
    response = await api.put(credentials_url(tenant, "azure"), json=fields)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["config"] == {
        "endpoint": "https://contoso.openai.azure.com",
        "api_version": "2024-10-21",
        "deployment_name": "gpt-4o-prod",
    }
    assert "api_key" not in body["config"]
    assert body["masked_key"] == "...6789"
    assert secret not in response.text
    listed = (await api.get(credentials_url(tenant))).json()["credentials"]
    assert listed[0]["config"] == body["config"]
    assert secret not in str(listed)


async def test_azure_requires_all_four_fields(api, tenant):
    response = await api.put(credentials_url(tenant, "azure"), json={})
    assert response.status_code == 400
    body = response.json()
    assert set(body["errors"]) == {"api_key", "endpoint", "api_version", "deployment_name"}
    for name in ("api_key", "endpoint", "api_version", "deployment_name"):
        assert name in body["detail"]


@pytest.mark.parametrize("missing", ["api_key", "endpoint", "api_version", "deployment_name"])
async def test_azure_names_each_missing_field(api, tenant, missing):
    fields = azure_fields("https://contoso.openai.azure.com", GOOD_KEY)
    del fields[missing]
    response = await api.put(credentials_url(tenant, "azure"), json=fields)
    assert response.status_code == 400, response.text
    assert set(response.json()["errors"]) == {missing}
    blank = {**azure_fields("https://contoso.openai.azure.com", GOOD_KEY), missing: "   "}
    response = await api.put(credentials_url(tenant, "azure"), json=blank)
    assert response.status_code == 400, response.text
    assert set(response.json()["errors"]) == {missing}


@pytest.mark.parametrize(
    "endpoint",
    [
        "ftp://contoso.openai.azure.com",  # scheme
        "contoso.openai.azure.com",  # no scheme
        "https://",  # no host
        "https:///path-only",  # no host
        "http://contoso.openai.azure.com",  # plain http off loopback
        "https://user:pw@contoso.openai.azure.com",  # credentials in the URL
        "https://contoso.openai.azure.com/?x=1",  # query
        "https://" + "a" * 500 + ".com",  # too long
    ],
)
async def test_azure_endpoint_url_is_checked(api, tenant, endpoint):
    response = await api.put(credentials_url(tenant, "azure"), json=azure_fields(endpoint, GOOD_KEY))
    assert response.status_code == 400, response.text
    assert set(response.json()["errors"]) == {"endpoint"}


@pytest.mark.parametrize(
    ("field", "value"), [("api_version", "latest"), ("deployment_name", "has spaces in it")]
)
async def test_azure_checks_the_form_of_its_settings(api, tenant, field, value):
    fields = {**azure_fields("https://contoso.openai.azure.com", GOOD_KEY), field: value}
    response = await api.put(credentials_url(tenant, "azure"), json=fields)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {field}


@pytest.mark.parametrize("field", ["endpoint", "api_version", "deployment_name"])
async def test_a_field_the_provider_does_not_take_is_named(api, tenant, field):
    response = await api.put(credentials_url(tenant, "openai"), json={"api_key": GOOD_KEY, field: "x"})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {field}
    assert "unknown field" in errors[field]
    assert (await api.get(credentials_url(tenant))).json()["credentials"] == []


async def test_a_field_no_provider_takes_is_named(api, tenant):
    response = await api.put(credentials_url(tenant, "openai"), json={"api_key": GOOD_KEY, "colour": "red"})
    assert response.status_code == 400
    assert "colour" in response.json()["errors"]
    assert GOOD_KEY not in response.text


async def test_unknown_provider_is_404(api, tenant):
    response = await api.put(credentials_url(tenant, "no-such-provider"), json={"api_key": GOOD_KEY})
    assert response.status_code == 404
    assert (await api.delete(credentials_url(tenant, "no-such-provider"))).status_code == 404


async def test_put_replaces_and_delete_removes(api, tenant):
    first = await api.put(credentials_url(tenant, "openai"), json={"api_key": "sk-first-key-AAAA"})
    second = await api.put(credentials_url(tenant, "openai"), json={"api_key": "sk-second-key-BBBB"})
    assert first.status_code == second.status_code == 200
    assert second.json()["masked_key"] == "...BBBB"
    listed = (await api.get(credentials_url(tenant))).json()["credentials"]
    assert [c["masked_key"] for c in listed] == ["...BBBB"]

    deleted = await api.delete(credentials_url(tenant, "openai"))
    assert deleted.status_code == 200
    assert (await api.get(credentials_url(tenant))).json()["credentials"] == []
    assert (await api.delete(credentials_url(tenant, "openai"))).status_code == 404


async def test_one_tenants_credential_is_not_anothers(api, tenant):
    other = await new_tenant(api)
    await api.put(credentials_url(tenant, "openai"), json={"api_key": GOOD_KEY})
    assert (await api.get(credentials_url(other))).json()["credentials"] == []
    assert (await api.delete(credentials_url(other, "openai"))).status_code == 404
    assert len((await api.get(credentials_url(tenant))).json()["credentials"]) == 1


# --- BYO llm-keys -----------------------------------------------------------------------------


async def test_create_llm_key(api, tenant):
    response = await api.post(
        portal_url(tenant, "/llm-keys"), json={"provider": "openai", "api_key": GOOD_KEY, "label": "CI"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert {"id", "provider", "label", "key_hint", "created_at"} <= set(body)
    assert uuid.UUID(body["id"])
    assert body["provider"] == "openai"
    assert body["label"] == "CI"
    assert body["key_hint"] == "..." + GOOD_KEY[-4:]
    assert GOOD_KEY not in response.text
    listed = await api.get(portal_url(tenant, "/llm-keys"))
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()] == [body["id"]]
    assert GOOD_KEY not in listed.text


async def test_llm_key_for_a_provider_that_has_one_is_409(api, tenant):
    url = portal_url(tenant, "/llm-keys")
    assert (await api.post(url, json={"provider": "openai", "api_key": GOOD_KEY})).status_code == 201
    again = await api.post(url, json={"provider": "openai", "api_key": "sk-another-key-0002"})
    assert again.status_code == 409, again.text
    # Set through the other API counts too.
    await api.put(credentials_url(tenant, "mistral"), json={"api_key": GOOD_KEY})
    assert (await api.post(url, json={"provider": "mistral", "api_key": GOOD_KEY})).status_code == 409
    hints = {k["provider"]: k["key_hint"] for k in (await api.get(url)).json()}
    assert hints["openai"] == "..." + GOOD_KEY[-4:]  # the first key stayed


@pytest.mark.parametrize("body", [{"api_key": GOOD_KEY}, {"provider": "  ", "api_key": GOOD_KEY}])
async def test_llm_key_without_provider_is_400(api, tenant, body):
    response = await api.post(portal_url(tenant, "/llm-keys"), json=body)
    assert response.status_code == 400
    assert "provider" in response.json()["errors"]


async def test_llm_key_checks_the_providers_fields(api, tenant):
    response = await api.post(
        portal_url(tenant, "/llm-keys"), json={"provider": "azure", "api_key": GOOD_KEY}
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"endpoint", "api_version", "deployment_name"}
    unknown = await api.post(portal_url(tenant, "/llm-keys"), json={"provider": "nope", "api_key": GOOD_KEY})
    assert unknown.status_code == 404


async def test_delete_llm_key(api, tenant):
    url = portal_url(tenant, "/llm-keys")
    key = (await api.post(url, json={"provider": "openai", "api_key": GOOD_KEY})).json()
    assert (await api.delete(f"{url}/{key['id']}")).status_code == 204
    assert (await api.get(url)).json() == []
    assert (await api.delete(f"{url}/{key['id']}")).status_code == 404
    assert (await api.delete(f"{url}/not-a-uuid")).status_code == 404


async def test_another_tenants_key_id_is_404_and_survives(api, tenant):
    other = await new_tenant(api)
    theirs = (
        await api.post(portal_url(other, "/llm-keys"), json={"provider": "openai", "api_key": GOOD_KEY})
    ).json()
    response = await api.delete(portal_url(tenant, f"/llm-keys/{theirs['id']}"))
    assert response.status_code == 404
    assert [k["id"] for k in (await api.get(portal_url(other, "/llm-keys"))).json()] == [theirs["id"]]


async def test_concurrent_llm_keys_for_one_provider_give_one_201(api, tenant):
    url = portal_url(tenant, "/llm-keys")
    responses = await asyncio.gather(
        *(api.post(url, json={"provider": "openai", "api_key": f"sk-racer-key-{i:04d}"}) for i in range(20))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, [(r.status_code, r.text[:300]) for r in responses]
    listed = (await api.get(url)).json()
    winner = next(r for r in responses if r.status_code == 201).json()
    assert [k["id"] for k in listed] == [winner["id"]]


# --- connection test ------------------------------------------------------------------------


async def test_connection_test_openai_against_the_stub(api, tenant, stub_provider):
    await api.put(credentials_url(tenant, "openai"), json={"api_key": GOOD_KEY})
    response = await api.post(check_url(tenant, "openai"))
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True}
    listed = (await api.get(credentials_url(tenant))).json()["credentials"][0]
    assert listed["last_test_ok"] is True
    assert listed["last_test_at"]


async def test_connection_test_azure_against_the_stub(api, tenant, stub_provider):
    fields = azure_fields(stub_provider.url, GOOD_KEY)
    assert (await api.put(credentials_url(tenant, "azure"), json=fields)).status_code == 200
    before = len(stub_provider.requests)
    response = await api.post(check_url(tenant, "azure"))
    assert response.json() == {"ok": True}, response.text
    seen = stub_provider.requests[before:]
    assert any(r["path"].startswith("/openai/models?api-version=2024-10-21") for r in seen), seen
    assert any(r.get("api-key") == GOOD_KEY for r in seen)


async def test_connection_test_custom_provider_against_the_stub(api, tenant, stub_provider):
    created = await api.post(
        portal_url(tenant, "/providers"),
        json={"name": "stub-gw", "base_url": f"{stub_provider.url}/v1", "api_key": GOOD_KEY},
    )
    assert created.status_code == 201, created.text
    assert (await api.post(check_url(tenant, "stub-gw"))).json() == {"ok": True}
    assert (await api.post(check_url(tenant, created.json()["id"]))).json() == {"ok": True}


async def test_connection_test_with_a_refused_key(api, tenant):
    await api.put(credentials_url(tenant, "openai"), json={"api_key": BAD_KEY})
    response = await api.post(check_url(tenant, "openai"))
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False
    assert "401" in body["reason"]
    assert BAD_KEY not in response.text
    listed = await api.get(credentials_url(tenant))
    assert listed.json()["credentials"][0]["last_test_ok"] is False
    assert "401" in listed.json()["credentials"][0]["last_test_reason"]
    assert BAD_KEY not in listed.text


async def test_connection_test_with_an_unreachable_endpoint(api, tenant):
    fields = azure_fields(f"http://127.0.0.1:{closed_port()}", BAD_KEY)
    assert (await api.put(credentials_url(tenant, "azure"), json=fields)).status_code == 200
    response = await api.post(check_url(tenant, "azure"))
    body = response.json()
    assert response.status_code == 200
    assert body["ok"] is False
    assert body["reason"].startswith("unreachable"), body
    assert BAD_KEY not in response.text


async def test_connection_test_times_out(api, tenant, settings):
    assert settings.provider_test_timeout == 2
    with silent_server() as url:
        created = await api.post(
            portal_url(tenant, "/providers"), json={"name": "silent", "base_url": url, "api_key": BAD_KEY}
        )
        assert created.status_code == 201, created.text
        started = time.monotonic()
        response = await api.post(check_url(tenant, "silent"))
        elapsed = time.monotonic() - started
    body = response.json()
    assert response.status_code == 200
    assert body["ok"] is False
    assert "timed out" in body["reason"], body
    assert 1.5 <= elapsed < 10
    assert BAD_KEY not in response.text


async def test_connection_test_without_credential(api, tenant):
    own = await api.post(check_url(tenant, "openai"))
    assert own.json()["ok"] is False
    assert "no credential" in own.json()["reason"]
    # anthropic has a shared key in the test settings, and the stub accepts it.
    assert (await api.post(check_url(tenant, "anthropic"))).json() == {"ok": True}
    assert (await api.post(check_url(tenant, "no-such-provider"))).status_code == 404


# --- undecryptable --------------------------------------------------------------------------


def _flip(sealed: str) -> str:
    position = len(sealed) // 2
    replacement = "A" if sealed[position] != "A" else "B"
    return sealed[:position] + replacement + sealed[position + 1 :]


async def _assert_undecryptable(api, tenant, provider):
    listed = await api.get(credentials_url(tenant))
    assert listed.status_code == 200, listed.text
    record = next(c for c in listed.json()["credentials"] if c["provider"] == provider)
    assert record["encryption_status"] == "undecryptable"
    assert record["undecryptable_reason"]
    keys = await api.get(portal_url(tenant, "/llm-keys"))
    assert keys.status_code == 200
    assert next(k for k in keys.json() if k["provider"] == provider)["encryption_status"] == "undecryptable"
    assert (await api.get(portal_url(tenant, "/providers"))).status_code == 200
    tested = await api.post(check_url(tenant, provider))
    assert tested.status_code == 200, tested.text
    assert tested.json()["ok"] is False
    assert tested.json()["reason"].startswith("undecryptable"), tested.json()
    return record


async def test_tampered_ciphertext_is_undecryptable_not_500(api, app, tenant, browser_session):
    await api.put(credentials_url(tenant, "openai"), json={"api_key": GOOD_KEY})
    (row,) = await credential_rows(app, tenant["id"])
    await set_sealed_fields(app, row.id, {"api_key": _flip(row.sealed_fields["api_key"])})

    record = await _assert_undecryptable(api, tenant, "openai")
    assert "integrity" in record["undecryptable_reason"]
    client, _ = browser_session
    for page in (f"/t/{tenant['slug']}", f"/t/{tenant['slug']}/credentials"):
        response = await client.get(page)
        assert response.status_code == 200, page
        assert "undecryptable" in response.text

    # Replacing the key heals it.
    await api.put(credentials_url(tenant, "openai"), json={"api_key": GOOD_KEY})
    listed = (await api.get(credentials_url(tenant))).json()["credentials"]
    assert listed[0]["encryption_status"] == "encrypted"
    assert (await api.post(check_url(tenant, "openai"))).json() == {"ok": True}


async def test_garbage_in_the_sealed_field_is_undecryptable(api, app, tenant):
    await api.put(credentials_url(tenant, "openai"), json={"api_key": GOOD_KEY})
    (row,) = await credential_rows(app, tenant["id"])
    for garbage in ("v1:!!not-base64!!", "v1:", "v9:abc", "plain"):
        await set_sealed_fields(app, row.id, {"api_key": garbage})
        await _assert_undecryptable(api, tenant, "openai")


async def test_ciphertext_copied_from_another_tenant_is_undecryptable(api, app, tenant):
    other = await new_tenant(api)
    await api.put(credentials_url(tenant, "openai"), json={"api_key": GOOD_KEY})
    await api.put(credentials_url(other, "openai"), json={"api_key": "sk-other-tenants-key-9999"})
    (mine,) = await credential_rows(app, tenant["id"])
    (theirs,) = await credential_rows(app, other["id"])
    await set_sealed_fields(app, theirs.id, dict(mine.sealed_fields))

    await _assert_undecryptable(api, other, "openai")
    # The source row is untouched.
    listed = (await api.get(credentials_url(tenant))).json()["credentials"]
    assert listed[0]["encryption_status"] == "encrypted"
    assert (await api.post(check_url(tenant, "openai"))).json() == {"ok": True}
