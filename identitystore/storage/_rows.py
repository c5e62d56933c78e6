"""What the SQL backends share: the stored user columns, rows <-> value objects, and the
statements and operations written once for both (``Dialect`` turns them into each one's SQL)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .._models import Connection, Event, NewUserRecord, User
from . import EVENT_QUERY_FIELDS, QUERY_FIELDS, CodeOutcome, EventQuery, Filter, UserQuery

__all__ = [
    "POSTGRES",
    "SQLITE",
    "Dialect",
    "LOOKUP_INDEXES",
    "EVENT_COLUMNS",
    "SELECT_CONNECTION",
    "SELECT_USER",
    "SORTABLE",
    "USER_COLUMNS",
    "code_outcome",
    "remember_password",
    "column_value",
    "connection_from_row",
    "event_values",
    "event_from_row",
    "json_text",
    "updatable_column",
    "user_from_row",
    "user_values",
    "verification_ticket",
    "where_clause",
]

USER_COLUMNS = (
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
#: Columns a change may set: everything stored but the user's identity and creation.
UPDATABLE = frozenset(USER_COLUMNS) - {
    "user_id",
    "user_id_key",
    "connection_id",
    "connection",
    "provider",
    "created_at",
} | {"last_password_reset"}
#: A connection's columns in the order ``connection_from_row`` reads them.
SELECT_CONNECTION = "SELECT id, name, strategy, options FROM connections"


def connection_from_row(row: Sequence[Any]) -> Connection:
    """A connection from its row; its options read-only, as backends keep and share them."""
    return Connection(row[0], row[1], row[2], MappingProxyType(json.loads(row[3])))


#: The user columns in the order ``user_from_row`` reads them.
SELECT_USER = (
    "SELECT user_id, connection, provider, created_at, updated_at, name, email, email_verified, "
    "username, phone_number, phone_verified, nickname, picture, given_name, family_name, blocked, "
    "user_metadata, app_metadata, last_login, last_ip, logins_count, last_password_reset FROM users"
)
#: The look-up and sort indexes of ``users`` (schema version 2), by name.
LOOKUP_INDEXES = (
    ("users_email", "email, user_id"),
    ("users_username", "username, user_id"),
    ("users_phone_number", "phone_number, user_id"),
    ("users_name", "name, user_id"),
    ("users_created", "created_at, user_id"),
    ("users_updated", "updated_at, user_id"),
    ("users_last_login", "last_login, user_id"),
    ("users_connection_created", "connection_id, created_at, user_id"),
)
SORTABLE = QUERY_FIELDS - {"blocked", "email_verified", "phone_verified"}


class Dialect:
    """What differs in the SQL text of the two backends, so that a statement is written once.

    Statements are written for SQLite with ``?`` placeholders, and with the row locks PostgreSQL
    needs in a read-modify-write (``FOR UPDATE``, ``FOR SHARE``, ``FOR KEY SHARE``). Calling a
    dialect on one gives it in that backend's form: PostgreSQL's ``%s`` (with ``%`` doubled), and
    without the locks for SQLite, whose writers are serialised by ``BEGIN IMMEDIATE``.
    """

    __slots__ = ("locks", "mark")

    def __init__(self, mark: str, *, locks: bool) -> None:
        self.mark = mark
        self.locks = locks

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


SQLITE = Dialect("?", locks=False)
POSTGRES = Dialect("%s", locks=True)

#: The columns of ``events`` in the order ``event_from_row`` and ``event_values`` use.
EVENT_COLUMNS = (
    "log_id, date, type, description, connection, connection_id, user_id, user_name, ip, "
    "details, client_id, client_name, user_agent"
)
INSERT_EVENT = (
    f"INSERT INTO events ({EVENT_COLUMNS}) "
    f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS.split(','))})"
)


def event_from_row(r: Sequence[Any]) -> Event:
    """The event of an ``events`` row (details kept as JSON text)."""
    return Event(
        log_id=r[0],
        date=r[1],
        type=r[2],
        description=r[3],
        connection=r[4],
        connection_id=r[5],
        user_id=r[6],
        user_name=r[7],
        ip=r[8],
        details=None if r[9] is None else json.loads(r[9]),
        client_id=r[10],
        client_name=r[11],
        user_agent=r[12],
    )


def updatable_column(key: str) -> str:
    """``key`` if a change may set that column; ValueError otherwise."""
    if key not in UPDATABLE:
        raise ValueError(f"cannot update column {key!r}")
    return key


def column_value(key: str, value: Any) -> Any:
    """The stored form of a column value (metadata as JSON text)."""
    return json_text(value) if key in ("user_metadata", "app_metadata") else value


def json_text(value: Any) -> str | None:
    """Compact JSON text, keeping non-ASCII characters as they are; None stays None.

    A float is never written in exponent form with a positive exponent (``1e+16``): PostgreSQL's
    ``numeric`` reads that as a whole number and gives it back as one (``10000000000000000``, an
    int). Written ``10000000000000000.0``, the exact decimal value of the float, it comes back as
    the same float from every backend.
    """
    if value is None:
        return None
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _json_positional(value) if "e+" in text else text


def _json_positional(value: Any) -> str:
    if isinstance(value, float) and "e+" in repr(value):  # finite: NaN and infinities are refused
        return format(value, ".1f")
    if isinstance(value, Mapping):
        items = (f"{_json_positional(str(k))}:{_json_positional(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_json_positional(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def user_from_row(row: Sequence[Any]) -> User:
    """The user of a row selected by ``SELECT_USER`` (metadata as JSON text)."""
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
        last_password_reset=row[21],
    )


def user_values(record: NewUserRecord) -> tuple[Any, ...]:
    """The values of a new user's row, in ``USER_COLUMNS`` order (metadata as JSON text)."""
    user = record.user
    return (
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
        json_text(user.user_metadata),
        json_text(user.app_metadata),
        record.password_hash,
        user.created_at,
        user.updated_at,
    )


def verification_ticket(record: NewUserRecord) -> tuple[Any, ...] | None:
    """The ``tickets`` row of a new user's email verification (token hash, kind, user id,
    created, expires, email), or None."""
    if record.verification_token_hash is None:
        return None
    user = record.user
    return (
        record.verification_token_hash,
        "email_verification",
        user.user_id,
        user.created_at,
        record.verification_expires_at,
        user.email,
    )


def event_values(e: Event) -> tuple[Any, ...]:
    """The values of an ``events`` row (details as JSON text)."""
    return (
        e.log_id,
        e.date,
        e.type,
        e.description,
        e.connection,
        e.connection_id,
        e.user_id,
        e.user_name,
        e.ip,
        json_text(e.details),
        e.client_id,
        e.client_name,
        e.user_agent,
    )


def remember_password(
    db: Any, mark: str, user_id: str, old_hash: str, date: str, keep: int
) -> None:
    """Inside a password change: keep ``old_hash`` in the history, trimmed to the newest
    ``keep - 1`` (the new hash is the ``keep``-th). ``db`` is a connection or cursor with
    ``execute(sql, params)``, ``mark`` its placeholder."""
    if keep <= 1:
        db.execute(f"DELETE FROM password_history WHERE user_id = {mark}", (user_id,))
        return
    db.execute(
        "INSERT INTO password_history (user_id, password_hash, created_at) "
        f"VALUES ({mark}, {mark}, {mark})",
        (user_id, old_hash, date),
    )
    db.execute(
        f"DELETE FROM password_history WHERE user_id = {mark} AND id NOT IN (SELECT id FROM "
        f"password_history WHERE user_id = {mark} ORDER BY id DESC LIMIT {mark})",
        (user_id, user_id, keep - 1),
    )


def code_outcome(stored: str, attempts: int, code_hash: str, max_attempts: int) -> CodeOutcome:
    """What a guess at an unexpired one-time code finds (``wrong`` while attempts remain)."""
    if stored == code_hash:
        return "ok"
    return "exhausted" if attempts + 1 >= max_attempts else "wrong"


def where_clause(
    query: UserQuery, filter_sql: Callable[[Filter, list[Any]], str], mark: str
) -> tuple[str, list[Any]]:
    """The ``WHERE`` of a user query and its parameters; ``filter_sql`` compiles one filter
    (appending its parameters), ``mark`` is the driver's placeholder."""
    clauses: list[str] = []
    params: list[Any] = []
    if query.connection_id is not None:
        clauses.append(f"connection_id = {mark}")
        params.append(query.connection_id)
    clauses.extend(filter_sql(f, params) for f in query.filters)
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), params


# -- records --------------------------------------------------------------------------------------

_LIVE = " AND (expires_at IS NULL OR expires_at > ?)"


def put_record(
    db: Any,
    d: Dialect,
    kind: str,
    key: str,
    value: str,
    *,
    expires_at: str | None,
    replace: bool,
    now: str | None,
) -> None:
    """Inside a write: store a record (see ``Backend.put_record``); a taken pair raises the
    driver's unique violation when not ``replace``."""
    if now is not None:
        db.execute(d("DELETE FROM records WHERE kind = ? AND expires_at <= ?"), (kind, now))
    insert = "INSERT INTO records (kind, key, value, expires_at) VALUES (?, ?, ?, ?)"
    if replace:
        insert += (
            " ON CONFLICT (kind, key) DO UPDATE "
            "SET value = excluded.value, expires_at = excluded.expires_at"
        )
    db.execute(d(insert), (kind, key, value, expires_at))


def get_record(db: Any, d: Dialect, kind: str, key: str, now: str | None) -> str | None:
    """The value of a live record, or None."""
    sql, params = "SELECT value FROM records WHERE kind = ? AND key = ?", [kind, key]
    if now is not None:
        sql += _LIVE
        params.append(now)
    row = db.execute(d(sql), params).fetchone()
    return None if row is None else str(row[0])


def list_records(db: Any, d: Dialect, kind: str, now: str | None) -> list[tuple[str, str]]:
    """``(key, value)`` of the live records of ``kind``, in the order they were first put."""
    sql, params = "SELECT key, value FROM records WHERE kind = ?", [kind]
    if now is not None:
        sql += _LIVE
        params.append(now)
    return [(k, v) for k, v in db.execute(d(sql + " ORDER BY seq"), params).fetchall()]


def delete_record(db: Any, d: Dialect, kind: str, key: str) -> bool:
    """Inside a write: remove a record; whether there was one."""
    cursor = db.execute(d("DELETE FROM records WHERE kind = ? AND key = ?"), (kind, key))
    return bool(cursor.rowcount)


def take_record(db: Any, d: Dialect, kind: str, key: str, now: str | None) -> str | None:
    """Inside a write: remove a record and return its value if it was live (the row is locked
    first, so a concurrent take waits, then finds it gone)."""
    row = db.execute(
        d("SELECT value, expires_at FROM records WHERE kind = ? AND key = ? FOR UPDATE"),
        (kind, key),
    ).fetchone()
    if row is None:
        return None
    db.execute(d("DELETE FROM records WHERE kind = ? AND key = ?"), (kind, key))
    value, expires_at = row
    return None if now is not None and expires_at is not None and expires_at <= now else value


# -- brute-force blocks ---------------------------------------------------------------------------


def count_failure(
    db: Any, d: Dialect, user_id: str, ip: str, block_after: int, blocked_until: str
) -> int:
    """Inside a write: count a failed sign-in of ``user_id`` from ``ip``, blocking at
    ``block_after`` (0: never); the count, or 0 for a user deleted meanwhile. The user's row is
    locked first (PostgreSQL), so a delete waits for this write or has already happened."""
    if not db.execute(
        d("SELECT 1 FROM users WHERE user_id = ? FOR KEY SHARE"), (user_id,)
    ).fetchone():
        return 0
    key = (user_id, ip)
    db.execute(
        d(
            "INSERT INTO login_failures (user_id, ip, failures) VALUES (?, ?, 1) "
            "ON CONFLICT (user_id, ip) DO UPDATE SET failures = login_failures.failures + 1"
        ),
        key,
    )
    (failures,) = db.execute(
        d("SELECT failures FROM login_failures WHERE user_id = ? AND ip = ?"), key
    ).fetchone()
    if block_after and failures >= block_after:
        db.execute(
            d(
                "UPDATE login_failures SET blocked_until = ?, failures = 0 "
                "WHERE user_id = ? AND ip = ?"
            ),
            (blocked_until, *key),
        )
    return int(failures)


def list_blocks(db: Any, d: Dialect, user_id: str, now: str) -> list[str]:
    """The IPs ``user_id`` is blocked from at ``now``, oldest block first."""
    rows = db.execute(
        d(
            "SELECT ip FROM login_failures WHERE user_id = ? AND blocked_until > ? "
            "ORDER BY blocked_until, ip"
        ),
        (user_id, now),
    ).fetchall()
    return [ip for (ip,) in rows]


def clear_blocks(db: Any, d: Dialect, user_id: str) -> None:
    """Inside a write: forget the user's failure counts and blocks."""
    db.execute(d("DELETE FROM login_failures WHERE user_id = ?"), (user_id,))


# -- the event log --------------------------------------------------------------------------------


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


def _event_filter(f: Filter, expr: str, params: list[Any]) -> str:
    """One filter on an event field (all are text), with ``?`` placeholders."""
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


def _union(
    sources: Sequence[EventSource], filters: Sequence[Filter], after: Event | None = None
) -> tuple[str, list[Any]]:
    """The ``UNION ALL`` of ``sources``, each with ``filters`` applied (and only the events after
    ``after`` in the log's order), and its parameters.

    Each source is filtered on its own (rather than the union as a subquery), so that SQLite
    reads each in the log's order from an index and merges them: a page costs its rows.
    """
    for f in filters:
        if f.field not in EVENT_QUERY_FIELDS:
            raise ValueError(f"cannot query events by {f.field!r}")
    selects: list[str] = []
    params: list[Any] = []
    for source in sources:
        clauses = [_event_filter(f, source.fields[f.field], params) for f in filters]
        if after is not None:  # the date bound alone reads the index as a range
            date, log_id = source.fields["date"], source.fields["log_id"]
            clauses.append(f"{date} >= ? AND ({date} > ? OR {log_id} > ?)")
            params.extend([after.date, after.date, after.log_id])
        selects.append(source.query(clauses))
    return " UNION ALL ".join(selects), params


def page_events(
    db: Any, d: Dialect, sources: Sequence[EventSource], query: EventQuery
) -> tuple[list[Event], int | None]:
    """A page of the events kept in ``sources``, and how many match if asked."""
    filters, after = list(query.filters), None
    if query.after is not None:
        after = get_event(db, d, sources, query.after)
        if after is None:  # no such event: those with a greater log_id
            filters.append(Filter("log_id", "range", low=query.after, include_low=False))
    union, params = _union(sources, filters, after)
    direction = "DESC" if query.descending and query.after is None else "ASC"
    rows = db.execute(
        d(f"{union} ORDER BY date {direction}, log_id {direction} LIMIT ? OFFSET ?"),
        (*params, query.limit, query.offset),
    ).fetchall()
    total = None
    if query.with_total:
        counted = db.execute(d(f"SELECT count(*) FROM ({union}) AS log"), params).fetchone()
        total = int(counted[0])
    return [event_from_row(r) for r in rows], total


def last_events(
    db: Any,
    d: Dialect,
    sources: Sequence[EventSource],
    type: str | None,
    user_id: str | None,
    limit: int,
) -> list[Event]:
    """``Backend.list_events``: the last ``limit`` events (of a type, of a user), oldest first."""
    filters = [Filter(name, "eq", value) for name, value in (("type", type), ("user_id", user_id))]
    query = EventQuery(filters=tuple(f for f in filters if f.value is not None), limit=limit)
    return page_events(db, d, sources, query)[0][::-1]


def get_event(db: Any, d: Dialect, sources: Sequence[EventSource], log_id: str) -> Event | None:
    """The event with this ``log_id``, or None."""
    union, params = _union(sources, [Filter("log_id", "eq", log_id)])
    row = db.execute(d(f"{union} LIMIT 1"), params).fetchone()
    return None if row is None else event_from_row(row)
