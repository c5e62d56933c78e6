"""Races between a store's calls on one user, on every backend: each answers as the store
documents (never a storage error), and every event is kept."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore, PasswordHasher, errors
from identitystore.storage import Backend, open_backend

DB = "Username-Password-Authentication"
PASSWORD = "Correct-Horse-9"
FAST = PasswordHasher.fast_for_tests()


@pytest.fixture(params=["memory", "file", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_store_url"))
    return ":memory:" if request.param == "memory" else str(tmp_path / "users.db")


class _DeletedAfterFinding:
    """A backend that deletes the user it has just found (through the same backend): the store
    then records the failed sign-in of a user that no longer exists."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.armed = False

    def find_user(self, connection_id: str, key: str, value: str) -> Any:
        found = self.inner.find_user(connection_id, key, value)
        if self.armed and found is not None:
            self.inner.delete_user(found[0].user_id)
        return found


def _forwarded(name: str) -> property:
    return property(lambda self: getattr(self.inner, name))


for _name in dir(Backend):  # every other member, as the inner backend's (on the class, so that
    if not _name.startswith("_") and not hasattr(_DeletedAfterFinding, _name):  # isinstance holds)
        setattr(_DeletedAfterFinding, _name, _forwarded(_name))


@pytest.fixture
def deleting(database: str) -> Iterator[tuple[IdentityStore, _DeletedAfterFinding]]:
    backend = _DeletedAfterFinding(open_backend(database))
    assert isinstance(backend, Backend)
    store = IdentityStore(backend, hasher=FAST)
    yield store, backend
    store.close()


def test_a_wrong_password_for_a_user_deleted_meanwhile_is_wrong_credentials(
    deleting: tuple[IdentityStore, _DeletedAfterFinding],
) -> None:
    store, backend = deleting
    user = store.create_user(DB, email="a@x.io", password=PASSWORD)
    backend.armed = True
    with pytest.raises(errors.WrongCredentialsError) as caught:
        store.authenticate(DB, "a@x.io", "Wrong-Horse-9", ip="10.0.0.1")
    assert caught.value.status_code == 403
    backend.armed = False
    with pytest.raises(errors.UserNotFoundError):
        store.get_user(user.user_id)
    failed = store.list_events(type="fp")
    assert [(e.user_id, e.ip) for e in failed] == [(user.user_id, "10.0.0.1")]
    # and an unknown user answers the same
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, "a@x.io", "Wrong-Horse-9", ip="10.0.0.1")


def test_wrong_passwords_racing_deletes_lose_no_event(database: str) -> None:
    """Bounded: 3 s or 150 sign-ins, while another thread creates and deletes the user."""
    with IdentityStore(database, hasher=FAST, max_login_attempts=1000) as store:
        stop = threading.Event()
        crashes: list[BaseException] = []

        def churn() -> None:
            try:
                while not stop.is_set():
                    user = store.create_user(DB, email="race@x.io", password=PASSWORD)
                    store.delete_user(user.user_id)
            except BaseException as exc:  # reported below
                crashes.append(exc)

        thread = threading.Thread(target=churn)
        thread.start()
        attempts, deadline = 0, time.monotonic() + 3
        try:
            while attempts < 150 and time.monotonic() < deadline:
                with pytest.raises(errors.WrongCredentialsError):
                    store.authenticate(DB, "race@x.io", "Wrong-Horse-9", ip="10.0.0.1")
                attempts += 1
        finally:
            stop.set()
            thread.join()
        assert not crashes
        logged = [e for e in store.list_events(limit=1_000_000) if e.type in ("fp", "fu")]
        assert len(logged) == attempts
