"""ID token checks: signature against the provider's JWKS, then iss, aud, exp, iat, nonce and sub.

The cryptography is joserfc's (what authlib uses for its own OpenID client); the claim rules are
authlib's CodeIDToken. This module only decides which algorithms and keys are acceptable and
turns each failure into a reason a person can read.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet

# Only public-key signatures: an HMAC "signature" keyed with a public key must never verify.
ASYMMETRIC_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
LEEWAY = 60  # seconds of clock skew tolerated for exp and iat


class IdTokenRejected(Exception):
    """The ID token must not be trusted; `reason` is for people, `code` for the audit log."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class UnknownKeyId(Exception):
    """Signed with a key id the JWKS does not hold (yet): refetch the JWKS once, then give up."""

    def __init__(self, kid: str) -> None:
        super().__init__(kid)
        self.kid = kid


def _segment(part: str) -> dict[str, Any]:
    padded = part + "=" * (-len(part) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def unverified_header(id_token: str) -> dict[str, Any]:
    parts = id_token.split(".")
    if len(parts) != 3:
        raise IdTokenRejected("malformed", "the ID token is not a signed JWT (it does not have three parts)")
    try:
        return _segment(parts[0])
    except (ValueError, UnicodeError):
        raise IdTokenRejected("malformed", "the ID token's header cannot be read") from None


def accepted_algorithms(advertised: tuple[str, ...]) -> list[str]:
    """The provider's advertised signing algorithms that the portal accepts (RS256 by default)."""
    return [a for a in (advertised or ("RS256",)) if a in ASYMMETRIC_ALGS]


def _kids(jwks: dict[str, Any]) -> set[str]:
    return {k["kid"] for k in jwks.get("keys", []) if isinstance(k, dict) and isinstance(k.get("kid"), str)}


def _accepted_alg(alg: object, algorithms: list[str]) -> str:
    """The token's signing algorithm, if it is one of `algorithms` (never "none")."""
    if not isinstance(alg, str) or alg.lower() == "none":
        raise IdTokenRejected("alg_none", "the ID token is not signed (alg: none)")
    if alg not in algorithms:
        raise IdTokenRejected(
            "alg_refused",
            f"the ID token is signed with {alg}; "
            f"the portal accepts {', '.join(algorithms) or 'no algorithm'} here",
        )
    return alg


def verify_id_token(
    id_token: str,
    jwks: dict[str, Any],
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    algorithms: list[str],
    access_token: str | None = None,
    now: int | None = None,
) -> dict[str, Any]:
    """The ID token's claims once every check passes; IdTokenRejected (or UnknownKeyId) otherwise."""
    header = unverified_header(id_token)
    alg = _accepted_alg(header.get("alg"), algorithms)
    kid = header.get("kid")
    if isinstance(kid, str) and kid not in _kids(jwks):
        raise UnknownKeyId(kid)
    try:
        key_set = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError):
        raise IdTokenRejected(
            "jwks_unreadable", "the provider's signing keys (JWKS) cannot be read"
        ) from None
    try:
        token = jwt.decode(id_token, key_set, algorithms=[alg])
    except InvalidKeyIdError:
        raise UnknownKeyId(str(kid)) from None
    except BadSignatureError:
        raise IdTokenRejected(
            "bad_signature", "the ID token's signature does not verify with the provider's keys"
        ) from None
    except UnsupportedAlgorithmError:
        raise IdTokenRejected("alg_refused", f"the ID token's algorithm {alg} is not accepted") from None
    except (JoseError, ValueError):
        raise IdTokenRejected("malformed", "the ID token cannot be decoded") from None

    claims = CodeIDToken(
        token.claims,
        token.header,
        {"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": client_id}},
        {"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    try:
        claims.validate(now=now, leeway=LEEWAY)
    except ExpiredTokenError:
        raise IdTokenRejected("expired", "the ID token has expired") from None
    except MissingClaimError as exc:
        raise _claim_problem(exc.claim, missing=True) from None
    except InvalidClaimError as exc:
        raise _claim_problem(exc.claim, missing=False, claims=token.claims) from None
    if not isinstance(token.claims.get("sub"), str) or not token.claims["sub"].strip():
        raise IdTokenRejected("no_sub", "the ID token names no subject (sub)")
    return dict(token.claims)


def _claim_problem(name: str, *, missing: bool, claims: dict[str, Any] | None = None) -> IdTokenRejected:
    if missing:
        messages = {
            "sub": ("no_sub", "the ID token names no subject (sub)"),
            "nonce": ("no_nonce", "the ID token carries no nonce, so it cannot be tied to this sign-in"),
            "iss": ("wrong_iss", "the ID token names no issuer (iss)"),
            "aud": ("wrong_aud", "the ID token names no audience (aud)"),
            "exp": ("expired", "the ID token has no expiry (exp)"),
            "iat": ("malformed", "the ID token has no issue time (iat)"),
            "azp": ("wrong_aud", "the ID token names several audiences but no authorized party (azp)"),
        }
        return IdTokenRejected(*messages.get(name, ("malformed", f"the ID token lacks the {name} claim")))
    issued_by = (claims or {}).get("iss")
    messages = {
        "iss": ("wrong_iss", f"the ID token was issued by {issued_by!r}, not by this tenant's provider"),
        "aud": ("wrong_aud", "the ID token was issued to another client (aud), not to this portal"),
        "azp": ("wrong_aud", "the ID token was issued to another client (azp), not to this portal"),
        "nonce": (
            "wrong_nonce",
            "the ID token's nonce does not match this sign-in (a replayed or foreign token)",
        ),
        "iat": ("bad_time", "the ID token claims to be issued in the future"),
        "nbf": ("bad_time", "the ID token is not valid yet (nbf)"),
        "exp": ("expired", "the ID token's expiry (exp) is not a time"),
        "sub": ("no_sub", "the ID token's subject (sub) is not a string"),
        "at_hash": ("bad_at_hash", "the ID token does not match the access token (at_hash)"),
    }
    return IdTokenRejected(*messages.get(name, ("malformed", f"the ID token's {name} claim is invalid")))
