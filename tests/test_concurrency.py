"""A store shared by threads, and a file shared by processes: unique keys hold, nothing escapes."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore, IdentityStoreError, PasswordHasher, errors

DB = "Username-Password-Authentication"
PASSWORD = "Correct-Horse-9"


def _race(store: IdentityStore, emails: list[str], results: list[Any]) -> None:
    for email in emails:
        try:
            results.append(store.create_user(DB, email=email, password=PASSWORD).user_id)
        except IdentityStoreError as exc:
            results.append(exc)


@pytest.mark.parametrize("target", ["memory", "file"])
def test_threads_racing_for_the_same_emails(tmp_path: Path, target: str) -> None:
    path = ":memory:" if target == "memory" else tmp_path / "users.db"
    emails = [f"user{i}@example.com" for i in range(20)]
    with IdentityStore(path, hasher=PasswordHasher.fast_for_tests()) as store:
        results: list[Any] = []
        threads = [
            threading.Thread(
                target=_race, args=(store, [e.upper() if n % 2 else e for e in emails], results)
            )
            for n in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        created = [r for r in results if isinstance(r, str)]
        refused = [r for r in results if not isinstance(r, str)]
        assert len(created) == len(emails)
        assert all(isinstance(r, errors.UserExistsError) for r in refused)
        assert len(refused) == 3 * len(emails)
        assert store.backend.count_users() == len(emails)
        assert {store.get_user(u).email for u in created} == set(emails)


def _process_worker(path: str, worker: int, queue: Any) -> None:
    outcome: list[str] = []
    with IdentityStore(path, hasher=PasswordHasher.fast_for_tests()) as store:
        for i in range(10):
            for email in (f"shared{i}@example.com", f"own{worker}-{i}@example.com"):
                try:
                    store.create_user(DB, email=email, password=PASSWORD)
                    outcome.append("created")
                except errors.UserExistsError:
                    outcome.append("exists")
                except Exception as exc:  # anything else is a failure of the test
                    outcome.append(f"unexpected {type(exc).__name__}: {exc}")
    queue.put(outcome)


def test_processes_sharing_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "users.db")
    IdentityStore(path, hasher=PasswordHasher.fast_for_tests()).close()
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_process_worker, args=(path, w, queue)) for w in range(3)]
    for p in workers:
        p.start()
    outcomes = [queue.get(timeout=120) for _ in workers]
    for p in workers:
        p.join(timeout=60)
    flat = [o for out in outcomes for o in out]
    assert [o for o in flat if o.startswith("unexpected")] == []
    assert flat.count("created") == 10 + 3 * 10
    with IdentityStore(path, hasher=PasswordHasher.fast_for_tests()) as store:
        assert store.backend.count_users() == 40
        assert len(store.list_connections()) == 3
