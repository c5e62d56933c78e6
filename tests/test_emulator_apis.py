"""APIs of the tenant's own (``/api/v2/resource-servers``) and the access tokens issued for
them: to machines (``client_credentials`` with a client grant) and to users (an ``audience`` on
the sign-in grants), checked with PyJWT as the API would check them."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from identitystore import IdentityStore
from identitystore.emulator import Emulator, OffsetClock

from .conftest import FAST
from .emulator_support import api, signin_form

DB = "Username-Password-Authentication"
PASSWORD = "Corr3ct-horse-battery"
THINGS = "https://things.example.com/"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    store = IdentityStore(":memory:", hasher=FAST, clock=OffsetClock())
    with Emulator(store) as emulator:
        store.create_user(DB, email="jane@example.com", password=PASSWORD, verify_email=False)
        yield emulator
    store.close()


def make_api(emu: Emulator, **changes: Any) -> dict[str, Any]:
    body = {
        "name": "Things",
        "identifier": THINGS,
        "scopes": [{"value": "read:things", "description": "Read things"}],
        "token_lifetime": 7200,
        **changes,
    }
    with api(emu) as client:
        response = client.post("/resource-servers", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def decode(emu: Emulator, token: str, audience: str) -> dict[str, Any]:
    key = jwt.PyJWKClient(f"{emu.url}/.well-known/jwks.json").get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["RS256"], audience=audience, issuer=f"https://{emu.domain}/"
    )
    return claims


def test_resource_servers_crud(emu: Emulator) -> None:
    created = make_api(emu)
    assert created["identifier"] == THINGS
    assert created["scopes"] == [{"value": "read:things", "description": "Read things"}]
    assert (created["token_lifetime"], created["allow_offline_access"]) == (7200, False)
    with api(emu) as client:
        again = client.post("/resource-servers", json={"identifier": THINGS})
        assert (again.status_code, again.json()["errorCode"]) == (409, "conflict")
        own = client.post("/resource-servers", json={"identifier": f"https://{emu.domain}/api/v2/"})
        assert own.status_code == 409
        by_id = client.get(f"/resource-servers/{created['id']}").json()
        quoted = urllib.parse.quote(THINGS, safe="")
        assert client.get(f"/resource-servers/{quoted}").json() == by_id == created
        patched = client.patch(
            f"/resource-servers/{created['id']}",
            json={"scopes": [{"value": "write:things"}], "allow_offline_access": True},
        ).json()
        assert patched["scopes"] == [{"value": "write:things", "description": ""}]
        assert patched["allow_offline_access"] is True
        assert [a["id"] for a in client.get("/resource-servers").json()] == [created["id"]]
        for body, fragment in [
            ({"name": "x"}, "Missing required property: identifier"),
            ({"identifier": "https://a/", "signing_alg": "HS256"}, "RS256 only"),
            ({"identifier": "https://b/", "token_lifetime": 0}, "token_lifetime"),
            ({"identifier": "https://c/", "scopes": [{"value": "two words"}]}, "scopes"),
            ({"identifier": "https://d/", "color": "red"}, "Additional properties"),
        ]:
            refused = client.post("/resource-servers", json=body)
            assert refused.status_code == 400, body
            assert fragment in refused.json()["message"]
        assert client.delete(f"/resource-servers/{created['id']}").status_code == 204
        assert client.delete(f"/resource-servers/{created['id']}").status_code == 204
        assert client.get(f"/resource-servers/{created['id']}").status_code == 404


def test_client_credentials_for_an_api(emu: Emulator) -> None:
    make_api(emu)
    with api(emu) as client:
        machine = client.post("/clients", json={"name": "worker"}).json()
        bad = client.post(
            "/client-grants",
            json={"client_id": machine["client_id"], "audience": THINGS, "scope": ["write:x"]},
        )
        assert bad.json()["message"] == f"Invalid scope(s) for {THINGS}: write:x"
        granted = client.post(
            "/client-grants",
            json={"client_id": machine["client_id"], "audience": THINGS, "scope": ["read:things"]},
        )
        assert granted.status_code == 201, granted.text
    form = {
        "grant_type": "client_credentials",
        "client_id": machine["client_id"],
        "client_secret": machine["client_secret"],
        "audience": THINGS,
    }
    response = httpx.post(f"{emu.url}/oauth/token", data=form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["expires_in"], body["scope"]) == (7200, "read:things")
    claims = decode(emu, body["access_token"], THINGS)
    assert (claims["sub"], claims["scope"]) == (f"{machine['client_id']}@clients", "read:things")
    assert claims["exp"] - claims["iat"] == 7200
    with api(emu, body["access_token"]) as client:
        assert client.get("/users").status_code == 401  # not a Management API token
    no_grant = httpx.post(
        f"{emu.url}/oauth/token",
        data={**form, "client_id": emu.client_id, "client_secret": emu.client_secret},
    )
    assert no_grant.status_code == 403
    assert "client-grant" in no_grant.json()["error_description"]


def test_user_tokens_for_an_api(emu: Emulator) -> None:
    created = make_api(emu)
    scope = "openid email read:things write:undefined offline_access"
    form = signin_form(emu, "jane@example.com", PASSWORD, audience=THINGS, scope=scope)
    body = httpx.post(f"{emu.url}/oauth/token", data=form).json()
    assert body["scope"] == "openid email read:things"  # offline access not allowed by the API
    assert "refresh_token" not in body
    assert body["expires_in"] == 7200
    claims = decode(emu, body["access_token"], THINGS)
    assert claims["aud"] == [THINGS, f"https://{emu.domain}/userinfo"]
    assert claims["scope"] == "openid email read:things"
    info = httpx.get(
        f"{emu.url}/userinfo", headers={"authorization": f"Bearer {body['access_token']}"}
    )
    assert info.json()["email"] == "jane@example.com"
    without_openid = httpx.post(f"{emu.url}/oauth/token", data={**form, "scope": "read:things"})
    assert decode(emu, without_openid.json()["access_token"], THINGS)["aud"] == THINGS

    with api(emu) as client:
        client.patch(f"/resource-servers/{created['id']}", json={"allow_offline_access": True})
    offline = httpx.post(f"{emu.url}/oauth/token", data=form).json()
    assert "offline_access" in offline["scope"].split()
    refreshed = httpx.post(
        f"{emu.url}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "refresh_token": offline["refresh_token"],
        },
    ).json()
    assert decode(emu, refreshed["access_token"], THINGS)["scope"] == offline["scope"]


@pytest.mark.parametrize(
    ("app_type", "grants"),
    [
        ("non_interactive", ["client_credentials"]),
        ("spa", ["implicit", "authorization_code", "refresh_token"]),
        ("native", ["implicit", "authorization_code", "refresh_token"]),
        ("regular_web", ["implicit", "authorization_code", "refresh_token", "client_credentials"]),
    ],
)
def test_a_client_gets_its_app_types_grants(
    emu: Emulator, app_type: str, grants: list[str]
) -> None:
    with api(emu) as client:
        made = client.post("/clients", json={"name": app_type, "app_type": app_type}).json()
    assert made["grant_types"] == grants
    form = signin_form(
        emu,
        "jane@example.com",
        PASSWORD,
        client_id=made["client_id"],
        client_secret=made["client_secret"],
    )
    password = httpx.post(f"{emu.url}/oauth/token", data=form)
    assert (password.status_code, password.json()["error"]) == (403, "unauthorized_client")
    machine = httpx.post(
        f"{emu.url}/oauth/token",
        data={
            **form,
            "grant_type": "client_credentials",
            "audience": f"https://{emu.domain}/api/v2/",
        },
    )
    if "client_credentials" in grants:
        assert machine.json()["error_description"].endswith(
            'create a "client-grant" associated to this API.'
        )
    else:
        assert machine.json()["error"] == "unauthorized_client"
