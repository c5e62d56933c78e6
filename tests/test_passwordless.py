"""Passwordless sign-in: one-time codes and magic links by email and SMS (``start_passwordless``,
``verify_passwordless``)."""

from __future__ import annotations

import re
import sqlite3
import urllib.parse
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from identitystore import IdentityStore, PasswordHasher, errors
from identitystore.notify import Message
from identitystore.testing.helpers import ManualClock

from .fixtures import stamp

FAST = PasswordHasher.fast_for_tests()
DB = "Username-Password-Authentication"
PHONE = "+14155550100"


# -- passwordless ---------------------------------------------------------------------------------


def test_first_code_creates_the_user(store: IdentityStore, clock: ManualClock) -> None:
    message = store.start_passwordless("email", email="Pat@Example.com", ip="10.1.1.1")
    assert isinstance(message, Message)
    assert store.outbox == [message]
    assert message.kind == "passwordless_code"
    assert message.recipient == "pat@example.com"
    assert message.connection == "email"
    assert message.link is None
    assert re.fullmatch(r"\d{6}", str(message.token))
    assert message.created_at == stamp(clock.now)
    assert message.expires_at == stamp(clock.now + timedelta(seconds=180))
    assert str(message.token) not in repr(message)
    (user,) = store.get_users_by_email("pat@example.com")
    assert user.user_id == message.user_id
    assert user.user_id.startswith("email|")
    assert user.email_verified is False
    assert user.logins_count is None
    (signup,) = store.list_events(type="ss")
    assert signup.user_id == user.user_id
    (sent,) = store.list_events(type="cs")
    assert (sent.user_id, sent.ip) == (user.user_id, "10.1.1.1")
    # a second code does not create another user
    second = store.start_passwordless("email", email="pat@example.com")
    assert second.user_id == user.user_id
    assert len(store.list_events(type="ss")) == 1
    assert len(store.list_events(type="cs")) == 2


def test_right_code_signs_in_and_verifies_the_email(
    store: IdentityStore, clock: ManualClock
) -> None:
    message = store.start_passwordless("email", email="pat@example.com")
    clock.now += timedelta(seconds=179)
    user = store.verify_passwordless(
        "email", email="PAT@example.com", code=str(message.token), ip="10.1.1.2"
    )
    assert user.user_id == message.user_id
    assert user.email_verified is True
    assert user.logins_count == 1
    assert user.last_login == stamp(clock.now)
    assert user.last_ip == "10.1.1.2"
    assert user.updated_at == stamp(clock.now)
    assert store.get_user(user.user_id).email_verified is True
    (success,) = store.list_events(type="s")
    assert (success.user_id, success.ip) == (user.user_id, "10.1.1.2")


def test_sms_code_verifies_the_phone(store: IdentityStore) -> None:
    message = store.start_passwordless("sms", phone_number=PHONE)
    assert message.recipient == PHONE
    created = store.get_user(message.user_id)
    assert created.user_id.startswith("sms|")
    assert created.phone_verified is False
    user = store.verify_passwordless("sms", phone_number=PHONE, code=str(message.token))
    assert user.phone_verified is True
    assert user.logins_count == 1


@pytest.mark.parametrize(
    ("connection", "target", "text"),
    [
        ("email", {"email": "pat@example.com"}, "Wrong email or verification code."),
        ("sms", {"phone_number": PHONE}, "Wrong phone number or verification code."),
    ],
)
def test_code_works_once(
    store: IdentityStore, connection: str, target: dict[str, Any], text: str
) -> None:
    message = store.start_passwordless(connection, **target)
    store.verify_passwordless(connection, code=str(message.token), **target)
    with pytest.raises(errors.WrongCodeError) as caught:
        store.verify_passwordless(connection, code=str(message.token), **target)
    assert caught.value.to_dict() == {
        "statusCode": 403,
        "error": "Forbidden",
        "message": text,
        "errorCode": "invalid_grant",
    }
    assert caught.value.to_oauth_dict() == {"error": "invalid_grant", "error_description": text}
    assert store.get_user(message.user_id).logins_count == 1


def _guess_wrong_twice(store: IdentityStore) -> tuple[Message, str]:
    """Send a code to pat@example.com and guess wrong twice: (the message, the wrong guess)."""
    message = store.start_passwordless("email", email="pat@example.com")
    code = str(message.token)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(2):
        with pytest.raises(errors.WrongCodeError):
            store.verify_passwordless("email", email="pat@example.com", code=wrong)
    return message, wrong


def test_two_wrong_guesses_leave_the_code_usable(store: IdentityStore) -> None:
    message, _ = _guess_wrong_twice(store)
    code = str(message.token)
    assert store.verify_passwordless("email", email="pat@example.com", code=code).logins_count == 1


def test_three_wrong_guesses_void_the_code(store: IdentityStore) -> None:
    message, wrong = _guess_wrong_twice(store)
    code = str(message.token)
    with pytest.raises(errors.CodeAttemptsExceededError) as caught:
        store.verify_passwordless("email", email="pat@example.com", code=wrong)
    assert caught.value.to_dict() == {
        "statusCode": 403,
        "error": "Forbidden",
        "message": "You've reached the maximum number of attempts. Please try to login again.",
        "errorCode": "invalid_grant",
    }
    with pytest.raises(errors.WrongCodeError):
        store.verify_passwordless("email", email="pat@example.com", code=code)
    assert store.get_user(message.user_id).email_verified is False
    # a new code works again
    fresh = store.start_passwordless("email", email="pat@example.com")
    user = store.verify_passwordless("email", email="pat@example.com", code=str(fresh.token))
    assert user.logins_count == 1


def test_odd_codes_are_wrong(store: IdentityStore) -> None:
    for code in (None, 123456, "", " ", "abc", "1" * 1000, "12345\ud800"):
        store.start_passwordless("email", email="pat@example.com")
        with pytest.raises(errors.WrongCodeError):
            store.verify_passwordless("email", email="pat@example.com", code=code)  # type: ignore[arg-type]


def test_expired_code(store: IdentityStore, clock: ManualClock) -> None:
    message = store.start_passwordless("email", email="pat@example.com")
    clock.now += timedelta(seconds=181)
    with pytest.raises(errors.WrongCodeError):
        store.verify_passwordless("email", email="pat@example.com", code=str(message.token))
    assert store.get_user(message.user_id).logins_count is None


def test_newer_code_replaces_the_older(store: IdentityStore) -> None:
    old = store.start_passwordless("email", email="pat@example.com")
    new = store.start_passwordless("email", email="pat@example.com")
    if old.token != new.token:
        with pytest.raises(errors.WrongCodeError):
            store.verify_passwordless("email", email="pat@example.com", code=str(old.token))
    user = store.verify_passwordless("email", email="pat@example.com", code=str(new.token))
    assert user.logins_count == 1


def test_code_of_one_identifier_does_not_work_for_another(store: IdentityStore) -> None:
    message = store.start_passwordless("email", email="pat@example.com")
    store.start_passwordless("email", email="sam@example.com")
    with pytest.raises(errors.WrongCodeError):
        store.verify_passwordless("email", email="sam@example.com", code=str(message.token))


def test_unknown_identifier_gets_wrong_code(store: IdentityStore) -> None:
    with pytest.raises(errors.WrongCodeError):
        store.verify_passwordless("email", email="ghost@example.com", code="123456")
    assert store.get_users_by_email("ghost@example.com") == []


def test_totp_options_set_length_and_lifetime(store: IdentityStore, clock: ManualClock) -> None:
    store.create_connection(
        "otp", strategy="email", options={"totp": {"length": 8, "time_step": 60}}
    )
    message = store.start_passwordless("otp", email="pat@example.com")
    assert re.fullmatch(r"\d{8}", str(message.token))
    assert message.expires_at == stamp(clock.now + timedelta(seconds=60))
    clock.now += timedelta(seconds=61)
    with pytest.raises(errors.WrongCodeError):
        store.verify_passwordless("otp", email="pat@example.com", code=str(message.token))


def test_unusable_totp_options_fall_back_to_defaults(
    store: IdentityStore, clock: ManualClock
) -> None:
    unusable: list[Any] = [
        {"length": 0},  # would make "" the code
        {"length": "x"},
        {"length": True},
        {"length": -3},
        {"length": 41},
        {"time_step": 0},  # would expire at once
        {"time_step": 59},
        {"time_step": "60"},
        {"time_step": 10**20},
        7,
    ]
    for number, totp in enumerate(unusable):
        name = f"otp{number}"
        store.create_connection(name, strategy="email", options={"totp": totp})
        message = store.start_passwordless(name, email="pat@example.com")
        assert re.fullmatch(r"\d{6}", str(message.token)), totp
        assert message.expires_at == stamp(clock.now + timedelta(seconds=180)), totp
        with pytest.raises(errors.WrongCodeError):
            store.verify_passwordless(name, email="pat@example.com", code="")


def test_magic_link(store: IdentityStore) -> None:
    message = store.start_passwordless("email", email="pat@example.com", send="link")
    assert message.kind == "passwordless_link"
    assert message.link is not None
    assert str(message.token) in message.link
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(message.link).query)
    assert query["verification_code"] == [message.token]
    assert query["email"] == ["pat@example.com"]
    assert store.outbox == [message]
    user = store.verify_passwordless("email", email="pat@example.com", code=str(message.token))
    assert user.email_verified is True


def test_bad_send_value(store: IdentityStore) -> None:
    with pytest.raises(errors.BadRequestError):
        store.start_passwordless("email", email="pat@example.com", send="carrier-pigeon")  # type: ignore[arg-type]


def test_disable_signup(store: IdentityStore) -> None:
    store.create_connection("closed", strategy="email", options={"disable_signup": True})
    with pytest.raises(errors.SignupDisabledError) as caught:
        store.start_passwordless("closed", email="pat@example.com")
    assert caught.value.status_code == 400
    assert caught.value.error_code == "signup_disabled"
    assert store.get_users_by_email("pat@example.com") == []
    assert store.outbox == []
    existing = store.create_user("closed", email="pat@example.com")
    message = store.start_passwordless("closed", email="pat@example.com")
    assert message.user_id == existing.user_id
    user = store.verify_passwordless("closed", email="pat@example.com", code=str(message.token))
    assert user.user_id == existing.user_id


_INVALID = errors.PayloadValidationError
_REFUSED = errors.FieldNotAllowedError
BAD_IDENTIFIERS: list[tuple[str, dict[str, Any], type[errors.BadRequestError]]] = [
    ("email", {"email": "not-an-email"}, _INVALID),
    ("email", {"email": ""}, _INVALID),
    ("email", {"email": 42}, _INVALID),
    ("email", {}, _INVALID),
    ("email", {"phone_number": PHONE}, _REFUSED),
    ("email", {"email": "pat@example.com", "phone_number": PHONE}, _REFUSED),
    ("sms", {"phone_number": "call me"}, _INVALID),
    ("sms", {"phone_number": "14155550100"}, _INVALID),
    ("sms", {"email": "pat@example.com"}, _REFUSED),
    ("sms", {}, _INVALID),
]


def test_bad_identifiers(store: IdentityStore) -> None:
    for connection, target, error in BAD_IDENTIFIERS:
        with pytest.raises(error):
            store.start_passwordless(connection, **target)
        with pytest.raises(error):
            store.verify_passwordless(connection, code="123456", **target)
    assert store.outbox == []
    assert store.get_users_by_email("pat@example.com") == []


def test_passwordless_needs_a_passwordless_connection(store: IdentityStore) -> None:
    with pytest.raises(errors.UnsupportedStrategyError):
        store.start_passwordless(DB, email="pat@example.com")
    with pytest.raises(errors.UnknownConnectionError):
        store.start_passwordless("nope", email="pat@example.com")


def test_codes_are_stored_hashed(tmp_path: Path) -> None:
    path = tmp_path / "users.db"
    with IdentityStore(path, hasher=FAST) as s:
        s.create_connection("otp", strategy="email", options={"totp": {"length": 8}})
        message = s.start_passwordless("otp", email="pat@example.com")
        code = str(message.token)
        assert len(code) == 8
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT * FROM one_time_codes").fetchall()
        conn.close()
        assert len(rows) == 1
        assert all(code not in str(value) for value in rows[0])
        s.verify_passwordless("otp", email="pat@example.com", code=code)


def test_a_link_is_logged_as_cls_and_a_code_as_cs(store: IdentityStore) -> None:
    store.start_passwordless("sms", phone_number=PHONE, send="link", ip="10.3.3.3")
    store.start_passwordless("sms", phone_number=PHONE)
    assert [e.type for e in store.list_events() if e.type in ("cs", "cls")] == ["cls", "cs"]
    (link,) = store.list_events(type="cls")
    assert (link.ip, link.connection) == ("10.3.3.3", "sms")


@pytest.mark.parametrize("send", ["code", "link"])
def test_a_blocked_user_is_sent_no_code(
    store: IdentityStore, send: Literal["code", "link"]
) -> None:
    first = store.start_passwordless("sms", phone_number=PHONE, send=send)
    store.update_user(first.user_id, blocked=True)
    events = store.list_events()
    with pytest.raises(errors.UserBlockedError) as refused:
        store.start_passwordless("sms", phone_number=PHONE, send=send)
    assert refused.value.user_id == first.user_id
    assert refused.value.to_dict() == {  # the user id is in no error body
        "statusCode": 401,
        "error": "Unauthorized",
        "message": "user is blocked",
        "errorCode": "unauthorized",
    }
    assert store.outbox == [first]
    assert store.list_events() == events  # nothing logged, no code made
    with pytest.raises(errors.UserBlockedError):
        store.verify_passwordless("sms", phone_number=PHONE, code=str(first.token))
    store.update_user(first.user_id, blocked=False)
    again = store.start_passwordless("sms", phone_number=PHONE, send=send)
    assert store.outbox == [first, again]


def test_blocked_user_cannot_use_a_code(store: IdentityStore) -> None:
    message = store.start_passwordless("email", email="pat@example.com")
    store.update_user(message.user_id, blocked=True)
    with pytest.raises(errors.UserBlockedError):
        store.verify_passwordless("email", email="pat@example.com", code=str(message.token))
    assert store.get_user(message.user_id).logins_count is None


def test_failed_code_is_logged(store: IdentityStore) -> None:
    message = store.start_passwordless("sms", phone_number=PHONE)
    with pytest.raises(errors.WrongCodeError):
        store.verify_passwordless("sms", phone_number=PHONE, code="x", ip="10.2.2.2")
    (failure,) = store.list_events(type="f")
    assert (failure.user_id, failure.ip, failure.user_name) == (message.user_id, "10.2.2.2", PHONE)
    assert failure.description == "Wrong phone number or verification code."
