"""Bulk export in Auth0's export-file formats: newline-delimited JSON or CSV, fields, gzip.

The users come from one consistent snapshot of the storage (``BulkBackend.export_users``), read
as a stream, so memory stays flat whatever their number. Each field is a path into Auth0's user body
(``user_id``, ``identities[0].connection``, ``user_metadata.consent.given``), written under its
``export_as`` name or its own. With ``include_password_hashes`` each line also carries the user's
hash as the users file takes it back (``_imported_hashes.exported_hash``).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import operator
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import IO, Any, Literal

from ._imported_hashes import exported_hash
from ._jsonschema import problems
from ._models import User, copy_json
from .errors import BadRequestError, PayloadValidationError, echo
from .storage import Backend, BulkBackend, UserQuery

__all__ = [
    "CSV_MAX_FIELDS",
    "DEFAULT_FIELDS",
    "EXPORT_OPTIONS_SCHEMA",
    "Format",
    "Target",
    "check_options",
    "users_of",
    "write_export",
]

Format = Literal["json", "csv"]
#: Where an export goes: a path (gzip when it ends in ``.gz``) or a binary file object.
Target = str | os.PathLike[str] | IO[bytes]

#: The options of Auth0's ``CreateExportUsersRequestContent`` that the library takes.
EXPORT_OPTIONS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "format": {
            "type": "string",
            "description": "Format of the file. Must be `json` or `csv`.",
            "enum": ["json", "csv"],
        },
        "limit": {"type": "integer", "description": "Limit the number of records.", "minimum": 1},
        "fields": {
            "type": "array",
            "description": "List of fields to be included in the CSV. Defaults to a predefined "
            "set of fields.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {
                        "type": "string",
                        "description": "Name of the field in the profile.",
                        "maxLength": 100,
                    },
                    "export_as": {
                        "type": "string",
                        "description": "Title of the column in the exported CSV.",
                        "maxLength": 100,
                    },
                },
            },
        },
    },
}
#: The most fields a CSV export has (Auth0's limit).
CSV_MAX_FIELDS = 30
#: Auth0's normalized profile fields, each under its own name: what an export has by default, and
#: what the users file takes back (the metadata objects in JSON only, as Auth0's CSV refuses them).
DEFAULT_FIELDS = (
    "user_id",
    "email",
    "email_verified",
    "username",
    "phone_number",
    "phone_verified",
    "name",
    "nickname",
    "given_name",
    "family_name",
    "picture",
    "blocked",
    "created_at",
    "updated_at",
    "last_login",
    "last_ip",
    "logins_count",
    "last_password_reset",
    "app_metadata",
    "user_metadata",
)
#: Auth0's own dates: its CSV writes them without the ``'`` that guards other strings.
_DATES = frozenset({"created_at", "updated_at", "last_login", "last_password_reset"})
_WHOLE_METADATA = frozenset({"app_metadata", "user_metadata"})
_NAME = re.compile(r"[^.\[\]]+(?:\.[^.\[\]]+|\[\d+\])*")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_MISSING = object()
#: Users written at a time (and between two calls of the progress callback).
_WRITE_EVERY = 1000


def check_options(
    format: object, fields: object, limit: object, *, include_password_hashes: bool
) -> list[tuple[str, str]]:
    """``(name, export_as)`` of each field, after checking the options with Auth0's schema.

    ``fields`` items are ``{"name": ..., "export_as": ...}`` or plain names; None means
    ``DEFAULT_FIELDS`` (without the metadata objects for CSV).

    Raises:
        PayloadValidationError: an option breaks Auth0's schema.
        BadRequestError: a field no user has, too many CSV fields, a whole metadata object or
            password hashes in CSV.
    """
    options: dict[str, Any] = {"format": format}
    if limit is not None:
        options["limit"] = limit
    if fields is not None:
        if isinstance(fields, (list, tuple)):
            fields = [{"name": f} if isinstance(f, str) else f for f in fields]
        options["fields"] = fields
    found = problems(options, EXPORT_OPTIONS_SCHEMA)
    if found:
        raise PayloadValidationError(found)
    if fields is None:
        names = [(name, name) for name in DEFAULT_FIELDS]
        if format == "csv":
            names = [(name, name) for name in DEFAULT_FIELDS if name not in _WHOLE_METADATA]
    else:
        names = [(f["name"], f.get("export_as", f["name"])) for f in options["fields"]]
    if not names:
        raise BadRequestError("An export needs at least one field.")
    for name, _ in names:
        _path(name)
    if format == "csv":
        if len(names) > CSV_MAX_FIELDS:
            raise BadRequestError(f"A CSV export takes at most {CSV_MAX_FIELDS} fields.")
        whole = [name for name, _ in names if name in _WHOLE_METADATA]
        if whole:
            raise BadRequestError(
                f"A CSV export cannot hold the whole {whole[0]} object: name its fields, "
                f"like {whole[0]}.plan."
            )
        if include_password_hashes:
            raise BadRequestError("Password hashes are exported in the json format only.")
    return names


def _path(name: str) -> tuple[str | int, ...]:
    """``name`` as steps: ``identities[0].connection`` is ``("identities", 0, "connection")``."""
    if not _NAME.fullmatch(name):
        raise BadRequestError(f"Not a field name: {echo(name)}")
    return tuple(key if key else int(index) for key, index in _STEP.findall(name))


def _accessor(name: str) -> Callable[[User], Any]:
    """How to read field ``name`` of a user; ``_MISSING`` when the user has no such value."""
    steps = _path(name)
    root, rest = steps[0], steps[1:]
    if root == "identities":
        return lambda user: _walk(user.to_dict().get("identities", _MISSING), rest)
    if root in _ATTRIBUTES:
        attribute = str(root)

        def read(user: User) -> Any:
            value = getattr(user, attribute)
            return _MISSING if value is None else _walk(value, rest)

        return read
    return lambda user: _MISSING


#: The root fields read from a user's attributes (``connection`` and ``provider`` are no Auth0
#: fields: they are in ``identities``).
_ATTRIBUTES = frozenset(User.__slots__) - {"connection", "provider"}


def _walk(value: Any, steps: Sequence[str | int]) -> Any:
    for step in steps:
        if isinstance(step, str) and isinstance(value, Mapping):
            value = value.get(step, _MISSING)
        elif isinstance(step, int) and isinstance(value, list) and step < len(value):
            value = value[step]
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def write_export(
    target: Target,
    users: Iterable[tuple[User, str | None]],
    *,
    format: Format,
    fields: Sequence[tuple[str, str]],
    include_password_hashes: bool,
    total: int | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> int:
    """Write ``users`` (with their password hashes) to ``target``; return how many were written.

    A path ending in ``.gz`` is written gzip-compressed; a path is written whole or not at all
    (into ``<path>.part``, renamed once complete).
    """
    columns = _Columns(fields)
    line = columns.json_line if format == "json" else columns.csv_line
    written = 0
    lines: list[str] = []
    with _output(target) as out:
        if format == "csv":
            lines.append(",".join(_csv_header(key) for key in columns.keys) + "\n")
        for user, stored in users:
            hashes = exported_hash(stored) if include_password_hashes else None
            lines.append(line(user, hashes))
            written += 1
            if written % _WRITE_EVERY == 0:
                out.write("".join(lines).encode("utf-8"))
                lines.clear()
                if progress is not None:
                    progress(written, total)
        out.write("".join(lines).encode("utf-8"))
        if progress is not None:
            progress(written, total)
    return written


class _Columns:
    """The fields of an export, read from each user: root attributes read at once (C's
    ``attrgetter``) when every field is one, else each field along its path."""

    def __init__(self, fields: Sequence[tuple[str, str]]) -> None:
        self.keys = [key for _, key in fields]
        self.dates = [name in _DATES for name, _ in fields]
        steps = [_path(name) for name, _ in fields]
        self.attributes = all(len(s) == 1 and s[0] in _ATTRIBUTES for s in steps)
        if self.attributes:  # absent: None, as the user body leaves out None
            getter = operator.attrgetter(*(str(s[0]) for s in steps))
            self.values: Callable[[User], Sequence[Any]] = (
                (lambda user: (getter(user),)) if len(steps) == 1 else getter
            )
        else:  # absent: _MISSING (a path may hold a JSON null)
            readers = [_accessor(name) for name, _ in fields]
            self.values = lambda user: [read(user) for read in readers]

    def json_line(self, user: User, hashes: tuple[str, Any] | None) -> str:
        absent = None if self.attributes else _MISSING
        body = {
            key: value
            for key, value in zip(self.keys, self.values(user), strict=True)
            if value is not absent
        }
        if hashes is not None:
            body[hashes[0]] = hashes[1]
        return _ENCODER.encode(body) + "\n"

    def csv_line(self, user: User, hashes: tuple[str, Any] | None) -> str:
        values = self.values(user)
        cells = (_csv_cell(v, date=d) for v, d in zip(values, self.dates, strict=True))
        return ",".join(cells) + "\n"


def _plain(value: object) -> object:
    """A mapping ``json.dumps`` cannot write itself (a read-only one) as a dict."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


#: Compact JSON, as Auth0's export lines are (made once: ``json.dumps`` makes one a call).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_plain)


def _csv_cell(value: Any, *, date: bool) -> str:
    """A cell as Auth0 writes it: strings guarded against CSV injection (``"'..."``)."""
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(json.dumps(value))
    if isinstance(value, str):
        text = value
        if date:
            return text
    else:
        text = json.dumps(copy_json(value), ensure_ascii=False, separators=(",", ":"))
    return "\"'" + text.replace('"', '""') + '"'


def _csv_header(key: str) -> str:
    if any(c in key for c in ',"\r\n'):
        return '"' + key.replace('"', '""') + '"'
    return key


@contextlib.contextmanager
def _output(target: Target) -> Iterator[IO[bytes]]:
    """``target`` open for writing: a path through a ``.part`` file renamed when complete."""
    if not isinstance(target, (str, os.PathLike)):
        yield target
        return
    path = os.fspath(target)
    partial = f"{path}.part"
    try:
        with open(partial, "wb") as raw:
            if path.endswith(".gz"):
                name = os.path.basename(path)[: -len(".gz")]
                with gzip.GzipFile(name, "wb", compresslevel=6, fileobj=raw) as zipped:
                    yield zipped  # type: ignore[misc]
            else:
                yield raw
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(partial)


def users_of(
    backend: Backend, connection_id: str | None, limit: int | None, *, hashes: bool
) -> AbstractContextManager[tuple[int, Iterator[tuple[User, str | None]]]]:
    """``with users_of(...) as (count, users)``: the users to export, by creation, with their
    hashes when ``hashes``: streamed from one snapshot by a ``BulkBackend``, else read at once
    with ``list_users``."""
    if isinstance(backend, BulkBackend):
        return backend.export_users(connection_id, limit=limit, hashes=hashes)
    users, _ = backend.list_users(UserQuery(connection_id=connection_id, limit=limit or 2**62))

    def with_hashes() -> Iterator[tuple[User, str | None]]:
        for user in users:
            stored = None
            if hashes and user.email is not None:
                conn = backend.get_connection(user.connection)
                found = backend.find_user(conn.id, "email", user.email) if conn else None
                stored = found[1] if found else None
            yield user, stored

    return contextlib.nullcontext((len(users), with_hashes()))
