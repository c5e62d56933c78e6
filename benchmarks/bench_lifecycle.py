"""Lifecycle reads at scale: identitystore against the raw indexed SELECT that answers each call.

A plain script (not a test). It builds a SQLite store of ``--users`` users (default 1,000,000)
plus a 1,000-user one, times each read through ``IdentityStore`` and through a raw ``sqlite3``
SELECT on the same file (separate connection, same columns, one dict per row with the JSON
metadata decoded), and prints medians and their ratio. Ratios come from one run on one machine;
nothing is asserted. It also times, store only, list_users shapes outside the goal (other sorts,
unindexed filters with totals), then checks sign-in timing safety with the production hasher.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_lifecycle.py            # 1M users, a few minutes
    PYTHONPATH=. python benchmarks/bench_lifecycle.py --quick    # 100k users

See benchmarks/LIFECYCLE.md for what each row compares and the results.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from identitystore import IdentityStore, PasswordHasher
from identitystore._models import default_picture, format_timestamp
from identitystore.errors import WrongCredentialsError
from identitystore.storage._rows import SELECT_USER as _SELECT_USER
from identitystore.storage._rows import USER_COLUMNS as _USER_COLUMNS

DATABASE_CONNECTION = "Username-Password-Authentication"
# The columns the generator fills, in the package's order (checked on sample users below).
GENERATED_COLUMNS = _USER_COLUMNS
# Bulk rows carry no signup event (``users.signup_log_id`` stays NULL), as before schema 3.
INSERT_GENERATED = (
    f"INSERT INTO users ({', '.join(GENERATED_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in GENERATED_COLUMNS)})"
)
# The columns a user read returns (the same list the store selects).
READ_COLUMNS = tuple(
    column.strip()
    for column in _SELECT_USER.removeprefix("SELECT ").removesuffix(" FROM users").split(",")
)
RAW_SELECT = f"SELECT {', '.join(READ_COLUMNS)} FROM users"
PAGES = (0, 5, 19)
PER_PAGE = 50
PREFIX_QUERY = "email:user12*"
PREFIX = "user12"
GOAL = 1.5
CHUNK = 100_000
START_MS = 1_577_836_800_000  # 2020-01-01T00:00:00.000Z
SPAN_MS = 5 * 365 * 86_400_000  # created_at spread over five years
_AVATAR_US = urllib.parse.quote("https://cdn.auth0.com/avatars/us.png", safe="")
_AVATAR_DEFAULT = "https://cdn.auth0.com/avatars/default.png"


# -- the data set ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSet:
    """How user ``i`` of ``n`` looks: 60% database, 30% email, 10% sms connection.

    Emails are ``user<i>@example.com``; every 20th email-connection user (i % 20 == 6) reuses the
    email of the database user before it, so ``get_users_by_email`` sometimes finds two users.
    """

    n: int
    connections: tuple[tuple[str, str, str], ...]  # (provider, connection id, name) by kind
    password_hash: str
    process: bytes = b"\x5e\xed\xbe\x4c\x41"

    @property
    def step_ms(self) -> int:
        return max(1, SPAN_MS // max(self.n, 1))

    @staticmethod
    def kind(i: int) -> int:
        r = i % 10
        return 0 if r < 6 else 1 if r < 9 else 2

    @staticmethod
    def email(i: int) -> str | None:
        if i % 10 == 9:
            return None
        return f"user{i - 1 if i % 20 == 6 else i}@example.com"

    @staticmethod
    def phone(i: int) -> str:
        return f"+1{2_000_000_000 + i}"

    @staticmethod
    def metadata(i: int) -> str:
        return '{"plan":"pro"}' if (i * 2_654_435_761) % 5 == 0 else '{"plan":"free"}'

    def created_ms(self, i: int) -> int:
        return START_MS + i * self.step_ms

    def user_id(self, i: int) -> str:
        ms = self.created_ms(i)
        oid = ((ms // 1000) & 0xFFFFFFFF).to_bytes(4, "big") + self.process
        oid += (i & 0xFFFFFF).to_bytes(3, "big")
        return f"{self.connections[self.kind(i)][0]}|{oid.hex()}"

    def row(self, i: int) -> tuple[Any, ...]:
        """The ``users`` row identitystore would write for user ``i``, in ``GENERATED_COLUMNS``."""
        kind = self.kind(i)
        provider, connection_id, connection = self.connections[kind]
        ms = self.created_ms(i)
        seconds, millis = divmod(ms, 1000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
        oid = (seconds & 0xFFFFFFFF).to_bytes(4, "big") + self.process
        user_id = f"{provider}|{(oid + (i & 0xFFFFFF).to_bytes(3, 'big')).hex()}"
        if kind == 2:
            phone = self.phone(i)
            email = None
            name = nickname = phone
            picture = _AVATAR_DEFAULT
            email_verified, phone_verified = None, 0
        else:
            phone = None
            email = self.email(i)
            assert email is not None
            name = email
            nickname = email.rsplit("@", 1)[0]
            digest = hashlib.md5(email.encode(), usedforsecurity=False).hexdigest()
            picture = f"https://s.gravatar.com/avatar/{digest}?s=480&r=pg&d={_AVATAR_US}"
            email_verified, phone_verified = 0, None
        return (
            user_id,
            user_id.lower(),
            connection_id,
            connection,
            provider,
            email,
            email_verified,
            None,  # username
            phone,
            phone_verified,
            name,
            nickname,
            picture,
            None,  # given_name
            None,  # family_name
            None,  # blocked
            self.metadata(i),
            None,  # app_metadata
            self.password_hash if kind == 0 else None,
            stamp,
            stamp,
        )

    def rows(self, start: int, stop: int) -> Iterator[tuple[Any, ...]]:
        return (self.row(i) for i in range(start, stop))


def check_generator_matches_store() -> None:
    """Fail loudly if generated rows differ from what ``create_user`` writes (ids/times aside)."""
    with IdentityStore(":memory:", hasher=PasswordHasher.fast_for_tests()) as store:
        conns = {c.name: c for c in store.list_connections()}
        data = DataSet(
            1000,
            (
                ("auth0", conns[DATABASE_CONNECTION].id, DATABASE_CONNECTION),
                ("email", conns["email"].id, "email"),
                ("sms", conns["sms"].id, "sms"),
            ),
            "<hash>",
        )
        for i in (10, 25, 26, 7, 19):
            fields: dict[str, Any] = {"user_metadata": json.loads(data.metadata(i))}
            if data.kind(i) == 0:
                fields.update(email=data.email(i), password="Correct-Horse-9")
            elif data.kind(i) == 1:
                fields.update(email=data.email(i))
            else:
                fields.update(phone_number=data.phone(i))
            created = store.create_user(data.connections[data.kind(i)][2], **fields)
            conn = store.backend._shared.conn  # type: ignore[attr-defined]
            stored = conn.execute(
                f"SELECT {', '.join(GENERATED_COLUMNS)} FROM users WHERE user_id = ?",
                (created.user_id,),
            ).fetchone()
            ours = data.row(i)
            for column, theirs, mine in zip(GENERATED_COLUMNS, stored, ours, strict=True):
                if column in ("user_id", "user_id_key", "created_at", "updated_at"):
                    continue
                if column == "password_hash":
                    assert (theirs is None) == (mine is None), column
                    continue
                assert theirs == mine, (i, column, theirs, mine)
            assert ours[0].split("|")[0] == created.provider
            assert len(ours[0].split("|")[1]) == 24
            assert ours[3] == created.connection
            store.delete_user(created.user_id)  # the next sample may reuse this email
        # timestamps and pictures use the package's own format
        ms = data.created_ms(123)
        moment = datetime.fromtimestamp(ms / 1000, timezone.utc)
        assert data.row(123)[19] == format_timestamp(moment), (data.row(123)[19], moment)
        email = data.email(123)
        assert email is not None
        assert data.row(123)[12] == default_picture(email, email)


# -- building a store -----------------------------------------------------------------------------


@dataclass
class Built:
    path: Path
    data: DataSet
    seconds: float
    insert_seconds: float
    analyze_seconds: float
    megabytes: float


def build_store(path: Path, n: int, password_hash: str) -> Built:
    """``IdentityStore(path)`` for the schema and connections, then ``n`` rows in bulk."""
    started = time.perf_counter()
    with IdentityStore(path, hasher=PasswordHasher.fast_for_tests()) as store:
        conns = {c.name: c for c in store.list_connections()}
    data = DataSet(
        n,
        (
            ("auth0", conns[DATABASE_CONNECTION].id, DATABASE_CONNECTION),
            ("email", conns["email"].id, "email"),
            ("sms", conns["sms"].id, "sms"),
        ),
        password_hash,
    )
    db = sqlite3.connect(path, isolation_level=None)
    try:
        # The only connection: leave WAL for the load (no WAL file to checkpoint), back after.
        db.execute("PRAGMA journal_mode = MEMORY")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -1048576")  # 1 GiB: the indexes stay in memory
        db.execute("PRAGMA foreign_keys = ON")
        for start in range(0, n, CHUNK):
            db.execute("BEGIN")
            db.executemany(INSERT_GENERATED, data.rows(start, min(n, start + CHUNK)))
            db.execute("COMMIT")
        inserted = time.perf_counter()
        db.execute("ANALYZE")
        analyzed = time.perf_counter()
        db.execute("PRAGMA journal_mode = WAL")
        counted = dict(
            db.execute("SELECT connection_id, count(*) FROM users GROUP BY connection_id")
        )
        kept = dict(db.execute("SELECT connection_id, n FROM user_counts WHERE n > 0"))
        if counted != kept or sum(kept.values()) != n:
            sys.exit(f"user_counts is wrong after the load: {kept} != {counted}")
    finally:
        db.close()
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    return Built(path, data, seconds, inserted - started, analyzed - inserted, size / 1024 / 1024)


def filesystem(path: Path) -> str:
    """``<type> on <device>`` for the mount holding ``path`` (Linux), to show it is a real disk."""
    best = ("", "?", "?")
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                device, point, kind = line.split()[:3]
                if str(path.resolve()).startswith(point) and len(point) >= len(best[0]):
                    best = (point, kind, device)
    except OSError:
        return "unknown filesystem"
    return f"{best[1]} on {best[2]}"


def warm_os_cache(path: Path) -> None:
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass


# -- timing ---------------------------------------------------------------------------------------


@dataclass
class Row:
    n: int
    operation: str
    baseline: str
    store_us: float
    raw_us: float
    reps: int
    statements: int | None
    returned: int
    goal: float | None = None
    store_plan: list[str] = field(default_factory=list)
    raw_plan: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.store_us / self.raw_us


def _timed(call: Callable[[Any], Any], key: Any) -> int:
    started = time.perf_counter_ns()
    call(key)
    return time.perf_counter_ns() - started


def compare(
    store_call: Callable[[Any], Any],
    raw_call: Callable[[Any], Any],
    keys: Sequence[Any],
    *,
    min_reps: int,
    max_reps: int,
    budget: float,
) -> tuple[float, float, int]:
    """Median µs of each call, alternating which one goes first, key by key."""
    for key in keys[-20:]:  # compile statements, build caches (not the keys timed first)
        store_call(key)
        raw_call(key)
    gc.collect()
    store_ns: list[int] = []
    raw_ns: list[int] = []
    started = time.perf_counter()
    reps = 0
    while reps < max_reps and (reps < min_reps or time.perf_counter() - started < budget):
        key = keys[reps % len(keys)]
        if reps % 2:
            store_ns.append(_timed(store_call, key))
            raw_ns.append(_timed(raw_call, key))
        else:
            raw_ns.append(_timed(raw_call, key))
            store_ns.append(_timed(store_call, key))
        reps += 1
    return statistics.median(store_ns) / 1000, statistics.median(raw_ns) / 1000, reps


def _as_dict(row: Sequence[Any]) -> dict[str, Any]:
    user = dict(zip(READ_COLUMNS, row, strict=True))
    if user["user_metadata"] is not None:
        user["user_metadata"] = json.loads(user["user_metadata"])
    if user["app_metadata"] is not None:
        user["app_metadata"] = json.loads(user["app_metadata"])
    return user


class Raw:
    """The hand-written baseline: indexed SELECTs on their own connection, one dict per row."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, cached_statements=256)
        self.db.execute("PRAGMA busy_timeout = 60000")
        self.db.execute("PRAGMA foreign_keys = ON")

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        row = self.db.execute(RAW_SELECT + " WHERE user_id = ?", (user_id,)).fetchone()
        return None if row is None else _as_dict(row)

    def by_email(self, email: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            RAW_SELECT + " WHERE email = ? ORDER BY created_at, user_id", (email,)
        ).fetchall()
        return [_as_dict(r) for r in rows]

    def page(self, offset: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            RAW_SELECT + " ORDER BY created_at, user_id LIMIT ? OFFSET ?", (PER_PAGE, offset)
        ).fetchall()
        return [_as_dict(r) for r in rows]

    def connection_page(self, connection_id: str, offset: int) -> tuple[list[dict[str, Any]], int]:
        rows = self.db.execute(
            RAW_SELECT + " WHERE connection_id = ? ORDER BY created_at, user_id LIMIT ? OFFSET ?",
            (connection_id, PER_PAGE, offset),
        ).fetchall()
        (total,) = self.db.execute(
            "SELECT n FROM user_counts WHERE connection_id = ?", (connection_id,)
        ).fetchone()
        return [_as_dict(r) for r in rows], total

    def prefix_page(self, prefix: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            RAW_SELECT + " WHERE email >= ? AND email < ? ORDER BY created_at, user_id "
            "LIMIT ? OFFSET 0",
            (prefix, prefix + "\U0010ffff", PER_PAGE),
        ).fetchall()
        return [_as_dict(r) for r in rows]

    def plan(self, sql: str, params: Sequence[Any] = ()) -> list[str]:
        return [r[3] for r in self.db.execute("EXPLAIN QUERY PLAN " + sql, params)]

    def close(self) -> None:
        self.db.close()


def _store_statements(store: IdentityStore, call: Callable[[], Any]) -> list[str]:
    """The SQL statements (values inlined) one store call runs, via a trace callback."""
    handle = getattr(getattr(store.backend, "_local", None), "handle", None)
    conn = getattr(handle, "conn", None)
    if conn is None:
        return []
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        call()
    finally:
        conn.set_trace_callback(None)
    return seen


def _ids(result: Any) -> list[str]:
    if result is None:
        return []
    if isinstance(result, tuple):  # (rows, total)
        result = result[0]
    if isinstance(result, dict):
        return [result["user_id"]]
    if hasattr(result, "user_id"):
        return [result.user_id]
    return [u["user_id"] if isinstance(u, dict) else u.user_id for u in result]


def run_reads(built: Built, *, seed: int, budget: float, quick: bool) -> list[Row]:
    data = built.data
    n = data.n
    rng = random.Random(seed)
    warm_os_cache(built.path)
    store = IdentityStore(built.path)
    raw = Raw(built.path)
    rows: list[Row] = []
    point_reps = 1000 if quick else 2000
    try:
        # a fresh random key for every repetition (keys repeat only in small stores)
        ids = [data.user_id(rng.randrange(n)) for _ in range(20 * point_reps)]
        emails: list[str] = []
        while len(emails) < 20 * point_reps:
            email = data.email(rng.randrange(n))
            if email is not None:
                emails.append(email.upper() if len(emails) % 3 == 0 else email)
        by_name = {name: cid for _, cid, name in data.connections}
        names = [DATABASE_CONNECTION]  # the biggest (60% of the users)

        def add(
            operation: str,
            baseline: str,
            store_call: Callable[[Any], Any],
            raw_call: Callable[[Any], Any],
            keys: Sequence[Any],
            *,
            min_reps: int,
            max_reps: int,
            goal: float | None = GOAL,
            raw_sql: tuple[str, Sequence[Any]] | None = None,
        ) -> None:
            key = keys[0]
            got, expected = _ids(store_call(key)), _ids(raw_call(key))
            if got != expected:
                sys.exit(f"{operation}: store and baseline disagree: {got[:3]} vs {expected[:3]}")
            statements = _store_statements(store, lambda: store_call(key))
            store_us, raw_us, reps = compare(
                store_call, raw_call, keys, min_reps=min_reps, max_reps=max_reps, budget=budget
            )
            main = max(statements, key=lambda s: ("FROM users" in s, len(s)), default="")
            rows.append(
                Row(
                    n,
                    operation,
                    baseline,
                    store_us,
                    raw_us,
                    reps,
                    len(statements) if statements else None,
                    len(expected),
                    goal,
                    raw.plan(main) if main else [],
                    raw.plan(*raw_sql) if raw_sql else [],
                )
            )

        add(
            "get_user(user_id)",
            "WHERE user_id = ?",
            store.get_user,
            raw.get_user,
            ids,
            min_reps=point_reps,
            max_reps=20 * point_reps,
            raw_sql=(RAW_SELECT + " WHERE user_id = ?", (ids[0],)),
        )
        add(
            "get_users_by_email(email)",
            "WHERE email = ? ORDER BY created_at, user_id",
            store.get_users_by_email,
            lambda e: raw.by_email(e.lower()),
            emails,
            min_reps=point_reps,
            max_reps=20 * point_reps,
            raw_sql=(
                RAW_SELECT + " WHERE email = ? ORDER BY created_at, user_id",
                (emails[1],),
            ),
        )
        for page in PAGES:
            offset = page * PER_PAGE
            add(
                f"list_users(page={page})",
                f"ORDER BY created_at, user_id LIMIT 50 OFFSET {offset}",
                lambda _, p=page: store.list_users(page=p, per_page=PER_PAGE),
                lambda _, o=offset: raw.page(o),
                [None],
                min_reps=300,
                max_reps=5000,
                raw_sql=(
                    RAW_SELECT + " ORDER BY created_at, user_id LIMIT ? OFFSET ?",
                    (PER_PAGE, offset),
                ),
            )
        for page in PAGES:
            offset = page * PER_PAGE
            add(
                f"list_users(connection, page={page}, include_totals)",
                f"WHERE connection_id = ? ... OFFSET {offset} + user_counts",
                lambda name, p=page: store.list_users(
                    connection=name, page=p, per_page=PER_PAGE, include_totals=True
                ),
                lambda name, o=offset: raw.connection_page(by_name[name], o),
                names,
                min_reps=300,
                max_reps=5000,
                raw_sql=(
                    RAW_SELECT
                    + " WHERE connection_id = ? ORDER BY created_at, user_id LIMIT ? OFFSET ?",
                    (by_name[names[0]], PER_PAGE, offset),
                ),
            )
        add(
            f'list_users(q="{PREFIX_QUERY}")',
            "WHERE email >= ? AND email < ? ORDER BY created_at, user_id LIMIT 50",
            lambda _: store.list_users(q=PREFIX_QUERY, per_page=PER_PAGE),
            lambda _: raw.prefix_page(PREFIX),
            [None],
            min_reps=15,
            max_reps=3000,
            goal=None,
            raw_sql=(
                RAW_SELECT + " WHERE email >= ? AND email < ? ORDER BY created_at, user_id "
                "LIMIT ? OFFSET 0",
                (PREFIX, PREFIX + "\U0010ffff", PER_PAGE),
            ),
        )
        (matches,) = raw.db.execute(
            "SELECT count(*) FROM users WHERE email >= ? AND email < ?",
            (PREFIX, PREFIX + "\U0010ffff"),
        ).fetchone()
        rows[-1].note = f"{matches:,} users match, sorted on every call"
        real = n // 10 * 6 + min(n % 10, 6)  # users of the database connection
        for page in PAGES:  # include_totals agrees with the real count
            got = store.list_users(connection=DATABASE_CONNECTION, page=page, include_totals=True)
            if got.total != real:
                sys.exit(f"include_totals said {got.total}, the connection has {real} users")
    finally:
        raw.close()
        store.close()
    return rows


@dataclass
class Decode:
    store_us: float
    raw_us: float


def run_decode(built: Built) -> Decode:
    """Per-row cost of turning a fetched row into a ``User`` vs into the baseline's dict."""
    from identitystore.storage._rows import user_from_row as _user_from_row

    db = sqlite3.connect(built.path)
    try:
        fetched = db.execute(RAW_SELECT + " ORDER BY created_at, user_id LIMIT 50").fetchall()
    finally:
        db.close()

    def batch(convert: Callable[[Any], Any]) -> float:
        started = time.perf_counter()
        for _ in range(100):
            [convert(r) for r in fetched]
        return (time.perf_counter() - started) / 100 / len(fetched) * 1e6

    store: list[float] = []
    raw: list[float] = []
    for i in range(30):  # interleaved, best of each: load elsewhere hits both alike
        first, second = (_user_from_row, _as_dict) if i % 2 else (_as_dict, _user_from_row)
        a, b = batch(first), batch(second)
        (store if first is _user_from_row else raw).append(a)
        (raw if first is _user_from_row else store).append(b)
    return Decode(min(store), min(raw))


@dataclass
class Probe:
    call: str
    ms: float
    returned: int
    total: int | None
    plan: str


def run_probes(built: Built) -> list[Probe]:
    """Store-only timings of ``list_users`` shapes outside the goal: other sorts, filters."""
    from identitystore._query import _SORTABLE

    calls: list[tuple[str, dict[str, Any]]] = [
        (f'sort="{f}:1"', {"sort": f"{f}:1"}) for f in _SORTABLE if f != "created_at"
    ]
    calls += [
        ('sort="created_at:-1"', {"sort": "created_at:-1"}),
        (
            'connection=<database>, sort="email:1"',
            {"connection": DATABASE_CONNECTION, "sort": "email:1"},
        ),
        ('q="user_metadata.plan:pro"', {"q": "user_metadata.plan:pro"}),
        (
            'q="user_metadata.plan:pro", include_totals',
            {"q": "user_metadata.plan:pro", "include_totals": True},
        ),
        (f'q="{PREFIX_QUERY}", include_totals', {"q": PREFIX_QUERY, "include_totals": True}),
        ('q="email_verified:true" (matches none)', {"q": "email_verified:true"}),
    ]
    probes: list[Probe] = []
    with IdentityStore(built.path) as store:
        for label, kwargs in calls:
            store.list_users(**kwargs)
            plan = "; ".join(
                "; ".join(r[3] for r in _plan_of(store, statement))
                for statement in _store_statements(store, lambda k=kwargs: store.list_users(**k))
                if "FROM users" in statement
            )
            times = []
            for _ in range(3):
                started = time.perf_counter()
                page = store.list_users(**kwargs)
                times.append((time.perf_counter() - started) * 1000)
            probes.append(Probe(label, statistics.median(times), len(page), page.total, plan))
    return probes


def _plan_of(store: IdentityStore, sql: str) -> list[tuple[Any, ...]]:
    conn = store.backend._local.handle.conn  # type: ignore[attr-defined]
    return list(conn.execute("EXPLAIN QUERY PLAN " + sql))


# -- sign-in timing -------------------------------------------------------------------------------


@dataclass
class AuthResult:
    """Per-call ms of each case: wall clock (what an attacker sees) and this process's CPU."""

    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]
    nohash: dict[str, list[float]]

    def ratio(self, times: dict[str, list[float]], average: Callable[..., float]) -> float:
        return average(times["known"]) / average(times["unknown"])


def _spread(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=10)
    return f"{q[0]:.1f}-{q[-1]:.1f}"


def run_auth(directory: Path, trials: int) -> AuthResult:
    """Wrong password for a known email against an unknown email, production hasher (bcrypt 10).

    The two cases and a bare ``hasher.verify`` run round-robin (rotating who goes first), so
    load from other processes falls on all three alike.
    """
    with IdentityStore(directory / "auth.db", max_login_attempts=0) as store:
        assert store.hasher.profile == "bcrypt-10"  # type: ignore[attr-defined]
        known, unknown = _sign_in_cases(store)
        found = store.backend.find_user(
            store.get_connection(DATABASE_CONNECTION).id, "email", "known@example.com"
        )
        assert found is not None
        assert found[1] is not None
        assert found[1].startswith("$2b$10$")
        hashed = found[1]
        hasher = store.hasher

        def verify() -> None:
            assert not hasher.verify(b"Wrong-Horse-9", hashed)

        wall, cpu = _round_robin({"known": known, "unknown": unknown, "verify": verify}, trials)
    # The same two paths with a hasher that does no work: what the store adds around the hash.
    with IdentityStore(
        directory / "auth-nohash.db", hasher=_NoWorkHasher(), max_login_attempts=0
    ) as store:
        known, unknown = _sign_in_cases(store)
        nohash, _ = _round_robin({"known": known, "unknown": unknown}, 10 * trials)
    return AuthResult(wall, cpu, nohash)


def _sign_in_cases(store: IdentityStore) -> tuple[Callable[[], None], Callable[[], None]]:
    """Wrong password for a known user, and any password for a new unknown email each time."""
    store.create_user(DATABASE_CONNECTION, email="known@example.com", password="Correct-Horse-9")
    counter = iter(range(10**9))

    def known() -> None:
        _fails(store, "known@example.com")

    def unknown() -> None:
        _fails(store, f"nobody{next(counter)}@example.com")

    return known, unknown


def _round_robin(
    cases: dict[str, Callable[[], None]], trials: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU ms per call of each case, run in turn with a rotating first, after a warm-up."""
    for case in list(cases.values()) * 3:  # the first unknown user also makes the dummy hash
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
    return wall, cpu


class _NoWorkHasher:
    """A ``Hasher`` whose verify is free and always false (for the store-side timing only)."""

    def hash(self, secret: bytes) -> str:
        return "$nohash$" + hashlib.sha256(secret).hexdigest()

    def verify(self, secret: bytes, hashed: str) -> bool:
        return False

    def needs_update(self, hashed: str) -> bool:
        return False

    def dummy_verify(self) -> None:
        return None


def _fails(store: IdentityStore, email: str) -> None:
    try:
        store.authenticate(DATABASE_CONNECTION, email, "Wrong-Horse-9", ip="10.0.0.1")
    except WrongCredentialsError:
        return
    raise AssertionError("a wrong password signed in")


# -- report ---------------------------------------------------------------------------------------


def _fmt_n(n: int) -> str:
    return f"{n:,}"


def print_build(builds: Sequence[Built]) -> None:
    print("\n## Build (IdentityStore(path), then executemany in 100k-row transactions, ANALYZE)\n")
    print("| users | total s | insert s | ANALYZE s | rows/s | file MB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for b in builds:
        rate = b.data.n / b.insert_seconds if b.insert_seconds else 0
        print(
            f"| {_fmt_n(b.data.n)} | {b.seconds:.1f} | {b.insert_seconds:.1f} | "
            f"{b.analyze_seconds:.1f} | {rate:,.0f} | {b.megabytes:,.0f} |"
        )


def print_reads(rows: Sequence[Row]) -> None:
    print("\n## Reads: identitystore vs the raw indexed SELECT (median µs per call)\n")
    print(
        "| users | operation | raw baseline | store µs | raw µs | ratio | goal | stmts "
        "| returned | reps |"
    )
    print("|---:|---|---|---:|---:|---:|---|---:|---:|---:|")
    for r in rows:
        if r.goal is None:
            verdict = "-"
        else:
            verdict = f"≤{r.goal:g} {'ok' if r.ratio <= r.goal else 'MISSED'}"
        print(
            f"| {_fmt_n(r.n)} | `{r.operation}` | `{r.baseline}` | {r.store_us:.1f} | "
            f"{r.raw_us:.1f} | {r.ratio:.2f} | {verdict} | {r.statements or '?'} | {r.returned} "
            f"| {r.reps} |"
        )


def print_growth(rows: Sequence[Row]) -> None:
    sizes = sorted({r.n for r in rows})
    if len(sizes) < 2:
        return
    small, large = sizes[0], sizes[-1]
    by = {(r.n, r.operation): r for r in rows}
    print(f"\n## Cost against size: {_fmt_n(large)} vs {_fmt_n(small)} users (median µs)\n")
    print(
        f"| operation | users returned @{small} / @{large} | store @{small} | store @{large} "
        f"| growth | raw @{small} | raw @{large} |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        if r.n != large or (small, r.operation) not in by:
            continue
        s = by[(small, r.operation)]
        returned = f"{s.returned} / {r.returned}"
        if s.returned != r.returned:
            returned += " (not comparable)"
        print(
            f"| `{r.operation}` | {returned} | {s.store_us:.1f} | {r.store_us:.1f} | "
            f"{r.store_us / s.store_us:.2f}x | {s.raw_us:.1f} | {r.raw_us:.1f} |"
        )


def print_plans(rows: Sequence[Row]) -> None:
    large = max(r.n for r in rows)
    print(f"\n## Query plans at {_fmt_n(large)} users (store's main SELECT / raw SELECT)\n")
    for r in rows:
        if r.n != large:
            continue
        store_plan = "; ".join(r.store_plan) or "?"
        raw_plan = "; ".join(r.raw_plan) or "?"
        same = " (same)" if r.store_plan == r.raw_plan else f" / raw: {raw_plan}"
        note = f" - {r.note}" if r.note else ""
        print(f"- `{r.operation}`: {store_plan}{same}{note}")


def print_auth(auth: AuthResult) -> None:
    med = statistics.median
    print("\n## Sign-in timing safety (bcrypt cost 10, WrongCredentialsError both ways)\n")
    print("| case | median wall ms | p10-p90 wall ms | median CPU ms |")
    print("|---|---:|---|---:|")
    for name, label in (
        ("known", "known email, wrong password"),
        ("unknown", "unknown email"),
        ("verify", "bare hasher.verify (reference)"),
    ):
        wall, cpu = auth.wall[name], auth.cpu[name]
        print(f"| {label} | {med(wall):.1f} | {_spread(wall)} | {med(cpu):.1f} |")
    k, u = med(auth.nohash["known"]), med(auth.nohash["unknown"])
    print(
        f"| the store around the hash (no-work hasher, {len(auth.nohash['known'])} trials): "
        f"known / unknown | {k:.2f} / {u:.2f} | diff {k - u:+.3f} ms | |"
    )
    ratio = auth.ratio(auth.wall, med)
    verdict = "ok" if 0.9 <= ratio <= 1.1 else "OUTSIDE 0.9-1.1"
    print(
        f"\nknown / unknown, {len(auth.wall['known'])} interleaved trials each: "
        f"median wall {ratio:.3f} ({verdict}; goal ≈ 1.0), "
        f"mean wall {auth.ratio(auth.wall, statistics.fmean):.3f}, "
        f"median CPU {auth.ratio(auth.cpu, med):.3f}"
    )


def print_probes(probes: Sequence[Probe], n: int) -> None:
    print(f"\n## Outside the goal: other list_users shapes at {_fmt_n(n)} users (store only)\n")
    print("| call (page 0, per_page 50) | median ms of 3 | returned | total | plan |")
    print("|---|---:|---:|---:|---|")
    for p in probes:
        total = "-" if p.total is None else f"{p.total:,}"
        print(f"| `{p.call}` | {p.ms:.1f} | {p.returned} | {total} | {p.plan} |")


def print_decode(decode: Decode) -> None:
    extra = decode.store_us - decode.raw_us
    print(
        f"\nPer-row decode (50 fetched rows, best of 15 interleaved batches of 100): "
        f"identitystore `_user_from_row` "
        f"{decode.store_us:.2f} µs, baseline dict + json.loads {decode.raw_us:.2f} µs: "
        f"{extra:+.2f} µs per row, {extra * PER_PAGE:+.0f} µs per 50-user page."
    )


# -- main -----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=None, help="users in the big store (1M)")
    parser.add_argument("--quick", action="store_true", help="100k users and shorter timing")
    parser.add_argument("--small", type=int, default=1000, help="users in the small store (1k)")
    parser.add_argument("--dir", type=Path, default=None, help="where to build (a real disk)")
    parser.add_argument("--keep", action="store_true", help="keep the built files")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--auth-trials", type=int, default=30)
    parser.add_argument("--skip-auth", action="store_true")
    parser.add_argument("--skip-probes", action="store_true", help="skip the store-only probes")
    args = parser.parse_args(argv)
    n = args.users if args.users is not None else 100_000 if args.quick else 1_000_000
    budget = 1.0 if args.quick else 2.5
    if args.small < 1000 or n < 1000:
        parser.error("the stores need at least 1000 users (pages go up to offset 950)")

    check_generator_matches_store()
    directory = Path(tempfile.mkdtemp(prefix="identitystore-bench-", dir=args.dir))
    print(
        f"# bench_lifecycle: {_fmt_n(n)} and {_fmt_n(args.small)} users, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, in {directory} ({filesystem(directory)})"
    )
    if filesystem(directory).startswith(("tmpfs", "ramfs")):
        print("warning: this directory is in memory, not on a disk; pass --dir", flush=True)
    overall = time.perf_counter()
    try:
        password_hash = PasswordHasher.bcrypt().hash(b"Correct-Horse-9")
        builds = []
        rows: list[Row] = []
        for size in sorted({args.small, n}, reverse=True):
            built = build_store(directory / f"users-{size}.db", size, password_hash)
            builds.append(built)
            print(f"built {_fmt_n(size)} users in {built.seconds:.1f}s", flush=True)
            rows += run_reads(built, seed=args.seed, budget=budget, quick=args.quick)
            print(f"timed reads at {_fmt_n(size)} users", flush=True)
            if size == n:
                decode = run_decode(built)
                probes = [] if args.skip_probes else run_probes(built)
                print("probed other list_users shapes", flush=True)
        auth = None if args.skip_auth else run_auth(directory, args.auth_trials)
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    print_build(builds)
    print_reads(sorted(rows, key=lambda r: -r.n))
    print_decode(decode)
    print_growth(rows)
    print_plans(rows)
    if probes:
        print_probes(probes, n)
    if auth is not None:
        print_auth(auth)
    print(f"\ntotal {time.perf_counter() - overall:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
