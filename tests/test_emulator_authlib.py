"""A generic OpenID Connect client, Authlib's ``OAuth2Client`` (httpx), runs the authorization code
flow with PKCE against the emulator unmodified: endpoints from discovery, over HTTPS, the login
form posted as a browser would; the ID token is then checked against the JWKS with joserfc
(Authlib's JOSE library, which replaces the deprecated ``authlib.jose``)."""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Iterator
from typing import Any

import authlib.deprecate  # noqa: F401 - its import adds an "always" filter, before ours below
import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from identitystore.emulator import Emulator

from .login_pages import CALLBACK, DB, PASSWORD, Browser, location, web_app

with warnings.catch_warnings():
    # Authlib 1.9 prefers its fork "httpx2" and warns when it falls back to httpx itself
    warnings.filterwarnings("ignore", "The httpx module is deprecated", DeprecationWarning)
    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import OAuth2Client


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(tls=True) as emulator:
        emulator.store.create_user(DB, email="jane@example.com", password=PASSWORD)
        yield emulator


@pytest.fixture(scope="module")
def tls(emu: Emulator) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=emu.ca_file)


@pytest.fixture(scope="module")
def metadata(emu: Emulator, tls: ssl.SSLContext) -> dict[str, Any]:
    url = f"https://{emu.domain}/.well-known/openid-configuration"
    doc: dict[str, Any] = httpx.get(url, verify=tls).json()
    return doc


def _browser_signs_in(emu: Emulator, tls: ssl.SSLContext, url: str) -> str:
    """A browser opens the authorization URL, signs jane in on the page, and lands on the
    callback: its URL."""
    browser = Browser(emu, verify=tls)
    try:
        login = location(browser.http.get(url))
        _, page = browser.page(str(login))
        answer = browser.submit(page, "login-form", username="jane@example.com", password=PASSWORD)
        return str(location(answer))
    finally:
        browser.close()


@pytest.mark.parametrize("app_type", ["regular_web", "spa"])
def test_authlib_code_flow_with_pkce(
    emu: Emulator, tls: ssl.SSLContext, metadata: dict[str, Any], app_type: str
) -> None:
    app = web_app(emu, app_type=app_type)
    public = app["token_endpoint_auth_method"] == "none"
    client = OAuth2Client(
        client_id=app["client_id"],
        client_secret=None if public else app["client_secret"],
        token_endpoint_auth_method="none" if public else "client_secret_basic",
        scope="openid profile email offline_access",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
        verify=tls,
    )
    with client:
        verifier, nonce = generate_token(48), generate_token(20)
        url, state = client.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        callback = _browser_signs_in(emu, tls, url)
        token = client.fetch_token(
            metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
        )
        assert token["token_type"] == "Bearer"
        assert "refresh_token" in token
        keys = KeySet.import_key_set(client.get(metadata["jwks_uri"]).json())
        id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": metadata["issuer"]},
            aud={"essential": True, "value": app["client_id"]},
            nonce={"essential": True, "value": nonce},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
        ).validate(id_token.claims)
        assert id_token.claims["email"] == "jane@example.com"
        userinfo = client.get(metadata["userinfo_endpoint"])
        assert userinfo.json()["sub"] == id_token.claims["sub"]
        assert state in callback


def test_authlib_refuses_a_tampered_state(
    emu: Emulator, tls: ssl.SSLContext, metadata: dict[str, Any]
) -> None:
    """The emulator echoes ``state`` unchanged, so the client's own CSRF check holds."""
    app = web_app(emu)
    client = OAuth2Client(
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        scope="openid",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
        verify=tls,
    )
    with client:
        verifier = generate_token(48)
        url, state = client.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier
        )
        callback = httpx.URL(_browser_signs_in(emu, tls, url))
        assert callback.params["state"] == state
        forged = str(callback.copy_set_param("state", state + "x"))
        with pytest.raises(Exception, match="state"):
            client.fetch_token(
                metadata["token_endpoint"],
                authorization_response=forged,
                code_verifier=verifier,
                state=state,
            )
