"""The Authentication API's sign-up, password reset and passwordless routes, and the password
change ticket, over real HTTP: raw requests, and auth0-python 6.x's ``Database`` and
``Passwordless`` classes unmodified (plain HTTP, and HTTPS trusting the emulator's CA)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from auth0.authentication import Database, Passwordless
from auth0.authentication.exceptions import Auth0Error

from identitystore import IdentityStore
from identitystore.emulator import Emulator
from identitystore.testing.helpers import ManualClock, Outbox

from .emulator_support import api, token_response

DB = "Username-Password-Authentication"
PASSWORD = "Corr3ct-horse-battery"
NEW_PASSWORD = "N3w-staple-battery"


def post(emu: Emulator, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{emu.url}{path}", json=body, **kwargs)


def signup_body(emu: Emulator, **changes: Any) -> dict[str, Any]:
    body = {
        "client_id": emu.client_id,
        "connection": DB,
        "email": "Jane@Example.com",
        "password": PASSWORD,
        **changes,
    }
    return {k: v for k, v in body.items() if v is not None}


# -- POST /dbconnections/signup -------------------------------------------------------------------


def test_signup_answers_auth0s_body(emu: Emulator, identity_outbox: Outbox) -> None:
    response = post(emu, "/dbconnections/signup", signup_body(emu, given_name="Jane"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    (user,) = emu.store.get_users_by_email("jane@example.com")
    assert body == {
        "_id": user.user_id.removeprefix("auth0|"),
        "email": "jane@example.com",
        "email_verified": False,
        "given_name": "Jane",
    }
    assert user.given_name == "Jane"
    assert emu.store.authenticate(DB, "jane@example.com", PASSWORD).user_id == user.user_id
    assert identity_outbox.last(to="jane@example.com").kind == "verification_email"
    (event,) = emu.store.list_events(type="ss")
    assert event.user_id == user.user_id


def test_signup_refusals_in_auth0s_shape(emu: Emulator) -> None:
    assert post(emu, "/dbconnections/signup", signup_body(emu)).status_code == 200
    again = post(emu, "/dbconnections/signup", signup_body(emu))
    assert (again.status_code, again.json()) == (
        400,
        {
            "name": "BadRequestError",
            "code": "invalid_signup",
            "description": "Invalid sign up",
            "statusCode": 400,
        },
    )
    missing = post(emu, "/dbconnections/signup", signup_body(emu, password=None))
    assert missing.status_code == 400
    assert missing.json()["description"] == "Missing required parameter: password"
    granted = post(emu, "/dbconnections/signup", signup_body(emu, app_metadata={"role": "admin"}))
    assert granted.json()["description"] == "the following properties are not allowed: app_metadata"
    too_much = post(
        emu,
        "/dbconnections/signup",
        signup_body(emu, email="x@example.com", user_metadata={"a": 1}),
    )
    assert too_much.json()["code"] == "invalid_parameter"
    passwordless = post(emu, "/dbconnections/signup", signup_body(emu, connection="email"))
    assert passwordless.json()["description"] == '"password" is not allowed'
    unknown = post(emu, "/dbconnections/signup", signup_body(emu, client_id="no-such-client"))
    assert (unknown.status_code, unknown.json()) == (
        401,
        {"error": "access_denied", "error_description": "Unauthorized"},
    )
    assert len(emu.store.list_users()) == 1
    refused = emu.store.list_events(type="fs")
    assert [e.description for e in refused] == [
        "The user already exists.",
        '"password" is not allowed',
    ]
    assert PASSWORD not in str([e.to_dict() for e in emu.store.list_events()])


def test_signup_weak_and_common_passwords(emu: Emulator) -> None:
    weak = post(emu, "/dbconnections/signup", signup_body(emu, password="short"))
    body = weak.json()
    assert weak.status_code == 400
    assert (body["name"], body["message"], body["code"]) == (
        "PasswordStrengthError",
        "Password is too weak",
        "invalid_password",
    )
    rules = body["description"]["rules"]
    assert {"message": "At least 8 characters in length", "code": "lengthAtLeast",
            "verified": False} in rules  # fmt: skip
    assert body["description"]["verified"] is False
    assert body["policy"].startswith("* At least 8 characters in length")
    emu.store.create_connection(
        "common", strategy="auth0", options={"password_dictionary": {"enable": True}}
    )
    common = post(
        emu, "/dbconnections/signup", signup_body(emu, connection="common", password="password1")
    )
    assert common.json() == {
        "name": "PasswordDictionaryError",
        "message": "Password is too common",
        "code": "invalid_password",
        "description": "Password is not allowed, it might be too common.",
        "statusCode": 400,
    }
    assert "short" not in weak.text.replace("Password is too weak", "")


# -- POST /dbconnections/change_password ----------------------------------------------------------


def test_change_password_sends_a_reset_link(emu: Emulator, identity_outbox: Outbox) -> None:
    user = emu.store.create_user(DB, email="jane@example.com", password=PASSWORD)
    body = {"client_id": emu.client_id, "email": "JANE@example.com", "connection": DB}
    response = post(emu, "/dbconnections/change_password", body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == "We've just sent you an email to reset your password."
    link = identity_outbox.reset_link(to="jane@example.com")
    assert link.startswith(f"https://{emu.store.tenant_domain}/u/reset-password?ticket=")
    # the controls show the link and its ticket
    (shown,) = [
        m
        for m in httpx.get(f"{emu.url}/emulator/v1/outbox").json()
        if m["kind"] == "password_reset"
    ]
    assert shown["link"] == link
    emu.store.change_password(shown["token"], NEW_PASSWORD)
    assert emu.store.authenticate(DB, "jane@example.com", NEW_PASSWORD).user_id == user.user_id


def test_change_password_answers_the_same_for_an_unknown_email(
    emu: Emulator, identity_outbox: Outbox
) -> None:
    emu.store.create_user(DB, email="jane@example.com", password=PASSWORD)
    known = post(
        emu, "/dbconnections/change_password", {"email": "jane@example.com", "connection": DB}
    )
    identity_outbox.clear()
    unknown = post(
        emu, "/dbconnections/change_password", {"email": "nobody@example.com", "connection": DB}
    )
    assert (unknown.status_code, unknown.headers["content-type"], unknown.text) == (
        known.status_code,
        known.headers["content-type"],
        known.text,
    )
    assert list(identity_outbox) == []


def test_change_password_refusals(emu: Emulator) -> None:
    missing = post(emu, "/dbconnections/change_password", {"connection": DB})
    assert (missing.status_code, missing.json()) == (
        400,
        {"error": "invalid_request", "error_description": "Missing required parameter: email"},
    )
    sms = post(
        emu, "/dbconnections/change_password", {"email": "a@example.com", "connection": "sms"}
    )
    assert sms.json() == {
        "error": "invalid_request",
        "error_description": "The user's main connection does not support this operation.",
    }
    nowhere = post(
        emu, "/dbconnections/change_password", {"email": "a@example.com", "connection": "x"}
    )
    assert nowhere.json()["error_description"] == "The connection does not exist."
    not_json = httpx.post(
        f"{emu.url}/dbconnections/change_password",
        content=b"{",
        headers={"content-type": "application/json"},
    )
    assert (not_json.status_code, not_json.json()["error"]) == (400, "invalid_request")


# -- POST /passwordless/start ---------------------------------------------------------------------


def test_passwordless_start_sends_codes_and_links(emu: Emulator, identity_outbox: Outbox) -> None:
    base = {"client_id": emu.client_id, "connection": "email", "email": "Bob@Example.com"}
    linked = post(emu, "/passwordless/start", base)  # send absent: a link
    assert linked.status_code == 200, linked.text
    (user,) = emu.store.get_users_by_email("bob@example.com")
    assert linked.json() == {
        "_id": user.user_id.removeprefix("email|"),
        "email": "bob@example.com",
        "email_verified": False,
    }
    message = identity_outbox.last(to="bob@example.com")
    assert message.kind == "passwordless_link"
    assert message.link is not None
    assert "verification_code=" in message.link
    coded = post(emu, "/passwordless/start", {**base, "send": "code"})
    assert coded.status_code == 200
    code = identity_outbox.last_code(to="bob@example.com")
    shown = httpx.get(f"{emu.url}/emulator/v1/outbox").json()[-1]
    assert (shown["kind"], shown["token"]) == ("passwordless_code", code)
    sms = post(
        emu,
        "/passwordless/start",
        {"client_id": emu.client_id, "connection": "sms", "phone_number": "+14155550100"},
    )
    assert sms.json()["phone_number"] == "+14155550100"
    assert sms.json()["phone_verified"] is False
    assert emu.store.verify_passwordless("email", email="bob@example.com", code=code).email_verified


@pytest.mark.parametrize(
    ("changes", "status", "error", "description"),
    [
        ({"client_id": None}, 400, "bad.client_id", "Missing required property: client_id"),
        ({"client_id": "nobody"}, 401, "access_denied", "Unauthorized"),
        ({"client_secret": "wrong"}, 401, "access_denied", "Unauthorized"),
        ({"connection": None}, 400, "bad.connection", "Missing required property: connection"),
        ({"connection": "nowhere"}, 400, "bad.connection", "Connection does not exist"),
        (
            {"connection": DB},
            400,
            "bad.connection",
            "Invalid connection strategy. It must either be a passwordless connection",
        ),
        ({"color": "red"}, 400, "bad.request", "the following properties are not allowed: color"),
        (
            {"authParams": "x"},
            400,
            "bad.authParams",
            "error in authParams - invalid type: string (expected object)",
        ),
        ({"email": None}, 400, "bad.email", "Missing required property: email"),
        ({"phone_number": "+14155550100"}, 400, "bad.request",
         "the following properties are not allowed: phone_number"),
        ({"send": "pigeon"}, 400, "bad.request", "send must be code or link"),
    ],
)  # fmt: skip
def test_passwordless_start_refusals(
    emu: Emulator, changes: dict[str, Any], status: int, error: str, description: str
) -> None:
    body = {
        "client_id": emu.client_id,
        "connection": "email",
        "email": "bob@example.com",
        **changes,
    }
    response = post(emu, "/passwordless/start", {k: v for k, v in body.items() if v is not None})
    assert (response.status_code, response.json()) == (
        status,
        {"error": error, "error_description": description},
    )
    assert emu.store.list_users().users == ()


def test_passwordless_start_with_signup_disabled(emu: Emulator) -> None:
    emu.store.update_connection("sms", options={"disable_signup": True})
    body = {"client_id": emu.client_id, "connection": "sms", "phone_number": "+14155550100"}
    response = post(emu, "/passwordless/start", body)
    assert (response.status_code, response.json()) == (
        400,
        {"error": "signup_disabled", "error_description": "Public signup is disabled"},
    )


@pytest.mark.parametrize(
    ("connection", "identifier", "send"),
    [
        ("email", {"email": "bob@example.com"}, "code"),
        ("email", {"email": "bob@example.com"}, "link"),
        ("sms", {"phone_number": "+14155550100"}, "code"),
    ],
)
def test_passwordless_start_sends_nothing_to_a_blocked_user(
    emu: Emulator,
    identity_outbox: Outbox,
    connection: str,
    identifier: dict[str, str],
    send: str,
) -> None:
    body = {"client_id": emu.client_id, "connection": connection, "send": send, **identifier}
    before = post(emu, "/passwordless/start", body)
    assert before.status_code == 200, before.text
    user_id = f"{connection}|{before.json()['_id']}"
    old_code = str(identity_outbox.last(to=next(iter(identifier.values()))).token)
    emu.store.update_user(user_id, blocked=True)
    identity_outbox.clear()
    blocked = post(emu, "/passwordless/start", body)
    assert (blocked.status_code, blocked.json()) == (200, before.json())  # the block is not told
    assert len(identity_outbox) == 0
    assert httpx.get(f"{emu.url}/emulator/v1/outbox").json() == []
    types = [e.type for e in emu.store.list_events(user_id=user_id)]
    assert types.count("cs" if send == "code" else "cls") == 1  # the first one only
    refused = httpx.post(
        f"{emu.url}/oauth/token",
        json={
            "grant_type": "http://auth0.com/oauth/grant-type/passwordless/otp",
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "realm": connection,
            "username": next(iter(identifier.values())),
            "otp": old_code,
        },
    )
    assert refused.json()["error_description"] == "user is blocked"  # the earlier code too
    emu.store.update_user(user_id, blocked=False)
    assert post(emu, "/passwordless/start", body).json() == before.json()
    assert len(identity_outbox) == 1


def test_auth0_python_passwordless_for_a_blocked_user(
    emu: Emulator, identity_outbox: Outbox
) -> None:
    passwordless = Passwordless(emu.domain, emu.client_id, protocol="http")
    first = passwordless.email("pat@example.com", send="code")
    emu.store.update_user(f"email|{first['_id']}", blocked=True)
    identity_outbox.clear()
    assert passwordless.email("pat@example.com", send="code") == first
    assert passwordless.email("pat@example.com") == first  # a link: none either
    assert len(identity_outbox) == 0


# -- POST /api/v2/tickets/password-change ---------------------------------------------------------


def test_password_change_ticket(emu: Emulator, identity_clock: ManualClock) -> None:
    user = emu.store.create_user(DB, email="jane@example.com", password=PASSWORD)
    connection_id = emu.store.get_connection(DB).id
    with api(emu) as client:
        by_id = client.post("/tickets/password-change", json={"user_id": user.user_id})
        assert by_id.status_code == 201, by_id.text
        url = by_id.json()["ticket"]
        assert url.startswith(f"https://{emu.store.tenant_domain}/u/reset-password?ticket=")
        by_email = client.post(
            "/tickets/password-change",
            json={
                "connection_id": connection_id,
                "email": "jane@example.com",
                "ttl_sec": 60,
                "mark_email_as_verified": True,
                "result_url": "https://app.example.com/done",
            },
        )
        assert by_email.status_code == 201, by_email.text
        both = client.post(
            "/tickets/password-change",
            json={"user_id": user.user_id, "connection_id": connection_id, "email": "a@b.co"},
        )
        assert both.status_code == 400
        assert both.json()["errorCode"] == "invalid_body"
        unknown = client.post(
            "/tickets/password-change",
            json={"connection_id": "con_0000000000000000", "email": "jane@example.com"},
        )
        assert unknown.json() == {
            "statusCode": 400,
            "error": "Bad Request",
            "message": "The connection with id con_0000000000000000 does not exist.",
            "errorCode": "inexistent_connection",
        }
        extra = client.post("/tickets/password-change", json={"user_id": user.user_id, "x": 1})
        assert extra.json()["message"] == (
            "Payload validation error: 'Additional properties not allowed: x'."
        )
        nobody = client.post("/tickets/password-change", json={"user_id": "auth0|nobody"})
        assert nobody.status_code == 404
    token = url.split("ticket=", 1)[1].rstrip("#")
    changed = emu.store.change_password(token, NEW_PASSWORD)
    assert changed.email_verified is False
    marking = by_email.json()["ticket"].split("ticket=", 1)[1].rstrip("#")
    assert emu.store.change_password(marking, "Th1rd-good-password").email_verified is True
    assert [e.description for e in emu.store.list_events(type="sapi")][-2:] == [
        "Create a password change ticket",
        "Create a password change ticket",
    ]


def test_password_change_ticket_needs_its_scope(emu: Emulator) -> None:
    with api(emu, _token_with_scope(emu, "read:users")) as client:
        refused = client.post("/tickets/password-change", json={"user_id": "auth0|x"})
    assert refused.status_code == 403
    assert refused.json()["message"] == "Insufficient scope, expected any of: create:user_tickets"


def _token_with_scope(emu: Emulator, scope: str) -> str:
    response = token_response(emu, scope=scope)
    token: str = response.json()["access_token"]
    return token


# -- auth0-python, unmodified ---------------------------------------------------------------------


def test_auth0_python_database_and_passwordless_over_http(
    emu: Emulator, identity_outbox: Outbox
) -> None:
    database = Database(emu.domain, emu.client_id, protocol="http")
    created = database.signup("ann@example.com", PASSWORD, DB, given_name="Ann")
    assert created["email"] == "ann@example.com"
    assert created["given_name"] == "Ann"
    with pytest.raises(Auth0Error) as exists:
        database.signup("ann@example.com", PASSWORD, DB)
    assert (exists.value.status_code, exists.value.error_code) == (400, "invalid_signup")
    answer = database.change_password("ann@example.com", DB)
    assert answer == "We've just sent you an email to reset your password."
    assert database.change_password("nobody@example.com", DB) == answer
    emu.store.change_password(identity_outbox.reset_ticket(to="ann@example.com"), NEW_PASSWORD)
    assert emu.store.authenticate(DB, "ann@example.com", NEW_PASSWORD).given_name == "Ann"

    passwordless = Passwordless(emu.domain, emu.client_id, protocol="http")
    assert passwordless.email("pat@example.com", send="code")["email"] == "pat@example.com"
    code = identity_outbox.last_code(to="pat@example.com")
    assert emu.store.verify_passwordless("email", email="pat@example.com", code=code)
    assert passwordless.sms("+14155550111")["phone_number"] == "+14155550111"
    assert identity_outbox.last(to="+14155550111").kind == "passwordless_code"
    with pytest.raises(Auth0Error) as wrong:
        Passwordless(emu.domain, emu.client_id, "bad-secret", protocol="http").sms("+14155550111")
    assert (wrong.value.status_code, wrong.value.error_code) == (401, "access_denied")


@pytest.fixture
def tls_emu(identity_store: IdentityStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(identity_store, tls=True) as emulator:
        assert emulator.ca_file is not None
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_file)  # auth0-python's requests
        yield emulator


def test_auth0_python_over_https(tls_emu: Emulator, identity_outbox: Outbox) -> None:
    database = Database(tls_emu.domain, tls_emu.client_id)  # https, as for a tenant
    created = database.signup("tls@example.com", PASSWORD, DB)
    assert created["_id"] == tls_emu.store.get_users_by_email("tls@example.com")[0].user_id[6:]
    database.change_password("tls@example.com", DB)
    assert identity_outbox.reset_link(to="tls@example.com").startswith(
        f"https://{tls_emu.store.tenant_domain}/u/reset-password?ticket="
    )
    passwordless = Passwordless(tls_emu.domain, tls_emu.client_id, tls_emu.client_secret)
    assert passwordless.email("tls@example.com", send="link")["email"] == "tls@example.com"
