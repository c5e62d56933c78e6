"""Benchmark of the test hashing profile: creating a password user, fast profile vs production.

Run from the project root (about 20 s; ``--quick`` takes a few seconds)::

    python benchmarks/bench_testing.py [--quick]

Two in-memory stores, one with ``PasswordHasher.fast_for_tests()`` (bcrypt cost 4) and one with
the production default ``PasswordHasher.bcrypt()`` (cost 10), each create users in
``Username-Password-Authentication`` with a password, interleaved in rounds (one production
create, then a batch of fast creates), each call timed with ``time.perf_counter``. The figure is
the ratio of the median times per create (production / fast). Goal: >= 50x.

The stored hashes must stay real: every hash each hasher produced is checked with
``bcrypt.checkpw`` (not with identitystore's code) and carries its cost (``$2b$04$`` or
``$2b$10$``), and every created user signs in with its password. The script asserts these, prints
its table and exits 0 whether the goal is met or not. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import bcrypt

from identitystore import IdentityStore, PasswordHasher

DATABASE = "Username-Password-Authentication"
PASSWORD = "Correct-Horse-9"  # meets the default connection's "good" policy
GOAL = 50.0


class RecordingHasher(PasswordHasher):
    """A ``PasswordHasher`` that keeps every hash it makes, to check them afterwards."""

    def __init__(self, base: PasswordHasher) -> None:
        self.__dict__.update(base.__dict__)
        self.made: list[str] = []

    def hash(self, secret: bytes) -> str:
        hashed = super().hash(secret)
        self.made.append(hashed)
        return hashed


def create(store: IdentityStore, n: int, label: str) -> float:
    """Create user ``n``; return the seconds it took."""
    start = time.perf_counter()
    store.create_user(DATABASE, email=f"{label}{n}@example.com", password=PASSWORD)
    return time.perf_counter() - start


def check_real(store: IdentityStore, hasher: RecordingHasher, label: str, cost: int) -> None:
    """Every hash verifies with bcrypt itself, has its cost, and every user signs in."""
    assert hasher.made, label
    for hashed in hasher.made:
        assert hashed.startswith(f"$2b${cost:02d}$"), hashed[:7]
        assert bcrypt.checkpw(PASSWORD.encode(), hashed.encode()), label
        assert not bcrypt.checkpw(b"not-the-password", hashed.encode()), label
    for n in range(len(hasher.made)):
        user = store.authenticate(DATABASE, f"{label}{n}@example.com", PASSWORD)
        assert user.email == f"{label}{n}@example.com"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, noisier")
    args = parser.parse_args()
    rounds, batch = (20, 10) if args.quick else (120, 20)

    fast = RecordingHasher(PasswordHasher.fast_for_tests())
    slow = RecordingHasher(PasswordHasher.bcrypt())
    print(f"python {platform.python_version()}, bcrypt {bcrypt.__version__}, cpus {os.cpu_count()}")
    print(f"{rounds} rounds of 1 production create + {batch} fast creates, in memory")
    with (
        IdentityStore(":memory:", hasher=fast) as fast_store,
        IdentityStore(":memory:", hasher=slow) as slow_store,
    ):
        for n in range(5):  # warm-up, untimed
            create(fast_store, 10_000 + n, "warm")
            create(slow_store, 10_000 + n, "warm")
        fast.made.clear()
        slow.made.clear()
        fast_times: list[float] = []
        slow_times: list[float] = []
        for r in range(rounds):
            slow_times.append(create(slow_store, r, "slow"))
            fast_times.extend(create(fast_store, r * batch + i, "fast") for i in range(batch))
        check_real(fast_store, fast, "fast", 4)
        check_real(slow_store, slow, "slow", 10)

    fast_median = statistics.median(fast_times)
    slow_median = statistics.median(slow_times)
    ratio = slow_median / fast_median
    mean_ratio = statistics.fmean(slow_times) / statistics.fmean(fast_times)
    print()
    print(f"{'profile':<28}{'creates':>8}{'median ms':>12}{'mean ms':>10}")
    for name, times in (
        ("fast_for_tests (cost 4)", fast_times),
        ("bcrypt() (cost 10)", slow_times),
    ):
        median, mean = statistics.median(times) * 1e3, statistics.fmean(times) * 1e3
        print(f"{name:<28}{len(times):>8}{median:>12.3f}{mean:>10.3f}")
    verdict = "PASS" if ratio >= GOAL else "FAIL"
    print()
    print(
        f"production / fast, medians: {ratio:.1f}x (means {mean_ratio:.1f}x); goal >= {GOAL:.0f}x"
    )
    print(f"{verdict}; every hash verified with bcrypt.checkpw and every user signed in")


if __name__ == "__main__":
    main()
