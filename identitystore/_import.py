"""Bulk import in Auth0's users-file format: reading, checking, upsert rules, error entries.

A source is read as a stream (a JSON array or newline-delimited JSON, gzip or not, or an iterable
of dicts): memory does not grow with the file (the duplicate check keeps its fingerprints in a
temporary file, ``_Seen``). A file that can be read twice is first parsed
once through without storing anything: a file that does not parse is refused whole, as Auth0
refuses it, and the pass counts the users for the progress callback.

Each user is checked with Auth0's users-file schema (``users_file_schema``: the shared fields
carry the create-user rules of ``CREATE_USER_SCHEMA``), its password fields by
``_imported_hashes``, its metadata and the connection's own rules by ``_validation``; every
problem becomes an entry of Auth0's error report and the user is skipped. Valid users are written
in batches (``writer``: the backend's ``write_users``, or user by user), each user whole or not
at all; a batch is checked for duplicates and written in a thread of its own while the next one
is checked.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import gzip
import io
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import IO, Any, NamedTuple, cast

from . import _imported_hashes
from ._jsonschema import js_regex, json_type, schema_problems
from ._models import (
    IMPORT_GRAVATAR_HOST,
    BulkUser,
    Connection,
    Event,
    ImportResult,
    UpsertChanges,
    User,
    build_bulk_user,
    build_record,
    copy_json,
    format_timestamp,
    new_event,
    parse_timestamp,
)
from ._validation import (
    CREATE_USER_SCHEMA,
    metadata_problems,
    new_user,
    plain_create_input,
    plain_metadata,
    validate_for_connection,
)
from .connections import ConnectionStrategy
from .errors import (
    BadRequestError,
    FieldNotAllowedError,
    IdentityStoreError,
    InvalidUsernameError,
    PayloadValidationError,
    StorageError,
    UnsupportedStrategyError,
    UserExistsError,
    UsernameInUseError,
    UsernameNotAllowedError,
    echo,
)
from .storage import Backend, BulkBackend, DuplicateKey, StaleConnection, WriteOutcome

__all__ = [
    "MASK",
    "Source",
    "Writer",
    "import_users",
    "masked_user",
    "read_users",
    "users_file_schema",
    "writer",
]

#: A users file: a path, a binary file object, or the users themselves.
Source = str | os.PathLike[str] | IO[bytes] | io.RawIOBase | Iterable[Mapping[str, Any]]
#: Writes a batch of users (``BulkBackend.write_users``); raises ``StaleConnection`` if the
#: connection is gone.
Writer = Callable[[Sequence[BulkUser]], Sequence[WriteOutcome]]

#: How hash values, HMAC keys and passwords appear in error entries (as Auth0 shows them).
MASK = "*****"
#: Users written in one transaction.
BATCH_SIZE = 5000
#: Bytes read from a file at a time.
_CHUNK = 1 << 16
#: The most characters one user of a JSON array may have (Auth0's whole file is 500 KB).
_MAX_ITEM_CHARS = 16 << 20

#: Fields of the users file that are create-user fields too, checked by the same rules.
_SHARED_FIELDS = (
    "email",
    "email_verified",
    "phone_number",
    "phone_verified",
    "user_id",
    "username",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "blocked",
    "app_metadata",
    "user_metadata",
)
#: identitystore's own fields of the users file, so that an export imports back whole.
_DATE_FIELDS = ("created_at", "updated_at", "last_login", "last_password_reset")
#: Fields an upsert changes on an existing user (Auth0's "upsert" tag); metadata is replaced.
_UPSERTED = ("email_verified", "given_name", "family_name", "name", "nickname", "picture")
#: The keys a user of the file must not share with an earlier one, in the order reported.
_UNIQUE_KEYS = ("email", "username", "user_id", "phone_number")

_MFA_SCHEMA: Mapping[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": 10,
    "items": {
        "type": "object",
        "maxProperties": 1,
        "additionalProperties": False,
        "properties": {
            "totp": {
                "type": "object",
                "required": ["secret"],
                "properties": {"secret": {"type": "string", "pattern": "^[A-Z2-7]+$"}},
            },
            "phone": {
                "type": "object",
                "required": ["value"],
                "properties": {"value": {"type": "string", "pattern": r"^\+[0-9]{1,15}$"}},
            },
            "email": {
                "type": "object",
                "required": ["value"],
                "properties": {"value": {"type": "string", "format": "email"}},
            },
        },
    },
}


def users_file_schema(required: Sequence[str]) -> Mapping[str, Any]:
    """Auth0's users-file user, ``required`` naming the identifiers the connection needs.

    The shared fields carry ``CREATE_USER_SCHEMA``'s rules; the password fields are left to
    ``_imported_hashes`` and the dates and counters identitystore adds are checked apart.
    """
    shared = CREATE_USER_SCHEMA["properties"]
    properties: dict[str, Any] = {name: shared[name] for name in _SHARED_FIELDS}
    properties |= {name: {} for name in ("password_hash", "custom_password_hash")}
    properties["mfa_factors"] = _MFA_SCHEMA
    properties |= {name: {"type": "string"} for name in (*_DATE_FIELDS, "last_ip")}
    properties["logins_count"] = {"type": "integer", "minimum": 0, "maximum": 2**53 - 1}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(required),
        "properties": properties,
    }


# -- reading ------------------------------------------------------------------------------------


_GZIP_MAGIC = b"\x1f\x8b"


def _opened(source: str | os.PathLike[str] | IO[bytes]) -> AbstractContextManager[IO[bytes]]:
    """``source`` open for reading, decompressed if it starts with gzip's magic bytes. A caller's
    file object is left open: only what is opened here is closed."""
    if isinstance(source, (str, os.PathLike)):
        stream = open(source, "rb")  # closed by the caller's `with`
        if stream.peek(2)[:2] == _GZIP_MAGIC:
            stream.close()
            return cast(IO[bytes], gzip.open(source, "rb"))
        return stream
    return _caller_stream(source)


@contextlib.contextmanager
def _caller_stream(source: IO[bytes]) -> Iterator[IO[bytes]]:
    """A caller's binary stream, decompressed if it is gzip, and left open afterwards."""
    buffered = None
    if not hasattr(source, "peek") and not source.seekable() and hasattr(source, "readinto"):
        buffered = io.BufferedReader(source)  # to peek
    stream: Any = buffered if buffered is not None else source
    if hasattr(stream, "peek"):
        magic = stream.peek(2)[:2]
    elif stream.seekable():
        start = stream.tell()
        magic = stream.read(2)
        stream.seek(start)
    else:
        magic = b""  # neither peeks nor seeks nor buffers: read as it is
    try:
        if magic == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:  # leaves `stream` open
                yield cast(IO[bytes], unzipped)
        else:
            yield stream
    finally:
        if buffered is not None:
            buffered.detach()  # so that collecting it does not close ``source``


class ImportFileError(BadRequestError):
    """The users file is empty or cannot be read as JSON: nothing of it is imported."""


def read_users(source: Source) -> tuple[Iterator[object], int | None]:
    """The users of ``source`` one by one, and how many there are when that is known first.

    A path or seekable file is parsed through once first: a file that does not parse raises
    ``ImportFileError`` before any user is read (nothing is imported). Other sources raise it
    where the problem is.

    Raises:
        ImportFileError: a file that is not a JSON array or newline-delimited JSON.
        TypeError: a text file or another kind of source.
    """
    if isinstance(source, (str, os.PathLike)) or (
        hasattr(source, "read") and not isinstance(source, io.TextIOBase)
    ):
        stream: str | os.PathLike[str] | IO[bytes] = source  # type: ignore[assignment]
        if isinstance(stream, (str, os.PathLike)) or stream.seekable():
            start = None if isinstance(stream, (str, os.PathLike)) else stream.tell()
            with _opened(stream) as first:
                total = sum(1 for _ in _parse(first))
            if start is not None:
                stream.seek(start)  # type: ignore[union-attr]
            return _read(stream), total
        return _read(stream), None
    if isinstance(source, (io.TextIOBase, bytes, str, Mapping)) or not isinstance(source, Iterable):
        raise TypeError("import_users takes a path, a binary file object or an iterable of dicts")
    return iter(source), len(source) if isinstance(source, Sequence) else None


def _read(source: str | os.PathLike[str] | IO[bytes]) -> Iterator[object]:
    with _opened(source) as stream:
        yield from _parse(stream)


def _parse(stream: IO[bytes]) -> Iterator[object]:
    """The values of a JSON array, or of newline-delimited JSON, read from ``stream``."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    head = ""
    while True:
        chunk = stream.read(_CHUNK)
        head += _decoded(decoder, chunk, final=not chunk)
        if head.strip() or not chunk:
            break
    start = head.lstrip()
    if not start:
        return  # an empty file has no users (an export of an empty connection)
    values = _array_values if start[0] == "[" else _lines
    yield from values(head, stream, decoder, eof=not chunk)


def _decoded(decoder: codecs.IncrementalDecoder, chunk: bytes, *, final: bool) -> str:
    try:
        return str(decoder.decode(chunk, final=final))
    except UnicodeDecodeError:
        raise ImportFileError("Users file could not be parsed: it is not UTF-8.") from None


def _unparsable(reason: str) -> ImportFileError:
    return ImportFileError(f"Users file could not be parsed: {reason}.")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity are Python's, not JSON


_JSON = json.JSONDecoder(parse_constant=_reject_constant)
_SPACE = " \t\n\r"


def _array_values(
    head: str, stream: IO[bytes], decoder: codecs.IncrementalDecoder, *, eof: bool
) -> Iterator[object]:
    """The items of a JSON array whose text starts with ``head``, one at a time."""
    buffer = head
    position = len(buffer) - len(buffer.lstrip()) + 1  # after "["
    consumed = 0  # characters dropped from the front of the buffer

    def more() -> bool:
        nonlocal buffer, position, consumed, eof
        if eof:
            return False
        chunk = stream.read(_CHUNK)
        text = _decoded(decoder, chunk, final=not chunk)
        eof = not chunk
        consumed += position
        buffer = buffer[position:] + text
        position = 0
        if len(buffer) > _MAX_ITEM_CHARS:
            raise _unparsable(f"a user of more than {_MAX_ITEM_CHARS:,} characters")
        return True

    def skip_space() -> str:
        nonlocal position
        while True:
            while position < len(buffer) and buffer[position] in _SPACE:
                position += 1
            if position < len(buffer):
                return buffer[position]
            if not more():
                return ""

    expect_value = True
    first = True
    while True:
        char = skip_space()
        if not char:
            raise _unparsable("the array is not closed")
        if char == "]" and first:
            position += 1
            break
        if not expect_value:
            if char == "]":
                position += 1
                break
            if char != ",":
                raise _unparsable(f"',' or ']' expected at character {consumed + position}")
            position += 1
            expect_value = True
            continue
        try:
            value, end = _JSON.raw_decode(buffer, position)
        except ValueError as exc:  # JSONDecodeError, or a NaN/Infinity
            if more():
                continue
            raise _unparsable(f"{_reason(exc)} at character {consumed + position}") from None
        if end == len(buffer) and more():
            continue  # a number may go on in the next chunk
        position = end
        first = expect_value = False
        yield value
    if skip_space():
        raise _unparsable(f"text after the array at character {consumed + position}")


def _reason(exc: ValueError) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)


def _lines(
    head: str, stream: IO[bytes], decoder: codecs.IncrementalDecoder, *, eof: bool
) -> Iterator[object]:
    """The values of newline-delimited JSON whose text starts with ``head``."""
    number = 0
    pending = head
    while True:
        chunk = b"" if eof else stream.read(_CHUNK)
        pending += _decoded(decoder, chunk, final=not chunk)
        lines = pending.split("\n")
        pending = lines.pop() if chunk else ""
        for line in lines:
            number += 1
            text = line.strip(_SPACE)
            if text:
                try:
                    value, end = _JSON.raw_decode(text)
                except ValueError as exc:
                    raise _unparsable(f"line {number}: {_reason(exc)}") from None
                if end != len(text):
                    raise _unparsable(f"line {number}: Extra data at character {end}")
                yield value
        if not chunk:
            return
        if len(pending) > _MAX_ITEM_CHARS:
            raise _unparsable(f"line {number + 1} has more than {_MAX_ITEM_CHARS:,} characters")


# -- checking -----------------------------------------------------------------------------------

Entry = dict[str, str]


def _entry(code: str, text: str, path: str | None) -> Entry:
    """An error entry: ``Error in <path> property - <text>``, or ``text`` alone at the top."""
    if not path:
        return {"code": code, "message": text}
    return {"code": code, "message": f"Error in {path} property - {text}", "path": path}


#: Paths Auth0's messages use for users-file fields (seen in its reports).
_AUTH0_PATHS = {"email": "identities[0].profileData.email"}


def masked_user(user: object) -> object:
    """``user`` as an error entry shows it: hash values, HMAC keys and passwords masked."""
    if not isinstance(user, Mapping):
        return copy_json(user) if isinstance(user, (list, tuple)) else user
    shown = dict(user)
    for key in ("password_hash", "password"):
        if key in shown:
            shown[key] = MASK
    custom = shown.get("custom_password_hash")
    if custom is not None:
        shown["custom_password_hash"] = _masked_custom(custom)
    return shown


def _masked_custom(custom: object) -> object:
    if not isinstance(custom, Mapping):
        return MASK
    masked = dict(custom)
    digest = masked.get("hash")
    if isinstance(digest, Mapping):
        digest = dict(digest)
        if "value" in digest:
            digest["value"] = MASK
        key = digest.get("key")
        if isinstance(key, Mapping) and "value" in key:
            digest["key"] = {**key, "value": MASK}
        elif "key" in digest:
            digest["key"] = MASK
        masked["hash"] = digest
    elif "hash" in masked:
        masked["hash"] = MASK
    return masked


class _Checked(NamedTuple):  # a tuple: made once a user, it costs a third of a dataclass
    """A user that passed every check: what to write, and its keys for the duplicate checks."""

    user: User
    password_hash: str | None
    fields: Mapping[str, Any]  # the file's user


class _Checker:
    """Checks users of one file against one connection."""

    def __init__(self, connection: Connection, strategy: ConnectionStrategy) -> None:
        self.connection = connection
        self.strategy = strategy
        self.rules = rules = strategy.field_rules(connection.options)
        self.required = tuple(k for k in rules.required if k != "password")
        self.needs_password = "password" in rules.required
        self.schema = users_file_schema(self.required)
        user_id = self.schema["properties"]["user_id"]
        self.user_id_rule = (js_regex(user_id["pattern"]).search, user_id["maxLength"])
        self.prefix = f"{strategy.user_id_prefix}|"

    def check(self, item: object, now: datetime) -> _Checked | list[Entry]:
        """``item`` ready to write, or its problems."""
        plain = self._plain(item, now)
        return plain if plain is not None else self._full(item, now)

    def _plain(self, item: object, now: datetime) -> _Checked | None:
        """``check`` for a plain user, None for any other: the fields of a plain create-user
        body (``plain_create_input``) and a ``user_id``, a ``password_hash`` and metadata, each
        passing its check (the full path's, whose result this then is)."""
        if type(item) is not dict or not item.keys() <= _PLAIN_KEYS:
            return None
        body = {key: value for key, value in item.items() if key in _PLAIN_FIELDS}
        body["connection"] = self.connection.name
        if self.needs_password:
            body["password"] = _NO_PASSWORD
        data = plain_create_input(body, self.strategy, self.connection.options, self.rules)
        if data is None:
            return None
        get = item.get
        user_id = get("user_id")
        if user_id is not None:
            if type(user_id) is not str:
                return None
            local = self._local_id(user_id)
            pattern, longest = self.user_id_rule  # an ASCII id: one UTF-16 unit a character
            plain = local.isascii() and "\x00" not in local and len(local) <= longest
            if not (plain and pattern(local)):
                return None  # the full path says why
            data.user_id = local or None
        value = get("app_metadata")
        if value is not None:
            data.app_metadata = _plain_metadata("app_metadata", value)
            if data.app_metadata is None:
                return None
        value = get("user_metadata")
        if value is not None:
            data.user_metadata = _plain_metadata("user_metadata", value)
            if data.user_metadata is None:
                return None
        password_hash = get("password_hash")
        if password_hash is not None and _imported_hashes.password_hash_problems(password_hash):
            return None
        user = new_user(
            data, self.connection, self.strategy, now, gravatar_host=IMPORT_GRAVATAR_HOST
        )
        return _Checked(user, password_hash, item)

    def _local_id(self, user_id: str) -> str:
        """``user_id`` without the connection's prefix, as exports write it: the id it had (its
        rules, 255 characters at most, hold for that)."""
        return user_id[len(self.prefix) :] if user_id.startswith(self.prefix) else user_id

    def _full(self, item: object, now: datetime) -> _Checked | list[Entry]:
        if not isinstance(item, Mapping):
            return [
                _entry(
                    "INVALID_TYPE", f"Expected type object but found type {json_type(item)}", None
                )
            ]
        user_id = item.get("user_id")
        if isinstance(user_id, str):  # its rules hold for the id without the prefix
            item = {**item, "user_id": self._local_id(user_id)}
        found = [
            _entry(p.code, p.text, _AUTH0_PATHS.get(p.path, p.path))
            for p in schema_problems(item, self.schema)
        ]
        found.extend(p.as_dict() for p in _imported_hashes.password_problems(item))
        for key in ("app_metadata", "user_metadata"):
            value = item.get(key)
            if isinstance(value, Mapping):
                found.extend(
                    _entry(code, text, key) for code, text in metadata_problems(key, value)
                )
        extra: dict[str, Any] = {}
        for key in _DATE_FIELDS:
            value = item.get(key)
            if isinstance(value, str):
                extra[key] = parse_timestamp(value)
                if extra[key] is None:
                    text = f"Object didn't pass validation for format date-time: {echo(value)}"
                    found.append(_entry("INVALID_FORMAT", text, key))
        if found:
            return found
        if "mfa_factors" in item:
            text = "identitystore has no multi-factor authentication: remove mfa_factors"
            return [_entry("MFA_FACTORS_FAILED", text, "mfa_factors")]
        body = {key: item[key] for key in _SHARED_FIELDS if key in item}
        body["connection"] = self.connection.name
        if self.needs_password:
            body["password"] = _NO_PASSWORD  # required at create; imports bring hashes instead
        try:
            data = validate_for_connection(body, self.strategy, self.connection.options)
        except IdentityStoreError as exc:
            return _connection_problems(exc)
        user = new_user(
            data, self.connection, self.strategy, now, gravatar_host=IMPORT_GRAVATAR_HOST
        )
        if "created_at" in extra and "updated_at" not in extra:
            extra["updated_at"] = user.updated_at
        for key in ("last_ip", "logins_count"):
            if key in item:
                extra[key] = item[key]
        if extra:
            user = replace(user, **extra)
        return _Checked(user, _imported_hashes.stored_hash(item), item)


def _plain_metadata(key: str, value: object) -> dict[str, Any] | None:
    """Metadata of the file as stored (``copy_json``), or None if it has problems."""
    if type(value) is not dict:
        return None
    copy = plain_metadata(key, value)
    if copy is None and not metadata_problems(key, value):
        copy = copy_json(value)
    return copy


#: What stands for the password the connection's rules require of a create: never stored.
_NO_PASSWORD = "imported-user-without-password"
#: The users-file fields a plain user may have: those ``plain_create_input`` checks, and those
#: checked apart.
_PLAIN_FIELDS = frozenset(
    {"email", "email_verified", "given_name", "family_name", "name", "nickname", "blocked"}
)
_PLAIN_KEYS = _PLAIN_FIELDS | {"user_id", "password_hash", "app_metadata", "user_metadata"}


def _connection_problems(exc: IdentityStoreError) -> list[Entry]:
    """The entries of a refusal by the connection's rules (``validate_for_connection``)."""
    if isinstance(exc, UsernameNotAllowedError):
        return [_entry("OBJECT_ADDITIONAL_PROPERTIES", exc.message, "username")]
    if isinstance(exc, FieldNotAllowedError):
        return [
            _entry("OBJECT_ADDITIONAL_PROPERTIES", f'"{f}" is not allowed', f) for f in exc.fields
        ]
    if isinstance(exc, InvalidUsernameError):
        code = {
            "too_short": "MIN_LENGTH",
            "too_long": "MAX_LENGTH",
            "invalid_characters": "PATTERN",
        }
        return [_entry(code.get(exc.reason, "INVALID_FORMAT"), exc.message, "username")]
    if isinstance(exc, PayloadValidationError):  # a phone number that is no real one
        return [_entry("INVALID_FORMAT", text, "phone_number") for text in exc.errors]
    raise exc


#: A batch's fingerprints recorded: those there already marked with the batch's number.
_ADD_SEEN = (
    "INSERT INTO seen (fingerprint) SELECT value FROM json_each(?) WHERE true "
    "ON CONFLICT (fingerprint) DO UPDATE SET batch = ?"
)
_FIND_SEEN = "SELECT fingerprint FROM seen WHERE batch = ?"


class _Fingerprints(NamedTuple):
    """A batch's keys for ``_Seen.first_duplicates``."""

    prints: list[list[int | None]]  # a user's keys' fingerprints, None for those it has not
    values: str  # every fingerprint once, as a JSON array in order
    within: list[str | None]  # the first key a user repeats of one before it in the batch


def _first_repeats(prints: list[list[int | None]], known: set[int]) -> list[str | None]:
    """For each user's fingerprints, the first key in ``known`` or a user before it had (all
    added to ``known``), or None."""
    repeats: list[str | None] = []
    for user in prints:
        first = None
        for key, fingerprint in zip(_UNIQUE_KEYS, user, strict=True):
            if fingerprint is None:
                continue
            if fingerprint in known:
                first = first or key
            else:
                known.add(fingerprint)
        repeats.append(first)
    return repeats


class _Seen:
    """The unique keys of the users seen so far (``_UNIQUE_KEYS``), each kept as a 64-bit
    fingerprint (its hash, told apart by kind) in a private temporary SQLite database on disk,
    so that memory does not grow with the file (SQLite's page cache is bounded). Two keys of a
    file sharing a fingerprint (odds about 1 in 10^19 a pair) would make the second a false
    duplicate."""

    def __init__(self) -> None:
        # "": a temporary file of its own, deleted on close; nothing of it needs to last
        self._db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = OFF")
        # a fingerprint's row is marked with the number of the last batch that had it again;
        # only those rows are indexed by it
        self._db.execute("CREATE TABLE seen (fingerprint INTEGER PRIMARY KEY, batch INTEGER)")
        self._db.execute("CREATE INDEX seen_again ON seen (batch) WHERE batch IS NOT NULL")
        self._batches = 0
        self._db.execute("BEGIN")  # never committed: pages go to the file as the cache fills
        #: What sets each kind of key apart, XORed with its hash.
        self._kinds = [int.from_bytes(os.urandom(8), "big", signed=True) for _ in _UNIQUE_KEYS]

    def fingerprints(self, users: Sequence[Sequence[str | None]]) -> _Fingerprints:
        """The fingerprints of each user's keys (in ``_UNIQUE_KEYS`` order, None for none), for
        ``first_duplicates``: made apart, in the import's thread, so that the writer's thread
        needs the GIL little."""
        kinds = self._kinds
        prints = [
            [None if v is None else hash(v) ^ kind for v, kind in zip(keys, kinds, strict=True)]
            for keys in users
        ]
        within = _first_repeats(prints, set())
        batch = {f for user in prints for f in user if f is not None}
        return _Fingerprints(prints, json.dumps(sorted(batch)), within)  # the index's order

    def first_duplicates(self, users: _Fingerprints) -> list[str | None]:
        """For each user, the first of its keys that a user before it had (of this batch or of
        one before), or None; every key is recorded.

        Two statements a call, whatever its size: SQLite lets other threads run meanwhile.
        Needs SQLite 3.24 (upserts)."""
        known = self._known(users.values)
        return _first_repeats(users.prints, known) if known else users.within

    def _known(self, values: str) -> set[int]:
        """Which fingerprints of ``values`` (a JSON array) were recorded before; all of them
        are now. One pass over the index, then a look-up of the few found, each statement one
        step but for the rows found (the writer's thread waits for the GIL after each step).

        Raises:
            StorageError: the temporary file cannot be written (no space in the temporary
                directory, or no access to it).
        """
        self._batches += 1
        try:
            self._db.execute(_ADD_SEEN, (values, self._batches))
            found = self._db.execute(_FIND_SEEN, (self._batches,))
            return {fingerprint for (fingerprint,) in found}
        except sqlite3.Error as exc:
            raise StorageError(f"The import's duplicate check failed: {exc}") from None

    def close(self) -> None:
        self._db.close()


# -- writing ------------------------------------------------------------------------------------

_EXISTS = "The user already exist and upsert parameter is false"
_HASH_DEFINED = (
    "A custom_password_hash was provided, but the user already has password hash defined."
)


def _upsert(checked: _Checked, stamp: str) -> UpsertChanges:
    """What an upsert of ``checked`` changes on the user of its email: Auth0's upsertable fields,
    metadata replaced whole, and a ``custom_password_hash`` only over one never signed in with."""
    fields = checked.fields

    def changes(
        current: User, current_hash: str | None
    ) -> tuple[dict[str, Any], str | None] | None:
        columns: dict[str, Any] = {key: fields[key] for key in _UPSERTED if key in fields}
        for key in ("app_metadata", "user_metadata"):
            if key in fields:
                columns[key] = copy_json(fields[key])
        new_hash = None
        if "custom_password_hash" in fields:
            if current_hash is None or not _imported_hashes.is_imported(current_hash):
                return None
            new_hash = checked.password_hash
        columns["updated_at"] = stamp
        return columns, new_hash

    return changes


def _write_problem(outcome: str, *, upsert: bool) -> Entry:
    """The entry of a user the store refused: a unique key taken, or a hash it will not swap."""
    if outcome == "connection":
        return _entry("CONNECTION_NOT_FOUND", "The connection does not exist.", None)
    if outcome == "refused":
        return _entry("PASSWORD_HASH_DEFINED", _HASH_DEFINED, "custom_password_hash")
    if not upsert:
        return _entry("DUPLICATED_USER", _EXISTS, None)
    if outcome == "username":
        return _entry("CONFLICT_USERNAME", UsernameInUseError().message, "username")
    return _entry("CONFLICT", UserExistsError(field=outcome).message, outcome)


def import_users(
    connection: Connection,
    strategy: ConnectionStrategy,
    source: Source,
    *,
    write: Writer,
    clock: Callable[[], datetime],
    record: Callable[[Event], None],
    upsert: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
    on_error: Callable[[dict[str, Any]], None] | None = None,
    send_verification: Callable[[User], object] | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportResult:
    """Import the users of ``source`` into ``connection``; see ``IdentityStore.import_users``.

    Logs Auth0's ``sui`` event with the summary, or ``fui`` when the file is refused.
    """
    if not strategy.takes_password:
        raise UnsupportedStrategyError("Connection must be a database connection.")
    try:
        users, total = read_users(source)
        result = _Import(
            connection, strategy, write, upsert=upsert, on_error=on_error, verify=send_verification
        ).run(users, total, clock, progress, batch_size)
    except ImportFileError as exc:
        record(new_event("fui", clock(), connection=connection, description=exc.message))
        raise
    event = new_event("sui", clock(), connection=connection, description="Import users")
    record(replace(event, details={"summary": result.summary()}))
    return result


#: A user as read: the file's value, then the user to write and its unique keys
#: (``_UNIQUE_KEYS``' order), or the problems of a user that failed a check and None.
_Read = tuple[object, "BulkUser | list[Entry]", "tuple[str | None, ...] | None"]


class _Import:
    """One import: checks, the file's keys seen so far, the batch being filled, the result."""

    def __init__(
        self,
        connection: Connection,
        strategy: ConnectionStrategy,
        write: Writer,
        *,
        upsert: bool,
        on_error: Callable[[dict[str, Any]], None] | None,
        verify: Callable[[User], object] | None,
    ) -> None:
        self.connection = connection
        self.checker = _Checker(connection, strategy)
        self.write = write
        self.upsert = upsert
        self.on_error = on_error
        self.verify = verify
        self.seen: _Seen
        self.result = ImportResult()
        #: The users read since the last batch, in order.
        self.read: list[_Read] = []
        self.writer: ThreadPoolExecutor
        #: The batch being written, and what became of its users.
        self.pending: tuple[Future[list[list[Entry] | WriteOutcome]], list[_Read]] | None
        self.pending = None
        self.total: int | None = None
        self.progress: Callable[[int, int | None], None] | None = None
        self.reported = 0

    def run(
        self,
        users: Iterator[object],
        total: int | None,
        clock: Callable[[], datetime],
        progress: Callable[[int, int | None], None] | None,
        batch_size: int,
    ) -> ImportResult:
        """Check the users and write them in batches, calling ``progress`` after each."""
        self.total, self.progress = total, progress
        read = 0
        now = clock()  # one moment a batch: its users' dates and generated ids
        with (
            contextlib.closing(_Seen()) as self.seen,
            ThreadPoolExecutor(1, thread_name_prefix="identitystore-import") as self.writer,
        ):
            try:
                for item in users:
                    self.add(item, now)
                    read += 1
                    if read % batch_size == 0:
                        self.flush()
                        now = clock()
            except ImportFileError as exc:  # from a stream read once: what came before is kept
                self.flush()
                self.settle()
                done = self.result.summary()
                raise ImportFileError(
                    f"{exc.message} Users before it: {done['inserted']} inserted, "
                    f"{done['updated']} updated, {done['failed']} failed."
                ) from None
            finally:
                self.settle()  # the batch being written, whatever happened meanwhile
            self.flush()
            self.settle()
        return self.result

    def add(self, item: object, now: datetime) -> None:
        """Check ``item`` and queue it for the duplicate check and writing, or with its
        problems."""
        checked = self.checker.check(item, now)
        if isinstance(checked, list):
            self.read.append((item, checked, None))
            return
        record = build_record(  # NewUserRecord's fields in order
            checked.user, self.connection.id, checked.password_hash, None, None, None
        )
        changes = _upsert(checked, format_timestamp(now)) if self.upsert else None
        self.read.append((item, build_bulk_user(record, changes), _keys(checked)))

    def flush(self) -> None:
        """Hand the users read since the last batch to the writer's thread, once the batch
        before is written and counted: the next ones are checked meanwhile."""
        read, self.read = self.read, []
        prints = self.seen.fingerprints([keys for _, _, keys in read if keys is not None])
        self.settle()
        if read:
            self.pending = (self.writer.submit(self.verdicts, read, prints), read)

    def verdicts(
        self, read: list[_Read], prints: _Fingerprints
    ) -> list[list[Entry] | WriteOutcome]:
        """What became of each user of ``read`` (in the writer's thread): the problems of one
        that failed a check or repeats a key of a user before it, else the outcome of writing
        it (the others in one transaction)."""
        verdicts: list[list[Entry] | None] = []  # None: to write
        duplicates = iter(self.seen.first_duplicates(prints))
        batch: list[BulkUser] = []
        for _, checked, keys in read:
            if keys is None:
                assert isinstance(checked, list)
                verdicts.append(checked)
            elif (duplicate := next(duplicates)) is not None:
                text = f"A user with this {duplicate} was already provided."
                verdicts.append([_entry("DUPLICATED_USER", text, None)])
            else:
                assert isinstance(checked, BulkUser)
                verdicts.append(None)
                batch.append(checked)
        outcomes: Sequence[WriteOutcome]
        try:
            outcomes = self.write(batch) if batch else []
        except StaleConnection:  # deleted while the import ran
            outcomes = ["connection"] * len(batch)  # type: ignore[list-item]
        written = iter(outcomes)
        return [next(written) if v is None else v for v in verdicts]

    def settle(self) -> None:
        """Wait for the batch being written, and count what became of each of its users, in
        the order they were read."""
        if self.pending is None:
            return
        (future, read), self.pending = self.pending, None
        for (item, checked, _), verdict in zip(read, future.result(), strict=True):
            if verdict == "inserted":
                self.result.inserted += 1
                assert isinstance(checked, BulkUser)
                user = checked.record.user
                if self.verify is not None and user.email and not user.email_verified:
                    self.verify(user)
            elif verdict == "updated":
                self.result.updated += 1
            elif isinstance(verdict, list):
                self.fail(item, verdict)
            else:
                self.fail(item, [_write_problem(verdict, upsert=self.upsert)])
        self.report()

    def report(self) -> None:
        """Call ``progress`` with the users done, unless it was told that number already."""
        if self.progress is not None and self.result.total != self.reported:
            self.reported = self.result.total
            self.progress(self.reported, self.total)

    def fail(self, item: object, entries: list[Entry]) -> None:
        self.result.failed += 1
        report = {"user": masked_user(item), "errors": entries}
        if self.on_error is not None:
            self.on_error(report)
        else:
            self.result.errors.append(report)


def _keys(checked: _Checked) -> tuple[str | None, ...]:
    """The unique keys of a user, in ``_UNIQUE_KEYS``' order (None for those it has not)."""
    user = checked.user
    return (
        user.email,
        user.username,
        user.user_id.lower() if "user_id" in checked.fields else None,
        user.phone_number,
    )


def writer(backend: Backend, connection: Connection) -> Writer:
    """How an import writes into ``connection``: a batch a transaction through the backend's
    ``write_users``, or, for a backend that is no ``BulkBackend``, ``per_user_writer``."""
    if isinstance(backend, BulkBackend):
        return functools.partial(backend.write_users, connection.id)
    return per_user_writer(backend, connection)


def per_user_writer(backend: Backend, connection: Connection) -> Writer:
    """A ``Writer`` over the per-user methods of ``backend``: one transaction per user. A batch
    whose connection is gone when it starts is refused whole (``StaleConnection``)."""

    def write(batch: Sequence[BulkUser]) -> list[WriteOutcome]:
        stored = backend.get_connection(connection.name)
        if stored is None or stored.id != connection.id:
            raise StaleConnection(connection.name)
        return [_write_one(backend, connection.id, bulk) for bulk in batch]

    return write


def _write_one(backend: Backend, connection_id: str, bulk: BulkUser) -> WriteOutcome:
    user = bulk.record.user
    for _ in range(3):
        if bulk.upsert is not None and user.email is not None:
            found = backend.find_user(connection_id, "email", user.email)
            if found is not None:
                decided = bulk.upsert(*found)
                if decided is None:
                    return "refused"
                columns, new_hash = decided
                backend.update_user(found[0].user_id, _constant(columns), password_hash=new_hash)
                return "updated"
        try:
            backend.insert_user(bulk.record)
        except DuplicateKey as exc:
            if exc.key == "email" and bulk.upsert is not None:
                continue  # inserted meanwhile: update it
            return cast(WriteOutcome, exc.key)
        return "inserted"
    return "email"


def _constant(columns: dict[str, Any]) -> Callable[[User], dict[str, Any]]:
    return lambda _: columns
