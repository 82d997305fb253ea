"""`portal keys …`: issued API keys from the command line, over the same services as the pages.

Secrets go to standard output alone (`create`, `rotate`), so `KEY=$(portal keys create …)` works;
everything else a person should read goes to standard error or, for reports, standard output.
Changes reach running servers through Redis where REDIS_URL is set, else through their poll.
Each command runs in one transaction (portal.db.session). One piece: the `keys` click group, one
function per command, sharing the output helpers and columns above them.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.apikeys import queries, services
from portal.apikeys.money import format_usd
from portal.apikeys.queries import KeyFilter, find_key, in_use, older_than
from portal.apikeys.rules import PLANS, RESET_PERIODS, SCOPES, STATES, KeyView, check_duration
from portal.apikeys.spend import Forecast, forecasts, last_used, problems_of
from portal.audit.actor import Actor
from portal.cli.common import run_published
from portal.config import Settings
from portal.db.base import utcnow
from portal.db.models import Tenant
from portal.tenants.services import find_tenant
from portal.usage import services as usage


def _actor() -> Actor:
    return Actor.system("cli")


async def _tenant(db: AsyncSession, ref: str | None) -> Tenant | None:
    return await find_tenant(db, ref) if ref else None


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _csv(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().rstrip("\n")


def _emit(headers: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> None:
    if fmt == "csv":
        click.echo(_csv(headers, rows))
    elif fmt == "json":
        click.echo(
            json.dumps(
                [dict(zip(headers, row, strict=True)) for row in rows],
                default=str,
                indent=2,
                ensure_ascii=False,
            )
        )
    elif rows:
        click.echo(_table(headers, rows))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def _share(view: KeyView) -> str:
    return "" if view.share is None else f"{view.share:.0%}"


# A key's columns in the listings and reports, by header.
COLUMNS: dict[str, Callable[[KeyView], Any]] = {
    "id": lambda v: v.key.id,
    "tenant": lambda v: v.tenant_slug,
    "name": lambda v: v.key.name,
    "key": lambda v: v.display,
    "state": lambda v: v.state,
    "spent": lambda v: format_usd(v.spent_micros),
    "limit": lambda v: format_usd(v.key.limit_micros),
    "reset": lambda v: v.key.reset_period,
    "share": _share,
    "rpm": lambda v: v.key.rpm_limit or "",
    "tpm": lambda v: v.key.tpm_limit or "",
    "expires": lambda v: _when(v.key.expires_at),
    "metadata": lambda v: json.dumps(v.key.key_metadata) if v.key.key_metadata else "",
}


def _cells(view: KeyView, headers: Sequence[str]) -> list[Any]:
    return [COLUMNS[h](view) for h in headers]


FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
TENANT = click.option("--tenant", "tenant_ref", help="Only this tenant (slug or id).")


@click.group("keys")
def keys() -> None:
    """Issued API keys: create, list, rotate, revoke, limits, usage reports, alerts."""


@keys.command("create")
@click.option("--tenant", "tenant_ref", required=True, help="The tenant's slug or id.")
@click.option(
    "--name", required=True, help="e.g. prod-api-resolver-202611 ({env}-{service}-{purpose}-{yyyymm})."
)
@click.option("--limit", "limit_usd", help="Spend limit in USD, e.g. 5.00 (default: the plan's, or none).")
@click.option("--reset", "reset_period", type=click.Choice(RESET_PERIODS), help="Limit reset period.")
@click.option("--plan", type=click.Choice(PLANS), help="Take limit and reset from a plan.")
@click.option("--expires", "expires_in", help="Lifetime, e.g. 90d or 12w.")
@click.option("--metadata", help='JSON object, e.g. \'{"env": "prod", "service": "api"}\'.')
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPES),
    help="Repeat; default inference (calls through the gateway) alone.",
)
@click.option("--model", "models", multiple=True, help="Allowed model (repeat); default every enabled model.")
@click.option("--rpm", "rpm_limit", metavar="N", help="Gateway requests per minute (default: no limit).")
@click.option("--tpm", "tpm_limit", metavar="N", help="Gateway tokens per minute (default: no limit).")
def create(
    tenant_ref: str,
    name: str,
    limit_usd: str | None,
    reset_period: str | None,
    plan: str | None,
    expires_in: str | None,
    metadata: str | None,
    scopes: tuple[str, ...],
    models: tuple[str, ...],
    rpm_limit: str | None,
    tpm_limit: str | None,
) -> None:
    """Create a key and print it, alone, on standard output (it is never shown again)."""

    async def work(db: AsyncSession, settings: Settings) -> tuple[Any, str]:
        tenant = await _tenant(db, tenant_ref)
        assert tenant is not None
        return await services.create_key(
            db,
            settings,
            _actor(),
            tenant,
            name=name,
            scopes=scopes or None,
            allowed_models=models,
            limit_usd=limit_usd,
            reset_period=reset_period,
            plan=plan,
            expires_in=expires_in,
            metadata=metadata,
            rpm_limit=rpm_limit,
            tpm_limit=tpm_limit,
        )

    key, secret = run_published(work)
    click.echo(secret)
    click.echo(f"Created API key {key.id} ({key.prefix}…{key.last_four}); it is not shown again.", err=True)


def _cleared(value: str) -> str | None:
    """'none' (any case) clears a limit."""
    return None if value.strip().lower() == "none" else value


@keys.command("update")
@click.argument("key_id")
@click.option("--name", help="A new name.")
@click.option("--limit", "limit_usd", metavar="USD|none", help="Spend limit in USD, or none.")
@click.option("--reset", "reset_period", type=click.Choice(RESET_PERIODS), help="Limit reset period.")
@click.option("--rpm", "rpm_limit", metavar="N|none", help="Gateway requests per minute, or none.")
@click.option("--tpm", "tpm_limit", metavar="N|none", help="Gateway tokens per minute, or none.")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(SCOPES), help="Repeat: the new scopes.")
@click.option("--model", "models", multiple=True, help="Repeat: the new allowed models.")
@click.option("--metadata", help="A JSON object that replaces the metadata.")
def update(
    key_id: str,
    name: str | None,
    limit_usd: str | None,
    reset_period: str | None,
    rpm_limit: str | None,
    tpm_limit: str | None,
    scopes: tuple[str, ...],
    models: tuple[str, ...],
    metadata: str | None,
) -> None:
    """Change a key's terms: only the options given change."""
    given: dict[str, Any] = {
        "name": name,
        "limit_usd": limit_usd,
        "reset_period": reset_period,
        "rpm_limit": rpm_limit,
        "tpm_limit": tpm_limit,
        "scopes": list(scopes) or None,
        "allowed_models": list(models) or None,
        "metadata": metadata,
    }
    clearable = {"limit_usd", "rpm_limit", "tpm_limit"}
    changes = {k: _cleared(v) if k in clearable else v for k, v in given.items() if v is not None}
    if not changes:
        raise click.UsageError("Nothing to change: give at least one option (see --help).")

    async def work(db: AsyncSession, _settings: Settings) -> Any:
        key = await find_key(db, key_id)
        tenant = await db.get_one(Tenant, key.tenant_id)
        return await services.update_key(db, _actor(), tenant, key, changes)

    key = run_published(work)
    limits = f"rpm {key.rpm_limit or 'no limit'}, tpm {key.tpm_limit or 'no limit'}"
    click.echo(f"Updated {key.id} ({key.name}): {format_usd(key.limit_micros)}, {limits}.")


@keys.command("list")
@TENANT
@click.option("--name", default="", help="Name contains.")
@click.option("--state", type=click.Choice(STATES), help="Only keys in this state.")
@click.option("--metadata", "metadata", multiple=True, help="key=value the metadata must hold (repeat).")
@FORMAT
def list_keys(
    tenant_ref: str | None, name: str, state: str | None, metadata: tuple[str, ...], fmt: str
) -> None:
    """List keys (never their secrets): id, tenant, name, key, state, spend, limits, expiry."""

    async def work(db: AsyncSession, _settings: Settings) -> list[KeyView]:
        filters = KeyFilter.of(name, state or "", metadata)
        return await queries.list_keys(db, await _tenant(db, tenant_ref), now=utcnow(), filters=filters)

    views = run_published(work)
    headers = ["id", "tenant", "name", "key", "state", "spent", "limit", "reset", "rpm", "tpm", "expires"]
    headers.append("metadata")
    rows = [_cells(v, headers) for v in views]
    _emit(headers, rows, fmt)
    if fmt == "table":
        click.echo(f"{len(rows)} key(s).", err=True)


@keys.command("revoke")
@click.argument("key_id")
def revoke(key_id: str) -> None:
    """Revoke a key at once."""

    async def work(db: AsyncSession, _settings: Settings) -> Any:
        return await services.revoke_key(db, _actor(), await find_key(db, key_id))

    key = run_published(work)
    click.echo(f"Revoked {key.id} ({key.name}, {key.prefix}…{key.last_four}).")


@keys.command("rotate")
@click.argument("key_id")
@click.option(
    "--grace", default="24h", show_default=True, help="How long the old key keeps working (e.g. 1h, 7d)."
)
def rotate(key_id: str, grace: str) -> None:
    """Replace a key; print the new one alone on standard output. The old one stops after the grace."""

    async def work(db: AsyncSession, settings: Settings) -> tuple[Any, Any, str]:
        key = await find_key(db, key_id)
        tenant = await db.get_one(Tenant, key.tenant_id)
        new, secret = await services.rotate_key(db, settings, _actor(), tenant, key, grace)
        return key, new, secret

    old, new, secret = run_published(work)
    click.echo(secret)
    click.echo(
        f"Rotated {old.id}: the new key is {new.id} ({new.prefix}…{new.last_four}); "
        f"the old one works until {_when(old.grace_ends_at)} UTC.",
        err=True,
    )


@keys.command("increase-limit")
@click.argument("key_id")
@click.argument("amount")
def increase_limit(key_id: str, amount: str) -> None:
    """Raise a key's spend limit by AMOUNT US dollars."""

    async def work(db: AsyncSession, _settings: Settings) -> tuple[int | None, Any]:
        key = await find_key(db, key_id)
        before = key.limit_micros
        return before, await services.increase_limit(db, _actor(), key, amount)

    before, key = run_published(work)
    click.echo(f"Limit of {key.name} ({key.id}): {format_usd(before)} -> {format_usd(key.limit_micros)}.")


@keys.command("disable")
@click.argument("key_id")
def disable(key_id: str) -> None:
    """Refuse a key until it is enabled again."""
    _toggle(key_id, True)


@keys.command("enable")
@click.argument("key_id")
def enable(key_id: str) -> None:
    """Accept a disabled key again."""
    _toggle(key_id, False)


def _toggle(key_id: str, disabled: bool) -> None:

    async def work(db: AsyncSession, _settings: Settings) -> Any:
        key = await find_key(db, key_id)
        tenant = await db.get_one(Tenant, key.tenant_id)
        return await services.set_disabled(db, _actor(), tenant, key, disabled)

    key = run_published(work)
    click.echo(f"{'Disabled' if disabled else 'Enabled'} {key.id} ({key.name}).")


@keys.command("revoke-all")
@click.option(
    "--older-than", "older_than_text", required=True, help="Age, e.g. 90d: revoke keys created before then."
)
@TENANT
@click.option("--dry-run", is_flag=True, help="Only list the keys that would be revoked.")
def revoke_all(older_than_text: str, tenant_ref: str | None, dry_run: bool) -> None:
    """Revoke every unrevoked key older than the given age."""

    async def work(db: AsyncSession, _settings: Settings) -> list[Any]:
        tenant = await _tenant(db, tenant_ref)
        if dry_run:
            now = utcnow()
            age = check_duration(older_than_text, "older_than")
            return [v.key for v in older_than(await queries.list_keys(db, tenant, now=now), now, age)]
        return await services.revoke_older_than(db, _actor(), older_than_text, tenant=tenant)

    revoked = run_published(work)
    for key in revoked:
        click.echo(f"{key.id}  {key.name}  {key.prefix}…{key.last_four}  created {_when(key.created_at)}")
    verb = "Would revoke" if dry_run else "Revoked"
    click.echo(f"{verb} {len(revoked)} key(s) older than {older_than_text}.", err=True)


@keys.command("health-check")
@TENANT
@FORMAT
def health_check(tenant_ref: str | None, fmt: str) -> None:
    """Every unrevoked key: state, spend, limit, expiry and what needs attention."""

    async def work(db: AsyncSession, _settings: Settings) -> list[list[Any]]:
        now = utcnow()
        tenant = await _tenant(db, tenant_ref)
        views = in_use(await queries.list_keys(db, tenant, now=now))
        statuses = dict((await db.execute(select(Tenant.id, Tenant.status))).all())
        last = await last_used(db, [v.key.lineage_id for v in views])
        return [
            [
                *_cells(v, ["id", "tenant", "name", "key", "state", "spent", "limit", "share"]),
                _when(v.key.expires_at) or "never",
                "; ".join(problems_of(v, now, last.get(v.key.lineage_id), statuses.get(v.key.tenant_id, "")))
                or "ok",
            ]
            for v in views
        ]

    rows = run_published(work)
    headers = ["id", "tenant", "name", "key", "state", "spent", "limit", "share", "expires", "problems"]
    _emit(headers, rows, fmt)
    if fmt == "table":
        flagged = sum(1 for r in rows if r[-1] != "ok")
        click.echo(f"{len(rows)} key(s), {flagged} with problems.", err=True)


@keys.command("usage-report")
@click.option("--period", type=click.Choice(["yesterday", "7d", "30d"]), default="7d", show_default=True)
@TENANT
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
def usage_report(period: str, tenant_ref: str | None, fmt: str) -> None:
    """Requests, tokens and cost per key over a period (UTC days)."""

    async def work(db: AsyncSession, _settings: Settings) -> tuple[datetime, datetime, list[Any]]:
        since, until = usage.report_window(period, utcnow())
        return since, until, await usage.usage_report(db, since, until, tenant=await _tenant(db, tenant_ref))

    since, until, report = run_published(work)
    headers = ["tenant", "key_id", "name", "key", "requests", "input_tokens", "output_tokens", "cost_usd"]
    rows = [
        [
            r.tenant,
            r.key_id,
            r.key_name,
            r.key,
            r.requests,
            r.input_tokens,
            r.output_tokens,
            f"{r.cost_micros / 1e6:.6f}",
        ]
        for r in report
    ]
    _emit(headers, rows, fmt)
    if fmt == "table":
        total = sum(r.cost_micros for r in report)
        click.echo(
            f"{_when(since)} to {_when(until)} UTC: {len(rows)} key(s), {format_usd(total)} in total.",
            err=True,
        )


def _percentage(value: str) -> float:
    raw = value.strip().removesuffix("%")
    try:
        number = float(raw)
    except ValueError as exc:
        raise click.BadParameter("a percentage such as 80%") from exc
    if not 0 < number <= 1000:
        raise click.BadParameter("a percentage between 0 and 1000, e.g. 80%")
    return number / 100


@keys.command("alert-if-over")
@click.argument("threshold")
@TENANT
def alert_if_over(threshold: str, tenant_ref: str | None) -> None:
    """List keys at or over THRESHOLD of their limit (say 80%); exit 1 when there is any."""

    share = _percentage(threshold)

    async def work(db: AsyncSession, _settings: Settings) -> list[KeyView]:
        views = await queries.list_keys(db, await _tenant(db, tenant_ref), now=utcnow())
        return [v for v in views if v.usable and v.share is not None and v.share >= share]

    over = run_published(work)
    headers = ["id", "tenant", "name", "key", "spent", "limit", "share"]
    rows = [_cells(v, headers) for v in over]
    if rows:
        click.echo(_table(headers, rows))
        click.echo(f"{len(rows)} key(s) at or over {threshold}.", err=True)
        sys.exit(1)
    click.echo(f"No key is at or over {threshold} of its limit.", err=True)


@keys.command("forecast")
@TENANT
@FORMAT
def forecast(tenant_ref: str | None, fmt: str) -> None:
    """Per key with a limit: when it reaches the limit at its rate over the last seven days."""

    async def work(db: AsyncSession, _settings: Settings) -> list[Forecast]:
        now = utcnow()
        tenant = await _tenant(db, tenant_ref)
        views = [v for v in await queries.list_keys(db, tenant, now=now) if v.usable and v.key.limit_micros]
        return await forecasts(db, views, now)

    result = run_published(work)
    rows = [
        [
            f.view.key.id,
            f.view.tenant_slug,
            f.view.key.name,
            format_usd(f.view.spent_micros),
            format_usd(f.view.key.limit_micros),
            f"{format_usd(int(f.rate_micros_per_day))}/day",
            f.reaches_at.isoformat(timespec="minutes") if f.reaches_at else "",
            f.note,
        ]
        for f in result
    ]
    _emit(["id", "tenant", "name", "spent", "limit", "rate", "reaches_limit_at", "note"], rows, fmt)
    if fmt == "table" and not rows:
        click.echo("No usable key with a limit.", err=True)
