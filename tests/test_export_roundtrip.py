"""Export then import into a fresh store gives the same users: ids, dates, metadata, flags,
counters, and passwords that sign in; on generated users, on SQLite and PostgreSQL. And an
export taken while users are written is one consistent snapshot."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identitystore import IdentityStore, User, errors
from identitystore.strategies import create_user_bodies
from identitystore.testing.helpers import ManualClock
from tests.conftest import FAST, new_schema

DB = "Username-Password-Authentication"
MEMBERS = {
    "requires_username": True,
    "attributes": {"phone_number": {}},
    "validation": {"username": {"min": 1, "max": 20}},
    "passwordPolicy": "fair",
}


@contextlib.contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield str(Path(folder) / "users.db")


@pytest.fixture(params=["sqlite", "postgres"])
def databases(
    request: pytest.FixtureRequest,
) -> Callable[[], contextlib.AbstractContextManager[str]]:
    """Makes a fresh, empty database for each call (and so for each Hypothesis example)."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        return lambda: new_schema(url, "roundtrip")
    return sqlite_database


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_export_then_import_gives_the_same_users(
    databases: Callable[[], contextlib.AbstractContextManager[str]], data: st.DataObject
) -> None:
    clock = ManualClock()
    with databases() as first, databases() as second:
        with IdentityStore(first, hasher=FAST, clock=clock) as old:
            old.create_connection("members", strategy="auth0", options=MEMBERS)
            passwords = populate(old, clock, data)
            files = {}
            for name in (DB, "members"):
                files[name] = io.BytesIO()
                old.export_users(files[name], connection=name, include_password_hashes=True)
            users = {
                user.user_id: user for name in (DB, "members") for user in all_users(old, name)
            }

        with IdentityStore(second, hasher=FAST, clock=clock) as new:
            new.create_connection("members", strategy="auth0", options=MEMBERS)
            for name, file in files.items():
                file.seek(0)
                result = new.import_users(name, file)
                assert result.errors == []
            assert {u.user_id: u for n in (DB, "members") for u in all_users(new, n)} == users
            for user_id, password in passwords.items():
                user = users[user_id]
                if user.blocked:
                    with pytest.raises(errors.UserBlockedError):  # the password was right
                        new.authenticate(user.connection, str(user.email), password)
                else:
                    signed_in = new.authenticate(user.connection, str(user.email), password)
                    assert signed_in.logins_count == (user.logins_count or 0) + 1


def all_users(store: IdentityStore, connection: str) -> list[User]:
    return list(store.list_users(connection, per_page=100))


def populate(store: IdentityStore, clock: ManualClock, data: st.DataObject) -> dict[str, str]:
    """Users of both connections, some signed in, blocked, changed; their passwords by id."""
    passwords = {}
    for _ in range(data.draw(st.integers(1, 5), label="users")):
        name = data.draw(st.sampled_from([DB, "members"]), label="connection")
        body = data.draw(create_user_bodies(store.get_connection(name)), label="body")
        clock.advance(seconds=data.draw(st.integers(1, 10**6)))
        try:
            user = store.create_user(name, **body)
        except (errors.UserExistsError, errors.UsernameInUseError):
            continue
        password = body["password"]
        for action in data.draw(st.lists(st.sampled_from(["login", "block", "meta"])), label="do"):
            clock.advance(seconds=1)
            if action == "login" and not user.blocked:
                store.authenticate(name, str(user.email), password, ip="203.0.113.9")
            elif action == "block":
                user = store.update_user(user.user_id, blocked=True)
            else:
                with contextlib.suppress(errors.PayloadValidationError):  # metadata at its limit
                    user = store.update_user(user.user_id, app_metadata={"changed": True})
        passwords[user.user_id] = password
    return passwords


def test_an_export_during_writes_is_one_snapshot(file_store: IdentityStore, tmp_path: Path) -> None:
    """Users created and deleted while an export runs are in it as they were when it began: the
    export holds exactly the users of one moment."""
    file_store.import_users(DB, [{"email": f"early{n}@example.com"} for n in range(3000)])
    stop = threading.Event()
    written: list[int] = []  # n: late{n} created, then early{n} deleted

    def write() -> None:
        with IdentityStore(tmp_path / "users.db", hasher=FAST) as other:
            n = 0
            while not stop.is_set() and n < 500:
                other.create_user(DB, email=f"late{n}@example.com", password="Sup3r-secret!")
                other.delete_user(other.get_users_by_email(f"early{n}@example.com")[0].user_id)
                written.append(n)
                n += 1

    def wait_for_writes(done: int, total: int | None) -> None:
        """Halfway through the export, let the writer commit a few more changes."""
        if done == 1000:
            target = len(written) + 5
            while len(written) < target and writer.is_alive():
                time.sleep(0.001)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(written) < 3:
            time.sleep(0.001)
        out = io.BytesIO()
        file_store.export_users(out, fields=["email"], progress=wait_for_writes)
    finally:
        stop.set()
        writer.join()
    during = {json.loads(line)["email"] for line in out.getvalue().splitlines()}
    late = sorted(int(e[4:].split("@")[0]) for e in during if e.startswith("late"))
    k = len(late)
    assert late == list(range(k))  # the first k creates, none after
    assert 3 <= k < len(written)  # taken after some writes, and some writes came during it
    early = {f"early{n}@example.com" for n in range(3000)}
    # Between two writes: early{k-1} is deleted once late{k-1} is created, or about to be.
    gone = [
        {f"early{n}@example.com" for n in range(k)},
        {f"early{n}@example.com" for n in range(k - 1)},
    ]
    assert during - {f"late{n}@example.com" for n in range(k)} in [early - g for g in gone]


def export_lines(store: IdentityStore) -> list[dict[str, Any]]:
    out = io.BytesIO()
    store.export_users(out, fields=["email"])
    return [json.loads(line) for line in out.getvalue().splitlines()]
