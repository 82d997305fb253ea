"""The rules of a tenant's identity provider settings: each field trimmed and checked, every problem
named beside its field (InvalidInput), before anything is written."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from portal.db.models import IdentityProvider
from portal.errors import InvalidInput
from portal.tenant_configs import (
    DEFAULT_SCOPES,
    normalise_scopes,
    redirect_url_problem,
    url_problem,
)

DOMAIN_PATTERN = r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
CLAIM_PATTERN = r"^[A-Za-z0-9_:./-]{1,100}$"
MAX_DOMAINS = 50
MAX_ADMIN_VALUES = 50


@dataclass
class FederationInput:
    """What a person or a script submits; `client_secret` None (or blank) keeps the stored one."""

    issuer: str = ""
    client_id: str = ""
    client_secret: str | None = field(default=None, repr=False)
    scopes: str | list[str] | None = None
    allowed_domains: str | list[str] | None = None
    role_claim: str = ""
    admin_values: str | list[str] | None = None
    jit_provisioning: bool = False
    enabled: bool = True
    redirect_url: str | None = None
    emails_verified: bool = False
    provider: str | None = None  # a label (Eneo's `provider`); None keeps the stored one


def _words(raw: str | list[str] | None) -> list[str]:
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else re.split(r"[\s,;]+", raw)
    return [w.strip() for w in items if isinstance(w, str) and w.strip()]


def check_domains(raw: str | list[str] | None) -> tuple[list[str], str | None]:
    domains = list(dict.fromkeys(d.lower().lstrip("@") for d in _words(raw)))
    bad = [d for d in domains if not re.fullmatch(DOMAIN_PATTERN, d)]
    if bad:
        return domains, f"not a domain name: {', '.join(bad[:3])} (write e.g. example.com, without @)"
    if len(domains) > MAX_DOMAINS:
        return domains, f"at most {MAX_DOMAINS} domains"
    return domains, None


@dataclass(frozen=True)
class CheckedInput:
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: str
    allowed_domains: list[str]
    role_mapping: dict[str, Any]
    jit_provisioning: bool
    enabled: bool
    redirect_url: str | None
    emails_verified: bool


def _client_errors(
    issuer: str, client_id: str, secret: str | None, has_stored_secret: bool, stored: IdentityProvider | None
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if issuer and not client_id:
        errors["client_id"] = "required when an issuer is given: the client id registered at the provider"
    elif len(client_id) > 255 or re.search(r"\s", client_id):
        errors["client_id"] = "at most 255 characters, without spaces"
    if issuer and secret is None and not has_stored_secret:
        errors["client_secret"] = "required when an issuer is given: the client secret the provider issued"
    elif secret is None and stored is not None and (stored.issuer, stored.client_id) != (issuer, client_id):
        # The stored secret was issued by the old provider for the old client: never send it elsewhere.
        errors["client_secret"] = (
            "enter the client secret again: the issuer or client id changed, and the stored secret "
            "belongs to the old one"
        )
    elif secret is not None and len(secret) > 2000:
        errors["client_secret"] = "at most 2000 characters"
    return errors


def _role_errors(claim: str, admin_values: list[str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if claim and not re.fullmatch(CLAIM_PATTERN, claim):
        errors["role_claim"] = "a claim name such as groups or roles (letters, digits, _ : . / -)"
    if admin_values and not claim:
        errors["role_claim"] = "name the claim that carries these values, e.g. groups"
    if claim and not admin_values:
        errors["admin_values"] = "the claim values that make someone a tenant admin, e.g. portal-admins"
    elif len(admin_values) > MAX_ADMIN_VALUES or any(len(v) > 200 for v in admin_values):
        errors["admin_values"] = f"at most {MAX_ADMIN_VALUES} values of up to 200 characters"
    return errors


def check_input(
    data: FederationInput, *, has_stored_secret: bool, stored: IdentityProvider | None = None
) -> CheckedInput:
    """Trim and check every field; InvalidInput names each problem beside its field."""
    errors: dict[str, str] = {}
    issuer = (data.issuer or "").strip()
    client_id = (data.client_id or "").strip()
    secret = (data.client_secret or "").strip() or None
    if not issuer:
        errors["issuer"] = (
            "required: the provider's issuer URL, e.g. https://login.example.com/realms/acme "
            "(to turn single sign-on off, untick Enabled or delete the settings)"
        )
    elif problem := url_problem(issuer, what="issuer URL", issuer=True):
        errors["issuer"] = problem
    errors |= _client_errors(issuer, client_id, secret, has_stored_secret, stored)
    scopes, scope_problem = normalise_scopes(data.scopes)
    if scope_problem:
        errors["scopes"] = scope_problem
    domains, domain_problem = check_domains(data.allowed_domains)
    if domain_problem:
        errors["allowed_domains"] = domain_problem
    claim = (data.role_claim or "").strip()
    admin_values = list(dict.fromkeys(_words(data.admin_values)))
    errors |= _role_errors(claim, admin_values)
    if data.jit_provisioning and not domains and "allowed_domains" not in errors:
        errors["allowed_domains"] = (
            "list the e-mail domains whose people may join by themselves (just-in-time provisioning)"
        )
    redirect = (data.redirect_url or "").strip() or None
    if redirect and (problem := redirect_url_problem(redirect)):
        errors["redirect_url"] = problem
    if errors:
        raise InvalidInput(errors)
    return CheckedInput(
        issuer=issuer,
        client_id=client_id,
        client_secret=secret,
        scopes=scopes or DEFAULT_SCOPES,
        allowed_domains=domains,
        role_mapping={"claim": claim, "admin_values": admin_values} if claim else {},
        jit_provisioning=bool(data.jit_provisioning),
        enabled=bool(data.enabled),
        redirect_url=redirect,
        emails_verified=bool(data.emails_verified),
    )
