"""RS256 access tokens with Auth0's claims, and the Management API's checks of them.

A ``SigningKey`` lives in memory only: its private half never reaches storage. The public halves
of every key whose tokens may still be alive are kept in the tenant's records, so a restart
signs with a new key while the tokens issued before it keep working until they expire. ``verify``
answers with Auth0's error bodies, in the order of its checks. Both are in
docs/auth0-reference-http.md#authentication-of-the-management-api.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from ._errors import (
    ApiError,
    bad_audience,
    bad_header,
    expired_token,
    insufficient_scope,
    invalid_token,
    missing_authentication,
)

__all__ = [
    "b64url",
    "TOKEN_LIFETIME",
    "SigningKey",
    "TokenVerifier",
    "id_token_audience",
    "public_key_from_jwk",
    "scope_error",
]

#: Seconds a Management API token lives (Auth0's default).
TOKEN_LIFETIME = 86400
#: Verified tokens remembered, so that a client reusing its token skips the RSA check.
_CACHE_SIZE = 1024


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SigningKey:
    """A fresh 2048-bit RSA key; ``kid`` is its RFC 7638 thumbprint."""

    def __init__(self) -> None:
        self._private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self._private.public_key()))
        self.public_jwk: dict[str, str] = {
            "kty": "RSA",
            "n": jwk["n"],
            "e": jwk["e"],
            "alg": "RS256",
            "use": "sig",
        }
        canonical = json.dumps(
            {k: self.public_jwk[k] for k in ("e", "kty", "n")},
            separators=(",", ":"),
            sort_keys=True,
        )
        self.kid = b64url(hashlib.sha256(canonical.encode()).digest())
        self.public_jwk["kid"] = self.kid

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A compact JWS of ``claims``, header ``{"alg": "RS256", "typ": "JWT", "kid": ...}``."""
        return jwt.encode(dict(claims), self._private, algorithm="RS256", headers={"kid": self.kid})

    def public_pem(self) -> bytes:
        """The public key in PEM (for tests and tools)."""
        return self._private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def public_key_from_jwk(jwk: Mapping[str, Any]) -> rsa.RSAPublicKey:
    """The RSA public key of a JWK as ``SigningKey.public_jwk`` gives it."""
    key = RSAAlgorithm.from_jwk(dict(jwk))
    if not isinstance(key, rsa.RSAPublicKey):
        raise TypeError("not an RSA public key")
    return key


class TokenVerifier:
    """Checks bearer tokens: format, signature and key, issuer, expiry, audience.

    Args:
        keys: returns the public key of a ``kid``, or None (called again for a kid not seen).
        issuer: the exact ``iss`` accepted.
        audience: the ``aud`` accepted (a string equal to it, or a list holding it).
    """

    def __init__(
        self,
        keys: Callable[[str], rsa.RSAPublicKey | None],
        *,
        issuer: str,
        audience: str,
    ) -> None:
        self._keys = keys
        self.issuer = issuer
        self.audience = audience
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def claims(self, authorization: str | None, *, now: int) -> dict[str, Any]:
        """The claims of the ``Authorization`` header's token, checked at ``now`` (epoch s).

        Raises:
            ApiError: Auth0's 400 or 401 for the first check that fails.
        """
        if authorization is None:
            raise missing_authentication()
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or token.count(".") != 2 or " " in token.strip():
            raise bad_header()
        token = token.strip()
        with self._lock:
            claims = self._cache.get(token)
            if claims is not None:
                self._cache.move_to_end(token)
        if claims is None:
            claims = self._decode(token)
            with self._lock:
                self._cache[token] = claims
                if len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        exp = claims.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool) or now >= exp:
            raise expired_token()
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.audience not in audiences:
            raise bad_audience(" ".join(str(a) for a in audiences))
        return claims

    def _decode(self, token: str) -> dict[str, Any]:
        """Signature, key and issuer checks; the claims (not yet checked for time or audience)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise invalid_token() from None
        kid = header.get("kid")
        key = self._keys(kid) if isinstance(kid, str) and header.get("alg") == "RS256" else None
        if key is None:
            raise invalid_token()
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.PyJWTError:
            raise invalid_token() from None
        if claims.get("iss") != self.issuer or not isinstance(claims.get("sub"), str):
            raise invalid_token()
        return claims


def scope_error(granted: str, expected: tuple[str, ...]) -> ApiError | None:
    """Auth0's 403 when ``granted`` (space-separated) holds none of ``expected``, else None."""
    if not expected or set(granted.split()) & set(expected):
        return None
    return insufficient_scope(expected)


def id_token_audience(
    token: str, keys: Callable[[str], rsa.RSAPublicKey | None], *, issuer: str
) -> str | None:
    """The ``aud`` (a client id) of an ID token signed by one of ``keys`` for ``issuer``,
    expired or not (an ``id_token_hint``); None for any other token."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = keys(kid) if isinstance(kid, str) else None
        if key is None:
            return None
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            issuer=issuer,
            options={"verify_exp": False, "verify_aud": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        return None
    audience = claims.get("aud")
    return audience if isinstance(audience, str) else None
