"""Password sign-ins on the emulator's ``/oauth/token`` against bare ``bcrypt.checkpw``, the time
of a wrong password against an unknown user, and ID token verification, ratios of one run.

Run from the project root (about a minute; ``--quick`` takes about fifteen seconds)::

    python benchmarks/bench_oauth_token.py [--quick] [--rounds N] [--dir DIR]

An ``Emulator`` serves a store on a SQLite file (durability ``full``) hashing with the default
``PasswordHasher.bcrypt()`` (cost 10). One keep-alive HTTP client then runs, round-robin:

- ``signin``: a ``password-realm`` sign-in with ``scope=openid email`` (200: access and ID
  token), the whole HTTP request;
- ``checkpw``: ``bcrypt.checkpw`` of the same password against a cost-10 hash, in this process;
- ``wrong``: the same sign-in with a wrong password (403);
- ``unknown``: a sign-in of an email nobody has (403, the store's dummy verification).

Goals (median wall time per call): ``signin / checkpw`` at most 1.1; ``unknown / wrong`` within
0.9-1.1. Verification: ``jwt.decode`` of one ID token with the JWKS key (RS256, checking ``aud``,
``iss`` and ``exp``) per second, reported without a goal. Nothing is asserted; the script exits 0
either way. The machine may be shared: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import bcrypt
import httpx
import jwt

from identitystore import IdentityStore, PasswordHasher
from identitystore.emulator import Emulator, OffsetClock

DB = "Username-Password-Authentication"
PASSWORD = "Correct-Horse-9"
REALM = "http://auth0.com/oauth/grant-type/password-realm"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, noisier")
    parser.add_argument("--rounds", type=int, help="round-robin rounds (default 60, quick 15)")
    parser.add_argument("--dir", type=Path, help="where the database file goes")
    args = parser.parse_args()
    rounds = args.rounds or (15 if args.quick else 60)
    print(f"load average before: {_load()}; {rounds} rounds")

    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        store = IdentityStore(
            Path(folder) / "tenant.db",
            hasher=PasswordHasher.bcrypt(),
            clock=OffsetClock(),
            max_login_attempts=0,  # the wrong passwords must not trip brute-force protection
        )
        store.create_user(DB, email="jane@example.com", password=PASSWORD, verify_email=False)
        reference = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10))
        with Emulator(store) as emu, httpx.Client(base_url=emu.url) as client:
            form = {
                "grant_type": REALM,
                "client_id": emu.client_id,
                "client_secret": emu.client_secret,
                "realm": DB,
                "username": "jane@example.com",
                "password": PASSWORD,
                "scope": "openid email",
            }

            def signin() -> None:
                response = client.post("/oauth/token", data=form)
                assert response.status_code == 200, response.text

            def wrong() -> None:
                response = client.post("/oauth/token", data={**form, "password": "Wrong-Horse"})
                assert response.status_code == 403, response.text

            count = iter(range(10**9))

            def unknown() -> None:
                email = f"nobody{next(count)}@example.com"
                response = client.post("/oauth/token", data={**form, "username": email})
                assert response.status_code == 403, response.text

            def checkpw() -> None:
                assert bcrypt.checkpw(PASSWORD.encode(), reference)

            cases: dict[str, Callable[[], None]] = {
                "signin": signin,
                "checkpw": checkpw,
                "wrong": wrong,
                "unknown": unknown,
            }
            for case in cases.values():  # warm up: connections, caches, first key fetch
                case()
            samples: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(rounds):
                for name, case in cases.items():
                    started = time.perf_counter()
                    case()
                    samples[name].append(time.perf_counter() - started)

            id_token = client.post("/oauth/token", data=form).json()["id_token"]
            jwks = jwt.PyJWKClient(f"{emu.url}/.well-known/jwks.json")
            key = jwks.get_signing_key_from_jwt(id_token)
            issuer = f"https://{emu.domain}/"
            verified = 0
            started = time.perf_counter()
            while time.perf_counter() - started < (1.0 if args.quick else 3.0):
                jwt.decode(
                    id_token, key, algorithms=["RS256"], audience=emu.client_id, issuer=issuer
                )
                verified += 1
            per_second = verified / (time.perf_counter() - started)
        store.close()

    print(f"\n{'case':<10} {'median ms':>10}")
    medians = {name: _median_ms(values) for name, values in samples.items()}
    for name, value in medians.items():
        print(f"{name:<10} {value:>10.2f}")
    overhead = medians["signin"] / medians["checkpw"]
    alike = medians["unknown"] / medians["wrong"]
    verdict = {True: "PASS", False: "FAIL"}
    print("\nratio                      value  goal        result")
    print(f"signin / checkpw         {overhead:>7.3f}  <= 1.1      {verdict[overhead <= 1.1]}")
    print(f"unknown / wrong          {alike:>7.3f}  0.9-1.1     {verdict[0.9 <= alike <= 1.1]}")
    print(f"ID token verifications/s {per_second:>7.0f}  -           info")
    print(f"\nload average after: {_load()}")


if __name__ == "__main__":
    main()
