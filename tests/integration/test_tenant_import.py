"""TENANT_CONFIGS imported at start and by `portal import-tenants`: idempotent, all or nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from portal.audit.actor import Actor
from portal.crypto.keyring import MasterKeyring
from portal.crypto.vault import Vault
from portal.db.models import AuditEvent, IdentityProvider, Tenant
from portal.db.session import unit_of_work
from portal.identity.federation import services as federation
from portal.identity.federation.tenant_import import import_tenant_configs
from portal.tenant_configs import TenantConfigError, parse_tenant_configs
from tests.support.apps import running_app
from tests.support.env import cli_environ, make_settings
from tests.support.processes import run_portal

ACME = {
    "tenant_id": "acme",
    "name": "Acme Corp",
    "frontend_url": "https://app.acme.example",
    "oidc_issuer": "https://login.acme.example/realms/acme",
    "oidc_client_id": "portal",
    "oidc_client_secret": "acme-client-secret-0001",
    "mongo_uri": "mongodb://db/acme",
    "redis_addr": "redis:6379",
}
GLOBEX = {"tenant_id": "globex", "name": "Globex"}


def vault_for(settings) -> Vault:
    return Vault(MasterKeyring(settings.encryption_key, settings.encryption_key_previous))


async def run_import(settings, sessions, entries, **kwargs):
    async with unit_of_work(sessions) as db:
        return await import_tenant_configs(
            db,
            vault_for(settings),
            settings,
            Actor.system("test"),
            parse_tenant_configs(json.dumps(entries)),
            **kwargs,
        )


async def test_import_creates_then_changes_nothing_then_updates(fresh_database):
    settings, sessions = fresh_database
    first = await run_import(settings, sessions, [ACME, GLOBEX])
    assert first.created == ["acme", "globex"] and first.updated == [] and first.unchanged == []
    assert first.ignored_fields == {"acme": ["mongo_uri", "redis_addr"]}
    async with sessions() as db:
        acme = await db.scalar(select(Tenant).where(Tenant.slug == "acme"))
        view = await federation.get_federation(db, vault_for(settings), settings, acme)
        assert view is not None and view.issuer == ACME["oidc_issuer"] and view.client_id == "portal"
        assert view.scopes == "openid profile email" and view.secret_hint == "...0001"
        assert view.frontend_url == "https://app.acme.example" and view.secret_status == "ok"
        events = await db.scalar(select(func.count()).select_from(AuditEvent))

    again = await run_import(settings, sessions, [ACME, GLOBEX])
    assert again.created == [] and again.updated == [] and again.unchanged == ["acme", "globex"]
    async with sessions() as db:
        assert await db.scalar(select(func.count()).select_from(AuditEvent)) == events  # nothing happened

    changed = await run_import(
        settings,
        sessions,
        [{**ACME, "name": "Acme Corporation", "oidc_client_secret": "rotated-secret-0002"}, GLOBEX],
    )
    assert changed.updated == ["acme"] and changed.unchanged == ["globex"]
    async with sessions() as db:
        acme = await db.scalar(select(Tenant).where(Tenant.slug == "acme"))
        assert acme.name == "Acme Corporation"
        view = await federation.get_federation(db, vault_for(settings), settings, acme)
        assert view.secret_hint == "...0002"


async def test_settings_made_by_admins_survive_a_reimport(fresh_database):
    settings, sessions = fresh_database
    await run_import(settings, sessions, [ACME])
    async with unit_of_work(sessions) as db:
        acme = await db.scalar(select(Tenant).where(Tenant.slug == "acme"))
        submitted = federation.FederationInput(
            issuer=ACME["oidc_issuer"],
            client_id="portal",
            allowed_domains=["acme.example"],
            role_claim="groups",
            admin_values=["portal-admins"],
            jit_provisioning=True,
        )
        await federation.save_federation(
            db, vault_for(settings), settings, Actor.system("t"), acme, submitted
        )
    report = await run_import(settings, sessions, [ACME])
    assert report.unchanged == ["acme"]
    async with sessions() as db:
        idp = await db.scalar(select(IdentityProvider))
        assert idp.allowed_domains == ["acme.example"] and idp.jit_provisioning is True
        assert idp.role_mapping == {"claim": "groups", "admin_values": ["portal-admins"]}


async def test_one_bad_entry_applies_nothing(fresh_database):
    settings, sessions = fresh_database
    # Passes the static checks; fails only when applied (DEFAULT_TENANT_ID names no tenant).
    with pytest.raises(TenantConfigError) as info:
        await run_import(settings, sessions, [ACME, GLOBEX], default_tenant_id="initech")
    assert "DEFAULT_TENANT_ID: no tenant 'initech'" in info.value.problems[0]
    async with sessions() as db:
        assert await db.scalar(select(func.count()).select_from(Tenant)) == 0
        assert await db.scalar(select(func.count()).select_from(IdentityProvider)) == 0
    report = await run_import(settings, sessions, [ACME, GLOBEX], default_tenant_id="globex")
    assert report.default_tenant == "globex" and report.created == ["acme", "globex"]


async def test_imported_at_start(tmp_path):
    from portal.db.migrate import upgrade

    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'start.db'}",
        TENANT_CONFIGS=json.dumps([ACME, GLOBEX]),
        DEFAULT_TENANT_ID="acme",
    )
    await upgrade(settings)
    async with running_app(settings) as app, app.state.portal.sessions() as db:
        slugs = list(await db.scalars(select(Tenant.slug).order_by(Tenant.slug)))
    assert slugs == ["acme", "globex"]


def test_cli_import_tenants(tmp_path):
    from click.testing import CliRunner

    from portal.cli import main

    cli_env = cli_environ(tmp_path, "cli.db", TENANT_CONFIGS="")
    env = {**cli_env, "TENANT_CONFIGS": json.dumps([ACME, GLOBEX])}
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=cli_env).exit_code == 0
    # As operators run it: a process of its own.
    first = run_portal("import-tenants", env=env)
    assert first.returncode == 0, first.stderr
    assert "created acme" in first.stdout and "created globex" in first.stdout
    assert "ignored for acme (not used by the portal): mongo_uri, redis_addr" in first.stdout
    assert "acme-client-secret" not in first.stdout + first.stderr
    again = runner.invoke(main, ["import-tenants"], env=env)
    assert again.exit_code == 0, again.output
    assert "unchanged acme" in again.output and "0 created, 0 updated, 2 unchanged" in again.output

    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps([{"tenant_id": "initech", "name": "Initech"}, {"tenant_id": "x y", "name": "Bad"}])
    )
    refused = runner.invoke(main, ["import-tenants", "--file", str(bad)], env=cli_env)
    assert refused.exit_code == 2
    assert "Nothing was imported" in refused.output
    assert "TENANT_CONFIGS entry #2 (tenant_id 'x y'): tenant_id: 2 to 63 characters" in refused.output
    invalid_env = runner.invoke(
        main, ["import-tenants"], env={**cli_env, "TENANT_CONFIGS": '[{"tenant_id": "a1"}]'}
    )
    assert invalid_env.exit_code == 2 and "entry #1 (tenant_id 'a1'): name: required" in invalid_env.output
    nothing = runner.invoke(main, ["import-tenants"], env=cli_env)
    assert nothing.exit_code == 0 and "Nothing to import" in nothing.output
