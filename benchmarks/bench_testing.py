"""Benchmarks of the test toolkit, each a ratio of two measurements interleaved in one run.

Run from the project root (about half a minute; ``--quick`` takes a few seconds)::

    python benchmarks/bench_testing.py [--quick]

1. ``hashing``: ``create_user`` with a password on ``Username-Password-Authentication`` in an
   in-memory store, with the production hasher (``PasswordHasher.bcrypt()``, cost 10) against
   ``PasswordHasher.fast_for_tests()`` (cost 4). Goal: the fast profile >= 50x cheaper. Every
   fast hash is checked to be a real bcrypt hash that signs the user in.
2. ``snapshot``: seeding N password users with ``seed_users`` (fast hasher) against
   ``Snapshot.restore()`` of a store holding those N users: what a per-test fixture pays.

The script prints its tables and exits 0 whether the goals are met or not. Results are in
benchmarks/TESTING.md.
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


def bench_hashing(pairs: int) -> tuple[float, float]:
    """Median seconds per password create: (production, fast)."""
    production, fast = PasswordHasher.bcrypt(), PasswordHasher.fast_for_tests()
    slow_times, fast_times = [], []
    with IdentityStore(hasher=production) as slow_store, IdentityStore(hasher=fast) as fast_store:
        for i in range(pairs + 2):  # the first two pairs warm up
            email = f"user{i}@example.com"
            slow = _time(slow_store.create_user, DATABASE, email=email, password=PASSWORD)
            quick = _time(fast_store.create_user, DATABASE, email=email, password=PASSWORD)
            if i >= 2:
                slow_times.append(slow)
                fast_times.append(quick)
            signed_in = fast_store.authenticate(DATABASE, email, PASSWORD)
            assert signed_in.logins_count == 1, "a fast hash must verify"
    return statistics.median(slow_times), statistics.median(fast_times)


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
    pairs, users, rounds = (10, 50, 3) if args.quick else (40, 200, 7)
    print(
        f"identitystore {identitystore.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs"
    )
    slow, quick = bench_hashing(pairs)
    print("\n| hashing (median per password create) | ms |")
    print("|---|---|")
    print(f"| production, bcrypt cost 10 | {slow * 1000:.2f} |")
    print(f"| fast_for_tests, bcrypt cost 4 | {quick * 1000:.2f} |")
    print(f"| **ratio** (goal >= 50x) | **{slow / quick:.0f}x** |")
    seed, restore = bench_snapshot(users, rounds)
    print(f"\n| a store with {users} password users (median) | ms |")
    print("|---|---|")
    print(f"| seed_users (fast hasher) | {seed * 1000:.1f} |")
    print(f"| Snapshot.restore() | {restore * 1000:.2f} |")
    print(f"| **ratio** | **{seed / restore:.0f}x** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
