"""Rendering pages and, for htmx requests, just the block named by the request's target."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jinja2 import Environment
from jinja2_fragments import render_block
from litestar import Request, Response
from litestar.enums import MediaType
from litestar.plugins.flash import flash
from litestar.plugins.htmx import ClientRedirect, HTMXDetails
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.template import TemplateConfig
from litestar.utils.empty import value_or_default
from litestar.utils.scope.state import ScopeState
from markupsafe import Markup, escape

from portal.apikeys.money import format_usd, usd_input
from portal.catalog.prices import describe
from portal.catalog.services import prices_of
from portal.config import REPO_ROOT
from portal.web.auth import principal_of
from portal.web.deps import TenantRequest
from portal.web.layout import acting_tenant

TEMPLATES_DIR = REPO_ROOT / "templates"


def _format_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def _configure(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.filters["when"] = _format_time
    env.filters["money"] = format_usd  # micro-USD as people read it: $5.00, $0.0012, "no limit"
    env.filters["prices"] = lambda model: describe(prices_of(model))  # "$0.15 / $0.60 per 1M tokens"
    env.filters["usd_input"] = usd_input  # micro-USD as a form field's value: "5", "2.5", "" for none


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine, engine_callback=_configure)


def _env(request: Request[Any, Any, Any]) -> Environment:
    return request.app.template_engine.engine  # type: ignore[union-attr]


def htmx_of(request: Request[Any, Any, Any]) -> HTMXDetails | None:
    """The htmx details of an htmx request (HTMXPlugin's request class), None for a plain one."""
    details = getattr(request, "htmx", None)
    return details if details else None


def htmx_target(request: Request[Any, Any, Any]) -> str | None:
    details = htmx_of(request)
    return details.target if details else None


def render(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    block: str | None = None,
) -> Response[str]:
    """The whole page; for htmx, only the block named like the target (or `block`), plus flashes."""
    env = _env(request)
    token = value_or_default(ScopeState.from_scope(request.scope).csrf_token, "")
    hidden = f'<input type="hidden" name="_csrf_token" value="{escape(token)}">'
    principal = principal_of(request)
    tenant = context.get("tenant")
    tenant_role = principal.access_to(str(tenant.id)) if principal and tenant is not None else None
    ctx = {
        "request": request,
        "principal": principal,
        "tenant_role": tenant_role,
        "acting_tenant": acting_tenant(request, principal, tenant),
        "can_manage": tenant_role in ("platform", "admin"),
        "csrf_input": Markup(hidden),  # noqa: S704 (its one value is escaped)
        **context,
    }
    target = (block or htmx_target(request)) if htmx_of(request) else None
    if target and target in env.get_template(template).blocks:
        html = render_block(env, template, target, ctx)
        html += env.get_template("_flashes.html").render({**ctx, "oob": True})
    else:
        html = env.get_template(template).render(ctx)
    return Response(html, media_type=MediaType.HTML, status_code=status_code)


@dataclass(frozen=True)
class Confirmation:
    """What a confirmation page says: the question, what will happen, the action and the way back."""

    title: str
    question: str
    detail: str
    action: str
    button: str
    cancel: str
    fields: dict[str, str] = field(default_factory=dict)
    # A field the person types to confirm (its name and label), e.g. a tenant's slug before deletion.
    typed: tuple[str, str] | None = None


def confirm_page(
    request: Request[Any, Any, Any], confirm: Confirmation, *, status_code: int = 200, **context: Any
) -> Response[str]:
    """The confirmation page (templates/confirm.html) asked before anything destructive."""
    return render(request, "confirm.html", {"confirm": confirm, **context}, status_code=status_code)


def redirect_after_change(
    request: Request[Any, Any, Any], url: str, message: str, category: str = "success"
) -> Response[Any]:
    """Post/redirect/get with a flash message; htmx follows with a client-side redirect."""
    flash(request, message, category)
    if htmx_of(request):
        return ClientRedirect(redirect_to=url)
    return Redirect(path=url, status_code=303)


@dataclass(frozen=True)
class TenantPage(TenantRequest):
    """A tenant page's request (portal.tenants.deps `page_of(tab)`, asked for as `ctx: PageCtx`), and how
    such a page renders, confirms and redirects (its tab marked)."""

    tab: str

    @property
    def url(self) -> str:
        """The tenant's pages start here: `/t/{slug}`."""
        return f"/t/{self.tenant.slug}"

    def context(self, **context: Any) -> dict[str, Any]:
        """The tenant (its header and tabs), the tab to mark, and `context`."""
        return {"tenant": self.tenant, "tab": self.tab, **context}

    def render(
        self, template: str, *, status_code: int = 200, block: str | None = None, **context: Any
    ) -> Response[str]:
        return render(self.request, template, self.context(**context), status_code=status_code, block=block)

    def form(self, template: str, errors: dict[str, str] | None = None, /, **context: Any) -> Response[str]:
        """A page with a form: 400 with each error beside its field, 200 without errors."""
        errors = errors or {}
        return self.render(template, status_code=400 if errors else 200, errors=errors, **context)

    def confirm(self, confirm: Confirmation, *, status_code: int = 200, **context: Any) -> Response[str]:
        return confirm_page(self.request, confirm, status_code=status_code, **self.context(**context))

    def redirect(self, path: str, message: str, category: str = "success") -> Response[Any]:
        """Post/redirect/get to `path` below the tenant's pages (`""` is the overview)."""
        return redirect_after_change(self.request, f"{self.url}{path}", message, category)
