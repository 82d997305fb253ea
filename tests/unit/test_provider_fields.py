from __future__ import annotations

import pytest

from portal.catalog.spec import builtin_specs, check_url
from portal.credentials.services import check_values
from portal.errors import InvalidInput

AZURE = {
    "api_key": "  az-key-0123456789abcdef  ",
    "endpoint": "https://acme.openai.azure.com",
    "api_version": "2024-10-21",
    "deployment_name": "gpt-4o-prod",
}


def test_builtin_catalogue_has_the_required_providers():
    names = set(builtin_specs())
    assert {"openai", "anthropic", "mistral", "berget", "ovhcloud", "gemini", "xai", "openrouter"} <= names
    assert [f.name for f in builtin_specs()["azure"].fields] == [
        "api_key",
        "endpoint",
        "api_version",
        "deployment_name",
    ]


def test_values_are_trimmed_and_split_into_secret_and_config():
    checked = check_values(builtin_specs()["azure"], AZURE, strict=False)
    assert checked.secrets == {"api_key": "az-key-0123456789abcdef"}
    assert checked.config["endpoint"] == "https://acme.openai.azure.com"
    assert "api_key" not in checked.config


def test_azure_names_every_missing_field():
    with pytest.raises(InvalidInput) as info:
        check_values(builtin_specs()["azure"], {"api_key": AZURE["api_key"]}, strict=False)
    assert set(info.value.errors) == {"endpoint", "api_version", "deployment_name"}
    assert "endpoint" in info.value.message


def test_vllm_key_is_optional_only_in_shared_mode():
    spec = builtin_specs()["vllm"]
    check_values(spec, {"endpoint": "http://vllm.internal:8000/v1"}, strict=False)
    with pytest.raises(InvalidInput) as info:
        check_values(spec, {}, strict=True)
    assert set(info.value.errors) == {"api_key", "endpoint"}


@pytest.mark.parametrize(
    ("url", "https_only", "problem"),
    [
        ("ftp://x.example.com", False, "must start with https://"),
        ("https://", False, "host name"),
        ("http://acme.openai.azure.com", True, "must use https://"),
        ("https://user:pw@x.example.com", False, "user name"),
        ("https://x.example.com/?a=1", False, "query"),
    ],
)
def test_url_rules(url, https_only, problem):
    assert problem in (check_url(url, https_only=https_only) or "")


def test_http_is_allowed_on_loopback_for_https_only_fields():
    assert check_url("http://127.0.0.1:8001", https_only=True) is None


def test_short_key_and_unknown_fields_are_named():
    with pytest.raises(InvalidInput) as info:
        check_values(
            builtin_specs()["openai"], {"api_key": "short", "endpoint": "https://x.io"}, strict=False
        )
    assert set(info.value.errors) == {"api_key", "endpoint"}
    assert "unknown field" in info.value.errors["endpoint"]
