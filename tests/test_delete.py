"""``delete_user``: the user and everything that hangs on it go; deleting twice is silent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from identitystore import IdentityStore, User, errors

from .fixtures import DB, HISTORY, NOT_FOUND, OTHER_PW, PW, Shared, all_events, all_users
from .fixtures import jane_user as jane_user
from .fixtures import scratch_users as scratch_users
from .fixtures import shared_store as shared_store

# -- delete_user ---------------------------------------------------------------------------------


def test_deleted_user_is_gone_everywhere(store: IdentityStore, jane: User) -> None:
    keep = store.create_user(DB, email="keep@example.com", password=PW)
    count = store.backend.count_users()
    store.delete_user(jane.user_id)  # Auth0's 204: nothing to return (typed None)
    with pytest.raises(errors.UserNotFoundError) as caught:
        store.get_user(jane.user_id)
    assert caught.value.to_dict() == NOT_FOUND
    assert all_users(store) == [keep]
    assert store.list_users(q="email:jane*", include_totals=True).total == 0
    assert store.list_users(DB, include_totals=True).total == 1
    assert store.get_users_by_email("jane@example.com") == []
    assert store.backend.count_users() == count - 1
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, "jane@example.com", PW)


@pytest.mark.parametrize("user_id", ["auth0|ghost", "", 12, None])
def test_delete_unknown_user_is_silent_and_writes_nothing(shared: Shared, user_id: Any) -> None:
    """Auth0 answers 204 to a DELETE of an id that does not exist."""
    before = all_users(shared.store), all_events(shared.store)
    shared.store.delete_user(user_id)
    assert (all_users(shared.store), all_events(shared.store)) == before


def test_delete_twice(store: IdentityStore, jane: User) -> None:
    store.delete_user(jane.user_id)
    before = all_events(store)
    store.delete_user(jane.user_id)
    assert all_events(store) == before
    with pytest.raises(errors.UserNotFoundError):
        store.get_user(jane.user_id)


@pytest.mark.parametrize(
    ("connection", "fields"),
    [
        pytest.param(DB, {"email": "Reuse@Example.com", "password": OTHER_PW}, id="database"),
        pytest.param("email", {"email": "reuse@example.com"}, id="passwordless"),
        pytest.param("sms", {"phone_number": "+14155550142"}, id="sms"),
        pytest.param(
            "Members",
            {"email": "reuse@example.com", "username": "reuser", "password": PW},
            id="username",
        ),
    ],
)
def test_identifier_reusable_after_delete(
    shared: Shared, scratch: Callable[..., User], connection: str, fields: dict[str, Any]
) -> None:
    first = scratch(connection, **fields)
    shared.store.delete_user(first.user_id)
    second = scratch(connection, **fields)
    assert second.user_id != first.user_id
    assert shared.store.get_user(second.user_id) == second


def test_same_caller_user_id_reusable_after_delete(
    shared: Shared, scratch: Callable[..., User]
) -> None:
    store = shared.store
    first = scratch(DB, email="a@example.com", password=PW, user_id="fixed")
    store.delete_user(first.user_id)
    second = scratch(DB, email="b@example.com", password=PW, user_id="fixed")
    assert second.user_id == "auth0|fixed"
    assert store.get_user("auth0|fixed").email == "b@example.com"


def test_tickets_die_with_the_user(shared: Shared, scratch: Callable[..., User]) -> None:
    store = shared.store
    sent = len(store.outbox)
    user = scratch(DB, email="t@example.com", password=PW)  # sends a verification email
    (signup_message,) = store.outbox[sent:]
    ticket = store.create_email_verification_ticket(user.user_id)
    store.delete_user(user.user_id)
    scratch(DB, email="t@example.com", password=PW, verify_email=False)
    for token in (ticket.token, signup_message.token):
        with pytest.raises(errors.InvalidTicketError):
            store.verify_email(str(token))
    assert store.get_users_by_email("t@example.com")[0].email_verified is False


@pytest.mark.parametrize(
    ("connection", "key", "value"),
    [
        pytest.param("email", "email", "code@example.com", id="email"),
        pytest.param("sms", "phone_number", "+14155550177", id="sms"),
    ],
)
def test_one_time_codes_die_with_the_user(
    shared: Shared, scratch: Callable[..., User], connection: str, key: str, value: str
) -> None:
    store = shared.store
    identifier: dict[str, Any] = {key: value}
    message = store.start_passwordless(connection, **identifier)
    store.delete_user(message.user_id)
    successor = scratch(connection, **identifier)
    with pytest.raises(errors.WrongCodeError):
        store.verify_passwordless(connection, code=str(message.token), **{key: value})
    assert store.get_user(successor.user_id).logins_count is None


def test_password_history_dies_with_the_user(shared: Shared, scratch: Callable[..., User]) -> None:
    store = shared.store
    old = scratch("Vault", email="h@example.com", password=HISTORY[0], user_id="h")
    store.update_user(old.user_id, password=HISTORY[1])
    store.delete_user(old.user_id)
    new = scratch("Vault", email="h@example.com", password=HISTORY[2], user_id="h")
    assert new.user_id == old.user_id
    with pytest.raises(errors.PasswordHistoryError):  # history works for the new user ...
        store.update_user(new.user_id, password=HISTORY[2])
    store.update_user(new.user_id, password=HISTORY[0])  # ... but knows nothing of the old one
    assert store.authenticate("Vault", "h@example.com", HISTORY[0]).user_id == "auth0|h"
