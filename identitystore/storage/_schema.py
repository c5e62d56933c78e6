"""The SQLite schema as ordered, named migrations (sqlite-utils ``Migrations``).

The schema version is the number of migrations applied; it is also kept in ``PRAGMA user_version``
so that an older library can refuse a newer file without reading any table.
"""

from __future__ import annotations

import os
import sqlite3
import threading

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from ..errors import SchemaVersionError, StorageError
from ._rows import LOOKUP_INDEXES

__all__ = ["SCHEMA_VERSION", "check_file", "copy_new_schema", "migrate"]

MIGRATIONS = Migrations("identitystore")


@MIGRATIONS()
def m001_initial(db: Database) -> None:
    """Connections, users with their unique keys, and verification tickets."""
    db.execute(
        """
        CREATE TABLE connections (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            strategy TEXT NOT NULL,
            options TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE users (
            user_id TEXT PRIMARY KEY,
            user_id_key TEXT NOT NULL UNIQUE,
            connection_id TEXT NOT NULL REFERENCES connections(id),
            connection TEXT NOT NULL,
            provider TEXT NOT NULL,
            email TEXT,
            email_verified INTEGER,
            username TEXT,
            phone_number TEXT,
            phone_verified INTEGER,
            name TEXT NOT NULL,
            nickname TEXT,
            picture TEXT,
            given_name TEXT,
            family_name TEXT,
            blocked INTEGER,
            user_metadata TEXT,
            app_metadata TEXT,
            password_hash TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            last_login TEXT,
            last_ip TEXT,
            logins_count INTEGER
        )
        """
    )
    for key in ("email", "username", "phone_number"):
        db.execute(
            f"CREATE UNIQUE INDEX users_connection_{key} ON users(connection_id, {key}) "
            f"WHERE {key} IS NOT NULL"
        )
    db.execute(
        """
        CREATE TABLE tickets (
            token_hash TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT
        )
        """
    )
    db.execute("CREATE INDEX tickets_user ON tickets(user_id)")


@MIGRATIONS()
def m002_lifecycle(db: Database) -> None:
    """Look-up indexes, user counts, password history, one-time codes, events, login failures."""
    for name, columns in LOOKUP_INDEXES:
        db.execute(f"CREATE INDEX {name} ON users({columns})")
    db.execute("ALTER TABLE users ADD COLUMN last_password_reset TEXT")
    db.execute("ALTER TABLE tickets ADD COLUMN email TEXT")
    db.execute("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(  # files made by version 1 already hold their default connections
        "INSERT INTO settings (key, value) SELECT 'default_connections', 'created' "
        "WHERE EXISTS (SELECT 1 FROM connections)"
    )
    db.execute("CREATE TABLE user_counts (connection_id TEXT PRIMARY KEY, n INTEGER NOT NULL)")
    db.execute(
        "INSERT INTO user_counts (connection_id, n) "
        "SELECT connection_id, count(*) FROM users GROUP BY connection_id"
    )
    db.execute(
        """
        CREATE TRIGGER users_counted AFTER INSERT ON users BEGIN
            INSERT INTO user_counts (connection_id, n) VALUES (NEW.connection_id, 1)
            ON CONFLICT (connection_id) DO UPDATE SET n = n + 1;
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER users_uncounted AFTER DELETE ON users BEGIN
            UPDATE user_counts SET n = n - 1 WHERE connection_id = OLD.connection_id;
        END
        """
    )
    db.execute(
        """
        CREATE TABLE password_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX password_history_user ON password_history(user_id, id)")
    db.execute(
        """
        CREATE TABLE one_time_codes (
            connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
            identifier TEXT NOT NULL,
            code_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (connection_id, identifier)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            log_id TEXT NOT NULL,
            date TEXT NOT NULL,
            type TEXT NOT NULL,
            description TEXT,
            connection TEXT,
            connection_id TEXT,
            user_id TEXT,
            user_name TEXT,
            ip TEXT,
            details TEXT
        )
        """
    )
    # log_id is an ObjectId (unique by construction); type filters scan from the newest end.
    db.execute("CREATE INDEX events_user ON events(user_id)")
    db.execute(
        """
        CREATE TABLE login_failures (
            user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
            ip TEXT NOT NULL,
            failures INTEGER NOT NULL,
            blocked_until TEXT,
            PRIMARY KEY (user_id, ip)
        )
        """
    )


@MIGRATIONS()
def m003_signup_in_user_row(db: Database) -> None:
    """The signup event kept in its user's row; events listed by date, then log_id.

    A create writes one row: the user, whose ``signup_log_id`` stands for its ``ss`` event
    (date ``created_at``, user name its email, username or phone number). Triggers move that
    event into ``events`` before the row stops telling it: when the email, username or phone
    number changes, and when the user is deleted. Signup events written before stay as rows.
    """
    db.execute("ALTER TABLE users ADD COLUMN signup_log_id TEXT")
    db.execute(  # the kept signup events in the log's order, for merging with the table's
        "CREATE INDEX users_signup ON users(created_at, signup_log_id) "
        "WHERE signup_log_id IS NOT NULL"
    )
    db.execute("CREATE INDEX events_date ON events(date, log_id)")
    moved = (
        "INSERT INTO events (log_id, date, type, connection, connection_id, user_id, user_name) "
        "VALUES (OLD.signup_log_id, OLD.created_at, 'ss', OLD.connection, OLD.connection_id, "
        "OLD.user_id, coalesce(OLD.email, OLD.username, OLD.phone_number));"
    )
    db.execute(
        f"""
        CREATE TRIGGER users_signup_moved AFTER UPDATE OF email, username, phone_number ON users
        WHEN OLD.signup_log_id IS NOT NULL AND (OLD.email IS NOT NEW.email
            OR OLD.username IS NOT NEW.username OR OLD.phone_number IS NOT NEW.phone_number)
        BEGIN
            {moved}
            UPDATE users SET signup_log_id = NULL WHERE user_id = OLD.user_id;
        END
        """
    )
    db.execute(
        f"""
        CREATE TRIGGER users_signup_kept AFTER DELETE ON users
        WHEN OLD.signup_log_id IS NOT NULL
        BEGIN
            {moved}
        END
        """
    )


@MIGRATIONS()
def m004_records_and_event_pages(db: Database) -> None:
    """Records (small documents the surfaces keep), the client fields of events, and the look-ups
    of one event by its log_id (a kept signup event too)."""
    for column in ("client_id", "client_name", "user_agent"):
        db.execute(f"ALTER TABLE events ADD COLUMN {column} TEXT")
    db.execute("CREATE INDEX events_log_id ON events(log_id)")
    db.execute(
        "CREATE INDEX users_signup_log_id ON users(signup_log_id) WHERE signup_log_id IS NOT NULL"
    )
    db.execute(
        """
        CREATE TABLE records (
            seq INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            expires_at TEXT,
            UNIQUE (kind, key)
        )
        """
    )
    db.execute(
        "CREATE INDEX records_expiry ON records(kind, expires_at) WHERE expires_at IS NOT NULL"
    )


#: The number of migrations above; a test checks it against sqlite-utils' list.
SCHEMA_VERSION = 4


def migrate(conn: sqlite3.Connection, path: str = ":memory:") -> int:
    """Bring the database on ``conn`` (the file ``path``) to ``SCHEMA_VERSION`` in one write
    transaction, creating the schema in an empty database.

    Returns the version. Raises ``SchemaVersionError`` for a newer database, and
    ``StorageError`` for one that is not identitystore's (see ``check_file``), touching nothing.
    """
    version = check_file(conn, path)
    if version == SCHEMA_VERSION:
        return version
    conn.execute("BEGIN IMMEDIATE")  # one writer migrates; the others wait, then find it done
    try:
        version = check_file(conn, path)  # again, now that no one else writes
        if version < SCHEMA_VERSION:
            MIGRATIONS.apply(Database(conn, execute_plugins=False, recursive_triggers=False))
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION


def copy_new_schema(conn: sqlite3.Connection) -> int:
    """Give the new, empty in-memory database on ``conn`` the current schema, and return its
    version: a copy (SQLite's backup) of a database migrated once per process, with the same
    tables, indexes, triggers, version and migration records as ``migrate`` makes, at a small
    part of the cost. (Not ``deserialize``: its databases cannot grow past 1 GiB.)"""
    with _template_lock:
        if not _template:
            template = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            migrate(template)
            _template.append(template)
        _template[0].backup(conn)
    return SCHEMA_VERSION


_template_lock = threading.Lock()
_template: list[sqlite3.Connection] = []


def _forget_template() -> None:
    """In a forked child: another thread may have held the lock, and SQLite's state of the
    parent's connection is not the child's to use."""
    global _template_lock
    _template_lock = threading.Lock()
    _template.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_template)


def check_file(conn: sqlite3.Connection, path: str) -> int:
    """The schema version of the database on ``conn`` (0 when it is empty), reading only.

    An identitystore database is one whose ``_sqlite_migrations`` table holds identitystore's
    migrations (every version has kept them there); an empty one has no schema objects and
    ``user_version`` 0. Anything else is another application's: ``StorageError``, naming the
    file and what it holds. An identitystore database newer than this code:
    ``SchemaVersionError``.
    """
    version = _user_version(conn)
    tables = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' "
            "ORDER BY name"
        )
    ]
    if not tables and version == 0 and not conn.execute("SELECT 1 FROM sqlite_master").fetchone():
        return 0
    if not _ours(conn, tables):
        held = f"the tables {', '.join(tables[:8])}{', ...' if len(tables) > 8 else ''}"
        raise StorageError(
            f"{path!r} is not an identitystore database: it holds {held if tables else 'no tables'}"
            f" and user_version {version}, but no identitystore migrations. identitystore creates "
            "its tables only in a new or empty file; nothing was changed."
        )
    _refuse_newer(version)
    return version


def _ours(conn: sqlite3.Connection, tables: list[str]) -> bool:
    if Migrations.migrations_table not in tables:
        return False
    try:
        return bool(
            conn.execute(
                f"SELECT 1 FROM {Migrations.migrations_table} WHERE migration_set = ? LIMIT 1",
                (MIGRATIONS.name,),
            ).fetchone()
        )
    except sqlite3.OperationalError:  # a table of that name, but not sqlite-utils'
        return False


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _refuse_newer(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"The database has schema version {version}; this identitystore reads up to "
            f"{SCHEMA_VERSION}. Upgrade identitystore to open it."
        )
