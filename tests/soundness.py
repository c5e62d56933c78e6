"""Soundness checks shared by the proof tests (concurrency, crashes, bad input, full disks): the
file passes SQLite's checks, every count agrees, unique keys are unique, events are there."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from identitystore import IdentityStore, User
from identitystore.storage import UserQuery

EVERYTHING = 1_000_000_000


def canonical(value: Any) -> str:
    """JSON text that tells apart what ``==`` does not: 1, 1.0 and True; 0.0 and -0.0."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def all_users(store: IdentityStore) -> list[User]:
    users, _ = store.backend.list_users(UserQuery(limit=EVERYTHING))
    return users


def assert_sqlite_sound(path: str | Path) -> None:
    """The file passes SQLite's own integrity and foreign-key checks."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


def assert_consistent(store: IdentityStore, path: str | Path | None = None) -> list[User]:
    """Every way of counting users agrees, unique keys are unique, each user has its sign-up event.

    Returns every stored user. ``path``: a SQLite file to run ``PRAGMA integrity_check`` on.
    """
    if path is not None:
        assert_sqlite_sound(path)
    users = all_users(store)
    assert len(users) == store.backend.count_users()
    assert store.list_users(include_totals=True).total == len(users)
    by_connection = Counter(u.connection for u in users)
    for connection, n in by_connection.items():
        assert store.list_users(connection=connection, include_totals=True).total == n
    keys: Counter[str | tuple[str, str, str]] = Counter(u.user_id.lower() for u in users)
    for key in ("email", "username", "phone_number"):
        keys.update(
            (u.connection, key, getattr(u, key).lower())
            for u in users
            if getattr(u, key) is not None
        )
    assert [k for k, n in keys.items() if n > 1] == []
    signed_up = {e.user_id for e in store.list_events(type="ss", limit=EVERYTHING)}
    assert {u.user_id for u in users} <= signed_up
    for user in users:
        assert store.get_user(user.user_id) == user
    return users
