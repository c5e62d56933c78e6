"""The SQLite backend: schema versions, durability settings, storage errors, lock discipline."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from identitystore import IdentityStore, PasswordHasher, errors
from identitystore.storage import Backend
from identitystore.storage._schema import SCHEMA_VERSION

DB = "Username-Password-Authentication"
FAST = PasswordHasher.fast_for_tests()


def test_new_file_gets_the_current_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "u.db"
    with IdentityStore(path, hasher=FAST) as store:
        assert store.backend.schema_version == SCHEMA_VERSION
        assert isinstance(store.backend, Backend)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        applied = conn.execute("SELECT name FROM _sqlite_migrations").fetchall()
        assert [name for (name,) in applied] == [
            "m001_initial",
            "m002_lifecycle",
            "m003_signup_in_user_row",
        ]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "u.db"
    IdentityStore(path, hasher=FAST).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(errors.SchemaVersionError) as caught:
        IdentityStore(path, hasher=FAST)
    assert caught.value.status_code == 500
    assert "Upgrade identitystore" in caught.value.message
    assert path.read_bytes() == before


def test_not_a_database_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "u.db"
    path.write_bytes(b"this is not a SQLite file" * 100)
    with pytest.raises(errors.StorageError):
        IdentityStore(path, hasher=FAST)


@pytest.mark.parametrize(("durability", "level"), [("full", 2), ("normal", 1)])
def test_durability_sets_synchronous(tmp_path: Path, durability: str, level: int) -> None:
    with IdentityStore(tmp_path / "u.db", hasher=FAST, durability=durability) as store:  # type: ignore[arg-type]
        with store.backend._session() as conn:  # type: ignore[attr-defined]
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == level


def test_unknown_durability_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="durability"):
        IdentityStore(tmp_path / "u.db", durability="fast")  # type: ignore[arg-type]


class _LockProbe:
    """A hasher that checks, while hashing, that no write lock is held on the database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.inner = PasswordHasher.fast_for_tests()
        self.free_while_hashing: list[bool] = []

    def hash(self, secret: bytes) -> str:
        probe = sqlite3.connect(self.path, timeout=0.05, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            self.free_while_hashing.append(True)
        except sqlite3.OperationalError:
            self.free_while_hashing.append(False)
        finally:
            probe.close()
        return self.inner.hash(secret)

    def verify(self, secret: bytes, hashed: str) -> bool:
        return self.inner.verify(secret, hashed)

    def needs_update(self, hashed: str) -> bool:
        return self.inner.needs_update(hashed)

    def dummy_verify(self) -> None:
        self.inner.dummy_verify()


def test_hashing_happens_outside_the_write_transaction(tmp_path: Path) -> None:
    path = tmp_path / "u.db"
    probe = _LockProbe(path)
    with IdentityStore(path, hasher=probe) as store:
        store.create_user(DB, email="a@x.io", password="Correct-Horse-9")
    assert probe.free_while_hashing == [True]


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = IdentityStore(tmp_path / "u.db", hasher=FAST)
    store.close()
    with pytest.raises(errors.StorageError, match="closed"):
        store.create_user("sms", phone_number="+15551234567")


def test_a_failed_write_leaves_the_store_usable(tmp_path: Path) -> None:
    path = tmp_path / "u.db"
    with IdentityStore(path, hasher=FAST) as store:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock...
        with store.backend._session() as conn:  # type: ignore[attr-defined]
            conn.execute("PRAGMA busy_timeout = 50")  # give up quickly instead of after 60 s
        with pytest.raises(errors.StorageBusyError) as caught:
            store.create_user("sms", phone_number="+15551234567")
        assert caught.value.status_code == 503
        blocker.execute("ROLLBACK")  # ...and lets go
        blocker.close()
        assert store.create_user("sms", phone_number="+15551234567").phone_number
        assert store.backend.count_users() == 1


def test_connections_of_finished_threads_are_closed(tmp_path: Path) -> None:
    import gc
    import threading

    with IdentityStore(tmp_path / "u.db", hasher=FAST) as store:
        user = store.create_user("sms", phone_number="+14155550100")

        def read() -> None:
            assert store.get_user(user.user_id) == user

        for _ in range(50):
            thread = threading.Thread(target=read)
            thread.start()
            thread.join()
        gc.collect()
        assert len(store.backend._handles) <= 2  # type: ignore[attr-defined]
        fds = len(list(Path("/proc/self/fd").iterdir())) if Path("/proc/self/fd").exists() else 0
        assert fds < 60
        assert store.get_user(user.user_id) == user


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def _statements(store: IdentityStore, action: Callable[[], object]) -> list[str]:
    """The statements ``action()`` runs on this thread's SQLite connection, each once, in order
    (SQLite traces a statement again for each trigger it runs), cut before their first ``(``."""
    traced: list[str] = []
    with store.backend._session() as conn:  # type: ignore[attr-defined]
        conn.set_trace_callback(traced.append)
    try:
        action()
    finally:
        with store.backend._session() as conn:  # type: ignore[attr-defined]
            conn.set_trace_callback(None)
    return [s.split(" (")[0] for s in dict.fromkeys(traced)]


def test_a_create_is_one_statement_and_one_row_that_holds_its_signup(tmp_path: Path) -> None:
    path = tmp_path / "u.db"
    with IdentityStore(path, hasher=FAST) as store:
        store.create_user("sms", phone_number="+14155550100")  # connections read and kept
        created = []
        statements = _statements(
            store, lambda: created.append(store.create_user("sms", phone_number="+14155550101"))
        )
        assert statements == ["INSERT INTO users"]
        (user,) = created
        (signup,) = store.list_events(user_id=user.user_id)
        assert _rows(path, "SELECT count(*) FROM events") == [(0,)]
        kept = f"SELECT signup_log_id FROM users WHERE user_id = '{user.user_id}'"
        assert _rows(path, kept) == [(signup.log_id,)]
        assert (signup.type, signup.date, signup.user_name) == (
            "ss",
            user.created_at,
            "+14155550101",
        )

        store.update_user(user.user_id, name="Not the phone")  # the row still tells the signup
        assert _rows(path, "SELECT count(*) FROM events WHERE type = 'ss'") == [(0,)]
        store.update_user(user.user_id, phone_number="+14155550199")  # it no longer would
        assert _rows(path, kept) == [(None,)]
        assert store.list_events(user_id=user.user_id, type="ss") == [signup]
        store.delete_user(user.user_id)
        assert store.list_events(user_id=user.user_id, type="ss") == [signup]
        assert _rows(path, "SELECT count(*) FROM events WHERE type = 'ss'") == [(1,)]  # moved once


def test_a_create_with_a_ticket_is_one_transaction(tmp_path: Path) -> None:
    with IdentityStore(tmp_path / "u.db", hasher=FAST) as store:
        store.create_user("email", email="warm@x.io", email_verified=True)
        statements = _statements(store, lambda: store.create_user("email", email="a@x.io"))
        assert statements == [
            "BEGIN IMMEDIATE",
            "INSERT INTO users",
            "INSERT INTO tickets",
            "COMMIT",
        ]


def test_a_version_2_database_is_upgraded_in_place(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from identitystore.storage._schema import MIGRATIONS

    path = tmp_path / "old.db"
    with IdentityStore(path, hasher=FAST) as store:
        old = store.create_user("sms", phone_number="+14155550100")
        store.start_passwordless("sms", phone_number="+14155550100")
    # make it a version 2 file: the signup as an events row, the version 3 objects gone
    with sqlite3.connect(path, isolation_level=None) as conn:
        (signup,) = conn.execute(
            "SELECT signup_log_id, created_at FROM users WHERE user_id = ?", (old.user_id,)
        ).fetchall()
        conn.execute(
            "INSERT INTO events (log_id, date, type, connection, connection_id, user_id, "
            "user_name) SELECT signup_log_id, created_at, 'ss', connection, connection_id, "
            "user_id, phone_number FROM users"
        )
        for statement in (
            "DROP TRIGGER users_signup_moved",
            "DROP TRIGGER users_signup_kept",
            "DROP INDEX users_signup",
            "DROP INDEX events_date",
            "ALTER TABLE users DROP COLUMN signup_log_id",
            "DELETE FROM _sqlite_migrations WHERE name = 'm003_signup_in_user_row'",
            "PRAGMA user_version = 2",
        ):
            conn.execute(statement)
        assert [m.name for m in MIGRATIONS.pending(Database(conn))] == ["m003_signup_in_user_row"]
    with IdentityStore(path, hasher=FAST) as store:
        assert store.backend.schema_version == SCHEMA_VERSION == 3
        before = store.list_events()
        assert (before[0].log_id, before[0].type) == (signup[0], "ss")
        new = store.create_user("sms", phone_number="+14155550101")
        after = store.list_events()
        assert after[: len(before)] == before
        assert [(e.type, e.user_id) for e in after[len(before) :]] == [("ss", new.user_id)]
        store.delete_user(old.user_id)
        assert store.list_events(type="ss") == [before[0], after[-1]]
