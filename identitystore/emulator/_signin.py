"""Users signing in through ``/oauth/token``: the ``password``, ``password-realm``,
``passwordless/otp`` and ``authorization_code`` (a code of ``/authorize``, with PKCE) grants, their
ID and access tokens, ``GET /userinfo``, and the tenant
setting the ``password`` grant needs (``default_directory``); docs/auth0-reference-http.md.

The store checks the credentials (``authenticate``, ``verify_passwordless``): its refusals carry
Auth0's ``{error, error_description}`` (``to_oauth_dict``), its brute-force protection and its
events. This module names the client, picks the connection, and mints the tokens.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from identitystore import User
from identitystore.errors import (
    AuthenticationError,
    ConnectionNotFoundError,
    IdentityStoreError,
    StorageError,
    UnknownConnectionError,
)

from ._apis import Api, find_api
from ._errors import ApiError, OAuthError, grant_not_allowed
from ._http import Call, json_response
from ._refresh import Grant, invalid_refresh_token
from ._sessions import pkce_challenge
from ._tenant import Client
from ._tokens import TOKEN_LIFETIME, TokenVerifier

__all__ = [
    "CLAIMS",
    "GRANTS",
    "audience_api",
    "default_directory",
    "get_tenant_settings",
    "profile_claims",
    "revoke",
    "update_tenant_settings",
    "user_token",
    "userinfo",
]

PASSWORD = "password"
PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"
OTP = "http://auth0.com/oauth/grant-type/passwordless/otp"
REFRESH = "refresh_token"
AUTHORIZATION_CODE = "authorization_code"
#: The user grants this module answers on ``/oauth/token``.
GRANTS = frozenset({PASSWORD, PASSWORD_REALM, OTP, REFRESH, AUTHORIZATION_CODE})
#: The log types of each grant's success and failure.
_LOG_TYPES = {
    PASSWORD: ("sepft", "fepft"),
    PASSWORD_REALM: ("sepft", "fepft"),
    OTP: ("seotpft", "feotpft"),
    REFRESH: ("sertft", "fertft"),
    AUTHORIZATION_CODE: ("seacft", "feacft"),
}
#: The OpenID Connect scopes, which any token of a user may carry.
_OPENID = frozenset({"openid", "profile", "email", "phone", "offline_access"})
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
#: A PKCE ``code_verifier`` (RFC 7636, 4.1).
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
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


async def _client(
    call: Call, client_id: str, secret: object, grant: str | None
) -> tuple[Client, bool]:
    """The calling client, and whether it proved itself with its secret (constant time).

    A confidential client must send its secret; a public one (``token_endpoint_auth_method``
    ``none``: SPAs and native apps by default) need not. The emulator's default client may use
    every grant; another client only those in its ``grant_types`` (``grant`` None: no grant
    is asked, e.g. to revoke a token).
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
        if not client.public:
            raise OAuthError(401, "access_denied", "Unauthorized")
        authenticated = False
    first_party = client.client_id == call.emu.client.client_id
    if grant is not None and not first_party and grant not in client.grant_types:
        raise grant_not_allowed(grant)
    return client, authenticated


async def default_directory(call: Call) -> str | None:
    """The tenant's ``default_directory`` setting (a connection name), if set."""
    backend = call.emu.store.backend
    name: str | None = await call.off_loop(backend.get_record, *_DEFAULT_DIRECTORY)
    return name


async def _default_directory(call: Call) -> str:
    name = await default_directory(call)
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
            return await call.store.authenticate(connection, username, password, ip=ip)
        except UnknownConnectionError:
            raise OAuthError(400, "invalid_request", f"Unknown realm {connection[:256]}.") from None
    except AuthenticationError as exc:
        raise OAuthError(exc.status_code, str(exc.error_code), exc.message) from None
    except StorageError:
        raise
    except IdentityStoreError as exc:
        raise OAuthError(400, "invalid_request", exc.message) from None


async def user_token(
    call: Call, params: Mapping[str, Any], grant: str, client_id: str, secret: object
) -> Response:
    """POST /oauth/token for a user grant: ``{access_token, id_token (with openid),
    refresh_token (with offline_access), scope, expires_in, token_type}``."""
    call.log_types = _LOG_TYPES[grant]
    client, authenticated = await _client(call, client_id, secret, grant)
    scope = params.get("scope", "")
    if not isinstance(scope, str):
        raise OAuthError(400, "invalid_scope", "Scope must be an array or a string")
    if grant == REFRESH:
        user, scope, audience, renewed = await _refreshed(call, params, client, scope)
        api = await audience_api(call, audience)
        body = await _tokens(call, client, user, scope, api)
        if renewed is not None:
            body["refresh_token"] = renewed
        return json_response(body, headers=_NO_STORE)
    if grant == AUTHORIZATION_CODE:
        return await _exchange_code(call, params, client)
    audience = params.get("audience")
    api = await audience_api(call, audience)
    nonce = params.get("nonce")
    if nonce is not None and not isinstance(nonce, str):
        raise OAuthError(400, "invalid_request", "Invalid parameter: nonce must be a string")
    forwarded = call.request.headers.get("auth0-forwarded-for")
    ip = forwarded.split(",")[0].strip() if forwarded and authenticated else call.ip
    user = await _sign_in(call, params, grant, ip)
    body = await _tokens(call, client, user, scope, api, nonce=nonce)
    await _add_refresh_token(call, client, user, api, body)
    return json_response(body, headers=_NO_STORE)


async def _add_refresh_token(
    call: Call, client: Client, user: User, api: Api | None, body: dict[str, Any]
) -> None:
    """Add a refresh token to a sign-in's token ``body`` when its scope has ``offline_access``."""
    if "offline_access" in body["scope"].split():
        api_id = None if api is None else api.identifier
        held = Grant(user.user_id, client.client_id, body["scope"], api_id)
        body["refresh_token"] = await call.off_loop(call.emu.refresh_tokens.issue, client, held)


async def audience_api(call: Call, audience: object) -> Api | None:
    """The API a token is asked for: None for ``/userinfo`` only (no audience, or its own)."""
    tenant = call.emu.tenant
    if audience is None or audience == f"{tenant.issuer}userinfo":
        return None
    api = None
    if isinstance(audience, str):
        api = await call.off_loop(find_api, call.emu.store.backend, audience)
    if api is None:
        raise OAuthError(
            403, "access_denied", f"Service not enabled within domain: {str(audience)[:256]}"
        )
    return api


def _granted(scope: str, api: Api | None) -> str:
    """The scopes a user's token gets: the OpenID ones asked for, and those of ``api`` asked
    for (Auth0 without RBAC); ``offline_access`` only where ``api`` allows it."""
    asked = scope.split()
    if api is None:
        return " ".join(asked)
    kept = [
        s
        for s in asked
        if (s in _OPENID and (s != "offline_access" or api.allow_offline_access))
        or s in api.scope_values
    ]
    return " ".join(dict.fromkeys(kept))


async def _tokens(
    call: Call,
    client: Client,
    user: User,
    scope: str,
    api: Api | None,
    *,
    nonce: str | None = None,
    auth_time: int | None = None,
) -> dict[str, Any]:
    """The access token of ``user`` (for ``api``, and ``/userinfo`` with ``openid``), and its ID
    token if ``scope`` has ``openid``: the token response's body."""
    call.log_user = user.user_id
    tenant = call.emu.tenant
    scope = _granted(scope, api)
    scopes = frozenset(scope.split())
    now = call.emu.now()
    userinfo = f"{tenant.issuer}userinfo"
    lifetime = TOKEN_LIFETIME if api is None else api.token_lifetime
    audience: str | list[str] = userinfo
    if api is not None:
        audience = [api.identifier, userinfo] if "openid" in scopes else api.identifier
    access = tenant.key.sign(
        {
            "iss": tenant.issuer,
            "sub": user.user_id,
            "aud": audience,
            "iat": now,
            "exp": now + lifetime,
            "scope": scope,
            "azp": client.client_id,
        }
    )
    body: dict[str, Any] = {"access_token": access}
    if "openid" in scopes:
        claims = {
            "iss": tenant.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + client.jwt_configuration.lifetime_in_seconds,
            **profile_claims(user, scopes),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if auth_time is not None:
            claims["auth_time"] = auth_time
        body["id_token"] = tenant.key.sign(claims)
    body.update({"scope": scope, "expires_in": lifetime, "token_type": "Bearer"})
    return body


# -- authorization codes ---------------------------------------------------------------------


def _invalid_code() -> OAuthError:
    return OAuthError(403, "invalid_grant", "Invalid authorization code")


async def _exchange_code(call: Call, params: Mapping[str, Any], client: Client) -> Response:
    """The ``authorization_code`` grant: the code is used up by the first attempt, right or
    wrong; it must be this client's, name the same ``redirect_uri`` as ``/authorize`` (when that
    named one) and, with PKCE, come with the ``code_verifier`` of its challenge."""
    code = _text(params, "code")
    grant = await call.off_loop(call.emu.sessions.take_code, code)
    if grant is None or grant.client_id != client.client_id:
        raise _invalid_code()
    redirect_uri = params.get("redirect_uri")
    if (grant.redirect_uri_sent or redirect_uri is not None) and redirect_uri != grant.redirect_uri:
        raise OAuthError(
            403, "invalid_grant", "The redirect_uri does not match the authorization request's"
        )
    verifier = params.get("code_verifier")
    if grant.code_challenge is not None or verifier is not None:
        if (
            grant.code_challenge is None
            or not isinstance(verifier, str)
            or not _VERIFIER.fullmatch(verifier)
            or not hmac.compare_digest(pkce_challenge(verifier), grant.code_challenge)
        ):
            raise OAuthError(403, "invalid_grant", "Failed to verify code verifier")
    try:
        user: User = await call.store.get_user(grant.user_id)
    except StorageError:
        raise
    except IdentityStoreError:
        raise _invalid_code() from None
    if user.blocked:
        raise OAuthError(403, "invalid_grant", "user is blocked")
    api = await audience_api(call, grant.audience)
    body = await _tokens(
        call, client, user, grant.scope, api, nonce=grant.nonce, auth_time=grant.auth_time
    )
    await _add_refresh_token(call, client, user, api, body)
    return json_response(body, headers=_NO_STORE)


# -- refresh tokens ---------------------------------------------------------------------------


async def _refreshed(
    call: Call, params: Mapping[str, Any], client: Client, scope: str
) -> tuple[User, str, str | None, str | None]:
    """The user, scope and audience of the request's refresh token, and the token that replaces
    it (a rotating client's; else None): an empty ``scope`` keeps the token's, another must be
    part of it. The token is exchanged only once the user and scope pass."""
    token = params.get("refresh_token")
    if token is None or token == "":
        raise _missing("refresh_token")
    if not isinstance(token, str):
        raise invalid_refresh_token()
    tokens = call.emu.refresh_tokens
    granted, _ = await call.off_loop(tokens.exchange, client, token, commit=False)
    allowed = granted.scope.split()
    if scope and not set(scope.split()) <= set(allowed):
        raise OAuthError(403, "invalid_scope", "Scope must be a subset of the refresh token's")
    try:
        user: User = await call.store.get_user(granted.user_id)
    except IdentityStoreError:
        raise invalid_refresh_token() from None
    if user.blocked:
        raise OAuthError(403, "invalid_grant", "user is blocked")
    granted, renewed = await call.off_loop(tokens.exchange, client, token)
    return user, scope or granted.scope, granted.audience, renewed


async def revoke(call: Call) -> Response:
    """POST /oauth/revoke ``{client_id, client_secret?, token}``: the refresh token no longer
    works; 200 with an empty body, also for a token unknown (RFC 7009)."""
    call.emu.check_rate(call, oauth=True)
    try:
        body = await call.form_or_json()
    except IdentityStoreError as exc:
        raise OAuthError(400, "invalid_request", exc.message) from None
    if not isinstance(body, Mapping):
        raise OAuthError(400, "invalid_request", "The request body must be a JSON object or a form")
    params = {k: v for k, v in body.items() if v is not None}
    client_id = _text(params, "client_id")
    client, _ = await _client(call, client_id, params.get("client_secret"), None)
    token = _text(params, "token")
    await call.off_loop(call.emu.refresh_tokens.revoke, client, token)
    return Response(b"", status_code=200)


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
