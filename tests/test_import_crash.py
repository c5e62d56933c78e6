"""An import killed midway (SIGKILL, no cleanup) leaves every user whole or absent, and running
the same file again with ``upsert`` completes it; on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore
from identitystore import _imported_hashes as imported
from tests.conftest import FAST

DB = "Username-Password-Authentication"
COUNT = 12_000
KILL_AFTER = 3_000


def user(n: int) -> dict[str, Any]:
    return {
        "email": f"user{n}@example.com",
        "user_id": f"legacy-{n}",
        "given_name": f"Given {n}",
        "email_verified": n % 2 == 0,
        "app_metadata": {"n": n, "roles": ["a", "b"]},
        "user_metadata": {"bio": "x" * (n % 300)},
        "custom_password_hash": {
            "algorithm": "md5",
            "hash": {"value": hashlib.md5(f"password-{n}".encode()).hexdigest(), "encoding": "hex"},
        },
    }


IMPORT = textwrap.dedent(
    """
    import sys
    from identitystore import IdentityStore, PasswordHasher

    def progress(done, total):
        print(done, flush=True)

    with IdentityStore(sys.argv[1], hasher=PasswordHasher.fast_for_tests()) as store:
        store.import_users(
            "Username-Password-Authentication", sys.argv[2], progress=progress,
        )
    print("finished", flush=True)
    """
)


def kill_midway(database: str, users: Path) -> None:
    """Run the import in a process and SIGKILL it once it has written ``KILL_AFTER`` users."""
    process = subprocess.Popen(
        [sys.executable, "-c", IMPORT, database, str(users)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if line.strip() == "finished":
                pytest.fail("the import finished before it could be killed")
            if int(line) >= KILL_AFTER:
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.stdout.close()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL


def check_whole(store: IdentityStore) -> int:
    """Every stored user is exactly its line of the file, hash included; return how many."""
    connection = store.get_connection(DB)
    stored = 0
    for n in range(COUNT):
        found = store.backend.find_user(connection.id, "email", f"user{n}@example.com")
        if found is None:
            continue
        stored += 1
        got, password_hash = found
        given = user(n)
        assert got.user_id == f"auth0|legacy-{n}"
        assert got.given_name == given["given_name"]
        assert got.email_verified is given["email_verified"]
        assert got.app_metadata == given["app_metadata"]
        assert got.user_metadata == given["user_metadata"]
        assert password_hash == imported.stored_hash(given)
    return stored


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.ndjson"
    path.write_text("".join(json.dumps(user(n)) + "\n" for n in range(COUNT)))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_killed_import_leaves_whole_users_and_an_upsert_completes_it(
    request: pytest.FixtureRequest, tmp_path: Path, users_file: Path, backend: str
) -> None:
    database = (
        request.getfixturevalue("pg_url") if backend == "postgres" else str(tmp_path / "users.db")
    )
    with IdentityStore(database, hasher=FAST):
        pass  # the schema and default connections exist before the race starts
    kill_midway(database, users_file)

    with IdentityStore(database, hasher=FAST) as store:
        if backend == "sqlite":
            with sqlite3.connect(database) as raw:
                assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        written = check_whole(store)
        assert KILL_AFTER <= written < COUNT
        assert store.backend.count_users() == written

        result = store.import_users(DB, users_file, upsert=True)
        assert result.errors == []
        assert (result.updated, result.inserted) == (written, COUNT - written)
        assert check_whole(store) == COUNT
        assert store.backend.count_users() == COUNT
        assert store.authenticate(DB, "user7@example.com", "password-7").user_id == "auth0|legacy-7"
