"""Storage backends: the ``Backend`` protocol a store writes through, and how one is opened.

Storage knows rows, not Auth0: it reports *which* unique key collided (``DuplicateKey``) and the
store turns that into Auth0's error. Every write is one transaction; unique indexes decide
collisions, never a read before the write.

``Backend`` is a supported extension point: any object with its methods can be passed to
``IdentityStore``; ``identitystore.testing.backend_suite`` holds the tests it must pass
(docs/storage.md). A backend may also be a ``BulkBackend``, which imports write through in
batches and exports read from as a stream. The built-in backends are ``SQLiteBackend`` and
``PostgresBackend`` (loaded on first use, so that neither SQLite's migrations nor psycopg load
before they are needed); both are ``BulkBackend``s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from .._models import BulkUser, Connection, Event, NewUserRecord, User

if TYPE_CHECKING:
    from ._postgres import PostgresBackend
    from ._sqlite import SQLiteBackend

__all__ = [
    "Backend",
    "BulkUser",
    "BulkBackend",
    "CodeOutcome",
    "DuplicateKey",
    "Durability",
    "EVENT_QUERY_FIELDS",
    "EventQuery",
    "Filter",
    "NewUserRecord",
    "PostgresBackend",
    "QUERY_FIELDS",
    "SQLiteBackend",
    "StaleConnection",
    "TicketUse",
    "UserQuery",
    "WriteOutcome",
    "open_backend",
]

Durability = Literal["full", "normal"]
#: What checking a one-time code found.
CodeOutcome = Literal["ok", "wrong", "expired", "exhausted", "missing"]
#: What using a ticket found: the outcome, and the ticket's user id and email when ``ok``.
TicketUse = tuple[Literal["ok", "missing", "used", "expired"], str | None, str | None]
#: What a bulk write did with one user: inserted it, updated the user of its email (an upsert),
#: refused that update (its ``upsert`` said no), or the unique key that another user holds.
WriteOutcome = Literal[
    "inserted", "updated", "refused", "email", "username", "phone_number", "user_id"
]
#: User columns a query may filter or sort on (metadata paths are ``user_metadata.<key>``).
QUERY_FIELDS = frozenset(
    {
        "user_id",
        "email",
        "username",
        "phone_number",
        "name",
        "nickname",
        "given_name",
        "family_name",
        "blocked",
        "email_verified",
        "phone_verified",
        "created_at",
        "updated_at",
        "last_login",
        "logins_count",
    }
)
#: Event fields a query may filter on.
EVENT_QUERY_FIELDS = frozenset(
    {
        "type",
        "user_id",
        "user_name",
        "connection",
        "connection_id",
        "ip",
        "date",
        "log_id",
        "client_id",
        "description",
    }
)


@dataclass(frozen=True, slots=True)
class Filter:
    """One condition of a user query.

    ``field`` is a column of ``QUERY_FIELDS`` or ``user_metadata.<key>`` / ``app_metadata.<key>``;
    ``op`` is ``eq`` (``value``), ``prefix`` (``value`` is the prefix), or ``range`` (``low`` /
    ``high``, None for open ends, with inclusive flags); ``negate`` inverts it.
    """

    field: str
    op: Literal["eq", "prefix", "range"]
    value: Any = None
    low: Any = None
    high: Any = None
    include_low: bool = True
    include_high: bool = True
    negate: bool = False


@dataclass(frozen=True, slots=True)
class UserQuery:
    """A page of users: filters (all must hold), one sort key, offset and limit."""

    connection_id: str | None = None
    filters: tuple[Filter, ...] = ()
    sort: str = "created_at"
    descending: bool = False
    offset: int = 0
    limit: int = 50
    with_total: bool = False


@dataclass(frozen=True, slots=True)
class EventQuery:
    """A page of the event log (Auth0's ``GET /api/v2/logs``).

    ``filters`` (all must hold) are on ``EVENT_QUERY_FIELDS``, with the ops of ``Filter``. The
    log's order is (``date``, ``log_id``), newest first unless ``descending`` is False. With
    ``after`` (a checkpoint: Auth0's ``from``), only the events after that ``log_id`` in the log's
    order, oldest first (``descending`` is then ignored); an ``after`` that is no stored event
    selects the events whose ``log_id`` is greater.
    """

    filters: tuple[Filter, ...] = ()
    descending: bool = True
    offset: int = 0
    limit: int = 50
    with_total: bool = False
    after: str | None = None


class DuplicateKey(Exception):
    """A unique key is taken. ``key`` is ``email``, ``username``, ``phone_number``, ``user_id``
    (users), ``name`` (connections) or ``key`` (records)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


class StaleConnection(Exception):
    """The connection a new user was checked against is no longer the stored one (its options
    changed, or it was deleted, since it was read): nothing was written; read it again."""


@runtime_checkable
class Backend(Protocol):
    """What an ``IdentityStore`` needs from its storage. Methods are safe to call from threads."""

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        ...

    def insert_connection(self, connection: Connection) -> None:
        """Store a new connection. Raises ``DuplicateKey("name")`` if the name is taken."""
        ...

    def get_connection(self, name: str, *, cached: bool = False) -> Connection | None:
        """The connection called ``name``, or None.

        With ``cached``, the answer may come from an earlier read without asking the database:
        the caller then passes it as ``NewUserRecord.connection`` to ``insert_user``, which checks
        that it is still current. Without it, the answer is what is stored now.
        """
        ...

    def list_connections(self) -> Sequence[Connection]:
        """Every connection, oldest first."""
        ...

    def insert_user(self, record: NewUserRecord, *, events: Sequence[Event] = ()) -> None:
        """Store a new user (and ``events``) in one transaction. Raises ``DuplicateKey``.

        When ``record.connection`` is set and, inside that transaction, the stored connection
        with its id differs from it (or is gone), raise ``StaleConnection`` and write nothing.
        """
        ...

    def get_user(self, user_id: str) -> User | None:
        """The user with exactly this ``user_id``, or None."""
        ...

    def count_users(self) -> int:
        """How many users are stored."""
        ...

    def update_connection(self, connection: Connection) -> None:
        """Replace the options of the connection with ``connection.id``."""
        ...

    def delete_connection(self, connection_id: str, *, events: Sequence[Event] = ()) -> int:
        """Delete a connection and all its users in one transaction; return how many users."""
        ...

    def get_users_by_email(self, email: str) -> list[User]:
        """Users of every connection whose email is ``email`` (already lower-cased)."""
        ...

    def find_user(self, connection_id: str, key: str, value: str) -> tuple[User, str | None] | None:
        """The user of a connection whose ``key`` (email, username, phone_number) is ``value``,
        with its password hash."""
        ...

    def list_users(self, query: UserQuery) -> tuple[list[User], int | None]:
        """A page of users and, if ``query.with_total``, how many match in all."""
        ...

    def update_user(
        self,
        user_id: str,
        changes: Callable[[User], Mapping[str, Any]],
        *,
        password_hash: str | None = None,
        history_size: int = 0,
        events: Sequence[Event] = (),
    ) -> User | None:
        """Apply ``changes(current)`` (column -> value) in one transaction; None if no such user.

        With ``password_hash``, the old hash goes to the history, trimmed to ``history_size``.
        Raises ``DuplicateKey`` when a unique key is taken.
        """
        ...

    def password_history(self, user_id: str, size: int) -> list[str]:
        """The current password hash and up to ``size - 1`` previous ones, newest first."""
        ...

    def delete_user(self, user_id: str, *, events: Sequence[Event] = ()) -> bool:
        """Delete a user and everything attached; False if there was none."""
        ...

    def record_login(
        self, user_id: str, *, date: str, ip: str | None, new_hash: str | None, event: Event
    ) -> User | None:
        """Count a successful sign-in (``logins_count``, ``last_login``, ``last_ip``), clear its
        failures, optionally replace the password hash, and log ``event``."""
        ...

    def record_failure(
        self, user_id: str | None, *, ip: str, block_after: int, blocked_until: str, event: Event
    ) -> int:
        """Log a failed sign-in; for a known user count it per IP and return the count.

        ``event`` is logged whatever happens to the user: for ``user_id`` None, or a user deleted
        meanwhile, nothing is counted and the answer is 0.
        """
        ...

    def blocked_until(self, user_id: str, ip: str) -> str | None:
        """Until when sign-in for ``user_id`` from ``ip`` is blocked, or None."""
        ...

    def list_blocks(self, user_id: str, *, now: str) -> list[str]:
        """The IPs from which ``user_id`` is blocked at ``now``, oldest block first."""
        ...

    def clear_blocks(self, user_id: str) -> None:
        """Forget the user's failure counts and blocks, from every IP."""
        ...

    def put_code(
        self,
        connection_id: str,
        identifier: str,
        code_hash: str,
        *,
        created_at: str,
        expires_at: str,
    ) -> None:
        """Store the one-time code of an identifier, replacing any earlier one."""
        ...

    def use_code(
        self, connection_id: str, identifier: str, code_hash: str, *, now: str, max_attempts: int
    ) -> CodeOutcome:
        """Check and consume a one-time code atomically (a wrong guess counts an attempt)."""
        ...

    def insert_ticket(
        self,
        token_hash: str,
        *,
        kind: str,
        user_id: str,
        created_at: str,
        expires_at: str,
        email: str | None = None,
    ) -> None:
        """Store a single-use ticket (about ``email``, when it verifies one)."""
        ...

    def use_ticket(self, token_hash: str, *, kind: str, now: str) -> TicketUse:
        """Consume a ticket atomically; see ``TicketUse``."""
        ...

    def get_setting(self, key: str) -> str | None:
        """A value of the store's own settings, or None."""
        ...

    def put_setting(self, key: str, value: str) -> None:
        """Set a value of the store's own settings."""
        ...

    def add_event(self, event: Event) -> None:
        """Append an event to the log."""
        ...

    def list_events(
        self, *, type: str | None = None, user_id: str | None = None, limit: int = 100
    ) -> list[Event]:
        """Events ordered by ``date``, then ``log_id`` (oldest first), optionally of one type or
        one user: the last ``limit`` of them."""
        ...

    def page_events(self, query: EventQuery) -> tuple[list[Event], int | None]:
        """A page of the event log and, if ``query.with_total``, how many events match in all.

        A page costs what its ``offset + limit`` events cost, never a scan of the whole log.
        """
        ...

    def get_event(self, log_id: str) -> Event | None:
        """The event with this ``log_id``, or None."""
        ...

    def put_record(
        self,
        kind: str,
        key: str,
        value: str,
        *,
        expires_at: str | None = None,
        replace: bool = True,
        now: str | None = None,
    ) -> None:
        """Store ``value`` (text, usually JSON) under (``kind``, ``key``).

        With ``replace=False``, raise ``DuplicateKey("key")`` when the pair exists; with ``now``,
        a pair expired at ``now`` does not count (and the kind's expired records are purged).
        Records are kept in the order they were first put.
        """
        ...

    def get_record(self, kind: str, key: str, *, now: str | None = None) -> str | None:
        """The value, or None (also when ``expires_at <= now``; no ``now``: expiry unchecked)."""
        ...

    def list_records(self, kind: str, *, now: str | None = None) -> list[tuple[str, str]]:
        """``(key, value)`` of every record of ``kind`` (live at ``now``, if given), in the order
        they were first put."""
        ...

    def delete_record(self, kind: str, key: str) -> bool:
        """Remove one record; whether it existed."""
        ...

    def take_record(self, kind: str, key: str, *, now: str | None = None) -> str | None:
        """Remove the record and return its value in one atomic step (None if absent, or expired
        at ``now``): two concurrent takes of one key never both get it (single-use codes)."""
        ...

    def close(self) -> None:
        """Release every resource; the backend is unusable afterwards."""
        ...


@runtime_checkable
class BulkBackend(Protocol):
    """A backend that imports and exports users in bulk: optional.

    ``IdentityStore.import_users`` writes through ``write_users`` when its backend has it, else
    user by user with ``find_user``, ``insert_user`` and ``update_user``, to the same effect.
    ``IdentityStore.export_users`` reads through ``export_users``, else with one ``list_users``
    (every user in memory at once).
    """

    def write_users(
        self, connection_id: str, users: Sequence[BulkUser], *, events: Sequence[Event] = ()
    ) -> list[WriteOutcome]:
        """Write ``users`` (and ``events``) in one transaction, in order, as if one by one; one
        outcome a user, each user whole or not at all.

        A user with ``upsert`` whose email the connection has (written earlier in the batch
        too) is not inserted: ``upsert(current, current_hash)`` gives the columns to set and a
        new hash (the old one is then dropped, with the user's password history and login
        failures, as ``update_user`` does), ``updated``; or None, ``refused``. Another user is
        inserted with its record's columns (and verification ticket), ``inserted``; or it is
        the key another user holds (``DuplicateKey``'s), which fails that user alone.

        Raises:
            StaleConnection: no connection has ``connection_id`` (nothing is written).
        """
        ...

    def export_users(
        self, connection_id: str | None, *, limit: int | None = None, hashes: bool = False
    ) -> AbstractContextManager[tuple[int, Iterator[tuple[User, str | None]]]]:
        """``with backend.export_users(...) as (count, users)``: the users of ``connection_id``
        (of every connection: None) by ``created_at``, then ``user_id``, the first ``limit``,
        each with its password hash if ``hashes`` (else None), and how many they are.

        All of them as they were at one moment, read as a stream while the block runs, so
        that memory does not grow with their number; writes go on meanwhile.
        """
        ...


def open_backend(
    database: str | os.PathLike[str] | Backend, *, durability: Durability = "full"
) -> Backend:
    """A backend for ``database``: a ``postgresql://`` (or ``postgres://``) URL, a SQLite path,
    ``":memory:"``, or a ``Backend`` object as is."""
    if isinstance(database, str) and database.startswith(("postgresql://", "postgres://")):
        from ._postgres import PostgresBackend

        return PostgresBackend(database, durability=durability)
    if isinstance(database, (str, os.PathLike)):
        from ._sqlite import SQLiteBackend

        return SQLiteBackend(database, durability=durability)
    if isinstance(database, Backend):
        return database
    raise TypeError(f"cannot open a store on {type(database).__name__}")


def __getattr__(name: str) -> Any:
    """``PostgresBackend`` and ``SQLiteBackend``, imported on first use."""
    if name == "PostgresBackend":
        from ._postgres import PostgresBackend

        return PostgresBackend
    if name == "SQLiteBackend":
        from ._sqlite import SQLiteBackend

        return SQLiteBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
