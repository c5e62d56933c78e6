"""A full disk, a read-only file, a failing write: a clear error, nothing half-written, and the same
store works again once the cause is gone.

How each is produced, so that the tests run as root too (root ignores file permissions):

* full: ``PRAGMA max_page_count`` caps the database, and SQLite answers ``SQLITE_FULL``, the code a
  full disk gives;
* a write failing inside a commit: a child process under ``RLIMIT_FSIZE``, whose ``write()`` calls
  fail with ``EFBIG`` once the WAL reaches the limit (SQLite reports an I/O error);
* read-only: a real ``chmod``-ed file and directory, opened by an unprivileged process (a forked
  child that drops to ``nobody`` when the tests run as root), and ``PRAGMA query_only``, SQLite's
  own read-only switch, which gives the same ``SQLITE_READONLY`` as a read-only file.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore, PasswordHasher, errors

from .soundness import assert_consistent

DB = "Username-Password-Authentication"
PASSWORD = "Correct-Horse-9"
FAST = PasswordHasher.fast_for_tests()
ROOT = Path(__file__).resolve().parent.parent


def _sqlite(store: IdentityStore) -> sqlite3.Connection:
    """The SQLite connection this thread's calls on ``store`` go through."""
    with store.backend._session() as conn:  # type: ignore[attr-defined]
        return conn  # type: ignore[no-any-return]


def _state(store: IdentityStore) -> tuple[int, int, list[Any]]:
    """Users, events, and every user as stored: what a refused write must leave unchanged."""
    users = assert_consistent(store)
    return store.backend.count_users(), len(store.list_events(limit=1_000_000)), users


# -- a full database -----------------------------------------------------------------------------


@pytest.fixture(params=["memory", "file"])
def full_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IdentityStore]:
    """A store whose database may grow by a few pages only (this thread's connection)."""
    target = ":memory:" if request.param == "memory" else tmp_path / "full.db"
    with IdentityStore(target, hasher=FAST) as store:
        store.create_user(DB, email="first@example.com", password=PASSWORD)
        conn = _sqlite(store)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 3}")
        yield store


def _fill(store: IdentityStore) -> errors.StorageFullError:
    """Create users until the database is full; return the error the last create raised."""
    for i in range(1000):
        try:
            store.create_user(
                DB, email=f"fill{i}@example.com", password=PASSWORD, user_metadata={"x": "y" * 4000}
            )
        except errors.StorageFullError as exc:
            return exc
    raise AssertionError("the database never filled up")


def test_a_full_database_is_a_clear_error_and_writes_nothing(full_store: IdentityStore) -> None:
    store = full_store
    error = _fill(store)
    assert error.to_dict() == {
        "statusCode": 503,
        "error": "Service Unavailable",
        "message": "The storage is full: nothing was written.",
        "errorCode": "storage_full",
    }
    assert isinstance(error, errors.StorageError)
    before = _state(store)
    victim = before[2][0]
    with pytest.raises(errors.StorageFullError):
        store.create_user(
            DB, email="late@example.com", password=PASSWORD, user_metadata={"x": "y" * 4000}
        )
    with pytest.raises(errors.StorageFullError):
        store.update_user(victim.user_id, user_metadata={"x": "z" * 8000}, name="Changed")
    assert store.get_users_by_email("late@example.com") == []
    assert store.get_user(victim.user_id) == victim
    assert _state(store) == before


def test_a_full_database_is_usable_again_once_space_is_freed(
    full_store: IdentityStore,
) -> None:
    store = full_store
    _fill(store)
    with pytest.raises(errors.StorageFullError):
        store.create_user(
            DB, email="late@example.com", password=PASSWORD, user_metadata={"x": "y" * 4000}
        )
    _sqlite(store).execute("PRAGMA max_page_count = 1073741823")  # space is back
    late = store.create_user(
        DB, email="late@example.com", password=PASSWORD, user_metadata={"x": "y" * 4000}
    )
    changed = store.update_user(
        late.user_id, user_metadata={"x": "z" * 8000}, password="Other-Horse-7"
    )
    assert store.get_user(late.user_id) == changed
    assert store.authenticate(DB, "late@example.com", "Other-Horse-7").user_id == late.user_id
    assert_consistent(store)


# -- a write failing inside a commit ---------------------------------------------------------------

FAILING_WRITER = """
import json, os, resource, signal, sys
from identitystore import IdentityStore, PasswordHasher, IdentityStoreError

path = sys.argv[1]
store = IdentityStore(path, hasher=PasswordHasher.fast_for_tests())
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG instead of killing us
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
largest = max(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
resource.setrlimit(resource.RLIMIT_FSIZE, (largest + 200_000, hard))
created, failures = [], []
for i in range(1000):
    try:
        user = store.create_user("Username-Password-Authentication", email=f"w{i}@example.com",
                                 password="Correct-Horse-9", user_metadata={"x": "y" * 3000})
        created.append(user.user_id)
        if i % 2:
            store.update_user(user.user_id, app_metadata={"i": i})
    except IdentityStoreError as exc:
        failures.append(exc.to_dict())
        if len(failures) == 3:
            break
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # the disk has room again
after = store.create_user("Username-Password-Authentication", email="after@example.com",
                          password="Correct-Horse-9")
created.append(after.user_id)
print(json.dumps({"created": created, "failures": failures}))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_FSIZE")
def test_a_write_failing_inside_a_commit_leaves_nothing_half_written(tmp_path: Path) -> None:
    import json

    path = tmp_path / "efbig.db"
    IdentityStore(path, hasher=FAST).close()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = subprocess.run(
        [sys.executable, "-c", FAILING_WRITER, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    report = json.loads(child.stdout)
    assert len(report["failures"]) == 3
    for failure in report["failures"]:
        assert failure["statusCode"] in (500, 503)
        assert failure["errorCode"] in ("storage_error", "storage_full")
    with IdentityStore(path, hasher=FAST) as store:
        users = assert_consistent(store, path)
        assert {u.user_id for u in users} == set(report["created"])
        for user in users:
            assert user.user_metadata == {"x": "y" * 3000} or user.email == "after@example.com"


# -- a read-only database ------------------------------------------------------------------------


def test_a_connection_that_cannot_write_is_refused_and_replaced(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    with IdentityStore(path, hasher=FAST) as store:
        user = store.create_user(DB, email="a@example.com", password=PASSWORD)
        before = _state(store)
        _sqlite(store).execute("PRAGMA query_only = ON")
        with pytest.raises(errors.StorageReadOnlyError) as caught:
            store.create_user(DB, email="b@example.com", password=PASSWORD)
        assert caught.value.to_dict() == {
            "statusCode": 503,
            "error": "Service Unavailable",
            "message": "The storage is read-only: nothing was written.",
            "errorCode": "storage_read_only",
        }
        assert _state(store) == before
        # that connection is gone: the next write opens a new one, which can write
        assert store.update_user(user.user_id, name="Jane").name == "Jane"
        assert store.create_user(DB, email="b@example.com", password=PASSWORD).email
        assert_consistent(store, path)


def _warm_up() -> None:
    """Import everything a store touches, before a child drops the rights to read the modules."""
    with (
        tempfile.TemporaryDirectory() as scratch,
        IdentityStore(Path(scratch) / "w.db", hasher=FAST) as store,
    ):
        user = store.create_user(DB, email="w@example.com", password=PASSWORD)
        store.update_user(user.user_id, name="W", user_metadata={"a": 1})
        store.authenticate(DB, "w@example.com", PASSWORD)
        store.list_users(q="name:W", include_totals=True)
        with contextlib.suppress(errors.IdentityStoreError):
            store.create_user(DB, email="w@example.com", password=PASSWORD)
    traceback.format_exc()
    pickle.dumps(AssertionError("x"))


def _unprivileged(scenario: Callable[[Path], None]) -> None:
    """Run ``scenario(directory)`` where file permissions apply: directly, or as root in a forked
    child that becomes ``nobody`` first (root ignores permissions)."""
    if os.geteuid() != 0:
        with tempfile.TemporaryDirectory() as scratch:
            scenario(Path(scratch))
        return
    _warm_up()
    directory = Path(tempfile.mkdtemp(prefix="identitystore-ro-"))
    os.chown(directory, 65534, 65534)
    read, write = os.pipe()
    try:
        with warnings.catch_warnings():  # no threads run here; Python 3.12 warns about fork anyway
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe
            outcome = b""
            try:
                os.setgid(65534)
                os.setuid(65534)
                scenario(directory)
            except BaseException:
                outcome = traceback.format_exc().encode()
            os.write(write, outcome or b"ok")
            os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            outcome = pipe.read()
        os.waitpid(pid, 0)
        assert outcome == b"ok", outcome.decode()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _make_read_only(path: Path, *, read_only: bool) -> None:
    mode = stat.S_IRUSR | (0 if read_only else stat.S_IWUSR)
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if file.exists():
            file.chmod(mode)


def _read_only_file(directory: Path, journal: str = "wal") -> None:
    """A read-only file in WAL mode, or in rollback-journal mode (as a copy, or another tool, may
    leave it: it stays so while read-only)."""
    path = directory / "ro.db"
    with IdentityStore(path, hasher=FAST) as setup:
        user = setup.create_user(DB, email="a@example.com", password=PASSWORD)
    with sqlite3.connect(path) as conn:
        assert conn.execute(f"PRAGMA journal_mode = {journal}").fetchone() == (journal,)
    conn.close()
    _make_read_only(path, read_only=True)
    before = path.read_bytes()
    store = IdentityStore(path, hasher=FAST)  # opens, and reads
    try:
        assert store.get_user(user.user_id) == user
        with pytest.raises(errors.StorageReadOnlyError) as caught:
            store.create_user(DB, email="b@example.com", password=PASSWORD)
        assert caught.value.status_code == 503
        with pytest.raises(errors.StorageReadOnlyError):
            store.update_user(user.user_id, name="Jane")
        assert store.get_user(user.user_id) == user
        assert [u.user_id for u in store.list_users().users] == [user.user_id]
        assert path.read_bytes() == before
        _make_read_only(path, read_only=False)  # SQLite made -shm read-only too: all three
        assert store.update_user(user.user_id, name="Jane").name == "Jane"  # same store
        assert store.create_user(DB, email="b@example.com", password=PASSWORD).email
        assert len(assert_consistent(store, path)) == 2
    finally:
        store.close()


def _read_only_directory(directory: Path) -> None:
    path = directory / "data" / "ro.db"
    path.parent.mkdir()
    IdentityStore(path, hasher=FAST).close()
    path.parent.chmod(stat.S_IRUSR | stat.S_IXUSR)  # no -wal or -shm can be created
    try:
        with pytest.raises(errors.StorageReadOnlyError):
            IdentityStore(path, hasher=FAST)
    finally:
        path.parent.chmod(stat.S_IRWXU)
    with IdentityStore(path, hasher=FAST) as store:
        assert store.create_user(DB, email="a@example.com", password=PASSWORD).email
        assert len(assert_consistent(store, path)) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs POSIX permissions")
def test_a_read_only_file_refuses_writes_and_works_again_when_writable() -> None:
    _unprivileged(_read_only_file)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs POSIX permissions")
def test_a_read_only_file_in_rollback_journal_mode_refuses_writes_with_503() -> None:
    _unprivileged(functools.partial(_read_only_file, journal="delete"))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs POSIX permissions")
def test_a_read_only_directory_refuses_to_open_then_works_when_writable() -> None:
    _unprivileged(_read_only_directory)


def test_a_read_only_postgresql_database_refuses_writes(pg_url: str) -> None:
    """Like a hot standby: the server refuses every write (``default_transaction_read_only``)."""
    with IdentityStore(pg_url, hasher=FAST) as store:
        user = store.create_user(DB, email="a@example.com", password=PASSWORD)
        before = _state(store)
    read_only = f"{pg_url}%20-cdefault_transaction_read_only%3Don"
    with IdentityStore(read_only, hasher=FAST) as store:
        assert store.get_user(user.user_id) == user
        with pytest.raises(errors.StorageReadOnlyError) as caught:
            store.create_user(DB, email="b@example.com", password=PASSWORD)
        assert caught.value.status_code == 503
        with pytest.raises(errors.StorageReadOnlyError):
            store.update_user(user.user_id, name="Jane")
        assert _state(store) == before
    with IdentityStore(pg_url, hasher=FAST) as store:
        assert store.update_user(user.user_id, name="Jane").name == "Jane"
        assert len(assert_consistent(store)) == 1
