"""``IdentityStore.import_users``: Auth0's users file read as a stream, every kind of bad user
reported as Auth0 reports it, duplicates, upsert, what is kept as given, events and emails."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identitystore import Connection, IdentityStore, _import, errors
from identitystore.connections import DatabaseStrategy
from identitystore.testing.helpers import ManualClock

DB = "Username-Password-Authentication"
#: password "correct horse battery staple" (docs/import-export.md#test-vectors)
BCRYPT = "$2b$10$abcdefghijklmnopqrstuuGGgFFcYeueaAql8Z7U7CnCTRw4DR77W"
BCRYPT_PASSWORD = "correct horse battery staple"
#: password "password"
MD5 = {
    "algorithm": "md5",
    "hash": {"value": "67A1E09BB1F83F5007DC119C14D663AA", "encoding": "hex"},
    "salt": {"value": "salt", "encoding": "utf8", "position": "prefix"},
}
#: password "sha256-Pass!"
SHA256 = {
    "algorithm": "sha256",
    "hash": {
        "value": "cd23a9bfd5d88ace34cd7d593957c04f6d0deaf8695d3d9e40e6005954f8e358",
        "encoding": "hex",
    },
    "salt": {"value": "abc123", "position": "prefix"},
}


def stamp(clock: ManualClock) -> str:
    return clock().isoformat(timespec="milliseconds").replace("+00:00", "Z")


def users_file(users: list[Any]) -> bytes:
    return json.dumps(users).encode()


def ndjson(users: list[Any]) -> bytes:
    return b"".join(json.dumps(u).encode() + b"\n" for u in users)


def emails(store: IdentityStore) -> list[str]:
    return sorted(str(u.email) for u in store.list_users(DB, per_page=100))


def hash_of(store: IdentityStore, email: str) -> str | None:
    found = store.backend.find_user(store.get_connection(DB).id, "email", email)
    assert found is not None
    return found[1]


# -- sources ------------------------------------------------------------------------------------

PEOPLE = [{"email": f"user{n}@example.com", "given_name": f"User {n}"} for n in range(5)]


class _Pipe(io.RawIOBase):
    """A binary stream that can neither seek nor peek, like a socket."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(min(len(buffer), 7))  # small reads: values cross chunks
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _sources(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    array, lines = users_file(PEOPLE), ndjson(PEOPLE)
    for name, data in [
        ("users.json", array),
        ("users.ndjson", lines),
        ("users.json.gz", gzip.compress(array)),
        ("users.ndjson.gz", gzip.compress(lines)),
        ("pretty.json", json.dumps(PEOPLE, indent=4).encode()),
        ("bom.json", b"\xef\xbb\xbf" + array),
        ("crlf.ndjson", lines.replace(b"\n", b"\r\n\r\n")),  # blank lines are skipped
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        yield name, path
        yield f"str {name}", str(path)
        yield f"file object {name}", io.BytesIO(data)
        yield f"pipe {name}", _Pipe(data)
    yield "list", list(PEOPLE)
    yield "generator", (dict(u) for u in PEOPLE)


def test_every_kind_of_source_imports_the_same_users(tmp_path: Path, clock: ManualClock) -> None:
    from tests.conftest import FAST

    for label, source in _sources(tmp_path):
        with IdentityStore(":memory:", hasher=FAST, clock=clock) as store:
            result = store.import_users(DB, source)
            assert (result.inserted, result.failed, result.errors) == (5, 0, []), label
            assert emails(store) == sorted(u["email"] for u in PEOPLE), label
            assert store.get_users_by_email("user3@example.com")[0].given_name == "User 3"


def test_a_callers_file_object_is_left_open_where_it_was(store: IdentityStore) -> None:
    stream = io.BytesIO(b"garbage before" + users_file(PEOPLE))
    stream.seek(len(b"garbage before"))
    assert store.import_users(DB, stream).inserted == 5
    assert not stream.closed


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_values_cut_anywhere_by_the_reader_still_parse(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Numbers, escapes, multi-byte characters and nesting, split at every possible byte."""
    monkeypatch.setattr(_import, "_CHUNK", chunk)
    values = [
        {"email": "a@example.com", "logins_count": 1234567, "x": [1.5e3, -0.25, True, None]},
        12345,
        'tail "quoted" \\ \u00e9 é \U0001f600',
        [[], {}, {"a": {"b": [1, {"c": "d"}]}}],
        -7,
    ]
    for text in (json.dumps(values), json.dumps(values, indent=3, ensure_ascii=False)):
        for data in (text.encode(), ("\n".join(json.dumps(v) for v in values) + "\n").encode()):
            items, total = _import.read_users(io.BytesIO(data))
            assert total == len(values)
            assert list(items) == values
            assert list(_import.read_users(_Pipe(data))[0]) == values


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'[{"email": "a@example.com"}, {"email": ', "Users file could not be parsed"),
        (b'[{"email": "a@example.com"} {"email": "b@example.com"}]', "',' or ']' expected"),
        (b'[{"email": "a@example.com"}] trailing', "text after the array"),
        (b'[{"email": "a@example.com", "logins_count": NaN}]', "NaN is not JSON"),
        (b'{"email": "a@example.com"}\n{"email": "b@example.com"\n', "line 2"),
        (b'{"email": "a@example.com"} {"email": "b@example.com"}\n', "line 1: Extra data"),
        (b'[{"email": "\xff@example.com"}]', "it is not UTF-8"),
    ],
)
def test_a_file_that_does_not_parse_imports_nothing(
    store: IdentityStore, tmp_path: Path, data: bytes, message: str
) -> None:
    path = tmp_path / "users.json"
    path.write_bytes(data)
    for source in (path, io.BytesIO(data)):
        with pytest.raises(errors.BadRequestError, match=message) as caught:
            store.import_users(DB, source)
        assert caught.value.status_code == 400
        assert store.list_users(DB).length == 0  # not even the users before the problem
    [failed, *_] = store.list_events(type="fui")
    assert failed.description == caught.value.message
    assert failed.connection == DB


@pytest.mark.parametrize("data", [b"", b"  \n\t ", b"[]", b"[ ]\n", gzip.compress(b"", mtime=0)])
def test_an_empty_file_has_no_users(store: IdentityStore, data: bytes) -> None:
    """As an export of an empty connection is: zero users, no error."""
    result = store.import_users(DB, io.BytesIO(data))
    assert result.summary() == {"failed": 0, "updated": 0, "inserted": 0, "total": 0}


def test_a_stream_that_cannot_be_read_twice_stops_where_it_does_not_parse(
    store: IdentityStore,
) -> None:
    data = ndjson(PEOPLE[:2]) + b"{oops\n" + ndjson(PEOPLE[2:])
    with pytest.raises(errors.BadRequestError, match="line 3"):
        store.import_users(DB, _Pipe(data))
    assert emails(store) == ["user0@example.com", "user1@example.com"]  # each stored whole


def test_other_kinds_of_sources_are_a_type_error(store: IdentityStore) -> None:
    for source in (io.StringIO("[]"), b"[]", {"email": "a@example.com"}, 42):
        with pytest.raises(TypeError, match="path, a binary file object or an iterable"):
            store.import_users(DB, source)  # type: ignore[arg-type]


# -- connections --------------------------------------------------------------------------------


def test_only_database_connections_take_imports(store: IdentityStore) -> None:
    with pytest.raises(errors.UnsupportedStrategyError, match="must be a database connection"):
        store.import_users("email", PEOPLE)
    with pytest.raises(errors.UnknownConnectionError, match=r"The connection does not exist\."):
        store.import_users("nope", PEOPLE)


# -- every kind of bad user ---------------------------------------------------------------------

MFA = [{"totp": {"secret": "JBSWY3DPEHPK3PXP"}}]


def E(code: str, message: str, path: str | None = None) -> dict[str, str]:
    entry = {"code": code, "message": message}
    if path is not None:
        entry["path"] = path
    return entry


def error_in(path: str, text: str) -> str:
    return f"Error in {path} property - {text}"


#: (user, its error entries), written from Auth0's and z-schema's texts.
BAD_USERS: list[tuple[Any, list[dict[str, str]]]] = [
    ("a string", [E("INVALID_TYPE", "Expected type object but found type string")]),
    (None, [E("INVALID_TYPE", "Expected type object but found type null")]),
    (
        [{"email": "x@example.com"}],
        [E("INVALID_TYPE", "Expected type object but found type array")],
    ),
    ({}, [E("OBJECT_REQUIRED", "Missing required property: email")]),
    (
        {"email": "p@example.com", "password": "plain-text", "identities": []},
        [
            E(
                "OBJECT_ADDITIONAL_PROPERTIES",
                "Additional properties not allowed: password,identities",
            )
        ],
    ),
    (
        {"email": 42},
        [
            E(
                "INVALID_TYPE",
                error_in(
                    "identities[0].profileData.email", "Expected type string but found type integer"
                ),
                "identities[0].profileData.email",
            )
        ],
    ),
    (
        {"email": "akshay144@"},
        [
            E(
                "INVALID_FORMAT",
                error_in(
                    "identities[0].profileData.email",
                    "Object didn't pass validation for format email: akshay144@",
                ),
                "identities[0].profileData.email",
            )
        ],
    ),
    (
        {"email": "v@example.com", "email_verified": "yes", "blocked": 1},
        [
            E(
                "INVALID_TYPE",
                error_in("blocked", "Expected type boolean but found type integer"),
                "blocked",
            ),
            E(
                "INVALID_TYPE",
                error_in("email_verified", "Expected type boolean but found type string"),
                "email_verified",
            ),
        ],
    ),
    (
        {"email": "n@example.com", "name": "x" * 301, "given_name": ""},
        [
            E(
                "MIN_LENGTH",
                error_in("given_name", "String is too short (0 chars), minimum 1"),
                "given_name",
            ),
            E(
                "MAX_LENGTH",
                error_in("name", "String is too long (301 chars), maximum 300"),
                "name",
            ),
        ],
    ),
    (
        {"email": "u@example.com", "user_id": "has space", "picture": "not a url"},
        [
            E(
                "INVALID_FORMAT",
                error_in(
                    "picture", "Object didn't pass validation for format strict-uri: not a url"
                ),
                "picture",
            ),
            E(
                "PATTERN",
                error_in("user_id", "String does not match pattern ^\\S*$: has space"),
                "user_id",
            ),
        ],
    ),
    (
        {"email": "m@example.com", "app_metadata": {"blocked": True, "a.b": 1}},
        [
            E(
                "NOT_PASSED",
                error_in(
                    "app_metadata", "Reserved app_metadata field names are not allowed: blocked"
                ),
                "app_metadata",
            ),
            E(
                "INVALID_FORMAT",
                error_in(
                    "app_metadata", "Field names must not contain '.' or '$': app_metadata.a.b"
                ),
                "app_metadata",
            ),
        ],
    ),
    (
        {"email": "big@example.com", "user_metadata": {"blob": "x" * 17_000}},
        [
            E(
                "PROFILE_SIZE_EXCEEDED",
                error_in("user_metadata", "Metadata is too large (17011 bytes), maximum 16384"),
                "user_metadata",
            )
        ],
    ),
    (
        {"email": "t@example.com", "user_metadata": [1]},
        [
            E(
                "INVALID_TYPE",
                error_in("user_metadata", "Expected type object but found type array"),
                "user_metadata",
            )
        ],
    ),
    (
        {"email": "h@example.com", "password_hash": "$2y$10$" + "a" * 53},
        [
            E(
                "PATTERN",
                error_in(
                    "passwordHash",
                    "String does not match pattern ^\\$2[ab]?\\$10+\\$[./A-Za-z0-9]{53}$",
                ),
                "passwordHash",
            )
        ],
    ),
    (
        {"email": "two@example.com", "password_hash": BCRYPT, "custom_password_hash": MD5},
        [E("NOT_PASSED", "Forbidden attribute in appUser: ")],
    ),
    (
        {"email": "s@example.com", "custom_password_hash": {**MD5, "algorithm": "sha3"}},
        [
            E(
                "ENUM_MISMATCH",
                error_in("custom_password_hash.algorithm", "No enum match for: sha3"),
                "custom_password_hash.algorithm",
            )
        ],
    ),
    (
        {"email": "f0@example.com", "mfa_factors": []},
        [
            E(
                "ARRAY_LENGTH_SHORT",
                error_in("mfa_factors", "Array is too short (0), minimum 1"),
                "mfa_factors",
            )
        ],
    ),
    (
        {"email": "f1@example.com", "mfa_factors": [{"totp": {"secret": "lower"}}]},
        [
            E(
                "PATTERN",
                error_in(
                    "mfa_factors[0].totp.secret", "String does not match pattern ^[A-Z2-7]+$: lower"
                ),
                "mfa_factors[0].totp.secret",
            )
        ],
    ),
    (
        {
            "email": "f2@example.com",
            "mfa_factors": [{"totp": {"secret": "A"}, "phone": {"value": "+1"}}],
        },
        [
            E(
                "OBJECT_PROPERTIES_MAXIMUM",
                error_in("mfa_factors[0]", "Too many properties defined (2), maximum 1"),
                "mfa_factors[0]",
            )
        ],
    ),
    (
        {"email": "f3@example.com", "mfa_factors": MFA},
        [
            E(
                "MFA_FACTORS_FAILED",
                error_in(
                    "mfa_factors",
                    "identitystore has no multi-factor authentication: remove mfa_factors",
                ),
                "mfa_factors",
            )
        ],
    ),
    (
        {"email": "un@example.com", "username": "jane"},
        [
            E(
                "OBJECT_ADDITIONAL_PROPERTIES",
                error_in(
                    "username", "Cannot set username for connection without requires_username."
                ),
                "username",
            )
        ],
    ),
    (
        {"email": "ph@example.com", "phone_number": "+14155550100"},
        [
            E(
                "OBJECT_ADDITIONAL_PROPERTIES",
                error_in("phone_number", '"phone_number" is not allowed'),
                "phone_number",
            )
        ],
    ),
    (
        {"email": "d@example.com", "logins_count": -1},
        [
            E(
                "MINIMUM",
                error_in("logins_count", "Value -1 is less than minimum 0"),
                "logins_count",
            ),
        ],
    ),
    (
        {"email": "d2@example.com", "created_at": "last tuesday"},
        [
            E(
                "INVALID_FORMAT",
                error_in(
                    "created_at", "Object didn't pass validation for format date-time: last tuesday"
                ),
                "created_at",
            )
        ],
    ),
]
GOOD_USERS = [
    {"email": "good1@example.com", "password_hash": BCRYPT},
    {"email": "good2@example.com", "custom_password_hash": SHA256, "user_metadata": {"a": 1}},
]


def test_a_file_with_every_kind_of_bad_user(store: IdentityStore) -> None:
    users = [GOOD_USERS[0], *(user for user, _ in BAD_USERS), GOOD_USERS[1]]
    result = store.import_users(DB, io.BytesIO(users_file(users)))
    assert (result.inserted, result.updated, result.failed) == (2, 0, len(BAD_USERS))
    assert result.summary() == {
        "failed": len(BAD_USERS),
        "updated": 0,
        "inserted": 2,
        "total": len(BAD_USERS) + 2,
    }
    assert len(result.errors) == len(BAD_USERS)
    for entry, (user, expected) in zip(result.errors, BAD_USERS, strict=True):
        assert entry["errors"] == expected, user
    assert emails(store) == ["good1@example.com", "good2@example.com"]
    assert store.authenticate(DB, "good1@example.com", BCRYPT_PASSWORD)
    assert store.authenticate(DB, "good2@example.com", "sha256-Pass!")


def test_error_entries_show_the_user_as_given_with_secrets_masked(store: IdentityStore) -> None:
    hmac = {
        "algorithm": "hmac",
        "hash": {
            "value": "9725f1537d87",
            "encoding": "hex",
            "digest": "sha1",
            "key": {"value": "server-pepper"},
        },
    }
    users: list[dict[str, Any]] = [
        {"email": "bad", "password_hash": BCRYPT, "name": "Kept"},
        {"email": "bad2", "custom_password_hash": hmac, "password": "plain"},
        {"email": "bad3", "custom_password_hash": "a string hash"},
    ]
    result = store.import_users(DB, users)
    shown = [entry["user"] for entry in result.errors]
    assert shown == [
        {"email": "bad", "password_hash": "*****", "name": "Kept"},
        {
            "email": "bad2",
            "custom_password_hash": {
                "algorithm": "hmac",
                "hash": {
                    "value": "*****",
                    "encoding": "hex",
                    "digest": "sha1",
                    "key": {"value": "*****"},
                },
            },
            "password": "*****",
        },
        {"email": "bad3", "custom_password_hash": "*****"},
    ]
    text = json.dumps(result.errors)
    for secret in ("9725f1537d87", "server-pepper", "plain", "a string hash", BCRYPT[10:]):
        assert secret not in text
    assert users[0]["password_hash"] == BCRYPT  # the caller's data is untouched


def test_a_username_connection_requires_and_checks_usernames(store: IdentityStore) -> None:
    store.create_connection(
        "members",
        strategy="auth0",
        options={"requires_username": True, "validation": {"username": {"min": 3, "max": 8}}},
    )
    users = [
        {"email": "a@example.com"},
        {"email": "b@example.com", "username": "ab"},
        {"email": "c@example.com", "username": "much-too-long"},
        {"email": "d@example.com", "username": "bad name"},
        {"email": "e@example.com", "username": "e@example.com"},
        {"email": "f@example.com", "username": "Fine"},
    ]
    result = store.import_users("members", users)
    assert [e["errors"] for e in result.errors] == [
        [E("OBJECT_REQUIRED", "Missing required property: username")],
        [
            E(
                "MIN_LENGTH",
                error_in("username", "The username must have at least 3 characters."),
                "username",
            )
        ],
        [
            E(
                "MAX_LENGTH",
                error_in("username", "The username must not be longer than 8 characters."),
                "username",
            )
        ],
        [E("PATTERN", error_in("username", "The username has invalid characters."), "username")],
        [
            E(
                "MAX_LENGTH",
                error_in("username", "The username must not be longer than 8 characters."),
                "username",
            )
        ],
    ]
    assert store.get_users_by_email("f@example.com")[0].username == "fine"


# -- duplicates ---------------------------------------------------------------------------------


def test_duplicates_are_found_across_batches(store: IdentityStore) -> None:
    count = 2 * _import.BATCH_SIZE + 7
    users: list[dict[str, Any]] = [
        {"email": f"u{n}@example.com", "user_id": f"id-{n}"} for n in range(count)
    ]
    repeats = {  # position: (the user, the key reported)
        _import.BATCH_SIZE - 1: ({"email": "u3@example.com"}, "email"),  # the first batch's
        _import.BATCH_SIZE: ({"email": "u0@example.com", "user_id": "x"}, "email"),
        _import.BATCH_SIZE + 1: ({"email": "new@example.com", "user_id": "ID-2"}, "user_id"),
        count - 1: ({"email": "u1@EXAMPLE.com", "user_id": "id-1"}, "email"),
    }
    for position, (user, _) in repeats.items():
        users[position] = user
    users.insert(_import.BATCH_SIZE + 2, {"email": "x"})  # fails a check: its keys not kept
    users.insert(_import.BATCH_SIZE + 3, {"email": "x@example.com"})
    result = store.import_users(DB, users)
    assert [(e["user"], e["errors"][0]["message"]) for e in result.errors] == [
        (users[_import.BATCH_SIZE - 1], "A user with this email was already provided."),
        (users[_import.BATCH_SIZE], "A user with this email was already provided."),
        (users[_import.BATCH_SIZE + 1], "A user with this user_id was already provided."),
        (
            {"email": "x"},
            error_in(
                "identities[0].profileData.email",
                "Object didn't pass validation for format email: x",
            ),
        ),
        (users[-1], "A user with this email was already provided."),
    ]
    assert result.summary() == {
        "inserted": len(users) - 5,
        "updated": 0,
        "failed": 5,
        "total": len(users),
    }
    assert store.get_users_by_email("x@example.com")


def test_duplicates_in_the_file_are_reported_like_auth0(store: IdentityStore) -> None:
    store.create_connection("members", strategy="auth0", options={"requires_username": True})
    users = [
        {"email": "a@example.com", "username": "anna", "user_id": "u1"},
        {"email": "A@Example.com", "username": "other"},
        {"email": "b@example.com", "username": "ANNA"},
        {"email": "c@example.com", "username": "carl", "user_id": "U1"},
        {"email": "d@example.com", "username": "dora", "user_id": "auth0|u1"},
        {"email": "e@example.com", "username": "emil"},
    ]
    result = store.import_users("members", users)
    assert [(e["user"]["email"], e["errors"]) for e in result.errors] == [
        ("A@Example.com", [E("DUPLICATED_USER", "A user with this email was already provided.")]),
        (
            "b@example.com",
            [E("DUPLICATED_USER", "A user with this username was already provided.")],
        ),
        ("c@example.com", [E("DUPLICATED_USER", "A user with this user_id was already provided.")]),
        ("d@example.com", [E("DUPLICATED_USER", "A user with this user_id was already provided.")]),
    ]
    assert (result.inserted, result.failed) == (2, 4)


def test_users_the_store_has_are_duplicates_without_upsert(store: IdentityStore) -> None:
    store.create_user(DB, email="taken@example.com", password="Sup3r-secret!", user_id="taken")
    users = [
        {"email": "TAKEN@example.com"},
        {"email": "other@example.com", "user_id": "taken"},
        {"email": "new@example.com"},
    ]
    result = store.import_users(DB, users)
    exists = [E("DUPLICATED_USER", "The user already exist and upsert parameter is false")]
    assert [e["errors"] for e in result.errors] == [exists, exists]
    assert (result.inserted, result.failed) == (1, 2)


# -- upsert -------------------------------------------------------------------------------------


def test_upsert_updates_what_auth0_updates_and_nothing_else(
    store: IdentityStore, clock: ManualClock
) -> None:
    store.create_connection(
        "members",
        strategy="auth0",
        options={"requires_username": True, "attributes": {"phone_number": {}}},
    )
    first = {
        "email": "jane@example.com",
        "user_id": "jane-1",
        "username": "jane",
        "phone_number": "+14155550100",
        "given_name": "Jane",
        "family_name": "Doe",
        "nickname": "jd",
        "blocked": False,
        "email_verified": False,
        "custom_password_hash": MD5,
        "app_metadata": {"plan": "free", "seats": 1},
        "user_metadata": {"lang": "en", "theme": "dark"},
        "created_at": "2020-01-01T00:00:00.000Z",
    }
    untouched = {"email": "other@example.com", "username": "other", "given_name": "Other"}
    assert store.import_users("members", [first, untouched]).inserted == 2
    before = store.get_user("auth0|jane-1")
    other_before = store.get_users_by_email("other@example.com")[0]
    clock.advance(seconds=60)
    second = {
        "email": "Jane@Example.com",
        "user_id": "changed-id",  # not upsertable: ignored
        "username": "janet",  # not upsertable
        "phone_number": "+14155550199",  # not upsertable
        "blocked": True,  # not upsertable
        "created_at": "2021-01-01T00:00:00.000Z",  # not upsertable
        "given_name": "Janet",
        "name": "Janet Doe",
        "picture": "https://example.com/janet.png",
        "email_verified": True,
        "custom_password_hash": SHA256,
        "app_metadata": {"plan": "pro"},  # replaced, not merged
    }
    result = store.import_users("members", [second], upsert=True)
    assert (result.inserted, result.updated, result.failed) == (0, 1, 0)
    after = store.get_user("auth0|jane-1")
    assert after.given_name == "Janet"
    assert after.name == "Janet Doe"
    assert after.picture == "https://example.com/janet.png"
    assert after.email_verified is True
    assert after.app_metadata == {"plan": "pro"}
    assert after.user_metadata == before.user_metadata  # absent from the file: kept
    assert after.family_name == "Doe"
    assert after.nickname == "jd"
    assert (after.username, after.phone_number, after.blocked) == ("jane", "+14155550100", False)
    assert after.created_at == before.created_at == "2020-01-01T00:00:00.000Z"
    assert after.updated_at == stamp(clock) != before.updated_at
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate("members", "jane@example.com", "password")  # the MD5 hash is gone
    assert store.authenticate("members", "jane@example.com", "sha256-Pass!")
    assert store.get_users_by_email("other@example.com")[0] == other_before


def test_upsert_swaps_only_a_custom_hash_never_signed_in_with(store: IdentityStore) -> None:
    users: list[dict[str, Any]] = [
        {"email": "native@example.com", "password_hash": BCRYPT},
        {"email": "used@example.com", "custom_password_hash": MD5},
        {"email": "none@example.com"},
        {"email": "fresh@example.com", "custom_password_hash": MD5},
    ]
    store.import_users(DB, users)
    store.authenticate(DB, "used@example.com", "password")  # upgraded: no longer imported
    again = [{**user, "custom_password_hash": SHA256} for user in users]
    again = [{k: v for k, v in u.items() if k != "password_hash"} for u in again]
    result = store.import_users(DB, again, upsert=True)
    refused = [
        E(
            "PASSWORD_HASH_DEFINED",
            error_in(
                "custom_password_hash",
                "A custom_password_hash was provided, but the user already has password hash "
                "defined.",
            ),
            "custom_password_hash",
        )
    ]
    assert [(e["user"]["email"], e["errors"]) for e in result.errors] == [
        ("native@example.com", refused),
        ("used@example.com", refused),
        ("none@example.com", refused),
    ]
    assert (result.updated, result.failed) == (1, 3)
    assert store.authenticate(DB, "fresh@example.com", "sha256-Pass!")
    assert store.authenticate(DB, "native@example.com", BCRYPT_PASSWORD)
    assert store.authenticate(DB, "used@example.com", "password")


def test_upsert_ignores_a_password_hash_for_an_existing_user(store: IdentityStore) -> None:
    store.import_users(DB, [{"email": "a@example.com", "custom_password_hash": MD5}])
    result = store.import_users(
        DB, [{"email": "a@example.com", "password_hash": BCRYPT, "nickname": "a2"}], upsert=True
    )
    assert result.updated == 1
    assert store.get_users_by_email("a@example.com")[0].nickname == "a2"
    assert store.authenticate(DB, "a@example.com", "password")


def test_upsert_refuses_a_new_user_whose_other_keys_are_taken(store: IdentityStore) -> None:
    store.create_connection("members", strategy="auth0", options={"requires_username": True})
    store.import_users("members", [{"email": "a@example.com", "username": "anna", "user_id": "a1"}])
    users = [
        {"email": "b@example.com", "username": "anna"},
        {"email": "c@example.com", "username": "carl", "user_id": "a1"},
    ]
    result = store.import_users("members", users, upsert=True)
    assert [e["errors"] for e in result.errors] == [
        [
            E(
                "CONFLICT_USERNAME",
                error_in("username", "The username provided is in use already."),
                "username",
            )
        ],
        [E("CONFLICT", error_in("user_id", "The user already exists."), "user_id")],
    ]


# -- kept as given ------------------------------------------------------------------------------


def test_ids_dates_flags_and_metadata_are_kept_as_given(store: IdentityStore) -> None:
    user = {
        "email": "Kept@Example.com",
        "user_id": "legacy-42",
        "email_verified": True,
        "blocked": True,
        "created_at": "2019-05-06T07:08:09+02:00",
        "updated_at": "2020-01-01T00:00:00Z",
        "last_login": "2021-02-03T04:05:06.789Z",
        "last_password_reset": "2020-06-01",
        "last_ip": "203.0.113.7",
        "logins_count": 12,
        "app_metadata": {"roles": ["admin"], "nested": {"deep": [1, 2.5, None, True]}},
        "user_metadata": {"emoji": "\U0001f600", "empty": {}},
    }
    assert (
        store.import_users(
            DB, [user, {"email": "exported@example.com", "user_id": "auth0|x1"}]
        ).inserted
        == 2
    )
    got = store.get_user("auth0|legacy-42")
    assert got.email == "kept@example.com"
    assert (got.email_verified, got.blocked) == (True, True)
    assert got.created_at == "2019-05-06T05:08:09.000Z"
    assert got.updated_at == "2020-01-01T00:00:00.000Z"
    assert got.last_login == "2021-02-03T04:05:06.789Z"
    assert got.last_password_reset == "2020-06-01T00:00:00.000Z"
    assert (got.last_ip, got.logins_count) == ("203.0.113.7", 12)
    assert got.app_metadata == user["app_metadata"]
    assert got.user_metadata == user["user_metadata"]
    # The defaults Auth0 gives an imported user; its gravatar host is the import's.
    assert (got.name, got.nickname) == ("kept@example.com", "kept")
    assert str(got.picture).startswith("https://secure.gravatar.com/avatar/")
    # An id already carrying the connection's prefix (as exported) is kept, not prefixed again.
    assert store.get_user("auth0|x1").email == "exported@example.com"


def test_generated_ids_are_object_ids_of_the_import_time(
    store: IdentityStore, clock: ManualClock
) -> None:
    store.import_users(DB, [{"email": "a@example.com"}])
    user = store.get_users_by_email("a@example.com")[0]
    local = user.user_id.removeprefix("auth0|")
    assert len(local) == 24
    assert int(local[:8], 16) == int(clock().timestamp())
    assert user.created_at == user.updated_at == stamp(clock)
    assert user.email_verified is False


def test_passwords_are_not_checked_against_the_policy(store: IdentityStore) -> None:
    store.create_connection("strict", strategy="auth0", options={"passwordPolicy": "excellent"})
    weak = {  # md5("a"): a one-letter password the policy would refuse
        "algorithm": "md5",
        "hash": {"value": "0cc175b9c0f1b6a831c399e269772661", "encoding": "hex"},
    }
    store.import_users("strict", [{"email": "weak@example.com", "custom_password_hash": weak}])
    assert store.authenticate("strict", "weak@example.com", "a").email == "weak@example.com"


# -- events, emails, progress -------------------------------------------------------------------


def test_an_import_logs_auth0s_event_with_its_summary(store: IdentityStore) -> None:
    store.import_users(DB, [{"email": "a@example.com"}, {"email": "bad"}])
    [event] = store.list_events(type="sui")
    assert event.connection == DB
    assert event.connection_id == store.get_connection(DB).id
    assert event.details == {"summary": {"failed": 1, "updated": 0, "inserted": 1, "total": 2}}
    assert store.list_events(type="ss") == []  # imports are no sign-ups


def test_no_verification_email_unless_asked(store: IdentityStore) -> None:
    users: list[dict[str, Any]] = [
        {"email": "a@example.com"},
        {"email": "b@example.com", "email_verified": True},
    ]
    store.import_users(DB, users)
    assert store.outbox == []
    users = [{"email": "c@example.com"}, {"email": "d@example.com", "email_verified": True}]
    store.import_users(DB, users, send_verification_email=True)
    assert [(m.kind, m.recipient) for m in store.outbox] == [
        ("verification_email", "c@example.com")
    ]
    user = store.verify_email(store.outbox[0].token or "")
    assert user.email_verified is True


def test_progress_is_reported_as_batches_are_written(store: IdentityStore, tmp_path: Path) -> None:
    path = tmp_path / "users.ndjson"
    batch = _import.BATCH_SIZE
    count = 2 * batch + batch // 2
    people = [{"email": "bad"}] + [{"email": f"p{n}@example.com"} for n in range(count)]
    path.write_bytes(ndjson(people))
    calls: list[tuple[int, int | None]] = []
    result = store.import_users(DB, path, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(batch, count + 1), (2 * batch, count + 1), (count + 1, count + 1)]
    assert result.inserted == count
    calls.clear()
    store.import_users(
        DB, iter(people[:10]), progress=lambda d, t: calls.append((d, t)), upsert=True
    )
    assert calls == [(10, None)]


def test_error_entries_can_be_streamed_out(store: IdentityStore) -> None:
    seen: list[dict[str, Any]] = []
    result = store.import_users(
        DB, [{"email": "bad"}, {"email": "ok@example.com"}], on_error=seen.append
    )
    assert result.errors == []
    assert result.failed == 1
    assert [e["user"] for e in seen] == [{"email": "bad"}]


def test_a_file_of_users_never_leaves_its_path_open(tmp_path: Path, store: IdentityStore) -> None:
    path = tmp_path / "users.json.gz"
    path.write_bytes(gzip.compress(users_file(PEOPLE)))
    store.import_users(DB, path)
    opened = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            opened.append(os.readlink(f"/proc/self/fd/{fd}"))
    assert str(path) not in opened


# -- the plain path is the full path, faster -------------------------------------------------


@settings(max_examples=150)
@given(data=st.data())
def test_a_plain_user_is_checked_exactly_as_the_full_path_checks_it(data: st.DataObject) -> None:
    """Users of create-user bodies (as the users file takes them, with a hash, metadata, an id
    maybe prefixed): where the plain path answers, its user is the full path's."""
    from identitystore.strategies import create_user_bodies

    choices: list[dict[str, Any]] = [
        {},
        {"requires_username": True},
        {"attributes": {"phone_number": {}}},
    ]
    options = data.draw(st.sampled_from(choices))
    connection = Connection("con_x", "members", "auth0", options)
    checker = _import._Checker(connection, DatabaseStrategy())
    body = data.draw(create_user_bodies(options, strategy="auth0"))
    item = {k: v for k, v in body.items() if k not in ("password", "verify_email")}
    if data.draw(st.booleans()):
        item["password_hash"] = data.draw(st.sampled_from([BCRYPT, "$2b$10$x", 7]))
    if data.draw(st.booleans()):
        ids = ["abc", "with space", "", "nul\x00", "é", "x" * 255, "x" * 256, "tab\t"]
        prefix = data.draw(st.sampled_from(["auth0|", ""]))
        item["user_id"] = prefix + data.draw(st.sampled_from(ids))
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    plain = checker._plain(item, now)
    full = checker._full(item, now)
    if plain is None:
        return
    assert isinstance(full, _import._Checked)
    assert plain.password_hash == full.password_hash
    if item.get("user_id") in (None, "", "auth0|"):
        full = full._replace(user=replace(full.user, user_id=plain.user.user_id))
    assert plain.user == full.user
