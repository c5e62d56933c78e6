"""Clients (applications) carry Auth0's settings: ``POST``, ``GET``, ``PATCH /api/v2/clients``
over real HTTP, the settings kept across a restart, and ``token_endpoint_auth_method`` deciding
which client needs a secret at ``/oauth/token``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from identitystore import IdentityStore
from identitystore.emulator import Emulator

from .conftest import FAST
from .emulator_support import api, signin_form, token_response

DB = "Username-Password-Authentication"
PASSWORD = "Corr3ct-horse-battery"
REALM = "http://auth0.com/oauth/grant-type/password-realm"
#: Auth0's settings of a client made without them.
JWT_DEFAULT = {"alg": "RS256", "lifetime_in_seconds": 36000, "secret_encoded": False}
REFRESH_DEFAULT = {
    "rotation_type": "non-rotating",
    "expiration_type": "non-expiring",
    "leeway": 0,
    "token_lifetime": 31557600,
    "infinite_token_lifetime": True,
    "idle_token_lifetime": 2592000,
    "infinite_idle_token_lifetime": True,
}


def _problem(prop: str, text: str) -> dict[str, Any]:
    """Auth0's 400 for one schema problem on ``prop``."""
    return {
        "statusCode": 400,
        "error": "Bad Request",
        "message": f"Payload validation error: '{text}' on property {prop} ({prop}).",
        "errorCode": "invalid_body",
    }


@pytest.mark.parametrize(
    ("app_type", "method"),
    [
        ("spa", "none"),
        ("native", "none"),
        ("regular_web", "client_secret_post"),
        ("non_interactive", "client_secret_post"),
    ],
)
def test_a_new_client_has_auth0s_defaults_for_its_app_type(
    client: httpx.Client, app_type: str, method: str
) -> None:
    made = client.post("/clients", json={"name": "app", "app_type": app_type})
    assert made.status_code == 201, made.text
    body = made.json()
    expected = {
        "callbacks": [],
        "allowed_logout_urls": [],
        "web_origins": [],
        "allowed_origins": [],
        "is_first_party": True,
        "token_endpoint_auth_method": method,
        "jwt_configuration": JWT_DEFAULT,
        "refresh_token": REFRESH_DEFAULT,
    }
    assert {k: body[k] for k in expected} == expected
    assert body["client_secret"]
    shown = client.get(f"/clients/{body['client_id']}").json()
    assert shown == {k: v for k, v in body.items() if k != "client_secret"}


def test_the_default_client_is_a_first_party_confidential_client(
    client: httpx.Client, emu: Emulator
) -> None:
    shown = client.get(f"/clients/{emu.client_id}").json()
    assert shown["is_first_party"] is True
    assert shown["token_endpoint_auth_method"] == "client_secret_post"
    assert (shown["jwt_configuration"], shown["refresh_token"]) == (JWT_DEFAULT, REFRESH_DEFAULT)
    assert shown["callbacks"] == []


def test_a_client_keeps_the_settings_it_is_made_with(client: httpx.Client) -> None:
    settings: dict[str, Any] = {
        "callbacks": ["https://app.example.com/callback", "http://localhost:3000/cb"],
        "allowed_logout_urls": ["https://app.example.com/"],
        "web_origins": ["https://app.example.com"],
        "allowed_origins": ["https://*.example.com"],
        "is_first_party": False,
        "token_endpoint_auth_method": "client_secret_basic",
        "jwt_configuration": {"lifetime_in_seconds": 600, "alg": "RS256", "secret_encoded": True},
        "refresh_token": {
            "rotation_type": "rotating",
            "expiration_type": "expiring",
            "leeway": 5,
            "token_lifetime": 3600,
            "idle_token_lifetime": 600,
        },
    }
    made = client.post("/clients", json={"name": "web", "app_type": "spa", **settings}).json()
    shown = client.get(f"/clients/{made['client_id']}").json()
    for name in ("callbacks", "allowed_logout_urls", "web_origins", "allowed_origins"):
        assert shown[name] == settings[name]
    assert shown["is_first_party"] is False
    assert shown["token_endpoint_auth_method"] == "client_secret_basic"
    assert shown["jwt_configuration"] == {**JWT_DEFAULT, "lifetime_in_seconds": 600}
    assert shown["refresh_token"] == {
        **settings["refresh_token"],
        "infinite_token_lifetime": False,  # "expiring" means it: the flags follow it
        "infinite_idle_token_lifetime": False,
    }
    listed = {c["client_id"]: c for c in client.get("/clients").json()}
    assert listed[made["client_id"]] == shown


def test_patch_changes_the_named_settings_only(client: httpx.Client) -> None:
    made = client.post(
        "/clients",
        json={
            "name": "app",
            "app_type": "regular_web",
            "callbacks": ["https://a.example.com/cb"],
            "jwt_configuration": {"lifetime_in_seconds": 600},
        },
    ).json()
    path = f"/clients/{made['client_id']}"
    changed = client.patch(
        path,
        json={
            "name": "renamed",
            "allowed_logout_urls": ["https://a.example.com/bye"],
            "jwt_configuration": {"alg": "RS256"},  # merged: the lifetime stays
            "refresh_token": {"rotation_type": "rotating", "expiration_type": "non-expiring"},
            "logo_uri": "https://a.example.com/logo.png",  # Auth0's, not kept
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert "client_secret" not in body
    assert body["name"] == "renamed"
    assert body["callbacks"] == ["https://a.example.com/cb"]
    assert body["allowed_logout_urls"] == ["https://a.example.com/bye"]
    assert body["jwt_configuration"]["lifetime_in_seconds"] == 600
    assert body["refresh_token"] == {**REFRESH_DEFAULT, "rotation_type": "rotating"}
    assert body["token_endpoint_auth_method"] == "client_secret_post"
    assert client.get(path).json() == body
    public = client.patch(path, json={"app_type": "spa", "token_endpoint_auth_method": None})
    assert public.json()["token_endpoint_auth_method"] == "none"  # null: the app type's default
    reset = client.patch(path, json={"refresh_token": None}).json()
    assert reset["refresh_token"] == REFRESH_DEFAULT
    assert client.patch("/clients/nobody", json={"name": "x"}).status_code == 404


def test_patch_sets_a_new_secret(client: httpx.Client, emu: Emulator) -> None:
    made = client.post("/clients", json={"name": "m2m"}).json()
    audience = f"https://{emu.domain}/api/v2/"
    grant = {"client_id": made["client_id"], "audience": audience, "scope": ["read:users"]}
    assert client.post("/client-grants", json=grant).status_code == 201
    old = {"client_id": made["client_id"], "client_secret": made["client_secret"]}
    assert token_response(emu, **old).status_code == 200
    secret = "a-new-secret-of-the-client-0123456789"
    assert client.patch(f"/clients/{made['client_id']}", json={"client_secret": secret}).is_success
    assert token_response(emu, **old).status_code == 401
    assert token_response(emu, **{**old, "client_secret": secret}).status_code == 200


@pytest.mark.parametrize(
    ("changes", "prop", "text"),
    [
        ({"callbacks": "https://a.example.com"}, "callbacks", "Expected type array but found "
         "type string"),
        ({"web_origins": ["https://a.example.com", 7]}, "web_origins[1]", "Expected type string "
         "but found type integer"),
        ({"is_first_party": "yes"}, "is_first_party", "Expected type boolean but found type "
         "string"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "token_endpoint_auth_method",
         'No enum match for: "private_key_jwt"'),
        ({"jwt_configuration": []}, "jwt_configuration", "Expected type object but found type "
         "array"),
        ({"jwt_configuration": {"lifetime_in_seconds": "36000"}},
         "jwt_configuration.lifetime_in_seconds", "Expected type integer but found type string"),
        ({"jwt_configuration": {"lifetime_in_seconds": 0}},
         "jwt_configuration.lifetime_in_seconds", "Value 0 is less than minimum 1"),
        ({"jwt_configuration": {"alg": "HS256"}}, "jwt_configuration.alg",
         "The emulator signs with RS256 only"),
        ({"refresh_token": {"rotation_type": "rotating"}}, "refresh_token",
         "Missing required property: expiration_type"),
        ({"refresh_token": {**REFRESH_DEFAULT, "reuse": 1}}, "refresh_token",
         "Additional properties not allowed: reuse"),
        ({"refresh_token": {**REFRESH_DEFAULT, "rotation_type": "sometimes"}},
         "refresh_token.rotation_type", 'No enum match for: "sometimes"'),
        ({"refresh_token": {**REFRESH_DEFAULT, "leeway": -1}}, "refresh_token.leeway",
         "Value -1 is less than minimum 0"),
        ({"refresh_token": {**REFRESH_DEFAULT, "token_lifetime": 10**20}},
         "refresh_token.token_lifetime", "Value 100000000000000000000 is greater than maximum "
         "157788000"),
        ({"refresh_token": {**REFRESH_DEFAULT, "infinite_token_lifetime": 1}},
         "refresh_token.infinite_token_lifetime", "Expected type boolean but found type integer"),
        ({"callbacks": ["https://a.example.com/\x00"]}, "callbacks[0]",
         "String contains a NUL character (U+0000), not stored"),
        ({"allowed_logout_urls": ["ok", "https://\ud800.example.com"]}, "allowed_logout_urls[1]",
         "String contains a lone surrogate, which is not valid Unicode"),
        ({"description": "a\x00b"}, "description",
         "String contains a NUL character (U+0000), not stored"),
    ],
)  # fmt: skip
def test_settings_of_the_wrong_shape_are_refused_and_nothing_is_written(
    client: httpx.Client, changes: dict[str, Any], prop: str, text: str
) -> None:
    clients_before = client.get("/clients").json()
    json_text = {"content-type": "application/json"}  # json.dumps escapes a lone surrogate
    made = client.post(
        "/clients", content=json.dumps({"name": "bad", **changes}), headers=json_text
    )
    assert (made.status_code, made.json()) == (400, _problem(prop, text))
    assert client.get("/clients").json() == clients_before
    kept = client.post("/clients", json={"name": "good"}).json()
    path = f"/clients/{kept['client_id']}"
    before = client.get(path).json()
    changed = client.patch(
        path, content=json.dumps({"name": "renamed", **changes}), headers=json_text
    )
    assert (changed.status_code, changed.json()) == (400, _problem(prop, text))
    assert client.get(path).json() == before


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_settings_survive_a_restart(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    database = tmp_path / "tenant.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    settings = {
        "callbacks": ["https://app.example.com/cb"],
        "token_endpoint_auth_method": "none",
        "jwt_configuration": {"lifetime_in_seconds": 60},
        "refresh_token": {"rotation_type": "rotating", "expiration_type": "expiring"},
    }
    with IdentityStore(database, hasher=FAST) as store, Emulator(store) as first:
        with api(first) as http:
            made = http.post("/clients", json={"name": "kept", **settings}).json()
            made.pop("client_secret")
            http.patch(f"/clients/{made['client_id']}", json={"is_first_party": False})
            made["is_first_party"] = False
    with IdentityStore(database, hasher=FAST) as store, Emulator(store) as second:
        with api(second) as http:
            assert http.get(f"/clients/{made['client_id']}").json() == made


def test_token_endpoint_auth_method_decides_who_needs_a_secret(
    client: httpx.Client, emu: Emulator
) -> None:
    emu.store.create_user(DB, email="jane@example.com", password=PASSWORD)
    made = client.post(
        "/clients", json={"name": "web", "app_type": "regular_web", "grant_types": [REALM]}
    ).json()
    form = signin_form(emu, "jane@example.com", PASSWORD, client_id=made["client_id"])
    without_secret = {k: v for k, v in form.items() if k != "client_secret"}
    refused = httpx.post(f"{emu.url}/oauth/token", data=without_secret)
    assert (refused.status_code, refused.json()["error"]) == (401, "access_denied")
    path = f"/clients/{made['client_id']}"
    assert client.patch(path, json={"token_endpoint_auth_method": "none"}).is_success
    public = httpx.post(f"{emu.url}/oauth/token", data=without_secret)
    assert public.status_code == 200, public.text
    with_secret = {**without_secret, "client_secret": made["client_secret"]}
    assert httpx.post(f"{emu.url}/oauth/token", data=with_secret).status_code == 200
    wrong = {**without_secret, "client_secret": "not-it"}
    assert httpx.post(f"{emu.url}/oauth/token", data=wrong).status_code == 401
    assert client.patch(path, json={"token_endpoint_auth_method": "client_secret_post"}).is_success
    assert httpx.post(f"{emu.url}/oauth/token", data=without_secret).status_code == 401
    document = httpx.get(f"{emu.url}/.well-known/openid-configuration").json()
    assert sorted(document["token_endpoint_auth_methods_supported"]) == [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]
