"""Settings read from environment variables and validated once, at start."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from portal.crypto.keyring import is_master_key
from portal.net.egress import OutboundAllow, parse_outbound_allow
from portal.tenant_configs import (
    TenantConfig,
    TenantConfigError,
    check_default_tenant_id,
    parse_tenant_configs,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
KEYGEN_HINT = "make one with: portal generate-encryption-key"
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
MFA_MODES = ("required", "optional")


class ConfigError(Exception):
    """One or more settings are wrong; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    database_url: str
    encryption_key: str
    encryption_key_previous: tuple[str, ...]
    session_secret: str
    super_api_key: str | None = None
    # HMAC key for issued API keys: they are stored only as HMAC-SHA256(api_key_secret, key).
    api_key_secret: str = field(default="", repr=False)
    tenant_credentials_enabled: bool = False
    redis_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    var_dir: Path = REPO_ROOT / "var"
    provider_test_timeout: float = 5.0
    # The gateway's upstream calls: seconds to connect, and to the first byte of the answer (and
    # between two chunks of a stream).
    gateway_connect_timeout: float = 5.0
    gateway_first_byte_timeout: float = 60.0
    invitation_ttl_days: int = 7
    # smtp[s]://user:pass@host:port[?starttls=true]; unset: invitation links are shown to the inviter.
    smtp_url: str | None = field(default=None, repr=False)
    smtp_from: str = "llm-portal@localhost"
    # Tenants (and their OIDC settings) from TENANT_CONFIGS, imported at start; DEFAULT_TENANT_ID's slug.
    tenant_configs: tuple[TenantConfig, ...] = field(default=(), repr=False)
    default_tenant_id: str | None = None
    # What calls to tenant-chosen URLs may reach beyond public addresses (portal.net.egress).
    outbound_allow: OutboundAllow = field(default_factory=OutboundAllow)
    # "required": platform admins enrol a second factor at their first sign-in; "optional": they may.
    platform_admin_mfa: str = "required"
    # The raw environment, for the providers' conventional variables (OPENAI_API_KEY…).
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def redis_prefix(self, purpose: str) -> str:
        """Redis keys and channels of the processes that share this database (and only those): two
        portals, or two test runs, on one Redis never see each other's."""
        return f"portal:{purpose}:" + hashlib.sha256(self.database_url.encode()).hexdigest()[:16]

    @property
    def https(self) -> bool:
        """Served over https: cookies are Secure and __Host- prefixed, and HSTS is sent."""
        return self.public_url.startswith("https://")

    @property
    def strict_credentials(self) -> bool:
        return self.tenant_credentials_enabled

    def __repr__(self) -> str:  # never print secrets
        return f"Settings(database_url={_redact_url(self.database_url)!r}, ...)"


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def _parse_bool(name: str, raw: str | None, default: bool, problems: list[str]) -> bool:
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    problems.append(f"{name}: expected true or false, got {raw!r}")
    return default


def _seconds(name: str, raw: str | None, default: float, most: float, problems: list[str]) -> float:
    """A positive number of seconds up to `most`; the default when unset."""
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
        if not 0 < value <= most:
            raise ValueError
    except ValueError:
        problems.append(f"{name}: seconds, more than 0 and at most {most:g}, e.g. {default:g}")
        return default
    return value


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:  # noqa: C901 (one table: a check per setting, each independent)
    """Read and check every setting; raise ConfigError naming each problem and its fix."""
    env = dict(os.environ if environ is None else environ)
    problems: list[str] = []
    var_dir = Path(env.get("PORTAL_VAR_DIR") or REPO_ROOT / "var")

    database_url = env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{var_dir / 'portal.db'}"
    if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
        database_url = "postgresql+asyncpg://" + database_url.split("://", 1)[1]
    if not (
        database_url.startswith("sqlite+aiosqlite://") or database_url.startswith("postgresql+asyncpg://")
    ):
        problems.append(
            "DATABASE_URL: use sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user@host/db"
        )

    encryption_key = (env.get("ENCRYPTION_KEY") or "").strip()
    if not encryption_key:
        problems.append(f"ENCRYPTION_KEY: not set; {KEYGEN_HINT}")
    elif not is_master_key(encryption_key):
        problems.append(f"ENCRYPTION_KEY: not a valid Fernet key; {KEYGEN_HINT}")

    previous = tuple(k.strip() for k in (env.get("ENCRYPTION_KEY_PREVIOUS") or "").split(",") if k.strip())
    for position, key in enumerate(previous, start=1):
        if not is_master_key(key):
            problems.append(f"ENCRYPTION_KEY_PREVIOUS: key #{position} is not a valid Fernet key")

    session_secret = (env.get("SESSION_SECRET") or "").strip()
    if len(session_secret) < 32:
        problems.append(
            "SESSION_SECRET: set at least 32 random characters, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )

    api_key_secret = (env.get("API_KEY_SECRET") or "").strip()
    if len(api_key_secret) < 32:
        problems.append(
            "API_KEY_SECRET: set at least 32 random characters (it keys the hashes of issued API keys; "
            "changing it invalidates them all), e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )

    super_api_key = (env.get("SUPER_API_KEY") or "").strip() or None
    if super_api_key is not None and len(super_api_key) < 16:
        problems.append("SUPER_API_KEY: use at least 16 characters (or leave it unset to disable)")

    strict = _parse_bool("TENANT_CREDENTIALS_ENABLED", env.get("TENANT_CREDENTIALS_ENABLED"), False, problems)

    redis_url = (env.get("REDIS_URL") or "").strip() or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        problems.append("REDIS_URL: use redis://host:6379/0 (or rediss:// / unix://)")

    public_url = (env.get("PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/")
    if urlsplit(public_url).scheme not in {"http", "https"} or not urlsplit(public_url).netloc:
        problems.append("PUBLIC_URL: use an absolute http(s) URL such as https://portal.example.com")
    # SECURE_COOKIES is gone: an https PUBLIC_URL makes the cookies Secure. Refuse the one value that
    # would now silently mean less than the operator asked for.
    wants_secure = _parse_bool("SECURE_COOKIES", env.get("SECURE_COOKIES"), False, problems)
    if wants_secure and not public_url.startswith("https://"):
        problems.append(
            "SECURE_COOKIES: no longer used; cookies are Secure (and __Host- prefixed) when PUBLIC_URL is "
            "https. Set PUBLIC_URL to the https address people use, and remove SECURE_COOKIES"
        )

    timeout = 5.0
    if raw_timeout := env.get("PROVIDER_TEST_TIMEOUT"):
        try:
            timeout = float(raw_timeout)
            if not 0 < timeout <= 60:
                raise ValueError
        except ValueError:
            problems.append("PROVIDER_TEST_TIMEOUT: seconds between 0 and 60, e.g. 5")

    gateway_connect_timeout = _seconds(
        "GATEWAY_CONNECT_TIMEOUT", env.get("GATEWAY_CONNECT_TIMEOUT"), 5.0, 60, problems
    )
    gateway_first_byte_timeout = _seconds(
        "GATEWAY_FIRST_BYTE_TIMEOUT", env.get("GATEWAY_FIRST_BYTE_TIMEOUT"), 60.0, 3600, problems
    )

    invitation_ttl_days = 7
    if raw_ttl := env.get("INVITATION_TTL_DAYS"):
        try:
            invitation_ttl_days = int(raw_ttl)
            if not 1 <= invitation_ttl_days <= 365:
                raise ValueError
        except ValueError:
            problems.append("INVITATION_TTL_DAYS: whole days between 1 and 365, e.g. 7")

    smtp_url = (env.get("SMTP_URL") or "").strip() or None
    if smtp_url:
        smtp = urlsplit(smtp_url)
        if smtp.scheme not in {"smtp", "smtps"} or not smtp.hostname:
            problems.append("SMTP_URL: use smtp://user:password@host:587?starttls=true (or smtps://host:465)")
    smtp_from = (
        env.get("SMTP_FROM") or ""
    ).strip() or f"llm-portal@{urlsplit(public_url).hostname or 'localhost'}"

    tenant_configs: tuple[TenantConfig, ...] = ()
    try:
        tenant_configs = parse_tenant_configs(env.get("TENANT_CONFIGS"))
    except TenantConfigError as exc:
        problems.extend(exc.problems)
    default_tenant_id, default_problem = check_default_tenant_id(env.get("DEFAULT_TENANT_ID"))
    if default_problem:
        problems.append(default_problem)

    outbound_allow, allow_problems = parse_outbound_allow(env.get("OUTBOUND_ALLOW"))
    problems.extend(allow_problems)
    platform_admin_mfa = (env.get("PLATFORM_ADMIN_MFA") or "required").strip().lower()
    if platform_admin_mfa not in MFA_MODES:
        problems.append("PLATFORM_ADMIN_MFA: use required (the default) or optional")

    if problems:
        raise ConfigError(problems)
    return Settings(
        database_url=database_url,
        encryption_key=encryption_key,
        encryption_key_previous=previous,
        session_secret=session_secret,
        super_api_key=super_api_key,
        api_key_secret=api_key_secret,
        tenant_credentials_enabled=strict,
        redis_url=redis_url,
        public_url=public_url,
        var_dir=var_dir,
        provider_test_timeout=timeout,
        gateway_connect_timeout=gateway_connect_timeout,
        gateway_first_byte_timeout=gateway_first_byte_timeout,
        invitation_ttl_days=invitation_ttl_days,
        smtp_url=smtp_url,
        smtp_from=smtp_from,
        tenant_configs=tenant_configs,
        default_tenant_id=default_tenant_id,
        outbound_allow=outbound_allow,
        platform_admin_mfa=platform_admin_mfa,
        environ=env,
    )
