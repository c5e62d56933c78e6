"""User and event queries: a small subset of Auth0's Lucene syntax, parsed to storage filters.

Grammar: terms separated by spaces (or ``AND``), each optionally preceded by ``NOT`` or ``-``::

    field:value            exact match (value may be "quoted")
    field:prefix*          starts with
    field:[low TO high]    range, inclusive; {low TO high} exclusive; * for an open end

Users (``USERS``): the user columns of ``storage.QUERY_FIELDS`` plus ``user_metadata.<key>`` and
``app_metadata.<key>`` (dotted paths go deeper). ``blocked``, ``email_verified`` and
``phone_verified`` take ``true``/``false``; ``logins_count`` takes integers; ``created_at``,
``updated_at`` and ``last_login`` take ISO dates (``2026-01-02`` is its midnight UTC); emails and
usernames compare lower-cased, as they are stored. ``*`` prefixes apply to text only. A quoted
metadata value is a string (``user_metadata.zip:"02134"``); unquoted, it may be a JSON number or
boolean.

Events (``EVENTS``): the fields of ``storage.EVENT_QUERY_FIELDS``; ``date`` takes ISO dates; the
log sorts by ``date`` only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._models import parse_timestamp
from .errors import InvalidQueryError, echo
from .storage import EVENT_QUERY_FIELDS, QUERY_FIELDS, Filter

__all__ = ["EVENTS", "MAX_TERMS", "USERS", "QueryFields", "parse_query", "parse_sort"]


@dataclass(frozen=True, slots=True)
class QueryFields:
    """What a query may name and how its values read.

    Attributes:
        columns: the plain fields.
        booleans: fields that take ``true``/``false``; integers: fields that take integers;
            dates: fields that take ISO dates; lowered: text compared lower-cased.
        metadata: whether ``user_metadata.<key>`` / ``app_metadata.<key>`` may be named.
        sortable: the fields a sort may name; default_sort: (field, descending) without one.
    """

    columns: frozenset[str]
    booleans: frozenset[str] = frozenset()
    integers: frozenset[str] = frozenset()
    dates: frozenset[str] = frozenset()
    lowered: frozenset[str] = frozenset()
    metadata: bool = False
    sortable: tuple[str, ...] = ()
    default_sort: tuple[str, bool] = ("created_at", False)


_USER_BOOLEANS = frozenset({"blocked", "email_verified", "phone_verified"})
USERS = QueryFields(
    QUERY_FIELDS,
    booleans=_USER_BOOLEANS,
    integers=frozenset({"logins_count"}),
    dates=frozenset({"created_at", "updated_at", "last_login"}),
    lowered=frozenset({"email", "username"}),
    metadata=True,
    sortable=tuple(sorted(QUERY_FIELDS - _USER_BOOLEANS)),
)
EVENTS = QueryFields(
    EVENT_QUERY_FIELDS,
    dates=frozenset({"date"}),
    sortable=("date",),
    default_sort=("date", True),
)

_TERM = re.compile(
    r"""\s*(?P<neg>NOT\s+|-)?(?P<field>[A-Za-z_][\w.]*):
        (?:"(?P<quoted>(?:[^"\\]|\\.)*)"
          |(?P<range>[\[{][^\]}]*[\]}])
          |(?P<bare>[^\s"\[{]+))""",
    re.VERBOSE,
)
#: What no stored value holds (see ``_validation``), so what no query may hold.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_RANGE = re.compile(r"^([\[{])\s*(\S+)\s+TO\s+(\S+)\s*([\]}])$")
#: Most terms a query may have: a deeper expression than SQLite's parser takes (1000) must be a
#: 400, not a storage failure, and no real search needs more.
MAX_TERMS = 100


def _check_field(field: str, fields: QueryFields) -> None:
    if field in fields.columns:
        return
    column, _, path = field.partition(".")
    if (
        fields.metadata
        and column in ("user_metadata", "app_metadata")
        and path
        and "" not in path.split(".")
    ):
        return
    raise InvalidQueryError(f"Unsupported field in query: {echo(field)}")


def _value(field: str, text: str, fields: QueryFields, *, quoted: bool = False) -> Any:
    """``text`` as the type ``field`` holds; a quoted metadata value stays a string."""
    if field in fields.booleans:
        if text not in ("true", "false"):
            raise InvalidQueryError(f"{field} takes true or false, not {echo(text)}")
        return 1 if text == "true" else 0
    if field in fields.integers:
        try:
            return _int64(int(text))
        except ValueError:
            raise InvalidQueryError(f"{field} takes an integer, not {echo(text)}") from None
    if field.startswith(("user_metadata.", "app_metadata.")) and not quoted:
        if text in ("true", "false"):
            return 1 if text == "true" else 0  # how SQLite's json_extract returns JSON booleans
        try:
            number = int(text)
        except ValueError:
            pass
        else:
            return _int64(number)
    if field in fields.dates:
        return _timestamp(field, text)
    return text.lower() if field in fields.lowered else text


def _int64(number: int) -> int:
    """``number``, if storage can compare with it (a signed 64-bit integer)."""
    if not -(2**63) <= number < 2**63:
        raise InvalidQueryError(f"Numbers in queries must fit in 64 bits, not {echo(number)}")
    return number


def _timestamp(field: str, text: str) -> str:
    """A date or date-time as stored (``2026-01-02T00:00:00.000Z``), so bounds compare exactly.

    The moment must fall within years 1 to 9999 in UTC, the years a stored date can have:
    ``0001-01-01T00:00:00+01:00`` is the last hour of year 0 in UTC, an ``InvalidQueryError``.
    """
    stamp = parse_timestamp(text)
    if stamp is not None:
        return stamp
    try:
        datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise InvalidQueryError(f"{field} takes a date, not {echo(text)}") from None
    raise InvalidQueryError(
        f"{field} takes a date from 0001-01-01 to 9999-12-31 in UTC, not {echo(text)}"
    )


def _prefix(field: str, text: str, fields: QueryFields) -> str:
    """The text a ``field:text*`` value starts with (compared as text, never converted)."""
    if field in fields.booleans or field in fields.integers:
        raise InvalidQueryError(f"{field} does not take a * wildcard")
    return text.lower() if field in fields.lowered else text


def parse_query(q: str | None, fields: QueryFields = USERS) -> tuple[Filter, ...]:
    """The filters of query ``q`` on ``fields`` (all must hold). Raises ``InvalidQueryError``."""
    if q is not None and not isinstance(q, str):
        raise InvalidQueryError("q must be a string")
    if q is None or not q.strip():
        return ()
    if _UNSTORABLE.search(q):
        raise InvalidQueryError("The query holds a NUL character or a lone surrogate")
    filters: list[Filter] = []
    position = 0
    text = q.strip()
    while position < len(text):
        if text.startswith("AND ", position):
            position += 4
            continue
        match = _TERM.match(text, position)
        if match is None or match.end() == position:
            raise InvalidQueryError(f"Cannot parse the query near: {echo(text[position:], 40)}")
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
        field = match["field"]
        _check_field(field, fields)
        if len(filters) == MAX_TERMS:
            raise InvalidQueryError(f"A query may have at most {MAX_TERMS} terms")
        negate = match["neg"] is not None
        if match["range"] is not None:
            filters.append(_range(field, match["range"], fields, negate=negate))
        elif match["quoted"] is not None:
            value = re.sub(r"\\(.)", r"\1", match["quoted"])
            parsed = _value(field, value, fields, quoted=True)
            filters.append(Filter(field, "eq", parsed, negate=negate))
        else:
            bare = match["bare"]
            if bare.endswith("*") and "*" not in bare[:-1] and len(bare) > 1:
                prefix = _prefix(field, bare[:-1], fields)
                filters.append(Filter(field, "prefix", prefix, negate=negate))
            elif bare == "*":
                filters.append(Filter(field, "range", negate=negate))
            elif "*" in bare or "?" in bare:
                raise InvalidQueryError("Only a trailing * wildcard is supported")
            else:
                filters.append(Filter(field, "eq", _value(field, bare, fields), negate=negate))
    return tuple(filters)


def _range(field: str, text: str, fields: QueryFields, *, negate: bool) -> Filter:
    match = _RANGE.match(text)
    if match is None:
        raise InvalidQueryError(f"Cannot parse the range {echo(text)}")
    opening, low, high, closing = match.groups()
    return Filter(
        field,
        "range",
        low=None if low == "*" else _value(field, low, fields),
        high=None if high == "*" else _value(field, high, fields),
        include_low=opening == "[",
        include_high=closing == "]",
        negate=negate,
    )


def parse_sort(sort: str | None, fields: QueryFields = USERS) -> tuple[str, bool]:
    """``field:1`` or ``field:-1`` to (field, descending); default ``fields.default_sort``."""
    if sort is None:
        return fields.default_sort
    if not isinstance(sort, str):
        raise InvalidQueryError("sort must be a string")
    field, _, direction = sort.partition(":")
    if field not in fields.sortable or direction not in ("1", "-1"):
        raise InvalidQueryError(
            f"Cannot sort by {echo(sort)}: use <field>:1 or <field>:-1 with one of "
            + ", ".join(fields.sortable)
        )
    return field, direction == "-1"
