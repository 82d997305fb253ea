"""TENANT_CONFIGS and DEFAULT_TENANT_ID: parsed and checked without touching the database.

A neutral module beside portal.config, which calls it while it validates the environment at
start: standard library only (portal.tenant_refs is too), so the settings import no feature. The
import itself (portal.identity.federation.tenant_import) and the SSO settings pages build on it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from portal.tenant_refs import UUID_SLUG_PROBLEM, looks_like_uuid

DEFAULT_SCOPES = "openid profile email"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{1,62}$"  # as portal.db.models.tenants
CALLBACK_PATH = "/auth/callback"
# Eneo's default callback path, served too, so an Eneo deployment's registered redirect URI keeps working.
ENEO_CALLBACK_PATH = "/login/callback"
CALLBACK_PATHS = (CALLBACK_PATH, ENEO_CALLBACK_PATH)
LOOPBACK_NAMES = {"localhost"}
OIDC_FIELDS = ("oidc_issuer", "oidc_client_id", "oidc_client_secret")
KNOWN_FIELDS = {
    "tenant_id",
    "name",
    "frontend_url",
    *OIDC_FIELDS,
    "oidc_redirect_url",
    "oidc_scopes",
}
NAME_MAX = 200


class TenantConfigError(ValueError):
    """TENANT_CONFIGS is wrong; `problems` names each entry and field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: str = DEFAULT_SCOPES
    redirect_url: str | None = None


@dataclass(frozen=True)
class TenantConfig:
    slug: str
    name: str
    frontend_url: str | None = None
    oidc: OidcConfig | None = None
    ignored_fields: tuple[str, ...] = ()


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(value: str, *, what: str = "URL", issuer: bool = False) -> str | None:
    """Why `value` is not an acceptable absolute URL (https, or http on loopback only); None if it is."""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return f"an absolute https:// {what}, e.g. https://login.example.com" + (
            "/realms/acme" if issuer else ""
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return "use https:// (plain http is accepted only on this machine: 127.0.0.1 or localhost)"
    if issuer and (parts.query or parts.fragment):
        return "an issuer has no query (?…) or fragment (#…)"
    if len(value) > 500:
        return "at most 500 characters"
    return None


def redirect_url_problem(value: str) -> str | None:
    if problem := url_problem(value, what="URL"):
        return problem
    if urlsplit(value).path not in CALLBACK_PATHS:
        return (
            f"must end in {CALLBACK_PATH}, this portal's sign-in callback (or {ENEO_CALLBACK_PATH}, Eneo's), "
            f"e.g. https://portal.example.com{CALLBACK_PATH}"
        )
    return None


def normalise_scopes(raw: Any) -> tuple[str, str | None]:
    """The scopes as one space-separated string (default when blank), and a problem if any."""
    if raw is None or raw == "" or raw == []:
        return DEFAULT_SCOPES, None
    if isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        words = [w for s in raw for w in s.split()]
    elif isinstance(raw, str):
        words = raw.replace(",", " ").split()
    else:
        return DEFAULT_SCOPES, "a space-separated string such as 'openid profile email'"
    unique = list(dict.fromkeys(words))
    if not unique:
        return DEFAULT_SCOPES, None
    if "openid" not in unique:
        return DEFAULT_SCOPES, "must include openid"
    if any(not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", w) for w in unique):
        return DEFAULT_SCOPES, "scope names are printable characters without spaces, quotes or backslashes"
    joined = " ".join(unique)
    if len(joined) > 500:
        return DEFAULT_SCOPES, "at most 500 characters"
    return joined, None


def _text(entry: dict[str, Any], name: str) -> str | None:
    value = entry.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(name)
    return value.strip() or None


def _check_entry(position: int, entry: Any) -> tuple[TenantConfig | None, list[str]]:
    where = f"TENANT_CONFIGS entry #{position}"
    if not isinstance(entry, dict):
        return None, [f"{where}: must be a JSON object with tenant_id and name"]
    raw_id = entry.get("tenant_id")
    if isinstance(raw_id, str) and raw_id.strip():
        where += f" (tenant_id {raw_id.strip()!r})"
    problems: list[str] = []
    values: dict[str, str | None] = {}
    not_text: set[str] = set()
    for name in sorted(KNOWN_FIELDS - {"oidc_scopes"}):
        try:
            values[name] = _text(entry, name)
        except TypeError:
            problems.append(f"{where}: {name}: must be a string")
            not_text.add(name)
            values[name] = None

    slug = (values["tenant_id"] or "").lower()
    name = values["name"] or ""
    problems += _tenant_problems(where, values, not_text, slug)
    given = [f for f in OIDC_FIELDS if values[f]]
    scopes, oidc_problems = _oidc_problems(where, entry, values, given)
    problems += oidc_problems
    if problems:
        return None, problems
    oidc: OidcConfig | None = None
    if len(given) == len(OIDC_FIELDS):
        oidc = OidcConfig(
            issuer=str(values["oidc_issuer"]),
            client_id=str(values["oidc_client_id"]),
            client_secret=str(values["oidc_client_secret"]),
            scopes=scopes,
            redirect_url=values["oidc_redirect_url"],
        )
    ignored = tuple(sorted(k for k in entry if k not in KNOWN_FIELDS))
    return TenantConfig(slug, str(name), values["frontend_url"], oidc, ignored), []


def _tenant_problems(where: str, values: dict[str, str | None], not_text: set[str], slug: str) -> list[str]:
    """What is wrong with the entry's tenant_id, name and frontend_url."""
    problems: list[str] = []
    if not values["tenant_id"] and "tenant_id" not in not_text:
        problems.append(f"{where}: tenant_id: required (it becomes the tenant's slug, e.g. acme)")
    elif values["tenant_id"] and not re.fullmatch(SLUG_PATTERN, slug):
        problems.append(
            f"{where}: tenant_id: 2 to 63 characters: lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit"
        )
    elif values["tenant_id"] and looks_like_uuid(slug):
        problems.append(f"{where}: tenant_id: {UUID_SLUG_PROBLEM}")
    name = values["name"] or ""
    if not name and "name" not in not_text:
        problems.append(f"{where}: name: required (the organisation's display name)")
    elif name and len(name) > NAME_MAX:
        problems.append(f"{where}: name: at most {NAME_MAX} characters")
    if values["frontend_url"] and (problem := url_problem(values["frontend_url"])):
        problems.append(f"{where}: frontend_url: {problem}")

    return problems


def _oidc_problems(
    where: str, entry: dict[str, Any], values: dict[str, str | None], given: list[str]
) -> tuple[str, list[str]]:
    """The entry's OIDC scopes, and what is wrong with its OIDC settings (all or nothing)."""
    problems: list[str] = []
    scopes, scope_problem = normalise_scopes(entry.get("oidc_scopes"))
    if given and len(given) < len(OIDC_FIELDS):
        for missing in (f for f in OIDC_FIELDS if not values[f]):
            problems.append(
                f"{where}: {missing}: required when {', '.join(given)} "
                f"{'is' if len(given) == 1 else 'are'} given (OIDC settings are all or nothing)"
            )
    if not given:
        for extra in ("oidc_redirect_url", "oidc_scopes"):
            if entry.get(extra) not in (None, "", []):
                problems.append(
                    f"{where}: {extra}: given without oidc_issuer, oidc_client_id and oidc_client_secret"
                )
    if values["oidc_issuer"] and (
        problem := url_problem(values["oidc_issuer"], what="issuer URL", issuer=True)
    ):
        problems.append(f"{where}: oidc_issuer: {problem}")
    if values["oidc_redirect_url"] and (problem := redirect_url_problem(values["oidc_redirect_url"])):
        problems.append(f"{where}: oidc_redirect_url: {problem}")
    if scope_problem:
        problems.append(f"{where}: oidc_scopes: {scope_problem}")
    if values["oidc_client_id"] and len(values["oidc_client_id"]) > 255:
        problems.append(f"{where}: oidc_client_id: at most 255 characters")
    return scopes, problems


def parse_tenant_configs(raw: str | None) -> tuple[TenantConfig, ...]:
    """The tenants described by TENANT_CONFIGS (a JSON array); TenantConfigError names every problem."""
    if raw is None or not raw.strip():
        return ()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise TenantConfigError(
            [f"TENANT_CONFIGS: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"]
        ) from None
    if not isinstance(data, list):
        raise TenantConfigError(
            ["TENANT_CONFIGS: must be a JSON array of tenant objects, e.g. [{...}, {...}]"]
        )
    problems: list[str] = []
    tenants: list[TenantConfig] = []
    first_seen: dict[str, int] = {}
    for position, entry in enumerate(data, start=1):
        tenant, found = _check_entry(position, entry)
        problems.extend(found)
        if tenant is None:
            continue
        if tenant.slug in first_seen:
            given = str(entry["tenant_id"]).strip()
            problems.append(
                f"TENANT_CONFIGS entry #{position} (tenant_id {given!r}): tenant_id: "
                f"used already by entry #{first_seen[tenant.slug]}; each tenant_id must be unique"
            )
            continue
        first_seen[tenant.slug] = position
        tenants.append(tenant)
    if problems:
        raise TenantConfigError(problems)
    return tuple(tenants)


def check_default_tenant_id(raw: str | None) -> tuple[str | None, str | None]:
    """DEFAULT_TENANT_ID as a slug, and a problem if it cannot be one."""
    value = (raw or "").strip().lower()
    if not value:
        return None, None
    if not re.fullmatch(SLUG_PATTERN, value) or looks_like_uuid(value):
        return None, "DEFAULT_TENANT_ID: a tenant's slug (its tenant_id), e.g. acme"
    return value, None
