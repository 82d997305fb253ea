"""ID token checks that need no provider: algorithm confusion, kid handling, claim rules."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from portal.identity.oidc.tokens import IdTokenRejected, UnknownKeyId, accepted_algorithms, verify_id_token

KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
JWKS = {"keys": [KEY.as_dict(private=False)]}
NOW = int(time.time())
CLAIMS = {
    "iss": "https://idp.example",
    "sub": "s1",
    "aud": "portal",
    "exp": NOW + 3600,  # valid for the whole run, however late the suite reaches these tests
    "iat": NOW,
    "nonce": "n1",
}
CHECKS = {"issuer": "https://idp.example", "client_id": "portal", "nonce": "n1", "algorithms": ["RS256"]}


def b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_a_good_token_passes():
    token = jwt.encode({"alg": "RS256", "kid": "k1"}, CLAIMS, KEY)
    assert verify_id_token(token, JWKS, **CHECKS)["sub"] == "s1"


def test_hmac_keyed_with_the_public_key_is_refused():
    """Algorithm confusion: an HS256 'signature' made with the provider's public key."""
    public_pem = KEY.as_pem(private=False)
    signing_input = f"{b64({'alg': 'HS256', 'kid': 'k1'})}.{b64(CLAIMS)}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    with pytest.raises(IdTokenRejected) as info:
        verify_id_token(token, JWKS, **{**CHECKS, "algorithms": accepted_algorithms(("HS256", "RS256"))})
    assert info.value.code == "alg_refused"
    assert accepted_algorithms(("HS256", "none")) == []
    assert accepted_algorithms(()) == ["RS256"]


def test_an_unknown_kid_asks_for_a_refetch():
    other = RSAKey.generate_key(2048, parameters={"kid": "k2"})
    token = jwt.encode({"alg": "RS256", "kid": "k2"}, CLAIMS, other)
    with pytest.raises(UnknownKeyId) as info:
        verify_id_token(token, JWKS, **CHECKS)
    assert info.value.kid == "k2"


def test_an_access_token_that_does_not_match_at_hash_is_refused():
    token = jwt.encode({"alg": "RS256", "kid": "k1"}, {**CLAIMS, "at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}, KEY)
    with pytest.raises(IdTokenRejected) as info:
        verify_id_token(token, JWKS, **CHECKS, access_token="the-access-token")
    assert info.value.code == "bad_at_hash"


@pytest.mark.parametrize("bad", ["not-a-jwt", "a.b", "!!!.e30.", ""])
def test_garbage_is_refused_not_raised(bad):
    with pytest.raises(IdTokenRejected) as info:
        verify_id_token(bad, JWKS, **CHECKS)
    assert info.value.code == "malformed"


def test_clock_skew_within_a_minute_is_tolerated():
    token = jwt.encode({"alg": "RS256", "kid": "k1"}, {**CLAIMS, "iat": NOW + 30}, KEY)
    assert verify_id_token(token, JWKS, **CHECKS)["iat"] == NOW + 30
    late = jwt.encode({"alg": "RS256", "kid": "k1"}, {**CLAIMS, "iat": NOW + 600}, KEY)
    with pytest.raises(IdTokenRejected, match="issued in the future"):
        verify_id_token(late, JWKS, **CHECKS)
