"""The SQLite backend: one connection per thread on a file (WAL), one shared one for ``:memory:``.

Durability ``full`` is WAL with ``synchronous=FULL``: a committed user survives power loss.
``normal`` is WAL with ``synchronous=NORMAL``: it survives an application crash, but the last
commits may be lost if the machine loses power.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from .._models import Connection, Event, NewUserRecord
from ..errors import StorageBusyError, StorageError, StorageFullError, StorageReadOnlyError
from . import QUERY_FIELDS, DuplicateKey, Durability, Filter, StaleConnection, UserQuery
from ._rows import (
    SELECT_CONNECTION,
    SORTABLE,
    USER_COLUMNS,
    connection_from_row,
    json_text,
    user_values,
    verification_ticket,
)
from ._schema import SCHEMA_VERSION, check_file, copy_new_schema, migrate
from ._sql import (
    CONNECTION_NAMED,
    EVENTS_TABLE,
    INSERT_TICKET,
    SQLITE,
    EventSource,
    SQLBackend,
    column_filter,
)

__all__ = ["SQLiteBackend"]

_T = TypeVar("_T")

_BUSY_TIMEOUT_MS = 60_000
#: Rows fetched at a time by a long read (an export).
_FETCH = 2000
#: A user's row: the shared columns, then the log_id of its signup event kept in the row.
_ROW_COLUMNS = (*USER_COLUMNS, "signup_log_id")
_INSERT_USER = (
    f"INSERT INTO users ({', '.join(_ROW_COLUMNS)}) VALUES ({', '.join('?' for _ in _ROW_COLUMNS)})"
)
#: The most parameters of one SQLite statement (SQLite's limit since 3.32; 999 before).
_MAX_PARAMETERS = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
#: How many rows one multi-row ``INSERT`` of a bulk write has, largest first: a statement of
#: each size is prepared once (one of a thousand rows takes ~10 ms to prepare).
_CHUNKS = (*(n for n in (1000, 100, 10) if n * len(USER_COLUMNS) <= _MAX_PARAMETERS), 1)


@functools.lru_cache(maxsize=len(_CHUNKS))
def _insert_users(rows: int) -> str:
    """``INSERT`` of ``rows`` users' ``USER_COLUMNS``."""
    row = f"({', '.join('?' for _ in USER_COLUMNS)})"
    return f"INSERT INTO users ({', '.join(USER_COLUMNS)}) VALUES {', '.join([row] * rows)}"


#: The same, but its connection_id is looked up by id and options text: NULL, and so refused
#: (NOT NULL), unless the connection is still as read. (A scalar subquery here costs a fraction
#: of an ``INSERT ... SELECT ... WHERE``.)
_CONNECTION_AT = _ROW_COLUMNS.index("connection_id")
_CHECKED_VALUES = (
    "(SELECT id FROM connections WHERE id = ? AND options = ?)" if c == "connection_id" else "?"
    for c in _ROW_COLUMNS
)
_INSERT_USER_CHECKED = (
    f"INSERT INTO users ({', '.join(_ROW_COLUMNS)}) VALUES ({', '.join(_CHECKED_VALUES)})"
)
_STALE_CONNECTION = "NOT NULL constraint failed: users.connection_id"
#: ``EVENT_COLUMNS`` of a signup event kept in a user's row.
_KEPT_SIGNUP_COLUMNS = (
    "signup_log_id, created_at, 'ss', NULL, connection, connection_id, user_id, "
    "coalesce(email, username, phone_number), NULL, NULL, NULL, NULL, NULL"
)
#: The signup events kept in user rows. The event log is these and the ``events`` rows; a page
#: reads both in (date, log_id) order from their indexes (``events_date``, ``users_signup``)
#: and merges them.
_KEPT_SIGNUPS = EventSource(
    f"SELECT {_KEPT_SIGNUP_COLUMNS} FROM users",
    "signup_log_id IS NOT NULL",
    {
        "log_id": "signup_log_id",
        "date": "created_at",
        "type": "'ss'",
        "user_name": "coalesce(email, username, phone_number)",
        **{f: f for f in ("connection", "connection_id", "user_id")},
        **{f: "NULL" for f in ("description", "ip", "client_id")},
    },
)


def _kept_signup(record: NewUserRecord, events: Sequence[Event]) -> str | None:
    """The log_id of ``events[0]`` if it is the user's signup event exactly as its row tells it
    (see ``_schema.m003``), else None."""
    if not events:
        return None
    e, user = events[0], record.user
    if (
        e.type == "ss"
        and e.user_id == user.user_id
        and e.date == user.created_at
        and e.connection == user.connection
        and e.connection_id == record.connection_id
        and e.user_name == (user.email or user.username or user.phone_number)
        and e.description is None
        and e.ip is None
        and e.details is None
        and e.client_id is None
        and e.client_name is None
        and e.user_agent is None
    ):
        return e.log_id
    return None


def _field_sql(name: str) -> str:
    """The SQL expression of a query field (a column, or a JSON path into metadata)."""
    if name in QUERY_FIELDS:
        return name
    column, _, path = name.partition(".")
    if column not in ("user_metadata", "app_metadata") or not path:
        raise ValueError(f"cannot query {name!r}")
    return f"json_extract({column}, {_sql_string('$.' + _json_path(path))})"


def _json_path(path: str) -> str:
    return ".".join('"' + part.replace('"', "") + '"' for part in path.split("."))


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _filter_sql(f: Filter, params: list[Any]) -> str:
    return column_filter(f, _field_sql(f.field), params)


def _order(query: UserQuery) -> str:
    if query.sort not in SORTABLE:
        raise ValueError(f"cannot sort by {query.sort!r}")
    direction = "DESC" if query.descending else "ASC"
    return f"{query.sort} {direction}, user_id {direction}"


class _Handle:
    """One SQLite connection and what is cached on it; closes the connection when dropped.

    A thread's handle lives in the backend's thread-local storage only (the backend keeps weak
    references), so it goes away, with its connection, when the thread ends.
    """

    __slots__ = ("__weakref__", "cache", "conn", "released", "writable")

    def __init__(self, conn: sqlite3.Connection, *, writable: bool = True) -> None:
        self.conn = conn
        self.released = False  # True: the connection went to another backend (``_spares``)
        self.writable = writable  # False: opened while the file was read-only, and stays so
        # (PRAGMA data_version, backend generation) -> {name: (connection, its options as stored)}
        self.cache: tuple[tuple[int, int], dict[str, tuple[Connection, str]]] | None = None

    def options_text(self, connection: Connection) -> str | None:
        """The stored options text ``connection`` was read from through this handle, or None."""
        kept = None if self.cache is None else self.cache[1].get(connection.name)
        return kept[1] if kept is not None and kept[0] is connection else None

    def close(self) -> None:
        self.cache = None
        if not self.released:
            # no contextlib here: ``__del__`` runs this at interpreter exit, when module globals
            # may be gone already (``sqlite3.Error`` is looked up only if close fails)
            try:
                self.conn.close()
            except sqlite3.Error:
                pass

    def __del__(self) -> None:
        self.close()


class _Spares:
    """In-memory connections of closed backends, emptied and kept for new ones.

    A new connection parses the whole schema on its first statement (about three creates'
    worth of time); a kept one has parsed it already. Emptying deletes every row but the
    migration records, so a new backend holds exactly what ``copy_new_schema`` gives a new
    connection. Only a connection still as the backend set it up (settings, schema, version,
    no transaction) and as small as a new one once emptied (no table outgrew its first page)
    is kept; a forked child keeps none of its parent's.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.kept: list[sqlite3.Connection] = []
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self.settings: list[Any] | None = None  # _KEPT_SETTINGS of a new connection
        self.page_count = 0  # and its number of pages

    def take(self) -> sqlite3.Connection | None:
        """A kept connection holding the new schema, or None."""
        with self.lock:
            if self.pid != os.getpid():
                self.kept, self.pid = [], os.getpid()
            return self.kept.pop() if self.kept else None

    def keep(self, conn: sqlite3.Connection) -> bool:
        """Empty and keep ``conn`` if it is as new; whether kept."""
        if len(self.kept) >= self.size or conn.in_transaction:
            return False
        try:
            if list(conn.execute(_SETTINGS).fetchone()) != self.settings:
                return False
            if conn.row_factory is not None or conn.text_factory is not str:
                return False
            if conn.isolation_level is not None:
                return False
            conn.set_trace_callback(None)
            conn.set_progress_handler(None, 0)
            filled = dict(zip(_EMPTIED, conn.execute(_FILLED).fetchone(), strict=True))
            if filled["users"]:  # their triggers write to these as they go
                filled["user_counts"] = filled["events"] = 1
            conn.execute("BEGIN IMMEDIATE")
            for table in _EMPTIED:
                if filled[table]:
                    conn.execute(f"DELETE FROM {table}")
            conn.execute("COMMIT")
            # pages a table grew by stay, free: the database would hold more than a new one
            if conn.execute("PRAGMA page_count").fetchone()[0] != self.page_count:
                return False
        except sqlite3.Error:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            return False
        with self.lock:
            if self.pid != os.getpid() or len(self.kept) >= self.size:
                return False
            self.kept.append(conn)
        return True


#: The settings of a kept connection that must be as they were on a new one: those that change
#: what a store does, the schema's (``schema_version`` counts its changes) and its version.
_KEPT_SETTINGS = ("foreign_keys", "query_only", "max_page_count", "schema_version", "user_version")
#: Every table a kept connection is emptied of, those that point to others first (the
#: triggers of ``users`` write to ``user_counts`` and ``events``).
_EMPTIED = (
    "tickets",
    "password_history",
    "login_failures",
    "one_time_codes",
    "users",
    "user_counts",
    "events",
    "connections",
    "settings",
    "records",
    "sqlite_sequence",
)
_SETTINGS = "SELECT * FROM " + ", ".join(f"pragma_{name}" for name in _KEPT_SETTINGS)
_FILLED = "SELECT " + ", ".join(f"EXISTS (SELECT 1 FROM {table})" for table in _EMPTIED)
_spares = _Spares(size=4)


#: How many times this process is a forked child (``os.getpid()`` is a system call per use).
_forks = 0


def _count_fork() -> None:
    global _forks
    _forks += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_count_fork)

_SQLITE_READONLY = 8
_SQLITE_FULL = 13


class _Session:
    """A handle's connection for one operation, holding ``lock`` (the shared handle's) meanwhile.

    Plain ``__enter__``/``__exit__`` rather than ``contextlib``: every call of the store passes
    through here, and a generator-based context manager costs several times more.
    """

    __slots__ = ("conn", "handle", "lock")

    def __init__(self, handle: _Handle, lock: threading.RLock | None) -> None:
        self.handle = handle
        self.conn = handle.conn
        self.lock = lock

    def __enter__(self) -> sqlite3.Connection:
        if self.lock is not None:
            self.lock.acquire()
        return self.conn

    def __exit__(self, exc_type: type[BaseException] | None = None, *exc_info: object) -> None:
        if self.lock is not None:
            self.lock.release()


class _Write(_Session):
    """A ``BEGIN IMMEDIATE`` transaction: committed on a clean exit, rolled back otherwise.

    Without ``begin``, the block runs one statement, which SQLite commits on its own.
    When the database turns out read-only, ``read_only()`` is called: SQLite keeps a connection
    opened on a read-only file read-only, so the backend drops it and opens a new one next time.
    """

    __slots__ = ("begin", "read_only")

    def __init__(
        self,
        handle: _Handle,
        lock: threading.RLock | None,
        read_only: Callable[[], None],
        *,
        begin: bool,
    ) -> None:
        super().__init__(handle, lock)
        self.read_only = read_only
        self.begin = begin

    def __enter__(self) -> sqlite3.Connection:
        conn = super().__enter__()
        if not self.begin:
            return conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            super().__exit__()
            raise self._failed(exc) from exc
        except BaseException:
            super().__exit__()
            raise
        return conn

    def __exit__(self, exc_type: type[BaseException] | None = None, *exc_info: object) -> None:
        try:
            if exc_type is None:
                if not self.begin:
                    return
                try:
                    self.conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._rollback()
                    raise self._failed(exc) from exc
                except BaseException:
                    self._rollback()
                    raise
            else:
                self._rollback()
                if issubclass(exc_type, StorageReadOnlyError):
                    self.read_only()
        finally:
            super().__exit__()

    def _failed(self, exc: sqlite3.Error) -> StorageError:
        error = _storage_error(exc)
        if isinstance(error, StorageReadOnlyError):
            self.read_only()
        return error

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")


def _storage_error(exc: sqlite3.Error) -> StorageError:
    text = str(exc)
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+; the text before that
    primary = None if code is None else code & 0xFF
    if primary == _SQLITE_FULL or (primary is None and "is full" in text):
        return StorageFullError()
    if primary == _SQLITE_READONLY or (primary is None and "readonly database" in text):
        return StorageReadOnlyError()
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return StorageBusyError(f"The database stayed locked: {text}")
    return StorageError(f"The database failed: {text}")


def _write_error(exc: sqlite3.Error) -> Exception:
    """What a failed write raises: ``DuplicateKey`` for a unique key taken, else a
    ``StorageError``."""
    if isinstance(exc, sqlite3.IntegrityError):
        duplicate = _duplicate_key(exc)
        return duplicate or StorageError(f"The database refused the change: {exc}")
    return _storage_error(exc)


def _duplicate_key(exc: sqlite3.IntegrityError) -> DuplicateKey | None:
    text = str(exc)
    if "UNIQUE constraint failed" not in text:
        return None
    if "records." in text:
        return DuplicateKey("key")
    if "connections." in text:
        return DuplicateKey("name")
    for key in ("email", "username", "phone_number", "user_id", "name"):
        if f".{key}" in text:
            return DuplicateKey("user_id" if key == "user_id" else key)
    return None


class SQLiteBackend(SQLBackend):
    """Users and connections in a SQLite file (or in memory).

    Args:
        path: the database file, created on first use, or ``":memory:"``.
        durability: ``"full"`` (default) or ``"normal"``; see the module docstring.
    """

    dialect = SQLITE
    event_sources = (EVENTS_TABLE, _KEPT_SIGNUPS)
    connection_order = "rowid"
    connection_cleanup = ("DELETE FROM user_counts WHERE connection_id = ?",)
    _user_filter = staticmethod(_filter_sql)
    _user_order = staticmethod(_order)

    def __init__(self, path: str | os.PathLike[str], *, durability: Durability = "full") -> None:
        self._setup(path, durability)
        if not self.memory:  # know the file is ours before changing anything (e.g. WAL mode)
            self._check_file()
        spare = _spares.take() if self.memory else None
        self._shared = _Handle(spare or self._connect()) if self.memory else None
        try:
            if spare is not None:
                self._version = SCHEMA_VERSION
            else:
                with self._session() as conn:
                    start = copy_new_schema if self.memory else lambda c: migrate(c, self.path)
                    self._version = self._guard(lambda: start(conn))
                    if self.memory and _spares.settings is None:
                        _spares.page_count = conn.execute("PRAGMA page_count").fetchone()[0]
                        _spares.settings = list(conn.execute(_SETTINGS).fetchone())
            if not self.memory:
                with self._session() as conn:
                    mode = self._guard(lambda: conn.execute("PRAGMA journal_mode").fetchone())
                self.quick_reads = mode[0] == "wal"
        except BaseException:
            self.close()
            raise

    def _setup(self, path: str | os.PathLike[str], durability: Durability) -> None:
        if durability not in ("full", "normal"):
            raise ValueError("durability must be 'full' or 'normal'")
        self.path = os.fspath(path)
        self.durability = durability
        self.memory = self.path == ":memory:"
        #: Whether a read never waits for a writer (a file in WAL mode, a connection per
        #: thread): ``AsyncIdentityStore`` then runs single-row reads on the event loop.
        #: An in-memory database shares one locked connection, so its reads may wait.
        self.quick_reads = False
        self._local = threading.local()
        # Open handles; a thread's handle goes (and closes its connection) when the thread ends.
        self._handles: weakref.WeakSet[_Handle] = weakref.WeakSet()
        self._inherited: list[_Handle] = []  # a parent's handles, kept open (and unused) after fork
        self._lock = threading.RLock()  # guards _handles; and every use of the shared memory handle
        self._closed = False
        self._forks = _forks
        self._generation = 0  # bumped whenever this backend changes a connection
        self._recyclable = self.memory  # its connection may go to a new backend (``_spares``)
        self._version = 0

    # -- connections to SQLite ------------------------------------------------------------------

    def _check_file(self) -> None:
        """Refuse a file that is not an identitystore database, or a newer one, on a connection
        that only reads (``_schema.check_file``)."""
        probe = self._open()
        try:
            check_file(probe, self.path)
        except sqlite3.Error as exc:
            error = _storage_error(exc)
            if type(error) is StorageError:  # e.g. not a SQLite file at all
                error = StorageError(f"Cannot open the database {self.path!r}: {exc}")
            raise error from exc
        finally:
            probe.close()

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, cached_statements=256
            )
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:
            raise StorageError(f"Cannot open the database {self.path!r}: {exc}") from exc
        return conn

    def _connect(self) -> sqlite3.Connection:
        conn = self._open()
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            # statement journals (a write of several rows inside a transaction) and sorts stay
            # in memory: the default spills a journal over 64 KiB into a new temporary file
            conn.execute("PRAGMA temp_store = MEMORY")
            if not self.memory:
                self._wal(conn)
                conn.execute(f"PRAGMA synchronous = {self.durability.upper()}")
        except sqlite3.Error as exc:
            conn.close()
            raise StorageError(f"Cannot open the database {self.path!r}: {exc}") from exc
        return conn

    @staticmethod
    def _wal(conn: sqlite3.Connection) -> None:
        """Switch the file to WAL. A read-only file in another journal mode stays in it: it is
        read as it is, and every write is refused (``StorageReadOnlyError``) until it is writable
        again, when a new connection switches it."""
        try:
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error as exc:
            if not isinstance(_storage_error(exc), StorageReadOnlyError):
                raise
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                raise

    def _handle(self) -> _Handle:
        """This thread's handle (the shared one in memory), opened on first use."""
        if self._closed:
            raise StorageError("The store is closed.")
        if self._shared is not None:
            return self._shared
        if _forks != self._forks:  # a forked child must not share its parent's connections
            with self._lock:
                self._forks = _forks
                self._inherited.extend(self._handles)
                self._local = threading.local()
                self._handles = weakref.WeakSet()
        handle: _Handle | None = getattr(self._local, "handle", None)
        if handle is None:
            handle = self._local.handle = _Handle(self._connect(), writable=self._writable())
            with self._lock:
                self._handles.add(handle)
        return handle

    def _writable(self) -> bool:
        """Whether the database file (and its WAL and shared-memory files) can be written now."""
        files = (self.path, f"{self.path}-wal", f"{self.path}-shm")
        return all(os.access(f, os.W_OK) for f in files if os.path.exists(f))

    def _drop_handle(self) -> None:
        """Close this thread's connection (not the shared in-memory one); the next call reopens."""
        handle: _Handle | None = getattr(self._local, "handle", None)
        if handle is not None and handle is not self._shared:
            self._local.handle = None
            with self._lock:
                self._handles.discard(handle)
            handle.close()

    def _session(self) -> _Session:
        """``with backend._session() as conn``: this thread's connection (the shared one locked)."""
        handle = self._handle()
        return _Session(handle, self._lock if handle is self._shared else None)

    def _transaction(self, *, begin: bool = True) -> _Write:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error.
        ``begin=False``: a block of one statement, SQLite's own transaction.

        A connection opened while the file was read-only is replaced first: SQLite never writes
        through it, and the file may be writable by now.
        """
        handle = self._handle()
        if not handle.writable:
            self._drop_handle()
            handle = self._handle()
        lock = self._lock if handle is self._shared else None
        return _Write(handle, lock, self._drop_handle, begin=begin)

    @staticmethod
    def _guard(action: Callable[[], _T]) -> _T:
        try:
            return action()
        except sqlite3.Error as exc:
            raise _storage_error(exc) from exc

    def _read(self, action: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``action(conn)`` on this thread's connection, outside a transaction."""
        with self._session() as conn:
            return self._guard(lambda: action(conn))

    def _write(self, action: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``action(conn)`` in one ``BEGIN IMMEDIATE`` transaction; a unique key taken is
        ``DuplicateKey``, any other failure a ``StorageError``."""
        return self._writing(action, begin=True)

    def _write_one(self, sql: str, params: Sequence[Any]) -> int:
        """One statement, in the transaction SQLite gives it."""
        return self._writing(lambda conn: conn.execute(sql, params).rowcount, begin=False)

    def _writing(self, action: Callable[[sqlite3.Connection], _T], *, begin: bool) -> _T:
        with self._transaction(begin=begin) as conn:
            try:
                return action(conn)
            except sqlite3.Error as exc:
                raise _write_error(exc) from exc

    def _count_matching(
        self, db: sqlite3.Connection, query: UserQuery, where: str, params: list[Any]
    ) -> int:
        if query.filters:
            return super()._count_matching(db, query, where, params)
        # no filters: the counters kept by triggers, constant time at any size
        sql, args = "SELECT coalesce(sum(n), 0) FROM user_counts", []
        if query.connection_id is not None:
            sql += " WHERE connection_id = ?"
            args.append(query.connection_id)
        return int(db.execute(sql, args).fetchone()[0])

    def _connections_changed(self) -> None:
        self._generation += 1  # every handle reads its connections again

    # -- Backend --------------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        """The schema version of the open file."""
        return int(self._version)

    def insert_connection(self, connection: Connection) -> None:
        """Store ``connection``; ``DuplicateKey("name")`` if its name (or id) is taken."""
        self._write_one(
            "INSERT INTO connections (id, name, strategy, options, created_at) "
            "VALUES (?, ?, ?, ?, datetime('now'))",
            (connection.id, connection.name, connection.strategy, json_text(connection.options)),
        )
        self._connections_changed()

    def get_connection(self, name: str, *, cached: bool = False) -> Connection | None:
        """The connection called ``name``, or None.

        Each SQLite connection keeps the connections it read, valid until ``PRAGMA data_version``
        says another connection committed, or this backend changed a connection itself. With
        ``cached``, a kept one is returned without asking (``insert_user`` checks it).
        """
        # no lock to read a kept one: only the in-memory handle is shared, and dict reads are atomic
        if cached:
            cache = self._handle().cache
            if cache is not None and cache[0][1] == self._generation:
                kept = cache[1].get(name)
                if kept is not None:
                    return kept[0]
        session = self._session()
        with session as conn:
            handle = session.handle
            cache = handle.cache
            try:
                version = (conn.execute("PRAGMA data_version").fetchone()[0], self._generation)
                if cache is None or cache[0] != version:
                    cache = handle.cache = (version, {})
                kept = cache[1].get(name)
                if kept is None:
                    row = conn.execute(CONNECTION_NAMED, (name,)).fetchone()
                    if row is None:
                        return None
                    kept = cache[1][name] = (connection_from_row(row), row[3])
            except sqlite3.Error as exc:
                raise _storage_error(exc) from exc
        return kept[0]

    @staticmethod
    def _insert_user_row(
        conn: sqlite3.Connection, handle: _Handle, values: tuple[Any, ...], expected: Connection
    ) -> None:
        """Insert the user row only if ``expected`` is still the stored connection, in the same
        statement (``StaleConnection`` if not): its id and options text are compared there."""
        text = handle.options_text(expected)
        if text is None:  # read elsewhere: compare with the stored one, whose text then counts
            row = conn.execute(SELECT_CONNECTION + " WHERE id = ?", (expected.id,)).fetchone()
            if row is None or connection_from_row(row) != expected:
                raise StaleConnection(expected.name)
            text = row[3]
        try:
            at = _CONNECTION_AT
            conn.execute(_INSERT_USER_CHECKED, (*values[:at], expected.id, text, *values[at + 1 :]))
        except sqlite3.IntegrityError as exc:
            if str(exc) != _STALE_CONNECTION:
                raise
            handle.cache = None  # read again before the next use
            raise StaleConnection(expected.name) from None

    def insert_user(self, record: NewUserRecord, *, events: Sequence[Event] = ()) -> None:
        """Store the user (with its verification ticket and ``events``) in one transaction.

        A signup event first in ``events`` is kept in the user's row (``_schema.m003``); a user
        with nothing else to write is then a single statement, committed by SQLite itself.
        """
        signup = _kept_signup(record, events)
        if signup is not None:
            events = events[1:]
        values = (*user_values(record), signup)
        ticket = verification_ticket(record)
        write = self._transaction(begin=ticket is not None or bool(events))
        with write as conn:
            try:
                if record.connection is None:
                    conn.execute(_INSERT_USER, values)
                else:
                    self._insert_user_row(conn, write.handle, values, record.connection)
                if ticket is not None:
                    conn.execute(INSERT_TICKET, ticket)
                self._insert_events(conn, events)
            except sqlite3.Error as exc:
                raise _write_error(exc) from exc

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction on a connection of its own (WAL: writers go on meanwhile); in
        memory, the shared connection, which other threads wait for meanwhile (``_stream``
        reads every row at once there, so that this thread may write)."""
        if self._shared is not None:
            with self._session() as conn:
                yield conn
            return
        if self._closed:
            raise StorageError("The store is closed.")
        conn = self._connect()
        try:
            self._guard(lambda: conn.execute("BEGIN"))
            yield conn
        finally:
            conn.close()

    def _stream(
        self, db: sqlite3.Connection, sql: str, params: Sequence[Any]
    ) -> Iterator[Sequence[Any]]:
        if self._shared is not None:
            return iter(self._guard(lambda: db.execute(sql, params).fetchall()))
        return self._fetched(db, sql, params)

    @staticmethod
    def _fetched(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> Iterator[Any]:
        try:
            cursor = db.execute(sql, params)
            while rows := cursor.fetchmany(_FETCH):
                yield from rows
        except sqlite3.Error as exc:
            raise _storage_error(exc) from exc

    def _insert_rows(self, db: sqlite3.Connection, records: Sequence[NewUserRecord]) -> list[bool]:
        """Multi-row ``INSERT`` statements of ``_CHUNKS`` rows; the rows of a statement that
        finds a key taken (it changes nothing then) are inserted one by one instead.

        One statement of a thousand rows costs SQLite half the work of an ``executemany`` of
        them, and holds the GIL only while binding its values: the rows are inserted while the
        import's thread checks the next users."""
        done: list[bool] = []
        start = 0
        while start < len(records):
            size = next(n for n in _CHUNKS if n <= len(records) - start)
            chunk = records[start : start + size]
            start += size
            values = list(itertools.chain.from_iterable(map(user_values, chunk)))
            try:
                db.execute(_insert_users(size), values)
            except sqlite3.IntegrityError:
                done.extend(self._insert_row(db, record) is None for record in chunk)
            else:
                done.extend([True] * size)
        return done

    def _insert_row(self, db: sqlite3.Connection, record: NewUserRecord) -> str | None:
        try:
            db.execute(_INSERT_USER, (*user_values(record), None))
        except sqlite3.IntegrityError as exc:
            taken = _duplicate_key(exc)
            if taken is None:
                raise
            return taken.key
        return None

    def copy(self) -> SQLiteBackend:
        """A new in-memory backend holding a copy of this database (SQLite's backup API).

        The copy is independent: changes to either one are not seen by the other.
        """
        # a new in-memory database (SQLite's own, which takes a WAL file's pages as they are),
        # empty: the backup brings the schema
        target = SQLiteBackend.__new__(SQLiteBackend)
        target._setup(":memory:", self.durability)
        target._recyclable = False  # it holds this database's schema, not the new one
        target._shared = _Handle(target._connect())
        try:
            with self._session() as source, target._session() as dest:
                self._guard(lambda: source.backup(dest))
        except BaseException:
            target.close()
            raise
        target._version = self._version
        return target

    def close(self) -> None:
        """Close every SQLite connection this backend opened, from any thread."""
        with self._lock:
            self._closed = True
            handles = [*self._handles, *([self._shared] if self._shared else [])]
            if self._shared is not None and self._recyclable and not self._shared.released:
                self._shared.released = _spares.keep(self._shared.conn)
            for handle in handles:
                handle.close()
            self._handles = weakref.WeakSet()

    def __repr__(self) -> str:
        return f"SQLiteBackend({self.path!r}, durability={self.durability!r})"
