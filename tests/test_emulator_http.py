"""The emulator over plain HTTP: tokens, Auth0's checks and error bodies, routing, limits.

Requests go through a real uvicorn server on 127.0.0.1 (the ``identity_emulator`` fixture) with
httpx; what the HTTP side did is checked on the store behind it.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import ssl
import time
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from identitystore import IdentityStore, PasswordHasher
from identitystore.emulator import Emulator, create_app
from identitystore.errors import IdentityStoreError
from identitystore.testing.helpers import ManualClock
from tests.emulator_support import (
    api,
    collect_client_sockets,  # noqa: F401 - a fixture
    management_token,
    token_response,
)

DB = "Username-Password-Authentication"


def _quoted(user_id: str) -> str:
    return urllib.parse.quote(user_id, safe="")


def _jwks_key(emu: Emulator, kid: str) -> Any:
    keys = httpx.get(f"{emu.url}/.well-known/jwks.json").json()["keys"]
    (jwk,) = [k for k in keys if k["kid"] == kid]
    assert {"kty", "n", "e", "kid", "alg", "use"} <= set(jwk)
    return jwt.PyJWK(jwk).key


# -- /oauth/token -------------------------------------------------------------------------------


def test_client_credentials_token_has_auth0s_claims_and_verifies_with_the_jwks(
    emu: Emulator, identity_clock: ManualClock
) -> None:
    response = token_response(emu)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 86400
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256"
    assert header["typ"] == "JWT"
    claims = jwt.decode(
        body["access_token"],
        _jwks_key(emu, header["kid"]),
        algorithms=["RS256"],
        audience=f"https://{emu.domain}/api/v2/",
        issuer=f"https://{emu.domain}/",
        options={"verify_exp": False, "verify_iat": False},
    )
    now = int(identity_clock().timestamp())  # the store's clock, not the machine's
    assert claims["iat"] == now
    assert claims["exp"] == now + 86400
    assert claims["sub"] == f"{emu.client_id}@clients"
    assert claims["azp"] == emu.client_id
    assert claims["gty"] == "client-credentials"
    assert "create:users" in claims["scope"].split()
    assert claims["scope"] == body["scope"]


def test_token_from_json_with_nulls_and_from_basic_auth(emu: Emulator) -> None:
    audience = f"https://{emu.domain}/api/v2/"
    as_json = httpx.post(
        f"{emu.url}/oauth/token",
        json={
            "client_id": emu.client_id,
            "audience": audience,
            "grant_type": "client_credentials",
            "organization": None,
            "scope": None,
            "client_secret": emu.client_secret,
        },
    )
    assert as_json.status_code == 200, as_json.text
    basic = httpx.post(
        f"{emu.url}/oauth/token",
        data={"grant_type": "client_credentials", "audience": audience},
        auth=(emu.client_id, emu.client_secret),
    )
    assert basic.status_code == 200, basic.text


def test_token_scope_parameter_narrows_the_grant(emu: Emulator) -> None:
    response = token_response(emu, scope="read:users create:nothing")
    assert response.json()["scope"] == "read:users"
    with api(emu, response.json()["access_token"]) as http:
        assert http.get("/users").status_code == 200
        refused = http.post("/users", json={"connection": "sms", "phone_number": "+14155550100"})
        assert refused.status_code == 403


@pytest.mark.parametrize(
    ("change", "status", "body"),
    [
        (
            {"client_secret": "wrong"},
            401,
            {"error": "access_denied", "error_description": "Unauthorized"},
        ),
        (
            {"client_id": "nobody"},
            401,
            {"error": "access_denied", "error_description": "Unauthorized"},
        ),
        (
            {"grant_type": "urn:ietf:params:oauth:grant-type:device_code"},  # not served
            403,
            {
                "error": "unauthorized_client",
                "error_description": "Grant type 'urn:ietf:params:oauth:grant-type:device_code' "
                "not allowed for the client.",
                "error_uri": "https://auth0.com/docs/clients/client-grant-types",
            },
        ),
        (
            {"audience": "https://api.example.com/"},
            403,
            {
                "error": "access_denied",
                "error_description": "Service not enabled within domain: https://api.example.com/",
            },
        ),
        (
            {"grant_type": ""},
            400,
            {
                "error": "invalid_request",
                "error_description": "Missing required parameter: grant_type",
            },
        ),
    ],
)
def test_token_errors_have_oauth_bodies(
    emu: Emulator, change: dict[str, str], status: int, body: dict[str, str]
) -> None:
    response = token_response(emu, **change)
    assert (response.status_code, response.json()) == (status, body)


def test_token_without_audience_is_refused(emu: Emulator) -> None:
    response = token_response(emu, audience=None)
    assert response.status_code == 403
    assert "No audience parameter was provided" in response.json()["error_description"]


def test_discovery_document_names_the_token_endpoint_and_keys(emu: Emulator) -> None:
    document = httpx.get(f"{emu.url}/.well-known/openid-configuration").json()
    assert document["issuer"] == f"https://{emu.domain}/"
    assert document["token_endpoint"] == f"https://{emu.domain}/oauth/token"
    assert document["jwks_uri"] == f"https://{emu.domain}/.well-known/jwks.json"


# -- authentication of the Management API (docs/auth0-reference-http.md) ------------------------


@pytest.mark.parametrize(
    ("header", "status", "body"),
    [
        (
            None,
            401,
            {"statusCode": 401, "error": "Unauthorized", "message": "Missing authentication"},
        ),
        (
            "Basic abc",
            400,
            {
                "statusCode": 400,
                "error": "Bad Request",
                "message": "Bad HTTP authentication header format",
                "errorCode": "Bearer",
            },
        ),
        (
            "Bearer 0123456789abcdef0123456789abcdef",
            400,
            {
                "statusCode": 400,
                "error": "Bad Request",
                "message": "Bad HTTP authentication header format",
                "errorCode": "Bearer",
            },
        ),
        (
            "Bearer a.b.c",
            401,
            {
                "statusCode": 401,
                "error": "Unauthorized",
                "message": "Invalid token",
                "attributes": {"error": "Invalid token"},
            },
        ),
    ],
)
def test_bad_authorization_headers(
    emu: Emulator, header: str | None, status: int, body: dict[str, Any]
) -> None:
    headers = {"authorization": header} if header is not None else {}
    response = httpx.get(f"{emu.url}/api/v2/users", headers=headers)
    assert (response.status_code, response.json()) == (status, body)
    assert response.headers["content-type"] == "application/json; charset=utf-8"


def _signed(emu: Emulator, **changes: Any) -> str:
    """A token signed by the emulator's own key, with claims changed."""
    claims = jwt.decode(management_token(emu), options={"verify_signature": False})
    claims.update(changes)
    return emu.app.emulation.tenant.key.sign(claims)


def test_a_token_signed_by_another_key_is_invalid(emu: Emulator) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    claims = jwt.decode(management_token(emu), options={"verify_signature": False})
    kid = jwt.get_unverified_header(management_token(emu))["kid"]
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other, algorithm="RS256", headers={"kid": kid})
    response = httpx.get(f"{emu.url}/api/v2/users", headers={"authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid token"


def test_an_hs256_token_is_invalid(emu: Emulator) -> None:
    claims = jwt.decode(management_token(emu), options={"verify_signature": False})
    forged = jwt.encode(claims, emu.client_secret, algorithm="HS256")
    response = httpx.get(f"{emu.url}/api/v2/users", headers={"authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_wrong_issuer_is_invalid_and_wrong_audience_is_a_bad_audience(emu: Emulator) -> None:
    with api(emu, _signed(emu, iss="https://other.example.com/")) as http:
        assert http.get("/users").json()["message"] == "Invalid token"
    with api(emu, _signed(emu, aud="https://api.example.com/")) as http:
        response = http.get("/users")
    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "error": "Unauthorized",
        "message": "Bad audience: https://api.example.com/",
    }


def test_tokens_expire_on_the_stores_clock(emu: Emulator, identity_clock: ManualClock) -> None:
    with api(emu) as http:
        assert http.get("/users").status_code == 200
        identity_clock.advance(seconds=86399)
        assert http.get("/users").status_code == 200
        identity_clock.advance(seconds=1)
        response = http.get("/users")
    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "error": "Unauthorized",
        "message": "Expired token received for JSON Web Token validation",
        "attributes": {"error": "Expired token received for JSON Web Token validation"},
    }


def test_a_client_with_too_few_scopes_gets_403_naming_the_scopes(
    client: httpx.Client, emu: Emulator
) -> None:
    made = client.post("/clients", json={"name": "reader", "app_type": "non_interactive"})
    assert made.status_code == 201
    reader = made.json()
    assert reader["client_secret"]
    credentials = {"client_id": reader["client_id"], "client_secret": reader["client_secret"]}
    no_grant = token_response(emu, **credentials)
    assert no_grant.status_code == 403
    assert no_grant.json()["error"] == "access_denied"
    grant = client.post(
        "/client-grants",
        json={
            "client_id": reader["client_id"],
            "audience": f"https://{emu.domain}/api/v2/",
            "scope": ["read:users"],
        },
    )
    assert grant.status_code == 201
    with api(emu, management_token(emu, **credentials)) as http:
        assert http.get("/users").status_code == 200
        refused = http.post("/users", json={"connection": "sms", "phone_number": "+14155550100"})
        assert refused.status_code == 403
        assert refused.json() == {
            "statusCode": 403,
            "error": "Forbidden",
            "message": "Insufficient scope, expected any of: create:users",
            "errorCode": "insufficient_scope",
        }
        several = http.patch("/users/auth0%7Cx", json={})
        assert several.json()["message"] == (
            "Insufficient scope, expected any of: "
            "update:users,update:users_app_metadata,update:current_user_metadata"
        )
    assert emu.store.list_users(include_totals=True).total == 0


# -- routing and bodies -------------------------------------------------------------------------


def test_unknown_route_and_method(client: httpx.Client) -> None:
    missing = client.get("/roles-of-nobody")
    assert missing.status_code == 404
    assert missing.json() == {"statusCode": 404, "error": "Not Found", "message": "Not Found"}
    wrong = client.put("/users")
    assert wrong.status_code == 405
    assert wrong.json()["statusCode"] == 405
    assert wrong.headers["allow"] == "GET, POST"


def test_path_segments_are_decoded_once_after_splitting(client: httpx.Client) -> None:
    user = client.post("/users", json={"connection": "sms", "phone_number": "+14155550100"}).json()
    assert user["user_id"].startswith("sms|")
    found = client.get(f"/users/{_quoted(user['user_id'])}")
    assert found.json()["user_id"] == user["user_id"]
    # %2F stays inside its segment: a user id that does not exist, not an unknown route
    slashed = client.get("/users/sms%7Cabc%2Fdef")
    assert slashed.json()["message"] == "The user does not exist."
    # decoded once: %257C is the text "%7C", not "|"
    twice = client.get(f"/users/{_quoted(_quoted(user['user_id']))}")
    assert twice.status_code == 404


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b"{nope", 400, "Invalid request payload JSON format"),
        (b'{"connection": NaN}', 400, "Invalid request payload JSON format"),
        (b"\xff\xfe", 400, "Invalid request payload JSON format"),
        (
            b"[1, 2]",
            400,
            "Payload validation error: 'Expected type object but found type array'.",
        ),
    ],
)
def test_bodies_that_are_not_json_objects(
    client: httpx.Client, emu: Emulator, content: bytes, status: int, message: str
) -> None:
    response = client.post("/users", content=content, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.json()["message"] == message
    assert emu.store.list_users(include_totals=True).total == 0


def test_a_body_over_1_mb_is_refused_with_413(client: httpx.Client, emu: Emulator) -> None:
    big = b'{"connection": "sms", "user_metadata": {"a": "' + b"x" * (1024 * 1024) + b'"}}'
    declared = client.post("/users", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413
    assert declared.json() == {
        "statusCode": 413,
        "error": "Request Entity Too Large",
        "message": "Payload content length greater than maximum allowed: 1048576",
    }

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    streamed = client.post("/users", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert emu.store.list_users(include_totals=True).total == 0


def test_store_errors_come_back_with_the_stores_exact_body(
    client: httpx.Client, identity_store_factory: Any
) -> None:
    body = {"connection": DB, "email": "not-an-email", "password": "x", "colour": "blue"}
    response = client.post("/users", json=body)
    other = identity_store_factory()
    with pytest.raises(IdentityStoreError) as raised:
        other.create_user(body.pop("connection"), **body)
    assert response.status_code == raised.value.status_code
    assert response.json() == raised.value.to_dict()


def test_a_create_without_connection_lists_every_problem(client: httpx.Client) -> None:
    response = client.post("/users", json={"email": "nope", "colour": "blue"})
    assert response.status_code == 400
    problems = response.json()["message"].split(" (also) ")
    assert "Payload validation error: 'Missing required property: connection'." in problems
    assert any("format email" in p for p in problems)
    assert any("Additional properties not allowed: colour" in p for p in problems)


def test_an_unexpected_failure_is_logged_and_answered_with_auth0s_500(
    client: httpx.Client,
    emu: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(user_id: str) -> None:
        raise RuntimeError("secret detail of the failure")

    monkeypatch.setattr(emu.store, "get_user", broken)
    with caplog.at_level(logging.ERROR, logger="identitystore.emulator"):
        response = client.get("/users/auth0%7Cabc")
    assert response.status_code == 500
    assert response.json() == {
        "statusCode": 500,
        "error": "Internal Server Error",
        "message": "Internal Server Error",
    }
    assert "secret detail" not in response.text
    assert "secret detail of the failure" in caplog.text
    assert client.get("/users").status_code == 200  # and it goes on serving


# -- rate limits --------------------------------------------------------------------------------


def test_every_answer_has_rate_limit_headers(emu: Emulator, client: httpx.Client) -> None:
    before = int(time.time())
    for response in (
        client.get("/users"),
        client.get("/nothing"),
        httpx.get(f"{emu.url}/api/v2/users"),
        token_response(emu),
        httpx.get(f"{emu.url}/.well-known/jwks.json"),
    ):
        assert int(response.headers["x-ratelimit-limit"]) >= 1
        assert int(response.headers["x-ratelimit-remaining"]) >= 0
        reset = int(response.headers["x-ratelimit-reset"])
        assert before < reset <= int(time.time()) + 1


def test_rate_limit_answers_429_with_retry_after(identity_store: IdentityStore) -> None:
    with Emulator(identity_store, rate_limit=2) as emu, api(emu) as http:
        time.sleep(math.ceil(time.time()) - time.time() + 0.01)  # at the start of a second
        answers = [http.get("/users") for _ in range(3)]
        assert len({a.headers["x-ratelimit-reset"] for a in answers}) == 1
        assert [a.status_code for a in answers] == [200, 200, 429]
        limited = answers[2]
        assert limited.json() == {
            "statusCode": 429,
            "error": "Too Many Requests",
            "message": "Global limit has been reached",
            "errorCode": "too_many_requests",
        }
        assert 1 <= int(limited.headers["retry-after"]) <= 1
        assert limited.headers["x-ratelimit-remaining"] == "0"
        assert answers[0].headers["x-ratelimit-limit"] == "2"
        time.sleep(int(limited.headers["x-ratelimit-reset"]) - time.time() + 0.05)
        assert http.get("/users").status_code == 200


# -- users --------------------------------------------------------------------------------------


def test_user_lifecycle(client: httpx.Client, emu: Emulator) -> None:
    created = client.post(
        "/users",
        json={
            "connection": DB,
            "email": "Jane@Example.com",
            "password": "Sup3r-secret!",
            "user_metadata": {"plan": "free", "theme": "dark"},
        },
    )
    assert created.status_code == 201
    user = created.json()
    assert user == emu.store.get_user(user["user_id"]).to_dict()
    path = f"/users/{_quoted(user['user_id'])}"
    patched = client.patch(path, json={"user_metadata": {"plan": "pro", "theme": None}})
    assert patched.status_code == 200
    assert patched.json()["user_metadata"] == {"plan": "pro"}
    assert client.get(path).json() == emu.store.get_user(user["user_id"]).to_dict()
    assert client.delete(path).status_code == 204
    assert client.delete(path).status_code == 204
    gone = client.get(path)
    assert (gone.status_code, gone.json()) == (
        404,
        {
            "statusCode": 404,
            "error": "Not Found",
            "message": "The user does not exist.",
            "errorCode": "inexistent_user",
        },
    )
    assert client.patch(path, json={"name": "x"}).status_code == 404


def test_list_search_fields_and_paging(client: httpx.Client) -> None:
    for n in range(3):
        client.post("/users", json={"connection": "email", "email": f"u{n}@example.com"})
    bare = client.get("/users").json()
    assert isinstance(bare, list)
    assert len(bare) == 3
    wrapped = client.get(
        "/users", params={"page": 0, "per_page": 2, "include_totals": "true", "sort": "email:-1"}
    ).json()
    assert (wrapped["start"], wrapped["limit"], wrapped["length"], wrapped["total"]) == (0, 2, 2, 3)
    assert [u["email"] for u in wrapped["users"]] == ["u2@example.com", "u1@example.com"]
    past = client.get("/users", params={"page": 5, "per_page": 2, "include_totals": "true"})
    assert past.json()["users"] == []
    found = client.get("/users", params={"q": 'email:"u1@example.com"', "search_engine": "v3"})
    assert [u["email"] for u in found.json()] == ["u1@example.com"]
    only = client.get("/users", params={"fields": "email,user_id", "include_fields": "true"})
    assert all(set(u) == {"email", "user_id"} for u in only.json())
    without = client.get("/users", params={"fields": "identities", "include_fields": "false"})
    assert all("identities" not in u and "email" in u for u in without.json())


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"per_page": "101"}, "invalid_query_string"),
        ({"per_page": "ten"}, "invalid_query_string"),
        ({"include_totals": "yes"}, "invalid_query_string"),
        ({"page": "20", "per_page": "50"}, "invalid_paging"),
        ({"q": 'email:"a', "search_engine": "v3"}, "invalid_query_string"),
    ],
)
def test_bad_list_queries_are_400(client: httpx.Client, params: dict[str, str], code: str) -> None:
    response = client.get("/users", params=params)
    assert response.status_code == 400
    assert response.json()["errorCode"] == code


def test_search_engine_v1_is_refused(client: httpx.Client) -> None:
    response = client.get("/users", params={"search_engine": "v1"})
    assert response.json()["message"] == "You are not allowed to use search_engine=v1."


def test_users_by_email(client: httpx.Client) -> None:
    client.post("/users", json={"connection": "email", "email": "same@example.com"})
    client.post(
        "/users", json={"connection": DB, "email": "same@example.com", "password": "Sup3r-secret!"}
    )
    found = client.get("/users-by-email", params={"email": "SAME@example.com"}).json()
    assert sorted(u["identities"][0]["connection"] for u in found) == [DB, "email"]
    assert client.get("/users-by-email", params={"email": "none@example.com"}).json() == []
    assert client.get("/users-by-email").status_code == 400


# -- connections --------------------------------------------------------------------------------


def test_connection_lists_have_auth0s_shapes(client: httpx.Client) -> None:
    bare = client.get("/connections").json()
    assert [c["name"] for c in bare] == [DB, "email", "sms"]
    assert bare[0]["realms"] == [DB]
    assert bare[0]["is_domain_connection"] is False
    names: list[str] = []
    params: dict[str, Any] = {"take": 2, "include_totals": "true"}
    pages = 0
    while True:
        page = client.get("/connections", params=params).json()
        assert set(page) <= {"connections", "next"}
        names += [c["name"] for c in page["connections"]]
        pages += 1
        if "next" not in page:
            break
        params["from"] = page["next"]
    assert (names, pages) == ([DB, "email", "sms"], 2)
    strategies = client.get("/connections", params=[("strategy", "email"), ("strategy", "sms")])
    assert [c["name"] for c in strategies.json()] == ["email", "sms"]
    by_name = client.get(
        "/connections", params={"name": "sms", "per_page": 10, "include_totals": "true"}
    )
    assert by_name.json()["total"] == 1
    assert by_name.json()["connections"][0]["strategy"] == "sms"
    assert client.get("/connections", params={"from": "!!"}).status_code == 400


def test_connection_lifecycle(client: httpx.Client, emu: Emulator) -> None:
    made = client.post(
        "/connections",
        json={"name": "members", "strategy": "auth0", "options": {"passwordPolicy": "fair"}},
    )
    assert made.status_code == 201
    connection = made.json()
    assert connection["id"].startswith("con_")
    assert connection["options"] == {"passwordPolicy": "fair"}
    assert (
        client.post("/connections", json={"name": "members", "strategy": "auth0"}).status_code
        == 409
    )
    path = f"/connections/{connection['id']}"
    assert client.get(path).json() == connection
    patched = client.patch(path, json={"options": {"passwordPolicy": "excellent"}})
    assert patched.json()["options"] == {"passwordPolicy": "excellent"}
    assert emu.store.get_connection("members").options == {"passwordPolicy": "excellent"}
    renamed = client.patch(path, json={"name": "other"})
    assert renamed.status_code == 400
    assert "Additional properties not allowed: name" in renamed.json()["message"]
    client.post(
        "/users",
        json={"connection": "members", "email": "m@example.com", "password": "Sup3r-secret!12"},
    )
    first = client.delete(path)
    assert first.status_code == 202
    assert first.json()["deleted_at"].endswith("Z")
    assert client.delete(path).status_code == 204
    missing = client.get(path)
    assert missing.json() == {
        "statusCode": 404,
        "error": "Not Found",
        "message": "The connection does not exist",
        "errorCode": "inexistent_connection",
    }
    assert emu.store.get_users_by_email("m@example.com") == []


# -- tickets, jobs ------------------------------------------------------------------------------


def test_email_verification_ticket_verifies_the_email(client: httpx.Client, emu: Emulator) -> None:
    user = client.post(
        "/users", json={"connection": DB, "email": "t@example.com", "password": "Sup3r-secret!"}
    ).json()
    response = client.post("/tickets/email-verification", json={"user_id": user["user_id"]})
    assert response.status_code == 201
    link = response.json()["ticket"]
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["ticket"][0]
    assert emu.store.verify_email(token).email_verified is True
    unknown = client.post("/tickets/email-verification", json={"user_id": "auth0|nobody"})
    assert unknown.status_code == 404
    extra = client.post("/tickets/email-verification", json={"user_id": "x", "colour": 1})
    assert extra.status_code == 400


def test_verification_email_job_sends_the_email(client: httpx.Client, emu: Emulator) -> None:
    user = client.post(
        "/users",
        json={
            "connection": DB,
            "email": "j@example.com",
            "password": "Sup3r-secret!",
            "verify_email": False,
        },
    ).json()
    emu.clear_outbox()
    job = client.post("/jobs/verification-email", json={"user_id": user["user_id"]})
    assert job.status_code == 201
    assert job.json()["type"] == "verification_email"
    assert job.json()["id"].startswith("job_")
    assert [m.recipient for m in emu.outbox] == ["j@example.com"]
    assert client.get(f"/jobs/{job.json()['id']}").json() == job.json()
    assert client.get("/jobs/job_nothing").status_code == 404


# -- clients and grants -------------------------------------------------------------------------


def test_clients_and_grants(client: httpx.Client, emu: Emulator) -> None:
    made = client.post("/clients", json={"name": "app"}).json()
    listed = client.get("/clients").json()
    assert emu.client_id in [c["client_id"] for c in listed]
    assert all("client_secret" not in c for c in listed)
    assert client.get(f"/clients/{made['client_id']}").json()["name"] == "app"
    audience = f"https://{emu.domain}/api/v2/"
    body = {"client_id": made["client_id"], "audience": audience, "scope": ["read:users"]}
    grant = client.post("/client-grants", json=body).json()
    assert grant["scope"] == ["read:users"]
    assert client.post("/client-grants", json=body).status_code == 409
    bad_scope = client.post("/client-grants", json={**body, "scope": ["launch:rockets"]})
    assert bad_scope.status_code == 400
    other_api = client.post("/client-grants", json={**body, "audience": "https://x.example/"})
    assert other_api.status_code == 404
    nobody = client.post("/client-grants", json={**body, "client_id": "nobody"})
    assert nobody.status_code == 404
    assert client.post("/client-grants", json={"client_id": made["client_id"]}).status_code == 400
    mine = client.get("/client-grants", params={"client_id": made["client_id"]}).json()
    assert [g["id"] for g in mine] == [grant["id"]]
    assert client.get(f"/client-grants/{grant['id']}").json() == grant
    credentials = {"client_id": made["client_id"], "client_secret": made["client_secret"]}
    assert token_response(emu, **credentials).status_code == 200
    assert client.delete(f"/client-grants/{grant['id']}").status_code == 204
    assert token_response(emu, **credentials).status_code == 403
    assert client.delete(f"/clients/{made['client_id']}").status_code == 204
    assert token_response(emu, **credentials).status_code == 401
    assert client.get(f"/clients/{made['client_id']}").status_code == 404
    assert client.post("/clients", json={}).status_code == 400


# -- test controls ------------------------------------------------------------------------------


def test_outbox_controls(client: httpx.Client, emu: Emulator) -> None:
    client.post(
        "/users",
        json={
            "connection": DB,
            "email": "o@example.com",
            "password": "Sup3r-secret!",
            "verify_email": True,
        },
    )
    outbox = httpx.get(f"{emu.url}/emulator/v1/outbox").json()
    assert [(m["kind"], m["recipient"]) for m in outbox] == [
        ("verification_email", "o@example.com")
    ]
    assert outbox[0]["link"].startswith("https://")
    assert httpx.delete(f"{emu.url}/emulator/v1/outbox").status_code == 204
    assert emu.outbox == []


def test_clock_controls(emu: Emulator, identity_clock: ManualClock) -> None:
    start = identity_clock()
    now = httpx.get(f"{emu.url}/emulator/v1/clock").json()["now"]
    assert now.startswith(start.strftime("%Y-%m-%dT%H:%M:%S"))
    moved = httpx.post(f"{emu.url}/emulator/v1/clock", json={"advance": 90}).json()["now"]
    assert identity_clock() == start + timedelta(seconds=90)
    assert moved.endswith("Z")
    httpx.post(f"{emu.url}/emulator/v1/clock", json={"now": "2030-05-06T07:08:09.000Z"})
    assert identity_clock().isoformat() == "2030-05-06T07:08:09+00:00"
    assert emu.advance_clock(timedelta(minutes=1)).isoformat() == "2030-05-06T07:09:09+00:00"
    for bad in ({"advance": -1}, {"now": "yesterday"}, {"later": 1}, [1]):
        assert httpx.post(f"{emu.url}/emulator/v1/clock", json=bad).status_code == 400


def test_clock_controls_need_a_movable_clock() -> None:
    store = IdentityStore(":memory:", hasher=PasswordHasher.fast_for_tests())
    with Emulator(store) as emu:
        response = httpx.post(f"{emu.url}/emulator/v1/clock", json={"advance": 1})
        assert response.status_code == 409
        assert "cannot be moved" in response.json()["message"]
    store.close()


def test_default_store_clock_runs_and_moves() -> None:
    with Emulator() as emu:
        before = emu.store.clock()
        emu.advance_clock(timedelta(days=2))
        assert emu.store.clock() - before >= timedelta(days=2)
        assert emu.store.tenant_domain == emu.domain


def test_reset_users(client: httpx.Client, emu: Emulator) -> None:
    for n in range(3):
        client.post("/users", json={"connection": "sms", "phone_number": f"+1415555010{n}"})
    assert httpx.delete(f"{emu.url}/emulator/v1/users").json() == {"deleted": 3}
    assert emu.store.list_users(include_totals=True).total == 0
    assert [c.name for c in emu.store.list_connections()] == [DB, "email", "sms"]


def test_faults_answer_a_status_then_stop(client: httpx.Client, emu: Emulator) -> None:
    armed = httpx.post(
        f"{emu.url}/emulator/v1/faults",
        json={"method": "GET", "path": "/api/v2/users*", "status": 503, "times": 2},
    )
    assert armed.status_code == 201
    assert (
        client.post(
            "/users", json={"connection": "sms", "phone_number": "+14155550100"}
        ).status_code
        == 201
    )
    first, second, third = (client.get("/users") for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert first.json() == {
        "statusCode": 503,
        "error": "Service Unavailable",
        "message": "Fault injected by the emulator",
    }
    assert httpx.get(f"{emu.url}/emulator/v1/faults").json() == []


def test_faults_delay_and_can_be_cleared(client: httpx.Client, emu: Emulator) -> None:
    emu.inject_fault("*", "/api/v2/connections", delay=0.3)
    started = time.monotonic()
    assert client.get("/connections").status_code == 200
    assert time.monotonic() - started >= 0.3
    emu.inject_fault("GET", "/api/v2/connections", status=500, times=5)
    assert len(httpx.get(f"{emu.url}/emulator/v1/faults").json()) == 1
    assert httpx.delete(f"{emu.url}/emulator/v1/faults").status_code == 204
    assert client.get("/connections").status_code == 200
    for bad in (
        {"method": "GET", "path": "/x"},
        {"method": "GET", "path": "/x", "status": 200},
        {"method": "GET", "path": "/x", "delay": 9999},
        {"method": "GET", "path": "/x", "status": 500, "colour": 1},
    ):
        assert httpx.post(f"{emu.url}/emulator/v1/faults", json=bad).status_code == 400


# -- serving ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("collect_client_sockets")
def test_tls_with_the_generated_ca(identity_store: IdentityStore) -> None:
    with Emulator(identity_store, tls=True) as emu:
        assert emu.url.startswith("https://127.0.0.1:")
        assert emu.ca_file is not None
        ca_file = Path(emu.ca_file)
        trusted = ssl.create_default_context(cafile=str(ca_file))
        response = httpx.get(f"{emu.url}/.well-known/jwks.json", verify=trusted)
        assert response.status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{emu.url}/.well-known/jwks.json")  # not trusted by default
    assert not ca_file.exists()


def test_a_domain_names_the_issuer(identity_store: IdentityStore) -> None:
    with Emulator(identity_store, domain="auth.example.test") as emu:
        assert emu.url.startswith("http://127.0.0.1:")
        token = management_token(emu)  # audience https://auth.example.test/api/v2/
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["iss"] == "https://auth.example.test/"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_restart_on_the_same_database_keeps_clients_keys_and_tokens(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    clock = ManualClock()
    database = tmp_path / "tenant.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    domain = "tenant.example.test"  # the same tenant on another port: tokens name the domain
    with IdentityStore(database, clock=clock) as store, Emulator(store, domain=domain) as first:
        old_token = management_token(first)
        made = httpx.post(
            f"{first.url}/api/v2/clients",
            json={"name": "kept"},
            headers={"authorization": f"Bearer {old_token}"},
        ).json()
        default_client = first.client_id
    with IdentityStore(database, clock=clock) as store, Emulator(store, domain=domain) as second:
        assert second.client_id == default_client
        with api(second, old_token) as http:
            assert http.get("/users").status_code == 200
        kids = [k["kid"] for k in httpx.get(f"{second.url}/.well-known/jwks.json").json()["keys"]]
        assert len(kids) == 2
        assert jwt.get_unverified_header(old_token)["kid"] == kids[1]
        kept = {"client_id": made["client_id"], "client_secret": made["client_secret"]}
        assert token_response(second, **kept).status_code == 403  # kept; has no grant
        assert token_response(second, **{**kept, "client_secret": "x"}).status_code == 401
        clock.advance(seconds=86400)
        with api(second, old_token) as http:
            assert http.get("/users").status_code == 401
        kids_later = httpx.get(f"{second.url}/.well-known/jwks.json").json()["keys"]
        assert len(kids_later) == 1  # the retired key is gone once its tokens expired


def test_the_asgi_app_serves_without_the_emulator_class() -> None:
    import asyncio

    app = create_app(domain="asgi.example.test")

    async def scenario() -> tuple[int, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://asgi.example.test"
        ) as http:
            form = {
                "grant_type": "client_credentials",
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "audience": "https://asgi.example.test/api/v2/",
            }
            token = await http.post("/oauth/token", data=form)
            users = await http.get(
                "/api/v2/users",
                headers={"authorization": f"Bearer {token.json()['access_token']}"},
            )
            return token.status_code, users.status_code

    assert asyncio.run(scenario()) == (200, 200)
    app.store.close()


# -- logs, blocks, deleting by email ------------------------------------------------------------


def _types(client: httpx.Client, **params: Any) -> list[str]:
    return [e["type"] for e in client.get("/logs", params={"sort": "date:1", **params}).json()]


def test_management_writes_and_token_exchanges_are_logged(
    client: httpx.Client, emu: Emulator
) -> None:
    created = client.post("/users", json={"connection": "sms", "phone_number": "+14155550100"})
    user_id = created.json()["user_id"]
    refused = client.post(
        "/users", json={"connection": DB, "email": "a@example.com", "password": "short"}
    )
    assert refused.status_code == 400
    client.patch(f"/users/{_quoted(user_id)}", json={"name": "Sam"})
    token_response(emu, client_secret="wrong")
    events = client.get("/logs", params={"sort": "date:1", "per_page": 100}).json()
    assert [e["type"] for e in events] == ["seccft", "ss", "sapi", "fapi", "sapi", "feccft"]
    seccft, _, create, fapi, patch, feccft = events
    assert (seccft["client_id"], seccft["client_name"]) == (emu.client_id, "identitystore emulator")
    assert create["description"] == "Create a User"
    assert (create["user_id"], create["client_id"]) == (user_id, emu.client_id)
    assert create["details"]["request"]["path"] == "/api/v2/users"
    assert create["details"]["response"] == {"statusCode": 201}
    assert create["ip"] == "127.0.0.1"
    assert fapi["description"] == "PasswordStrengthError: Password is too weak"
    assert "short" not in str(fapi)  # no body, no password
    assert patch["description"] == "Update a user"  # the store's own entry, not a second one
    assert feccft["description"] == "Unauthorized"
    assert "wrong" not in str(feccft)


def test_a_rate_limited_call_is_logged(identity_store: IdentityStore) -> None:
    with Emulator(identity_store, rate_limit=1) as emu, api(emu) as http:
        time.sleep(math.ceil(time.time()) - time.time() + 0.01)
        statuses = [http.get("/connections").status_code for _ in range(2)]
    assert statuses == [200, 429]
    (limited,) = identity_store.list_events(type="api_limit")
    assert limited.description == "Global limit has been reached"
    assert limited.client_id == emu.client_id


def test_log_pages_searches_and_checkpoints(client: httpx.Client) -> None:
    for n in range(4):
        client.post("/users", json={"connection": "sms", "phone_number": f"+1415555010{n}"})
    newest_first = client.get("/logs").json()
    assert [e["date"] for e in newest_first] == sorted(
        (e["date"] for e in newest_first), reverse=True
    )
    wrapped = client.get("/logs", params={"include_totals": "true", "per_page": 3, "page": 0})
    body = wrapped.json()
    assert (body["start"], body["limit"], body["length"]) == (0, 3, 3)
    assert body["total"] == len(newest_first)
    assert _types(client, q="type:ss") == ["ss"] * 4
    assert _types(client, search="type:ss") == ["ss"] * 4
    oldest = client.get("/logs", params={"take": 2}).json()
    assert len(oldest) == 2
    after = client.get("/logs", params={"from": oldest[-1]["log_id"], "take": 100}).json()
    assert [e["log_id"] for e in oldest + after] == [e["log_id"] for e in reversed(newest_first)]
    one = client.get(f"/logs/{oldest[0]['log_id']}").json()
    assert one == oldest[0]
    missing = client.get("/logs/90020230602105804120563000000000000001223372045029303662")
    assert missing.json() == {
        "statusCode": 404,
        "error": "Not Found",
        "message": "Log not found.",
        "errorCode": "inexistent_log",
    }
    only = client.get("/logs", params={"fields": "type,log_id"}).json()
    assert all(set(e) == {"type", "log_id"} for e in only)


def test_a_users_logs(client: httpx.Client) -> None:
    first = client.post("/users", json={"connection": "sms", "phone_number": "+14155550100"})
    client.post("/users", json={"connection": "sms", "phone_number": "+14155550101"})
    user_id = first.json()["user_id"]
    logs = client.get(f"/users/{_quoted(user_id)}/logs", params={"include_totals": "true"}).json()
    assert logs["total"] == len(logs["logs"]) == 2  # its signup and its sapi
    assert {e["user_id"] for e in logs["logs"]} == {user_id}
    assert client.get("/users/auth0%7Cnobody/logs").json() == []


def test_brute_force_blocks_are_read_and_lifted(client: httpx.Client, emu: Emulator) -> None:
    created = client.post(
        "/users", json={"connection": DB, "email": "b@example.com", "password": "Sup3r-secret!"}
    )
    user_id = created.json()["user_id"]
    for _ in range(emu.store.max_login_attempts):
        with pytest.raises(IdentityStoreError):
            emu.store.authenticate(DB, "b@example.com", "wrong", ip="203.0.113.7")
    expected = {
        "blocked_for": [{"identifier": "b@example.com", "ip": "203.0.113.7", "connection": DB}]
    }
    path = f"/user-blocks/{_quoted(user_id)}"
    assert client.get(path).json() == expected
    assert client.get("/user-blocks", params={"identifier": "B@example.com"}).json() == expected
    assert client.delete("/user-blocks", params={"identifier": "b@example.com"}).status_code == 204
    assert client.get(path).json() == {"blocked_for": []}
    for _ in range(emu.store.max_login_attempts):
        with pytest.raises(IdentityStoreError):
            emu.store.authenticate(DB, "b@example.com", "wrong", ip="203.0.113.7")
    assert client.delete(path).status_code == 204
    assert emu.store.authenticate(DB, "b@example.com", "Sup3r-secret!", ip="203.0.113.7")
    assert client.get("/user-blocks/auth0%7Cnobody").status_code == 404
    assert client.get("/user-blocks").status_code == 400


def test_deleting_a_database_user_by_email(client: httpx.Client, emu: Emulator) -> None:
    client.post(
        "/users", json={"connection": DB, "email": "d@example.com", "password": "Sup3r-secret!"}
    )
    connections = {c.name: c.id for c in emu.store.list_connections()}
    path = f"/connections/{connections[DB]}/users"
    assert client.delete(path, params={"email": "D@example.com"}).status_code == 204
    assert emu.store.get_users_by_email("d@example.com") == []
    assert client.delete(path, params={"email": "d@example.com"}).status_code == 204
    assert client.delete(path).status_code == 400
    sms = client.delete(f"/connections/{connections['sms']}/users", params={"email": "x@y.z"})
    assert sms.status_code == 400
    unknown = client.delete("/connections/con_nothing/users", params={"email": "x@y.z"})
    assert unknown.status_code == 404


def test_a_refusal_that_echoes_nul_or_a_lone_surrogate_is_still_logged(
    client: httpx.Client, emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    audience = f"https://{emu.domain}/api/v2/"
    body = {"client_id": emu.client_id, "audience": audience, "scope": ["a\x00b\ud800"]}
    # JSON escapes the lone surrogate (httpx's own encoder would refuse it)
    refused = client.post(
        "/client-grants", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert refused.status_code == 400
    assert refused.json()["message"] == f"Invalid scope(s) for {audience}: a\x00b\ud800"
    assert client.delete("/users/auth0%7Cx%00y").status_code == 204
    with caplog.at_level(logging.WARNING, logger="identitystore.emulator"):
        events = client.get("/logs", params={"sort": "date:1", "per_page": 100}).json()
    fapi, sapi = [e for e in events if e["type"] in ("fapi", "sapi")]
    assert fapi["type"] == "fapi"
    assert fapi["description"] == f"Invalid scope(s) for {audience}: a\ufffdb\ufffd"
    assert (sapi["type"], sapi["user_id"]) == ("sapi", "auth0|x\ufffdy")
    assert not caplog.records


def test_a_client_gone_before_its_body_is_whole_leaves_no_error_and_no_log(
    client: httpx.Client, emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    host, port = emu.domain.rsplit(":", 1)
    token = client.headers["authorization"]
    body = b'{"connection": "sms", "phone_number": "+14155550100"}'
    with caplog.at_level(logging.INFO, logger="identitystore.emulator"):
        with socket.create_connection((host, int(port)), timeout=10) as gone:
            gone.sendall(
                b"POST /api/v2/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Authorization: {token}\r\nContent-Length: {len(body) + 1}\r\n\r\n".encode()
                + body
            )
            time.sleep(0.2)  # the handler is reading the body
        time.sleep(0.3)  # the server has seen the disconnect
        assert client.get("/users").json() == []
    assert emu.store.list_events(type="fapi") == []  # nothing to answer, nothing to log
    assert not [r for r in caplog.records if r.name == "identitystore.emulator"]
