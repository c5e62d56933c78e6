"""Reading users: ``get_user`` and ``get_users_by_email``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from identitystore import IdentityStore, User, errors

from .fixtures import DB, HOUR, NOT_FOUND, PW, Shared
from .fixtures import scratch_users as scratch_users
from .fixtures import shared_store as shared_store

# -- get_user ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("connection", "fields"),
    [
        pytest.param(DB, {"email": "A@Example.com", "password": PW}, id="database"),
        pytest.param("email", {"email": "b@example.com", "name": "B"}, id="email"),
        pytest.param("sms", {"phone_number": "+14155550123"}, id="sms"),
        pytest.param(
            "Members",
            {"email": "d@example.com", "password": PW, "username": "dee"},
            id="username",
        ),
        pytest.param(
            DB,
            {"email": "c@example.com", "password": PW, "user_id": "Own-Id"},
            id="caller-user-id",
        ),
    ],
)
def test_get_user_returns_the_created_user(
    shared: Shared, scratch: Callable[..., User], connection: str, fields: dict[str, Any]
) -> None:
    created = scratch(connection, **fields)
    found = shared.store.get_user(created.user_id)
    assert found == created
    assert found.to_dict() == created.to_dict()


@pytest.mark.parametrize(
    "user_id",
    [
        pytest.param("auth0|000000000000000000000000", id="unknown"),
        pytest.param("", id="empty"),
        pytest.param("AUTH0|CUSTOM-ID", id="other-case"),
        pytest.param("Custom-Id", id="without-provider"),
        pytest.param(42, id="int"),
        pytest.param(None, id="none"),
        pytest.param(["auth0|Custom-Id"], id="list"),
    ],
)
def test_get_user_unknown_is_auth0_404(shared: Shared, user_id: Any) -> None:
    assert shared.store.get_user("auth0|Custom-Id") == shared.users["custom"]
    with pytest.raises(errors.UserNotFoundError) as caught:
        shared.store.get_user(user_id)
    assert caught.value.to_dict() == NOT_FOUND
    assert caught.value.status_code == 404


# -- get_users_by_email --------------------------------------------------------------------------


def test_users_by_email_across_connections_oldest_first(store: IdentityStore, clock: Any) -> None:
    passwordless = store.create_user("email", email="same@example.com")
    clock.now += HOUR
    database = store.create_user(DB, email="Same@Example.com", password=PW)
    clock.now += HOUR
    store.create_user(DB, email="other@example.com", password=PW)
    for query in ("same@example.com", "SAME@EXAMPLE.COM", "Same@example.com"):
        assert store.get_users_by_email(query) == [passwordless, database]
    assert store.get_users_by_email("nobody@example.com") == []
    assert store.get_users_by_email("same@example") == []


def test_users_by_email_order_is_creation_not_connection(store: IdentityStore, clock: Any) -> None:
    first = store.create_user(DB, email="x@example.com", password=PW)
    clock.now += HOUR
    second = store.create_user("email", email="x@example.com")
    assert [u.user_id for u in store.get_users_by_email("X@example.com")] == [
        first.user_id,
        second.user_id,
    ]


def test_unknown_user_is_404(store: IdentityStore) -> None:
    with pytest.raises(errors.UserNotFoundError) as caught:
        store.get_user("auth0|nope")
    assert caught.value.to_dict() == {
        "statusCode": 404,
        "error": "Not Found",
        "message": "The user does not exist.",
        "errorCode": "inexistent_user",
    }
