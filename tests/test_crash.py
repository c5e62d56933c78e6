"""Writers SIGKILLed at random points: the file stays sound and no acknowledged user is lost."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from identitystore import IdentityStore, PasswordHasher
from identitystore.storage import UserQuery

ROOT = Path(__file__).resolve().parent.parent

# The child creates and updates users and prints each user id once create_user has returned.
CHILD = """
import sys
from identitystore import IdentityStore, PasswordHasher

store = IdentityStore(sys.argv[1], hasher=PasswordHasher.fast_for_tests())
run = sys.argv[2]
for i in range(100000):
    user = store.create_user(
        "Username-Password-Authentication",
        email=f"run{run}-{i}@example.com",
        password="Correct-Horse-9",
        user_metadata={"i": i, "note": "x" * (i % 50)},
    )
    print(user.user_id, flush=True)
    if i % 3 == 0:
        store.update_user(user.user_id, name=f"User {i}", app_metadata={"plan": "pro"})
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_never_loses_an_acknowledged_user(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    IdentityStore(path, hasher=PasswordHasher.fast_for_tests()).close()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    rng = random.Random(20261127)
    acknowledged: list[str] = []
    for run in range(20):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(run)],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert child.stdout is not None
        first = child.stdout.readline()  # the loop has started: kill somewhere inside it
        time.sleep(rng.uniform(0.0, 0.4))
        child.send_signal(signal.SIGKILL)
        output, _ = child.communicate(timeout=30)
        lines = (first + output).split("\n")
        acknowledged.extend(line for line in lines[:-1] if line)  # the last piece may be cut
    assert len(acknowledged) > 20, "the children never got to create users"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    with IdentityStore(path, hasher=PasswordHasher.fast_for_tests()) as store:
        for user_id in acknowledged:
            user = store.get_user(user_id)
            assert user.email is not None
            assert user.user_metadata is not None
            assert "i" in user.user_metadata
        total = store.list_users(include_totals=True).total
        assert total == store.backend.count_users() >= len(acknowledged)
        # nothing half-written: every stored user has its creation event
        events = {e.user_id for e in store.list_events(type="ss", limit=1_000_000)}
        assert set(acknowledged) <= events
        users, _ = store.backend.list_users(UserQuery(limit=1_000_000))
        assert {u.user_id for u in users} <= events
