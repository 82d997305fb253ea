"""Swagger UI at /schema, from the copy vendored under static/ (npm swagger-ui-dist), started by a
static script: no CDN, no inline script or style, so the Content-Security-Policy holds there too."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.utils.empty import value_or_default
from litestar.utils.scope.state import ScopeState
from markupsafe import escape

SWAGGER_UI_VERSION = "5.35.0"
ASSETS = f"/static/vendor/swagger-ui-{SWAGGER_UI_VERSION}"


class VendoredSwaggerUI(SwaggerRenderPlugin):
    def __init__(self) -> None:
        super().__init__(
            js_url=f"{ASSETS}/swagger-ui-bundle.js",
            css_url=f"{ASSETS}/swagger-ui.css",
            standalone_preset_js_url="",
            favicon="",
            style="",
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        token = value_or_default(ScopeState.from_scope(request.scope).csrf_token, "")
        schema_path = request.app.openapi_config.path if request.app.openapi_config else "/schema"
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{escape(openapi_schema["info"]["title"])}</title>
  <meta name="openapi-url" content="{escape(schema_path)}/openapi.json">
  <meta name="csrf-token" content="{escape(token)}">
  <link rel="stylesheet" href="{self.css_url}">
  <script src="{self.js_url}" defer></script>
  <script src="/static/swagger-init.js" defer></script>
</head>
<body><div id="swagger-ui"></div></body>
</html>""".encode()

    @staticmethod
    def render_oauth2_redirect() -> bytes:
        return f"""<!DOCTYPE html>
<html lang="en"><head><title>Swagger UI: OAuth2 redirect</title></head>
<body><script src="{ASSETS}/oauth2-redirect.js"></script></body></html>""".encode()
