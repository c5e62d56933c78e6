"""Users signing in through ``/oauth/token``: the ``password``, ``password-realm`` and
``passwordless/otp`` grants, their ID and access tokens, ``GET /userinfo``, and the tenant
setting the ``password`` grant needs (``default_directory``); docs/auth0-reference-http.md.

The store checks the credentials (``authenticate``, ``verify_passwordless``): its refusals carry
Auth0's ``{error, error_description}`` (``to_oauth_dict``), its brute-force protection and its
events. This module names the client, picks the connection, and mints the tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from identitystore import User
from identitystore.errors import (
    AuthenticationError,
    ConnectionNotFoundError,
    IdentityStoreError,
    StorageError,
)

from ._errors import ApiError, OAuthError, grant_not_allowed
from ._http import Call, json_response
from ._tenant import Client
from ._tokens import TOKEN_LIFETIME, TokenVerifier

__all__ = [
    "CLAIMS",
    "GRANTS",
    "ID_TOKEN_LIFETIME",
    "get_tenant_settings",
    "profile_claims",
    "update_tenant_settings",
    "user_token",
    "userinfo",
]

PASSWORD = "password"
PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"
OTP = "http://auth0.com/oauth/grant-type/passwordless/otp"
#: The user grants this module answers on ``/oauth/token``.
GRANTS = frozenset({PASSWORD, PASSWORD_REALM, OTP})
#: Seconds an ID token lives (Auth0's default, 10 hours).
ID_TOKEN_LIFETIME = 36000
#: App types whose clients hold a secret and must send it (the others are public clients).
_CONFIDENTIAL = frozenset({"non_interactive", "regular_web"})
_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
#: The claims each OpenID scope adds (user field -> claim).
_SCOPE_CLAIMS: dict[str, tuple[tuple[str, str], ...]] = {
    "profile": (
        ("name", "name"),
        ("nickname", "nickname"),
        ("picture", "picture"),
        ("given_name", "given_name"),
        ("family_name", "family_name"),
        ("updated_at", "updated_at"),
    ),
    "email": (("email", "email"), ("email_verified", "email_verified")),
    "phone": (("phone_number", "phone_number"), ("phone_verified", "phone_number_verified")),
}
#: Every profile claim an ID token or ``/userinfo`` may carry.
CLAIMS = frozenset(claim for fields in _SCOPE_CLAIMS.values() for _, claim in fields)
#: The tenant setting's record (kind, key).
_DEFAULT_DIRECTORY = ("emulator", "default_directory")


def profile_claims(user: User, scopes: frozenset[str]) -> dict[str, Any]:
    """The claims of ``user`` that ``scopes`` ask for (ID tokens and ``/userinfo``): ``sub``,
    and what ``profile``, ``email`` and ``phone`` add when the user has it."""
    claims: dict[str, Any] = {"sub": user.user_id}
    for scope, fields in _SCOPE_CLAIMS.items():
        if scope in scopes:
            for field, claim in fields:
                value = getattr(user, field)
                if value is not None:
                    claims[claim] = value
    return claims


def _missing(name: str) -> OAuthError:
    return OAuthError(400, "invalid_request", f"Missing required parameter: {name}")


def _text(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise _missing(name)
    if not isinstance(value, str):
        raise OAuthError(400, "invalid_request", f"Invalid parameter: {name} must be a string")
    return value


async def _client(call: Call, client_id: str, secret: object, grant: str) -> tuple[Client, bool]:
    """The calling client, and whether it proved itself with its secret (constant time).

    A confidential client (machine-to-machine, regular web app) must send its secret; a public
    one (SPA, native) may not have one. The emulator's default client (first-party) may use
    every grant; another client only those in its ``grant_types``.
    """
    tenant = call.emu.tenant
    if isinstance(secret, str) and secret:
        found = await call.off_loop(tenant.authenticate, client_id, secret)
        if found is None:
            raise OAuthError(401, "access_denied", "Unauthorized")
        client = found
        authenticated = True
    else:
        try:
            client = await call.off_loop(tenant.get_client, client_id)
        except ApiError:
            raise OAuthError(401, "access_denied", "Unauthorized") from None
        if client.app_type in _CONFIDENTIAL:
            raise OAuthError(401, "access_denied", "Unauthorized")
        authenticated = False
    if client.client_id != call.emu.client.client_id and grant not in client.grant_types:
        raise grant_not_allowed(grant)
    return client, authenticated


async def _default_directory(call: Call) -> str:
    backend = call.emu.store.backend
    name = await call.off_loop(backend.get_record, *_DEFAULT_DIRECTORY)
    if name is None:
        raise OAuthError(
            500,
            "server_error",
            "Authorization server not configured with default connection.",
        )
    return name


async def _sign_in(call: Call, params: Mapping[str, Any], grant: str, ip: str | None) -> User:
    """The user the grant's credentials name, checked by the store."""
    try:
        if grant == OTP:
            realm = _text(params, "realm")
            username, otp = _text(params, "username"), _text(params, "otp")
            try:
                strategy = (await call.store.get_connection(realm)).strategy
            except ConnectionNotFoundError:
                raise OAuthError(400, "invalid_request", f"Unknown realm {realm[:256]}.") from None
            key = "phone_number" if strategy == "sms" else "email"
            return await call.store.verify_passwordless(realm, code=otp, ip=ip, **{key: username})
        username, password = _text(params, "username"), _text(params, "password")
        if grant == PASSWORD_REALM:
            connection = _text(params, "realm")
        else:
            connection = await _default_directory(call)
        try:
            await call.store.get_connection(connection)
        except ConnectionNotFoundError:
            raise OAuthError(400, "invalid_request", f"Unknown realm {connection[:256]}.") from None
        return await call.store.authenticate(connection, username, password, ip=ip)
    except AuthenticationError as exc:
        raise OAuthError(exc.status_code, str(exc.error_code), exc.message) from None
    except StorageError:
        raise
    except IdentityStoreError as exc:
        raise OAuthError(400, "invalid_request", exc.message) from None


async def user_token(
    call: Call, params: Mapping[str, Any], grant: str, client_id: str, secret: object
) -> Response:
    """POST /oauth/token for a user grant: ``{access_token, id_token (with openid), scope,
    expires_in, token_type}``."""
    call.log_types = ("seotpft", "feotpft") if grant == OTP else ("sepft", "fepft")
    client, authenticated = await _client(call, client_id, secret, grant)
    scope = params.get("scope", "")
    if not isinstance(scope, str):
        raise OAuthError(400, "invalid_scope", "Scope must be an array or a string")
    tenant = call.emu.tenant
    userinfo_audience = f"{tenant.issuer}userinfo"
    audience = params.get("audience")
    if audience is not None and audience != userinfo_audience:
        raise OAuthError(403, "access_denied", f"Service not enabled within domain: {audience}")
    nonce = params.get("nonce")
    if nonce is not None and not isinstance(nonce, str):
        raise OAuthError(400, "invalid_request", "Invalid parameter: nonce must be a string")
    forwarded = call.request.headers.get("auth0-forwarded-for")
    ip = forwarded.split(",")[0].strip() if forwarded and authenticated else call.ip
    user = await _sign_in(call, params, grant, ip)
    call.log_user = user.user_id
    scopes = frozenset(scope.split())
    now = call.emu.now()
    access = tenant.key.sign(
        {
            "iss": tenant.issuer,
            "sub": user.user_id,
            "aud": userinfo_audience,
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
            "scope": scope,
            "azp": client.client_id,
            "gty": "password" if grant != OTP else "passwordless",
        }
    )
    body: dict[str, Any] = {"access_token": access}
    if "openid" in scopes:
        claims = {
            "iss": tenant.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_LIFETIME,
            **profile_claims(user, scopes),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        body["id_token"] = tenant.key.sign(claims)
    body.update({"scope": scope, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"})
    return json_response(body, headers=_NO_STORE)


async def userinfo(call: Call) -> Response:
    """GET /userinfo: the claims of the access token's user that its scope asks for."""
    tenant = call.emu.tenant
    verifier = TokenVerifier(
        tenant.public_key, issuer=tenant.issuer, audience=f"{tenant.issuer}userinfo"
    )
    try:
        claims = verifier.claims(call.request.headers.get("authorization"), now=call.emu.now())
        user = await call.store.get_user(str(claims["sub"]))
    except (ApiError, IdentityStoreError) as exc:
        if isinstance(exc, StorageError):
            raise
        raise OAuthError(
            401,
            "invalid_token",
            exc.message,
            headers={"www-authenticate": 'Bearer error="invalid_token"'},
        ) from None
    return json_response(profile_claims(user, frozenset(str(claims.get("scope", "")).split())))


# -- GET, PATCH /api/v2/tenants/settings --------------------------------------------------------


async def get_tenant_settings(call: Call) -> Response:
    """GET /api/v2/tenants/settings: the settings the emulator keeps (``default_directory``)."""
    backend = call.emu.store.backend
    name = await call.off_loop(backend.get_record, *_DEFAULT_DIRECTORY)
    return json_response({} if name is None else {"default_directory": name})


async def update_tenant_settings(call: Call) -> Response:
    """PATCH /api/v2/tenants/settings ``{default_directory}``: the connection of the
    ``password`` grant (an empty string removes it)."""
    body = await call.json()
    if not isinstance(body, Mapping):
        raise ApiError(400, "The body must be a JSON object", error_code="invalid_body")
    others = sorted(k for k in body if k != "default_directory")
    if others:
        raise ApiError(
            400,
            f"Tenant settings the emulator does not keep: {', '.join(others)[:256]}",
            error_code="invalid_body",
        )
    name = body.get("default_directory")
    backend = call.emu.store.backend
    if name == "" or name is None:
        await call.off_loop(backend.delete_record, *_DEFAULT_DIRECTORY)
    elif not isinstance(name, str):
        raise ApiError(400, "default_directory must be a string", error_code="invalid_body")
    else:
        try:
            await call.store.get_connection(name)
        except ConnectionNotFoundError:
            raise ApiError(
                400, "The connection does not exist.", error_code="inexistent_connection"
            ) from None
        await call.off_loop(backend.put_record, *_DEFAULT_DIRECTORY, name)
    return await get_tenant_settings(call)
