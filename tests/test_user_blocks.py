"""Brute-force blocks read and lifted, by user and by identifier (Auth0's /api/v2/user-blocks),
and deleting a database connection's user by email."""

from __future__ import annotations

import pytest

from identitystore import IdentityStore, UserBlock, errors
from identitystore.testing.helpers import ManualClock

DB = "Username-Password-Authentication"
PW = "Correct-Horse-9"


def _trip(store: IdentityStore, login: str, ip: str) -> None:
    for _ in range(store.max_login_attempts):
        with pytest.raises(errors.WrongCredentialsError):
            store.authenticate(DB, login, "wrong", ip=ip)
    with pytest.raises(errors.TooManyAttemptsError):
        store.authenticate(DB, login, PW, ip=ip)


def test_blocks_are_read_and_lifted(store: IdentityStore, clock: ManualClock) -> None:
    user = store.create_user(DB, email="a@x.io", password=PW)
    other = store.create_user(DB, email="b@x.io", password=PW)
    assert store.get_user_blocks(user.user_id) == []
    _trip(store, "a@x.io", "10.0.0.1")
    clock.advance(seconds=1)
    _trip(store, "a@x.io", "10.0.0.2")
    expected = [UserBlock("a@x.io", ip, DB) for ip in ("10.0.0.1", "10.0.0.2")]
    assert store.get_user_blocks(user.user_id) == expected
    assert store.get_user_blocks_by_identifier("A@x.io") == expected
    assert expected[0].to_dict() == {"identifier": "a@x.io", "ip": "10.0.0.1", "connection": DB}
    assert store.get_user_blocks(other.user_id) == []
    store.unblock_user(user.user_id)
    assert store.get_user_blocks(user.user_id) == []
    assert store.authenticate(DB, "a@x.io", PW, ip="10.0.0.1").logins_count == 1


def test_blocks_end_with_time(store: IdentityStore, clock: ManualClock) -> None:
    user = store.create_user(DB, email="a@x.io", password=PW)
    _trip(store, "a@x.io", "10.0.0.1")
    assert len(store.get_user_blocks(user.user_id)) == 1
    clock.advance(seconds=store.login_block.total_seconds() + 1)
    assert store.get_user_blocks(user.user_id) == []


def test_unblock_by_identifier(store: IdentityStore) -> None:
    store.update_connection(DB, options={"passwordPolicy": "good", "requires_username": True})
    user = store.create_user(DB, email="a@x.io", username="alice", password=PW)
    _trip(store, "alice", "10.0.0.1")
    assert [b.ip for b in store.get_user_blocks_by_identifier("alice")] == ["10.0.0.1"]
    assert store.get_user_blocks_by_identifier("nobody") == []
    store.unblock_user_by_identifier("alice")
    assert store.get_user_blocks(user.user_id) == []


def test_unknown_users(store: IdentityStore) -> None:
    with pytest.raises(errors.UserNotFoundError):
        store.get_user_blocks("auth0|nobody")
    with pytest.raises(errors.UserNotFoundError):
        store.unblock_user("auth0|nobody")
    store.unblock_user_by_identifier("a\x00b")  # finds nobody: nothing to lift


def test_delete_users_by_email(store: IdentityStore) -> None:
    user = store.create_user(DB, email="a@x.io", password=PW)
    store.create_user("email", email="a@x.io")
    store.delete_users_by_email(DB, "A@X.io")
    with pytest.raises(errors.UserNotFoundError):
        store.get_user(user.user_id)
    assert [u.connection for u in store.get_users_by_email("a@x.io")] == ["email"]
    store.delete_users_by_email(DB, "a@x.io")  # nobody left there: not an error
    with pytest.raises(errors.UnsupportedStrategyError, match="database connection"):
        store.delete_users_by_email("email", "a@x.io")
    with pytest.raises(errors.ConnectionNotFoundError):
        store.delete_users_by_email("nope", "a@x.io")


def test_connection_by_id(store: IdentityStore) -> None:
    connection = store.get_connection(DB)
    assert store.get_connection_by_id(connection.id) == connection
    with pytest.raises(errors.ConnectionNotFoundError):
        store.get_connection_by_id("con_0000000000000000")
