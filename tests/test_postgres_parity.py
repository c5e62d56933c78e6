"""PostgreSQL finds exactly the users SQLite finds: random metadata under a battery of
``list_users`` filters (equality, prefix, ranges, existence, negation), in the same order."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identitystore._models import Connection, NewUserRecord, User
from identitystore.storage import Backend, Filter, UserQuery, open_backend

pytest.importorskip("psycopg")

#: Letters on both sides of the digits, and a non-ASCII one; no quotes or brackets, so that an
#: array or object compares with a string bound by its first character only on either backend.
_TEXT = st.text(alphabet="aAb1zü", max_size=2)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1, 3),
    st.sampled_from([0.0, 1.0, 2.5, -0.5]),
    _TEXT,
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=2), st.dictionaries(st.sampled_from(["x", "y"]), inner, max_size=2)
    ),
    max_leaves=3,
)
_METADATA = st.one_of(st.none(), st.fixed_dictionaries({}, optional={"k": _VALUES, "m": _SCALARS}))
#: Every example runs all of these: what the query parser makes of values (1/0 for true/false,
#: ints, text), prefixes, open and closed ranges of either type, existence, negation.
_BATTERY = (
    *(Filter("user_metadata.k", "eq", v) for v in (0, 1, 2, -1, "a", "", "ü")),
    Filter("user_metadata.k", "eq", 1, negate=True),
    Filter("user_metadata.k.x", "eq", 1),
    Filter("user_metadata.k.x", "eq", "a", negate=True),
    *(Filter("user_metadata.k", "prefix", v) for v in ("a", "A", "1")),
    Filter("user_metadata.k", "prefix", "a", negate=True),
    Filter("user_metadata.k", "range"),
    Filter("user_metadata.k", "range", negate=True),
    Filter("user_metadata.k.x", "range"),
    Filter("user_metadata.k", "range", low=0, include_low=False),
    Filter("user_metadata.k", "range", high=1),
    Filter("user_metadata.k", "range", low=0, high=2, include_high=False),
    Filter("user_metadata.k", "range", low="a"),
    Filter("user_metadata.k", "range", high="a", include_high=False),
    Filter("user_metadata.k", "range", low=1, high="b"),
    Filter("user_metadata.k", "range", low="A", high=3, negate=True),
)


def _record(n: int, metadata: Any) -> NewUserRecord:
    stamp = f"2026-01-02T03:04:{n:02d}.000Z"
    user = User(
        user_id=f"auth0|{n:024x}",
        connection="c",
        provider="auth0",
        created_at=stamp,
        updated_at=stamp,
        name=f"u{n}",
        user_metadata=metadata,
    )
    return NewUserRecord(user=user, connection_id="con_c")


@pytest.fixture
def pair(pg_store_url: str) -> Iterator[tuple[Backend, Backend]]:
    backends = (open_backend(":memory:"), open_backend(pg_store_url))
    for backend in backends:
        backend.insert_connection(Connection("con_c", "c", "auth0", {}))
    yield backends
    for backend in backends:
        backend.close()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(metadata=st.lists(_METADATA, min_size=1, max_size=8))
def test_metadata_filters_match_sqlite(pair: tuple[Backend, Backend], metadata: list[Any]) -> None:
    for backend in pair:
        backend.delete_connection("con_c")
        backend.insert_connection(Connection("con_c", "c", "auth0", {}))
        for n, value in enumerate(metadata):
            backend.insert_user(_record(n, value))
    for f in _BATTERY:
        found = [[u.user_id for u in b.list_users(UserQuery(filters=(f,)))[0]] for b in pair]
        assert found[1] == found[0], f
    both = UserQuery(filters=_BATTERY[4:6], with_total=True)
    assert pair[1].list_users(both)[1] == pair[0].list_users(both)[1]


_NAMES = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00", exclude_categories=["Cs"]), max_size=4
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.one_of(st.none(), _NAMES), min_size=1, max_size=8), prefix=_NAMES)
def test_text_sorts_and_prefixes_match_sqlite(
    pair: tuple[Backend, Backend], names: list[str | None], prefix: str
) -> None:
    """Byte order of UTF-8 on both (the "C" collation), NULL first, any character."""
    for backend in pair:
        backend.delete_connection("con_c")
        backend.insert_connection(Connection("con_c", "c", "auth0", {}))
        for n, name in enumerate(names):
            record = _record(n, None)
            record = dataclasses.replace(
                record, user=dataclasses.replace(record.user, nickname=name)
            )
            backend.insert_user(record)
    for query in (
        UserQuery(sort="nickname"),
        UserQuery(sort="nickname", descending=True),
        UserQuery(filters=(Filter("nickname", "prefix", prefix),)),
        UserQuery(filters=(Filter("nickname", "range", low=prefix, include_low=False),)),
    ):
        found = [[u.user_id for u in b.list_users(query)[0]] for b in pair]
        assert found[1] == found[0], query
