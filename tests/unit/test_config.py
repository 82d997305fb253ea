from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from portal.config import ConfigError, load_settings

GOOD = {
    "ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "SESSION_SECRET": "s" * 40,
    "API_KEY_SECRET": "k" * 40,
}


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    return info.value.problems


def test_defaults_use_sqlite_under_var():
    settings = load_settings(GOOD)
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.database_url.endswith("var/portal.db")
    assert settings.tenant_credentials_enabled is False


def test_missing_key_says_how_to_make_one():
    found = problems({"SESSION_SECRET": "s" * 40, "API_KEY_SECRET": "k" * 40})
    assert found == ["ENCRYPTION_KEY: not set; make one with: portal generate-encryption-key"]


def test_every_problem_gets_its_own_line():
    found = problems(
        {
            "ENCRYPTION_KEY": "not-a-key",
            "ENCRYPTION_KEY_PREVIOUS": f"{Fernet.generate_key().decode()},bad",
            "SESSION_SECRET": "short",
            "TENANT_CREDENTIALS_ENABLED": "maybe",
            "DATABASE_URL": "mysql://x",
            "REDIS_URL": "http://x",
            "SUPER_API_KEY": "tiny",
        }
    )
    names = [line.split(":", 1)[0] for line in found]
    assert names == [
        "DATABASE_URL",
        "ENCRYPTION_KEY",
        "ENCRYPTION_KEY_PREVIOUS",
        "SESSION_SECRET",
        "API_KEY_SECRET",
        "SUPER_API_KEY",
        "TENANT_CREDENTIALS_ENABLED",
        "REDIS_URL",
    ]
    assert "key #2" in found[2]


def test_settings_never_print_secrets():
    settings = load_settings({**GOOD, "SUPER_API_KEY": "x" * 20, "DATABASE_URL": "postgresql://u:pw@h/db"})
    assert GOOD["ENCRYPTION_KEY"] not in repr(settings)
    assert "pw" not in repr(settings)
    assert settings.database_url.startswith("postgresql+asyncpg://")


@pytest.mark.parametrize("word", ["true", "1", "yes", "on", "TRUE"])
def test_strict_mode_flag(word):
    assert load_settings({**GOOD, "TENANT_CREDENTIALS_ENABLED": word}).strict_credentials


def test_outbound_allow_is_parsed():
    settings = load_settings({**GOOD, "OUTBOUND_ALLOW": "10.0.0.0/8, vllm.internal"})
    assert str(settings.outbound_allow) == "10.0.0.0/8,vllm.internal"
    assert str(load_settings(GOOD).outbound_allow) == ""


def test_a_bad_outbound_allow_entry_is_named():
    found = problems({**GOOD, "OUTBOUND_ALLOW": "127.0.0.1,10.0.0.1/8,*.internal"})
    assert len(found) == 2
    assert found[0].startswith("OUTBOUND_ALLOW: '10.0.0.1/8' is not allowed (10.0.0.1/8 has host bits set)")
    assert found[1].startswith("OUTBOUND_ALLOW: '*.internal' is not allowed; list CIDRs (10.0.0.0/8")


def test_https_is_derived_from_public_url():
    assert load_settings({**GOOD, "PUBLIC_URL": "https://portal.example.com"}).https is True
    assert load_settings({**GOOD, "PUBLIC_URL": "http://127.0.0.1:8000"}).https is False
    assert load_settings(GOOD).https is False


def test_secure_cookies_is_gone_and_refused_where_it_would_silently_mean_less():
    (found,) = problems({**GOOD, "SECURE_COOKIES": "true", "PUBLIC_URL": "http://portal.example.com"})
    assert found.startswith("SECURE_COOKIES: no longer used")
    assert "PUBLIC_URL" in found
    # Harmless leftovers are accepted: an https PUBLIC_URL already makes the cookies Secure.
    assert load_settings({**GOOD, "SECURE_COOKIES": "true", "PUBLIC_URL": "https://p.example.com"}).https
    assert not load_settings({**GOOD, "SECURE_COOKIES": "false"}).https
