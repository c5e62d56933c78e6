"""Every error can be sent: its body encodes as UTF-8 JSON and its message has a bounded length,
whatever caller input it echoes (lone surrogates, a million characters, odd objects)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identitystore import IdentityStore, IdentityStoreError, PasswordHasher, errors
from identitystore.errors import ECHO_MAX_LENGTH, MESSAGE_MAX_LENGTH, echo

DB = "Username-Password-Authentication"
FAST = PasswordHasher.fast_for_tests()
LONG = "k" * 1_000_000


def assert_sendable(error: IdentityStoreError) -> None:
    """``error``'s body encodes as UTF-8 JSON; its message is at most ``MESSAGE_MAX_LENGTH``."""
    body = error.to_dict()
    json.dumps(body, ensure_ascii=False).encode("utf-8")  # raises on a lone surrogate
    assert isinstance(body["message"], str)
    assert len(error.message) <= MESSAGE_MAX_LENGTH, len(error.message)
    assert str(error) == error.message
    for problem in getattr(error, "errors", ()):
        problem.encode("utf-8")
        assert len(problem) <= MESSAGE_MAX_LENGTH
    if isinstance(error, errors.AuthenticationError):
        json.dumps(error.to_oauth_dict(), ensure_ascii=False).encode("utf-8")


@pytest.fixture
def store() -> Any:
    with IdentityStore(":memory:", hasher=FAST) as store:
        yield store


# -- the cases the hostile test found, and their neighbours ----------------------------------------


def test_an_unknown_property_with_a_lone_surrogate(store: IdentityStore) -> None:
    with pytest.raises(errors.PayloadValidationError) as caught:
        store.create_user(DB, email="a@x.io", password="Correct-Horse-9", **{"x\ud800y": 1})
    assert_sendable(caught.value)
    assert caught.value.message == (
        "Payload validation error: 'Additional properties not allowed: x\\ud800y'."
    )


def test_a_million_character_unknown_property(store: IdentityStore) -> None:
    with pytest.raises(errors.PayloadValidationError) as caught:
        store.create_user(DB, email="a@x.io", password="Correct-Horse-9", **{LONG: 1})
    assert_sendable(caught.value)
    shown = "k" * ECHO_MAX_LENGTH + f"... ({len(LONG) - ECHO_MAX_LENGTH:,} more characters)"
    assert caught.value.message == (
        f"Payload validation error: 'Additional properties not allowed: {shown}'."
    )


def test_a_patch_with_a_long_unknown_property(store: IdentityStore) -> None:
    user = store.create_user(DB, email="a@x.io", password="Correct-Horse-9")
    with pytest.raises(errors.PayloadValidationError) as caught:
        store.update_user(user.user_id, **{LONG + "\udfff": 1})
    assert_sendable(caught.value)
    assert "consider storing them in app_metadata" in caught.value.message


@pytest.mark.parametrize(
    "metadata",
    [
        {"a.\ud800": 1},  # the '.' sentence shows the key's path
        {"a.b" + LONG: 1},
        {LONG: {"x": "\x00"}},  # a deeper sentence shows the long key in the path
        {"\udc00" + LONG: 1},
    ],
    ids=["surrogate-in-dotted-key", "long-dotted-key", "long-key-in-path", "surrogate-long-key"],
)
def test_metadata_keys_are_shown_escaped_and_cut(
    store: IdentityStore, metadata: dict[str, Any]
) -> None:
    with pytest.raises(errors.PayloadValidationError) as caught:
        store.create_user(DB, email="a@x.io", password="Correct-Horse-9", user_metadata=metadata)
    assert_sendable(caught.value)
    assert len(caught.value.message) < 600


@pytest.mark.parametrize(
    ("q", "sort"),
    [
        (LONG + ":x", None),  # Unsupported field in query: kkk...
        ("logins_count:" + LONG, None),
        ("blocked:" + LONG, None),
        ("created_at:" + LONG, None),
        ("created_at:[" + LONG + " TO *]", None),
        (f"logins_count:{10**200}", None),
        ('email:"' + LONG, None),  # an unterminated quote: cannot parse
        (None, "\ud800:1"),
        (None, LONG + ":1"),
    ],
)
def test_queries_and_sorts_are_shown_escaped_and_cut(
    store: IdentityStore, q: str | None, sort: str | None
) -> None:
    with pytest.raises(errors.InvalidQueryError) as caught:
        store.list_users(q=q, sort=sort)
    assert_sendable(caught.value)
    assert len(caught.value.message) < 800


@pytest.mark.parametrize(
    ("name", "strategy"),
    [
        ("\ud800-bad", "auth0"),
        (LONG + "-", "auth0"),
        (["not", "a", "name"] * 100_000, "auth0"),
        ("fine", "\ud800" + LONG),  # Unknown strategy: ...
    ],
    ids=["surrogate-name", "long-name", "list-name", "odd-strategy"],
)
def test_connection_settings_are_shown_escaped_and_cut(
    store: IdentityStore, name: Any, strategy: str
) -> None:
    with pytest.raises(errors.PayloadValidationError) as caught:
        store.create_connection(name, strategy=strategy)
    assert_sendable(caught.value)


def test_errors_built_by_callers_are_sendable() -> None:
    """The classes themselves hold the rule, for messages built anywhere (storage, plugins)."""
    built = [
        errors.FieldNotAllowedError(["\ud800", LONG]),
        errors.ConflictingFieldsError("\udfff", LONG),
        errors.InvalidQueryError("\ud800" * 100_000),
        errors.StorageError("The database failed: " + LONG),
        errors.WrongCodeError("\ud800"),
        errors.PayloadValidationError(["\ud800" * 10, LONG, *["short problem"] * 10_000]),
    ]
    for error in built:
        assert_sendable(error)


def test_many_problems_are_counted_not_listed() -> None:
    problems = [f"Payload validation error: 'problem {i}'." for i in range(1000)]
    error = errors.PayloadValidationError(problems)
    assert error.errors == tuple(problems)  # all kept, one by one
    assert error.message.startswith(" (also) ".join(problems[:10]))
    listed = error.message.count("Payload validation error")
    assert 50 < listed < 1000
    assert error.message.endswith(f" (also) {1000 - listed} more problems.")
    assert len(error.message) <= MESSAGE_MAX_LENGTH


def test_short_input_is_echoed_as_it_is() -> None:
    """What Auth0 echoes verbatim stays verbatim: text up to ``ECHO_MAX_LENGTH``, control
    characters included (z-schema shows a trailing newline of a phone number as it is)."""
    for text in ["", "a b", "+1555\n", "é😀", "x" * ECHO_MAX_LENGTH]:
        assert echo(text) == text
    assert echo(5) == "5"
    assert echo(None) == "None"
    assert echo("x" * (ECHO_MAX_LENGTH + 1)) == "x" * ECHO_MAX_LENGTH + "... (1 more characters)"


def test_echo_never_fails() -> None:
    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    huge = 10**5000  # its repr raises ValueError (more than 4300 digits)
    assert echo(Unprintable()).startswith("<Unprintable")
    assert len(echo(huge)) <= ECHO_MAX_LENGTH + 40
    nested: list[Any] = []
    for _ in range(10_000):
        nested = [nested]
    assert len(echo(nested)) <= ECHO_MAX_LENGTH + 40


# -- the property: any input, every error sendable -------------------------------------------------

_SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
_CHARS = st.one_of(st.characters(), _SURROGATES, st.sampled_from('\x00.$:*[]{} "\\'))
HOSTILE_TEXT = st.one_of(
    st.text(_CHARS, max_size=20),
    st.tuples(st.text(_CHARS, min_size=1, max_size=3), st.integers(1_000, 300_000)).map(
        lambda piece_times: piece_times[0] * piece_times[1]
    ),
    st.sampled_from(["", "a.b", "$set", "user_metadata", "*", "NOT x:", "[a TO b]", "\ud800"]),
)
HOSTILE_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        HOSTILE_TEXT,
        st.sampled_from([10**400, b"bytes", object()]),
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(HOSTILE_TEXT, children, max_size=3)
    ),
    max_leaves=6,
)
FIELD_NAMES = st.one_of(
    st.sampled_from(
        ["email", "username", "phone_number", "name", "picture", "user_id", "password", "blocked"]
    ),
    HOSTILE_TEXT,
).filter(lambda key: key != "connection")
QUERY_FIELDS = st.sampled_from(
    ["email", "blocked", "logins_count", "created_at", "last_login", "user_metadata.a", "name"]
)
QUERIES = st.one_of(
    HOSTILE_TEXT,
    st.tuples(QUERY_FIELDS, HOSTILE_TEXT).map(":".join),
    st.tuples(QUERY_FIELDS, HOSTILE_TEXT, HOSTILE_TEXT).map(lambda t: f"{t[0]}:[{t[1]} TO {t[2]}]"),
)


def _refusal(call: Any, *args: Any, **kwargs: Any) -> IdentityStoreError | None:
    try:
        call(*args, **kwargs)
    except IdentityStoreError as error:
        return error
    return None


@given(
    connection=st.one_of(st.just(DB), st.just("email"), HOSTILE_TEXT),
    fields=st.dictionaries(FIELD_NAMES, HOSTILE_VALUES, max_size=4),
    metadata=st.dictionaries(HOSTILE_TEXT, HOSTILE_VALUES, max_size=3),
    patch=st.dictionaries(FIELD_NAMES, HOSTILE_VALUES, max_size=3),
    q=QUERIES,
    sort=st.none() | HOSTILE_TEXT,
    name=HOSTILE_TEXT,
    options=st.dictionaries(HOSTILE_TEXT, HOSTILE_VALUES, max_size=3),
)
def test_any_input_gives_only_sendable_identitystore_errors(
    connection: str,
    fields: dict[str, Any],
    metadata: dict[str, Any],
    patch: dict[str, Any],
    q: str,
    sort: str | None,
    name: str,
    options: dict[str, Any],
) -> None:
    """Arbitrary input raises nothing but ``IdentityStoreError``s, each one sendable."""
    with IdentityStore(":memory:", hasher=FAST) as store:
        user = store.create_user(DB, email="a@x.io", password="Correct-Horse-9")
        refusals = [
            _refusal(store.create_user, connection, **{**fields, "user_metadata": metadata}),
            _refusal(store.update_user, user.user_id, **patch),
            _refusal(store.update_user, user.user_id, app_metadata=metadata),
            _refusal(store.list_users, q=q),
            _refusal(store.list_users, sort=sort),
            _refusal(store.create_connection, name, strategy="auth0", options=options),
            _refusal(store.create_connection, "fine", strategy=name),
            _refusal(store.authenticate, DB, name, name),
            _refusal(store.get_user, name),
        ]
    for error in refusals:
        if error is not None:
            assert_sendable(error)
