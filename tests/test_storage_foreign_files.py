"""A SQLite file that is not an identitystore database is refused untouched; the schema is only
ever created in a new or empty file, and identitystore's own files of every version still open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from identitystore import IdentityStore, PasswordHasher, errors
from identitystore.storage._schema import SCHEMA_VERSION

FAST = PasswordHasher.fast_for_tests()


def _foreign(path: Path, *statements: str, version: int = 0, wal: bool = False) -> None:
    """Another application's database: its own tables, ``user_version`` ``version``."""
    conn = sqlite3.connect(path, isolation_level=None)
    if wal:
        conn.execute("PRAGMA journal_mode = WAL")
    for statement in statements:
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


FOREIGN = {
    "other tables": ("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",),
    "its own users table": (
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, password TEXT)",
        "INSERT INTO users (email, password) VALUES ('a@x.io', 'plain')",
    ),
    "our table names": (
        "CREATE TABLE connections (id TEXT PRIMARY KEY, name TEXT)",
        "CREATE TABLE users (user_id TEXT PRIMARY KEY)",
    ),
    "another sqlite-utils migration set": (
        "CREATE TABLE _sqlite_migrations (migration_set TEXT, name TEXT, applied_at TEXT)",
        "INSERT INTO _sqlite_migrations VALUES ('blog', 'm001_initial', '2025-01-01')",
        "CREATE TABLE posts (id INTEGER PRIMARY KEY)",
    ),
    "no tables, a version": (),
}


@pytest.mark.parametrize(
    ("kind", "version"),
    [
        (kind, version)
        for kind in sorted(FOREIGN)
        for version in (0, 1, 2, SCHEMA_VERSION, SCHEMA_VERSION + 3)
        if FOREIGN[kind] or version  # (no tables and version 0: an empty file, a new store)
    ],
)
def test_a_foreign_file_is_refused_untouched(tmp_path: Path, kind: str, version: int) -> None:
    path = tmp_path / "app.db"
    _foreign(path, *FOREIGN[kind], version=version)
    before = path.read_bytes()
    assert before[18:20] == b"\x01\x01"  # rollback journal
    with pytest.raises(errors.StorageError) as caught:
        IdentityStore(path, hasher=FAST)
    assert type(caught.value) is errors.StorageError  # not a SchemaVersionError
    message = caught.value.message
    assert str(path) in message
    assert "not an identitystore database" in message
    assert "Upgrade identitystore" not in message
    assert path.read_bytes() == before  # header (journal mode, version) and every page
    assert _files(tmp_path) == ["app.db"]  # no journal, WAL or shared-memory file left


def test_a_foreign_file_in_wal_mode_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    _foreign(path, "CREATE TABLE users (id INTEGER PRIMARY KEY)", wal=True)
    before = path.read_bytes()
    with pytest.raises(errors.StorageError, match="not an identitystore database"):
        IdentityStore(path, hasher=FAST)
    assert path.read_bytes() == before
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("users",)]


def test_the_refusal_says_why(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    _foreign(path, *FOREIGN["its own users table"], version=2)
    with pytest.raises(errors.StorageError) as caught:
        IdentityStore(path, hasher=FAST)
    assert caught.value.message == (
        f"{str(path)!r} is not an identitystore database: it holds the tables users and "
        "user_version 2, but no identitystore migrations. identitystore creates its tables only "
        "in a new or empty file; nothing was changed."
    )
    assert caught.value.status_code == 500


@pytest.mark.parametrize("make", ["missing", "zero bytes", "empty database"])
def test_a_new_or_empty_file_gets_the_schema(tmp_path: Path, make: str) -> None:
    path = tmp_path / "new.db"
    if make == "zero bytes":
        path.write_bytes(b"")
    elif make == "empty database":
        sqlite3.connect(path).execute("VACUUM").connection.close()
        assert path.stat().st_size > 0
    with IdentityStore(path, hasher=FAST) as store:
        assert store.backend.schema_version == SCHEMA_VERSION
        assert store.create_user("sms", phone_number="+14155550100").user_id
    with IdentityStore(path, hasher=FAST) as again:  # and it is ours from then on
        assert again.backend.count_users() == 1


def test_a_newer_identitystore_file_is_told_to_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    IdentityStore(path, hasher=FAST).close()
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(errors.SchemaVersionError, match="Upgrade identitystore"):
        IdentityStore(path, hasher=FAST)
    assert path.read_bytes() == before
    assert _files(tmp_path) == ["newer.db"]


def test_not_a_sqlite_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a SQLite file" * 100)
    before = path.read_bytes()
    with pytest.raises(errors.StorageError) as caught:
        IdentityStore(path, hasher=FAST)
    assert str(path) in caught.value.message
    assert path.read_bytes() == before
