"""Where a provider is reached: its base URL. (Which credential applies: portal.credentials.effective.)"""

from __future__ import annotations

from collections.abc import Mapping

from portal.catalog.spec import ProviderSpec


def base_url_for(spec: ProviderSpec, environ: Mapping[str, str], fallback: str | None) -> str | None:
    """The provider's base URL: the environment's override, else the catalogue's or the row's."""
    if spec.base_url_env and environ.get(spec.base_url_env, "").strip():
        return environ[spec.base_url_env].strip().rstrip("/")
    return (fallback or spec.base_url or "").rstrip("/") or None
