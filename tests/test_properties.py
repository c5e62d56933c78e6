"""Property tests of ``create_user`` against docs/auth0-reference-create.md, with
``identitystore.strategies`` (and the project's own fuzzers in ``tests/fuzz_bodies.py``). One
violation per body, for many kinds of connections, is ``tests/test_strategies.py``.

Stores are made inside each example (function-scoped fixtures are not reset between Hypothesis
examples): in memory, and on a real SQLite file for the persistence property.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from identitystore import IdentityStore, IdentityStoreError, Message, PasswordHasher, User
from identitystore._validation import check_create_body
from identitystore.errors import MESSAGE_MAX_LENGTH, PayloadValidationError
from identitystore.limits import FIELD_DESCRIPTIONS
from identitystore.strategies import payload_error

from .fuzz_bodies import (
    CONNECTIONS,
    KINDS,
    PROVIDERS,
    Case,
    add_connections,
    chaos_bodies,
    multi_violation_cases,
    valid_bodies,
)

FAST = PasswordHasher.fast_for_tests()
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
AVATARS = "https://cdn.auth0.com/avatars/"


def new_store(path: str | Path = ":memory:", *, fresh: bool = True) -> IdentityStore:
    """A store with the default connections plus ``EXTRA_CONNECTIONS``."""
    store = IdentityStore(path, hasher=FAST)
    if fresh:
        add_connections(store)
    return store


# -- 1. valid bodies are accepted and round-trip ---------------------------------------------------


def expected_body(kind: str, body: Mapping[str, Any], user_id: str, stamp: str) -> dict[str, Any]:
    """``to_dict()`` of the user ``body`` creates, except ``picture`` (sections 5 and 6)."""
    provider = PROVIDERS[kind]
    expected: dict[str, Any] = {
        "user_id": user_id,
        "created_at": stamp,
        "updated_at": stamp,
        "identities": [
            {
                "connection": CONNECTIONS[kind],
                "user_id": user_id.removeprefix(f"{provider}|"),
                "provider": provider,
                "isSocial": False,
            }
        ],
    }
    if kind == "sms":
        identifier = nickname = body["phone_number"]
        expected["phone_number"] = body["phone_number"]
        expected["phone_verified"] = body.get("phone_verified", False)
    else:
        identifier = body["email"].lower()
        nickname = identifier.rpartition("@")[0]
        expected["email"] = identifier
        expected["email_verified"] = body.get("email_verified", False)
    if kind == "strict":
        expected["username"] = body["username"].lower()
    expected["name"] = body.get("name", identifier)
    # sms: the nickname defaults to the phone number (identitystore's choice: docs/decisions.md, 5).
    expected["nickname"] = body.get("nickname", nickname)
    for key in ("blocked", "given_name", "family_name", "user_metadata", "app_metadata"):
        if key in body:
            expected[key] = body[key]
    return expected


def verification_expected(kind: str, body: Mapping[str, Any]) -> bool:
    """``verify_email`` decides; otherwise sent unless ``email_verified`` is true (see
    docs/auth0-reference-create.md#the-verification-email)."""
    if kind == "sms":
        return False
    if "verify_email" in body:
        return bool(body["verify_email"])
    return not body.get("email_verified", False)


def check_created(
    store: IdentityStore, kind: str, body: Mapping[str, Any], user: User, before: list[Message]
) -> None:
    assert isinstance(user, User)
    data = user.to_dict()
    keys = list(data)
    assert keys[0] == "user_id"
    assert keys[1:] == sorted(keys[1:])
    provider = PROVIDERS[kind]
    if body.get("user_id"):
        assert data["user_id"] == f"{provider}|{body['user_id']}"
    else:  # absent or "" (identitystore treats an empty user_id as not sent)
        assert re.fullmatch(rf"{provider}\|[0-9a-f]{{24}}", data["user_id"])
    assert TIMESTAMP.fullmatch(data["created_at"])
    without_picture = {k: v for k, v in data.items() if k != "picture"}
    assert without_picture == expected_body(kind, body, data["user_id"], data["created_at"])

    picture = data["picture"]
    if "picture" in body:
        assert picture == body["picture"]
    elif kind == "sms":
        assert picture.startswith(AVATARS)
        assert picture.endswith(".png")
    else:
        digest = hashlib.md5(data["email"].encode()).hexdigest()
        assert picture.startswith(
            f"https://s.gravatar.com/avatar/{digest}?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com"
            "%2Favatars%2F"
        )

    stored = store.get_user(user.user_id)
    assert stored == user
    assert stored.to_dict() == data

    sent = store.outbox[len(before) :]
    assert store.outbox[: len(before)] == before
    if verification_expected(kind, body):
        assert len(sent) == 1
        message = sent[0]
        assert message.kind == "verification_email"
        assert message.recipient == data["email"]
        assert message.user_id == user.user_id
        assert message.connection == CONNECTIONS[kind]
        assert message.token
        assert message.link
        assert message.token in message.link
    else:
        assert sent == []


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_valid_body_is_created_as_auth0_would(kind: str, data: st.DataObject) -> None:
    body = data.draw(valid_bodies(kind), label="body")
    request = copy.deepcopy(body)
    with new_store() as store:
        user = store.create_user(CONNECTIONS[kind], **request)
        check_created(store, kind, body, user, [])
        assert store.backend.count_users() == 1
        # The user shares no mutable state with the request: changing the request's metadata
        # afterwards changes neither the returned user nor the stored one.
        snapshot = user.to_dict()
        for key in ("user_metadata", "app_metadata"):
            if key in request:
                request[key]["probe"] = ["changed"]
        assert user.to_dict() == snapshot
        assert store.get_user(user.user_id) == user


def _identifiers(kind: str, body: Mapping[str, Any]) -> set[tuple[str, ...]]:
    keys: set[tuple[str, ...]] = set()
    for key in ("email", "username", "phone_number"):
        if key in body:
            keys.add((CONNECTIONS[kind], key, body[key].lower()))
    if body.get("user_id"):
        keys.add(("user_id", f"{PROVIDERS[kind]}|{body['user_id']}".lower()))
    return keys


@given(
    bodies=st.lists(
        st.sampled_from(KINDS).flatmap(lambda k: valid_bodies(k).map(lambda b: (k, b))),
        min_size=1,
        max_size=4,
    )
)
def test_valid_bodies_survive_reopening_a_file(bodies: list[tuple[str, dict[str, Any]]]) -> None:
    taken: set[tuple[str, ...]] = set()
    for kind, body in bodies:
        keys = _identifiers(kind, body)
        assume(not keys & taken)
        taken |= keys
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "users.db"
        created: list[User] = []
        with new_store(path) as store:
            for kind, body in bodies:
                before = list(store.outbox)
                user = store.create_user(CONNECTIONS[kind], **body)
                check_created(store, kind, body, user, before)
                created.append(user)
        with new_store(path, fresh=False) as reopened:
            assert reopened.backend.count_users() == len(bodies)
            for user in created:
                assert reopened.get_user(user.user_id) == user


# -- 2. several violations: exactly that error, nothing written ---------------------------------


def check_refused(store: IdentityStore, case: Case) -> IdentityStoreError:
    count = store.backend.count_users()
    outbox = list(store.outbox)
    with pytest.raises(PayloadValidationError) as caught:
        store.create_user(case.connection, **case.fields)
    error = caught.value
    assert (error.status_code, error.error_code, error.message) == (
        400,
        "invalid_body",
        case.message,
    )
    assert error.to_dict()["message"] == case.message
    assert store.backend.count_users() == count
    assert store.outbox == outbox
    return error


# -- 3. nothing but a User or an IdentityStoreError ------------------------------------------------


def attempt(store: IdentityStore, connection: Any, fields: dict[str, Any]) -> object:
    """The user ``create_user`` returns, or the ``IdentityStoreError`` it raises."""
    try:
        return store.create_user(connection, **fields)
    except IdentityStoreError as error:
        return error


@given(calls=st.lists(chaos_bodies(), min_size=1, max_size=3))
def test_any_input_gives_a_user_or_an_identitystore_error(
    calls: list[tuple[Any, dict[str, Any]]],
) -> None:
    with new_store() as store:
        for connection, fields in calls:
            count = store.backend.count_users()
            outbox = list(store.outbox)
            outcome = attempt(store, connection, fields)
            if isinstance(outcome, IdentityStoreError):
                assert 400 <= outcome.status_code < 500, outcome  # a bad request, never a 5xx
                assert isinstance(outcome.to_dict()["message"], str)
                json.dumps(outcome.to_dict(), ensure_ascii=False).encode("utf-8")  # sendable
                assert len(outcome.message) <= MESSAGE_MAX_LENGTH
                assert store.backend.count_users() == count
                assert store.outbox == outbox
            else:
                assert isinstance(outcome, User)
                assert store.get_user(outcome.user_id) == outcome
                assert store.backend.count_users() == count + 1


# -- 4. several schema violations: all reported, in z-schema's order -------------------------------


@given(case=multi_violation_cases())
def test_several_violations_are_joined_in_auth0_order(case: Case) -> None:
    with new_store() as store:
        error = check_refused(store, case)
    assert len(case.sentences) >= 2
    assert error.errors == case.sentences  # type: ignore[attr-defined]


@given(case=multi_violation_cases())
def test_root_errors_come_before_property_errors(case: Case) -> None:
    """Without ``connection`` (only reachable below ``create_user``, which always sends one):
    ``Additional properties not allowed``, then ``Missing required property``, then properties."""
    connection_sentence = f"on property connection ({FIELD_DESCRIPTIONS['connection']})."
    additional = "Payload validation error: 'Additional properties not allowed: "
    sentences = [s for s in case.sentences if not s.endswith(connection_sentence)]
    expected = [
        *[s for s in sentences if s.startswith(additional)],
        payload_error("Missing required property: connection"),
        *[s for s in sentences if not s.startswith(additional)],
    ]
    with pytest.raises(PayloadValidationError) as caught:
        check_create_body(case.fields)
    assert caught.value.errors == tuple(expected)
