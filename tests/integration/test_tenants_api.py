"""The sysadmin tenants API: create, read, list, change, suspend, delete; races on the slug."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.support.api import TENANTS, credentials_url, new_tenant, portal_url
from tests.support.env import unique_slug
from tests.support.rows import credential_rows


async def test_create_returns_201_and_the_tenant(api):
    slug = unique_slug()
    response = await api.post(TENANTS, json={"name": "  Acme Corp  ", "slug": slug})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["slug"] == slug
    assert body["name"] == "Acme Corp"
    assert body["status"] == "active"
    assert uuid.UUID(body["id"])
    assert body["created_at"] and body["updated_at"]
    assert set(body) == {"id", "slug", "name", "status", "created_at", "updated_at", "monthly_limit_usd"}
    assert body["monthly_limit_usd"] is None  # set by a platform admin through its own route


async def test_create_normalises_the_slug_to_lower_case(api):
    slug = unique_slug()
    response = await api.post(TENANTS, json={"name": "Upper", "slug": f"  {slug.upper()} "})
    assert response.status_code == 201, response.text
    assert response.json()["slug"] == slug


async def test_create_suspended(api):
    tenant = await new_tenant(api, status="suspended")
    assert tenant["status"] == "suspended"


async def test_taken_slug_is_409(api):
    tenant = await new_tenant(api)
    again = await api.post(TENANTS, json={"name": "Other", "slug": tenant["slug"]})
    assert again.status_code == 409, again.text
    assert tenant["slug"] in again.json()["detail"]
    # Case does not make a slug new.
    upper = await api.post(TENANTS, json={"name": "Other", "slug": tenant["slug"].upper()})
    assert upper.status_code == 409, upper.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Bad", "slug": "Not A Slug!"}, "slug"),
        ({"name": "Bad", "slug": "x"}, "slug"),
        ({"name": "Bad", "slug": "-leading-dash"}, "slug"),
        ({"name": "Bad", "slug": "a" * 64}, "slug"),
        ({"name": "Bad", "slug": ""}, "slug"),
        ({"name": "", "slug": "valid-slug-for-empty-name"}, "name"),
        ({"name": "   ", "slug": "valid-slug-for-blank-name"}, "name"),
        ({"name": "n" * 201, "slug": "valid-slug-for-long-name"}, "name"),
        ({"name": "Bad", "slug": "valid-slug-for-bad-status", "status": "paused"}, "status"),
    ],
)
async def test_bad_input_is_400_naming_the_field(api, body, field):
    response = await api.post(TENANTS, json=body)
    assert response.status_code == 400, response.text
    errors = response.json()["errors"]
    assert set(errors) == {field}, errors
    assert errors[field]


async def test_several_bad_fields_are_all_named(api):
    response = await api.post(TENANTS, json={"name": "", "slug": "!!", "status": "gone"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"name", "slug", "status"}


async def test_a_missing_or_unknown_body_field_is_named(api):
    # A body without a slug is Eneo's shape (the slug is derived: tests/integration/test_eneo_compat.py);
    # the name is the field every body must carry.
    missing = await api.post(TENANTS, json={"slug": unique_slug()})
    assert missing.status_code == 400
    assert "name" in missing.json()["errors"], missing.json()
    unknown = await api.post(TENANTS, json={"name": "X", "slug": unique_slug(), "colour": "red"})
    assert unknown.status_code == 400
    assert "colour" in unknown.json()["errors"], unknown.json()
    wrong_type = await api.post(TENANTS, json={"name": 3, "slug": unique_slug()})
    assert wrong_type.status_code == 400
    assert "name" in wrong_type.json()["errors"]


async def test_get_by_uuid_and_by_slug(api):
    tenant = await new_tenant(api, name="Lookup")
    by_id = await api.get(f"{TENANTS}/{tenant['id']}")
    by_slug = await api.get(f"{TENANTS}/{tenant['slug']}")
    assert by_id.status_code == by_slug.status_code == 200
    assert by_id.json() == by_slug.json() == tenant


@pytest.mark.parametrize("ref", [str(uuid.uuid4()), "no-such-tenant-anywhere", "NOT!A!SLUG"])
async def test_unknown_tenant_is_404_everywhere(api, ref):
    assert (await api.get(f"{TENANTS}/{ref}")).status_code == 404
    assert (await api.put(f"{TENANTS}/{ref}", json={"name": "x"})).status_code == 404
    assert (await api.delete(f"{TENANTS}/{ref}")).status_code == 404
    assert (await api.get(f"{TENANTS}/{ref}/credentials")).status_code == 404
    assert (await api.get(f"/api/portal/tenants/{ref}/llm-keys")).status_code == 404
    response = await api.get(f"{TENANTS}/{ref}")
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["status_code"] == 404


async def test_put_changes_name_and_slug(api):
    tenant = await new_tenant(api, name="Before")
    new_slug = unique_slug()
    response = await api.put(f"{TENANTS}/{tenant['slug']}", json={"name": "After", "slug": new_slug})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "After"
    assert response.json()["slug"] == new_slug
    assert response.json()["id"] == tenant["id"]
    assert (await api.get(f"{TENANTS}/{tenant['slug']}")).status_code == 404
    assert (await api.get(f"{TENANTS}/{new_slug}")).json()["name"] == "After"


async def test_put_to_a_taken_slug_is_409(api):
    first = await new_tenant(api)
    second = await new_tenant(api)
    response = await api.put(f"{TENANTS}/{second['id']}", json={"slug": first["slug"]})
    assert response.status_code == 409, response.text
    assert (await api.get(f"{TENANTS}/{second['id']}")).json()["slug"] == second["slug"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"status": "paused"}, "status"), ({"name": ""}, "name"), ({"slug": "NO WAY"}, "slug")],
)
async def test_put_bad_input_is_400_naming_the_field(api, body, field):
    tenant = await new_tenant(api)
    response = await api.put(f"{TENANTS}/{tenant['id']}", json=body)
    assert response.status_code == 400, response.text
    assert set(response.json()["errors"]) == {field}
    assert (await api.get(f"{TENANTS}/{tenant['id']}")).json() == tenant


async def test_suspend_and_reactivate(api):
    tenant = await new_tenant(api)
    suspended = await api.put(f"{TENANTS}/{tenant['id']}", json={"status": "suspended"})
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"
    assert (await api.get(f"{TENANTS}/{tenant['id']}")).json()["status"] == "suspended"
    listed = await api.get(TENANTS, params={"q": tenant["slug"], "status": "suspended"})
    assert [t["id"] for t in listed.json()["tenants"]] == [tenant["id"]]
    active = await api.get(TENANTS, params={"q": tenant["slug"], "status": "active"})
    assert active.json()["tenants"] == []
    back = await api.put(f"{TENANTS}/{tenant['id']}", json={"status": "active"})
    assert back.json()["status"] == "active"


async def test_search_and_paging(api):
    tag = uuid.uuid4().hex[:12]
    created = [await new_tenant(api, name=f"Search {tag} {i}") for i in range(5)]
    other = await new_tenant(api, name="Unrelated")
    ids = {t["id"] for t in created}

    everything = await api.get(TENANTS, params={"q": tag})
    assert everything.status_code == 200
    body = everything.json()
    assert body["total"] == 5
    assert {t["id"] for t in body["tenants"]} == ids
    assert other["id"] not in {t["id"] for t in body["tenants"]}

    # Case-insensitive on the name, and the slug matches too.
    assert (await api.get(TENANTS, params={"q": f"SEARCH {tag.upper()}"})).json()["total"] == 5
    by_slug = await api.get(TENANTS, params={"q": created[0]["slug"]})
    assert [t["id"] for t in by_slug.json()["tenants"]] == [created[0]["id"]]

    pages = []
    for page in (1, 2, 3):
        response = await api.get(TENANTS, params={"q": tag, "per_page": 2, "page": page})
        assert response.status_code == 200
        assert response.json()["total"] == 5
        assert response.json()["page"] == page
        assert response.json()["per_page"] == 2
        pages.append([t["id"] for t in response.json()["tenants"]])
    assert [len(p) for p in pages] == [2, 2, 1]
    assert {i for p in pages for i in p} == ids  # no overlap, nothing lost
    beyond = await api.get(TENANTS, params={"q": tag, "per_page": 2, "page": 4})
    assert beyond.json()["tenants"] == []


@pytest.mark.parametrize("params", [{"page": 0}, {"per_page": 0}, {"per_page": 201}, {"page": "x"}])
async def test_bad_paging_is_400(api, params):
    response = await api.get(TENANTS, params=params)
    assert response.status_code == 400, response.text


async def test_delete_then_404_and_its_credentials_are_gone(api, app):
    tenant = await new_tenant(api)
    saved = await api.put(credentials_url(tenant, "openai"), json={"api_key": "sk-delete-me-0001"})
    assert saved.status_code == 200, saved.text
    key = await api.post(
        portal_url(tenant, "/llm-keys"), json={"provider": "anthropic", "api_key": "sk-delete-me-0002"}
    )
    assert key.status_code == 201, key.text
    custom = await api.post(
        portal_url(tenant, "/providers"),
        json={"name": "gone-gw", "base_url": "https://gw.example.com/v1", "api_key": "sk-delete-me-0003"},
    )
    assert custom.status_code == 201, custom.text
    assert len(await credential_rows(app, tenant["id"])) == 3

    deleted = await api.delete(f"{TENANTS}/{tenant['id']}")
    assert deleted.status_code == 204, deleted.text
    assert (await api.get(f"{TENANTS}/{tenant['id']}")).status_code == 404
    assert (await api.get(f"{TENANTS}/{tenant['slug']}")).status_code == 404
    assert (await api.get(credentials_url(tenant))).status_code == 404
    assert (await api.get(portal_url(tenant, "/llm-keys"))).status_code == 404
    assert await credential_rows(app, tenant["id"]) == []
    assert (await api.delete(f"{TENANTS}/{tenant['id']}")).status_code == 404
    # The slug is free again.
    again = await api.post(TENANTS, json={"name": "Reborn", "slug": tenant["slug"]})
    assert again.status_code == 201
    assert again.json()["id"] != tenant["id"]
    assert (await api.get(credentials_url(again.json()))).json()["credentials"] == []


async def test_concurrent_creates_of_one_slug_give_one_201(api):
    slug = unique_slug("race")
    responses = await asyncio.gather(
        *(api.post(TENANTS, json={"name": f"Racer {i}", "slug": slug}) for i in range(20))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, [(r.status_code, r.text[:200]) for r in responses]
    listed = await api.get(TENANTS, params={"q": slug})
    assert listed.json()["total"] == 1
    winner = next(r for r in responses if r.status_code == 201).json()
    assert listed.json()["tenants"][0]["id"] == winner["id"]


async def test_concurrent_renames_to_one_slug_give_one_200(api):
    tenants = [await new_tenant(api) for _ in range(6)]
    slug = unique_slug("rename-race")
    responses = await asyncio.gather(*(api.put(f"{TENANTS}/{t['id']}", json={"slug": slug}) for t in tenants))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 5, [(r.status_code, r.text[:200]) for r in responses]
    listed = await api.get(TENANTS, params={"q": slug})
    assert listed.json()["total"] == 1


async def test_search_matches_percent_and_underscore_literally(api):
    marker = uuid.uuid4().hex[:6]
    plain = await new_tenant(api, name=f"Plain {marker}")
    percent = await new_tenant(api, name=f"Fifty% {marker}")
    found = (await api.get(TENANTS, params={"q": "%", "per_page": 200})).json()
    names = {t["name"] for t in found["tenants"]}
    assert percent["name"] in names and plain["name"] not in names
    underscore = (await api.get(TENANTS, params={"q": "_", "per_page": 200})).json()
    assert plain["name"] not in {t["name"] for t in underscore["tenants"]}
