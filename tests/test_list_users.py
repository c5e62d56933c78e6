"""``list_users``: Lucene queries, sorting, pages and totals, over a populated store shared by
the module (in memory and on a SQLite file)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from identitystore import IdentityStore, User, errors
from identitystore.testing.helpers import ManualClock

from .conftest import FAST
from .fixtures import DB, HOUR, PW, START, stamp

# -- a populated store shared by the read-only query tests ----------------------------------------


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
