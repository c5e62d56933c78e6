"""Fixtures and values the test modules of the user operations share.

Opening a SQLite file costs tens of milliseconds, so table-driven tests share one store per
backend (``shared``, module-scoped: each test module gets its own): refusals check that the whole
store is unchanged; other cases make their own users with ``scratch``, deleted after the test (and
the store is checked to hold only its own users when the module is done). Shared stores skip the
per-commit fsync (durability "normal"); the ``store`` fixture keeps the default.

A test module imports the fixtures it uses (pytest finds fixtures in a module's namespace; the
redundant alias tells linters the import is meant)::

    from .fixtures import shared_store as shared_store
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from identitystore import IdentityStore, User, errors
from identitystore.testing.helpers import ManualClock

from .conftest import FAST

DB = "Username-Password-Authentication"
PW = "Lifecycle-Pass-1"  # meets the default connection's "good" policy
OTHER_PW = "Another-Pass-2"
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
    """``moment`` as the store writes timestamps: UTC, milliseconds and ``Z``."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def gravatar(email: str, initials: str) -> str:
    """The default picture of a user with this email and these initials."""
    digest = hashlib.md5(email.encode()).hexdigest()
    return (
        f"https://s.gravatar.com/avatar/{digest}?s=480&r=pg&d="
        f"https%3A%2F%2Fcdn.auth0.com%2Favatars%2F{initials}.png"
    )


def all_users(store: IdentityStore, connection: str | None = None) -> list[User]:
    """Every user (of ``connection``), oldest first (at most 100)."""
    return list(store.list_users(connection, per_page=100))


def all_events(store: IdentityStore) -> list[Any]:
    """Every logged event, oldest first."""
    return store.list_events(limit=10_000)


#: When the shared stores' clocks start.
START = datetime(2026, 1, 1, 15, 0, tzinfo=timezone.utc)
#: Jane's metadata (both kinds) when she is created.
START_META: dict[str, Any] = {"a": 1, "nested": {"x": 1, "y": 2}, "keep": "k"}
#: The passwords a Vault user has had, oldest first (Vault remembers 3).
HISTORY = ["first-pass", "second-pass", "third-pass", "fourth-pass"]
HISTORY_OPTIONS = {"passwordPolicy": "low", "password_history": {"enable": True, "size": 3}}


@dataclass
class Shared:
    """A shared store and the users it starts with, by role."""

    store: IdentityStore
    users: dict[str, User]


@pytest.fixture(scope="module", params=["memory", "file"], name="shared")
def shared_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shared]:
    """The module's shared store, in memory or on a SQLite file, with its users (see above)."""
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
        # the tests' scratch users were all deleted: the store holds its own users only
        left = sorted(u.user_id for u in all_users(store))
        assert left == sorted(u.user_id for u in users.values())


@pytest.fixture(name="scratch")
def scratch_users(shared: Shared) -> Iterator[Callable[..., User]]:
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
    """The create-user body of Jane, a database user with every profile field."""
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


@pytest.fixture(name="scratch_jane")
def scratch_jane_user(scratch: Callable[..., User]) -> User:
    """Jane as a scratch user of the shared store."""
    return scratch(DB, **jane_fields())


@pytest.fixture(name="jane")
def jane_user(store: IdentityStore, clock: Any) -> User:
    """Jane in the test's own ``store``, an hour before the clock's now."""
    user = store.create_user(DB, **jane_fields())
    clock.now += HOUR
    return user


@pytest.fixture(name="members")
def members_connection(store: IdentityStore) -> str:
    """A Members connection (usernames required) in the test's own ``store``: its name."""
    store.create_connection("Members", strategy="auth0", options={"requires_username": True})
    return "Members"
