"""Hostile bodies on the Authentication API routes, the password change ticket and the tenant
settings: whatever JSON or form arrives, the answer is a 4xx in the route's shape (or its
success), never a 500 or a stack trace, and no password or code sent comes back in it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identitystore import IdentityStore
from identitystore.emulator import Emulator

from .conftest import FAST
from .emulator_support import management_token

ROUTES = [
    "/dbconnections/signup",
    "/dbconnections/change_password",
    "/passwordless/start",
    "/oauth/token",
    "/oauth/revoke",
]
FIELDS = [
    "client_id",
    "client_secret",
    "connection",
    "email",
    "password",
    "username",
    "phone_number",
    "send",
    "authParams",
    "user_metadata",
    "grant_type",
    "realm",
    "otp",
    "scope",
    "audience",
    "nonce",
    "refresh_token",
    "token",
    "user_id",
    "connection_id",
    "ttl_sec",
    "mark_email_as_verified",
    "result_url",
    "default_directory",
    "given_name",
]
TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "\x00",
            "\ud800",
            "email",
            "sms",
            "Username-Password-Authentication",
            "jane@example.com",
            "+14155550100",
            "code",
            "link",
            "openid profile email offline_access",
            "password",
            "refresh_token",
            "http://auth0.com/oauth/grant-type/password-realm",
            "http://auth0.com/oauth/grant-type/passwordless/otp",
            "con_0000000000000000",
            "x" * 5000,
        ]
    ),
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
BODIES = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=8),
    JSON,
)


JSON_TYPE = {"content-type": "application/json"}


def _json(value: Any) -> bytes:
    """``value`` as JSON, lone surrogates escaped (``\\ud800``), as a hostile client sends it."""
    return json.dumps(value).encode("ascii")


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    store = IdentityStore(":memory:", hasher=FAST)
    with Emulator(store) as emulator:
        store.create_user(
            "Username-Password-Authentication", email="jane@example.com", password="Corr3ct-horse"
        )
        yield emulator
    store.close()


def _check(response: httpx.Response, sent: Any) -> None:
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert ("error" in body) or ("code" in body) or ("statusCode" in body)
    if isinstance(sent, dict):
        for name in ("password", "otp", "client_secret"):
            secret = sent.get(name)
            if isinstance(secret, str) and len(secret) >= 6:
                assert secret not in response.text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=st.sampled_from(ROUTES), body=BODIES, form=st.booleans())
def test_hostile_bodies_on_the_authentication_api(
    emu: Emulator, route: str, body: Any, form: bool
) -> None:
    with_client = body
    if isinstance(body, dict) and "client_id" not in body and route != "/oauth/token":
        with_client = {**body, "client_id": emu.client_id}
    if form and isinstance(with_client, dict):
        flat = {str(k): str(v) for k, v in with_client.items()}
        try:
            response = httpx.post(f"{emu.url}{route}", data=flat)
        except UnicodeEncodeError:
            return  # httpx cannot send a lone surrogate in a form: nothing to test
    else:
        response = httpx.post(f"{emu.url}{route}", content=_json(with_client), headers=JSON_TYPE)
    _check(response, with_client)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES, patch=st.booleans())
def test_hostile_bodies_on_tickets_and_settings(emu: Emulator, body: Any, patch: bool) -> None:
    headers = {"authorization": f"Bearer {_token(emu)}", **JSON_TYPE}
    if patch:
        response = httpx.patch(
            f"{emu.url}/api/v2/tenants/settings", content=_json(body), headers=headers
        )
    else:
        response = httpx.post(
            f"{emu.url}/api/v2/tickets/password-change", content=_json(body), headers=headers
        )
    _check(response, body)


@settings(max_examples=30, deadline=None)
@given(header=st.one_of(st.none(), st.text(max_size=60).map(lambda t: f"Bearer {t}"), TEXT))
def test_hostile_userinfo_headers(emu: Emulator, header: str | None) -> None:
    headers = {} if header is None else {"authorization": header}
    try:
        response = httpx.get(f"{emu.url}/userinfo", headers=headers)
    except (UnicodeEncodeError, httpx.LocalProtocolError):
        return  # not sendable as a header
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


_TOKENS: dict[str, str] = {}


def _token(emu: Emulator) -> str:
    if emu.url not in _TOKENS:
        _TOKENS[emu.url] = management_token(emu)
    return _TOKENS[emu.url]


@pytest.mark.parametrize("client_id", ["a\x00b", "\ud800"])
def test_client_ids_no_record_can_hold_on_postgresql(pg_store_url: str, client_id: str) -> None:
    """PostgreSQL refuses a NUL in a look-up: such a client is unknown (401), not a 500."""
    store = IdentityStore(pg_store_url, hasher=FAST)
    try:
        with Emulator(store) as emu:
            bodies = {
                "/oauth/token": {"grant_type": "password", "client_id": client_id,
                                 "username": "a@b.co", "password": "x"},
                "/dbconnections/signup": {"client_id": client_id, "connection": "c",
                                          "password": "p"},
                "/passwordless/start": {"client_id": client_id, "connection": "email",
                                        "email": "a@b.co"},
            }  # fmt: skip
            for path, body in bodies.items():
                response = httpx.post(f"{emu.url}{path}", content=_json(body), headers=JSON_TYPE)
                assert (response.status_code, response.json()["error"]) == (401, "access_denied")
            audience = f"https://{emu.domain}/api/v2/"
            credentials = {"grant_type": "client_credentials", "client_id": client_id,
                           "client_secret": "s", "audience": audience}  # fmt: skip
            response = httpx.post(
                f"{emu.url}/oauth/token", content=_json(credentials), headers=JSON_TYPE
            )
            assert response.status_code == 401
    finally:
        store.close()
