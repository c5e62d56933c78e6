"""Bulk import and export of a million users, each against a raw baseline of the same run.

Run from the project root (with the ``postgres`` extra for PostgreSQL; about 20 minutes for a
million users, ``--users 100000`` about two)::

    python benchmarks/bench_import_export.py [--users N] [--only import,memory,export]
        [--postgres-url URL | --no-postgres] [--dir DIR]

1. ``import``: ``IdentityStore.import_users`` of a newline-delimited file of N users (each with a
   bcrypt ``password_hash``, a ``user_id``, names and a small ``user_metadata``) into a fresh
   store, against writing the very rows the import stored into a fresh database with the same
   schema: on SQLite a raw ``executemany`` in transactions of as many rows as the import's batch
   (``BATCH_SIZE``), and one ``executemany`` of all the rows in one transaction (what a raw
   loader would write), both with the same durability (WAL, ``synchronous=FULL``); the ratio is
   taken against the faster of the two. Shown for reference: multi-row ``INSERT``s of 1,000 rows
   in the import's transactions, which is how the import writes. On PostgreSQL one ``COPY`` of
   all the rows in one transaction. Only the writes
   are timed for the baseline; the import is timed whole (reading and checking the file included).
   Goal: at least 0.5x the baseline's throughput.
2. ``memory``: the peak resident memory of a process importing N/10 users and of one importing N
   users, and of one that only opened the store. Goal: flat (the same for both sizes), under 200 MB.
3. ``export``: ``IdentityStore.export_users`` of the N users to a newline-delimited file, against a
   raw ``SELECT`` of the user columns and ``json.dumps`` of each row into a file (on PostgreSQL
   through a server-side cursor). Goal: at least 0.5x the baseline's throughput.

PostgreSQL: ``--postgres-url``, else ``IDENTITYSTORE_TEST_POSTGRES_URL``; each run makes fresh
schemas and drops them at the end. The script prints its figures and exits 0 whether the goals are
met or not. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
from bench_create import choose_base_dir, filesystem_type, make_baseline

import identitystore
from identitystore import IdentityStore, PasswordHasher
from identitystore._import import BATCH_SIZE

DATABASE = "Username-Password-Authentication"
#: The baseline's transactions: as many rows as the import's batches.
BATCH = BATCH_SIZE
#: A few bcrypt hashes at Auth0's cost, shared by the file's users (hashing a million would take
#: a day, and the import never hashes).
HASHES = [bcrypt.hashpw(f"password-{n}".encode(), bcrypt.gensalt(10)).decode() for n in range(8)]


def user(n: int) -> dict[str, Any]:
    return {
        "email": f"user{n}@example.com",
        "email_verified": n % 3 == 0,
        "user_id": f"legacy-{n:08d}",
        "given_name": f"Given{n % 1000}",
        "family_name": f"Family{n % 997}",
        "password_hash": HASHES[n % len(HASHES)],
        "user_metadata": {"plan": ("free", "pro", "team")[n % 3], "signup": 2000 + n % 25},
    }


def write_users_file(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for start in range(0, count, 10_000):
            out.write(
                "".join(
                    json.dumps(user(n)) + "\n" for n in range(start, min(start + 10_000, count))
                )
            )


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>10,.0f} users/s ({seconds:7.1f} s)"


def report(label: str, count: int, ours: float, raw: float, goal: str) -> None:
    ratio = raw / ours
    print(f"  identitystore  {rate(count, ours)}")
    print(f"  {label:<13}  {rate(count, raw)}")
    print(f"  ratio          {ratio:.2f}x of the baseline's throughput   (goal {goal})")


# -- SQLite ---------------------------------------------------------------------------------------


def sqlite_import(folder: Path, users_file: Path, count: int) -> Path:
    path = folder / "imported.db"
    with IdentityStore(path, hasher=PasswordHasher.fast_for_tests()) as store:
        started = time.perf_counter()
        result = store.import_users(DATABASE, users_file)
        ours = time.perf_counter() - started
    assert result.inserted == count, result.summary()

    raw_path = folder / "raw.db"
    raw = make_baseline(raw_path, path, "FULL")
    source = sqlite3.connect(path)
    columns = [row[1] for row in source.execute("PRAGMA table_info(users)")]
    insert = f"INSERT INTO users ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    cursor = source.execute(f"SELECT {', '.join(columns)} FROM users ORDER BY rowid")
    seconds = 0.0
    while rows := cursor.fetchmany(BATCH):
        started = time.perf_counter()
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany(insert, rows)
        raw.execute("COMMIT")
        seconds += time.perf_counter() - started
    raw.close()
    # for reference: the same rows in one transaction as a single executemany (no batches), and
    # in the import's transactions as multi-row INSERTs of 1,000 rows (how the import writes)
    whole = make_baseline(folder / "raw-whole.db", path, "FULL")
    rows = source.execute(f"SELECT {', '.join(columns)} FROM users ORDER BY rowid").fetchall()
    started = time.perf_counter()
    whole.execute("BEGIN IMMEDIATE")
    whole.executemany(insert, rows)
    whole.execute("COMMIT")
    at_once = time.perf_counter() - started
    whole.close()
    multi = make_baseline(folder / "raw-multi.db", path, "FULL")
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        multi.execute("BEGIN IMMEDIATE")
        for part in range(start, min(start + BATCH, len(rows)), 1000):
            chunk = rows[part : part + 1000]
            marks = ", ".join([f"({', '.join('?' for _ in columns)})"] * len(chunk))
            values = [value for row in chunk for value in row]
            multi.execute(f"INSERT INTO users ({', '.join(columns)}) VALUES {marks}", values)
        multi.execute("COMMIT")
    multi_rows = time.perf_counter() - started
    del rows
    multi.close()
    source.close()
    print(f"SQLite import: {count:,} users from a newline-delimited file")
    lines = [
        ("identitystore", ours),
        (f"executemany, {BATCH:,} rows a transaction", seconds),
        ("executemany, one transaction", at_once),
    ]
    for label, taken in lines:
        print(f"  {label:<38} {rate(count, taken)}  {taken / ours:.2f}x")
    judged = min(seconds, at_once)  # the faster of the two raw baselines
    print(f"  ratio {judged / ours:.2f}x of the faster executemany's throughput   (goal >= 0.5x)")
    print("  (for reference, multi-row INSERTs of 1,000 rows, as the import writes them, in")
    print(f"  transactions of {BATCH:,}: {rate(count, multi_rows)}, {multi_rows / ours:.2f}x)")
    return path


def sqlite_export(folder: Path, database: Path, count: int) -> None:
    with IdentityStore(database, hasher=PasswordHasher.fast_for_tests()) as store:
        started = time.perf_counter()
        written = store.export_users(folder / "export.ndjson")
        ours = time.perf_counter() - started
    assert written == count
    source = sqlite3.connect(database)
    columns = [row[1] for row in source.execute("PRAGMA table_info(users)")]
    columns = [c for c in columns if c not in ("password_hash", "user_id_key", "signup_log_id")]
    started = time.perf_counter()
    with (folder / "raw-export.ndjson").open("w", encoding="utf-8") as out:
        for row in source.execute(f"SELECT {', '.join(columns)} FROM users"):
            out.write(json.dumps(dict(zip(columns, row, strict=True))) + "\n")
    raw = time.perf_counter() - started
    source.close()
    print(f"SQLite export: {count:,} users to a newline-delimited file")
    report("SELECT+dumps", count, ours, raw, ">= 0.5x")


# -- memory ---------------------------------------------------------------------------------------

#: A process that imports (or only opens the store) and prints its peak resident memory: VmHWM,
#: which starts afresh at exec (``ru_maxrss`` would carry the parent's peak over).
_MEASURE = """
import sys
from identitystore import IdentityStore, PasswordHasher
with IdentityStore(sys.argv[1], hasher=PasswordHasher.fast_for_tests()) as store:
    if sys.argv[2] != "-":
        store.import_users("Username-Password-Authentication", sys.argv[2])
with open("/proc/self/status") as status:
    print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
"""


def peak_rss_mb(database: Path | str, users_file: Path | None) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(database), str(users_file or "-")],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.split()[-1]) / 1024  # KiB


def memory(folder: Path, users_file: Path, small_file: Path, count: int) -> None:
    idle = peak_rss_mb(folder / "idle.db", None)
    small = peak_rss_mb(folder / "small.db", small_file)
    large = peak_rss_mb(folder / "large.db", users_file)
    print("Peak memory (resident) of a process importing into a fresh SQLite store")
    print(f"  opening the store only      {idle:7.1f} MB")
    print(f"  importing {count // 10:>9,} users    {small:7.1f} MB")
    print(f"  importing {count:>9,} users    {large:7.1f} MB   (goal: flat, < 200 MB)")


# -- PostgreSQL -----------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def postgres(url: str, users_file: Path, count: int, only: set[str]) -> None:
    import psycopg
    from psycopg.types.string import TextLoader

    with postgres_schema(url) as first, postgres_schema(url) as second:
        store = IdentityStore(first, hasher=PasswordHasher.fast_for_tests())
        started = time.perf_counter()
        result = store.import_users(DATABASE, users_file)
        ours = time.perf_counter() - started
        assert result.inserted == count, result.summary()
        IdentityStore(second, hasher=PasswordHasher.fast_for_tests()).close()  # the schema
        with psycopg.connect(first) as source, psycopg.connect(second) as target:
            for name in ("json", "jsonb"):  # rows as stored: JSON as its text
                source.adapters.register_loader(name, TextLoader)
            columns = [
                row[0]
                for row in source.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = 'users' "
                    "ORDER BY ordinal_position"
                )
            ]
            _copy_connections(source, target)
            target.commit()
            rows = source.execute(f"SELECT {', '.join(columns)} FROM users").fetchall()
            started = time.perf_counter()
            with target.cursor().copy(f"COPY users ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            target.commit()
            raw = time.perf_counter() - started
            del rows
        print(f"PostgreSQL import: {count:,} users from a newline-delimited file")
        report("COPY", count, ours, raw, ">= 0.5x")

        if "export" in only:
            out = Path(tempfile.mkdtemp()) / "export.ndjson"
            started = time.perf_counter()
            written = store.export_users(out)
            ours = time.perf_counter() - started
            assert written == count
            store.close()
            with psycopg.connect(first) as source:
                columns = [c for c in columns if c not in ("password_hash", "user_id_key")]
                started = time.perf_counter()
                with source.cursor(name="export") as cursor, out.open("w") as file:
                    cursor.execute(f"SELECT {', '.join(columns)} FROM users")
                    for row in cursor:
                        line = json.dumps(dict(zip(columns, row, strict=True)), default=str)
                        file.write(line + "\n")
                raw = time.perf_counter() - started
            print(f"PostgreSQL export: {count:,} users to a newline-delimited file")
            report("SELECT+dumps", count, ours, raw, ">= 0.5x")
        else:
            store.close()


def _copy_connections(source: Any, target: Any) -> None:
    """The first schema's connections, ids included, in the second (the rows reference them)."""
    columns = [
        row[0]
        for row in source.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'connections' "
            "ORDER BY ordinal_position"
        )
    ]
    rows = source.execute(f"SELECT {', '.join(columns)} FROM connections").fetchall()
    target.execute("DELETE FROM connections")
    marks = ", ".join("%s" for _ in columns)
    target.cursor().executemany(
        f"INSERT INTO connections ({', '.join(columns)}) VALUES ({marks})", rows
    )


# -- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--only", default="import,memory,export")
    parser.add_argument("--postgres-url", default=os.environ.get("IDENTITYSTORE_TEST_POSTGRES_URL"))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--dir", help="where the files go (not tmpfs: fsync must cost)")
    options = parser.parse_args(argv)
    only = set(options.only.split(","))
    base = choose_base_dir(options.dir)
    print(
        f"identitystore {identitystore.__version__}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, "
        f"{base} on {filesystem_type(base)}, {datetime.datetime.now():%Y-%m-%d %H:%M}"
    )
    with tempfile.TemporaryDirectory(dir=base) as name:
        folder = Path(name)
        users_file = folder / "users.ndjson"
        small_file = folder / "small.ndjson"
        write_users_file(users_file, options.users)
        write_users_file(small_file, options.users // 10)
        size = users_file.stat().st_size / 2**20
        print(f"{options.users:,} users, a {size:,.0f} MB newline-delimited file\n")
        if only & {"import", "export"}:
            database = sqlite_import(folder, users_file, options.users)
            print()
            if "export" in only:
                sqlite_export(folder, database, options.users)
                print()
        if "memory" in only:
            memory(folder, users_file, small_file, options.users)
            print()
        if options.postgres_url and not options.no_postgres and only & {"import", "export"}:
            postgres(options.postgres_url, users_file, options.users, only)


if __name__ == "__main__":
    main()
