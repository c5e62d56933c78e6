"""The SQLite schema as ordered, named migrations (sqlite-utils ``Migrations``).

The schema version is the number of migrations applied; it is also kept in ``PRAGMA user_version``
so that an older library can refuse a newer file without reading any table.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from ..errors import SchemaVersionError

__all__ = ["SCHEMA_VERSION", "migrate"]

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


SCHEMA_VERSION = len(MIGRATIONS._migrations)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database on ``conn`` to ``SCHEMA_VERSION`` in one write transaction.

    Returns the version. Raises ``SchemaVersionError`` (touching nothing) for a newer database.
    """
    version = _user_version(conn)
    _refuse_newer(version)
    if version == SCHEMA_VERSION:
        return version
    conn.execute("BEGIN IMMEDIATE")  # one writer migrates; the others wait, then find it done
    try:
        version = _user_version(conn)
        _refuse_newer(version)
        if version < SCHEMA_VERSION:
            MIGRATIONS.apply(Database(conn, execute_plugins=False, recursive_triggers=False))
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _refuse_newer(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"The database has schema version {version}; this identitystore reads up to "
            f"{SCHEMA_VERSION}. Upgrade identitystore to open it."
        )
