"""TENANT_CONFIGS and DEFAULT_TENANT_ID, checked at start: every problem names its entry and field."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from portal.config import ConfigError, load_settings
from portal.tenant_configs import TenantConfigError, parse_tenant_configs

GOOD_ENV = {
    "ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "SESSION_SECRET": "s" * 40,
    "API_KEY_SECRET": "k" * 40,
}
OIDC = {
    "oidc_issuer": "https://login.acme.example/realms/acme",
    "oidc_client_id": "portal",
    "oidc_client_secret": "s3cret-s3cret-s3cret",
}


def problems_of(entries: object) -> list[str]:
    with pytest.raises(TenantConfigError) as info:
        parse_tenant_configs(json.dumps(entries))
    return info.value.problems


def test_a_full_entry_with_unknown_fields_reported_as_ignored():
    [tenant] = parse_tenant_configs(
        json.dumps(
            [
                {
                    "tenant_id": "Acme",
                    "name": " Acme Corp ",
                    "frontend_url": "https://app.acme.example",
                    **OIDC,
                    "oidc_redirect_url": "https://portal.acme.example/auth/callback",
                    "oidc_scopes": "openid email groups",
                    "mongo_uri": "mongodb://x",
                    "redis_addr": "redis:6379",
                }
            ]
        )
    )
    assert (tenant.slug, tenant.name, tenant.frontend_url) == (
        "acme",
        "Acme Corp",
        "https://app.acme.example",
    )
    assert tenant.oidc is not None and tenant.oidc.scopes == "openid email groups"
    assert tenant.oidc.redirect_url == "https://portal.acme.example/auth/callback"
    assert tenant.ignored_fields == ("mongo_uri", "redis_addr")
    assert "s3cret" not in repr(tenant)


def test_default_scopes_and_no_oidc():
    with_oidc, without = parse_tenant_configs(
        json.dumps([{"tenant_id": "a1", "name": "A", **OIDC}, {"tenant_id": "b1", "name": "B"}])
    )
    assert with_oidc.oidc is not None and with_oidc.oidc.scopes == "openid profile email"
    assert without.oidc is None
    assert parse_tenant_configs("") == () and parse_tenant_configs(None) == ()


def test_required_fields_name_entry_and_field():
    assert problems_of([{"name": "A"}, {"tenant_id": "b1"}]) == [
        "TENANT_CONFIGS entry #1: tenant_id: required (it becomes the tenant's slug, e.g. acme)",
        "TENANT_CONFIGS entry #2 (tenant_id 'b1'): name: required (the organisation's display name)",
    ]


def test_oidc_is_all_or_nothing():
    found = problems_of([{"tenant_id": "acme", "name": "Acme", "oidc_issuer": OIDC["oidc_issuer"]}])
    assert found == [
        "TENANT_CONFIGS entry #1 (tenant_id 'acme'): oidc_client_id: required when oidc_issuer is given "
        "(OIDC settings are all or nothing)",
        "TENANT_CONFIGS entry #1 (tenant_id 'acme'): oidc_client_secret: required when oidc_issuer is given "
        "(OIDC settings are all or nothing)",
    ]
    scopes_alone = problems_of([{"tenant_id": "acme", "name": "Acme", "oidc_scopes": "openid"}])
    assert scopes_alone == [
        "TENANT_CONFIGS entry #1 (tenant_id 'acme'): oidc_scopes: given without oidc_issuer, "
        "oidc_client_id and oidc_client_secret"
    ]


def test_ids_are_unique():
    found = problems_of([{"tenant_id": "acme", "name": "A"}, {"tenant_id": "ACME", "name": "B"}])
    assert found == [
        "TENANT_CONFIGS entry #2 (tenant_id 'ACME'): tenant_id: used already by entry #1; "
        "each tenant_id must be unique"
    ]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"tenant_id": "Not a slug!", "name": "A"}, "tenant_id: 2 to 63 characters"),
        ({"tenant_id": "acme", "name": 7}, "name: must be a string"),
        (
            {"tenant_id": "acme", "name": "A", **OIDC, "oidc_issuer": "http://login.example"},
            "oidc_issuer: use https://",
        ),
        (
            {"tenant_id": "acme", "name": "A", **OIDC, "oidc_scopes": "email"},
            "oidc_scopes: must include openid",
        ),
        (
            {"tenant_id": "acme", "name": "A", **OIDC, "oidc_redirect_url": "https://p.example/cb"},
            "oidc_redirect_url: must end in /auth/callback",
        ),
        (
            {"tenant_id": "acme", "name": "A", "frontend_url": "not a url"},
            "frontend_url: an absolute https://",
        ),
    ],
)
def test_bad_values_name_entry_and_field(entry, expected):
    [problem] = problems_of([entry])
    assert problem.startswith("TENANT_CONFIGS entry #1")
    assert expected in problem


def test_not_json_or_not_an_array():
    with pytest.raises(TenantConfigError, match="not valid JSON"):
        parse_tenant_configs("[{")
    with pytest.raises(TenantConfigError, match="must be a JSON array"):
        parse_tenant_configs('{"tenant_id": "acme"}')
    assert problems_of(["acme"]) == ["TENANT_CONFIGS entry #1: must be a JSON object with tenant_id and name"]


def test_settings_carry_them_and_refuse_bad_ones_at_start():
    settings = load_settings(
        {
            **GOOD_ENV,
            "TENANT_CONFIGS": json.dumps([{"tenant_id": "acme", "name": "Acme"}]),
            "DEFAULT_TENANT_ID": "Acme",
        }
    )
    assert [t.slug for t in settings.tenant_configs] == ["acme"] and settings.default_tenant_id == "acme"
    with pytest.raises(ConfigError) as info:
        load_settings(
            {**GOOD_ENV, "TENANT_CONFIGS": json.dumps([{"tenant_id": "acme"}]), "DEFAULT_TENANT_ID": "!"}
        )
    assert info.value.problems == [
        "TENANT_CONFIGS entry #1 (tenant_id 'acme'): name: required (the organisation's display name)",
        "DEFAULT_TENANT_ID: a tenant's slug (its tenant_id), e.g. acme",
    ]
