"""The OpenID Connect client: Authorization Code with PKCE (S256), state and nonce, free of the web.

Each step talks to the tenant's provider over the portal's egress-policied HTTP client and either
returns what the next step needs or raises SignInRefused with the words, code and status the
refusal page shows: discovery, the authorization URL, the response's `iss` (RFC 9207), the code
exchange (client_secret_basic or client_secret_post), the ID token's verification (with one JWKS
refetch for an unknown key id) and userinfo where the ID token lacks what is needed. Keeping the
pending state, opening the client secret and admitting the person are the caller's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from portal.identity.oidc.metadata import CACHE, DiscoveryError, MetadataCache, ProviderMetadata
from portal.identity.oidc.refusals import SignInRefused
from portal.identity.oidc.tokens import IdTokenRejected, UnknownKeyId, accepted_algorithms, verify_id_token
from portal.net.egress import EgressRefused

log = logging.getLogger("portal.identity.oidc")

OAUTH_TOKEN_ERRORS = frozenset(  # RFC 6749 section 5.2
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)


@dataclass(frozen=True)
class VerifiedPerson:
    """What the provider vouched for: the ID token's claims, completed from userinfo where needed."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool | None
    name: str
    claims: dict[str, Any] = field(repr=False)

    @property
    def domain(self) -> str | None:
        return self.email.rsplit("@", 1)[1] if self.email and "@" in self.email else None

    @property
    def label(self) -> str:
        return self.email or f"{self.subject} at {self.issuer}"


@dataclass(frozen=True)
class Authorization:
    """Where to send the browser, and the secrets the callback is checked against."""

    url: str
    state: str
    nonce: str
    verifier: str


@dataclass(frozen=True)
class Identified:
    person: VerifiedPerson
    id_token: str


@dataclass(frozen=True)
class CodeGrant:
    """What the token endpoint is sent for the code: the client, its authentication, the code and
    the PKCE verifier of this sign-in."""

    client_id: str
    client_secret: str = field(repr=False)
    method: str
    code: str
    redirect_uri: str
    verifier: str


class TokenError(Exception):
    """The token endpoint refused the code (an OAuth error answer)."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.description = description


def person_of(issuer: str, claims: dict[str, Any], userinfo: dict[str, Any]) -> VerifiedPerson:
    source = claims if isinstance(claims.get("email"), str) else userinfo
    email = source.get("email") if isinstance(source.get("email"), str) else None
    verified = source.get("email_verified")
    if isinstance(verified, str):  # some providers send "true"/"false"
        verified = verified.lower() == "true"
    merged = {**userinfo, **claims}
    name = merged.get("name") if isinstance(merged.get("name"), str) else ""
    return VerifiedPerson(
        issuer=issuer,
        subject=str(claims["sub"]),
        email=email.strip().lower() if email else None,
        email_verified=verified if isinstance(verified, bool) else None,
        name=str(name).strip(),
        claims=merged,
    )


class OidcClient:
    """One tenant's provider as the portal's client; `name` (the tenant's) words every refusal."""

    def __init__(
        self, http: httpx.AsyncClient, name: str, *, seconds: float, cache: MetadataCache = CACHE
    ) -> None:
        self.http = http
        self.name = name
        self.seconds = seconds
        self.cache = cache

    async def discover(self, issuer: str, *, details: dict[str, Any] | None = None) -> ProviderMetadata:
        try:
            return await self.cache.discovery(self.http, issuer, seconds=self.seconds)
        except DiscoveryError as exc:
            raise SignInRefused(
                "discovery_failed",
                f"The identity provider of {self.name} cannot be used right now: {exc.reason}.",
                status_code=502,
                details=details,
            ) from exc

    @staticmethod
    def authorization(
        metadata: ProviderMetadata,
        *,
        client_id: str,
        scopes: str,
        redirect_uri: str,
        login_hint: str | None = None,
    ) -> Authorization:
        state, nonce, verifier = generate_token(43), generate_token(43), generate_token(64)
        params: dict[str, str] = {
            "redirect_uri": redirect_uri,
            "scope": scopes,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        if login_hint:
            params["login_hint"] = login_hint
        url = prepare_grant_uri(metadata.authorization_endpoint, client_id, "code", state=state, **params)
        return Authorization(url, state, nonce, verifier)

    def check_response_issuer(self, metadata: ProviderMetadata, iss: str | None) -> None:
        """The callback's `iss` (RFC 9207) names this provider, or is absent where it never is sent."""
        if iss is not None and iss != metadata.issuer:
            raise SignInRefused(
                "wrong_iss_parameter",
                f"The sign-in answer came from {iss[:200]!r}, not from {self.name}'s identity provider. "
                "Nothing was accepted; please start again.",
                status_code=400,
                details={"iss": iss[:200]},
            )
        if iss is None and metadata.iss_parameter_supported:
            raise SignInRefused(
                "missing_iss_parameter",
                f"The sign-in answer does not say which provider sent it, though {self.name}'s provider "
                "always does. Nothing was accepted; please start again.",
                status_code=400,
            )

    def auth_method(self, metadata: ProviderMetadata) -> str:
        methods = metadata.token_endpoint_auth_methods
        if not methods or "client_secret_basic" in methods:
            return "client_secret_basic"
        if "client_secret_post" in methods:
            return "client_secret_post"
        raise SignInRefused(
            "no_client_auth",
            f"{self.name}'s identity provider supports neither client_secret_basic nor client_secret_post.",
            status_code=502,
        )

    async def exchange_code(self, metadata: ProviderMetadata, grant: CodeGrant) -> dict[str, Any]:
        """The token endpoint's answer to the code and the PKCE verifier."""
        name = self.name
        try:
            return await self._post_code(metadata, grant)
        except TokenError as exc:
            # The provider's own words (error_description, an unknown error code) go to the log
            # only: the token endpoint is a URL from a fetched document, and its answer is not echoed.
            log.info("token endpoint refused the code: %s %s", exc.error, exc.description)
            known = exc.error if exc.error in OAUTH_TOKEN_ERRORS else "an error"
            reason = (
                f"{name}'s identity provider did not accept the sign-in code ({known}). Please start again."
            )
            raise SignInRefused("code_refused", reason, status_code=400) from exc
        except EgressRefused as exc:
            reason = f"{name}'s identity provider names a token endpoint the portal may not call: {exc}."
            raise SignInRefused("token_endpoint_refused", reason, status_code=502) from exc
        except httpx.HTTPError as exc:
            reason = (
                f"{name}'s identity provider could not be reached to finish the sign-in "
                f"({type(exc).__name__}). Please try again."
            )
            raise SignInRefused("token_endpoint_unreachable", reason, status_code=502) from exc
        except (ValueError, TypeError) as exc:
            reason = f"{name}'s identity provider answered unreadably."
            raise SignInRefused("token_unreadable", reason, status_code=502) from exc

    async def _post_code(self, metadata: ProviderMetadata, grant: CodeGrant) -> dict[str, Any]:
        """POST the code to the token endpoint, authenticating the client with authlib's encoders."""
        body = prepare_token_request(
            "authorization_code",
            code=grant.code,
            redirect_uri=grant.redirect_uri,
            code_verifier=grant.verifier,
        )
        headers = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
        url, headers, body = ClientAuth(grant.client_id, grant.client_secret, grant.method).prepare(
            "POST", metadata.token_endpoint, headers, body
        )
        response = await self.http.post(url, content=body, headers=headers, timeout=self.seconds)
        answer = response.json()
        if not isinstance(answer, dict):
            raise ValueError("not a JSON object")
        if "error" in answer or response.status_code != 200:
            raise TokenError(
                str(answer.get("error") or f"HTTP {response.status_code}")[:100],
                str(answer.get("error_description") or "")[:200],
            )
        return answer

    async def identify(
        self,
        metadata: ProviderMetadata,
        token: dict[str, Any],
        *,
        client_id: str,
        nonce: str,
        needed_claims: set[str],
    ) -> Identified:
        """The person the verified ID token names, completed from userinfo where it lacks a needed claim."""
        id_token = token.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise SignInRefused(
                "no_id_token", f"{self.name}'s identity provider sent no ID token.", status_code=400
            )
        claims = await self.verify(metadata, id_token, client_id=client_id, nonce=nonce, token=token)
        userinfo: dict[str, Any] = {}
        if needed_claims - set(claims):
            userinfo = await self.userinfo(metadata, str(token.get("access_token") or ""))
            if userinfo.get("sub") != claims["sub"]:
                userinfo = {}  # a userinfo answer about someone else is ignored (OIDC Core 5.3.2)
        return Identified(person_of(metadata.issuer, claims, userinfo), id_token)

    async def verify(
        self, metadata: ProviderMetadata, id_token: str, *, client_id: str, nonce: str, token: dict[str, Any]
    ) -> dict[str, Any]:
        """The ID token's claims; refused with the reason the check gave."""
        try:
            return await self._verify(metadata, id_token, client_id, nonce, token)
        except IdTokenRejected as exc:
            raise SignInRefused(
                exc.code,
                f"The sign-in was refused: {exc.reason}. Nothing was accepted.",
                status_code=400,
                details={"issuer": metadata.issuer},
            ) from exc
        except DiscoveryError as exc:
            raise SignInRefused(
                "jwks_unavailable",
                f"The identity provider's signing keys could not be fetched: {exc.reason}.",
                status_code=502,
            ) from exc

    async def _verify(
        self, metadata: ProviderMetadata, id_token: str, client_id: str, nonce: str, token: dict[str, Any]
    ) -> dict[str, Any]:
        """Verify against the cached JWKS; on an unknown key id, refetch the JWKS once and try again."""
        checks: dict[str, Any] = {
            "issuer": metadata.issuer,
            "client_id": client_id,
            "nonce": nonce,
            "algorithms": accepted_algorithms(metadata.signing_algs),
            "access_token": token.get("access_token") if isinstance(token.get("access_token"), str) else None,
        }
        jwks = await self.cache.jwks(self.http, metadata.jwks_uri, seconds=self.seconds)
        try:
            return verify_id_token(id_token, jwks, **checks)
        except UnknownKeyId:
            jwks = await self.cache.jwks(self.http, metadata.jwks_uri, seconds=self.seconds, force=True)
        try:
            return verify_id_token(id_token, jwks, **checks)
        except UnknownKeyId:
            raise IdTokenRejected(
                "unknown_kid",
                "the ID token is signed with a key the provider does not publish, "
                "even after fetching its keys again",
            ) from None

    async def userinfo(self, metadata: ProviderMetadata, access_token: str) -> dict[str, Any]:
        """The userinfo answer; empty when there is none or it cannot be read (a policy refusal is said)."""
        if not metadata.userinfo_endpoint or not access_token:
            return {}
        try:
            response = await self.http.get(
                metadata.userinfo_endpoint,
                headers={"authorization": f"Bearer {access_token}", "accept": "application/json"},
                timeout=self.seconds,
            )
            body = response.json() if response.status_code == 200 else {}
        except EgressRefused as exc:
            raise SignInRefused(
                "userinfo_endpoint_refused",
                f"{self.name}'s identity provider names a user info endpoint the portal may not call: {exc}.",
                status_code=502,
            ) from exc
        except (httpx.HTTPError, ValueError):
            return {}
        return body if isinstance(body, dict) else {}

    async def end_session_url(
        self, issuer: str, *, client_id: str, id_token: str | None, post_logout_redirect_uri: str
    ) -> str | None:
        """Where the provider ends its own session (RP-initiated logout), if it can."""
        try:
            metadata = await self.cache.discovery(self.http, issuer, seconds=self.seconds)
        except DiscoveryError:
            return None
        if not metadata.end_session_endpoint:
            return None
        params = {"post_logout_redirect_uri": post_logout_redirect_uri, "client_id": client_id}
        if id_token:
            params["id_token_hint"] = id_token
        return str(add_params_to_uri(metadata.end_session_endpoint, params))
