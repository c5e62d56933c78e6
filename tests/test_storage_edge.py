"""Bad input at the storage edge, on every backend: stored and returned exactly, or refused clearly.

Deep nesting, huge strings, NUL characters, lone surrogates, SQL and JSON-path fragments in values,
metadata keys and ``list_users`` queries. After each case the storage is checked whole
(``tests/soundness.py``): SQLite's integrity check, counts, unique keys, events.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identitystore import IdentityStore, PasswordHasher, errors, limits
from identitystore._query import MAX_TERMS
from identitystore.strategies import JSON_SCALARS, METADATA_KEYS, TEXT_CHARS

from .soundness import assert_consistent, canonical

DB = "Username-Password-Authentication"
NAMED = "Named-Members"  # requires_username
PASSWORD = "Correct-Horse-9"
FAST = PasswordHasher.fast_for_tests()


@dataclass
class Edge:
    """A store on one backend, and how to check that backend whole."""

    store: IdentityStore
    path: Path | None  # the SQLite file, if any
    ids: Iterator[int]

    def email(self) -> str:
        return f"edge{next(self.ids)}@example.com"

    def check(self) -> list[Any]:
        return assert_consistent(self.store, self.path)


@pytest.fixture(params=["memory", "file", "postgres"])
def edge(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Edge]:
    """A store with a ``requires_username`` connection, on each backend."""
    path = tmp_path / "edge.db" if request.param == "file" else None
    target: str | Path = path or ":memory:"
    if request.param == "postgres":
        target = request.getfixturevalue("pg_store_url")
    with IdentityStore(target, hasher=FAST) as store:
        store.create_connection(
            NAMED,
            strategy="auth0",
            options={"requires_username": True, "validation": {"username": {"min": 1, "max": 128}}},
        )
        yield Edge(store, path, count())


# -- exact round trips ---------------------------------------------------------------------------

#: Text that looks like SQL, JSON paths, LIKE patterns, escapes or Lucene to a careless layer.
TRICKY = [
    "'; DROP TABLE users; --",
    '" OR 1=1 --',
    "' OR '1'='1",
    "Robert'); DELETE FROM events;--",
    "$.user_metadata",
    "$[0]",
    '$."a"',
    "json_extract(user_metadata, '$.a')",
    "%",
    "_",
    "50%_off\\",
    "a*b?c",
    "\\",
    '\\"',
    "\\u0000",
    "name:x OR user_id:*",
    "[a TO z]",
    "\x01\x1f\x7f",
    "\u2028\u2029\ufeff\u200b",
    "😀\U0010ffff",
    "-0",
    "NULL",
    "",
]
TRICKY_KEYS = [k for k in TRICKY if "." not in k and "$" not in k] + ["a[0]", "a b", "'", '"', "]"]


def _key(text: str) -> str:
    """``text`` if it may be a metadata key (no ``.`` or ``$``, not ``text``), else ``k``."""
    return text if text and text != "text" and not set(text) & {".", "$"} else "k"


def _as_stored(value: Any) -> Any:
    """``value`` as every backend keeps it: -0.0 is 0.0 (as JSON in JavaScript)."""
    if isinstance(value, dict):
        return {k: _as_stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_stored(v) for v in value]
    return 0.0 if isinstance(value, float) and value == 0 else value


def _stored_exactly(store: IdentityStore, user_id: str, **fields: Any) -> None:
    stored = store.get_user(user_id)
    for key, value in fields.items():
        assert canonical(getattr(stored, key)) == canonical(_as_stored(value)), key


def test_tricky_text_round_trips_everywhere(edge: Edge) -> None:
    store = edge.store
    metadata: dict[str, object] = {
        key or "empty": [value, {value or "v": value}] for key in TRICKY_KEYS for value in (key,)
    }
    metadata["all"] = TRICKY
    for index, text in enumerate(TRICKY):
        fields = {
            "name": text or "x",
            "nickname": text or "x",
            "given_name": text or "x",
            "family_name": text or "x",
            "user_metadata": {"text": text, _key(text): text},
            "app_metadata": metadata,
        }
        user = store.create_user(DB, email=edge.email(), password=PASSWORD, **fields)
        _stored_exactly(store, user.user_id, **fields)
        tail = "".join(c for c in text if not c.isspace() and c != "\ufeff")
        custom = store.create_user(
            NAMED,
            email=edge.email(),
            username=f"u{index}",
            password=PASSWORD,
            user_id=f"id{index}{tail}",
        )
        assert store.get_user(custom.user_id) == custom
        store.update_user(user.user_id, user_metadata={"text": None, "again": text})
        _stored_exactly(store, user.user_id, user_metadata={_key(text): text, "again": text})
    edge.check()


def test_generated_profiles_round_trip(edge: Edge) -> None:
    """Any metadata and names within the limits come back exactly, after create and after PATCH."""
    store = edge.store
    values = st.recursive(
        JSON_SCALARS,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(METADATA_KEYS, children, max_size=3)
        ),
        max_leaves=10,
    )
    metadata = st.dictionaries(METADATA_KEYS | st.sampled_from(TRICKY_KEYS), values, max_size=5)
    names = st.text(TEXT_CHARS, min_size=1, max_size=40) | st.sampled_from([t for t in TRICKY if t])

    @given(user_metadata=metadata, app_metadata=metadata, name=names, patch=metadata)
    def check(
        user_metadata: dict[str, Any],
        app_metadata: dict[str, Any],
        name: str,
        patch: dict[str, Any],
    ) -> None:
        app_metadata = {
            k: v for k, v in app_metadata.items() if k not in limits.APP_METADATA_RESERVED_KEYS
        }
        user = store.create_user(
            DB,
            email=edge.email(),
            password=PASSWORD,
            name=name,
            user_metadata=user_metadata,
            app_metadata=app_metadata,
        )
        _stored_exactly(
            store, user.user_id, name=name, user_metadata=user_metadata, app_metadata=app_metadata
        )
        merged = {**user_metadata, **{k: v for k, v in patch.items() if v is not None}}
        for k, v in patch.items():
            if v is None:
                merged.pop(k, None)
        store.update_user(user.user_id, user_metadata=patch)
        expected = (merged or None) if patch else None
        _stored_exactly(store, user.user_id, user_metadata=expected)

    check()
    edge.check()


@pytest.mark.parametrize(
    "number",
    [
        0,
        1,
        -1,
        2**53 + 1,
        2**63,
        -(2**63),
        1.0,
        -2.5,
        0.1,
        1e16,
        1.5e300,
        1e308,
        -1e308,
        5e-324,
        2.2250738585072014e-308,
        1e-7,
        123456789.123456789,
    ],
)
def test_numbers_keep_their_type_and_value(edge: Edge, number: float) -> None:
    """An int comes back an int and a float the same float, on every backend; -0.0 is 0.0."""
    store = edge.store
    metadata = {"n": number, "list": [number, {"n": number}]}
    user = store.create_user(DB, email=edge.email(), password=PASSWORD, user_metadata=metadata)
    _stored_exactly(store, user.user_id, user_metadata=metadata)
    store.update_user(user.user_id, app_metadata={"n": number})
    _stored_exactly(store, user.user_id, app_metadata={"n": number})
    if isinstance(number, int) and -(2**63) <= number < 2**63:
        found = store.list_users(q=f"user_metadata.n:{number}").users
        assert [u.user_id for u in found] == [user.user_id]
    elif isinstance(number, int):
        with pytest.raises(errors.InvalidQueryError, match="64 bits"):
            store.list_users(q=f"user_metadata.n:{number}")
    edge.check()


def test_negative_zero_is_zero_everywhere(edge: Edge) -> None:
    store = edge.store
    user = store.create_user(DB, email=edge.email(), password=PASSWORD, user_metadata={"z": -0.0})
    assert canonical(user.user_metadata) == canonical({"z": 0.0})
    store.update_user(user.user_id, app_metadata={"z": [-0.0]})
    assert canonical(store.get_user(user.user_id).app_metadata) == canonical({"z": [0.0]})
    edge.check()


# -- nesting and size limits ---------------------------------------------------------------------


def _nested(depth: int, *, leaf: Any = "bottom", kind: str = "object") -> Any:
    value = leaf
    for _ in range(depth):
        value = {"k": value} if kind == "object" else [value]
    return value


@pytest.mark.parametrize("kind", ["object", "array"])
def test_nesting_up_to_the_limit_is_kept_exactly(edge: Edge, kind: str) -> None:
    metadata = {"deep": _nested(limits.METADATA_MAX_DEPTH - 1, kind=kind)}  # the object: level 1
    user = edge.store.create_user(DB, email=edge.email(), password=PASSWORD, user_metadata=metadata)
    _stored_exactly(edge.store, user.user_id, user_metadata=metadata)
    edge.check()


@pytest.mark.parametrize("depth", [limits.METADATA_MAX_DEPTH, 1000, 100_000])
@pytest.mark.parametrize("kind", ["object", "array"])
def test_deeper_nesting_is_refused_without_recursion_errors(
    edge: Edge, depth: int, kind: str
) -> None:
    store = edge.store
    before = store.backend.count_users()
    metadata = {"deep": _nested(depth, kind=kind)}
    with pytest.raises(errors.PayloadValidationError, match="nested too deeply") as caught:
        store.create_user(DB, email=edge.email(), password=PASSWORD, user_metadata=metadata)
    assert f"maximum depth {limits.METADATA_MAX_DEPTH}" in caught.value.message
    user = store.create_user(DB, email=edge.email(), password=PASSWORD)
    with pytest.raises(errors.PayloadValidationError, match="nested too deeply"):
        store.update_user(user.user_id, app_metadata=metadata)
    assert store.get_user(user.user_id) == user
    assert store.backend.count_users() == before + 1
    edge.check()


def test_a_cycle_is_refused_like_deep_nesting(edge: Edge) -> None:
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    with pytest.raises(errors.PayloadValidationError, match="nested too deeply"):
        edge.store.create_user(DB, email=edge.email(), password=PASSWORD, user_metadata=cycle)
    assert edge.check() == []


def _metadata_of_bytes(size: int, char: str) -> dict[str, str]:
    """``{"x": "ccc..."}`` whose compact UTF-8 JSON is exactly ``size`` bytes."""
    overhead = len(b'{"x":""}')
    width = len(char.encode())
    assert (size - overhead) % width == 0
    return {"x": char * ((size - overhead) // width)}


@pytest.mark.parametrize(
    "char", ["a", "é", "日", "😀"], ids=["1-byte", "2-byte", "3-byte", "4-byte"]
)
def test_metadata_at_the_size_limit_is_kept_and_one_byte_more_refused(
    edge: Edge, char: str
) -> None:
    store = edge.store
    limit = limits.METADATA_MAX_BYTES
    width = len(char.encode())
    size = limit - (limit - 8) % width  # the largest size this character can fill exactly
    fits = _metadata_of_bytes(size, char)
    user = store.create_user(DB, email=edge.email(), password=PASSWORD, user_metadata=fits)
    _stored_exactly(store, user.user_id, user_metadata=fits)
    over = {"x": fits["x"] + char}
    with pytest.raises(errors.PayloadValidationError, match="Metadata is too large"):
        store.create_user(DB, email=edge.email(), password=PASSWORD, user_metadata=over)
    with pytest.raises(errors.PayloadValidationError, match="Metadata is too large"):
        store.update_user(user.user_id, app_metadata=over)
    _stored_exactly(store, user.user_id, user_metadata=fits, app_metadata=None)
    assert len(edge.check()) == 1


def test_patches_cannot_grow_metadata_past_the_limit(edge: Edge) -> None:
    """Each PATCH is within 16 KiB, but their merge must be too; a refused one writes nothing."""
    store = edge.store
    half = "y" * (limits.METADATA_MAX_BYTES // 2)
    user = store.create_user(DB, email=edge.email(), password=PASSWORD, user_metadata={"a": half})
    before = store.list_events(user_id=user.user_id)
    with pytest.raises(errors.PayloadValidationError, match="Metadata is too large") as caught:
        store.update_user(user.user_id, user_metadata={"b": half}, name="Changed")
    assert "on property user_metadata" in caught.value.message
    assert store.get_user(user.user_id) == user
    assert store.list_events(user_id=user.user_id) == before
    replaced = store.update_user(user.user_id, user_metadata={"a": None, "b": half})
    assert replaced.user_metadata == {"b": half}
    assert len(edge.check()) == 1


def test_strings_at_their_maximum_lengths_are_kept(edge: Edge) -> None:
    store = edge.store
    astral = "😀" * 150  # 300 UTF-16 units, as Auth0 counts
    user = store.create_user(
        NAMED,
        email=edge.email(),
        username="u" * 128,
        password=PASSWORD,
        name=astral,
        nickname="n" * 300,
        given_name="g" * 150,
        family_name="f" * 150,
        user_id="i" * limits.USER_ID_MAX,
    )
    _stored_exactly(store, user.user_id, name=astral, nickname="n" * 300, username="u" * 128)
    assert user.user_id == "auth0|" + "i" * limits.USER_ID_MAX
    edge.check()


def test_huge_strings_are_refused_quickly_and_write_nothing(edge: Edge) -> None:
    store = edge.store
    huge = "x" * 1_000_000
    started = time.perf_counter()
    for field in ("name", "nickname", "given_name", "family_name", "user_id", "email", "picture"):
        body = {"email": edge.email(), "password": PASSWORD, field: huge}
        with pytest.raises(errors.PayloadValidationError):
            store.create_user(DB, **body)
    with pytest.raises(errors.PayloadValidationError, match="maximum 128"):
        store.create_user(NAMED, email=edge.email(), username=huge, password=PASSWORD)
    with pytest.raises(errors.PayloadValidationError):
        store.create_user("sms", phone_number="+" + "1" * 1_000_000)
    with pytest.raises(errors.PayloadValidationError, match="too large"):
        store.create_user(DB, email=edge.email(), password=PASSWORD, user_metadata={"x": huge})
    with pytest.raises(errors.PayloadValidationError, match="too large"):
        store.create_user(DB, email=edge.email(), password=PASSWORD, user_metadata={huge: 1})
    assert store.list_users(q=f"name:{huge}").users == ()
    assert store.list_users(q=f'user_metadata.x:"{huge}"').users == ()
    assert store.get_users_by_email(huge + "@example.com") == []
    with pytest.raises(errors.UserNotFoundError):
        store.get_user(huge)
    assert time.perf_counter() - started < 10
    assert edge.check() == []


def test_a_huge_password_is_cut_at_72_bytes_not_stored(edge: Edge) -> None:
    """The legacy policy hashes the first 72 bytes (Auth0's rule); nothing else keeps it."""
    store = edge.store
    huge = "Correct-Horse-9" + "x" * 1_000_000
    user = store.create_user(DB, email=edge.email(), password=huge)
    assert user.email is not None
    assert store.authenticate(DB, user.email, huge).user_id == user.user_id
    assert store.authenticate(DB, user.email, huge[:72]).user_id == user.user_id
    found = store.backend.find_user(store.get_connection(DB).id, "email", user.email)
    assert found is not None
    assert found[1] is not None
    assert found[1].startswith("$2b$04$")
    edge.check()


# -- NUL characters and lone surrogates: refused everywhere, found nowhere -----------------------

UNSTORABLE = [
    pytest.param("\x00", "NUL character", id="nul"),
    pytest.param("\ud800", "lone surrogate", id="high-surrogate"),
    pytest.param("\udfff", "lone surrogate", id="low-surrogate"),
]
CREATE_FIELDS: dict[str, Callable[[str], object]] = {
    "email": lambda bad: f"a{bad}b@example.com",
    "name": lambda bad: f"Jane{bad}",
    "nickname": lambda bad: bad,
    "given_name": lambda bad: f"{bad}x",
    "family_name": lambda bad: f"x{bad}",
    "picture": lambda bad: f"https://example.com/{bad}.png",
    "user_id": lambda bad: f"abc{bad}def",
    "password": lambda bad: f"Correct-Horse-9{bad}",
    "user_metadata": lambda bad: {"note": f"a{bad}b"},
    "app_metadata": lambda bad: {"deep": [{"x": bad}]},
}


def _counts(store: IdentityStore) -> tuple[int, int]:
    return store.backend.count_users(), len(store.list_events(limit=1_000_000))


@pytest.mark.parametrize(("bad", "named"), UNSTORABLE)
def test_unstorable_characters_are_refused_on_create(edge: Edge, bad: str, named: str) -> None:
    store = edge.store
    before = _counts(store)
    for field, make in CREATE_FIELDS.items():
        body = {"email": edge.email(), "password": PASSWORD, field: make(bad)}
        with pytest.raises(errors.PayloadValidationError) as caught:
            store.create_user(DB, **body)
        assert named in caught.value.message, field
        assert field in caught.value.message
        assert caught.value.to_dict()["statusCode"] == 400
        assert caught.value.to_dict()["errorCode"] == "invalid_body"
    assert _counts(store) == before
    edge.check()


UPDATE_FIELDS: dict[str, Callable[[str], dict[str, Any]]] = {
    "name": lambda bad: {"name": f"x{bad}"},
    "email": lambda bad: {"email": f"x{bad}@example.com"},
    "password": lambda bad: {"password": f"Correct-Horse-9{bad}"},
    "metadata-key": lambda bad: {"user_metadata": {f"k{bad}": 1}},
    "metadata-value": lambda bad: {"app_metadata": {"k": [bad]}},
}


@pytest.mark.parametrize(("bad", "named"), UNSTORABLE)
def test_unstorable_characters_are_refused_on_update(edge: Edge, bad: str, named: str) -> None:
    store = edge.store
    user = store.create_user(DB, email=edge.email(), password=PASSWORD, user_metadata={"a": 1})
    assert user.email is not None
    before = _counts(store)
    for what, fields in UPDATE_FIELDS.items():
        with pytest.raises(errors.PayloadValidationError, match=named):
            store.update_user(user.user_id, **fields(bad))
        assert store.get_user(user.user_id) == user, what
    assert _counts(store) == before
    assert store.authenticate(DB, user.email, PASSWORD).user_id == user.user_id
    edge.check()


@pytest.mark.parametrize(("bad", "named"), UNSTORABLE)
def test_unstorable_characters_are_refused_elsewhere(edge: Edge, bad: str, named: str) -> None:
    store = edge.store
    with pytest.raises(errors.PayloadValidationError, match=named):
        store.create_user(NAMED, email=edge.email(), username=f"a{bad}", password=PASSWORD)
    with pytest.raises(errors.PayloadValidationError, match=named):
        store.create_user("sms", phone_number=f"+1415555{bad}0100")
    with pytest.raises(errors.PayloadValidationError, match=named):
        store.start_passwordless("email", email=f"a{bad}@example.com")
    with pytest.raises(errors.PayloadValidationError, match=named):
        store.create_connection("Odd", strategy="auth0", options={"custom": {"x": f"{bad}"}})
    with pytest.raises(errors.PayloadValidationError, match=named):
        store.create_connection("Odd", strategy="auth0", options={f"key{bad}": 1})
    with pytest.raises(errors.PayloadValidationError):
        store.update_connection(NAMED, options={"requires_username": True, "x": bad})
    assert store.get_connection(NAMED).options["requires_username"] is True
    assert [c.name for c in store.list_connections()] == [DB, "email", "sms", NAMED]
    assert edge.check() == []


@pytest.mark.parametrize(("bad", "named"), UNSTORABLE)
def test_look_ups_by_unstorable_strings_find_nothing(edge: Edge, bad: str, named: str) -> None:
    store = edge.store
    user = store.create_user(DB, email=edge.email(), password=PASSWORD, name="Jane")
    assert user.email is not None
    before = _counts(store)
    with pytest.raises(errors.UserNotFoundError):
        store.get_user(user.user_id + bad)
    with pytest.raises(errors.UserNotFoundError):
        store.update_user(user.user_id + bad, name="x")
    store.delete_user(user.user_id + bad)
    assert store.get_users_by_email(user.email + bad) == []
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, user.email + bad, PASSWORD)
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, user.email, PASSWORD + bad)
    with pytest.raises(errors.PayloadValidationError, match=named):  # the name is in the body
        store.create_user(DB + bad, email=edge.email(), password=PASSWORD)
    with pytest.raises(errors.ConnectionNotFoundError):
        store.get_connection(DB + bad)
    with pytest.raises(errors.UnknownConnectionError):
        store.list_users(connection=DB + bad)
    assert store.list_events(user_id=user.user_id + bad) == []
    assert store.list_events(type="ss" + bad) == []
    with pytest.raises(errors.InvalidTicketError):
        store.verify_email("token" + bad)
    with pytest.raises(errors.BadRequestError, match="ip must be"):  # never stored
        store.authenticate(DB, user.email, PASSWORD, ip="10.0.0.1" + bad)
    with pytest.raises(errors.BadRequestError, match="ip must be"):
        store.start_passwordless("email", email=edge.email(), ip=bad)
    with pytest.raises(errors.BadRequestError, match="ip must be"):
        store.verify_passwordless("email", email=edge.email(), code="123456", ip=bad)
    for q in (
        f"name:Jane{bad}",
        f'name:"Jane{bad}"',
        f"NOT name:x{bad}",
        f"user_metadata.a:{bad}*",
    ):
        with pytest.raises(errors.InvalidQueryError, match="NUL character or a lone surrogate"):
            store.list_users(q=q)
    assert store.get_user(user.user_id) == user
    after = _counts(store)
    assert after[0] == before[0]  # failed sign-ins are logged, nothing else changed
    edge.check()


# -- list_users queries: values and fields that try to escape ------------------------------------


def test_queries_match_tricky_values_exactly(edge: Edge) -> None:
    store = edge.store
    users = {}
    for text in [t for t in TRICKY if t and '"' not in t and "\\" not in t]:
        users[text] = store.create_user(
            DB, email=edge.email(), password=PASSWORD, name=text, user_metadata={"v": text}
        )
    for text, user in users.items():
        for q in (f'name:"{text}"', f'user_metadata.v:"{text}"'):
            assert [u.user_id for u in store.list_users(q=q).users] == [user.user_id], q
    # LIKE wildcards in a prefix are plain characters
    for name in ("50%_off", "50 off", "5000", "a_b", "axb"):
        users[name] = store.create_user(DB, email=edge.email(), password=PASSWORD, name=name)
    for prefix, expected in (("50%", "50%_off"), ("%", "%"), ("_", "_"), ("a_", "a_b")):
        found = [u.user_id for u in store.list_users(q=f"name:{prefix}*", per_page=100).users]
        assert found == [users[expected].user_id], prefix
    edge.check()


def test_escaped_quotes_and_backslashes_in_queries(edge: Edge) -> None:
    store = edge.store
    quoted = store.create_user(DB, email=edge.email(), password=PASSWORD, name='say "hi"')
    slashed = store.create_user(DB, email=edge.email(), password=PASSWORD, name="back\\slash")
    assert [u.user_id for u in store.list_users(q=r'name:"say \"hi\""').users] == [quoted.user_id]
    assert [u.user_id for u in store.list_users(q=r'name:"back\\slash"').users] == [slashed.user_id]
    edge.check()


@pytest.mark.parametrize(
    "q",
    [
        "user_metadata.a'b:x",
        'user_metadata.a"b:x',
        "user_metadata.a]:x",
        "user_metadata.$:x",
        "user_metadata..a:x",
        "user_metadata.:x",
        "user_metadata:x",
        "password_hash:x",
        "users.email:x",
        "email:x) OR (1=1",
        "name:x; DROP TABLE users",
        "name:x' OR '1'='1",
        "(name:x)",
        "name:[a TO b] OR 1=1",
        "name:a?b",
        "logins_count:99999999999999999999",
        "logins_count:[0 TO 99999999999999999999]",
        "user_metadata.n:-99999999999999999999",
        "name:*a",
        'user_id:"x" --',
    ],
)
def test_queries_never_reach_storage_as_sql(edge: Edge, q: str) -> None:
    """Each is refused, or is a plain (non-matching) comparison: never more users than asked."""
    store = edge.store
    store.create_user(DB, email=edge.email(), password=PASSWORD, name="x", user_metadata={"a": "x"})
    store.create_user(DB, email=edge.email(), password=PASSWORD, name="y")
    try:
        found = store.list_users(q=q).users
    except errors.InvalidQueryError:
        pass
    else:
        assert len(found) <= 1, q
    assert len(edge.check()) == 2


@pytest.mark.parametrize(
    "sort", ["name:1; DROP TABLE users", "user_metadata.a:1", "password_hash:1", "name:1, email:1"]
)
def test_sorts_outside_the_list_are_refused(edge: Edge, sort: str) -> None:
    with pytest.raises(errors.InvalidQueryError, match="Cannot sort by"):
        edge.store.list_users(sort=sort)
    edge.check()


def test_metadata_keys_are_queried_as_keys_not_paths(edge: Edge) -> None:
    """``user_metadata.a.b`` reads key ``b`` inside object ``a``: keys with dots cannot exist."""
    store = edge.store
    nested = store.create_user(
        DB, email=edge.email(), password=PASSWORD, user_metadata={"a": {"b": "x"}, "ab": "x"}
    )
    assert [u.user_id for u in store.list_users(q="user_metadata.a.b:x").users] == [nested.user_id]
    assert store.list_users(q="user_metadata.a:x").users == ()
    assert [u.user_id for u in store.list_users(q="user_metadata.ab:x").users] == [nested.user_id]
    edge.check()


def test_a_huge_query_is_answered_quickly(edge: Edge) -> None:
    store = edge.store
    store.create_user(DB, email=edge.email(), password=PASSWORD)
    started = time.perf_counter()
    with pytest.raises(errors.InvalidQueryError, match="Cannot parse"):
        store.list_users(q=" AND ".join(f"name:n{i}" for i in range(90)) + " (")
    most = " ".join(f"NOT name:n{i}" for i in range(MAX_TERMS))
    assert len(store.list_users(q=most).users) == 1
    for terms in (MAX_TERMS + 1, 1001, 50_000):
        with pytest.raises(errors.InvalidQueryError, match=f"at most {MAX_TERMS} terms"):
            store.list_users(q=" ".join(f"NOT name:n{i}" for i in range(terms)))
    assert time.perf_counter() - started < 10
    assert len(edge.check()) == 1
