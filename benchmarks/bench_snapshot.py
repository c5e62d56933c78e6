"""Benchmark of test snapshots: seeding a store against restoring a ``Snapshot`` of it.

Run from the project root (about ten seconds; ``--quick`` takes a few)::

    python benchmarks/bench_snapshot.py [--quick]

Seeding N password users with ``seed_users`` (fast test hasher) into a fresh in-memory store
against ``Snapshot.restore()`` of a store holding those N users, in alternating rounds: what a
per-test fixture pays either way. The figure is the ratio of the median times. Every restored
store is checked to hold the N users. The script prints its table and exits 0. See
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import identitystore
from identitystore import IdentityStore, PasswordHasher
from identitystore.testing.helpers import Snapshot, seed_users

DATABASE = "Username-Password-Authentication"
PASSWORD = "Correct-Horse-9"  # meets the default connection's "good" policy


def _time(action: Callable[..., object], *args: object, **kwargs: object) -> float:
    start = time.perf_counter()
    action(*args, **kwargs)
    return time.perf_counter() - start


def bench_snapshot(users: int, rounds: int) -> tuple[float, float]:
    """Median seconds to get a store holding ``users`` users: (seeding, restoring)."""
    fast = PasswordHasher.fast_for_tests()
    records = [
        {"connection": DATABASE, "email": f"user{i}@example.com", "user_id": f"{i:024x}"}
        for i in range(users)
    ]
    with IdentityStore(hasher=fast) as seeded:
        seed_users(seeded, records, password=PASSWORD)
        snapshot = Snapshot(seeded)
    seed_times, restore_times = [], []
    for _ in range(rounds):
        with IdentityStore(hasher=fast) as store:
            seed_times.append(_time(seed_users, store, records, password=PASSWORD))
        start = time.perf_counter()
        restored = snapshot.restore(hasher=fast)
        restore_times.append(time.perf_counter() - start)
        assert restored.list_users(include_totals=True).total == users
        restored.close()
    snapshot.close()
    return statistics.median(seed_times), statistics.median(restore_times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, noisier figures")
    args = parser.parse_args(argv)
    users, rounds = (50, 3) if args.quick else (200, 7)
    print(
        f"identitystore {identitystore.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs\n"
    )
    seed, restore = bench_snapshot(users, rounds)
    print(f"| a store with {users} password users (median) | ms |")
    print("|---|---|")
    print(f"| seed_users (fast hasher) | {seed * 1000:.1f} |")
    print(f"| Snapshot.restore() | {restore * 1000:.2f} |")
    print(f"| **ratio** | **{seed / restore:.0f}x** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
