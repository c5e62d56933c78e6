"""A fresh in-memory store is cheap (a copy of the schema migrated once, or the emptied
connection of a closed store) and holds exactly what a migrated new database holds."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore, PasswordHasher, errors
from identitystore.storage import open_backend
from identitystore.storage._schema import migrate

FAST = PasswordHasher.fast_for_tests()
DB = "Username-Password-Authentication"


def _conn(store: IdentityStore) -> sqlite3.Connection:
    with store.backend._session() as conn:  # type: ignore[attr-defined]
        return conn  # type: ignore[no-any-return]


def _contents(conn: sqlite3.Connection) -> dict[str, Any]:
    """The schema, the version and every row of every table (migration records by name)."""
    schema = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
    ).fetchall()
    rows: dict[str, Any] = {"schema": schema, "version": conn.execute("PRAGMA user_version")}
    rows["version"] = rows["version"].fetchone()
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        columns = "name" if table == "_sqlite_migrations" else "*"
        rows[table] = conn.execute(f"SELECT {columns} FROM {table} ORDER BY 1").fetchall()
    return rows


def _migrated() -> dict[str, Any]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn)
    try:
        return _contents(conn)
    finally:
        conn.close()


def _fill(store: IdentityStore) -> None:
    """Write to every table."""
    user = store.create_user(DB, email="a@x.io", password="Correct-Horse-9")
    store.update_user(user.user_id, password="Other-Horse-10")  # history, events
    store.create_user("email", email="b@x.io")  # a verification ticket
    store.start_passwordless("sms", phone_number="+14155550100")  # a one-time code
    for _ in range(2):  # counted failures
        with pytest.raises(errors.WrongCredentialsError):
            store.authenticate(DB, "a@x.io", "Wrong-Horse-9", ip="10.0.0.1")
    store.backend.put_record("client", "c1", "{}")
    store.create_connection("Extra", strategy="auth0")


def test_a_fresh_backend_holds_what_migrating_a_new_database_gives() -> None:
    backend = open_backend(":memory:")
    try:
        with backend._session() as conn:  # type: ignore[attr-defined]
            assert _contents(conn) == _migrated()
    finally:
        backend.close()


def test_a_store_after_a_closed_one_is_as_new() -> None:
    first = IdentityStore(":memory:", hasher=FAST)
    _fill(first)
    used = _conn(first)
    first_connections = {c.id for c in first.list_connections()}
    first.close()
    second = IdentityStore(":memory:", hasher=FAST)
    try:
        assert _conn(second) is used  # the closed store's connection, emptied
        expected = _migrated()
        got = _contents(used)
        for table in ("connections", "settings"):  # the new store's default connections
            got.pop(table)
            expected.pop(table)
        assert got == expected
        names = [c.name for c in second.list_connections()]
        assert names == [DB, "email", "sms"]
        assert not first_connections & {c.id for c in second.list_connections()}
        assert second.list_events() == []
        assert second.backend.count_users() == 0
        user = second.create_user(DB, email="a@x.io", password="Correct-Horse-9")
        assert second.backend.password_history(user.user_id, 5) != []
        with pytest.raises(errors.StorageError, match="closed"):  # and the closed one stays so
            first.get_user(user.user_id)
    finally:
        second.close()


@pytest.mark.parametrize(
    "change",
    [
        "PRAGMA max_page_count = 100",
        "PRAGMA query_only = ON",
        "PRAGMA foreign_keys = OFF",
        "DROP INDEX users_name",
        "PRAGMA user_version = 99",
        "BEGIN",
    ],
)
def test_a_connection_changed_by_hand_is_not_reused(change: str) -> None:
    store = IdentityStore(":memory:", hasher=FAST)
    changed = _conn(store)
    changed.execute(change)
    store.close()
    again = IdentityStore(":memory:", hasher=FAST)
    try:
        assert _conn(again) is not changed
        with pytest.raises(sqlite3.ProgrammingError):  # it was closed
            changed.execute("SELECT 1")
    finally:
        again.close()


def test_a_copy_and_a_file_store_are_never_reused(tmp_path: Path) -> None:
    file_store = IdentityStore(tmp_path / "u.db", hasher=FAST)
    file_conn = _conn(file_store)
    file_store.create_user("sms", phone_number="+14155550100")
    copy = file_store.backend.copy()  # type: ignore[attr-defined]
    again = copy.copy()  # a copy of a WAL file's copy (a snapshot restored) reads as the file
    assert again.count_users() == copy.count_users() == 1
    again.close()
    with copy._session() as copied:
        pass
    copy.close()
    file_store.close()
    for _ in range(3):
        store = IdentityStore(":memory:", hasher=FAST)
        assert _conn(store) not in (file_conn, copied)
        store.close()


def test_stores_made_and_closed_on_many_threads_stay_apart() -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(15):
                with IdentityStore(":memory:", hasher=FAST) as store:
                    assert store.backend.count_users() == 0
                    store.create_user("sms", phone_number=f"+1415555{n:02d}{i:02d}")
                    assert store.backend.count_users() == 1
                    assert len(store.list_connections()) == 3
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


def test_a_signup_kept_in_a_closed_stores_row_is_gone_too() -> None:
    """Emptying ``users`` moves its kept signup events into ``events``: emptied after."""
    with IdentityStore(":memory:", hasher=FAST) as first:
        first.create_user("sms", phone_number="+14155550100")  # its signup kept in its row
        used = _conn(first)
    with IdentityStore(":memory:", hasher=FAST) as second:
        assert _conn(second) is used
        assert second.list_events() == []
        assert used.execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_a_closed_store_that_grew_is_not_reused() -> None:
    """Its emptied pages would stay free: it would be bigger than a new database."""
    with IdentityStore(":memory:", hasher=FAST) as first:
        for n in range(30):
            first.create_user(
                "sms", phone_number=f"+141555501{n:02d}", app_metadata={"x": "y" * 4000}
            )
        grown = _conn(first)
    with IdentityStore(":memory:", hasher=FAST) as second:
        assert _conn(second) is not grown
        with IdentityStore(":memory:", hasher=FAST) as third:
            pages = _conn(third).execute("PRAGMA page_count").fetchone()
            assert _conn(second).execute("PRAGMA page_count").fetchone() == pages
