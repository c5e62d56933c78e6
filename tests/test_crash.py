"""Writers SIGKILLed at random points: the SQLite file stays sound, no acknowledged write is lost,
and no write is half done (a user without its event, an update or a password change half applied).
The same on PostgreSQL, where the killed process is the client."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore, PasswordHasher

from .soundness import assert_consistent

ROOT = Path(__file__).resolve().parent.parent
CONNECTION = "Crash-Members"  # remembers 3 passwords
FIRST, SECOND = "Correct-Horse-9", "Second-Horse-8"
FAST = PasswordHasher.fast_for_tests()

# The child creates and updates users; after each call returns it prints the user's new state:
# "C <json>" after create_user, "U <json>" after a profile update, "P <json>" after a new password.
CHILD = """
import json, sys
from identitystore import IdentityStore, PasswordHasher

store = IdentityStore(sys.argv[1], hasher=PasswordHasher.fast_for_tests())
run = sys.argv[2]
for i in range(100000):
    user = store.create_user(
        "Crash-Members",
        email=f"run{run}-{i}@example.com",
        password="Correct-Horse-9",
        user_metadata={"i": i, "note": "x" * (i % 50)},
    )
    print("C", json.dumps(user.to_dict()), flush=True)
    if i % 3 == 0:
        user = store.update_user(
            user.user_id,
            name=f"User {i}",
            app_metadata={"plan": "pro"},
            user_metadata={"note": None, "seen": True},
        )
        print("U", json.dumps(user.to_dict()), flush=True)
    elif i % 3 == 1:
        user = store.update_user(user.user_id, password="Second-Horse-8")
        print("P", json.dumps(user.to_dict()), flush=True)
"""


def _run_and_kill(database: str, run: int, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """Start a writer, kill it at a random point, return the states it acknowledged, in order."""
    name = f"identitystore-crash-{os.getpid()}-{run}"  # the child's sessions, on PostgreSQL
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "PGAPPNAME": name,
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, database, str(run)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert child.stdout is not None
    first = child.stdout.readline()  # the loop has started: kill somewhere inside it
    time.sleep(rng.uniform(0.0, 0.25))
    child.send_signal(signal.SIGKILL)
    output = child.stdout.read()  # not communicate(): it would skip what readline() buffered
    child.stdout.close()
    assert child.wait(timeout=30) == -signal.SIGKILL
    if database.startswith("postgresql"):
        _wait_for_sessions_to_end(database, name)
    lines = (first + output).split("\n")[:-1]  # the last piece may be cut: not acknowledged
    return [(line[0], json.loads(line[2:])) for line in lines]


def _wait_for_sessions_to_end(url: str, name: str) -> None:
    """Wait (10 s at most) until the server has ended the killed client's sessions: a COMMIT
    sent just before the kill may still complete there, and it is the state to check."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(200):
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
            ).fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.05)
    raise AssertionError(f"the killed client's sessions ({name}) did not end")


def _verifies(password: str, hashed: str | None) -> bool:
    return hashed is not None and FAST.verify(password.encode(), hashed)


def _check_user(
    store: IdentityStore,
    steps: list[tuple[str, dict[str, Any]]],
    stored: dict[str, Any],
    events: list[str],
    *,
    last: bool,
    verify: bool,
) -> tuple[str, dict[str, Any]]:
    """The stored user is its last acknowledged state, or, for the run's last user only, the
    complete result of the write in flight when the writer was killed. Never anything between.

    ``verify``: also check which password each stored hash is of (costs a hash each).
    Returns the step found (the in-flight one if it landed)."""
    kind, acked = steps[-1]
    user_id = acked["user_id"]
    i = acked["user_metadata"]["i"]
    history = store.backend.password_history(user_id, 3)
    if stored != acked:  # only the write in flight may have landed after the last line
        assert last, f"{user_id}: stored state was never acknowledged"
        assert kind == "C", f"{user_id}: nothing was in flight"
        assert i % 3 in (0, 1), f"{user_id}: nothing was in flight"
        kind = "U" if i % 3 == 0 else "P"
        assert stored["created_at"] <= stored["updated_at"]
    if kind == "U":
        assert stored["name"] == f"User {i}"
        assert stored["app_metadata"] == {"plan": "pro"}
        assert stored["user_metadata"] == {"i": i, "seen": True}
    if kind == "P":
        assert "last_password_reset" in stored
        assert len(history) == 2
        assert not verify or _verifies(SECOND, history[0])
        assert not verify or _verifies(FIRST, history[1])
    else:
        assert stored["name"] == (f"User {i}" if kind == "U" else stored["email"])
        assert "last_password_reset" not in stored
        assert len(history) == 1
        assert not verify or _verifies(FIRST, history[0])
    expected_events = {"C": ["ss"], "U": ["ss", "sapi"], "P": ["ss", "scp", "sapi"]}[kind]
    assert events == expected_events, f"{user_id}: {events} after {kind}"
    return kind, stored


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("backend", ["file", "postgres"])
def test_sigkill_never_loses_or_half_writes(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    """On PostgreSQL the client is killed, not the server: its transactions must hold too."""
    path = tmp_path / "crash.db" if backend == "file" else None
    database = str(path) if path is not None else request.getfixturevalue("pg_url")
    with IdentityStore(database, hasher=FAST) as store:
        store.create_connection(
            CONNECTION,
            strategy="auth0",
            options={"passwordPolicy": "low", "password_history": {"enable": True, "size": 3}},
        )
    rng = random.Random(20261127)
    acknowledged: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for run in range(20):
        steps = _run_and_kill(database, run, rng)
        assert steps, "the child never got to create a user"
        for kind, state in steps:
            acknowledged.setdefault(state["user_id"], []).append((kind, state))
        last_user = steps[-1][1]["user_id"]
        with IdentityStore(database, hasher=FAST) as store:  # after each kill
            users = assert_consistent(store, path)  # with PRAGMA integrity_check on SQLite
            stored = {u.user_id: u.to_dict() for u in users}
            events: dict[str | None, list[str]] = {}
            for event in store.list_events(limit=1_000_000):
                events.setdefault(event.user_id, []).append(event.type)
            for user_id, user_steps in acknowledged.items():
                assert user_id in stored, f"{user_id}: acknowledged, then lost"
                found = _check_user(
                    store,
                    user_steps,
                    stored[user_id],
                    events[user_id],
                    last=user_id == last_user,
                    verify=user_steps[0][1]["email"].startswith(f"run{run}-"),  # new this run
                )
                if found != user_steps[-1]:  # the write in flight landed: it is the state now
                    user_steps.append(found)
            unacknowledged = {u.user_id for u in users} - set(acknowledged)
            assert len(unacknowledged) <= 1, "only the create in flight may be unacknowledged"
            for user_id in unacknowledged:  # complete, as create_user would have returned it
                user = store.get_user(user_id)
                assert user.email is not None
                assert user.email.startswith(f"run{run}-")
                assert user.user_metadata is not None
                assert user.user_metadata["note"] == "x" * (user.user_metadata["i"] % 50)
                assert [e.type for e in store.list_events(user_id=user_id)] == ["ss"]
                assert len(store.backend.password_history(user_id, 3)) == 1
                acknowledged[user_id] = [("C", user.to_dict())]
    assert len(acknowledged) > 20
