"""What a store writes survives closing and reopening its file, and a password is stored as its
hash only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore, errors

from .conftest import FAST
from .fixtures import DB, HOUR, all_events, all_users

# -- persistence ---------------------------------------------------------------------------------


def test_file_store_keeps_everything_across_reopen(tmp_path: Path, clock: Any) -> None:
    path = tmp_path / "persist.db"
    with IdentityStore(path, hasher=FAST, clock=clock) as first:
        first.create_connection("Vault", strategy="auth0", options={"passwordPolicy": "low"})
        kept = first.create_user("Vault", email="k@example.com", password="secret1")
        clock.now += HOUR
        first.update_user(kept.user_id, user_metadata={"plan": "pro"}, password="secret2")
        gone = first.create_user("email", email="gone@example.com")
        first.delete_user(gone.user_id)
        first.create_connection("Temp", strategy="auth0")
        first.update_connection("Temp", options={"passwordPolicy": "fair"})
        users, connections = all_users(first), first.list_connections()
        events = all_events(first)
    with IdentityStore(path, hasher=FAST, clock=clock) as second:
        assert all_users(second) == users
        assert second.list_connections() == connections
        assert all_events(second) == events
        assert second.get_user(kept.user_id).user_metadata == {"plan": "pro"}
        assert second.get_connection("Temp").options == {"passwordPolicy": "fair"}
        with pytest.raises(errors.UserNotFoundError):
            second.get_user(gone.user_id)
        assert second.authenticate("Vault", "k@example.com", "secret2").user_id == kept.user_id
        assert [e.type for e in all_events(second)] == [
            "ss",
            "scp",
            "sapi",
            "ss",
            "sdu",
            "s",
        ]


def test_users_and_connections_survive_reopening(tmp_path: Any) -> None:
    path = tmp_path / "users.db"
    with IdentityStore(path, hasher=FAST) as first:
        first.create_connection("Members", strategy="auth0", options={"passwordPolicy": "low"})
        user = first.create_user("Members", email="a@example.com", password="secret")
    with IdentityStore(path, hasher=FAST) as second:
        assert second.get_user(user.user_id) == user
        assert second.get_connection("Members").options == {"passwordPolicy": "low"}
        assert [c.name for c in second.list_connections()] == [
            DB,
            "email",
            "sms",
            "Members",
        ]


def test_password_is_hashed_never_stored_in_clear(file_store: IdentityStore, tmp_path: Any) -> None:
    password = "Clear-Text-Canary-123"
    user = file_store.create_user(DB, email="a@example.com", password=password)
    file_store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert password.encode() not in raw
    import sqlite3

    with sqlite3.connect(tmp_path / "users.db") as conn:
        (hashed,) = conn.execute(
            "SELECT password_hash FROM users WHERE user_id = ?", (user.user_id,)
        ).fetchone()
    assert hashed.startswith("$2b$04$")
    import bcrypt

    assert bcrypt.checkpw(password.encode(), hashed.encode())
