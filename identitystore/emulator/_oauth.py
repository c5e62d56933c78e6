"""The Authentication API's part the SDKs need: ``/oauth/token`` (client credentials), the JWKS
and the OpenID discovery document (docs/auth0-reference-http.md#post-oauthtoken and
#discovery-and-keys)."""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from . import _signin as signin
from ._apis import find_api
from ._errors import OAuthError, grant_not_allowed
from ._http import Call, json_response
from ._tenant import Client, ClientGrant
from ._tokens import TOKEN_LIFETIME

__all__ = ["jwks", "openid_configuration", "token"]

_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(client_id, secret) of an ``Authorization: Basic`` header (``client_secret_basic``)."""
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError(401, "access_denied", "Unauthorized") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError(401, "access_denied", "Unauthorized")
    return urllib.parse.unquote(client_id), urllib.parse.unquote(secret)


def _parameters(body: Any) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise OAuthError(400, "invalid_request", "The request body must be a JSON object or a form")
    return {k: v for k, v in body.items() if v is not None}  # auth0-python sends JSON nulls


def _text(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise OAuthError(400, "invalid_request", f"Missing required parameter: {name}")
    if not isinstance(value, str):
        raise OAuthError(400, "invalid_request", f"Invalid parameter: {name} must be a string")
    return value


async def token(call: Call) -> Response:
    """POST /oauth/token: ``client_credentials`` gives a Management API access token; the
    user grants are ``_signin``'s."""
    params = _parameters(await call.form_or_json())
    grant_type = _text(params, "grant_type")
    basic = _basic_credentials(call.request.headers.get("authorization"))
    if basic is not None:
        client_id, secret = basic
    else:
        client_id = _text(params, "client_id")
        secret = params.get("client_secret", "")
    call.rate_key = f"token:{client_id}"  # the Authentication API has limits of its own
    call.log_client = client_id
    call.emu.check_rate(call, oauth=True)
    if grant_type in signin.GRANTS:
        return await signin.user_token(call, params, grant_type, client_id, secret)
    if grant_type != "client_credentials":
        raise grant_not_allowed(grant_type)
    if not isinstance(secret, str) or not secret:
        raise OAuthError(401, "access_denied", "Unauthorized")
    tenant = call.emu.tenant
    client: Client | None = await call.off_loop(tenant.authenticate, client_id, secret)
    if client is None:
        raise OAuthError(401, "access_denied", "Unauthorized")
    if client.client_id != call.emu.client.client_id and grant_type not in client.grant_types:
        raise grant_not_allowed(grant_type)
    if "organization" in params:
        raise OAuthError(400, "invalid_request", "Organizations are not supported by the emulator")
    audience = params.get("audience")
    if audience is None:
        raise OAuthError(
            403,
            "access_denied",
            "No audience parameter was provided, and no default audience has been configured",
        )
    lifetime = TOKEN_LIFETIME
    if audience != tenant.audience:
        api = None
        if isinstance(audience, str):
            api = await call.off_loop(find_api, call.emu.store.backend, audience)
        if api is None:
            raise OAuthError(403, "access_denied", f"Service not enabled within domain: {audience}")
        lifetime = api.token_lifetime
    grant: ClientGrant | None = await call.off_loop(tenant.grant_for, client.client_id, audience)
    if grant is None:
        raise OAuthError(
            403,
            "access_denied",
            f'Client "{client.client_id}" is not authorized to access resource server '
            f'"{audience}". You need to create a "client-grant" associated to this API.',
        )
    requested = params.get("scope")
    if requested is not None and not isinstance(requested, str):
        raise OAuthError(400, "invalid_scope", "Scope must be an array or a string")
    if requested:
        wanted = set(requested.split())
        grant = ClientGrant(
            grant.id, grant.client_id, grant.audience, tuple(s for s in grant.scope if s in wanted)
        )
    access_token, expires_in = tenant.issue(client, grant, lifetime)
    body = {
        "access_token": access_token,
        "scope": " ".join(grant.scope),
        "expires_in": expires_in,
        "token_type": "Bearer",
    }
    return json_response(body, headers=_NO_STORE)


async def jwks(call: Call) -> Response:
    """GET /.well-known/jwks.json."""
    return json_response(await call.off_loop(call.emu.tenant.jwks))


async def openid_configuration(call: Call) -> Response:
    """GET /.well-known/openid-configuration (what this emulator serves, in Auth0's shape)."""
    base = call.emu.tenant.issuer
    return json_response(
        {
            "issuer": base,
            "authorization_endpoint": f"{base}authorize",
            "token_endpoint": f"{base}oauth/token",
            "userinfo_endpoint": f"{base}userinfo",
            "revocation_endpoint": f"{base}oauth/revoke",
            "jwks_uri": f"{base}.well-known/jwks.json",
            "end_session_endpoint": f"{base}oidc/logout",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "grant_types_supported": ["client_credentials", *sorted(signin.GRANTS)],
            "scopes_supported": [
                *("openid", "profile", "email", "phone", "offline_access"),
                *call.emu.tenant.scopes,
            ],
            "claims_supported": [
                *("aud", "exp", "iat", "iss", "sub", "azp", "gty", "scope", "nonce", "auth_time"),
                *sorted(signin.CLAIMS),
            ],
            "request_uri_parameter_supported": False,
            "request_parameter_supported": False,
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
        }
    )
