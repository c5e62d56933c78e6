"""What the SQL backends share: the stored user columns and rows <-> value objects."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from .._models import Connection, Event, NewUserRecord, User
from . import QUERY_FIELDS, CodeOutcome, Filter, UserQuery

__all__ = [
    "LOOKUP_INDEXES",
    "EVENT_COLUMNS",
    "SELECT_CONNECTION",
    "SELECT_USER",
    "SORTABLE",
    "USER_COLUMNS",
    "code_outcome",
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
    "last_login",
    "last_ip",
    "logins_count",
    "last_password_reset",
)
#: Columns a change may set: everything stored but the user's identity and creation, and the
#: sign-in counters (``record_login`` keeps those).
UPDATABLE = frozenset(USER_COLUMNS) - {
    "user_id",
    "user_id_key",
    "connection_id",
    "connection",
    "provider",
    "created_at",
    "last_login",
    "last_ip",
    "logins_count",
}
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


#: The columns of ``events`` in the order ``event_from_row`` and ``event_values`` use.
EVENT_COLUMNS = (
    "log_id, date, type, description, connection, connection_id, user_id, user_name, ip, "
    "details, client_id, client_name, user_agent"
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
        user.last_login,
        user.last_ip,
        user.logins_count,
        user.last_password_reset,
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
