"""A small but real OpenID Provider on loopback, for `portal demo` and the tests.

It speaks the parts of OpenID Connect the portal uses: discovery, the authorization endpoint
(a page listing the demo users to sign in as), PKCE with S256 (required), exact redirect-URI
matching, a token endpoint with client authentication (client_secret_basic or _post), RS256-signed
ID tokens (joserfc, as authlib uses), a JWKS, userinfo, RP-initiated logout (end_session) and the
`iss` authorization-response parameter (RFC 9207).

Anyone can sign in as any listed user: it is a demo, never a production identity provider.
`misbehaviour` switches make it issue broken answers on purpose, for the portal's refusal tests.

One module, over 400 lines on purpose: it is one server object whose endpoints all read and change
the same state (clients, signing keys, issued codes and tokens), test-only and standalone; split,
the pieces would only pass that state around.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

from portal.demo.serving import ThreadedServer

# Switches for tests: each makes the provider answer wrongly in one way.
MISBEHAVIOURS = frozenset(
    {
        "bad_signature",  # ID token signed by another key, under the published key's id
        "alg_none",  # unsigned ID token
        "wrong_iss",  # ID token from another issuer
        "wrong_aud",  # ID token for another client
        "expired",  # ID token expired ten minutes ago
        "no_nonce",  # ID token without the nonce
        "wrong_nonce",  # ID token with another nonce
        "unknown_kid",  # signed by a key the JWKS never publishes
        "no_sub",  # ID token without a subject
        "email_unverified",  # email_verified: false
        "no_email_verified",  # no email_verified claim at all (as Entra ID)
        "email_only_in_userinfo",  # no e-mail claims in the ID token (read them from userinfo)
        "wrong_iss_param",  # the authorization response names another issuer (RFC 9207)
    }
)
CODE_TTL = 120
TOKEN_TTL = 300


@dataclass(frozen=True)
class DemoUser:
    subject: str
    email: str
    name: str
    groups: tuple[str, ...] = ()
    email_verified: bool = True


@dataclass
class DemoClient:
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    name: str = ""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def s256(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def _new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


class DemoIdentityProvider(ThreadedServer):
    def __init__(
        self,
        users: Iterable[DemoUser],
        clients: Iterable[DemoClient] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        title: str = "Demo identity provider",
    ) -> None:
        self.users = {u.subject: u for u in users}
        self.clients = {c.client_id: c for c in clients}
        self.title = title
        self.misbehaviour: set[str] = set()
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, for tests
        self._lock = threading.Lock()
        self._key = _new_key(f"demo-{secrets.token_hex(4)}")
        self._rogue = _new_key(f"rogue-{secrets.token_hex(4)}")
        self._codes: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, dict[str, Any]] = {}
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider._handle(self, "GET")

            def do_POST(self) -> None:
                provider._handle(self, "POST")

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

        self._serve(Handler, host, port, name="demo-idp")
        self.issuer = self.url

    def add_client(self, client: DemoClient) -> None:
        with self._lock:
            self.clients[client.client_id] = client

    def rotate_key(self) -> str:
        """Sign with a new key from now on and publish only it; returns its key id."""
        with self._lock:
            self._key = _new_key(f"demo-{secrets.token_hex(4)}")
            return str(self._key.kid)

    def metadata(self) -> dict[str, Any]:
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
            "userinfo_endpoint": f"{base}/userinfo",
            "end_session_endpoint": f"{base}/logout",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile", "email", "groups"],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "nonce",
                "email",
                "email_verified",
                "name",
                "groups",
            ],
            "authorization_response_iss_parameter_supported": True,
        }

    # -- HTTP ------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        self.requests.append((method, parts.path))
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        form: dict[str, str] = {}
        if method == "POST":
            length = int(request.headers.get("content-length") or 0)
            raw = request.rfile.read(length).decode("utf-8", "replace")
            form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        routes = {
            ("GET", "/.well-known/openid-configuration"): lambda: _json(request, 200, self.metadata()),
            ("GET", "/jwks"): lambda: _json(request, 200, self._jwks()),
            ("GET", "/authorize"): lambda: self._authorize(request, query),
            ("POST", "/authorize"): lambda: self._decide(request, form),
            ("POST", "/token"): lambda: self._token(request, form),
            ("GET", "/userinfo"): lambda: self._userinfo(request),
            ("POST", "/userinfo"): lambda: self._userinfo(request),
            ("GET", "/logout"): lambda: self._logout(request, query),
            ("GET", "/"): lambda: _page(
                request, 200, self.title, f"<p>Issuer <code>{html.escape(self.issuer)}</code>.</p>"
            ),
        }
        handler = routes.get((method, parts.path))
        if handler is None:
            _json(request, 404, {"error": "not_found"})
            return
        handler()

    def _jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [self._key.as_dict(private=False)]}

    def _check_client_and_redirect(self, params: dict[str, str]) -> tuple[DemoClient | None, str | None]:
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            return None, "unknown client_id"
        if params.get("redirect_uri") not in client.redirect_uris:
            return None, "redirect_uri is not registered for this client (it must match exactly)"
        return client, None

    def _authorize_problem(self, params: dict[str, str]) -> tuple[str, str] | None:
        if params.get("response_type") != "code":
            return "unsupported_response_type", "only the authorization code flow (response_type=code)"
        if "openid" not in params.get("scope", "").split():
            return "invalid_scope", "the openid scope is required"
        if not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
            return "invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256"
        return None

    def _authorize(self, request: BaseHTTPRequestHandler, params: dict[str, str]) -> None:
        client, problem = self._check_client_and_redirect(params)
        if client is None:
            _page(request, 400, "Invalid sign-in request", f"<p>{html.escape(str(problem))}.</p>")
            return
        if refused := self._authorize_problem(params):
            self._redirect_back(request, params, error=refused[0], error_description=refused[1])
            return
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
            if k in AUTHORIZE_FIELDS
        )
        hint = params.get("login_hint", "").lower()
        buttons = "".join(
            f'<li><button type="submit" name="subject" value="{html.escape(u.subject)}"'
            f"{' autofocus' if u.email == hint else ''}>Sign in as {html.escape(u.name)}"
            f"<small>{html.escape(u.email)}{_groups(u)}</small>"
            "</button></li>"
            for u in self.users.values()
        )
        body = (
            f"<p>Sign in to <strong>{html.escape(client.name or client.client_id)}</strong>. "
            "This demo provider lets anyone choose who to be.</p>"
            f'<form method="post" action="/authorize">{hidden}<ul class="users">{buttons}</ul>'
            '<button type="submit" name="deny" value="1" class="cancel">Cancel</button></form>'
        )
        _page(request, 200, self.title, body)

    def _decide(self, request: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        client, problem = self._check_client_and_redirect(form)
        if client is None:
            _page(request, 400, "Invalid sign-in request", f"<p>{html.escape(str(problem))}.</p>")
            return
        if form.get("deny"):
            self._redirect_back(request, form, error="access_denied", error_description="the user cancelled")
            return
        if refused := self._authorize_problem({**form, "response_type": "code"}):
            self._redirect_back(request, form, error=refused[0], error_description=refused[1])
            return
        user = self.users.get(form.get("subject", ""))
        if user is None:
            _page(request, 400, "Unknown user", "<p>Choose one of the listed users.</p>")
            return
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = {
                "client_id": client.client_id,
                "redirect_uri": form["redirect_uri"],
                "subject": user.subject,
                "nonce": form.get("nonce"),
                "code_challenge": form["code_challenge"],
                "scope": form.get("scope", "openid"),
                "expires": time.time() + CODE_TTL,
            }
        self._redirect_back(request, form, code=code)

    def _redirect_back(self, request: BaseHTTPRequestHandler, params: dict[str, str], **answer: str) -> None:
        values = dict(answer)
        if params.get("state"):
            values["state"] = params["state"]
        values["iss"] = "https://mix-up.example" if "wrong_iss_param" in self.misbehaviour else self.issuer
        target = params["redirect_uri"]
        _redirect(request, target + ("&" if "?" in target else "?") + urlencode(values))

    def _client_auth(self, request: BaseHTTPRequestHandler, form: dict[str, str]) -> DemoClient | None:
        header = request.headers.get("authorization", "")
        client_id = secret = None
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:]).decode()
            except (ValueError, UnicodeDecodeError):
                return None
            client_id, _, secret = decoded.partition(":")
            client_id, secret = unquote(client_id), unquote(secret)
        elif "client_secret" in form:
            client_id, secret = form.get("client_id"), form.get("client_secret")
        client = self.clients.get(client_id or "")
        if client is None or not secrets.compare_digest(
            (secret or "").encode(), client.client_secret.encode()
        ):
            return None
        return client

    def _token(self, request: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        client = self._client_auth(request, form)
        if client is None:
            _json(
                request, 401, {"error": "invalid_client", "error_description": "client authentication failed"}
            )
            return
        if form.get("grant_type") != "authorization_code":
            _json(request, 400, {"error": "unsupported_grant_type"})
            return
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # single use
        problem = None
        if grant is None or grant["expires"] < time.time():
            problem = "unknown, used or expired code"
        elif grant["client_id"] != client.client_id:
            problem = "the code was issued to another client"
        elif grant["redirect_uri"] != form.get("redirect_uri"):
            problem = "redirect_uri differs from the authorization request"
        elif not form.get("code_verifier") or s256(form["code_verifier"]) != grant["code_challenge"]:
            problem = "PKCE verification failed (code_verifier)"
        if problem or grant is None:
            _json(request, 400, {"error": "invalid_grant", "error_description": problem})
            return
        user = self.users[grant["subject"]]
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[access_token] = {
                "subject": user.subject,
                "scope": grant["scope"],
                "expires": time.time() + TOKEN_TTL,
            }
        id_token = self._id_token(user, client, grant)
        _json(
            request,
            200,
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": TOKEN_TTL,
                "id_token": id_token,
                "scope": grant["scope"],
            },
        )

    def _claims(self, user: DemoUser, scope: str) -> dict[str, Any]:
        scopes = set(scope.split())
        claims: dict[str, Any] = {"sub": user.subject}
        if "email" in scopes:
            claims["email"] = user.email
            claims["email_verified"] = user.email_verified and "email_unverified" not in self.misbehaviour
            if "no_email_verified" in self.misbehaviour:
                del claims["email_verified"]
        if "profile" in scopes:
            claims["name"] = user.name
        if "groups" in scopes:
            claims["groups"] = list(user.groups)
        return claims

    def _id_token(self, user: DemoUser, client: DemoClient, grant: dict[str, Any]) -> str:
        bad = self.misbehaviour
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "https://impostor.example" if "wrong_iss" in bad else self.issuer,
            "aud": "someone-else" if "wrong_aud" in bad else client.client_id,
            "iat": now - 900 if "expired" in bad else now,
            "exp": now - 600 if "expired" in bad else now + TOKEN_TTL,
            "auth_time": now,
            **self._claims(user, grant["scope"]),
        }
        if "email_only_in_userinfo" in bad:
            claims.pop("email", None)
            claims.pop("email_verified", None)
        if grant.get("nonce") and "no_nonce" not in bad:
            claims["nonce"] = "not-the-nonce-you-sent" if "wrong_nonce" in bad else grant["nonce"]
        if "no_sub" in bad:
            claims.pop("sub")
        if "alg_none" in bad:
            header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            return f"{header}.{_b64url(json.dumps(claims).encode())}."
        with self._lock:
            key, kid = self._key, str(self._key.kid)
        if "bad_signature" in bad:
            key = self._rogue
        elif "unknown_kid" in bad:
            key, kid = self._rogue, str(self._rogue.kid)
        return jwt.encode({"alg": "RS256", "kid": kid, "typ": "JWT"}, claims, key)

    def _userinfo(self, request: BaseHTTPRequestHandler) -> None:
        header = request.headers.get("authorization", "")
        with self._lock:
            grant = self._tokens.get(header[7:]) if header.lower().startswith("bearer ") else None
        if grant is None or grant["expires"] < time.time():
            _json(request, 401, {"error": "invalid_token"})
            return
        claims = self._claims(self.users[grant["subject"]], grant["scope"])
        _json(request, 200, claims)

    def _logout(self, request: BaseHTTPRequestHandler, params: dict[str, str]) -> None:
        client = self.clients.get(params.get("client_id", ""))
        hint = params.get("id_token_hint", "")
        if client is None and hint.count(".") == 2:
            try:
                aud = json.loads(base64.urlsafe_b64decode(hint.split(".")[1] + "==")).get("aud")
            except (ValueError, UnicodeDecodeError):
                aud = None
            client = self.clients.get(aud if isinstance(aud, str) else "")
        target = params.get("post_logout_redirect_uri")
        if client is not None and target and target in client.post_logout_redirect_uris:
            if params.get("state"):
                target += ("&" if "?" in target else "?") + urlencode({"state": params["state"]})
            _redirect(request, target)
            return
        _page(request, 200, "Signed out", "<p>You are signed out of the demo identity provider.</p>")


# What the sign-in form carries from the authorisation request to its answer.
AUTHORIZE_FIELDS = (
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
)

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1d2a36}"
    "h1{font-size:1.4rem}ul.users{list-style:none;padding:0}ul.users li{margin:.5rem 0}"
    "button{width:100%;padding:.7rem 1rem;font-size:1rem;border:1px solid #3b6fd6;background:#3b6fd6;"
    "color:#fff;border-radius:.4rem;text-align:left;cursor:pointer}button small{display:block;opacity:.85}"
    "button.cancel{background:#fff;color:#3b6fd6}"
    ".demo{background:#fff4d6;padding:.5rem .8rem;border-radius:.3rem}"
)


def _groups(user: DemoUser) -> str:
    return f" · groups: {html.escape(', '.join(user.groups))}" if user.groups else ""


def _page(request: BaseHTTPRequestHandler, status: int, title: str, body: str) -> None:
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        '<p class="demo">Demo identity provider: for trying the portal out, never for production.</p>'
        f"{body}</body></html>"
    ).encode()
    _send(request, status, "text/html; charset=utf-8", document)


def _json(request: BaseHTTPRequestHandler, status: int, body: object) -> None:
    _send(request, status, "application/json", json.dumps(body).encode())


def _send(request: BaseHTTPRequestHandler, status: int, content_type: str, payload: bytes) -> None:
    request.send_response(status)
    request.send_header("content-type", content_type)
    request.send_header("content-length", str(len(payload)))
    request.send_header("cache-control", "no-store")
    request.end_headers()
    request.wfile.write(payload)


def _redirect(request: BaseHTTPRequestHandler, target: str) -> None:
    request.send_response(302)
    request.send_header("location", target)
    request.send_header("content-length", "0")
    request.end_headers()
