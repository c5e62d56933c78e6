"""What storing passwordless codes so that a database copy gives none back costs, in one run.

Run from the project root (about twenty seconds)::

    python benchmarks/bench_codes.py [--rounds N] [--dir DIR]

A code is stored as scrypt (``CODE_SCRYPT``) salted with its connection and identifier when the
store has no ``secret_key``, and as HMAC-SHA256 under that key when it has one (issue 15 #10). Per
case, on one store file each, median wall ms of:

- ``create``: ``create_user("sms", ...)``, the unit the other benchmarks use;
- ``start``: ``start_passwordless("sms", ...)`` for a user that exists (a code stored);
- ``verify``: ``verify_passwordless`` with the right code (the code's digest computed and checked).

Figures: verify time with scrypt minus verify time with HMAC (goal: a few milliseconds, at most
5 ms), each verify as a ratio to a create; and what the copy of a database costs an attacker:
one core's time to search every 6-digit code of one user with scrypt, against the code's
lifetime (goal: longer than the lifetime, by far). Nothing is asserted; the script exits 0.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

from identitystore import IdentityStore, PasswordHasher
from identitystore._passwordless import CODE_SCRYPT
from identitystore.limits import CODE_LENGTH, CODE_LIFETIME

KEY = b"a secret key that is not in the db"
GOAL_EXTRA_MS = 5.0


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def measure(path: Path, key: bytes | None, rounds: int) -> dict[str, float]:
    """Median ms of create, start and a right-code verify on a store file with ``key``."""
    times: dict[str, list[float]] = {"create": [], "start": [], "verify": []}
    hasher = PasswordHasher.fast_for_tests()  # codes only: the password hasher plays no part
    with IdentityStore(path, hasher=hasher, secret_key=key) as store:
        for i in range(rounds):
            phone = f"+1415555{i:04d}"
            started = time.perf_counter()
            store.create_user("sms", phone_number=phone)
            times["create"].append(time.perf_counter() - started)
            started = time.perf_counter()
            message = store.start_passwordless("sms", phone_number=phone)
            times["start"].append(time.perf_counter() - started)
            assert message.token is not None
            started = time.perf_counter()
            store.verify_passwordless("sms", phone_number=phone, code=message.token)
            times["verify"].append(time.perf_counter() - started)
    return {name: _median_ms(values) for name, values in times.items()}


def scrypt_digest_ms(rounds: int) -> float:
    """Median ms of one code digest with the store's scrypt settings (an attacker's unit)."""
    n, r, p = CODE_SCRYPT
    samples = []
    for i in range(rounds):
        started = time.perf_counter()
        hashlib.scrypt(
            f"{i:06d}".encode(), salt=b"con\x00+14155550100\x00", n=n, r=r, p=p,
            maxmem=256 * n * r, dklen=32,
        )  # fmt: skip
        samples.append(time.perf_counter() - started)
    return _median_ms(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200, help="sign-ins per case")
    parser.add_argument("--dir", type=Path, default=None, help="where the store files go")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        print(f"load average {os.getloadavg()[0]:.2f}; {args.rounds} rounds per case; {directory}")
        scrypt = measure(Path(directory) / "scrypt.db", None, args.rounds)
        keyed = measure(Path(directory) / "hmac.db", KEY, args.rounds)
    print(f"\n{'case':<22}{'create ms':>10}{'start ms':>10}{'verify ms':>10}{'verify/create':>15}")
    for name, row in (("scrypt (no secret_key)", scrypt), ("HMAC (secret_key)", keyed)):
        ratio = row["verify"] / row["create"]
        print(f"{name:<22}{row['create']:>10.2f}{row['start']:>10.2f}{row['verify']:>10.2f}"
              f"{ratio:>15.2f}")  # fmt: skip
    extra = scrypt["verify"] - keyed["verify"]
    verdict = "PASS" if extra <= GOAL_EXTRA_MS else "FAIL"
    print(f"\nscrypt's cost on a right-code verify: {extra:+.2f} ms (goal <= {GOAL_EXTRA_MS} ms) "
          f"{verdict}")  # fmt: skip
    digest = scrypt_digest_ms(max(20, args.rounds // 4))
    search_s = digest / 1000 * 10**CODE_LENGTH
    lifetime_s = CODE_LIFETIME.total_seconds()
    print(f"one scrypt code digest: {digest:.2f} ms; every {CODE_LENGTH}-digit code on one core: "
          f"{search_s / 3600:.1f} h, {search_s / lifetime_s:.0f}x the code's lifetime "
          f"({lifetime_s:.0f} s)")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
