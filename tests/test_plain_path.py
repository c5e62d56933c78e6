"""The short path of ``create_user`` for plain bodies gives exactly what the full path gives.

``plain_create_input`` skips the generic schema walk for bodies whose every property is an ASCII
string within its schema rules or a boolean. For any body at all it must either decline (None) or
return the very input ``check_create_body`` + ``validate_for_connection`` produce; and a body the
full path refuses must always be declined.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from identitystore import IdentityStore, IdentityStoreError, PasswordHasher, limits
from identitystore._models import copy_json
from identitystore._validation import (
    CreateUserInput,
    check_create_body,
    metadata_problems,
    plain_create_input,
    plain_metadata,
    validate_for_connection,
)
from identitystore.strategies import InvalidBody

from .fuzz_bodies import (
    CONNECTIONS,
    KINDS,
    PROVIDERS,
    STRICT,
    add_connections,
    chaos_bodies,
    invalid_cases,
    valid_bodies,
)

STORE = add_connections(IdentityStore(":memory:", hasher=PasswordHasher.fast_for_tests()))
STORE.create_connection(
    "Real-Phones",
    strategy="auth0",
    options={"attributes": {"phone_number": {}}, "phone_number_validation": "valid"},
)
NAMES = [*CONNECTIONS.values(), "Real-Phones"]


def full_path(body: dict[str, Any], name: str) -> Any:
    """The full path's input for ``body`` on connection ``name``, or the error it raises."""
    connection, strategy = STORE._connection_and_strategy(name)
    try:
        check_create_body(body)
        return validate_for_connection(body, strategy, connection.options)
    except IdentityStoreError as exc:
        return exc


def check_agreement(body: dict[str, Any], name: str) -> bool:
    connection, strategy = STORE._connection_and_strategy(name)
    quick: CreateUserInput | IdentityStoreError | None
    try:
        quick = plain_create_input(body, strategy, connection.options)
    except IdentityStoreError as exc:  # the username rules run on the short path too
        quick = exc
    if quick is None:
        return False
    full = full_path(body, name)
    if isinstance(quick, IdentityStoreError):
        assert isinstance(full, IdentityStoreError)
        assert full.to_dict() == quick.to_dict()
    else:
        assert quick == full
    return True


NOT_PLAIN = ("user_metadata", "app_metadata", "picture", "user_id")
PLAIN_BODIES = (
    st.sampled_from(KINDS)
    .flatmap(valid_bodies)
    .map(lambda body: {k: v for k, v in body.items() if k not in NOT_PLAIN})
)
ASCII = st.characters(min_codepoint=0, max_codepoint=127)
LIMITS = {"name": 300, "nickname": 300, "given_name": 150, "family_name": 150, "username": 128}


def sometimes(draw: st.DrawFn) -> bool:
    return draw(st.integers(0, 3)) == 0


@st.composite
def ascii_bodies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """ASCII bodies for a connection, near every length limit, now and then with one fault."""
    kind = draw(st.sampled_from(KINDS))
    body: dict[str, Any] = {}
    if kind == "sms":
        body["phone_number"] = draw(st.from_regex(r"\+[0-9]{1,15}", fullmatch=True))
    else:
        body["email"] = draw(
            st.from_regex(r"[a-zA-Z0-9._+-]{1,66}@[a-z0-9-]{1,64}\.[a-z]{2,3}", fullmatch=True)
        )
    if PROVIDERS[kind] == "auth0":
        body["password"] = draw(st.text(ASCII, min_size=1, max_size=12))
    if kind == "strict":
        body["username"] = draw(st.from_regex(r"[a-z0-9_.]{1,15}", fullmatch=True))
    for key, high in LIMITS.items():
        if key != "username" and sometimes(draw):
            size = draw(st.sampled_from([1, 2, high - 1, high, high + 1, 0]))
            body[key] = draw(st.text(ASCII, min_size=size, max_size=size))
    flags = ("phone_verified", "blocked") if kind == "sms" else ("email_verified", "verify_email")
    for key in flags:
        if sometimes(draw):
            body[key] = draw(st.booleans())
    if sometimes(draw):  # one fault: a wrong value, a field the connection does not take, ...
        key = draw(st.sampled_from([*body, "phone_number", "email", "username", "password"]))
        body[key] = draw(st.sampled_from([0, 1, None, "", "true", "+1", "a@b", "x" * 129, "é"]))
    if sometimes(draw) and len(body) > 1:
        del body[draw(st.sampled_from(sorted(body)))]
    return draw(st.just(CONNECTIONS[kind]) | st.sampled_from(NAMES)), body


BODIES = st.one_of(
    PLAIN_BODIES,
    chaos_bodies().map(lambda pair: pair[1]),
    invalid_cases().map(lambda c: c.body),
)
CASES = invalid_cases()


@given(
    st.one_of(
        ascii_bodies(), ascii_bodies(), ascii_bodies(), st.tuples(st.sampled_from(NAMES), BODIES)
    )
)
def test_the_short_path_agrees_with_the_full_path(pair: tuple[str, dict[str, Any]]) -> None:
    name, body = pair
    event("short path" if check_agreement({**body, "connection": name}, name) else "full path")


@given(CASES)
def test_a_refused_body_is_never_accepted_by_the_short_path(case: InvalidBody) -> None:
    assume(isinstance(case.connection, str) and case.connection in NAMES and not case.setup)
    body = {**case.body, "connection": case.connection}
    connection, strategy = STORE._connection_and_strategy(case.connection)
    full = full_path(body, case.connection)
    assume(isinstance(full, IdentityStoreError))  # not one refused later (policy, uniqueness)
    try:
        quick: Any = plain_create_input(body, strategy, connection.options)
    except IdentityStoreError as exc:
        quick = exc
    if quick is not None:
        assert isinstance(quick, IdentityStoreError)
        assert quick.to_dict() == full.to_dict()


def test_common_bodies_take_the_short_path() -> None:
    taken = [
        check_agreement({"connection": "sms", "phone_number": "+14155550100"}, "sms"),
        check_agreement(
            {"connection": "email", "email": "a@b.co", "email_verified": True}, "email"
        ),
        check_agreement(
            {"connection": CONNECTIONS["database"], "email": "Jane@Example.com", "password": "x"},
            CONNECTIONS["database"],
        ),
    ]
    assert taken == [True, True, True]


@pytest.mark.parametrize("key", sorted(LIMITS))
@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_length_limits_are_the_schemas(key: str, extra: int) -> None:
    size = max(LIMITS[key] + extra, 0) if extra else LIMITS[key]
    body = {"connection": STRICT, "email": "a@b.co", "password": "pw", "username": "jane"}
    body[key] = "x" * size
    for text in (body[key], ""):
        check_agreement({**body, key: text}, STRICT)
    if key != "username":  # the connection's own username limit (15) refuses all three
        assert isinstance(full_path(body, STRICT), IdentityStoreError) is (extra == 1)


# -- flat metadata ---------------------------------------------------------------------------

METADATA_KEYS = st.one_of(
    st.text(ASCII, max_size=8),
    st.sampled_from(["a.b", "$x", "nul\x00", "é", "blocked", "clientID", "plan"]),
    st.integers(0, 3),
)
METADATA_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.sampled_from([2**63 - 1, -(2**63), 2**63, -(2**63) - 1]),
    st.text(ASCII, max_size=8),
    st.sampled_from(["é", "\ud800", "nul\x00", "x" * 2730, '"' * 2731, "\x01" * 2731]),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(ASCII, max_size=3), st.integers(), max_size=2),
)


@given(
    st.sampled_from(["user_metadata", "app_metadata"]),
    st.dictionaries(METADATA_KEYS, METADATA_VALUES, max_size=8),
)
def test_flat_metadata_is_what_the_full_check_accepts_and_copies(
    prop: str, value: dict[Any, Any]
) -> None:
    """``plain_metadata`` answers only for metadata without problems, with its ``copy_json``."""
    copy = plain_metadata(prop, value)
    event("flat" if copy is not None else "full check")
    if copy is not None:
        assert metadata_problems(prop, value) == []
        assert copy == copy_json(value)
        assert copy is not value


def test_common_metadata_is_flat_and_the_size_limit_holds() -> None:
    assert plain_metadata("user_metadata", {"plan": "pro", "n": 2, "ok": True, "x": None}) == {
        "plan": "pro",
        "n": 2,
        "ok": True,
        "x": None,
    }
    assert plain_metadata("app_metadata", {"clientID": "x"}) is None  # reserved
    big = {"k": "x" * limits.METADATA_MAX_BYTES}  # over the limit: left to the full check
    assert plain_metadata("user_metadata", big) is None
    assert metadata_problems("user_metadata", big)[0][0] == "PROFILE_SIZE_EXCEEDED"


# -- building frozen dataclasses through their slots -------------------------------------------


def test_a_slots_builder_builds_what_the_dataclass_does() -> None:
    from dataclasses import fields

    from identitystore._models import (
        BulkUser,
        NewUserRecord,
        User,
        build_bulk_user,
        build_record,
        build_user,
    )

    values: list[Any] = [f"v{n}" for n in range(len(fields(User)))]
    user = build_user(*values)
    assert user == User(*values)
    assert hash(user) == hash(User(*values))
    assert [getattr(user, f.name) for f in fields(User)] == values
    record = build_record(user, "con_1", "$2b$hash", None, None, None)
    assert record == NewUserRecord(user, "con_1", "$2b$hash")
    assert build_bulk_user(record, None) == BulkUser(record)
    with pytest.raises(TypeError, match="last_password_reset"):
        build_user(*values[:-1])
