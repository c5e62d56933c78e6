"""PostgreSQL next to SQLite: create and lookup throughput, concurrent writers, raw baselines.

Run from the project root, with the ``postgres`` extra installed (about 5 minutes; ``--quick``
about one)::

    python benchmarks/bench_backends.py [--quick] [--only create,lookup,writers]
        [--postgres-url URL | --no-postgres] [--users N] [--dir DIR]

PostgreSQL: ``--postgres-url``, else ``IDENTITYSTORE_TEST_POSTGRES_URL``, else the script starts a
throwaway cluster (``initdb`` and ``pg_ctl`` on ``PATH``; as the ``postgres`` user when run as
root) in a temporary directory on a free localhost port, and removes it at the end. Its tables go
in two fresh schemas, dropped at the end.

1. ``create``: passwordless ``create_user`` and ``create_user`` with a password (the fast test
   hasher, so storage dominates) against a raw INSERT of the very row the store wrote, with the same
   durability, into a copy of the same database (raw ``sqlite3``; raw ``psycopg``).
2. ``lookup``: ``get_user``, ``get_users_by_email`` and a ``list_users`` page against the raw
   indexed SELECT that answers each, decoded into one dict per user.
3. ``writers``: passwordless creates per second with 1, 2, 4 and 8 writers: threads sharing one
   store, processes each with their own store on the same file or database, and threads each
   with their own raw connection (the database's own ceiling). Ratio to one writer.

Both backends hold the same data (``--users``, default 10,000, seeded through ``create_user``).
Figures are medians of one run, ratios of interleaved measurements; the script asserts nothing
about speed and exits 0 whether the figures are good or bad. See benchmarks/BACKENDS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import itertools
import multiprocessing
import os
import platform
import queue
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_create import choose_base_dir, filesystem_type, open_raw
from bench_lifecycle import _as_dict, _ids, compare

import identitystore
from identitystore import IdentityStore, PasswordHasher
from identitystore.storage import UserQuery
from identitystore.storage._postgres import _INSERT_USER as PG_INSERT_USER
from identitystore.storage._postgres import _order as pg_order
from identitystore.storage._rows import SELECT_USER, USER_COLUMNS
from identitystore.storage._sqlite import _INSERT_USER as SQLITE_INSERT_USER
from identitystore.storage._sqlite import _ROW_COLUMNS as SQLITE_ROW_COLUMNS
from identitystore.storage._sqlite import _order as sqlite_order

FAST = PasswordHasher.fast_for_tests()
DATABASE = "Username-Password-Authentication"
PASSWORD = "Correct-Horse-9"  # meets the default connection's "good" policy
PER_PAGE = 50
PAGES = (0, 19)  # the first page and the last one Auth0 serves at per_page=50 (1,000 results)
WRITER_COUNTS = (1, 2, 4, 8)
COLUMN = {name: i for i, name in enumerate(USER_COLUMNS)}


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does (``--quick`` shrinks it)."""

    users: int  # seeded before anything is timed
    create_warmup: int  # untimed (store, raw) pairs per line
    create_pairs: int  # timed pairs per line
    lookup_reps: int  # most repetitions per lookup
    lookup_budget: float  # seconds per lookup, at least
    writer_rounds: int  # rounds per writer count and mode
    writer_creates: int  # creates per round, shared evenly by its writers


FULL = Sizes(10_000, 200, 2_000, 4_000, 2.0, 5, 800)
QUICK = Sizes(2_000, 50, 300, 600, 0.5, 2, 160)


# -- output ---------------------------------------------------------------------------------------


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; every column but the first right-aligned."""
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|")
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs"


def per_s(rate: float) -> str:
    return f"{rate:,.0f}/s"


# -- PostgreSQL: a throwaway cluster, or a given server ---------------------------------------


def free_port() -> int:
    """A free localhost port between 20000 and 40000."""
    rng = random.Random()
    for _ in range(100):
        port = rng.randrange(20_000, 40_000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 40000")


class Cluster:
    """A new PostgreSQL cluster in a temporary directory under ``base``, stopped by ``stop``.

    The server refuses to run as root: as root, it runs as the ``postgres`` user (``runuser``).
    """

    def __init__(self, base: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="identitystore-bench-pg-", dir=base))
        self.data = self.dir / "data"
        self.port = free_port()
        self.running = False
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.dir, "postgres")

    def _run(self, *command: str) -> None:
        subprocess.run(
            [*self._as, *command], cwd=self.dir, check=True, capture_output=True, text=True
        )

    def start(self) -> str:
        """Start the server; its URL."""
        self._run(
            "initdb", "-D", str(self.data), "-U", "identitystore", "-A", "trust", "-E", "UTF8"
        )
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=100"
        )
        log = str(self.dir / "server.log")
        data = str(self.data)
        self._run("pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "start", "-o", options)
        self.running = True
        return f"postgresql://identitystore@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
            self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)


def with_schema(url: str, schema: str) -> str:
    """``url`` with ``schema`` first on the search path."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


# -- raw connections: the baselines -----------------------------------------------------------


class Raw:
    """A plain connection to one database: INSERT one user row per transaction, or SELECT."""

    engine: str
    select_user: str
    order: str  # the store's page order, NULL first
    columns: Sequence[str]  # the columns of a user's row, as the store writes them

    def insert(self, row: Sequence[Any]) -> None:
        raise NotImplementedError

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def stored_row(self, user_id: str) -> tuple[Any, ...]:
        """The user's row as the store wrote it, in ``columns`` order."""
        columns = ", ".join(
            f"{c}::text" if self.engine == "postgres" and c.endswith("_metadata") else c
            for c in self.columns
        )
        return self.rows(f"SELECT {columns} FROM users WHERE user_id = ?", (user_id,))[0]

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        found = self.rows(self.select_user + " WHERE user_id = ?", (user_id,))
        return _as_dict(found[0]) if found else None

    def by_email(self, email: str) -> list[dict[str, Any]]:
        sql = self.select_user + f" WHERE email = ? ORDER BY {self.order}"
        return [_as_dict(r) for r in self.rows(sql, (email.lower(),))]

    def page(self, page: int) -> list[dict[str, Any]]:
        sql = self.select_user + f" ORDER BY {self.order} LIMIT ? OFFSET ?"
        return [_as_dict(r) for r in self.rows(sql, (PER_PAGE, PER_PAGE * page))]


class RawSQLite(Raw):
    """``sqlite3`` set up as identitystore's connections; ``BEGIN IMMEDIATE``/``COMMIT`` per row."""

    engine = "sqlite"
    select_user = SELECT_USER
    order = "created_at, user_id"  # SQLite sorts NULL first
    columns = SQLITE_ROW_COLUMNS  # with the signup event kept in the row

    def __init__(self, path: str, durability: str) -> None:
        self.db = open_raw(Path(path), "FULL" if durability == "full" else "NORMAL")

    def insert(self, row: Sequence[Any]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute(SQLITE_INSERT_USER, row)
        self.db.execute("COMMIT")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.db.execute(sql, params).fetchall()

    def close(self) -> None:
        self.db.close()


class RawPostgres(Raw):
    """One ``psycopg`` connection (autocommit; one explicit transaction per insert); ``normal``
    sets ``synchronous_commit = off`` as the store does."""

    engine = "postgres"
    select_user = SELECT_USER
    order = "created_at NULLS FIRST, user_id NULLS FIRST"  # the store's page order (SQLite's)
    columns = USER_COLUMNS

    def __init__(self, url: str, durability: str) -> None:
        import psycopg
        from psycopg.types.string import TextLoader

        self.db = psycopg.connect(url, autocommit=True)
        self.db.adapters.register_loader("jsonb", TextLoader)  # as the store's sessions do
        if durability == "normal":
            self.db.execute("SET synchronous_commit = off")

    def insert(self, row: Sequence[Any]) -> None:
        with self.db.transaction():
            self.db.execute(PG_INSERT_USER, row)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.db.execute(sql.replace("?", "%s"), params).fetchall()  # type: ignore[arg-type]

    def close(self) -> None:
        self.db.close()


def raw_connect(engine: str, target: str, durability: str) -> Raw:
    return RawSQLite(target, durability) if engine == "sqlite" else RawPostgres(target, durability)


# -- the two databases of each backend: the store's, and a copy for the raw baseline ----------


@dataclass
class Target:
    """One backend: the store's database and a copy of it for the raw baseline."""

    name: str  # "SQLite" or "PostgreSQL"
    engine: str  # "sqlite" or "postgres"
    store: str  # a file path or a postgresql:// URL
    raw: str
    user_ids: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    seed_seconds: float = 0.0

    def store_raw(self, durability: str = "full") -> Raw:
        """A raw connection to the store's own database (to read back what it wrote)."""
        return raw_connect(self.engine, self.store, durability)

    def baseline(self, durability: str = "full") -> Raw:
        return raw_connect(self.engine, self.raw, durability)


def seed(target: Target, n: int) -> None:
    """``n`` users through ``create_user`` (durability normal): 70% ``email``, 30% ``sms``."""
    started = time.perf_counter()
    with IdentityStore(target.store, durability="normal", hasher=FAST) as store:
        for i in range(n):
            metadata = {"plan": "pro" if i % 5 == 0 else "free"}
            if i % 10 < 7:
                email = f"user{i}@example.com"
                user = store.create_user(
                    "email", email=email, email_verified=True, user_metadata=metadata
                )
                target.emails.append(email)
            else:
                user = store.create_user(
                    "sms", phone_number=f"+1{2_000_000_000 + i}", user_metadata=metadata
                )
            target.user_ids.append(user.user_id)
    target.seed_seconds = time.perf_counter() - started


def sqlite_target(workdir: Path, n: int) -> Target:
    target = Target("SQLite", "sqlite", str(workdir / "store.db"), str(workdir / "raw.db"))
    seed(target, n)
    source, copy = sqlite3.connect(target.store), sqlite3.connect(target.raw)
    try:
        source.backup(copy)  # the same schema, connections and users, page for page
    finally:
        copy.close()
        source.close()
    return target


def postgres_target(url: str, prefix: str, n: int) -> Target:
    import psycopg

    store_schema, raw_schema = f"{prefix}_store", f"{prefix}_raw"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {store_schema}")
        admin.execute(f"CREATE SCHEMA {raw_schema}")
    target = Target(
        "PostgreSQL", "postgres", with_schema(url, store_schema), with_schema(url, raw_schema)
    )
    seed(target, n)
    IdentityStore(target.raw, hasher=FAST).close()  # the same schema, made by the store
    with psycopg.connect(url, autocommit=True) as admin, admin.transaction():
        admin.execute(f"DELETE FROM {raw_schema}.connections")
        admin.execute(
            f"INSERT INTO {raw_schema}.connections (id, name, strategy, options, created_at) "
            f"SELECT id, name, strategy, options, created_at FROM {store_schema}.connections"
        )
        admin.execute(f"INSERT INTO {raw_schema}.users SELECT * FROM {store_schema}.users")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"ANALYZE {store_schema}.users")
        admin.execute(f"ANALYZE {raw_schema}.users")
    return target


def drop_schemas(url: str, prefix: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        for suffix in ("store", "raw"):
            admin.execute(f"DROP SCHEMA IF EXISTS {prefix}_{suffix} CASCADE")


# -- 1. create: the store against a raw INSERT of the same row ----------------------------------


@dataclass(frozen=True)
class CreateLine:
    backend: str
    kind: str
    durability: str
    store: list[float]
    raw: list[float]
    hashes: list[float]  # the store's hasher alone, once per pair (password lines only)


def create_line(target: Target, kind: str, durability: str, sizes: Sizes) -> CreateLine:
    """Two creates, then raw inserts of their two rows (A A B B), read back from the store."""
    store = IdentityStore(target.store, durability=durability, hasher=FAST)  # type: ignore[arg-type]
    raw, reader = target.baseline(durability), target.store_raw()
    tag = f"{kind}-{durability}"
    counter = itertools.count()
    perf = time.perf_counter
    store_times: list[float] = []
    raw_times: list[float] = []
    hash_times: list[float] = []
    secret = PASSWORD.encode("utf-8")

    def create() -> str:
        email = f"{tag}-{next(counter)}@example.com"
        if kind == "password":
            return store.create_user(DATABASE, email=email, password=PASSWORD).user_id
        return store.create_user("email", email=email, email_verified=True).user_id

    try:
        for step in range(sizes.create_warmup + sizes.create_pairs):
            timed = step >= sizes.create_warmup
            user_ids = []
            for _ in range(2):
                start = perf()
                user_ids.append(create())
                if timed:
                    store_times.append(perf() - start)
            for row in [reader.stored_row(u) for u in user_ids]:
                start = perf()
                raw.insert(row)
                if timed:
                    raw_times.append(perf() - start)
            if kind == "password":
                start = perf()
                FAST.hash(secret)
                if timed:
                    hash_times.append(perf() - start)
    finally:
        reader.close()
        raw.close()
        store.close()
    return CreateLine(target.name, kind, durability, store_times, raw_times, hash_times)


def bench_create(targets: Sequence[Target], sizes: Sizes) -> list[str]:
    print("\n## 1. Create: one writer, the store against a raw INSERT of the same row\n")
    print(
        f"{sizes.create_pairs:,} timed pairs per line after {sizes.create_warmup} untimed, "
        "interleaved A A B B, on the seeded databases. The raw INSERT writes the very row the "
        "store just wrote (read back, not timed) into the copy, one transaction per row, with "
        'the same durability. `passwordless`: `create_user("email", email=..., '
        "email_verified=True)` (user + event). `password`: `create_user(DATABASE, email=..., "
        "password=...)` with the fast test hasher (bcrypt cost 4) (user + verification ticket + "
        "event). The raw INSERT writes the user row only. (On SQLite the signup event is kept "
        "in the user's row, so the raw row holds it too.)\n"
    )
    lines = [
        create_line(t, kind, durability, sizes)
        for t in targets
        for durability in ("full", "normal")
        for kind in ("passwordless", "password")
    ]
    rows = []
    headlines = []
    for line in lines:
        sm, rm = statistics.median(line.store), statistics.median(line.raw)
        rate = 1 / statistics.fmean(line.store)
        rows.append(
            [
                f"{line.backend}, {line.durability}, {line.kind}",
                us(sm),
                per_s(rate),
                us(rm),
                per_s(1 / statistics.fmean(line.raw)),
                us(sm - rm),
                us(statistics.median(line.hashes)) if line.hashes else "-",
                f"{sm / rm:.2f}x",
            ]
        )
        headlines.append(
            f"create ({line.kind}, {line.durability}) on {line.backend}: {per_s(rate)}, "
            f"{sm / rm:.2f}x the raw INSERT"
        )
    headers = ["backend, durability, create", "store (median)", "store rate", "raw INSERT"]
    print(md_table([*headers, "raw rate", "added", "of it: hash", "store / raw"], rows))
    print(
        "\n(rates: 1 / mean time per call; `of it: hash`: `FAST.hash(password)` alone, timed once "
        "per pair)"
    )
    return headlines


# -- 2. lookups: the store against the raw SELECT ---------------------------------------------


def bench_lookup(targets: Sequence[Target], sizes: Sizes) -> list[str]:
    print("\n## 2. Lookups: the store against the raw indexed SELECT\n")
    print(
        "Each repetition times both calls with a fresh random key, alternating which goes first; "
        f"at least {min(300, sizes.lookup_reps)} repetitions and {sizes.lookup_budget:g} s, at "
        f"most {sizes.lookup_reps:,}. The raw SELECT reads the same columns on its own "
        "connection and builds one dict per user with the metadata decoded by `json.loads`. "
        f"Pages are `list_users(page=p, per_page={PER_PAGE})` (sort `created_at`), raw "
        "`ORDER BY created_at, user_id LIMIT 50 OFFSET 50·p` (on PostgreSQL with `NULLS FIRST`, "
        "the store's order)."
    )
    counts = []
    for target in targets:
        raw = target.baseline()
        (stored,) = raw.rows("SELECT count(*) FROM users")[0]
        raw.close()
        counts.append(f"{target.name} {stored:,}")
    print(f"Users in each database now (the seeded ones and section 1's): {', '.join(counts)}.\n")
    rows = []
    headlines = []
    for target in targets:
        rng = random.Random(20261127)
        store = IdentityStore(target.store, hasher=FAST)
        raw = target.baseline()
        ids = [rng.choice(target.user_ids) for _ in range(sizes.lookup_reps)]
        emails = [rng.choice(target.emails) for _ in range(sizes.lookup_reps)]
        emails = [e.upper() if i % 3 == 0 else e for i, e in enumerate(emails)]
        calls: list[tuple[str, Callable[[Any], Any], Callable[[Any], Any], Sequence[Any]]] = [
            ("get_user", store.get_user, raw.get_user, ids),
            ("get_users_by_email", store.get_users_by_email, raw.by_email, emails),
        ]
        calls += [
            (
                f"list_users(page={p})",
                lambda _, p=p, s=store: s.list_users(page=p, per_page=PER_PAGE),
                lambda _, p=p, r=raw: r.page(p),
                [p],
            )
            for p in PAGES
        ]
        try:
            for name, store_call, raw_call, keys in calls:
                got, expected = _ids(store_call(keys[0])), _ids(raw_call(keys[0]))
                if got != expected:
                    sys.exit(f"{target.name} {name}: the store and the raw SELECT disagree")
                store_us, raw_us, reps = compare(
                    store_call,
                    raw_call,
                    keys,
                    min_reps=min(300, sizes.lookup_reps),
                    max_reps=sizes.lookup_reps,
                    budget=sizes.lookup_budget,
                )
                rate = 1e6 / store_us
                rows.append(
                    [
                        f"{target.name}: `{name}`",
                        f"{store_us:,.0f} µs",
                        per_s(rate),
                        f"{raw_us:,.0f} µs",
                        f"{store_us / raw_us:.2f}x",
                        len(got),
                        reps,
                    ]
                )
                headlines.append(
                    f"{name} on {target.name}: {store_us:,.0f} µs ({per_s(rate)}), "
                    f"{store_us / raw_us:.2f}x raw"
                )
        finally:
            raw.close()
            store.close()
    headers = ["backend: call", "store (median)", "store rate", "raw (median)", "store / raw"]
    print(md_table([*headers, "users returned", "reps"], rows))
    print("\n(rates: 1 / median)\n")
    for target in targets:
        store_plan, raw_plan = page_plans(target, PAGES[-1])
        print(f"- {target.name}, `list_users(page={PAGES[-1]})`, the store's SELECT: {store_plan}")
        print(f"- {target.name}, the raw SELECT: {raw_plan}")
    return headlines


def page_plans(target: Target, page: int) -> tuple[str, str]:
    """The query plans of the store's SELECT for a ``list_users`` page and of the raw one."""
    query = UserQuery(offset=PER_PAGE * page, limit=PER_PAGE)
    limit = f" LIMIT {PER_PAGE} OFFSET {PER_PAGE * page}"
    raw = target.baseline()
    try:
        if target.engine == "sqlite":
            explain, order, pick = "EXPLAIN QUERY PLAN ", sqlite_order(query), 3
        else:
            explain, order, pick = "EXPLAIN (COSTS OFF) ", pg_order(query), 0
        plans = [
            "; ".join(
                str(r[pick]).strip()
                for r in raw.rows(f"{explain}{raw.select_user} ORDER BY {by}{limit}")
            )
            for by in (order, raw.order)
        ]
    finally:
        raw.close()
    return plans[0], plans[1]


# -- 3. concurrent writers ----------------------------------------------------------------------


@dataclass(frozen=True)
class WriterSpec:
    """What a writer does; picklable, so that a process can build its own writer from it."""

    kind: str  # "store" (create_user) or "raw" (INSERT of a template row)
    engine: str
    target: str
    tag: str
    template: tuple[Any, ...] = ()


def open_writer(
    spec: WriterSpec, index: int, shared: Any
) -> tuple[Callable[[], None], Callable[[], None]]:
    """The writer's one-create action and its clean-up. ``shared`` (threads only): the store
    the threads share, or the lock that serializes ``raw-serial`` inserts."""
    counter = itertools.count()
    prefix = f"{spec.tag}-{index}"
    if spec.kind == "store":
        store = shared if shared is not None else IdentityStore(spec.target, hasher=FAST)

        def create() -> None:
            email = f"{prefix}-{next(counter)}@example.com"
            store.create_user("email", email=email, email_verified=True)

        return create, (lambda: None) if shared is not None else store.close
    raw = raw_connect(spec.engine, spec.target, "full")
    template = list(spec.template)

    def insert() -> None:
        n = next(counter)
        email = f"{prefix}-{n}@example.com"
        user_id = f"email|{uuid.uuid4().hex[:24]}"
        template[COLUMN["user_id"]] = user_id
        template[COLUMN["user_id_key"]] = user_id
        template[COLUMN["email"]] = template[COLUMN["name"]] = email
        template[COLUMN["nickname"]] = email.split("@")[0]
        if len(template) > len(USER_COLUMNS):  # SQLite's row: its signup event's own log_id
            template[len(USER_COLUMNS)] = uuid.uuid4().hex[:24]
        if spec.kind == "raw-serial":
            with shared:
                raw.insert(template)
        else:
            raw.insert(template)

    return insert, raw.close


def writer_loop(
    spec: WriterSpec,
    index: int,
    inbox: Any,
    outbox: Any,
    shared: Any = None,
) -> None:
    """Open the writer, create once, say ready; then on each ``(start_at, count)`` wait until
    ``start_at`` (``time.monotonic``, one clock for every process) and create ``count`` times."""
    try:
        work, close = open_writer(spec, index, shared)
        work()
    except BaseException:
        outbox.put(("error", traceback.format_exc()))
        return
    outbox.put(("ready", None))
    try:
        while (job := inbox.get()) is not None:
            start_at, count = job
            time.sleep(max(0.0, start_at - time.monotonic()))
            try:
                begun = time.monotonic()
                for _ in range(count):
                    work()
                outbox.put(("done", (begun, time.monotonic())))
            except BaseException:
                outbox.put(("error", traceback.format_exc()))
    finally:
        close()


class Writers:
    """Up to 8 long-lived writers (threads or processes), so no round pays for starting one."""

    def __init__(self, mode: str, spec: WriterSpec, shared: Any = None) -> None:
        self.mode = mode
        self.cpu: dict[int, list[float]] = {}  # writers -> this process's CPU s per create
        count = max(WRITER_COUNTS)
        if mode == "processes":
            context = multiprocessing.get_context("spawn")
            self._inboxes: list[Any] = [context.Queue() for _ in range(count)]
            self._outbox: Any = context.Queue()
            self._workers: list[Any] = [
                context.Process(target=writer_loop, args=(spec, i, inbox, self._outbox))
                for i, inbox in enumerate(self._inboxes)
            ]
        else:
            self._inboxes = [queue.Queue() for _ in range(count)]
            self._outbox = queue.Queue()
            self._workers = [
                threading.Thread(
                    target=writer_loop, args=(spec, i, inbox, self._outbox, shared), daemon=True
                )
                for i, inbox in enumerate(self._inboxes)
            ]
        for worker in self._workers:
            worker.start()
        for _ in self._workers:
            self._result()

    def _result(self) -> Any:
        status, value = self._outbox.get(timeout=600)
        if status == "error":
            raise RuntimeError(f"a writer failed:\n{value}")
        return value

    def rate(self, writers: int, per_writer: int) -> float:
        """Creates per second of ``writers`` writers doing ``per_writer`` each, started together."""
        start_at = time.monotonic() + (0.2 if self.mode == "processes" else 0.02)
        cpu = time.process_time()
        for inbox in self._inboxes[:writers]:
            inbox.put((start_at, per_writer))
        spans = [self._result() for _ in range(writers)]
        cpu = time.process_time() - cpu
        elapsed = max(end for _, end in spans) - min(begun for begun, _ in spans)
        self.cpu.setdefault(writers, []).append(cpu / (writers * per_writer))
        return writers * per_writer / elapsed

    def stop(self) -> None:
        for inbox in self._inboxes:
            inbox.put(None)
        for worker in self._workers:
            worker.join(timeout=60)


MODES = (
    ("store, threads", "store", "threads"),
    ("store, processes", "store", "processes"),
    ("raw, threads", "raw", "threads"),
    ("raw, threads, one lock", "raw-serial", "threads"),
)


def bench_writers(targets: Sequence[Target], sizes: Sizes) -> list[str]:
    print("\n## 3. Concurrent writers: passwordless creates per second, durability full\n")
    print(
        f"{os.cpu_count()} CPUs. `store, threads`: one `IdentityStore` shared by N threads. "
        "`store, processes`: N processes, each with its own `IdentityStore` on the same file "
        "or database. `raw, threads`: N threads, each with its own raw connection, INSERTing "
        "the same kind of row one per transaction (the database's own ceiling); `one lock`: "
        "the same with the inserts taking turns on a `threading.Lock`. A round is "
        f"{sizes.writer_creates} creates shared evenly by its writers, all started at one "
        "instant; it ends with the last; rate = creates / that time. "
        f"{sizes.writer_rounds} rounds per line after an untimed round of 8, counts in the "
        "order 1 2 4 8, then reversed, and so on; the modes alternate within each count. "
        "Ratio to one writer in brackets.\n"
    )
    rows = []
    best_rows = []
    headlines = []
    for target in targets:
        reader = target.store_raw()
        template = reader.stored_row(target.user_ids[0])
        reader.close()
        shared = IdentityStore(target.store, hasher=FAST)
        lock = threading.Lock()
        pools: dict[str, Writers] = {}
        rates: dict[tuple[str, int], list[float]] = {}
        try:
            for label, kind, mode in MODES:
                spec = WriterSpec(
                    kind,
                    target.engine,
                    target.store if kind == "store" else target.raw,
                    f"w-{kind}-{mode}",
                    template,
                )
                together = {"store": shared, "raw-serial": lock}.get(kind)
                pools[label] = Writers(mode, spec, together if mode == "threads" else None)
                top = max(WRITER_COUNTS)
                pools[label].rate(top, sizes.writer_creates // top)  # warm-up
            for round_ in range(sizes.writer_rounds):
                counts = WRITER_COUNTS if round_ % 2 == 0 else WRITER_COUNTS[::-1]
                for n in counts:
                    for label in pools if round_ % 2 == 0 else list(pools)[::-1]:
                        rate = pools[label].rate(n, sizes.writer_creates // n)
                        rates.setdefault((label, n), []).append(rate)
        finally:
            for pool in pools.values():
                pool.stop()
            shared.close()
        for label, _, _ in MODES:
            medians = [statistics.median(rates[label, n]) for n in WRITER_COUNTS]
            cells = [f"{per_s(m)} ({m / medians[0]:.2f}x)" for m in medians]
            if pools[label].mode == "threads":
                ends = (WRITER_COUNTS[0], WRITER_COUNTS[-1])
                cells.append(
                    " / ".join(f"{statistics.median(pools[label].cpu[n]) * 1e6:,.0f}" for n in ends)
                )
            else:
                cells.append("-")
            rows.append([f"{target.name}, {label}", *cells])
            bests = [max(rates[label, n]) for n in WRITER_COUNTS]
            best_rows.append(
                [f"{target.name}, {label}", *(f"{per_s(b)} ({b / bests[0]:.2f}x)" for b in bests)]
            )
            headlines.append(
                f"{target.name} {label}: "
                + ", ".join(f"{n}: {per_s(m)}" for n, m in zip(WRITER_COUNTS, medians, strict=True))
            )
    counts = [f"{n} writer{'s' if n > 1 else ''}" for n in WRITER_COUNTS]
    cpu = f"client CPU µs per create, {WRITER_COUNTS[0]} / {WRITER_COUNTS[-1]} writers"
    print("Median rate of the rounds:\n")
    print(md_table(["backend, writers", *counts, cpu], rows))
    print(
        "\n(client CPU: this process's CPU time over a round / creates, threads only; the "
        "database server's CPU is not in it)\n\nFastest round (other load on the machine only "
        "ever slows a round down, so this is the figure with the noise removed):\n"
    )
    print(md_table(["backend, writers", *counts], best_rows))
    return headlines


# -- main -------------------------------------------------------------------------------------


def fsync_latency(directory: Path, count: int = 200) -> float:
    """Median seconds of a 4 KiB write and ``fdatasync`` in ``directory``: what one durable
    commit costs at least."""
    fd, name = tempfile.mkstemp(dir=directory)
    block = os.urandom(4096)
    times = []
    try:
        for i in range(count):
            start = time.perf_counter()
            os.pwrite(fd, block, (i % 16) * 4096)
            os.fdatasync(fd)
            times.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        os.unlink(name)
    return statistics.median(times)


def machine_facts(base: Path, url: str | None, cluster: Cluster | None) -> list[str]:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    facts = [
        f"- {platform.machine()}, {os.cpu_count()} CPUs ({cpu}), {platform.system()} "
        f"{platform.release()}",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"identitystore {identitystore.__version__}",
        f"- SQLite files in {base} ({filesystem_type(base)})",
        f"- load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; a 4 KiB "
        f"write + fdatasync there: {us(fsync_latency(base))} (median of 200)",
    ]
    if url is not None:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            settings = {
                name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                for name in (
                    "server_version",
                    "fsync",
                    "synchronous_commit",
                    "wal_sync_method",
                    "commit_delay",
                    "shared_buffers",
                )
            }
        where = (
            f"a throwaway cluster in {cluster.dir} ({filesystem_type(cluster.dir)}), "
            f"TCP on 127.0.0.1:{cluster.port}"
            if cluster is not None
            else "the server at --postgres-url / IDENTITYSTORE_TEST_POSTGRES_URL"
        )
        facts.append(
            f"- PostgreSQL {settings.pop('server_version')}: {where}; psycopg "
            f"{psycopg.__version__} (libpq {psycopg.pq.version()}); "
            + ", ".join(f"{k}={v}" for k, v in settings.items())
        )
    return facts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller and shorter (noisier)")
    parser.add_argument(
        "--only",
        default="create,lookup,writers",
        help="comma-separated benchmarks: create, lookup, writers (default: all)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("IDENTITYSTORE_TEST_POSTGRES_URL"),
        help="a PostgreSQL server to use (default: $IDENTITYSTORE_TEST_POSTGRES_URL, else a "
        "throwaway cluster started by the script)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--users", type=int, help="users seeded in each database (10,000)")
    parser.add_argument("--dir", help="where the SQLite files and the cluster go (a real disk)")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    benches: dict[str, Callable[[Sequence[Target], Sizes], list[str]]] = {
        "create": bench_create,
        "lookup": bench_lookup,
        "writers": bench_writers,
    }
    unknown = [name for name in chosen if name not in benches]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    sizes = QUICK if args.quick else FULL
    if args.users is not None:
        sizes = dataclasses.replace(sizes, users=args.users)
    base = choose_base_dir(args.dir)
    started = time.perf_counter()
    cluster: Cluster | None = None
    url: str | None = None if args.no_postgres else args.postgres_url
    prefix = f"bench_{uuid.uuid4().hex[:8]}"
    headlines: list[str] = []
    with contextlib.ExitStack() as cleanup:
        if not args.no_postgres and url is None:
            cluster = Cluster(base)
            cleanup.callback(cluster.stop)
            url = cluster.start()
        print(f"# identitystore backends benchmark, {datetime.date.today().isoformat()}\n")
        print("\n".join(machine_facts(base, url, cluster)))
        print(f"- {'quick' if args.quick else 'full'} run; {sizes.users:,} users seeded in each\n")
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(dir=base)))
        targets = [sqlite_target(workdir, sizes.users)]
        if url is not None:
            cleanup.callback(drop_schemas, url, prefix)
            targets.append(postgres_target(url, prefix, sizes.users))
        for t in targets:
            print(
                f"seeded {t.name}: {sizes.users:,} users through create_user in "
                f"{t.seed_seconds:.1f} s",
                flush=True,
            )
        for name in chosen:
            headlines += benches[name](targets, sizes)
            sys.stdout.flush()
    print("\n## Headline figures\n")
    print("\n".join(f"- {h}" for h in headlines))
    print(
        f"\n(total {time.perf_counter() - started:.0f} s; load average after: "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}; 4 KiB write + fdatasync after: "
        f"{us(fsync_latency(base))})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
