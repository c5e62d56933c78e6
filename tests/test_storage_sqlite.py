"""The SQLite backend: schema versions, durability settings, storage errors, lock discipline."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from identitystore import IdentityStore, PasswordHasher, errors
from identitystore.storage import Backend, EventQuery
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
            "m004_records_and_event_pages",
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


def _file_at_version(path: Path, version: int) -> sqlite3.Connection:
    """A new file holding the schema of ``version``, as that identitystore left it (rollback
    journal until a store opens it), and a connection to fill it by hand."""
    from sqlite_utils import Database

    from identitystore.storage._schema import MIGRATIONS

    names = [m.name for m in MIGRATIONS.pending(Database(memory=True, execute_plugins=False))]
    conn = sqlite3.connect(path, isolation_level=None)
    db = Database(conn, execute_plugins=False, recursive_triggers=False)
    MIGRATIONS.apply(db, stop_before=names[version:])
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute(
        "INSERT INTO connections VALUES ('con_sms', 'sms', 'sms', '{}', '2025-01-01 00:00:00')"
    )
    conn.execute("INSERT INTO settings VALUES ('default_connections', 'created')")
    return conn


def _old_user(conn: sqlite3.Connection, n: int, *, signup_in_row: bool) -> tuple[str, str]:
    """A user of ``sms`` written by an older identitystore, and the log_id of its signup."""
    user_id, phone, log_id = f"sms|old{n}", f"+1415555010{n}", f"{n:024x}"
    created = f"2025-01-01T00:00:0{n}.000Z"
    conn.execute(
        "INSERT INTO users (user_id, user_id_key, connection_id, connection, provider, "
        "phone_number, phone_verified, name, nickname, created_at, updated_at"
        + (", signup_log_id" if signup_in_row else "")
        + ") VALUES (?, ?, 'con_sms', 'sms', 'sms', ?, 0, ?, ?, ?, ?"
        + (", ?" if signup_in_row else "")
        + ")",
        (user_id, user_id, phone, phone, phone, created, created)
        + ((log_id,) if signup_in_row else ()),
    )
    if not signup_in_row:
        conn.execute(
            "INSERT INTO events (log_id, date, type, connection, connection_id, user_id, "
            "user_name) VALUES (?, ?, 'ss', 'sms', 'con_sms', ?, ?)",
            (log_id, created, user_id, phone),
        )
    return user_id, log_id


def test_a_version_2_database_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = _file_at_version(path, 2)
    old, signup = _old_user(conn, 1, signup_in_row=False)
    conn.execute(
        "INSERT INTO one_time_codes VALUES ('con_sms', '+14155550101', 'h', '2025-01-01', "
        "'2025-01-02', 0)"
    )
    conn.close()
    with IdentityStore(path, hasher=FAST) as store:
        assert store.backend.schema_version == SCHEMA_VERSION == 4
        before = store.list_events()
        assert [(e.log_id, e.type, e.user_id) for e in before] == [(signup, "ss", old)]
        new = store.create_user("sms", phone_number="+14155550102")
        after = store.list_events()
        assert after[: len(before)] == before
        assert [(e.type, e.user_id) for e in after[len(before) :]] == [("ss", new.user_id)]
        store.delete_user(old)
        assert store.list_events(type="ss") == [before[0], after[-1]]
    assert _rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_a_version_3_database_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = _file_at_version(path, 3)
    _, first_signup = _old_user(conn, 1, signup_in_row=False)
    kept, kept_signup = _old_user(conn, 2, signup_in_row=True)
    conn.execute(
        "INSERT INTO events (log_id, date, type, user_id, ip, details) VALUES "
        "('f00000000000000000000003', '2025-01-01T00:00:03.000Z', 'f', ?, '10.0.0.1', "
        """'{"n": 1}')""",
        (kept,),
    )
    conn.execute("INSERT INTO login_failures VALUES (?, '10.0.0.1', 0, '2025-01-02')", (kept,))
    conn.close()
    with IdentityStore(path, hasher=FAST) as store:
        backend = store.backend
        assert backend.schema_version == SCHEMA_VERSION
        events = backend.list_events()
        assert [(e.log_id, e.type) for e in events] == [
            (first_signup, "ss"),
            (kept_signup, "ss"),
            ("f00000000000000000000003", "f"),
        ]
        assert {(e.client_id, e.client_name, e.user_agent) for e in events} == {(None,) * 3}
        assert backend.get_event(kept_signup) == events[1]  # kept in its row, found by log_id
        assert backend.page_events(EventQuery(limit=2)) == (events[:0:-1], None)
        assert backend.list_blocks(kept, now="2025-01-01") == ["10.0.0.1"]
        backend.put_record("client", "c1", "{}")
        assert backend.list_records("client") == [("c1", "{}")]
        store.update_user(kept, phone_number="+14155550199")  # the kept signup moves to events
        assert backend.get_event(kept_signup) == events[1]
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
