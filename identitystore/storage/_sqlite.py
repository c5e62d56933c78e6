"""The SQLite backend: one connection per thread on a file (WAL), one shared one for ``:memory:``.

Durability ``full`` is WAL with ``synchronous=FULL``: a committed user survives power loss.
``normal`` is WAL with ``synchronous=NORMAL``: it survives an application crash, but the last
commits may be lost if the machine loses power.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from .._models import Connection, NewUserRecord, User
from ..errors import StorageBusyError, StorageError
from . import DuplicateKey, Durability
from ._schema import migrate

__all__ = ["SQLiteBackend"]

_BUSY_TIMEOUT_MS = 60_000
_USER_COLUMNS = (
    "user_id",
    "user_id_key",
    "connection_id",
    "connection",
    "provider",
    "email",
    "email_verified",
    "username",
    "phone_number",
    "phone_verified",
    "name",
    "nickname",
    "picture",
    "given_name",
    "family_name",
    "blocked",
    "user_metadata",
    "app_metadata",
    "password_hash",
    "created_at",
    "updated_at",
)
_INSERT_USER = (
    f"INSERT INTO users ({', '.join(_USER_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _USER_COLUMNS)})"
)
_INSERT_TICKET = (
    "INSERT INTO tickets (token_hash, kind, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)"
)
_SELECT_USER = (
    "SELECT user_id, connection, provider, created_at, updated_at, name, email, email_verified, "
    "username, phone_number, phone_verified, nickname, picture, given_name, family_name, blocked, "
    "user_metadata, app_metadata, last_login, last_ip, logins_count FROM users"
)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _user_from_row(row: Sequence[Any]) -> User:
    return User(
        user_id=row[0],
        connection=row[1],
        provider=row[2],
        created_at=row[3],
        updated_at=row[4],
        name=row[5],
        email=row[6],
        email_verified=_bool(row[7]),
        username=row[8],
        phone_number=row[9],
        phone_verified=_bool(row[10]),
        nickname=row[11],
        picture=row[12],
        given_name=row[13],
        family_name=row[14],
        blocked=_bool(row[15]),
        user_metadata=None if row[16] is None else json.loads(row[16]),
        app_metadata=None if row[17] is None else json.loads(row[17]),
        last_login=row[18],
        last_ip=row[19],
        logins_count=row[20],
    )


def _storage_error(exc: sqlite3.Error) -> StorageError:
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return StorageBusyError(f"The database stayed locked: {text}")
    return StorageError(f"The database failed: {text}")


def _duplicate_key(exc: sqlite3.IntegrityError) -> DuplicateKey | None:
    text = str(exc)
    if "UNIQUE constraint failed" not in text:
        return None
    for key in ("email", "username", "phone_number", "user_id", "name"):
        if f".{key}" in text:
            return DuplicateKey("user_id" if key == "user_id" else key)
    return None


class SQLiteBackend:
    """Users and connections in a SQLite file (or in memory).

    Args:
        path: the database file, created on first use, or ``":memory:"``.
        durability: ``"full"`` (default) or ``"normal"``; see the module docstring.
    """

    def __init__(self, path: str | os.PathLike[str], *, durability: Durability = "full") -> None:
        if durability not in ("full", "normal"):
            raise ValueError("durability must be 'full' or 'normal'")
        self.path = os.fspath(path)
        self.durability = durability
        self.memory = self.path == ":memory:"
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.RLock()  # guards _all; and every use of the shared memory connection
        self._closed = False
        self._shared = self._connect() if self.memory else None
        with self._session() as conn:
            self._version = self._guard(lambda: migrate(conn))

    # -- connections to SQLite ------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, cached_statements=256
            )
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            if not self.memory:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(f"PRAGMA synchronous = {self.durability.upper()}")
        except sqlite3.Error as exc:
            raise StorageError(f"Cannot open the database {self.path!r}: {exc}") from exc
        with self._lock:
            self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def _session(self) -> Iterator[sqlite3.Connection]:
        if self._closed:
            raise StorageError("The store is closed.")
        if self._shared is not None:
            with self._lock:
                yield self._shared
            return
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        yield conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error."""
        with self._session() as conn:
            self._guard(lambda: conn.execute("BEGIN IMMEDIATE"))
            try:
                yield conn
                self._guard(lambda: conn.execute("COMMIT"))
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    @staticmethod
    def _guard(action: Any) -> Any:
        try:
            return action()
        except sqlite3.Error as exc:
            raise _storage_error(exc) from exc

    # -- Backend --------------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        """The schema version of the open file."""
        return int(self._version)

    def insert_connection(self, connection: Connection) -> None:
        """Store ``connection``; ``DuplicateKey("name")`` if its name is taken."""
        with self._write() as conn:
            try:
                conn.execute(
                    "INSERT INTO connections (id, name, strategy, options, created_at) "
                    "VALUES (?, ?, ?, ?, datetime('now'))",
                    (
                        connection.id,
                        connection.name,
                        connection.strategy,
                        _json(connection.options),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateKey("name") from exc

    def get_connection(self, name: str) -> Connection | None:
        """The connection called ``name``, or None."""
        with self._session() as conn:
            row = self._guard(
                lambda: conn.execute(
                    "SELECT id, name, strategy, options FROM connections WHERE name = ?", (name,)
                ).fetchone()
            )
        return None if row is None else Connection(row[0], row[1], row[2], json.loads(row[3]))

    def list_connections(self) -> list[Connection]:
        """Every connection, oldest first."""
        with self._session() as conn:
            rows = self._guard(
                lambda: conn.execute(
                    "SELECT id, name, strategy, options FROM connections ORDER BY rowid"
                ).fetchall()
            )
        return [Connection(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def insert_user(self, record: NewUserRecord) -> None:
        """Store the user (and its verification ticket) in one transaction."""
        user = record.user
        row = (
            user.user_id,
            user.user_id.lower(),
            record.connection_id,
            user.connection,
            user.provider,
            user.email,
            user.email_verified,
            user.username,
            user.phone_number,
            user.phone_verified,
            user.name,
            user.nickname,
            user.picture,
            user.given_name,
            user.family_name,
            user.blocked,
            _json(user.user_metadata),
            _json(user.app_metadata),
            record.password_hash,
            user.created_at,
            user.updated_at,
        )
        with self._write() as conn:
            try:
                conn.execute(_INSERT_USER, row)
                if record.verification_token_hash is not None:
                    conn.execute(
                        _INSERT_TICKET,
                        (
                            record.verification_token_hash,
                            "email_verification",
                            user.user_id,
                            user.created_at,
                            record.verification_expires_at,
                        ),
                    )
            except sqlite3.IntegrityError as exc:
                duplicate = _duplicate_key(exc)
                if duplicate is None:
                    raise StorageError(f"The database refused the user: {exc}") from exc
                raise duplicate from exc
            except sqlite3.Error as exc:
                raise _storage_error(exc) from exc

    def get_user(self, user_id: str) -> User | None:
        """The user with exactly this ``user_id``, or None."""
        with self._session() as conn:
            row = self._guard(
                lambda: conn.execute(_SELECT_USER + " WHERE user_id = ?", (user_id,)).fetchone()
            )
        return None if row is None else _user_from_row(row)

    def count_users(self) -> int:
        """How many users are stored."""
        with self._session() as conn:
            return int(
                self._guard(lambda: conn.execute("SELECT count(*) FROM users").fetchone()[0])
            )

    def close(self) -> None:
        """Close every SQLite connection this backend opened, from any thread."""
        with self._lock:
            self._closed = True
            for conn in self._all:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()

    def __repr__(self) -> str:
        return f"SQLiteBackend({self.path!r}, durability={self.durability!r})"
