"""The SQL both backends run, written once.

``SQLBackend`` implements every ``Backend`` operation whose statements are the same on SQLite and
PostgreSQL. Statements are written for SQLite (``?`` placeholders) with the row locks that
PostgreSQL needs in a read-modify-write; the backend's ``Dialect`` gives each its own form. A
backend supplies how an operation runs (``_read``: no transaction; ``_write``: one transaction,
a unique violation raised as ``DuplicateKey``, any other failure as ``StorageError``) and what
truly differs: opening and migrating, reading connections, inserting users, user queries.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast

from .._models import BulkUser, Connection, Event, NewUserRecord, User
from . import (
    EVENT_QUERY_FIELDS,
    CodeOutcome,
    EventQuery,
    Filter,
    StaleConnection,
    TicketUse,
    UserQuery,
    WriteOutcome,
)
from ._rows import (
    EVENT_COLUMNS,
    SELECT_CONNECTION,
    SELECT_USER,
    code_outcome,
    column_value,
    event_from_row,
    event_values,
    json_text,
    updatable_column,
    user_from_row,
    verification_ticket,
    where_clause,
)

__all__ = [
    "CONNECTION_NAMED",
    "EVENTS_TABLE",
    "INSERT_EVENT",
    "INSERT_TICKET",
    "POSTGRES",
    "SELECT_USER_AND_HASH",
    "SQLITE",
    "Dialect",
    "EventSource",
    "SQLBackend",
    "column_filter",
]

_T = TypeVar("_T")


class Dialect:
    """What differs in the text of one statement between the backends.

    Calling a dialect on a statement written for SQLite gives it in that backend's form:
    PostgreSQL's ``%s`` placeholders (``%`` doubled), and for SQLite, whose writers are
    serialised by ``BEGIN IMMEDIATE``, without the row locks (``FOR UPDATE``, ``FOR SHARE``,
    ``FOR KEY SHARE``). ``returning``: whether ``RETURNING`` may be used (SQLite before 3.35,
    which Python 3.10 may come with, has none).
    """

    __slots__ = ("locks", "mark", "returning")

    def __init__(self, mark: str, *, locks: bool, returning: bool) -> None:
        self.mark = mark
        self.locks = locks
        self.returning = returning

    def __call__(self, sql: str) -> str:
        return _translate(sql, self.mark, self.locks)


@functools.lru_cache(maxsize=1024)
def _translate(sql: str, mark: str, locks: bool) -> str:  # noqa: FBT001 (lru_cache: positional)
    if not locks:
        for lock in (" FOR UPDATE", " FOR KEY SHARE", " FOR SHARE"):
            sql = sql.replace(lock, "")
    if mark != "?":
        sql = sql.replace("%", "%%").replace("?", mark)
    return sql


SQLITE = Dialect("?", locks=False, returning=False)
POSTGRES = Dialect("%s", locks=True, returning=True)

CONNECTION_NAMED = SELECT_CONNECTION + " WHERE name = ?"
SELECT_USER_AND_HASH = SELECT_USER.replace(" FROM users", ", password_hash FROM users")
INSERT_TICKET = (
    "INSERT INTO tickets (token_hash, kind, user_id, created_at, expires_at, email) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
INSERT_EVENT = (
    f"INSERT INTO events ({EVENT_COLUMNS}) "
    f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS.split(','))})"
)
_CONNECTION_LOCKED = "SELECT id FROM connections WHERE id = ? FOR SHARE"
#: The most values of one ``IN (...)`` list (SQLite allows 32,766 parameters a statement).
_IN_LIMIT = 500
_DELETE_CODE = "DELETE FROM one_time_codes WHERE connection_id = ? AND identifier = ?"
_LIVE = " AND (expires_at IS NULL OR expires_at > ?)"


@dataclass(frozen=True)
class EventSource:
    """Where some of the log's events are kept: a ``SELECT`` of ``EVENT_COLUMNS`` (with its own
    ``where``, or none) and the expression of each ``EVENT_QUERY_FIELDS`` field in it."""

    select: str
    where: str
    fields: Mapping[str, str]

    def query(self, clauses: Sequence[str]) -> str:
        """The ``SELECT`` restricted by ``clauses`` as well."""
        where = [self.where, *clauses] if self.where else list(clauses)
        return self.select + (f" WHERE {' AND '.join(where)}" if where else "")


#: The ``events`` table.
EVENTS_TABLE = EventSource(
    f"SELECT {EVENT_COLUMNS} FROM events", "", {f: f for f in EVENT_QUERY_FIELDS}
)


class SQLBackend:
    """The ``Backend`` operations whose SQL both backends share (see the module docstring)."""

    dialect: ClassVar[Dialect]
    #: Where the event log is kept (SQLite keeps signup events in user rows as well).
    event_sources: ClassVar[tuple[EventSource, ...]] = (EVENTS_TABLE,)
    #: How ``list_connections`` orders connections by creation.
    connection_order: ClassVar[str]
    #: Statements that also run when a connection is deleted, with its id.
    connection_cleanup: ClassVar[tuple[str, ...]] = ()

    def _read(self, action: Callable[[Any], _T]) -> _T:
        """Run ``action(db)`` outside a transaction (``db.execute(sql, params)``)."""
        raise NotImplementedError

    def _write(self, action: Callable[[Any], _T]) -> _T:
        """Run ``action(db)`` in one write transaction (see the module docstring)."""
        raise NotImplementedError

    def _write_one(self, sql: str, params: Sequence[Any]) -> int:
        """Run one write statement (``sql`` in the backend's form) as ``_write`` would; the
        number of rows it changed."""
        return int(self._write(lambda db: db.execute(sql, params).rowcount))

    def _connections_changed(self) -> None:
        """Called after this backend changed a connection."""

    def _sql(self, statement: str) -> str:
        return self.dialect(statement)

    def _insert_events(self, db: Any, events: Sequence[Event]) -> None:
        if events:
            db.executemany(self._sql(INSERT_EVENT), [event_values(e) for e in events])

    # -- connections ------------------------------------------------------------------------------

    def list_connections(self) -> list[Connection]:
        """Every connection, oldest first."""
        sql = self._sql(f"{SELECT_CONNECTION} ORDER BY {self.connection_order}")
        rows = self._read(lambda db: db.execute(sql).fetchall())
        return [Connection(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def update_connection(self, connection: Connection) -> None:
        """Replace the options of the connection with ``connection.id``."""
        sql = self._sql("UPDATE connections SET options = ? WHERE id = ?")
        self._write_one(sql, (json_text(connection.options), connection.id))
        self._connections_changed()

    def delete_connection(self, connection_id: str, *, events: Sequence[Event] = ()) -> int:
        """Delete a connection with all its users (and their tickets, codes, history)."""

        def delete(db: Any) -> int:
            deleted = db.execute(
                self._sql("DELETE FROM users WHERE connection_id = ?"), (connection_id,)
            ).rowcount
            for statement in self.connection_cleanup:
                db.execute(self._sql(statement), (connection_id,))
            db.execute(self._sql("DELETE FROM connections WHERE id = ?"), (connection_id,))
            self._insert_events(db, events)
            return int(deleted)

        try:
            return self._write(delete)
        finally:
            self._connections_changed()

    # -- users ------------------------------------------------------------------------------------

    @staticmethod
    def _user_filter(f: Filter, params: list[Any]) -> str:
        """One filter of a user query, in the backend's SQL (appending its parameters)."""
        raise NotImplementedError

    @staticmethod
    def _user_order(query: UserQuery) -> str:
        """The ``ORDER BY`` of a user query, in the backend's SQL."""
        raise NotImplementedError

    def _count_matching(self, db: Any, query: UserQuery, where: str, params: list[Any]) -> int:
        """How many users match ``query`` (``where`` and ``params``: its compiled filters)."""
        return int(db.execute(f"SELECT count(*) FROM users{where}", params).fetchone()[0])

    def list_users(self, query: UserQuery) -> tuple[list[User], int | None]:
        """A page of users matching ``query``, and their total if asked."""
        mark = self.dialect.mark
        where, params = where_clause(query, self._user_filter, mark)
        sql = f"{SELECT_USER}{where} ORDER BY {self._user_order(query)} LIMIT {mark} OFFSET {mark}"

        def page(db: Any) -> tuple[list[Any], int | None]:
            rows = db.execute(sql, (*params, query.limit, query.offset)).fetchall()
            total = self._count_matching(db, query, where, params) if query.with_total else None
            return rows, total

        rows, total = self._read(page)
        return [user_from_row(r) for r in rows], total

    def get_user(self, user_id: str) -> User | None:
        """The user with exactly this ``user_id``, or None."""
        sql = self._sql(SELECT_USER + " WHERE user_id = ?")
        row = self._read(lambda db: db.execute(sql, (user_id,)).fetchone())
        return None if row is None else user_from_row(row)

    def count_users(self) -> int:
        """How many users are stored."""
        return int(self._read(lambda db: db.execute("SELECT count(*) FROM users").fetchone()[0]))

    def get_users_by_email(self, email: str) -> list[User]:
        """Users of every connection with this (lower-cased) email, oldest first."""
        sql = self._sql(SELECT_USER + " WHERE email = ? ORDER BY created_at, user_id")
        rows = self._read(lambda db: db.execute(sql, (email,)).fetchall())
        return [user_from_row(r) for r in rows]

    def find_user(self, connection_id: str, key: str, value: str) -> tuple[User, str | None] | None:
        """The connection's user whose ``key`` is ``value``, with its password hash."""
        if key not in ("email", "username", "phone_number"):
            raise ValueError(f"cannot find users by {key}")
        sql = self._sql(SELECT_USER_AND_HASH + f" WHERE connection_id = ? AND {key} = ?")
        row = self._read(lambda db: db.execute(sql, (connection_id, value)).fetchone())
        return None if row is None else (user_from_row(row), row[-1])

    def update_user(
        self,
        user_id: str,
        changes: Callable[[User], Mapping[str, Any]],
        *,
        password_hash: str | None = None,
        history_size: int = 0,
        events: Sequence[Event] = (),
    ) -> User | None:
        """Apply ``changes(current)`` in one transaction (the row locked); None if no such user."""

        def update(db: Any) -> User | None:
            row = db.execute(
                self._sql(SELECT_USER_AND_HASH + " WHERE user_id = ? FOR UPDATE"), (user_id,)
            ).fetchone()
            if row is None:
                return None
            self._change(db, row, changes(user_from_row(row)), password_hash, history_size)
            self._insert_events(db, events)
            updated = db.execute(self._sql(SELECT_USER + " WHERE user_id = ?"), (user_id,))
            return user_from_row(updated.fetchone())

        return self._write(update)

    def _change(
        self,
        db: Any,
        row: Sequence[Any],
        changes: Mapping[str, Any],
        password_hash: str | None,
        history_size: int,
    ) -> None:
        """Set ``changes`` (and ``password_hash``) on the user of ``row`` (``SELECT_USER_AND_HASH``,
        locked): a new hash clears the login failures and keeps the old one in the history."""
        user_id = row[0]
        values = {k: column_value(k, v) for k, v in changes.items()}
        if password_hash is not None:
            values["password_hash"] = password_hash
        if values:
            assignments = ", ".join(f"{updatable_column(k)} = ?" for k in values)
            db.execute(
                self._sql(f"UPDATE users SET {assignments} WHERE user_id = ?"),
                (*values.values(), user_id),
            )
        if password_hash is not None:
            db.execute(self._sql("DELETE FROM login_failures WHERE user_id = ?"), (user_id,))
            if row[-1] is not None:
                self._remember_password(db, user_id, row[-1], row[4], history_size)

    # -- bulk writes ----------------------------------------------------------------------------

    def _insert_rows(self, db: Any, records: Sequence[NewUserRecord]) -> list[bool]:
        """Insert the users of ``records`` that take no key another holds (the first of the batch
        wins), in the transaction; which were inserted. Each user is one row."""
        raise NotImplementedError

    def _insert_row(self, db: Any, record: NewUserRecord) -> str | None:
        """Insert one user's row, or change nothing: None, or the key another user holds."""
        raise NotImplementedError

    def write_users(
        self, connection_id: str, users: Sequence[BulkUser], *, events: Sequence[Event] = ()
    ) -> list[WriteOutcome]:
        """Write ``users`` in one transaction, as one by one (see ``BulkBackend``): the upserts of
        emails already stored are looked up together, the other users inserted together, and a
        user refused there is written alone (it may be an upsert of a user the batch inserted)."""

        def write(db: Any) -> list[WriteOutcome]:
            if db.execute(self._sql(_CONNECTION_LOCKED), (connection_id,)).fetchone() is None:
                raise StaleConnection(connection_id)
            outcomes: list[WriteOutcome | None] = [None] * len(users)
            self._upsert_stored(db, connection_id, users, outcomes)
            pending = [i for i, outcome in enumerate(outcomes) if outcome is None]
            inserted = self._insert_rows(db, [users[i].record for i in pending])
            for i, done in zip(pending, inserted, strict=True):
                outcomes[i] = "inserted" if done else self._write_alone(db, connection_id, users[i])
            tickets = [
                ticket
                for bulk, outcome in zip(users, outcomes, strict=True)
                if outcome == "inserted" and (ticket := verification_ticket(bulk.record))
            ]
            if tickets:
                db.executemany(self._sql(INSERT_TICKET), tickets)
            self._insert_events(db, events)
            return [outcome or "inserted" for outcome in outcomes]  # each one is set by now

        return self._write(write)

    def _upsert_stored(
        self,
        db: Any,
        connection_id: str,
        users: Sequence[BulkUser],
        outcomes: list[WriteOutcome | None],
    ) -> None:
        """Update the stored users the upserts of ``users`` name by email (rows locked), setting
        their outcomes."""
        upserts = {
            bulk.record.user.email: i
            for i, bulk in reversed(list(enumerate(users)))  # the first of an email, as one by one
            if bulk.upsert is not None and bulk.record.user.email is not None
        }
        emails = list(upserts)
        for start in range(0, len(emails), _IN_LIMIT):
            chunk = emails[start : start + _IN_LIMIT]
            marks = ", ".join("?" for _ in chunk)
            rows = db.execute(
                self._sql(
                    f"{SELECT_USER_AND_HASH} WHERE connection_id = ? AND email IN ({marks}) "
                    "ORDER BY user_id FOR UPDATE"
                ),
                (connection_id, *chunk),
            ).fetchall()
            for row in rows:
                i = upserts[row[6]]
                outcomes[i] = self._upsert_row(db, users[i], row)

    def _upsert_row(self, db: Any, bulk: BulkUser, row: Sequence[Any]) -> WriteOutcome:
        """The upsert of ``bulk`` over the stored user of ``row`` (locked)."""
        assert bulk.upsert is not None
        decided = bulk.upsert(user_from_row(row), row[-1])
        if decided is None:
            return "refused"
        self._change(db, row, *decided, history_size=0)
        return "updated"

    def _write_alone(self, db: Any, connection_id: str, bulk: BulkUser) -> WriteOutcome:
        """``bulk`` written by itself: its upsert if its email is stored, else its insert."""
        email = bulk.record.user.email
        for _ in range(3):  # an email taken between the look-up and the insert: look again
            if bulk.upsert is not None and email is not None:
                row = db.execute(
                    self._sql(
                        SELECT_USER_AND_HASH + " WHERE connection_id = ? AND email = ? FOR UPDATE"
                    ),
                    (connection_id, email),
                ).fetchone()
                if row is not None:
                    return self._upsert_row(db, bulk, row)
            taken = self._insert_row(db, bulk.record)
            if taken is None:
                return "inserted"
            if taken != "email" or bulk.upsert is None:
                return cast(WriteOutcome, taken)
        return "email"

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[Any]:
        """A read-only transaction of its own that sees one moment, for a long read."""
        raise NotImplementedError
        yield  # pragma: no cover

    def _stream(self, db: Any, sql: str, params: Sequence[Any]) -> Iterator[Sequence[Any]]:
        """The rows of ``sql`` in the snapshot ``db``, fetched a few thousand at a time."""
        raise NotImplementedError

    @contextlib.contextmanager
    def export_users(
        self, connection_id: str | None, *, limit: int | None = None, hashes: bool = False
    ) -> Iterator[tuple[int, Iterator[tuple[User, str | None]]]]:
        """The users of one snapshot by creation, streamed (see ``BulkBackend``)."""
        where, params = (
            ("", []) if connection_id is None else (" WHERE connection_id = ?", [connection_id])
        )
        select = (SELECT_USER_AND_HASH if hashes else SELECT_USER) + where
        select += " ORDER BY created_at, user_id"
        if limit is not None:
            select += f" LIMIT {int(limit)}"
        with self._snapshot() as db:
            (count,) = db.execute(
                self._sql("SELECT count(*) FROM users" + where), params
            ).fetchone()
            count = int(count) if limit is None else min(int(count), limit)
            rows = self._stream(db, self._sql(select), params)
            yield count, ((user_from_row(r), r[-1] if hashes else None) for r in rows)

    def _remember_password(self, db: Any, user_id: str, old: str, date: str, keep: int) -> None:
        """Keep ``old`` in the history, trimmed to the newest ``keep - 1`` (the new hash is the
        ``keep``-th)."""
        if keep <= 1:
            db.execute(self._sql("DELETE FROM password_history WHERE user_id = ?"), (user_id,))
            return
        db.execute(
            self._sql(
                "INSERT INTO password_history (user_id, password_hash, created_at) VALUES (?, ?, ?)"
            ),
            (user_id, old, date),
        )
        db.execute(
            self._sql(
                "DELETE FROM password_history WHERE user_id = ? AND id NOT IN (SELECT id FROM "
                "password_history WHERE user_id = ? ORDER BY id DESC LIMIT ?)"
            ),
            (user_id, user_id, keep - 1),
        )

    def password_history(self, user_id: str, size: int) -> list[str]:
        """The current hash and up to ``size - 1`` earlier ones, newest first."""

        def read(db: Any) -> list[str]:
            current = db.execute(
                self._sql("SELECT password_hash FROM users WHERE user_id = ?"), (user_id,)
            ).fetchone()
            older = db.execute(
                self._sql(
                    "SELECT password_hash FROM password_history WHERE user_id = ? "
                    "ORDER BY id DESC LIMIT ?"
                ),
                (user_id, max(size - 1, 0)),
            ).fetchall()
            hashes = [current[0]] if current and current[0] else []
            return hashes + [h for (h,) in older]

        return self._read(read)

    def delete_user(self, user_id: str, *, events: Sequence[Event] = ()) -> bool:
        """Delete the user and what hangs off it (its pending one-time codes too); False if
        there was none."""

        def delete(db: Any) -> bool:
            row = db.execute(
                self._sql(
                    "SELECT connection_id, email, phone_number FROM users WHERE user_id = ? "
                    "FOR UPDATE"
                ),
                (user_id,),
            ).fetchone()
            if row is None:
                return False
            db.execute(self._sql("DELETE FROM users WHERE user_id = ?"), (user_id,))
            for identifier in {row[1], row[2]} - {None}:
                db.execute(self._sql(_DELETE_CODE), (row[0], identifier))
            self._insert_events(db, events)
            return True

        return self._write(delete)

    # -- sign-in ----------------------------------------------------------------------------------

    def record_login(
        self, user_id: str, *, date: str, ip: str | None, new_hash: str | None, event: Event
    ) -> User | None:
        """Count a sign-in, clear its failures from ``ip``, maybe re-hash, log ``event``.

        Failures from other addresses stay counted (and blocked): a sign-in from one address must
        not lift the brute-force block of another. A None ``ip`` is the ``0.0.0.0`` the store
        counts failures of callers without an address under.
        """
        update = (
            "UPDATE users SET logins_count = coalesce(logins_count, 0) + 1, last_login = ?, "
            "last_ip = ?, password_hash = coalesce(?, password_hash) WHERE user_id = ?"
        )
        if self.dialect.returning:
            update += " RETURNING " + SELECT_USER.removeprefix("SELECT ").removesuffix(
                " FROM users"
            )

        def login(db: Any) -> User | None:
            cursor = db.execute(self._sql(update), (date, ip, new_hash, user_id))
            if self.dialect.returning:
                row = cursor.fetchone()
            elif cursor.rowcount:
                row = db.execute(self._sql(SELECT_USER + " WHERE user_id = ?"), (user_id,))
                row = row.fetchone()
            else:
                row = None
            if row is None:
                return None
            db.execute(
                self._sql("DELETE FROM login_failures WHERE user_id = ? AND ip = ?"),
                (user_id, "0.0.0.0" if ip is None else ip),
            )
            self._insert_events(db, [event])
            return user_from_row(row)

        return self._write(login)

    def record_failure(
        self, user_id: str | None, *, ip: str, block_after: int, blocked_until: str, event: Event
    ) -> int:
        """Log a failed sign-in; count it for a known user and IP, blocking at ``block_after``
        (0: never). A user deleted meanwhile is logged, not counted: 0. The user's row is locked
        first (PostgreSQL), so a delete waits for this write or has already happened."""

        def fail(db: Any) -> int:
            self._insert_events(db, [event])
            if user_id is None:
                return 0
            exists = self._sql("SELECT 1 FROM users WHERE user_id = ? FOR KEY SHARE")
            if db.execute(exists, (user_id,)).fetchone() is None:
                return 0
            key = (user_id, ip)
            db.execute(
                self._sql(
                    "INSERT INTO login_failures (user_id, ip, failures) VALUES (?, ?, 1) "
                    "ON CONFLICT (user_id, ip) DO UPDATE SET failures = login_failures.failures + 1"
                ),
                key,
            )
            (failures,) = db.execute(
                self._sql("SELECT failures FROM login_failures WHERE user_id = ? AND ip = ?"), key
            ).fetchone()
            if block_after and failures >= block_after:
                db.execute(
                    self._sql(
                        "UPDATE login_failures SET blocked_until = ?, failures = 0 "
                        "WHERE user_id = ? AND ip = ?"
                    ),
                    (blocked_until, *key),
                )
            return int(failures)

        return self._write(fail)

    def blocked_until(self, user_id: str, ip: str) -> str | None:
        """Until when sign-in is blocked for this user from this IP, or None."""
        sql = self._sql("SELECT blocked_until FROM login_failures WHERE user_id = ? AND ip = ?")
        row = self._read(lambda db: db.execute(sql, (user_id, ip)).fetchone())
        return None if row is None else row[0]

    def list_blocks(self, user_id: str, *, now: str) -> list[str]:
        """The IPs ``user_id`` is blocked from at ``now``, oldest block first."""
        sql = self._sql(
            "SELECT ip FROM login_failures WHERE user_id = ? AND blocked_until > ? "
            "ORDER BY blocked_until, ip"
        )
        rows = self._read(lambda db: db.execute(sql, (user_id, now)).fetchall())
        return [ip for (ip,) in rows]

    def clear_blocks(self, user_id: str) -> None:
        """Forget the user's failure counts and blocks."""
        sql = self._sql("DELETE FROM login_failures WHERE user_id = ?")
        self._write_one(sql, (user_id,))

    # -- one-time codes and tickets ---------------------------------------------------------------

    def put_code(
        self,
        connection_id: str,
        identifier: str,
        code_hash: str,
        *,
        created_at: str,
        expires_at: str,
    ) -> None:
        """Store the identifier's one-time code, replacing any earlier one."""
        sql = self._sql(
            "INSERT INTO one_time_codes "
            "(connection_id, identifier, code_hash, created_at, expires_at, attempts) "
            "VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (connection_id, identifier) DO UPDATE "
            "SET code_hash = excluded.code_hash, created_at = excluded.created_at, "
            "expires_at = excluded.expires_at, attempts = 0"
        )
        values = (connection_id, identifier, code_hash, created_at, expires_at)
        self._write_one(sql, values)

    def use_code(
        self, connection_id: str, identifier: str, code_hash: str, *, now: str, max_attempts: int
    ) -> CodeOutcome:
        """Check and consume a one-time code in one transaction (the row locked)."""
        key = (connection_id, identifier)

        def use(db: Any) -> CodeOutcome:
            row = db.execute(
                self._sql(
                    "SELECT code_hash, expires_at, attempts FROM one_time_codes "
                    "WHERE connection_id = ? AND identifier = ? FOR UPDATE"
                ),
                key,
            ).fetchone()
            if row is None:
                return "missing"
            stored, expires_at, attempts = row
            if expires_at <= now:
                db.execute(self._sql(_DELETE_CODE), key)
                return "expired"
            outcome = code_outcome(stored, attempts, code_hash, max_attempts)
            if outcome == "wrong":
                db.execute(
                    self._sql(
                        "UPDATE one_time_codes SET attempts = attempts + 1 "
                        "WHERE connection_id = ? AND identifier = ?"
                    ),
                    key,
                )
            else:
                db.execute(self._sql(_DELETE_CODE), key)
            return outcome

        return self._write(use)

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
        """Store a single-use ticket for ``user_id`` (and the email it is about)."""
        values = (token_hash, kind, user_id, created_at, expires_at, email)
        self._write_one(self._sql(INSERT_TICKET), values)

    def use_ticket(self, token_hash: str, *, kind: str, now: str) -> TicketUse:
        """Consume a ticket: ``("ok", user_id, email)``, or why not (``missing``, ``used``,
        ``expired``) with None ids."""

        def use(db: Any) -> TicketUse:
            row = db.execute(
                self._sql(
                    "SELECT user_id, email, used_at, expires_at FROM tickets "
                    "WHERE token_hash = ? AND kind = ? FOR UPDATE"
                ),
                (token_hash, kind),
            ).fetchone()
            if row is None:
                return ("missing", None, None)
            if row[2] is not None:
                return ("used", None, None)
            if row[3] <= now:
                return ("expired", None, None)
            db.execute(
                self._sql("UPDATE tickets SET used_at = ? WHERE token_hash = ?"), (now, token_hash)
            )
            return ("ok", row[0], row[1])

        return self._write(use)

    # -- settings ---------------------------------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        """A value of the store's own settings table, or None."""
        sql = self._sql("SELECT value FROM settings WHERE key = ?")
        row = self._read(lambda db: db.execute(sql, (key,)).fetchone())
        return None if row is None else str(row[0])

    def put_setting(self, key: str, value: str) -> None:
        """Set a value of the store's own settings table."""
        sql = self._sql(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        )
        self._write_one(sql, (key, value))

    # -- the event log ----------------------------------------------------------------------------

    def add_event(self, event: Event) -> None:
        """Append ``event`` to the log."""
        self._write_one(self._sql(INSERT_EVENT), event_values(event))

    def list_events(
        self, *, type: str | None = None, user_id: str | None = None, limit: int = 100
    ) -> list[Event]:
        """The last ``limit`` events (optionally of one type / user) by date, then log_id."""
        pairs = (("type", type), ("user_id", user_id))
        filters = tuple(Filter(name, "eq", value) for name, value in pairs if value is not None)
        return self.page_events(EventQuery(filters=filters, limit=limit))[0][::-1]

    def page_events(self, query: EventQuery) -> tuple[list[Event], int | None]:
        """A page of the event log, and the total if asked."""
        return self._read(lambda db: self._page_events(db, query))

    def _page_events(self, db: Any, query: EventQuery) -> tuple[list[Event], int | None]:
        filters, after = list(query.filters), None
        if query.after is not None:
            after = self._get_event(db, query.after)
            if after is None:  # no such event: those with a greater log_id
                filters.append(Filter("log_id", "range", low=query.after, include_low=False))
        union, params = self._union(filters, after)
        direction = "DESC" if query.descending and query.after is None else "ASC"
        rows = db.execute(
            self._sql(f"{union} ORDER BY date {direction}, log_id {direction} LIMIT ? OFFSET ?"),
            (*params, query.limit, query.offset),
        ).fetchall()
        total = None
        if query.with_total:
            counted = db.execute(self._sql(f"SELECT count(*) FROM ({union}) AS log"), params)
            total = int(counted.fetchone()[0])
        return [event_from_row(r) for r in rows], total

    def get_event(self, log_id: str) -> Event | None:
        """The event with this ``log_id``, or None."""
        return self._read(lambda db: self._get_event(db, log_id))

    def _get_event(self, db: Any, log_id: str) -> Event | None:
        union, params = self._union([Filter("log_id", "eq", log_id)])
        row = db.execute(self._sql(f"{union} LIMIT 1"), params).fetchone()
        return None if row is None else event_from_row(row)

    def _union(
        self, filters: Sequence[Filter], after: Event | None = None
    ) -> tuple[str, list[Any]]:
        """The ``UNION ALL`` of the event sources, each with ``filters`` applied (and only the
        events after ``after`` in the log's order), and its parameters.

        Each source is filtered on its own (rather than the union as a subquery), so that SQLite
        reads each in the log's order from an index and merges them: a page costs its rows.
        """
        for f in filters:
            if f.field not in EVENT_QUERY_FIELDS:
                raise ValueError(f"cannot query events by {f.field!r}")
        selects: list[str] = []
        params: list[Any] = []
        for source in self.event_sources:
            clauses = [column_filter(f, source.fields[f.field], params) for f in filters]
            if after is not None:  # the date bound alone reads the index as a range
                date, log_id = source.fields["date"], source.fields["log_id"]
                clauses.append(f"{date} >= ? AND ({date} > ? OR {log_id} > ?)")
                params.extend([after.date, after.date, after.log_id])
            selects.append(source.query(clauses))
        return " UNION ALL ".join(selects), params

    # -- records ----------------------------------------------------------------------------------

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
        """Store a record; ``DuplicateKey("key")`` if taken and not ``replace``."""
        insert = "INSERT INTO records (kind, key, value, expires_at) VALUES (?, ?, ?, ?)"
        if replace:
            insert += (
                " ON CONFLICT (kind, key) DO UPDATE "
                "SET value = excluded.value, expires_at = excluded.expires_at"
            )

        def put(db: Any) -> None:
            if now is not None:  # purge the kind's expired records
                purge = "DELETE FROM records WHERE kind = ? AND expires_at <= ?"
                db.execute(self._sql(purge), (kind, now))
            db.execute(self._sql(insert), (kind, key, value, expires_at))

        self._write(put)

    def get_record(self, kind: str, key: str, *, now: str | None = None) -> str | None:
        """A record's value, or None (also when expired at ``now``)."""
        sql, params = "SELECT value FROM records WHERE kind = ? AND key = ?", [kind, key]
        if now is not None:
            sql += _LIVE
            params.append(now)
        row = self._read(lambda db: db.execute(self._sql(sql), params).fetchone())
        return None if row is None else str(row[0])

    def list_records(self, kind: str, *, now: str | None = None) -> list[tuple[str, str]]:
        """``(key, value)`` of the live records of ``kind``, in the order first put."""
        sql, params = "SELECT key, value FROM records WHERE kind = ?", [kind]
        if now is not None:
            sql += _LIVE
            params.append(now)
        rows = self._read(
            lambda db: db.execute(self._sql(sql + " ORDER BY seq"), params).fetchall()
        )
        return [(k, v) for k, v in rows]

    def delete_record(self, kind: str, key: str) -> bool:
        """Remove a record; whether it existed."""
        sql = self._sql("DELETE FROM records WHERE kind = ? AND key = ?")
        return bool(self._write_one(sql, (kind, key)))

    def take_record(self, kind: str, key: str, *, now: str | None = None) -> str | None:
        """Remove a record and return its value, in one transaction (None if absent or expired):
        the row is locked first, so a concurrent take waits, then finds it gone."""

        def take(db: Any) -> str | None:
            row = db.execute(
                self._sql(
                    "SELECT value, expires_at FROM records WHERE kind = ? AND key = ? FOR UPDATE"
                ),
                (kind, key),
            ).fetchone()
            if row is None:
                return None
            db.execute(self._sql("DELETE FROM records WHERE kind = ? AND key = ?"), (kind, key))
            value, expires_at = row
            expired = now is not None and expires_at is not None and expires_at <= now
            return None if expired else str(value)

        return self._write(take)


def column_filter(f: Filter, expr: str, params: list[Any]) -> str:
    """One filter on ``expr``, compared as SQLite compares (``?`` placeholders): every event
    field, and SQLite's user columns and metadata paths."""
    if f.op == "eq":
        params.append(f.value)
        clause = f"{expr} = ?"
    elif f.op == "prefix":
        params.extend([f.value, f.value + "\U0010ffff"])
        clause = f"({expr} >= ? AND {expr} < ?)"
    else:
        parts = []
        if f.low is not None:
            parts.append(f"{expr} {'>=' if f.include_low else '>'} ?")
            params.append(f.low)
        if f.high is not None:
            parts.append(f"{expr} {'<=' if f.include_high else '<'} ?")
            params.append(f.high)
        clause = f"({' AND '.join(parts) or expr + ' IS NOT NULL'})"
    return f"NOT coalesce({clause}, false)" if f.negate else clause
