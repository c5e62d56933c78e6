"""Failed sign-ins of users with an outdated hash against unknown users, ratios of one run.

Run from the project root (about two minutes; ``--quick`` takes about twenty seconds)::

    python benchmarks/bench_signin_timing.py [--quick] [--only NAMES] [--dir DIR]

A user whose hash was written by another hasher (a lower cost, another scheme, an imported legacy
hash) must not be told from an unknown user by how long a wrong password takes: a mismatch of an
outdated hash lasts as long as a verify at the store's current settings (``PasswordHasher.verify``).
Each scenario is one store file whose users were written by other hashers, opened with the
store's hasher; these sign-ins, each with a wrong password, run round-robin:

- ``outdated``: the user with the outdated hash;
- ``unknown``: a new unknown email each time (the store's ``dummy_verify``);
- ``current``: a user whose hash is at the current settings;
- ``unhardened``: the outdated user again, through a second store on the same file whose hasher
  skips the hardening: the defect this guards against, for comparison.

Figures: median wall and CPU ms per case; the goal ratio is outdated / unknown by median wall
time, within 0.9-1.1 (as the sign-in timing goal of ``bench_lifecycle.py``). A hash slower than
the current settings (``bcrypt-12-in-bcrypt-10``) cannot be verified faster: that scenario is
reported without a goal. Nothing is asserted; the script exits 0 either way.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from identitystore import IdentityStore, PasswordHasher
from identitystore.errors import WrongCredentialsError

DB = "Username-Password-Authentication"
PASSWORD = "Correct-Horse-9"
WRONG = "Wrong-Horse-9"
GOAL = (0.9, 1.1)


class UnhardenedHasher(PasswordHasher):
    """``PasswordHasher`` without the hardening of outdated mismatches (the defect, measured)."""

    def _harden(self, started: float) -> None:
        return None


@dataclass(frozen=True)
class Scenario:
    """Users hashed by ``writers`` (name -> hasher), signed in through a store with ``hasher``."""

    name: str
    outdated: Callable[[], PasswordHasher]
    store: Callable[..., PasswordHasher]
    goal: bool = True
    needs: str | None = None


def _bcrypt_and_md5(cls: type[PasswordHasher] = PasswordHasher) -> PasswordHasher:
    """bcrypt cost 10 that also reads unsalted MD5 hex digests, as an import of them needs."""
    return cls(["bcrypt", "hex_md5"], profile="bcrypt-10+md5", bcrypt__rounds=10)


def _bcrypt(rounds: int) -> Callable[..., PasswordHasher]:
    def make(cls: type[PasswordHasher] = PasswordHasher) -> PasswordHasher:
        return cls(["bcrypt", "argon2"], profile=f"bcrypt-{rounds}", bcrypt__rounds=rounds)

    return make


def _argon2id(cls: type[PasswordHasher] = PasswordHasher) -> PasswordHasher:
    default = PasswordHasher.argon2id()  # the production profile's settings
    return cls(default._schemes, profile="argon2id", **default._settings)


SCENARIOS = [
    Scenario("bcrypt-4-in-bcrypt-10", PasswordHasher.fast_for_tests, _bcrypt(10)),
    Scenario("md5-in-bcrypt-10", lambda: PasswordHasher(["hex_md5"]), _bcrypt_and_md5),
    Scenario("bcrypt-10-in-argon2id", PasswordHasher.bcrypt, _argon2id, needs="argon2"),
    Scenario(
        "bcrypt-12-in-bcrypt-10", lambda: PasswordHasher.bcrypt(rounds=12), _bcrypt(10), False
    ),
]


@dataclass
class Result:
    scenario: Scenario
    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]

    def ratio(self, case: str, times: str = "wall") -> float:
        series = self.wall if times == "wall" else self.cpu
        return statistics.median(series[case]) / statistics.median(series["unknown"])


def _fails(store: IdentityStore, email: str) -> None:
    try:
        store.authenticate(DB, email, WRONG, ip="10.0.0.1")
    except WrongCredentialsError:
        return
    raise AssertionError("a wrong password signed in")


def run(scenario: Scenario, directory: Path, trials: int) -> Result:
    path = directory / f"{scenario.name}.db"
    with IdentityStore(path, hasher=scenario.outdated(), durability="normal") as store:
        store.create_user(DB, email="outdated@example.com", password=PASSWORD)
    options: dict[str, Any] = {"durability": "normal", "max_login_attempts": 0}
    with (
        IdentityStore(path, hasher=scenario.store(), **options) as store,
        IdentityStore(path, hasher=scenario.store(UnhardenedHasher), **options) as unhardened,
    ):
        store.create_user(DB, email="current@example.com", password=PASSWORD)
        stored = store.backend.find_user(
            store.get_connection(DB).id, "email", "outdated@example.com"
        )
        assert stored is not None
        assert stored[1] is not None
        assert store.hasher.needs_update(stored[1]), "the outdated user's hash is current"
        counter = iter(range(10**9))
        cases: dict[str, Callable[[], None]] = {
            "outdated": lambda: _fails(store, "outdated@example.com"),
            "unknown": lambda: _fails(store, f"nobody{next(counter)}@example.com"),
            "current": lambda: _fails(store, "current@example.com"),
            "unhardened": lambda: _fails(unhardened, "outdated@example.com"),
        }
        for case in list(cases.values()) * 3:  # the dummy hash, the first measurements
            case()
        names = list(cases)
        wall: dict[str, list[float]] = {name: [] for name in names}
        cpu: dict[str, list[float]] = {name: [] for name in names}
        for trial in range(trials):
            for k in range(len(names)):
                name = names[(trial + k) % len(names)]
                started, started_cpu = time.perf_counter(), time.process_time()
                cases[name]()
                cpu[name].append((time.process_time() - started_cpu) * 1000)
                wall[name].append((time.perf_counter() - started) * 1000)
    return Result(scenario, wall, cpu)


def _spread(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=10)
    return f"{q[0]:.1f}-{q[-1]:.1f}"


def report(results: list[Result]) -> None:
    for result in results:
        print(f"\n## {result.scenario.name} (store hasher: {result.scenario.store().profile})\n")
        print("| case | median wall ms | p10-p90 wall ms | median CPU ms | / unknown (wall) |")
        print("|---|---:|---|---:|---:|")
        for case, times in result.wall.items():
            print(
                f"| {case} | {statistics.median(times):.1f} | {_spread(times)} | "
                f"{statistics.median(result.cpu[case]):.1f} | {result.ratio(case):.3f} |"
            )
    print("\n## Summary: outdated / unknown, median wall time (goal 0.9-1.1)\n")
    print("| scenario | hardened | CPU | unhardened (the defect) | status |")
    print("|---|---:|---:|---:|---|")
    for result in results:
        ratio = result.ratio("outdated")
        if result.scenario.goal:
            status = "PASS" if GOAL[0] <= ratio <= GOAL[1] else "FAIL"
        else:
            status = "info (slower than the current settings)"
        print(
            f"| {result.scenario.name} | {ratio:.3f} | {result.ratio('outdated', 'cpu'):.3f} | "
            f"{result.ratio('unhardened'):.3f} | {status} |"
        )


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials: noisier")
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--dir", type=Path, help="where the store files go (default: a temp dir)")
    args = parser.parse_args(argv)
    trials = 8 if args.quick else 40
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only.split(",")]
    print(f"# Failed sign-in timing: outdated hashes vs unknown users ({trials} trials per case)")
    print(
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} at the start"
    )
    results = []
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        for scenario in chosen:
            if scenario.needs and not _has(scenario.needs):
                print(f"skipped {scenario.name}: pip install 'identitystore[argon2]'")
                continue
            argon2 = scenario.needs == "argon2"
            results.append(
                run(scenario, Path(directory), max(4, trials // 2) if argon2 else trials)
            )
    report(results)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
