"""Benchmark: what a fresh store costs, in creates, and a fresh PostgreSQL test schema, in tests.

Run from the project root (about 20 s; ``--quick`` a few seconds; PostgreSQL with
``--postgres-url`` or ``IDENTITYSTORE_TEST_POSTGRES_URL``)::

    python benchmarks/bench_fresh_store.py [--quick] [--postgres-url URL]

**SQLite, in memory.** The unit is one in-memory create: ``create_user("sms", phone_number=...)``
on a store that exists already (one row, no hashing). Timed in the same run, interleaved in
rounds, each median over its calls:

- ``fresh store``: ``IdentityStore(":memory:")`` with the options of the pytest plugin's
  ``identity_store_factory`` (fast hasher, manual clock, outbox, lenient rules), one create, and
  ``close()`` (the fixture closes each store; a closed store's emptied connection serves the
  next one, so its cost belongs here);
- ``first store``: the same with no closed store to take a connection from (each new
  connection is a copy of the schema migrated once per process, and parses it);
- ``migrating``: the same, with every migration applied to each new database, as before.

Goal: ``fresh store`` <= 5 creates.

**PostgreSQL.** The unit is a typical test body on a store: create a user with a password, sign
in, a wrong password, a profile update, a query, a delete, the event log (about ten calls).
Compared with it, a test's fresh database as the fixtures make it:

- ``new schema``: ``CREATE SCHEMA``, a store opened on it (it migrates and creates its default
  connections), ``close()``, ``DROP SCHEMA`` (tests/conftest.py ``pg_url``);
- ``kept schema``: a migrated, emptied schema taken from tests/conftest.py's
  ``MigratedSchemas``, a store opened on it (it creates its default connections), ``close()``,
  and the schema emptied for the next test (``pg_store_url``).

The script prints its tables and exits 0 whether or not the goal is met. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from identitystore import IdentityStore, PasswordHasher  # noqa: E402
from identitystore.storage import _schema, _sqlite  # noqa: E402
from identitystore.testing.helpers import ManualClock, Outbox  # noqa: E402

GOAL = 5.0
DB = "Username-Password-Authentication"
FAST = PasswordHasher.fast_for_tests()
_numbers = iter(range(10**9))


def _phone() -> str:
    return f"+1415{next(_numbers):07d}"


def _plugin_options() -> dict[str, Any]:
    """What ``identity_store_factory`` passes to ``IdentityStore``."""
    return {
        "hasher": PasswordHasher.fast_for_tests(),
        "clock": ManualClock(),
        "notifier": Outbox().notifier,
        "lenient": frozenset(),
    }


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _fresh_store() -> None:
    store = IdentityStore(":memory:", **_plugin_options())
    store.create_user("sms", phone_number=_phone())
    store.close()


def _first_store() -> None:
    _sqlite._spares.kept.clear()  # no closed store's connection to take: a new connection
    _fresh_store()


def _migrating_store() -> None:
    """A new connection on which every migration runs, as every store did before."""
    copy = _sqlite.copy_new_schema
    _sqlite.copy_new_schema = lambda conn: _schema.migrate(conn)  # type: ignore[assignment]
    try:
        _first_store()
    finally:
        _sqlite.copy_new_schema = copy


def bench_sqlite(rounds: int, per_round: int) -> list[tuple[str, float, str]]:
    store = IdentityStore(":memory:", **_plugin_options())
    for _ in range(200):  # warm up: statements prepared, template built
        store.create_user("sms", phone_number=_phone())
        _fresh_store()
    times: dict[str, list[float]] = {
        "one create": [],
        "fresh store": [],
        "first store": [],
        "migrating": [],
    }
    for _ in range(rounds):
        for _ in range(per_round):
            times["one create"].append(
                _timed(lambda: store.create_user("sms", phone_number=_phone()))
            )
        _fresh_store()  # a closed store's connection for the first fresh one
        for _ in range(per_round):
            times["fresh store"].append(_timed(_fresh_store))
        for _ in range(max(per_round // 5, 1)):
            times["first store"].append(_timed(_first_store))
            times["migrating"].append(_timed(_migrating_store))
    store.close()
    return _report(times, "sqlite", "one create", goals={"fresh store": f"<= {GOAL:.0f}"})


def _typical_test(store: IdentityStore) -> None:
    user = store.create_user(DB, email="jane@example.com", password="Correct-Horse-9")
    store.authenticate(DB, "jane@example.com", "Correct-Horse-9")
    try:
        store.authenticate(DB, "jane@example.com", "Wrong-Horse-9")
    except Exception:  # WrongCredentialsError, as meant
        pass
    store.update_user(user.user_id, name="Jane Doe", user_metadata={"plan": "pro"})
    store.list_users(q="user_metadata.plan:pro", include_totals=True)
    store.delete_user(user.user_id)
    store.list_events()


def bench_postgres(url: str, rounds: int) -> list[tuple[str, float, str]]:
    import uuid

    import psycopg

    from tests.conftest import MigratedSchemas, schema_url

    schemas = MigratedSchemas(url)
    admin = psycopg.connect(url, autocommit=True)

    def new_schema() -> None:
        schema = f"bench_{uuid.uuid4().hex[:16]}"
        admin.execute(f"CREATE SCHEMA {schema}")
        IdentityStore(schema_url(url, schema), hasher=FAST).close()
        admin.execute(f"DROP SCHEMA {schema} CASCADE")

    def kept_schema() -> None:
        taken = schemas.take()
        IdentityStore(taken, hasher=FAST).close()
        schemas.give_back(taken)

    times: dict[str, list[float]] = {"typical test": [], "new schema": [], "kept schema": []}
    target = schemas.take()
    try:
        with IdentityStore(target, hasher=FAST) as store:
            _typical_test(store)  # warm up
            for _ in range(rounds):
                times["typical test"].append(_timed(lambda: _typical_test(store)))
                times["new schema"].append(_timed(new_schema))
                times["kept schema"].append(_timed(kept_schema))
    finally:
        schemas.give_back(target)
        schemas.close()
        admin.close()
    return _report(times, "postgres", "typical test", goals={})


def _report(
    times: dict[str, list[float]], engine: str, unit_name: str, goals: dict[str, str]
) -> list[tuple[str, float, str]]:
    """Print each median and its ratio to the median of ``unit_name``; the summary rows."""
    unit = statistics.median(times[unit_name])
    print(f"\n{engine}: {unit_name} = {unit * 1e6:.0f} us (median of {len(times[unit_name])})")
    print(f"{'':14} {'median':>10} {'ratio':>8}")
    rows = []
    for name, values in times.items():
        ratio = statistics.median(values) / unit
        print(f"{name:14} {statistics.median(values) * 1e6:>7.0f} us {ratio:>8.2f}")
        if name != unit_name:
            rows.append((f"{engine} {name} / {unit_name}", ratio, goals.get(name, "info")))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, noisier")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("IDENTITYSTORE_TEST_POSTGRES_URL"), help="server"
    )
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, load average {os.getloadavg()}")
    rows = bench_sqlite(rounds=5 if args.quick else 20, per_round=50 if args.quick else 100)
    if args.postgres_url:
        rows += bench_postgres(args.postgres_url, rounds=10 if args.quick else 40)
    else:
        print("\nPostgreSQL: skipped (no --postgres-url)")
    print(f"\n{'ratio':34} {'value':>7}  goal")
    for name, value, goal in rows:
        verdict = goal if goal == "info" else ("PASS" if value <= GOAL else "FAIL")
        print(f"{name:34} {value:>7.2f}  {goal if goal == 'info' else goal + ' ' + verdict}")
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
