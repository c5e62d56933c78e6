"""create_user through the public API, against Auth0's recorded requests and responses."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime, timezone
from typing import Any

import pytest

from identitystore import IdentityStore, errors

from .fixtures import members_connection as members_connection

DB = "Username-Password-Authentication"
GOOD_PASSWORD = "I have a password and its a secret"  # Auth0's own recorded example (S18)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def gravatar(email: str, initials: str) -> str:
    digest = hashlib.md5(email.encode()).hexdigest()
    return (
        f"https://s.gravatar.com/avatar/{digest}?s=480&r=pg&d="
        f"https%3A%2F%2Fcdn.auth0.com%2Favatars%2F{initials}.png"
    )


def without_ids(body: dict[str, Any]) -> dict[str, Any]:
    out = dict(body)
    for key in ("user_id", "created_at", "updated_at"):
        out.pop(key)
    out["identities"] = [{k: v for k, v in i.items() if k != "user_id"} for i in out["identities"]]
    return out


# -- Auth0's recorded exchanges ------------------------------------------------------------------


def test_recorded_minimal_database_user_with_username(store: IdentityStore, members: str) -> None:
    user = store.create_user(
        members, email="chuck@example.com", username="chuck", password=GOOD_PASSWORD
    )
    body = user.to_dict()
    assert without_ids(body) == {
        "email": "chuck@example.com",
        "email_verified": False,
        "identities": [{"connection": "Members", "provider": "auth0", "isSocial": False}],
        "name": "chuck@example.com",
        "nickname": "chuck",
        # the exact picture Auth0 returned for this email (recording S18)
        "picture": "https://s.gravatar.com/avatar/0b79e7da7bc7877560620cf8f2cc93ae?s=480&r=pg&d="
        "https%3A%2F%2Fcdn.auth0.com%2Favatars%2Fch.png",
        "username": "chuck",
    }
    assert next(iter(body)) == "user_id"
    assert re.fullmatch(r"auth0\|[0-9a-f]{24}", body["user_id"])
    assert body["identities"][0]["user_id"] == body["user_id"].removeprefix("auth0|")
    assert TIMESTAMP.match(body["created_at"])
    assert body["created_at"] == body["updated_at"]


def test_recorded_full_profile(store: IdentityStore, members: str) -> None:
    request = {
        "email": "chuck407@example.com",
        "given_name": "Chuck",
        "family_name": "Sanchez",
        "username": "test-user983",
        "nickname": "Chucky",
        "password": "Passwords hide their chuck",
        "user_metadata": {"favourite_attack": "roundhouse_kick"},
        "verify_email": False,
        "app_metadata": {"facts": ["count_to_infinity_twice", "can_hear_sign_language"]},
        "picture": "https://example-picture-url.jpg",
        "blocked": False,
        "email_verified": True,
    }
    body = store.create_user(members, **request).to_dict()
    assert without_ids(body) == {
        "app_metadata": request["app_metadata"],
        "blocked": False,
        "email": "chuck407@example.com",
        "email_verified": True,
        "family_name": "Sanchez",
        "given_name": "Chuck",
        "identities": [{"connection": "Members", "provider": "auth0", "isSocial": False}],
        "name": "chuck407@example.com",
        "nickname": "Chucky",
        "picture": "https://example-picture-url.jpg",
        "user_metadata": {"favourite_attack": "roundhouse_kick"},
        "username": "test-user983",
    }
    assert store.outbox == []  # verify_email false


def test_recorded_caller_supplied_user_id(store: IdentityStore, members: str) -> None:
    body = store.create_user(
        members,
        user_id="testaccuserpermissions",
        email="testaccuserpermissions@acceptance.test.com",
        username="testaccuserpermissions"[:15],
        password="passpass$12$12",
    ).to_dict()
    assert body["user_id"] == "auth0|testaccuserpermissions"
    assert body["identities"][0]["user_id"] == "testaccuserpermissions"
    assert body["nickname"] == "testaccuserpermissions"
    assert body["picture"] == (
        "https://s.gravatar.com/avatar/d97e25d60bb8202f963e535364a40cb1?s=480&r=pg&d="
        "https%3A%2F%2Fcdn.auth0.com%2Favatars%2Fte.png"
    )


def test_recorded_two_word_name_gives_two_initials(store: IdentityStore) -> None:
    body = store.create_user(
        DB,
        email="john3.doe@gmail.com",
        email_verified=True,
        given_name="John3",
        family_name="Doe",
        name="John3 Doe",
        user_id="1235463",
        password=GOOD_PASSWORD,
    ).to_dict()
    assert body["user_id"] == "auth0|1235463"
    assert body["nickname"] == "john3.doe"
    assert body["picture"] == gravatar("john3.doe@gmail.com", "jd")


def test_passwordless_users(store: IdentityStore) -> None:
    email_user = store.create_user("email", email="Gabriel.Andretta@Gmail.com").to_dict()
    assert email_user["user_id"].startswith("email|")
    assert email_user["email"] == "gabriel.andretta@gmail.com"
    assert email_user["nickname"] == "gabriel.andretta"
    assert email_user["picture"] == gravatar("gabriel.andretta@gmail.com", "ga")
    assert email_user["identities"][0]["provider"] == "email"

    sms_user = store.create_user("sms", phone_number="+14258831929", phone_verified=True).to_dict()
    assert sms_user["user_id"].startswith("sms|")
    assert sms_user["name"] == "+14258831929"
    assert sms_user["phone_verified"] is True
    assert "email" not in sms_user
    assert "email_verified" not in sms_user
    assert sms_user["picture"] == "https://cdn.auth0.com/avatars/default.png"


# -- ids and timestamps --------------------------------------------------------------------------


def test_object_id_starts_with_creation_time(store: IdentityStore, clock: Any) -> None:
    clock.now = datetime(2023, 1, 25, 19, 0, 26, 187000, tzinfo=timezone.utc)
    user = store.create_user(DB, email="a@example.com", password=GOOD_PASSWORD)
    assert user.created_at == user.updated_at == "2023-01-25T19:00:26.187Z"
    seconds = int(user.identity_user_id[:8], 16)
    assert seconds == int(clock.now.timestamp())
    other = store.create_user(DB, email="b@example.com", password=GOOD_PASSWORD)
    assert other.identity_user_id[8:18] == user.identity_user_id[8:18]  # same process bytes
    assert other.user_id != user.user_id


def test_prefixed_user_id_is_prefixed_again(store: IdentityStore) -> None:
    user = store.create_user(DB, email="a@example.com", password=GOOD_PASSWORD, user_id="auth0|x")
    assert user.user_id == "auth0|auth0|x"


# -- schema errors -------------------------------------------------------------------------------


def test_recorded_seven_chained_validation_errors(store: IdentityStore) -> None:
    """The 400 body Auth0 sent for seven bad fields (S22a), in the same body order."""
    with pytest.raises(errors.PayloadValidationError) as caught:
        store.create_user(
            DB,
            phone_number="",
            given_name="",
            family_name="",
            name="",
            nickname="",
            picture="",
            username="",
        )
    assert caught.value.to_dict() == {
        "statusCode": 400,
        "error": "Bad Request",
        "errorCode": "invalid_body",
        "message": (
            "Payload validation error: 'String is too short (0 chars), minimum 1' on property "
            "username (The user's username. Only valid if the connection requires a username). "
            "(also) Payload validation error: 'Object didn't pass validation for format "
            "strict-uri: ' on property picture (A URI pointing to the user's picture). (also) "
            "Payload validation error: 'String is too short (0 chars), minimum 1' on property "
            "nickname (The user's nickname). (also) Payload validation error: 'String is too "
            "short (0 chars), minimum 1' on property name (The user's full name). (also) Payload "
            "validation error: 'String is too short (0 chars), minimum 1' on property family_name "
            "(The user's family name(s)). (also) Payload validation error: 'String is too short "
            "(0 chars), minimum 1' on property given_name (The user's given name(s)). (also) "
            "Payload validation error: 'String does not match pattern ^\\+[0-9]{1,15}$: ' on "
            "property phone_number (The user's phone number (following the E.164 "
            "recommendation))."
        ),
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"email": "none"},
            "Payload validation error: 'Object didn't pass validation for format email: none' "
            "on property email (The user's email).",
            id="bad-email",
        ),
        pytest.param(
            {"blocked": "true"},
            "Payload validation error: 'Expected type boolean but found type string' on property "
            "blocked (Whether this user was blocked by an administrator (true) or not (false)).",
            id="string-for-boolean",
        ),
        pytest.param(
            {"email_verified": 1},
            "Payload validation error: 'Expected type boolean but found type integer' on property "
            "email_verified (Whether this email address is verified (true) or unverified (false). "
            "User will receive a verification email after creation if `email_verified` is false "
            "or not specified).",
            id="integer-for-boolean",
        ),
        pytest.param(
            {"foo": 1, "bar": 2},
            "Payload validation error: 'Additional properties not allowed: foo,bar'.",
            id="unknown-properties",
        ),
        pytest.param(
            {"user_id": "a b"},
            "Payload validation error: 'String does not match pattern ^\\S*$: a b' on property "
            "user_id (The external user's id provided by the identity provider).",
            id="user-id-whitespace",
        ),
        pytest.param(
            {"given_name": "x" * 151},
            "Payload validation error: 'String is too long (151 chars), maximum 150' on property "
            "given_name (The user's given name(s)).",
            id="given-name-too-long",
        ),
        pytest.param(
            {"user_metadata": []},
            "Payload validation error: 'Expected type object but found type array' on property "
            "user_metadata (Data related to the user that does not affect the application's core "
            "functionality).",
            id="metadata-not-object",
        ),
    ],
)
def test_schema_errors(store: IdentityStore, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.PayloadValidationError) as caught:
        store.create_user(DB, **fields)
    assert caught.value.message == message
    assert caught.value.error_code == "invalid_body"
    assert store.backend.count_users() == 0


def test_missing_connection_is_a_schema_error(store: IdentityStore) -> None:
    with pytest.raises(errors.PayloadValidationError) as caught:
        store.create_user(None, email="a@example.com")  # type: ignore[arg-type]
    assert caught.value.message == (
        "Payload validation error: 'Expected type string but found type null' on property "
        "connection (Name of the connection this user should be created in)."
    )


def test_weak_password_body_has_no_error_code(store: IdentityStore) -> None:
    with pytest.raises(errors.PasswordStrengthError) as caught:
        store.create_user(DB, email="a@example.com", password="password")
    assert caught.value.to_dict() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "PasswordStrengthError: Password is too weak",
    }


@pytest.mark.parametrize(
    ("username", "reason"),
    [
        pytest.param("a" * 16, "too_long", id="too-long"),
        pytest.param("jane doe", "invalid_characters", id="space"),
        pytest.param("jané", "invalid_characters", id="accent"),
        pytest.param("j@ex.com", "is_email", id="email-shaped"),
    ],
)
def test_username_rules(store: IdentityStore, members: str, username: str, reason: str) -> None:
    with pytest.raises(errors.InvalidUsernameError) as caught:
        store.create_user(members, email="a@example.com", password=GOOD_PASSWORD, username=username)
    assert caught.value.reason == reason
    assert store.backend.count_users() == 0


def test_username_symbols_and_case(store: IdentityStore, members: str) -> None:
    user = store.create_user(
        members, email="a@example.com", password=GOOD_PASSWORD, username="J.D-o_e+~'!#$^`@"[:15]
    )
    assert user.username == "j.d-o_e+~'!#$^`"


# -- uniqueness ----------------------------------------------------------------------------------


def test_duplicate_email_is_409_case_insensitively(store: IdentityStore) -> None:
    store.create_user(DB, email="jane@example.com", password=GOOD_PASSWORD)
    with pytest.raises(errors.UserExistsError) as caught:
        store.create_user(DB, email="JANE@example.com", password=GOOD_PASSWORD)
    assert caught.value.to_dict() == {
        "statusCode": 409,
        "error": "Conflict",
        "message": "The user already exists.",
        "errorCode": "auth0_idp_error",
    }
    assert store.backend.count_users() == 1


def test_same_email_in_two_connections_is_two_users(store: IdentityStore) -> None:
    a = store.create_user(DB, email="jane@example.com", password=GOOD_PASSWORD)
    b = store.create_user("email", email="jane@example.com")
    assert a.user_id != b.user_id


def test_duplicate_username_is_400(store: IdentityStore, members: str) -> None:
    store.create_user(members, email="a@example.com", password=GOOD_PASSWORD, username="jane")
    with pytest.raises(errors.UsernameInUseError) as caught:
        store.create_user(members, email="b@example.com", password=GOOD_PASSWORD, username="JANE")
    assert caught.value.status_code == 400
    assert caught.value.message == "The username provided is in use already."


def test_duplicate_phone_is_409(store: IdentityStore) -> None:
    store.create_user("sms", phone_number="+15551234567")
    with pytest.raises(errors.UserExistsError) as caught:
        store.create_user("sms", phone_number="+15551234567")
    assert caught.value.field == "phone_number"


def test_user_id_is_unique_across_database_connections(store: IdentityStore, members: str) -> None:
    store.create_user(DB, email="a@example.com", password=GOOD_PASSWORD, user_id="Same")
    with pytest.raises(errors.UserExistsError) as caught:
        store.create_user(
            members, email="b@example.com", password=GOOD_PASSWORD, username="b", user_id="same"
        )
    assert caught.value.field == "user_id"


# -- verification email (docs/auth0-reference-create.md#the-verification-email) ------------------


@pytest.mark.parametrize(
    ("flags", "sent", "stored"),
    [
        pytest.param({"verify_email": True}, True, False, id="verify-true"),
        pytest.param(
            {"verify_email": True, "email_verified": True}, True, True, id="verify-true-v"
        ),
        pytest.param({"verify_email": False}, False, False, id="verify-false"),
        pytest.param({"email_verified": True}, False, True, id="verified"),
        pytest.param({"email_verified": False}, True, False, id="unverified"),
        pytest.param({}, True, False, id="neither"),
    ],
)
def test_verification_email_table(
    store: IdentityStore, flags: dict[str, bool], sent: bool, stored: bool
) -> None:
    user = store.create_user(DB, email="jane@example.com", password=GOOD_PASSWORD, **flags)
    assert user.email_verified is stored
    outbox = store.outbox
    assert len(outbox) == (1 if sent else 0)
    if sent:
        message = outbox[0]
        assert message.kind == "verification_email"
        assert message.recipient == "jane@example.com"
        assert message.user_id == user.user_id
        assert message.token
        assert message.link
        assert message.token in message.link
        assert message.token not in repr(message)


# -- metadata ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        pytest.param({"user_metadata": {"a.b": 1}}, "must not contain '.' or '$'", id="dot"),
        pytest.param({"user_metadata": {"x": {"$set": 1}}}, "user_metadata.x.$set", id="dollar"),
        pytest.param({"app_metadata": {"blocked": True}}, "Reserved app_metadata", id="reserved"),
        pytest.param({"user_metadata": {"x": "y" * 20000}}, "too large", id="size"),
        pytest.param({"user_metadata": {"x": {1, 2}}}, "found type set", id="not-json"),
        pytest.param({"user_metadata": {"x": float("nan")}}, "not-a-number", id="nan"),
        pytest.param({"user_metadata": {"x": "\ud800"}}, "lone surrogate", id="surrogate"),
    ],
)
def test_metadata_rules(store: IdentityStore, fields: dict[str, Any], fragment: str) -> None:
    with pytest.raises(errors.PayloadValidationError) as caught:
        store.create_user(DB, email="a@example.com", password=GOOD_PASSWORD, **fields)
    assert fragment in caught.value.message
    assert store.backend.count_users() == 0


def test_metadata_round_trips_exactly(store: IdentityStore) -> None:
    metadata = {"nested": {"list": [1, 2.5, None, True, "ünï\u2028code"]}, "sql": "'; DROP TABLE x"}
    user = store.create_user(
        DB, email="a@example.com", password=GOOD_PASSWORD, user_metadata=metadata
    )
    assert store.get_user(user.user_id).user_metadata == metadata


# -- object ids across a fork --------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads (3.12+)
def test_a_forked_child_does_not_repeat_its_parents_object_ids() -> None:
    from identitystore._models import new_object_id

    now = datetime.now(timezone.utc)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then exit at once
        os.close(read)
        os.write(write, ",".join(new_object_id(now) for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    parent = {new_object_id(now) for _ in range(50)}
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split(","))
    os.waitpid(pid, 0)
    assert len(child) == 50
    assert not parent & child
    assert {i[8:18] for i in child} != {i[8:18] for i in parent}  # another process part
