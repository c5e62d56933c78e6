"""Benchmarks of ``IdentityStore.create_user``, each a ratio against a baseline of the same run.

Run from the project root (about a minute; ``--quick`` takes a few seconds)::

    python benchmarks/bench_create.py [--quick] [--only insert,hash,threads] [--dir DIR]

1. ``insert``: passwordless ``create_user`` (``sms`` with ``phone_number``; ``email`` with
   ``email_verified=True``, so no verification ticket) against a raw ``sqlite3`` INSERT of the
   very row identitystore wrote, into a file of its own with the same schema, with the same
   durability (WAL; ``synchronous=FULL`` for the default ``durability="full"``, ``NORMAL`` for
   ``durability="normal"``), two ways: each row in its own ``BEGIN IMMEDIATE`` ... ``COMMIT``
   (as ``sqlite3`` writes a row and commits it; the baseline of the goal, full: <= 1.3x), and a
   lone autocommitted INSERT (the least a raw write can do; reported without a goal).
2. ``hash``: ``create_user`` with a password on ``Username-Password-Authentication`` (the default
   hasher: bcrypt cost 10) against ``bcrypt.hashpw(pw, bcrypt.gensalt(10))``. Goal: <= 1.03x.
3. ``threads``: creates per second with two threads on one shared store (one file) divided by
   creates per second with one thread. Goal: >= 1.7x.

Every figure is a ratio of two measurements interleaved in one run, never an absolute time: the
script prints its tables and exits 0 whether the goals are met or not. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import platform
import queue
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import bcrypt

import identitystore
from identitystore import IdentityStore
from identitystore.storage._sqlite import _INSERT_USER, _ROW_COLUMNS

DATABASE = "Username-Password-Authentication"
PASSWORD = "Correct-Horse-9"  # meets the default connection's "good" policy
BCRYPT_COST = 10  # the default hasher's cost (PasswordHasher.bcrypt())

# The columns and statement identitystore's SQLite backend writes a user with.
USER_COLUMNS = _ROW_COLUMNS
INSERT_USER = _INSERT_USER
SELECT_USER_ROW = f"SELECT {', '.join(USER_COLUMNS)} FROM users WHERE user_id = ?"


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does (``--quick`` shrinks it)."""

    insert_warmup: int  # untimed (identitystore, raw) pairs per variant
    insert_pairs: int  # timed pairs per variant
    hash_iterations: int  # timed create_user and bcrypt.hashpw calls, each
    thread_rounds: int  # rounds per thread count (1 and 2)
    thread_creates: int  # creates per thread per round


FULL = Sizes(
    insert_warmup=300, insert_pairs=2000, hash_iterations=50, thread_rounds=10, thread_creates=10
)
QUICK = Sizes(
    insert_warmup=60, insert_pairs=300, hash_iterations=10, thread_rounds=2, thread_creates=6
)


@dataclass(frozen=True)
class Outcome:
    """One goal's ratio for the summary table."""

    name: str
    ratio: float
    goal: str  # e.g. "<= 1.30x", or "" when the figure is reported without a goal
    passed: bool | None  # None: no goal


# -- small helpers --------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in (headers, *rows)) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        out = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f} ms"


def x(ratio: float) -> str:
    return f"{ratio:.3f}x"


def filesystem_type(path: Path) -> str:
    """The type of the file system holding ``path`` (Linux ``/proc/mounts``), or ``unknown``."""
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return "unknown"
    real = os.path.realpath(path)
    best, kind = "", "unknown"
    for entry in mounts:
        fields = entry.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def choose_base_dir(requested: str | None) -> Path:
    """Where the database files go: ``--dir``, else the temp dir unless it is in RAM, else cwd.

    fsync on tmpfs is free, which would make every durability figure meaningless.
    """
    if requested is not None:
        return Path(requested)
    temp = Path(tempfile.gettempdir())
    if filesystem_type(temp) not in ("tmpfs", "ramfs"):
        return temp
    return Path.cwd()


def open_raw(path: Path, synchronous: str) -> sqlite3.Connection:
    """A plain sqlite3 connection set up like identitystore's (see storage/_sqlite.py)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 60000")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA temp_store = MEMORY")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    if mode != "wal":
        raise RuntimeError(f"{path}: journal_mode is {mode}, not wal")
    return conn


def make_baseline(path: Path, store_path: Path, synchronous: str) -> sqlite3.Connection:
    """A raw database with identitystore's very schema (tables, indexes, triggers, copied from the
    store's file) and its connection rows."""
    conn = open_raw(path, synchronous)
    source = sqlite3.connect(store_path)
    try:
        objects = source.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
            "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid"
        ).fetchall()
        conn.execute("BEGIN IMMEDIATE")
        for (sql,) in objects:
            conn.execute(sql)
        conn.execute("COMMIT")
        rows = source.execute("SELECT id, name, strategy, options, created_at FROM connections")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO connections VALUES (?, ?, ?, ?, ?)", rows.fetchall())
        conn.execute("COMMIT")
    finally:
        source.close()
    return conn


# -- 1. passwordless create_user vs a raw INSERT of the same row ------------------------------


@dataclass(frozen=True)
class InsertResult:
    label: str
    durability: str
    store: list[float]
    raw: dict[str, list[float]]  # per baseline: "transaction", "autocommit"


#: The two raw baselines: how each writes one row (``raw.execute`` calls, times taken around them).
BASELINES = {
    "transaction": ("BEGIN IMMEDIATE", INSERT_USER, "COMMIT"),  # a row in its own transaction
    "autocommit": (INSERT_USER,),  # one statement, committed by SQLite itself
}


def bench_insert_variant(
    workdir: Path,
    *,
    connection: str,
    durability: str,
    sizes: Sizes,
) -> InsertResult:
    """Interleave identitystore creates with raw inserts of the very rows it wrote.

    The order is A A B B C C (two creates, then the two raw inserts of their rows into each
    baseline's file), so each kind follows itself and another kind equally often.
    """
    synchronous = "FULL" if durability == "full" else "NORMAL"
    tag = f"{connection}-{durability}"
    store_path = workdir / f"store-{tag}.db"
    store = IdentityStore(store_path, durability=durability)  # type: ignore[arg-type]
    raws = {
        name: make_baseline(workdir / f"raw-{name}-{tag}.db", store_path, synchronous)
        for name in BASELINES
    }
    reader = sqlite3.connect(store_path, isolation_level=None)  # reads back what the store wrote
    counter = itertools.count()

    def fields() -> dict[str, object]:
        n = next(counter)
        if connection == "sms":
            return {"phone_number": f"+1{n:010d}"}
        return {"email": f"bench-{n}@example.com", "email_verified": True}

    store_times: list[float] = []
    raw_times: dict[str, list[float]] = {name: [] for name in BASELINES}
    perf = time.perf_counter
    try:
        total = sizes.insert_warmup + sizes.insert_pairs
        for step in range(0, total, 2):
            user_ids: list[str] = []
            for _ in range(2):
                body = fields()
                start = perf()
                user = store.create_user(connection, **body)
                elapsed = perf() - start
                user_ids.append(user.user_id)
                if step >= sizes.insert_warmup:
                    store_times.append(elapsed)
            rows = [reader.execute(SELECT_USER_ROW, (u,)).fetchall()[0] for u in user_ids]
            for name, statements in BASELINES.items():
                raw = raws[name]
                for row in rows:
                    start = perf()
                    for sql in statements:
                        raw.execute(sql, row if sql is INSERT_USER else ())
                    elapsed = perf() - start
                    if step >= sizes.insert_warmup:
                        raw_times[name].append(elapsed)
        if store.outbox:
            raise RuntimeError(f"{connection}: a verification email was sent; no ticket expected")
        if reader.execute("SELECT count(*) FROM tickets").fetchone()[0] != 0:
            raise RuntimeError(f"{tag}: the store wrote a ticket")
        if reader.execute("SELECT count(*) FROM events").fetchone()[0] != 0:
            raise RuntimeError(f"{tag}: the store wrote an events row besides the user's row")
        for name, raw in raws.items():
            if (
                raw.execute("SELECT count(*) FROM users").fetchone()[0]
                != store.backend.count_users()
            ):
                raise RuntimeError(f"{tag}: the {name} file does not hold the store's rows")
    finally:
        reader.close()
        for raw in raws.values():
            raw.close()
        store.close()
    label = "sms, phone_number" if connection == "sms" else "email, email_verified=True"
    return InsertResult(label, durability, store_times, raw_times)


def _fifths(store: list[float], raw: list[float]) -> str:
    """The spread of the median ratio over each fifth of the run."""
    fifth = max(len(store) // 5, 1)
    blocks = [
        statistics.median(store[i : i + fifth]) / statistics.median(raw[i : i + fifth])
        for i in range(0, fifth * 5, fifth)
    ]
    return f"{min(blocks):.2f}-{max(blocks):.2f}"


def bench_insert(workdir: Path, sizes: Sizes) -> list[Outcome]:
    print("\n== 1. Passwordless create_user vs a raw sqlite3 INSERT of the same row ==")
    print(
        f"   {sizes.insert_pairs} timed pairs per line after {sizes.insert_warmup} untimed, "
        "interleaved A A B B C C. Each raw INSERT\n"
        "   writes, column for column, the row identitystore just wrote (read back from its "
        "file; the row holds the\n"
        "   signup event), into a file of its own with the same schema (same indexes and "
        "triggers, foreign_keys=ON),\n"
        "   WAL, same synchronous level; 'transaction' is BEGIN IMMEDIATE, INSERT, COMMIT, "
        "'autocommit' the INSERT\n"
        "   alone. Neither side writes a ticket. The goal (full) is against 'transaction'."
    )
    results = [
        bench_insert_variant(workdir, connection=c, durability=d, sizes=sizes)
        for d in ("full", "normal")
        for c in ("sms", "email")
    ]
    rows = []
    outcomes = []
    for r in results:
        sm = statistics.median(r.store)
        ratios = []
        for name, raw in r.raw.items():
            rm = statistics.median(raw)
            ratios.append(sm / rm)
            rows.append(
                [
                    f"{r.label} / {r.durability}",
                    name,
                    us(sm),
                    us(rm),
                    us(sm - rm),
                    x(sm / rm),
                    x(statistics.mean(r.store) / statistics.mean(raw)),
                    _fifths(r.store, raw),
                ]
            )
        name = f"1. {r.label} / {r.durability}"
        for baseline, ratio in zip(r.raw, ratios, strict=True):
            line = f"{name}, vs {baseline}"
            if r.durability == "full" and baseline == "transaction":
                outcomes.append(Outcome(line, ratio, "<= 1.30x", ratio <= 1.3))
            else:
                outcomes.append(Outcome(line, ratio, "", None))
    headers = [
        "connection / durability",
        "raw baseline",
        "identitystore (median)",
        "raw INSERT (median)",
        "added",
        "ratio (median)",
        "ratio (mean)",
        "ratio per fifth",
    ]
    print(table(headers, rows))
    return outcomes


# -- 2. create_user with a password vs bcrypt.hashpw ------------------------------------------


def bench_hash(workdir: Path, sizes: Sizes) -> list[Outcome]:
    print("\n== 2. create_user with a password (bcrypt cost 10) vs bcrypt.hashpw ==")
    store = IdentityStore(workdir / "store-hash.db")  # the default hasher and durability
    counter = itertools.count()
    secret = PASSWORD.encode("utf-8")
    perf = time.perf_counter

    def create() -> float:
        email = f"hash-{next(counter)}@example.com"
        start = perf()
        store.create_user(DATABASE, email=email, password=PASSWORD)
        return perf() - start

    def hashpw() -> float:
        start = perf()
        bcrypt.hashpw(secret, bcrypt.gensalt(BCRYPT_COST))
        return perf() - start

    try:
        for _ in range(2):  # warm-up: the first libpass hash loads its backend
            create()
            hashpw()
        creates: list[float] = []
        hashes: list[float] = []
        for i in range(sizes.hash_iterations):  # A B B A A B B A ...
            pair = ((create, creates), (hashpw, hashes))
            for action, sink in pair if i % 2 == 0 else reversed(pair):
                sink.append(action())
        profile = store.hasher
    finally:
        store.close()
    cm, hm = statistics.median(creates), statistics.median(hashes)
    ca, ha = statistics.mean(creates), statistics.mean(hashes)
    print(
        f"   {sizes.hash_iterations} of each, alternated A B B A; store hasher: {profile!r}; "
        "durability full, on disk."
    )
    print(
        table(
            ["", "median", "mean", "stdev"],
            [
                ["create_user(password=...)", ms(cm), ms(ca), ms(statistics.stdev(creates))],
                [
                    f"bcrypt.hashpw, gensalt({BCRYPT_COST})",
                    ms(hm),
                    ms(ha),
                    ms(statistics.stdev(hashes)),
                ],
                ["ratio", x(cm / hm), x(ca / ha), ""],
                ["difference", ms(cm - hm), ms(ca - ha), ""],
            ],
        )
    )
    return [
        Outcome(
            "2. create_user with password / bcrypt (median)", cm / hm, "<= 1.03x", cm / hm <= 1.03
        ),
        Outcome(
            "2. create_user with password / bcrypt (mean)", ca / ha, "<= 1.03x", ca / ha <= 1.03
        ),
    ]


# -- 3. two threads vs one on a shared store ----------------------------------------------------


class Workers:
    """Long-lived worker threads, so no round pays for starting a thread or opening SQLite."""

    def __init__(self, count: int, warm: Callable[[], None]) -> None:
        self._jobs: list[queue.Queue[tuple[Callable[[], None], int, threading.Barrier] | None]] = [
            queue.Queue() for _ in range(count)
        ]
        self._done: queue.Queue[BaseException | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._loop, args=(jobs, warm), daemon=True)
            for jobs in self._jobs
        ]
        for thread in self._threads:
            thread.start()
        for _ in self._threads:
            self._raise(self._done.get())

    @staticmethod
    def _raise(error: BaseException | None) -> None:
        if error is not None:
            raise RuntimeError("a benchmark thread failed") from error

    def _loop(
        self,
        jobs: queue.Queue[tuple[Callable[[], None], int, threading.Barrier] | None],
        warm: Callable[[], None],
    ) -> None:
        try:
            warm()  # opens this thread's SQLite connection
            self._done.put(None)
        except BaseException as exc:
            self._done.put(exc)
            return
        while (job := jobs.get()) is not None:
            work, count, barrier = job
            try:
                barrier.wait()
                for _ in range(count):
                    work()
                self._done.put(None)
            except BaseException as exc:
                barrier.abort()
                self._done.put(exc)

    def rate(self, work: Callable[[], None], threads: int, per_thread: int) -> float:
        """Calls of ``work`` per second with ``threads`` workers doing ``per_thread`` each."""
        barrier = threading.Barrier(threads + 1)
        for jobs in self._jobs[:threads]:
            jobs.put((work, per_thread, barrier))
        barrier.wait()
        start = time.perf_counter()
        errors = [self._done.get() for _ in range(threads)]
        elapsed = time.perf_counter() - start
        for error in errors:
            self._raise(error)
        return threads * per_thread / elapsed

    def stop(self) -> None:
        for jobs in self._jobs:
            jobs.put(None)
        for thread in self._threads:
            thread.join()


def bench_threads(workdir: Path, sizes: Sizes) -> list[Outcome]:
    print("\n== 3. Hashed creates on one shared store: two threads vs one ==")
    store = IdentityStore(workdir / "store-threads.db")  # bcrypt cost 10, durability full
    counter = itertools.count()
    secret = PASSWORD.encode("utf-8")

    def create() -> None:
        store.create_user(DATABASE, email=f"thread-{next(counter)}@example.com", password=PASSWORD)

    def hashpw() -> None:
        bcrypt.hashpw(secret, bcrypt.gensalt(BCRYPT_COST))

    workers = Workers(2, create)
    rates: dict[tuple[str, int], list[float]] = {
        (kind, n): [] for kind in ("store", "bcrypt") for n in (1, 2)
    }
    plan = [("store", 1), ("store", 2), ("bcrypt", 1), ("bcrypt", 2)]
    try:
        for round_ in range(sizes.thread_rounds):
            for kind, n in plan if round_ % 2 == 0 else reversed(plan):
                work = create if kind == "store" else hashpw
                rates[kind, n].append(workers.rate(work, n, sizes.thread_creates))
        users = store.backend.count_users()
    finally:
        workers.stop()
        store.close()
    expected = 2 + 3 * sizes.thread_rounds * sizes.thread_creates
    if users != expected:
        raise RuntimeError(f"expected {expected} users in the shared store, found {users}")
    print(
        f"   {sizes.thread_rounds} rounds per line, {sizes.thread_creates} calls per thread per "
        f"round, in the order s1 s2 b1 b2, then reversed;\n   {os.cpu_count()} CPUs. "
        "bcrypt.hashpw alone, in the same rounds, is what this machine allows (its ceiling)."
    )
    rows = []
    for kind, label in (("store", "create_user(password=...)"), ("bcrypt", "bcrypt.hashpw alone")):
        one, two = statistics.median(rates[kind, 1]), statistics.median(rates[kind, 2])
        best = max(rates[kind, 2]) / max(rates[kind, 1])
        per_round = [b / a for a, b in zip(rates[kind, 1], rates[kind, 2], strict=True)]
        spread = f"{min(per_round):.2f}-{max(per_round):.2f}"
        rows.append([label, f"{one:.2f}/s", f"{two:.2f}/s", x(two / one), x(best), spread])
    headers = ["work", "1 thread (median)", "2 threads (median)", "2 / 1", "best / best"]
    print(table([*headers, "per round"], rows))
    one, two = statistics.median(rates["store", 1]), statistics.median(rates["store", 2])
    ceiling = statistics.median(rates["bcrypt", 2]) / statistics.median(rates["bcrypt", 1])
    best = max(rates["store", 2]) / max(rates["store", 1])
    print(
        f"   create_user scaling / ceiling: {(two / one) / ceiling:.3f}. Other load only lowers "
        "a round's rate, so\n   'best / best' (fastest rounds) shows the scaling with the "
        "machine's noise removed."
    )
    return [
        Outcome(
            "3. 2-thread / 1-thread create throughput", two / one, ">= 1.70x", two / one >= 1.7
        ),
        Outcome("3. (same, fastest rounds: best / best)", best, "", None),
        Outcome("3. (ceiling: bcrypt.hashpw alone, 2 / 1 threads)", ceiling, "", None),
    ]


# -- main -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a shorter, noisier run")
    parser.add_argument(
        "--only",
        default="insert,hash,threads",
        help="comma-separated benchmarks to run: insert, hash, threads (default: all)",
    )
    parser.add_argument(
        "--dir", help="where the temporary database files go (default: the temp dir, if on disk)"
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    benches: dict[str, Callable[[Path, Sizes], list[Outcome]]] = {
        "insert": bench_insert,
        "hash": bench_hash,
        "threads": bench_threads,
    }
    unknown = [name for name in chosen if name not in benches]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    sizes = QUICK if args.quick else FULL
    base = choose_base_dir(args.dir)
    fs = filesystem_type(base)
    print(f"identitystore create_user benchmarks, {datetime.date.today().isoformat()}")
    print(
        f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, "
        f"bcrypt {bcrypt.__version__}, identitystore {identitystore.__version__}, "
        f"{platform.machine()} with {os.cpu_count()} CPUs"
    )
    print(f"database files in {base} ({fs}){'; quick run' if args.quick else ''}")
    load = os.getloadavg()
    print(f"load average before: {' '.join(f'{v:.2f}' for v in load)}")
    if load[0] > 0.5 * (os.cpu_count() or 1):
        print("WARNING: the machine is busy; ratios 1 and 3 will be noisy")
    if fs in ("tmpfs", "ramfs"):
        print("WARNING: that file system is in RAM: fsync costs nothing, durability is not tested")
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="identitystore-bench-", dir=base) as workdir:
        for name in chosen:
            outcomes += benches[name](Path(workdir), sizes)
    print("\n== Summary ==")
    rows = [
        [
            o.name,
            x(o.ratio),
            o.goal or "-",
            "info" if o.passed is None else ("PASS" if o.passed else "FAIL"),
        ]
        for o in outcomes
    ]
    print(table(["ratio", "measured", "goal", "status"], rows))
    print(
        f"\n(total {time.perf_counter() - started:.0f} s; load average after: "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}; other load on the machine skews "
        "ratios 1 and 3 most)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
