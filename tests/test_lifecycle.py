"""The user lifecycle through the public API: read, list and query, PATCH, delete, connections,
events and persistence, on a SQLite file and in memory."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore, PasswordHasher, User, errors
from identitystore.connections import CustomStrategy
from identitystore.testing.helpers import ManualClock

DB = "Username-Password-Authentication"
PW = "Lifecycle-Pass-1"  # meets the default connection's "good" policy
OTHER_PW = "Another-Pass-2"
FAST = PasswordHasher.fast_for_tests()
HOUR = timedelta(hours=1)
NOT_FOUND = {
    "statusCode": 404,
    "error": "Not Found",
    "message": "The user does not exist.",
    "errorCode": "inexistent_user",
}
PATCH_HINT = (
    ' (consider storing them in app_metadata or user_metadata. See "Users Metadata" in '
    "https://auth0.com/docs/api/v2/changes for more details)"
)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def gravatar(email: str, initials: str) -> str:
    digest = hashlib.md5(email.encode()).hexdigest()
    return (
        f"https://s.gravatar.com/avatar/{digest}?s=480&r=pg&d="
        f"https%3A%2F%2Fcdn.auth0.com%2Favatars%2F{initials}.png"
    )


def all_users(store: IdentityStore, connection: str | None = None) -> list[User]:
    return list(store.list_users(connection, per_page=100))


def all_events(store: IdentityStore) -> list[Any]:
    return store.list_events(limit=10_000)


# -- a populated store shared by the read-only query tests ----------------------------------------


START = datetime(2026, 1, 1, 15, 0, tzinfo=timezone.utc)
STEP = timedelta(hours=3)  # the 4th user is created at midnight exactly
T = [stamp(START + STEP * i) for i in range(9)]
POPULATION: list[tuple[str, str, dict[str, Any]]] = [
    (
        "john",
        DB,
        {
            "email": "John@Example.com",
            "password": PW,
            "name": "John Smith",
            "blocked": False,
            "user_metadata": {"plan": "pro"},
            "app_metadata": {"billing": {"tier": "gold"}},
        },
    ),
    (
        "joan",
        DB,
        {
            "email": "joan@example.com",
            "password": PW,
            "name": "Joan Baez",
            "blocked": True,
            "user_metadata": {"plan": "free"},
        },
    ),
    (
        "alice",
        DB,
        {
            "email": "alice@example.org",
            "password": PW,
            "name": "Alice",
            "user_metadata": {"plan": "pro", "age": 30},
            "app_metadata": {"billing": {"tier": "silver"}},
        },
    ),
    ("bob", "email", {"email": "bob@example.org", "name": "Bob Jones", "verify_email": False}),
    ("phone", "sms", {"phone_number": "+14155550100"}),
    (
        "joann",
        DB,
        {
            "email": "jo.ann@example.net",
            "password": PW,
            "name": "Jo Ann",
            "blocked": True,
            "app_metadata": {"billing": {"tier": "gold"}, "roles": ["admin"]},
        },
    ),
    (
        "zed",
        "email",
        {"email": "zed@example.com", "name": "Zed", "user_metadata": {"plan": "pro", "age": 17}},
    ),
    ("mary", DB, {"email": "mary@example.com", "password": PW, "name": "Mary Major"}),
    ("johnny", "email", {"email": "JOHN@example.com", "name": "Johnny"}),
]


@dataclass
class Population:
    store: IdentityStore
    users: dict[str, User] = field(default_factory=dict)

    def matching(self, keep: Callable[[User], bool], connection: str | None = None) -> list[str]:
        """Ids of the users ``keep`` accepts, oldest first (a Python reference filter)."""
        chosen = [u for u in self.users.values() if keep(u)]
        if connection is not None:
            chosen = [u for u in chosen if u.connection == connection]
        return [u.user_id for u in sorted(chosen, key=lambda u: u.created_at)]


@pytest.fixture(scope="module", params=["memory", "file"])
def population(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Population]:
    target = (
        ":memory:" if request.param == "memory" else tmp_path_factory.mktemp("pop") / "users.db"
    )
    clock = ManualClock(START)
    with IdentityStore(target, hasher=FAST, clock=clock, durability="normal") as store:
        ids = {}
        for index, (key, connection, fields) in enumerate(POPULATION):
            clock.now = START + STEP * index
            ids[key] = store.create_user(connection, **fields).user_id
        clock.now = START + timedelta(days=3)
        for login in ("john@example.com", "john@example.com", "alice@example.org"):
            store.authenticate(DB, login, PW)
        yield Population(store, {key: store.get_user(uid) for key, uid in ids.items()})


def test_population_is_as_planned(population: Population) -> None:
    users = population.users
    assert [users[key].created_at for key, _, _ in POPULATION] == T
    assert T[3] == "2026-01-02T00:00:00.000Z"
    assert users["john"].logins_count == 2
    assert users["alice"].logins_count == 1
    assert users["mary"].logins_count is None


# -- a second shared store: refusals (which must change nothing) and per-test scratch users -------
# Opening a SQLite file costs tens of milliseconds, so table-driven tests share one store per
# backend: refusals check that the whole store is unchanged; other cases use their own users,
# deleted after the test. Shared stores skip the per-commit fsync (durability "normal"); the
# `store` fixture keeps the default.

HISTORY_OPTIONS = {"passwordPolicy": "low", "password_history": {"enable": True, "size": 3}}


@dataclass
class Shared:
    store: IdentityStore
    users: dict[str, User]


@pytest.fixture(scope="module", params=["memory", "file"])
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shared]:
    target = ":memory:" if request.param == "memory" else tmp_path_factory.mktemp("shared") / "u.db"
    with IdentityStore(target, hasher=FAST, clock=ManualClock(START), durability="normal") as store:
        store.create_connection(
            "Members",
            strategy="auth0",
            options={"requires_username": True, "password_history": {"enable": True, "size": 3}},
        )
        store.create_connection("Vault", strategy="auth0", options=HISTORY_OPTIONS)
        users = {
            "db": store.create_user(
                DB, email="db@example.com", password=PW, user_metadata={"a": 1}
            ),
            "taken": store.create_user(DB, email="taken@example.com", password=PW),
            "custom": store.create_user(
                DB, email="custom@example.com", password=PW, user_id="Custom-Id"
            ),
            "member": store.create_user(
                "Members", email="m@example.com", username="member", password=PW
            ),
            "other": store.create_user(
                "Members", email="o@example.com", username="other", password=PW
            ),
            "sms": store.create_user("sms", phone_number="+14155550100"),
            "mail": store.create_user("email", email="mail@example.com", verify_email=False),
        }
        yield Shared(store, users)


@pytest.fixture
def scratch(shared: Shared) -> Iterator[Callable[..., User]]:
    """Creates users in the shared store and deletes them after the test."""
    created: list[str] = []

    def make(connection: str, /, **fields: Any) -> User:
        user = shared.store.create_user(connection, **fields)
        created.append(user.user_id)
        return user

    yield make
    for user_id in created:
        with contextlib.suppress(errors.UserNotFoundError):
            shared.store.delete_user(user_id)


def jane_fields() -> dict[str, Any]:
    return {
        "email": "Jane@Example.com",
        "password": PW,
        "email_verified": True,
        "name": "Jane Roe",
        "nickname": "jr",
        "given_name": "Jane",
        "family_name": "Roe",
        "picture": "https://example.com/jane.png",
        "user_metadata": START_META,
        "app_metadata": START_META,
    }


@pytest.fixture
def scratch_jane(scratch: Callable[..., User]) -> User:
    return scratch(DB, **jane_fields())


# -- get_user ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("connection", "fields"),
    [
        pytest.param(DB, {"email": "A@Example.com", "password": PW}, id="database"),
        pytest.param("email", {"email": "b@example.com", "name": "B"}, id="email"),
        pytest.param("sms", {"phone_number": "+14155550123"}, id="sms"),
        pytest.param(
            "Members",
            {"email": "d@example.com", "password": PW, "username": "dee"},
            id="username",
        ),
        pytest.param(
            DB,
            {"email": "c@example.com", "password": PW, "user_id": "Own-Id"},
            id="caller-user-id",
        ),
    ],
)
def test_get_user_returns_the_created_user(
    shared: Shared, scratch: Callable[..., User], connection: str, fields: dict[str, Any]
) -> None:
    created = scratch(connection, **fields)
    found = shared.store.get_user(created.user_id)
    assert found == created
    assert found.to_dict() == created.to_dict()


@pytest.mark.parametrize(
    "user_id",
    [
        pytest.param("auth0|000000000000000000000000", id="unknown"),
        pytest.param("", id="empty"),
        pytest.param("AUTH0|CUSTOM-ID", id="other-case"),
        pytest.param("Custom-Id", id="without-provider"),
        pytest.param(42, id="int"),
        pytest.param(None, id="none"),
        pytest.param(["auth0|Custom-Id"], id="list"),
    ],
)
def test_get_user_unknown_is_auth0_404(shared: Shared, user_id: Any) -> None:
    assert shared.store.get_user("auth0|Custom-Id") == shared.users["custom"]
    with pytest.raises(errors.UserNotFoundError) as caught:
        shared.store.get_user(user_id)
    assert caught.value.to_dict() == NOT_FOUND
    assert caught.value.status_code == 404


# -- get_users_by_email --------------------------------------------------------------------------


def test_users_by_email_across_connections_oldest_first(store: IdentityStore, clock: Any) -> None:
    passwordless = store.create_user("email", email="same@example.com")
    clock.now += HOUR
    database = store.create_user(DB, email="Same@Example.com", password=PW)
    clock.now += HOUR
    store.create_user(DB, email="other@example.com", password=PW)
    for query in ("same@example.com", "SAME@EXAMPLE.COM", "Same@example.com"):
        assert store.get_users_by_email(query) == [passwordless, database]
    assert store.get_users_by_email("nobody@example.com") == []
    assert store.get_users_by_email("same@example") == []


def test_users_by_email_order_is_creation_not_connection(store: IdentityStore, clock: Any) -> None:
    first = store.create_user(DB, email="x@example.com", password=PW)
    clock.now += HOUR
    second = store.create_user("email", email="x@example.com")
    assert [u.user_id for u in store.get_users_by_email("X@example.com")] == [
        first.user_id,
        second.user_id,
    ]


# -- list_users: queries -------------------------------------------------------------------------


def _meta(user: User, column: str, *path: str) -> Any:
    value: Any = getattr(user, column) or {}
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _age(user: User) -> int | None:
    age = _meta(user, "user_metadata", "age")
    return age if isinstance(age, int) else None


def _has_email(user: User) -> bool:
    return user.email is not None


def _email_starts(prefix: str) -> Callable[[User], bool]:
    return lambda u: (u.email or "").startswith(prefix)


QUERIES = [
    pytest.param(
        "email:JOHN@Example.com", lambda u: u.email == "john@example.com", id="email-exact"
    ),
    pytest.param('email:"John@Example.COM"', lambda u: u.email == "john@example.com", id="quoted"),
    pytest.param("email:jo*", _email_starts("jo"), id="email-prefix"),
    pytest.param("email:JO*", _email_starts("jo"), id="email-prefix-upper"),
    pytest.param("email:*", _has_email, id="email-exists"),
    pytest.param("NOT email:*", lambda u: u.email is None, id="email-missing"),
    pytest.param('name:"John Smith"', lambda u: u.name == "John Smith", id="quoted-space"),
    pytest.param('name:"Jo Ann"', lambda u: u.name == "Jo Ann", id="quoted-two-words"),
    pytest.param("name:Jo*", lambda u: u.name.startswith("Jo"), id="name-prefix"),
    pytest.param("phone_number:+14155550100", lambda u: u.phone_number is not None, id="phone"),
    pytest.param("blocked:true", lambda u: u.blocked is True, id="blocked-true"),
    pytest.param("blocked:false", lambda u: u.blocked is False, id="blocked-false"),
    pytest.param("NOT blocked:true", lambda u: u.blocked is not True, id="not-blocked"),
    pytest.param("-email:jo*", lambda u: not _email_starts("jo")(u), id="dash-negation"),
    pytest.param(
        "NOT user_metadata.plan:pro",
        lambda u: _meta(u, "user_metadata", "plan") != "pro",
        id="not-metadata",
    ),
    pytest.param(
        "user_metadata.plan:pro",
        lambda u: _meta(u, "user_metadata", "plan") == "pro",
        id="user-metadata",
    ),
    pytest.param(
        'user_metadata.plan:"free"',
        lambda u: _meta(u, "user_metadata", "plan") == "free",
        id="user-metadata-quoted",
    ),
    pytest.param(
        "app_metadata.billing.tier:gold",
        lambda u: _meta(u, "app_metadata", "billing", "tier") == "gold",
        id="app-metadata-nested",
    ),
    pytest.param(
        "user_metadata.plan:pr*",
        lambda u: str(_meta(u, "user_metadata", "plan")).startswith("pr"),
        id="metadata-prefix",
    ),
    pytest.param("user_metadata.age:30", lambda u: _age(u) == 30, id="metadata-integer"),
    pytest.param(
        "user_metadata.age:[18 TO *]",
        lambda u: (_age(u) or 0) >= 18,
        id="metadata-range",
    ),
    pytest.param("logins_count:2", lambda u: u.logins_count == 2, id="logins-exact"),
    pytest.param(
        "logins_count:[1 TO *]", lambda u: (u.logins_count or 0) >= 1, id="logins-at-least"
    ),
    pytest.param(
        "logins_count:{0 TO 2}",
        lambda u: u.logins_count is not None and 0 < u.logins_count < 2,
        id="logins-exclusive",
    ),
    pytest.param(
        "email:jo* AND blocked:true",
        lambda u: _email_starts("jo")(u) and u.blocked is True,
        id="and",
    ),
    pytest.param(
        "user_metadata.plan:pro -blocked:true email:*",
        lambda u: (
            _meta(u, "user_metadata", "plan") == "pro" and u.blocked is not True and _has_email(u)
        ),
        id="implicit-and-three",
    ),
    pytest.param(
        "email:jo* AND NOT blocked:true AND name:J*",
        lambda u: _email_starts("jo")(u) and u.blocked is not True and u.name.startswith("J"),
        id="and-not",
    ),
    pytest.param(f"created_at:{T[4]}", lambda u: u.created_at == T[4], id="created-exact"),
    pytest.param(
        f"created_at:[{T[2]} TO {T[5]}]",
        lambda u: T[2] <= u.created_at <= T[5],
        id="created-inclusive",
    ),
    pytest.param(
        "created_at:{" + T[2] + " TO " + T[5] + "}",
        lambda u: T[2] < u.created_at < T[5],
        id="created-exclusive",
    ),
    pytest.param(
        f"created_at:[{T[2]} TO {T[5]}" + "}",
        lambda u: T[2] <= u.created_at < T[5],
        id="created-half-open",
    ),
    pytest.param(
        f"created_at:[{T[5]} TO *]", lambda u: u.created_at >= T[5], id="created-open-high"
    ),
    pytest.param(
        "created_at:{* TO " + T[2] + "}", lambda u: u.created_at < T[2], id="created-open-low"
    ),
    pytest.param("created_at:[* TO *]", lambda u: True, id="created-any"),
    pytest.param(
        "created_at:[2026-01-02 TO *]",
        lambda u: u.created_at >= "2026-01-02T00:00:00.000Z",
        id="date-from-midnight",
    ),
    pytest.param(
        "created_at:{2026-01-02 TO *]",
        lambda u: u.created_at > "2026-01-02T00:00:00.000Z",
        id="date-after-midnight",
    ),
    pytest.param(
        "created_at:[* TO 2026-01-02]",
        lambda u: u.created_at <= "2026-01-02T00:00:00.000Z",
        id="date-until-midnight",
    ),
    pytest.param(
        "created_at:2026-01-01*", lambda u: u.created_at.startswith("2026-01-01"), id="day-prefix"
    ),
    pytest.param(f"updated_at:[{T[0]} TO *]", lambda u: True, id="updated-open"),
]


@pytest.mark.parametrize(("q", "keep"), QUERIES)
def test_query_matches_python_filter(
    population: Population, q: str, keep: Callable[[User], bool]
) -> None:
    expected = population.matching(keep)
    page = population.store.list_users(q=q, per_page=100, include_totals=True)
    assert [u.user_id for u in page] == expected
    assert page.total == len(expected)
    bare = population.store.list_users(q=q, per_page=100)
    assert bare.total is None
    assert [u.user_id for u in bare] == expected


def test_queries_are_not_vacuous(population: Population) -> None:
    """Each reference filter picks some users but not all (except the catch-alls)."""
    everyone = len(population.users)
    for param in QUERIES:
        q, keep = param.values
        count = len(population.matching(keep))  # type: ignore[arg-type]
        assert 0 < count <= everyone, q
        if param.id not in ("created-any", "updated-open"):
            assert count < everyone, q


@pytest.mark.parametrize("connection", [DB, "email", "sms"])
@pytest.mark.parametrize(
    ("q", "keep"),
    [
        pytest.param(None, lambda u: True, id="no-query"),
        pytest.param("email:jo*", _email_starts("jo"), id="prefix"),
        pytest.param(
            "user_metadata.plan:pro",
            lambda u: _meta(u, "user_metadata", "plan") == "pro",
            id="metadata",
        ),
    ],
)
def test_connection_filter_with_totals(
    population: Population, connection: str, q: str | None, keep: Callable[[User], bool]
) -> None:
    expected = population.matching(keep, connection)
    page = population.store.list_users(connection, q=q, include_totals=True)
    assert [u.user_id for u in page] == expected
    assert page.total == len(expected)
    assert {u.connection for u in page} <= {connection}


@pytest.mark.parametrize(
    "q",
    [
        pytest.param("password:secret", id="unknown-field"),
        pytest.param("favourite_color:blue", id="unknown-field-2"),
        pytest.param("user_metadata.:x", id="empty-metadata-path"),
        pytest.param("user_metadata..plan:x", id="empty-path-part"),
        pytest.param("created_at:[2026-01-01 TO]", id="range-without-high"),
        pytest.param("created_at:[2026-01-01 2026-01-02]", id="range-without-to"),
        pytest.param("created_at:[yesterday TO *]", id="range-not-a-date"),
        pytest.param("created_at:tomorrow", id="not-a-date"),
        pytest.param("email:*@example.com", id="leading-wildcard"),
        pytest.param("email:j*n@example.com", id="inner-wildcard"),
        pytest.param("email:jo?n@example.com", id="question-wildcard"),
        pytest.param("blocked:yes", id="boolean-word"),
        pytest.param("blocked:true*", id="boolean-prefix"),
        pytest.param("logins_count:many", id="count-word"),
        pytest.param("logins_count:1*", id="count-prefix"),
        pytest.param("email:a@example.com OR blocked:true", id="or"),
        pytest.param("just words", id="no-field"),
        pytest.param('email:"unterminated', id="open-quote"),
        pytest.param(42, id="not-a-string"),
    ],
)
def test_invalid_query_is_400(population: Population, q: Any) -> None:
    with pytest.raises(errors.InvalidQueryError) as caught:
        population.store.list_users(q=q)
    body = caught.value.to_dict()
    assert body["statusCode"] == 400
    assert body["errorCode"] == "invalid_query_string"


@pytest.mark.parametrize("q", [None, "", "   "])
def test_empty_query_lists_everyone(population: Population, q: str | None) -> None:
    page = population.store.list_users(q=q, include_totals=True)
    assert page.total == len(population.users)


# -- list_users: sort ----------------------------------------------------------------------------


def _created(user: User) -> str:
    return user.created_at


def _by_email(user: User) -> tuple[str, str]:
    return str(user.email), user.user_id  # ties (one email in two connections): by user_id


def _everyone(user: User) -> bool:
    return True


@pytest.mark.parametrize(
    ("sort", "q", "keep", "key", "reverse"),
    [
        pytest.param(None, None, _everyone, _created, False, id="default"),
        pytest.param("created_at:1", None, _everyone, _created, False, id="created-asc"),
        pytest.param("created_at:-1", None, _everyone, _created, True, id="created-desc"),
        pytest.param("email:1", "email:*", _has_email, _by_email, False, id="email-asc"),
        pytest.param("email:-1", "email:*", _has_email, _by_email, True, id="email-desc"),
        pytest.param("name:-1", None, _everyone, lambda u: u.name, True, id="name-desc"),
        pytest.param(
            "name:1",
            "blocked:true",
            lambda u: u.blocked is True,
            lambda u: u.name,
            False,
            id="name-filtered",
        ),
    ],
)
def test_sort(
    population: Population,
    sort: str | None,
    q: str | None,
    keep: Callable[[User], bool],
    key: Callable[[User], Any],
    reverse: bool,
) -> None:
    chosen = [u for u in population.users.values() if keep(u)]
    expected = [u.user_id for u in sorted(chosen, key=key, reverse=reverse)]
    assert [u.user_id for u in population.store.list_users(q=q, sort=sort)] == expected


@pytest.mark.parametrize(
    "sort",
    [
        pytest.param("email", id="no-direction"),
        pytest.param("email:2", id="bad-direction"),
        pytest.param("email:asc", id="word-direction"),
        pytest.param("password:1", id="unknown-field"),
        pytest.param("blocked:1", id="boolean-field"),
        pytest.param("user_metadata.plan:1", id="metadata"),
        pytest.param("", id="empty"),
        pytest.param(1, id="not-a-string"),
    ],
)
def test_invalid_sort_is_400(population: Population, sort: Any) -> None:
    with pytest.raises(errors.InvalidQueryError) as caught:
        population.store.list_users(sort=sort)
    assert caught.value.to_dict()["errorCode"] == "invalid_query_string"


# -- list_users: pages ---------------------------------------------------------------------------


@pytest.fixture
def seven(store: IdentityStore, clock: Any) -> list[User]:
    users = []
    for i in range(7):
        clock.now += HOUR
        users.append(store.create_user("email", email=f"user{i}@example.com"))
    return users


@pytest.mark.parametrize(
    ("page", "per_page", "indexes"),
    [
        pytest.param(0, 4, [0, 1, 2, 3], id="first"),
        pytest.param(1, 4, [4, 5, 6, 7], id="second"),
        pytest.param(2, 4, [8], id="last-partial"),
        pytest.param(3, 4, [], id="beyond"),
        pytest.param(0, 100, list(range(9)), id="all"),
        pytest.param(8, 1, [8], id="one-per-page"),
        pytest.param(9, 100, [], id="page-ending-at-record-1000"),
    ],
)
def test_pagination(population: Population, page: int, per_page: int, indexes: list[int]) -> None:
    everyone = sorted(population.users.values(), key=lambda u: u.created_at)
    expected = [everyone[i] for i in indexes]
    store = population.store
    with_totals = store.list_users(page=page, per_page=per_page, include_totals=True)
    assert with_totals.to_dict() == {
        "start": page * per_page,
        "limit": per_page,
        "length": len(expected),
        "total": len(everyone),
        "users": [u.to_dict() for u in expected],
    }
    plain = store.list_users(page=page, per_page=per_page)
    assert plain.to_dict() == [u.to_dict() for u in expected]
    assert list(plain) == expected
    assert len(plain) == plain.length == len(expected)


def test_pages_walk_every_user_once(population: Population) -> None:
    seen = []
    for page in range(5):
        seen += [u.user_id for u in population.store.list_users(page=page, per_page=2)]
    assert seen == population.matching(_everyone)


def test_default_page_size_is_50(store: IdentityStore) -> None:
    page = store.list_users(include_totals=True)
    assert (page.start, page.limit, page.total) == (0, 50, 0)
    assert page.to_dict() == {"start": 0, "limit": 50, "length": 0, "total": 0, "users": []}
    assert store.list_users().to_dict() == []


@pytest.mark.parametrize(
    ("page", "per_page", "ok"),
    [
        pytest.param(0, 0, False, id="per-page-0"),
        pytest.param(0, 101, False, id="per-page-101"),
        pytest.param(0, -1, False, id="per-page-negative"),
        pytest.param(0, 1, True, id="per-page-1"),
        pytest.param(0, 100, True, id="per-page-100"),
        pytest.param(-1, 10, False, id="page-negative"),
        pytest.param(9, 100, True, id="records-901-1000"),
        pytest.param(10, 100, False, id="records-1001-1100"),
        pytest.param(19, 50, True, id="records-951-1000"),
        pytest.param(20, 50, False, id="records-1001-1050"),
        pytest.param(999, 1, True, id="record-1000"),
        pytest.param(1000, 1, False, id="record-1001"),
        pytest.param(0, "10", False, id="per-page-string"),
        pytest.param("1", 10, False, id="page-string"),
    ],
)
def test_page_bounds(population: Population, page: Any, per_page: Any, ok: bool) -> None:
    store = population.store
    if ok:
        total = store.list_users(page=page, per_page=per_page, include_totals=True).total
        assert total == len(population.users)
        return
    with pytest.raises((errors.InvalidQueryError, errors.InvalidPagingError)) as caught:
        store.list_users(page=page, per_page=per_page)
    assert caught.value.status_code == 400
    beyond = isinstance(page, int) and isinstance(per_page, int) and 0 < per_page <= 100
    expected = "invalid_paging" if beyond and page >= 0 else "invalid_query_string"
    assert caught.value.error_code == expected


def test_thousand_record_limit_message(population: Population) -> None:
    with pytest.raises(errors.InvalidPagingError) as caught:
        population.store.list_users(page=10, per_page=100, q="email:*")
    assert caught.value.to_dict() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "You can only page through the first 1000 records. See "
        "https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation",
        "errorCode": "invalid_paging",
    }


@pytest.mark.parametrize("connection", ["Nope", "", "username-password-authentication", 7])
def test_list_users_unknown_connection(population: Population, connection: Any) -> None:
    with pytest.raises(errors.UnknownConnectionError) as caught:
        population.store.list_users(connection)
    assert caught.value.to_dict() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "The connection does not exist.",
        "errorCode": "inexistent_connection",
    }


def test_totals_follow_creates_and_deletes(store: IdentityStore, seven: list[User]) -> None:
    store.create_user(DB, email="db@example.com", password=PW)
    assert store.list_users(include_totals=True).total == 8
    assert store.list_users("email", include_totals=True).total == 7
    assert store.list_users(DB, include_totals=True).total == 1
    assert store.list_users("sms", include_totals=True).total == 0
    store.delete_user(seven[0].user_id)
    assert store.list_users(include_totals=True).total == 7
    assert store.list_users("email", include_totals=True).total == 6
    assert store.list_users(q="email:user*", include_totals=True).total == 6


# -- update_user: metadata -----------------------------------------------------------------------

START_META: dict[str, Any] = {"a": 1, "nested": {"x": 1, "y": 2}, "keep": "k"}


@pytest.fixture
def jane(store: IdentityStore, clock: Any) -> User:
    user = store.create_user(DB, **jane_fields())
    clock.now += HOUR
    return user


@pytest.mark.parametrize("column", ["user_metadata", "app_metadata"])
@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        pytest.param({"b": [1, 2]}, {**START_META, "b": [1, 2]}, id="adds-key"),
        pytest.param({"a": 2}, {**START_META, "a": 2}, id="replaces-value"),
        pytest.param({"a": None}, {"nested": {"x": 1, "y": 2}, "keep": "k"}, id="none-removes"),
        pytest.param(
            {"nested": {"z": 3}}, {**START_META, "nested": {"z": 3}}, id="nested-replaced"
        ),
        pytest.param({"nested": {}}, {**START_META, "nested": {}}, id="nested-emptied"),
        pytest.param({"missing": None}, START_META, id="removing-absent-key"),
        pytest.param({"a": None, "nested": None, "keep": None}, None, id="every-key-removed"),
        pytest.param({}, None, id="empty-object-empties"),
    ],
)
def test_metadata_merges_at_top_level(
    shared: Shared,
    scratch_jane: User,
    column: str,
    patch: dict[str, Any],
    expected: dict[str, Any] | None,
) -> None:
    store, jane = shared.store, scratch_jane
    updated = store.update_user(jane.user_id, **{column: patch})
    assert getattr(updated, column) == expected
    body = updated.to_dict()
    if expected is None:
        assert column not in body
    else:
        assert body[column] == expected
    other = "app_metadata" if column == "user_metadata" else "user_metadata"
    assert getattr(updated, other) == START_META
    assert store.get_user(jane.user_id) == updated


def test_metadata_merges_accumulate(shared: Shared, scratch_jane: User) -> None:
    """Auth0's own example: a first-level object is replaced, its siblings kept."""
    store, jane = shared.store, scratch_jane
    store.update_user(jane.user_id, user_metadata={})
    store.update_user(jane.user_id, user_metadata={"profileCode": 1479})
    store.update_user(
        jane.user_id, user_metadata={"addresses": {"work_address": "100 Industrial Way"}}
    )
    updated = store.update_user(
        jane.user_id,
        user_metadata={
            "addresses": {
                "work_address": "100 Industrial Way",
                "home_address": "742 Evergreen Terrace",
            }
        },
    )
    assert updated.user_metadata == {
        "profileCode": 1479,
        "addresses": {
            "work_address": "100 Industrial Way",
            "home_address": "742 Evergreen Terrace",
        },
    }


def test_metadata_can_be_set_on_a_user_without_any(
    shared: Shared, scratch: Callable[..., User]
) -> None:
    store = shared.store
    user = scratch("sms", phone_number="+14155550199")
    assert "user_metadata" not in user.to_dict()
    updated = store.update_user(user.user_id, user_metadata={"a": None, "b": 1})
    assert updated.user_metadata == {"b": 1}
    assert store.update_user(user.user_id, app_metadata={"x": None}).app_metadata is None


# -- update_user: profile fields -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        pytest.param({"name": "Janet Doe"}, {"name": "Janet Doe"}, id="set-name"),
        pytest.param({"name": None}, {"name": "jane@example.com"}, id="unset-name"),
        pytest.param({"nickname": "JJ"}, {"nickname": "JJ"}, id="set-nickname"),
        pytest.param({"nickname": None}, {"nickname": "jane"}, id="unset-nickname"),
        pytest.param(
            {"picture": "https://example.com/new.png"},
            {"picture": "https://example.com/new.png"},
            id="set-picture",
        ),
        pytest.param(
            {"picture": None}, {"picture": gravatar("jane@example.com", "jr")}, id="unset-picture"
        ),
        pytest.param(
            {"name": None, "picture": None},
            {"name": "jane@example.com", "picture": gravatar("jane@example.com", "ja")},
            id="unset-name-and-picture",
        ),
        pytest.param(
            {"name": "Ada Lovelace", "picture": None},
            {"name": "Ada Lovelace", "picture": gravatar("jane@example.com", "al")},
            id="new-name-new-picture",
        ),
        pytest.param(
            {"given_name": None, "family_name": None},
            {"given_name": None, "family_name": None},
            id="unset-given-family",
        ),
        pytest.param(
            {"given_name": "Janet", "family_name": "Doe"},
            {"given_name": "Janet", "family_name": "Doe"},
            id="set-given-family",
        ),
        pytest.param(
            {"email": "New@Example.com", "name": None, "nickname": None},
            {"email": "new@example.com", "name": "new@example.com", "nickname": "new"},
            id="defaults-from-new-email",
        ),
    ],
)
def test_profile_fields_set_and_unset(
    shared: Shared, scratch_jane: User, patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    store, jane = shared.store, scratch_jane
    updated = store.update_user(jane.user_id, **patch)
    for key, value in expected.items():
        assert getattr(updated, key) == value, key
        if value is None:
            assert key not in updated.to_dict()
    untouched = {"name", "nickname", "picture", "given_name", "family_name", "email"} - set(patch)
    for key in untouched:
        assert getattr(updated, key) == getattr(jane, key), key
    assert store.get_user(jane.user_id) == updated


def test_sms_user_defaults_rederived_from_phone(
    shared: Shared, scratch: Callable[..., User]
) -> None:
    user = scratch(
        "sms",
        phone_number="+14155550111",
        name="Pat Doe",
        nickname="pat",
        picture="https://example.com/p.png",
    )
    updated = shared.store.update_user(user.user_id, name=None, nickname=None, picture=None)
    assert updated.name == updated.nickname == "+14155550111"
    assert updated.picture == "https://cdn.auth0.com/avatars/default.png"


def test_custom_strategy_default_name_is_the_same_after_unset(store: IdentityStore) -> None:
    store.register_strategy(
        CustomStrategy("directory", fields={"username"}, required=("username",))
    )
    store.create_connection("Directory", strategy="directory")
    created = store.create_user("Directory", username="Trinity")
    named = store.create_user("Directory", username="Neo", name="Thomas Anderson")
    assert created.name == "trinity"
    unset = store.update_user(named.user_id, name=None, nickname=None)
    assert (unset.name, unset.nickname) == ("neo", "neo")


# -- update_user: email --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patch", "email", "verified"),
    [
        pytest.param({"email": "New@Example.COM"}, "new@example.com", False, id="new-resets"),
        pytest.param(
            {"email": "New@Example.COM", "email_verified": True},
            "new@example.com",
            True,
            id="new-verified-given",
        ),
        pytest.param(
            {"email": "JANE@example.com"}, "jane@example.com", True, id="same-other-case-keeps"
        ),
        pytest.param({"email_verified": False}, "jane@example.com", False, id="only-verified"),
    ],
)
def test_email_change(
    shared: Shared, scratch_jane: User, patch: dict[str, Any], email: str, verified: bool
) -> None:
    store, jane = shared.store, scratch_jane
    sent = len(store.outbox)
    assert jane.email_verified is True
    updated = store.update_user(jane.user_id, **patch)
    assert (updated.email, updated.email_verified) == (email, verified)
    assert store.get_users_by_email(email) == [updated]
    assert len(store.outbox) == sent  # no verify_email, no message


def test_new_email_signs_in_and_old_does_not(shared: Shared, scratch_jane: User) -> None:
    store, jane = shared.store, scratch_jane
    store.update_user(jane.user_id, email="moved@example.com")
    assert store.authenticate(DB, "Moved@Example.com", PW).user_id == jane.user_id
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, "jane@example.com", PW)
    assert store.get_users_by_email("jane@example.com") == []


def test_email_of_other_connection_can_be_taken(
    shared: Shared, scratch: Callable[..., User], scratch_jane: User
) -> None:
    store, jane = shared.store, scratch_jane
    scratch("email", email="shared@example.com")
    updated = store.update_user(jane.user_id, email="Shared@example.com")
    assert [u.connection for u in store.get_users_by_email("shared@example.com")] == [DB, "email"]
    assert updated.email == "shared@example.com"


def test_verify_email_sends_a_working_verification(shared: Shared, scratch_jane: User) -> None:
    store, jane = shared.store, scratch_jane
    sent = len(store.outbox)
    updated = store.update_user(jane.user_id, email="Fresh@Example.com", verify_email=True)
    assert updated.email_verified is False
    (message,) = store.outbox[sent:]
    assert (message.kind, message.recipient, message.user_id) == (
        "verification_email",
        "fresh@example.com",
        jane.user_id,
    )
    assert message.token is not None
    assert store.verify_email(message.token).email_verified is True


def test_email_of_passwordless_user_is_lowercased(
    shared: Shared, scratch: Callable[..., User]
) -> None:
    user = scratch("email", email="p@example.com", verify_email=False)
    updated = shared.store.update_user(user.user_id, email="Q@Example.COM")
    assert (updated.email, updated.email_verified) == ("q@example.com", False)


# -- update_user: username -----------------------------------------------------------------------


@pytest.fixture
def members(store: IdentityStore) -> tuple[User, User]:
    store.create_connection("Members", strategy="auth0", options={"requires_username": True})
    first = store.create_user("Members", email="m1@example.com", username="first", password=PW)
    second = store.create_user("Members", email="m2@example.com", username="second", password=PW)
    return first, second


def test_username_change_is_lowercased_and_signs_in(
    shared: Shared, scratch: Callable[..., User]
) -> None:
    store = shared.store
    first = scratch("Members", email="first@example.com", username="first", password=PW)
    updated = store.update_user(first.user_id, username="NewName")
    assert updated.username == "newname"
    assert store.authenticate("Members", "NEWNAME", PW).user_id == first.user_id
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate("Members", "first", PW)


@pytest.mark.parametrize("username", ["other", "OTHER", "Other"])
def test_username_in_use(shared: Shared, username: str) -> None:
    store, first = shared.store, shared.users["member"]
    with pytest.raises(errors.UsernameInUseError) as caught:
        store.update_user(first.user_id, username=username)
    assert caught.value.to_dict() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "The username provided is in use already.",
        "errorCode": "auth0_idp_error",
    }
    assert store.get_user(first.user_id) == first


def test_username_of_other_connection_is_free(
    store: IdentityStore, members: tuple[User, User]
) -> None:
    store.create_connection("Club", strategy="auth0", options={"requires_username": True})
    other = store.create_user("Club", email="c@example.com", username="clubber", password=PW)
    assert store.update_user(other.user_id, username="second").username == "second"


def test_username_on_connection_without_usernames(shared: Shared, scratch_jane: User) -> None:
    store, jane = shared.store, scratch_jane
    with pytest.raises(errors.UsernameNotAllowedError) as caught:
        store.update_user(jane.user_id, username="jane")
    assert caught.value.message == "Cannot set username for connection without requires_username."


# -- update_user: password -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "weak",
    [
        pytest.param("short1A", id="too-short"),
        pytest.param("alllowercase", id="one-kind"),
        pytest.param("lowercase-only", id="two-kinds"),
    ],
)
def test_password_change_follows_policy(shared: Shared, weak: str) -> None:
    store, user = shared.store, shared.users["db"]
    with pytest.raises(errors.PasswordStrengthError) as caught:
        store.update_user(user.user_id, password=weak)
    assert caught.value.to_dict() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "PasswordStrengthError: Password is too weak",
    }
    assert store.get_user(user.user_id) == user


def test_new_password_works_and_old_does_not(shared: Shared, scratch_jane: User) -> None:
    store, jane = shared.store, scratch_jane
    store.update_user(jane.user_id, password=OTHER_PW)
    assert store.authenticate(DB, "jane@example.com", OTHER_PW).user_id == jane.user_id
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, "jane@example.com", PW)


def test_without_history_the_current_password_may_be_set_again(
    shared: Shared, scratch_jane: User
) -> None:
    store, jane = shared.store, scratch_jane
    store.update_user(jane.user_id, password=PW)
    assert store.authenticate(DB, "jane@example.com", PW).user_id == jane.user_id


HISTORY = ["first-pass", "second-pass", "third-pass", "fourth-pass"]


@pytest.fixture
def vault_user(shared: Shared, scratch: Callable[..., User]) -> User:
    """A user of a connection with ``password_history`` size 3 who has had four passwords."""
    user = scratch("Vault", email="v@example.com", password=HISTORY[0])
    for password in HISTORY[1:]:
        shared.store.update_user(user.user_id, password=password)
    return shared.store.get_user(user.user_id)


@pytest.mark.parametrize(
    ("password", "refused"),
    [
        pytest.param(HISTORY[3], True, id="current"),
        pytest.param(HISTORY[2], True, id="previous"),
        pytest.param(HISTORY[1], True, id="two-back"),
        pytest.param(HISTORY[0], False, id="three-back-allowed-again"),
        pytest.param("brand-new-pass", False, id="new"),
    ],
)
def test_password_history(shared: Shared, vault_user: User, password: str, refused: bool) -> None:
    store = shared.store
    if refused:
        before_events = all_events(store)
        with pytest.raises(errors.PasswordHistoryError) as caught:
            store.update_user(vault_user.user_id, password=password)
        assert caught.value.to_dict() == {
            "statusCode": 400,
            "error": "Bad Request",
            "message": "PasswordHistoryError: Password has previously been used",
        }
        assert store.get_user(vault_user.user_id) == vault_user
        assert all_events(store) == before_events
        assert store.authenticate("Vault", "v@example.com", HISTORY[3])
    else:
        store.update_user(vault_user.user_id, password=password)
        assert store.authenticate("Vault", "v@example.com", password)


def test_history_window_moves(shared: Shared, vault_user: User) -> None:
    store = shared.store
    store.update_user(vault_user.user_id, password=HISTORY[0])  # now: 0, 3, 2 remembered
    store.update_user(vault_user.user_id, password=HISTORY[1])  # 1 fell out of the window
    with pytest.raises(errors.PasswordHistoryError):
        store.update_user(vault_user.user_id, password=HISTORY[0])
    with pytest.raises(errors.PasswordHistoryError):
        store.update_user(vault_user.user_id, password=HISTORY[3])


# -- update_user: blocked, timestamps ------------------------------------------------------------


def test_blocked_true_then_false(shared: Shared, scratch_jane: User) -> None:
    store, jane = shared.store, scratch_jane
    blocked = store.update_user(jane.user_id, blocked=True)
    assert blocked.blocked is True
    assert store.list_users(q="email:jane@example.com AND blocked:true").users == (blocked,)
    with pytest.raises(errors.UserBlockedError):
        store.authenticate(DB, "jane@example.com", PW)
    unblocked = store.update_user(jane.user_id, blocked=False)
    assert unblocked.to_dict()["blocked"] is False
    assert store.authenticate(DB, "jane@example.com", PW).user_id == jane.user_id


def test_updated_at_follows_the_clock_created_at_never_moves(
    store: IdentityStore, jane: User, clock: Any
) -> None:
    for step, patch in enumerate(
        [{"name": "One"}, {"user_metadata": {"n": 2}}, {"password": OTHER_PW}, {"blocked": True}]
    ):
        clock.now += timedelta(minutes=7, milliseconds=step + 1)
        updated = store.update_user(jane.user_id, **patch)
        assert updated.updated_at == stamp(clock.now)
        assert updated.created_at == jane.created_at
        assert store.get_user(jane.user_id) == updated
    assert store.get_user(jane.user_id).updated_at > jane.updated_at


def test_update_returns_full_stored_user(shared: Shared, scratch_jane: User) -> None:
    store, jane = shared.store, scratch_jane
    store.authenticate(DB, "jane@example.com", PW, ip="10.0.0.1")
    updated = store.update_user(jane.user_id, nickname="jj")
    assert updated.logins_count == 1
    assert updated.last_ip == "10.0.0.1"
    assert updated == store.get_user(jane.user_id)


# -- update_user: refusals change nothing --------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            {"name": ""},
            "Payload validation error: 'String is too short (0 chars), minimum 1' on property "
            "name (Name of this user).",
            id="empty-name",
        ),
        pytest.param(
            {"blocked": "yes"},
            "Payload validation error: 'Expected type boolean but found type string' on "
            "property blocked (Whether this user was blocked by an administrator (true) or not "
            "(false)).",
            id="blocked-string",
        ),
        pytest.param(
            {"blocked": None},
            "Payload validation error: 'Expected type boolean but found type null' on "
            "property blocked (Whether this user was blocked by an administrator (true) or not "
            "(false)).",
            id="blocked-null",
        ),
        pytest.param(
            {"email": "nope"},
            "Payload validation error: 'Object didn't pass validation for format email: nope' "
            "on property email (Email address of this user).",
            id="bad-email",
        ),
        pytest.param(
            {"picture": "x"},
            "Payload validation error: 'Object didn't pass validation for format strict-uri: x' "
            "on property picture (URL to picture, photo, or avatar of this user).",
            id="bad-picture",
        ),
        pytest.param(
            {"user_metadata": "x"},
            "Payload validation error: 'Expected type object but found type string' on "
            "property user_metadata (User metadata to which this user has read/write access).",
            id="metadata-string",
        ),
        pytest.param(
            {"app_metadata": {"a.b": 1}},
            "Payload validation error: 'Field names must not contain '.' or '$': "
            "app_metadata.a.b' on property app_metadata (User metadata to which this user has "
            "read-only access).",
            id="metadata-dotted-key",
        ),
        pytest.param(
            {"email": None},
            "Payload validation error: 'Expected type string but found type null' on property "
            "email (Email address of this user).",
            id="unset-required-email",
        ),
        pytest.param(
            {"password": None},
            "Payload validation error: 'Expected type string but found type null' on property "
            "password (New password for this user. Only valid for database connections).",
            id="unset-password",
        ),
        pytest.param(
            {"favorite_color": "blue"},
            "Payload validation error: 'Additional properties not allowed: favorite_color'"
            f"{PATCH_HINT}.",
            id="unknown-property",
        ),
        pytest.param(
            {"user_id": "auth0|other"},
            f"Payload validation error: 'Additional properties not allowed: user_id'{PATCH_HINT}.",
            id="user-id-not-patchable",
        ),
    ],
)
def test_schema_errors_use_patch_descriptions(
    shared: Shared, body: dict[str, Any], message: str
) -> None:
    user = shared.users["db"]
    with pytest.raises(errors.PayloadValidationError) as caught:
        shared.store.update_user(user.user_id, **body)
    assert caught.value.to_dict() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": message,
        "errorCode": "invalid_body",
    }
    assert shared.store.get_user(user.user_id) == user


REFUSALS = [
    pytest.param("db", {"email": "Taken@example.com"}, errors.UserExistsError, id="email-taken"),
    pytest.param(
        "db", {"email": "taken@example.com", "name": "X"}, errors.UserExistsError, id="taken+name"
    ),
    pytest.param("member", {"username": "OTHER"}, errors.UsernameInUseError, id="username-taken"),
    pytest.param("db", {"username": "db"}, errors.UsernameNotAllowedError, id="username-no"),
    pytest.param("member", {"username": "a b"}, errors.InvalidUsernameError, id="bad-username"),
    pytest.param("db", {"password": "weak"}, errors.PasswordStrengthError, id="weak-password"),
    pytest.param("member", {"password": PW}, errors.PasswordHistoryError, id="history"),
    pytest.param("sms", {"password": PW}, errors.FieldNotAllowedError, id="password-on-sms"),
    pytest.param("sms", {"email": "s@example.com"}, errors.FieldNotAllowedError, id="email-sms"),
    pytest.param("sms", {"email_verified": True}, errors.FieldNotAllowedError, id="verified-sms"),
    pytest.param("mail", {"password": PW}, errors.FieldNotAllowedError, id="password-on-email"),
    pytest.param("db", {"phone_number": "+14155550101"}, errors.FieldNotAllowedError, id="phone"),
    pytest.param("sms", {"phone_number": None}, errors.PayloadValidationError, id="unset-phone"),
    pytest.param("db", {"name": 5}, errors.PayloadValidationError, id="schema"),
    pytest.param("db", {"nope": 1}, errors.PayloadValidationError, id="unknown-prop"),
    pytest.param(
        "db",
        {"user_metadata": {"b": 1}, "nope": 1},
        errors.PayloadValidationError,
        id="valid-metadata-with-unknown-prop",
    ),
    pytest.param("db", {"connection": "sms"}, errors.UnknownConnectionError, id="connection"),
    pytest.param(None, {"name": "ghost"}, errors.UserNotFoundError, id="unknown-user"),
]


@pytest.mark.parametrize(("who", "body", "error"), REFUSALS)
def test_refused_update_changes_nothing(
    shared: Shared, who: str | None, body: dict[str, Any], error: type[Exception]
) -> None:
    store = shared.store
    before_users = all_users(store)
    before_events = all_events(store)
    before_outbox = list(store.outbox)
    target = shared.users[who].user_id if who else "auth0|ghost"
    with pytest.raises(error):
        store.update_user(target, **body)
    assert all_users(store) == before_users
    if who:
        assert store.get_user(target) == shared.users[who]
    assert all_events(store) == before_events
    assert store.outbox == before_outbox


def test_email_taken_is_auth0_409(shared: Shared) -> None:
    with pytest.raises(errors.UserExistsError) as caught:
        shared.store.update_user(shared.users["db"].user_id, email="taken@example.com")
    assert caught.value.to_dict() == {
        "statusCode": 409,
        "error": "Conflict",
        "message": "The user already exists.",
        "errorCode": "auth0_idp_error",
    }


def test_field_not_allowed_message(shared: Shared) -> None:
    with pytest.raises(errors.FieldNotAllowedError) as caught:
        shared.store.update_user(shared.users["sms"].user_id, password=PW)
    assert caught.value.to_dict() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": '"password" is not allowed',
        "errorCode": "invalid_body",
    }


def test_connection_naming_the_users_own_is_accepted(store: IdentityStore, jane: User) -> None:
    assert store.update_user(jane.user_id, connection=DB, name="Same").name == "Same"


# -- delete_user ---------------------------------------------------------------------------------


def test_deleted_user_is_gone_everywhere(store: IdentityStore, jane: User) -> None:
    keep = store.create_user(DB, email="keep@example.com", password=PW)
    count = store.backend.count_users()
    assert store.delete_user(jane.user_id) is None
    with pytest.raises(errors.UserNotFoundError) as caught:
        store.get_user(jane.user_id)
    assert caught.value.to_dict() == NOT_FOUND
    assert all_users(store) == [keep]
    assert store.list_users(q="email:jane*", include_totals=True).total == 0
    assert store.list_users(DB, include_totals=True).total == 1
    assert store.get_users_by_email("jane@example.com") == []
    assert store.backend.count_users() == count - 1
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, "jane@example.com", PW)


@pytest.mark.parametrize("user_id", ["auth0|ghost", "", 12, None])
def test_delete_unknown_user_is_silent_and_writes_nothing(shared: Shared, user_id: Any) -> None:
    """Auth0 answers 204 to a DELETE of an id that does not exist."""
    before = all_users(shared.store), all_events(shared.store)
    assert shared.store.delete_user(user_id) is None
    assert (all_users(shared.store), all_events(shared.store)) == before


def test_delete_twice(store: IdentityStore, jane: User) -> None:
    store.delete_user(jane.user_id)
    before = all_events(store)
    store.delete_user(jane.user_id)
    assert all_events(store) == before
    with pytest.raises(errors.UserNotFoundError):
        store.get_user(jane.user_id)


@pytest.mark.parametrize(
    ("connection", "fields"),
    [
        pytest.param(DB, {"email": "Reuse@Example.com", "password": OTHER_PW}, id="database"),
        pytest.param("email", {"email": "reuse@example.com"}, id="passwordless"),
        pytest.param("sms", {"phone_number": "+14155550142"}, id="sms"),
        pytest.param(
            "Members",
            {"email": "reuse@example.com", "username": "reuser", "password": PW},
            id="username",
        ),
    ],
)
def test_identifier_reusable_after_delete(
    shared: Shared, scratch: Callable[..., User], connection: str, fields: dict[str, Any]
) -> None:
    first = scratch(connection, **fields)
    shared.store.delete_user(first.user_id)
    second = scratch(connection, **fields)
    assert second.user_id != first.user_id
    assert shared.store.get_user(second.user_id) == second


def test_same_caller_user_id_reusable_after_delete(
    shared: Shared, scratch: Callable[..., User]
) -> None:
    store = shared.store
    first = scratch(DB, email="a@example.com", password=PW, user_id="fixed")
    store.delete_user(first.user_id)
    second = scratch(DB, email="b@example.com", password=PW, user_id="fixed")
    assert second.user_id == "auth0|fixed"
    assert store.get_user("auth0|fixed").email == "b@example.com"


def test_tickets_die_with_the_user(shared: Shared, scratch: Callable[..., User]) -> None:
    store = shared.store
    sent = len(store.outbox)
    user = scratch(DB, email="t@example.com", password=PW)  # sends a verification email
    (signup_message,) = store.outbox[sent:]
    ticket = store.create_email_verification_ticket(user.user_id)
    store.delete_user(user.user_id)
    scratch(DB, email="t@example.com", password=PW, verify_email=False)
    for token in (ticket.token, signup_message.token):
        with pytest.raises(errors.InvalidTicketError):
            store.verify_email(str(token))
    assert store.get_users_by_email("t@example.com")[0].email_verified is False


@pytest.mark.parametrize(
    ("connection", "key", "value"),
    [
        pytest.param("email", "email", "code@example.com", id="email"),
        pytest.param("sms", "phone_number", "+14155550177", id="sms"),
    ],
)
def test_one_time_codes_die_with_the_user(
    shared: Shared, scratch: Callable[..., User], connection: str, key: str, value: str
) -> None:
    store = shared.store
    message = store.start_passwordless(connection, **{key: value})
    store.delete_user(message.user_id)
    successor = scratch(connection, **{key: value})
    with pytest.raises(errors.WrongCodeError):
        store.verify_passwordless(connection, code=str(message.token), **{key: value})
    assert store.get_user(successor.user_id).logins_count is None


def test_password_history_dies_with_the_user(shared: Shared, scratch: Callable[..., User]) -> None:
    store = shared.store
    old = scratch("Vault", email="h@example.com", password=HISTORY[0], user_id="h")
    store.update_user(old.user_id, password=HISTORY[1])
    store.delete_user(old.user_id)
    new = scratch("Vault", email="h@example.com", password=HISTORY[2], user_id="h")
    assert new.user_id == old.user_id
    with pytest.raises(errors.PasswordHistoryError):  # history works for the new user ...
        store.update_user(new.user_id, password=HISTORY[2])
    store.update_user(new.user_id, password=HISTORY[0])  # ... but knows nothing of the old one
    assert store.authenticate("Vault", "h@example.com", HISTORY[0]).user_id == "auth0|h"


# -- connections ---------------------------------------------------------------------------------


def test_get_and_list_connections(store: IdentityStore) -> None:
    defaults = store.list_connections()
    assert [(c.name, c.strategy) for c in defaults] == [
        (DB, "auth0"),
        ("email", "email"),
        ("sms", "sms"),
    ]
    created = store.create_connection(
        "Members", strategy="auth0", options={"passwordPolicy": "fair"}
    )
    assert store.list_connections() == [*defaults, created]
    found = store.get_connection("Members")
    assert found == created
    assert found.to_dict() == {
        "id": created.id,
        "name": "Members",
        "strategy": "auth0",
        "options": {"passwordPolicy": "fair"},
    }
    assert found.id.startswith("con_")


@pytest.mark.parametrize("name", ["Nope", "members", "", 3, None, ["Members"]])
def test_unknown_connection_is_404(shared: Shared, name: Any) -> None:
    store = shared.store
    before = store.list_connections()
    for call in (
        lambda: store.get_connection(name),
        lambda: store.update_connection(name, options={}),
        lambda: store.delete_connection(name),
    ):
        with pytest.raises(errors.ConnectionNotFoundError) as caught:
            call()
        assert caught.value.to_dict() == {
            "statusCode": 404,
            "error": "Not Found",
            "message": "The connection does not exist",
            "errorCode": "inexistent_connection",
        }
    assert store.list_connections() == before


def test_update_connection_replaces_options(store: IdentityStore) -> None:
    created = store.create_connection(
        "Members", strategy="auth0", options={"passwordPolicy": "fair", "requires_username": True}
    )
    updated = store.update_connection("Members", options={"passwordPolicy": "excellent"})
    assert (updated.id, updated.name, updated.strategy) == (created.id, "Members", "auth0")
    assert updated.options == {"passwordPolicy": "excellent"}
    assert store.get_connection("Members") == updated
    assert store.list_connections()[-1] == updated


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"passwordPolicy": "bogus"}, id="bad-level"),
        pytest.param({"password_history": {"enable": True, "size": 30}}, id="history-too-big"),
        pytest.param({"password_history": {"size": 3}}, id="history-without-enable"),
        pytest.param({"requires_username": "yes"}, id="bad-boolean"),
        pytest.param(
            {"password_options": {"complexity": {"min_length": 8}}, "passwordPolicy": "good"},
            id="flexible-and-legacy",
        ),
        pytest.param({"validation": {"username": {"min": 9, "max": 3}}}, id="min-over-max"),
        pytest.param("good", id="not-an-object"),
    ],
)
def test_update_connection_validates_like_create(shared: Shared, options: Any) -> None:
    store = shared.store
    before = store.list_connections()
    with pytest.raises(errors.PayloadValidationError) as on_create:
        store.create_connection("Other", strategy="auth0", options=options)
    with pytest.raises(errors.PayloadValidationError) as on_update:
        store.update_connection("Members", options=options)
    assert on_update.value.to_dict() == on_create.value.to_dict()
    assert store.list_connections() == before


def test_policy_change_applies_to_new_passwords_only(store: IdentityStore) -> None:
    store.create_connection("Lax", strategy="auth0", options={"passwordPolicy": "none"})
    old = store.create_user("Lax", email="old@example.com", password="abc")
    store.update_connection("Lax", options={"passwordPolicy": "good"})
    assert store.authenticate("Lax", "old@example.com", "abc").user_id == old.user_id
    with pytest.raises(errors.PasswordStrengthError):
        store.create_user("Lax", email="new@example.com", password="abc")
    with pytest.raises(errors.PasswordStrengthError):
        store.update_user(old.user_id, password="abcd")
    store.create_user("Lax", email="new@example.com", password=PW)
    store.update_connection("Lax", options={"passwordPolicy": "none"})
    assert store.create_user("Lax", email="new2@example.com", password="abc")


def test_username_rules_change_with_the_connection(store: IdentityStore) -> None:
    store.create_connection("Members", strategy="auth0")
    user = store.create_user("Members", email="u@example.com", password=PW)
    with pytest.raises(errors.UsernameNotAllowedError):
        store.update_user(user.user_id, username="someone")
    store.update_connection("Members", options={"requires_username": True})
    assert store.update_user(user.user_id, username="Someone").username == "someone"


def test_delete_connection_removes_it_and_all_its_users(store: IdentityStore, clock: Any) -> None:
    store.create_connection("Doomed", strategy="auth0", options={"passwordPolicy": "low"})
    doomed = [
        store.create_user("Doomed", email=f"d{i}@example.com", password="secret") for i in range(3)
    ]
    survivors = [
        store.create_user(DB, email="d0@example.com", password=PW),
        store.create_user("email", email="d1@example.com"),
    ]
    count = store.backend.count_users()
    clock.now += HOUR
    assert store.delete_connection("Doomed") is None
    assert store.backend.count_users() == count - len(doomed)
    assert "Doomed" not in [c.name for c in store.list_connections()]
    with pytest.raises(errors.ConnectionNotFoundError):
        store.get_connection("Doomed")
    for user in doomed:
        with pytest.raises(errors.UserNotFoundError):
            store.get_user(user.user_id)
    for user in survivors:
        assert store.get_user(user.user_id) == user
    assert all_users(store) == survivors
    assert store.list_users(include_totals=True).total == len(survivors)
    assert [u.connection for u in store.get_users_by_email("d1@example.com")] == ["email"]
    with pytest.raises(errors.UnknownConnectionError):
        store.create_user("Doomed", email="late@example.com", password="secret")
    with pytest.raises(errors.UnknownConnectionError):
        store.list_users("Doomed")
    with pytest.raises(errors.UnknownConnectionError):
        store.authenticate("Doomed", "d0@example.com", "secret")
    (event,) = store.list_events(type="sapi")
    assert (event.connection, event.date) == ("Doomed", stamp(clock.now))


def test_connection_can_be_recreated_empty_after_delete(store: IdentityStore) -> None:
    store.create_connection("Doomed", strategy="auth0")
    store.create_user("Doomed", email="x@example.com", password=PW)
    store.delete_connection("Doomed")
    again = store.create_connection("Doomed", strategy="auth0")
    assert store.list_users("Doomed", include_totals=True).total == 0
    assert store.create_user("Doomed", email="x@example.com", password=PW).connection == again.name


# -- events --------------------------------------------------------------------------------------


def test_lifecycle_events_in_order(store: IdentityStore, clock: Any) -> None:
    moments = []
    user = store.create_user(DB, email="ev@example.com", password=PW)
    moments.append(stamp(clock.now))
    clock.now += HOUR
    store.update_user(user.user_id, name="Eve")
    moments.append(stamp(clock.now))
    clock.now += HOUR
    store.update_user(user.user_id, password=OTHER_PW)
    moments += [stamp(clock.now)] * 2
    clock.now += HOUR
    store.delete_user(user.user_id)
    moments.append(stamp(clock.now))
    events = store.list_events(user_id=user.user_id)
    assert [e.type for e in events] == ["ss", "sapi", "scp", "sapi", "sdu"]
    assert [e.date for e in events] == moments
    assert {e.user_id for e in events} == {user.user_id}
    assert {e.connection for e in events} == {DB}
    assert len({e.log_id for e in events}) == len(events)


def test_event_filters_and_limit(store: IdentityStore, clock: Any) -> None:
    a = store.create_user(DB, email="a@example.com", password=PW)
    clock.now += HOUR
    b = store.create_user("email", email="b@example.com")
    clock.now += HOUR
    store.update_user(a.user_id, nickname="a")
    store.update_user(b.user_id, nickname="b")
    everything = store.list_events()
    assert [(e.type, e.user_id) for e in everything] == [
        ("ss", a.user_id),
        ("ss", b.user_id),
        ("sapi", a.user_id),
        ("sapi", b.user_id),
    ]
    assert store.list_events(type="ss") == everything[:2]
    assert store.list_events(user_id=b.user_id) == [everything[1], everything[3]]
    assert store.list_events(type="sapi", user_id=a.user_id) == [everything[2]]
    assert store.list_events(type="sdu") == []
    assert store.list_events(user_id="auth0|ghost") == []
    assert store.list_events(limit=2) == everything[2:]
    assert store.list_events(limit=1, type="ss") == [everything[1]]
    assert store.list_events(limit=0) == []


def test_event_to_dict_shape(store: IdentityStore, clock: Any) -> None:
    user = store.create_user(DB, email="shape@example.com", password=PW)
    connection = store.get_connection(DB)
    (event,) = store.list_events()
    body = event.to_dict()
    assert body == {
        "date": stamp(clock.now),
        "type": "ss",
        "connection": DB,
        "connection_id": connection.id,
        "user_id": user.user_id,
        "user_name": "shape@example.com",
        "log_id": event.log_id,
    }
    assert list(body) == [
        "date",
        "type",
        "connection",
        "connection_id",
        "user_id",
        "user_name",
        "log_id",
    ]
    assert len(event.log_id) == 24
    clock.now += HOUR
    store.delete_user(user.user_id)
    (deleted,) = store.list_events(type="sdu")
    assert deleted.to_dict() == {
        "date": stamp(clock.now),
        "type": "sdu",
        "description": "Delete a user",
        "connection": DB,
        "connection_id": connection.id,
        "user_id": user.user_id,
        "user_name": "shape@example.com",
        "log_id": deleted.log_id,
    }


def test_no_password_ever_appears_in_events(store: IdentityStore) -> None:
    secrets = [PW, OTHER_PW, "Third-Pass-33", "weak", "Wrong-Guess-9"]
    store.create_connection(
        "Vault",
        strategy="auth0",
        options={"passwordPolicy": "good", "password_history": {"enable": True, "size": 3}},
    )
    user = store.create_user("Vault", email="sec@example.com", password=PW)
    store.update_user(user.user_id, password=OTHER_PW)
    store.update_user(user.user_id, password="Third-Pass-33", name="Renamed")
    for refused in ("weak", PW):
        with pytest.raises(errors.PasswordPolicyError):
            store.update_user(user.user_id, password=refused)
    store.authenticate("Vault", "sec@example.com", "Third-Pass-33")
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate("Vault", "sec@example.com", "Wrong-Guess-9")
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate("Vault", "nobody@example.com", PW)
    store.delete_user(user.user_id)
    events = all_events(store)
    assert {"ss", "scp", "sapi", "s", "fp", "fu", "sdu"} <= {e.type for e in events}
    text = json.dumps([e.to_dict() for e in events]) + repr(events)
    for secret in secrets:
        assert secret not in text


# -- persistence ---------------------------------------------------------------------------------


def test_file_store_keeps_everything_across_reopen(tmp_path: Path, clock: Any) -> None:
    path = tmp_path / "persist.db"
    with IdentityStore(path, hasher=FAST, clock=clock) as first:
        first.create_connection("Vault", strategy="auth0", options={"passwordPolicy": "low"})
        kept = first.create_user("Vault", email="k@example.com", password="secret1")
        clock.now += HOUR
        first.update_user(kept.user_id, user_metadata={"plan": "pro"}, password="secret2")
        gone = first.create_user("email", email="gone@example.com")
        first.delete_user(gone.user_id)
        first.create_connection("Temp", strategy="auth0")
        first.update_connection("Temp", options={"passwordPolicy": "fair"})
        users, connections = all_users(first), first.list_connections()
        events = all_events(first)
    with IdentityStore(path, hasher=FAST, clock=clock) as second:
        assert all_users(second) == users
        assert second.list_connections() == connections
        assert all_events(second) == events
        assert second.get_user(kept.user_id).user_metadata == {"plan": "pro"}
        assert second.get_connection("Temp").options == {"passwordPolicy": "fair"}
        with pytest.raises(errors.UserNotFoundError):
            second.get_user(gone.user_id)
        assert second.authenticate("Vault", "k@example.com", "secret2").user_id == kept.user_id
        assert [e.type for e in all_events(second)] == [
            "ss",
            "scp",
            "sapi",
            "ss",
            "sdu",
            "s",
        ]


def test_scratch_users_were_all_deleted(shared: Shared) -> None:
    """Runs after the other shared-store tests: nothing they created is left."""
    left = sorted(u.user_id for u in all_users(shared.store))
    assert left == sorted(u.user_id for u in shared.users.values())
    assert shared.store.list_users(include_totals=True).total == len(shared.users)
