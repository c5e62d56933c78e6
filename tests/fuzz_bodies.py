"""The project's own fuzzers for ``create_user``, on top of ``identitystore.strategies``.

The public strategies (valid bodies, one violation each) live in ``identitystore.strategies``; what
stays here only makes sense for identitystore's own tests: several schema violations in one body
(z-schema's sentence order) and arbitrary Python values where JSON is expected (``chaos_bodies``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from hypothesis import strategies as st

from identitystore import Connection, IdentityStore
from identitystore.limits import CREATE_USER_FIELDS
from identitystore.strategies import (
    JSON_SCALARS,
    JSON_VALUES,
    METADATA_KEYS,
    InvalidBody,
    create_user_bodies,
    invalid_create_user_bodies,
    payload_error,
    schema_breakers,
)

__all__ = [
    "COMMON",
    "CONNECTIONS",
    "EXTRA_CONNECTIONS",
    "KINDS",
    "PROVIDERS",
    "STRICT",
    "STRICT_OPTIONS",
    "Case",
    "add_connections",
    "chaos_bodies",
    "invalid_cases",
    "multi_violation_cases",
    "valid_bodies",
]

DB = "Username-Password-Authentication"  # passwordPolicy "good"
#: A database connection with usernames and the strictest legacy password options.
STRICT = "Strict-Members"
STRICT_OPTIONS: dict[str, Any] = {
    "requires_username": True,
    "passwordPolicy": "excellent",
    "password_dictionary": {"enable": True, "dictionary": ["Correct-Horse-9", "Tr0ub4dor&3x"]},
    "password_no_personal_info": {"enable": True},
}
#: A database connection whose other rules thousands of common words pass, so that the dictionary
#: (and the personal-info rule) is what refuses them.
COMMON = "Common-Words"
COMMON_OPTIONS: dict[str, Any] = {
    "passwordPolicy": "low",
    "password_dictionary": {"enable": True},
    "password_no_personal_info": {"enable": True},
}
#: The connections the stores of the fuzz tests add to the default ones: name -> options.
EXTRA_CONNECTIONS = {STRICT: STRICT_OPTIONS, COMMON: COMMON_OPTIONS}
KINDS = ("database", "strict", "common", "email", "sms")
CONNECTIONS = {"database": DB, "strict": STRICT, "common": COMMON, "email": "email", "sms": "sms"}
PROVIDERS = {"database": "auth0", "strict": "auth0", "common": "auth0", "email": "email"}
PROVIDERS["sms"] = "sms"
_TARGETS: dict[str, Connection | str] = {
    **CONNECTIONS,
    "strict": Connection(id="con_strict", name=STRICT, strategy="auth0", options=STRICT_OPTIONS),
    "common": Connection(id="con_common", name=COMMON, strategy="auth0", options=COMMON_OPTIONS),
}


def add_connections(store: IdentityStore) -> IdentityStore:
    """``store`` with ``EXTRA_CONNECTIONS`` created in it."""
    for name, options in EXTRA_CONNECTIONS.items():
        store.create_connection(name, strategy="auth0", options=options)
    return store


def valid_bodies(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies (without ``connection``) the connection of ``kind`` accepts."""
    return create_user_bodies(_TARGETS[kind])


def invalid_cases() -> st.SearchStrategy[InvalidBody]:
    """One-violation cases on any of the four kinds of connection."""
    return st.sampled_from(KINDS).flatmap(lambda kind: invalid_create_user_bodies(_TARGETS[kind]))


@dataclass(frozen=True)
class Case:
    """A create_user call that must fail with a ``PayloadValidationError`` of these sentences."""

    label: str
    connection: Any
    fields: dict[str, Any]
    message: str
    sentences: tuple[str, ...]


def _invalid_body(label: str, connection: Any, fields: dict[str, Any], *sentences: str) -> Case:
    return Case(label, connection, fields, " (also) ".join(sentences), sentences)


_ALL_PROPS = tuple(CREATE_USER_FIELDS)

# -- several violations ----------------------------------------------------------------------------

_UNKNOWN = "<unknown properties>"


@st.composite
def multi_violation_cases(draw: st.DrawFn) -> Case:
    """2-5 independent schema violations in one body (each one sentence), keys in random order.

    Expected order (z-schema): the root's ``Additional properties not allowed`` first, then the
    properties' sentences walking the body's keys in reverse; ``connection`` is the body's first
    key (``create_user`` puts it there), so its sentence comes last.
    """
    kind = draw(st.sampled_from(KINDS))
    body = draw(valid_bodies(kind))
    slots = draw(
        st.lists(st.sampled_from([*_ALL_PROPS, _UNKNOWN]), min_size=2, max_size=5, unique=True)
    )
    connection: Any = CONNECTIONS[kind]
    sentences: dict[str, str] = {}
    unknown: list[str] = []
    for slot in slots:
        if slot == _UNKNOWN:
            unknown = draw(
                st.lists(
                    st.text(max_size=12).filter(lambda k: k not in CREATE_USER_FIELDS),
                    min_size=1,
                    max_size=3,
                    unique=True,
                )
            )
            for key in unknown:
                body[key] = draw(JSON_VALUES)
            continue
        value, sentences[slot] = draw(schema_breakers(slot))
        if slot == "connection":
            connection = value
        else:
            body[slot] = value
    order = draw(st.permutations(list(body)))
    body = {key: body[key] for key in order}
    expected: list[str] = []
    if unknown:
        shown = ",".join(key for key in body if key in unknown)
        expected.append(payload_error(f"Additional properties not allowed: {shown}"))
    expected += [sentences[key] for key in reversed(["connection", *body]) if key in sentences]
    return _invalid_body(f"{len(slots)} violations on {kind}", connection, body, *expected)


# -- anything --------------------------------------------------------------------------------------


def _nested_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


class HugeInt(int):
    """An int too long for ``repr`` (Python refuses 4300+ digits); behaves as ``int`` otherwise."""

    def __repr__(self) -> str:
        return f"HugeInt(<{self.bit_length()} bits>)"


_SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
NON_JSON = st.one_of(
    st.binary(max_size=8),
    st.sets(st.integers(), max_size=3),
    st.frozensets(st.text(max_size=3), max_size=3),
    st.datetimes(timezones=st.just(timezone.utc)) | st.just(datetime(2020, 1, 1)),
    st.sampled_from([math.nan, math.inf, -math.inf, 10**400, 2**1024, Decimal("1.5"), 1j]),
    st.integers(min_value=2**64) | st.integers(max_value=-(2**64)),
    st.integers(4300, 6000).map(lambda digits: HugeInt(-(10**digits))),
    st.tuples(st.text(max_size=3), _SURROGATES, st.text(max_size=3)).map("".join),
    st.sampled_from(["x", "é", "😀", " ", "\x00"]).map(lambda c: c * 100_000),
    st.integers(30, 2000).map(_nested_list),
    st.tuples(st.integers(), st.text(max_size=3)),
    st.dictionaries(st.text(max_size=4), JSON_SCALARS, max_size=3).map(MappingProxyType),
    st.just(object()),
)
_ANY_KEYS = st.one_of(
    METADATA_KEYS,
    st.sampled_from(["a.b", "$set", "email", "name", "first", "user_id", ""]),
    st.integers(),
    st.none(),
)
ANY_VALUES = st.recursive(
    st.one_of(JSON_SCALARS, NON_JSON),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(_ANY_KEYS, children, max_size=3)
        | st.tuples(children, children)
    ),
    max_leaves=8,
)
_FIELD_NAMES = st.one_of(
    st.sampled_from([f for f in CREATE_USER_FIELDS if f != "connection"]),
    st.text(max_size=15).filter(lambda k: k != "connection"),
)


#: Python values that look like JSON to a careless ``isinstance`` check.
ALMOST_JSON = st.one_of(
    st.integers(4300, 6000).map(lambda digits: HugeInt(10**digits)),
    st.sampled_from([10**400, -(2**1024), 2**1024 - 1, math.nan, math.inf]),
    st.lists(JSON_SCALARS, max_size=3).map(tuple),
    st.dictionaries(METADATA_KEYS, JSON_SCALARS, max_size=3).map(MappingProxyType),
    st.floats(allow_nan=False, allow_infinity=False).map(Decimal),
)
_METADATA_CHAOS = st.one_of(
    st.builds(  # valid metadata but for one odd value
        lambda metadata, key, value: {**metadata, key: value},
        st.dictionaries(METADATA_KEYS, JSON_VALUES, max_size=3),
        METADATA_KEYS,
        ALMOST_JSON,
    ),
    st.dictionaries(_ANY_KEYS, ANY_VALUES, max_size=4),
    st.dictionaries(METADATA_KEYS, ANY_VALUES, max_size=4).map(MappingProxyType),
    ANY_VALUES,
)
_CHAOS_METADATA_FIELDS = st.fixed_dictionaries(
    {}, optional={"user_metadata": _METADATA_CHAOS, "app_metadata": _METADATA_CHAOS}
)


@st.composite
def chaos_bodies(draw: st.DrawFn) -> tuple[Any, dict[str, Any]]:
    """(connection, fields): anything at all, or a valid body with some fields overwritten.

    ``connection`` is never among the fields: ``create_user`` refuses that with a ``TypeError``
    (a programming error in the call, not a bad request).
    """
    connection = draw(
        st.one_of(
            st.sampled_from(list(CONNECTIONS.values())),
            st.text(max_size=20),
            ANY_VALUES,
        )
    )
    if draw(st.booleans()):
        fields = {
            **draw(st.dictionaries(_FIELD_NAMES, ANY_VALUES, max_size=8)),
            **draw(_CHAOS_METADATA_FIELDS),
        }
    else:
        kind = draw(st.sampled_from(KINDS))
        fields = draw(valid_bodies(kind))
        for key in draw(st.lists(st.sampled_from(list(fields)), max_size=2, unique=True)):
            del fields[key]
        fields = {
            **fields,
            **draw(st.dictionaries(_FIELD_NAMES, ANY_VALUES, max_size=3)),
            **draw(_CHAOS_METADATA_FIELDS),
        }
        if draw(st.booleans()):
            connection = CONNECTIONS[kind]
    return connection, fields
