"""A store shared by threads, and a file shared by processes: unique keys hold, nothing escapes."""

from __future__ import annotations

import multiprocessing
import random
import threading
from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore, IdentityStoreError, PasswordHasher, errors

from .soundness import assert_consistent

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


# -- 8 processes x 4 threads racing for the same identifiers -------------------------------------

NAMED = "Named-Racers"  # requires_username
SLOTS = 8  # identifiers of each kind that everybody races for
PROCESSES, THREADS = 8, 4
KINDS = ("email", "username", "phone_number", "user_id", "passwordless", "email_change")


def _variant(text: str, rng: random.Random) -> str:
    """``text`` with the case of some ASCII letters flipped."""
    return "".join(c.swapcase() if c.isalpha() and rng.random() < 0.5 else c for c in text)


def _attempt(store: IdentityStore, kind: str, slot: int, tag: str, rng: random.Random) -> Any:
    """Create the user of ``slot`` by ``kind``: (fields sent, user id) or the error raised."""
    own_email = f"own-{tag}@example.com"  # unique: only the raced identifier can collide
    if kind == "email":
        fields = {"email": _variant(f"racer{slot}@example.com", rng), "password": PASSWORD}
        connection = DB
    elif kind == "username":
        fields = {
            "email": own_email,
            "username": _variant(f"racer{slot}", rng),
            "password": PASSWORD,
        }
        connection = NAMED
    elif kind == "phone_number":
        fields = {"phone_number": f"+1415555{slot:04d}"}
        connection = "sms"
    elif kind == "email_change":  # a user of one's own, then a PATCH to the raced email
        own = store.create_user(DB, email=own_email, password=PASSWORD)
        fields = {"email": _variant(f"moved{slot}@example.com", rng)}
        try:
            return {**fields, "from": own_email}, store.update_user(own.user_id, **fields).user_id
        except IdentityStoreError as exc:
            return {**fields, "from": own_email}, exc
    elif kind == "passwordless":  # signs up on first use: every caller gets the one user
        fields = {"email": _variant(f"signin{slot}@example.com", rng)}
        try:
            return fields, store.start_passwordless("email", email=fields["email"]).user_id
        except IdentityStoreError as exc:
            return fields, exc
    else:
        fields = {
            "email": own_email,
            "user_id": _variant(f"race-{slot}", rng),
            "password": PASSWORD,
        }
        connection = DB
    try:
        return fields, store.create_user(connection, **fields).user_id
    except IdentityStoreError as exc:
        return fields, exc


def _racer(path: str, worker: int, start: Any, queue: Any) -> None:
    """One process: four threads on one store, each trying every identifier of every kind."""
    outcomes: list[tuple[str, int, dict[str, Any], Any]] = []
    lock = threading.Lock()
    with IdentityStore(path, hasher=PasswordHasher.fast_for_tests()) as store:
        store.get_connection(NAMED)  # opened and warm before the start
        ready = threading.Barrier(THREADS)

        def thread(number: int) -> None:
            rng = random.Random(worker * 100 + number)
            plan = [(kind, slot) for kind in KINDS for slot in range(SLOTS)]
            rng.shuffle(plan)
            ready.wait()
            for kind, slot in plan:
                tag = f"{worker}-{number}-{kind}-{slot}"
                try:
                    fields, result = _attempt(store, kind, slot, tag, rng)
                except Exception as exc:  # anything but IdentityStoreError fails the test
                    fields, result = {}, f"unexpected {type(exc).__name__}: {exc}"
                if isinstance(result, IdentityStoreError):
                    result = (
                        type(result).__name__,
                        getattr(result, "field", None),
                        result.to_dict(),
                    )
                with lock:
                    outcomes.append((kind, slot, fields, result))

        start.wait()
        threads = [threading.Thread(target=thread, args=(n,)) for n in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    queue.put(outcomes)


def _expected_refusal(kind: str) -> tuple[str, str | None, dict[str, Any]]:
    if kind == "username":
        return ("UsernameInUseError", None, errors.UsernameInUseError().to_dict())
    field = "email" if kind == "email_change" else kind
    return ("UserExistsError", field, errors.UserExistsError(field=field).to_dict())


def _identifier_race(database: str, sqlite_file: Path | None) -> None:
    with IdentityStore(database, hasher=PasswordHasher.fast_for_tests()) as setup:
        setup.create_connection(NAMED, strategy="auth0", options={"requires_username": True})
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    start = ctx.Barrier(PROCESSES)
    workers = [
        ctx.Process(target=_racer, args=(database, w, start, queue)) for w in range(PROCESSES)
    ]
    for p in workers:
        p.start()
    outcomes = [o for _ in workers for o in queue.get(timeout=300)]
    for p in workers:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len(outcomes) == PROCESSES * THREADS * len(KINDS) * SLOTS
    assert [o for o in outcomes if isinstance(o[3], str) and o[3].startswith("unexpected")] == []
    created = {}
    signed_up: dict[int, set[str]] = {}
    for kind, slot, fields, result in outcomes:
        if kind == "passwordless":
            assert isinstance(result, str), (slot, fields, result)
            signed_up.setdefault(slot, set()).add(result)
        elif isinstance(result, str):
            assert (kind, slot) not in created, f"{kind} {slot} created twice"
            created[kind, slot] = (fields, result)
        else:
            assert result == _expected_refusal(kind), (kind, slot, fields)
    assert [len(ids) for ids in signed_up.values()] == [1] * SLOTS
    for slot, (user_id,) in signed_up.items():
        created["passwordless", slot] = ({"email": f"signin{slot}@example.com"}, user_id)
    assert sorted(created) == sorted((kind, slot) for kind in KINDS for slot in range(SLOTS))
    moves = [(fields, result) for kind, _, fields, result in outcomes if kind == "email_change"]
    with IdentityStore(database, hasher=PasswordHasher.fast_for_tests()) as store:
        users = assert_consistent(store, sqlite_file)
        assert len(users) == len(created) - SLOTS + len(moves)  # each move had its own user
        for fields, result in moves:  # a refused PATCH left its user as it was
            stayed = store.get_users_by_email(fields["from"])
            assert len(stayed) == (0 if isinstance(result, str) else 1)
        for (kind, _), (fields, user_id) in created.items():
            user = store.get_user(user_id)  # complete: every field as sent, normalised
            for key, value in fields.items():
                if key == "from":
                    continue
                if key == "user_id":
                    assert user.user_id == f"auth0|{value}"  # the case as sent
                elif key != "password":
                    expected = value.lower() if key in ("email", "username") else value
                    assert getattr(user, key) == expected
            if "password" in fields:
                login = fields["username"] if kind == "username" else fields["email"]
                connection = NAMED if kind == "username" else DB
                assert store.authenticate(connection, login, PASSWORD).user_id == user_id


def test_processes_and_threads_racing_for_the_same_identifiers(tmp_path: Path) -> None:
    """8 processes x 4 threads on one SQLite file: one user per identifier, every refusal right."""
    path = tmp_path / "race.db"
    _identifier_race(str(path), path)


def test_processes_and_threads_racing_on_postgresql(pg_url: str) -> None:
    """The same race on one PostgreSQL database."""
    _identifier_race(pg_url, None)
