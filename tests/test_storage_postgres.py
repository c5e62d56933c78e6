"""The PostgreSQL backend: schema versions and migrations, concurrent first opens, durability,
index use, errors. Runs against the server of ``IDENTITYSTORE_TEST_POSTGRES_URL``."""

from __future__ import annotations

import multiprocessing
import sys
from typing import Any

import pytest

from identitystore import IdentityStore, PasswordHasher, errors
from identitystore.storage import Backend, EventQuery, UserQuery, open_backend

psycopg = pytest.importorskip("psycopg")
from identitystore.storage._postgres import (  # noqa: E402
    MIGRATIONS,
    SCHEMA_VERSION,
    PostgresBackend,
)

DB = "Username-Password-Authentication"
FAST = PasswordHasher.fast_for_tests()


def _sql(url: str, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement, args or None)
        return cur.fetchall() if cur.description else []


def _tables(url: str) -> list[tuple[Any, ...]]:
    return _sql(
        url,
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() ORDER BY 1, 2",
    )


def test_new_database_gets_the_current_schema(pg_url: str) -> None:
    with IdentityStore(pg_url, hasher=FAST) as store:
        assert isinstance(store.backend, PostgresBackend)
        assert isinstance(store.backend, Backend)
        assert store.backend.schema_version == SCHEMA_VERSION == 4
    assert _sql(pg_url, "SELECT version FROM identitystore_schema") == [(SCHEMA_VERSION,)]
    assert ("users", "user_metadata", "jsonb") in _tables(pg_url)


def test_postgres_scheme_works_too(pg_url: str) -> None:
    url = pg_url.replace("postgresql://", "postgres://", 1)
    with IdentityStore(url, hasher=FAST) as store:
        assert store.create_user("sms", phone_number="+14155550100").phone_number


def test_a_version_1_database_is_upgraded_in_place(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn, conn.transaction():
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("CREATE TABLE identitystore_schema (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO identitystore_schema VALUES (1)")
        conn.execute(
            "INSERT INTO connections (id, name, strategy, options) "
            "VALUES ('con_old', 'Username-Password-Authentication', 'auth0', '{}')"
        )
        conn.execute(
            "INSERT INTO users (user_id, user_id_key, connection_id, connection, provider, email, "
            "name, user_metadata, created_at, updated_at) VALUES ('auth0|Old', 'auth0|old', "
            "'con_old', 'Username-Password-Authentication', 'auth0', 'old@x.io', 'old', "
            """'{"plan": "pro"}', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z')"""
        )
    with IdentityStore(pg_url, hasher=FAST) as store:
        assert store.backend.schema_version == SCHEMA_VERSION
        old = store.get_user("auth0|Old")
        assert (old.email, old.user_metadata) == ("old@x.io", {"plan": "pro"})
        assert [u.user_id for u in store.list_users(q="user_metadata.plan:pro").users] == [
            "auth0|Old"
        ]
        # version 1 held its default connections already: none is added again
        assert [c.name for c in store.list_connections()] == [DB]
        with pytest.raises(errors.UserExistsError):
            store.create_user(DB, email="OLD@x.io", password="Correct-Horse-9")
    assert _sql(pg_url, "SELECT version FROM identitystore_schema") == [(SCHEMA_VERSION,)]


def test_a_version_3_database_is_upgraded_in_place(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn, conn.transaction():
        for statements in MIGRATIONS[:3]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("CREATE TABLE identitystore_schema (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO identitystore_schema VALUES (3)")
        conn.execute(
            "INSERT INTO events (log_id, date, type, user_id, details) "
            "VALUES (%s, %s, 'f', %s, %s)",
            ("000000000000000000000001", "2025-01-01T00:00:00.000Z", "auth0|x", '{"n": 1}'),
        )
    with IdentityStore(pg_url, hasher=FAST) as store:
        backend = store.backend
        assert backend.schema_version == SCHEMA_VERSION == 4
        (old,) = backend.list_events()
        assert (old.type, old.details, old.client_id, old.user_agent) == ("f", {"n": 1}, None, None)
        assert backend.get_event(old.log_id) == old
        assert backend.page_events(EventQuery(with_total=True)) == ([old], 1)
        backend.put_record("client", "c1", "{}", replace=False)
        assert backend.list_records("client") == [("c1", "{}")]
    assert _sql(pg_url, "SELECT version FROM identitystore_schema") == [(SCHEMA_VERSION,)]


def test_a_newer_schema_is_refused_and_left_untouched(pg_url: str) -> None:
    IdentityStore(pg_url, hasher=FAST).close()
    _sql(pg_url, "UPDATE identitystore_schema SET version = %s", SCHEMA_VERSION + 1)
    _sql(pg_url, "DROP INDEX users_user_metadata")  # a change a newer version might have made
    before = (_tables(pg_url), _sql(pg_url, "SELECT count(*) FROM connections"))
    with pytest.raises(errors.SchemaVersionError) as caught:
        IdentityStore(pg_url, hasher=FAST)
    assert caught.value.status_code == 500
    assert f"schema version {SCHEMA_VERSION + 1}" in caught.value.message
    assert "Upgrade identitystore" in caught.value.message
    assert (_tables(pg_url), _sql(pg_url, "SELECT count(*) FROM connections")) == before
    assert _sql(pg_url, "SELECT to_regclass('users_user_metadata')") == [(None,)]


def _open_and_count(url: str) -> int:
    with IdentityStore(url, hasher=FAST) as store:
        return len(store.list_connections())


def test_processes_opening_a_new_database_together_migrate_once(pg_url: str) -> None:
    context = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "fork")
    with context.Pool(4) as pool:
        counts = pool.map(_open_and_count, [pg_url] * 4)
    assert counts == [3, 3, 3, 3]  # the three default connections, created once
    assert _sql(pg_url, "SELECT version FROM identitystore_schema") == [(SCHEMA_VERSION,)]


def test_a_store_used_after_fork_opens_its_own_connections(pg_url: str) -> None:
    with IdentityStore(pg_url, hasher=FAST) as store:
        user = store.create_user("sms", phone_number="+14155550100")

        def child() -> None:
            store.create_user("sms", phone_number="+14155550101")
            sys.exit(0 if store.get_user(user.user_id) == user else 1)

        process = multiprocessing.get_context("fork").Process(target=child)
        process.start()
        process.join(30)
        assert process.exitcode == 0
        assert store.get_user(user.user_id) == user  # the parent's connections still work
        assert store.backend.count_users() == 2


@pytest.mark.parametrize(("durability", "setting"), [("full", "on"), ("normal", "off")])
def test_durability_sets_synchronous_commit(pg_url: str, durability: Any, setting: str) -> None:
    backend = PostgresBackend(pg_url, durability=durability)
    try:
        assert backend._read(lambda cur: cur.execute("SHOW synchronous_commit").fetchone()) == (
            setting,
        )
    finally:
        backend.close()


@pytest.mark.parametrize(("default", "expected"), [("off", "on"), ("remote_apply", "remote_apply")])
def test_full_durability_overrides_a_default_that_does_not_flush(
    pg_url: str, default: str, expected: str
) -> None:
    url = pg_url.replace("options=", f"options=-csynchronous_commit%3D{default}%20", 1)
    backend = PostgresBackend(url, durability="full")
    try:
        shown = backend._read(lambda cur: cur.execute("SHOW synchronous_commit").fetchone())
        assert shown == (expected,)
    finally:
        backend.close()


def test_metadata_equality_uses_the_gin_index(pg_url: str) -> None:
    with IdentityStore(pg_url, hasher=FAST) as store:
        for n in range(20):
            store.create_user("sms", phone_number=f"+141555501{n:02d}",
                              user_metadata={"plan": "pro" if n % 5 else "free"})  # fmt: skip
        backend = store.backend
        assert isinstance(backend, PostgresBackend)

        def plan(cur: Any) -> str:
            cur.execute("SET enable_seqscan = off")
            cur.execute(
                "EXPLAIN SELECT user_id FROM users WHERE user_metadata @> %s::jsonb",
                ('{"plan": "free"}',),
            )
            rows = "\n".join(r[0] for r in cur.fetchall())
            cur.execute("RESET enable_seqscan")
            return rows

        assert "users_user_metadata" in backend._read(plan)
        assert store.list_users(q="user_metadata.plan:free", include_totals=True).total == 4


@pytest.mark.parametrize("sort", ["created_at", "name", "email", "last_login", "updated_at"])
@pytest.mark.parametrize("descending", [False, True])
def test_a_page_reads_its_sort_index_without_sorting(
    pg_url: str, sort: str, descending: bool
) -> None:
    # The pages sort NULLs first (as SQLite does); indexes built in that order serve both
    # directions, so a page costs the same at any size of the table.
    from identitystore.storage._postgres import _order

    with IdentityStore(pg_url, hasher=FAST) as store:
        backend = store.backend
        assert isinstance(backend, PostgresBackend)
        order = _order(UserQuery(sort=sort, descending=descending))

        def fill(cur: Any) -> None:  # 5,000 users, a tenth without a last login
            cur.execute(
                "INSERT INTO users (user_id, user_id_key, connection_id, connection, provider, "
                "email, name, created_at, updated_at, last_login) "
                "SELECT 'sms|' || n, 'sms|' || n, c.id, c.name, 'sms', n || '@x.io', 'u' || n, "
                "'2026-01-01T00:00:00.' || n, '2026-01-02T00:00:00.' || n, "
                "CASE WHEN n % 10 = 0 THEN NULL ELSE '2026-01-03T00:00:00.' || n END "
                "FROM generate_series(1, 5000) AS n, connections AS c WHERE c.name = 'sms'"
            )
            cur.execute("ANALYZE users")

        def plan(cur: Any) -> str:
            cur.execute(f"EXPLAIN SELECT * FROM users ORDER BY {order} LIMIT 50 OFFSET 950")
            return "\n".join(r[0] for r in cur.fetchall())

        backend._write(fill)
        found = backend._read(plan)
        assert "Index" in found
        assert "Sort" not in found


def test_unreachable_server_is_a_storage_error() -> None:
    with pytest.raises(errors.StorageError, match="Cannot connect"):
        PostgresBackend("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", timeout=0.3)


def test_no_free_connection_is_storage_busy(pg_url: str) -> None:
    backend = PostgresBackend(pg_url, pool_size=1, timeout=0.2)
    try:
        with backend._pool().connection():  # the only connection is taken
            with pytest.raises(errors.StorageBusyError) as caught:
                backend.get_user("auth0|x")
            assert caught.value.status_code == 503
            with pytest.raises(errors.StorageBusyError):
                backend.put_setting("k", "v")
        assert backend.get_setting("k") is None  # usable again, nothing was written
    finally:
        backend.close()


def test_missing_extra_names_the_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg_pool", None)
    with pytest.raises(ImportError, match=r"pip install 'identitystore\[postgres\]'"):
        open_backend("postgresql://localhost/x")


def test_repr_hides_the_password() -> None:
    from identitystore.storage._postgres import _safe_url

    assert _safe_url("postgresql://u:secret@h:5/db") == "postgresql://u:***@h:5/db"
    assert _safe_url("postgresql://u@h/db") == "postgresql://u@h/db"


def test_close_closes_the_pool(pg_url: str) -> None:
    store = IdentityStore(pg_url, hasher=FAST)
    store.close()
    store.close()
    with pytest.raises(errors.StorageError, match="closed"):
        store.create_user("sms", phone_number="+14155550100")


def test_a_deadlocked_transaction_is_run_again(pg_url: str) -> None:
    import threading

    backend = PostgresBackend(pg_url)
    try:
        backend._write(lambda cur: cur.execute("CREATE TABLE pair (id INT PRIMARY KEY, n INT)"))
        backend._write(lambda cur: cur.execute("INSERT INTO pair VALUES (1, 0), (2, 0)"))
        both_hold_one = threading.Barrier(2)
        attempts: list[int] = []

        def transfer(first: int, second: int) -> None:
            def action(cur: Any) -> None:
                attempts.append(first)
                cur.execute("UPDATE pair SET n = n + 1 WHERE id = %s", (first,))
                if attempts.count(first) == 1:
                    both_hold_one.wait(timeout=10)
                cur.execute("UPDATE pair SET n = n + 1 WHERE id = %s", (second,))

            backend._write(action)

        threads = [threading.Thread(target=transfer, args=ab) for ab in ((1, 2), (2, 1))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(attempts) == 3  # PostgreSQL broke the deadlock; the victim ran again
        rows = backend._read(lambda cur: cur.execute("SELECT n FROM pair ORDER BY id").fetchall())
        assert rows == [(2,), (2,)]
    finally:
        backend.close()


def test_a_connection_the_server_ended_is_replaced_without_an_error(pg_url: str) -> None:
    backend = PostgresBackend(pg_url, pool_size=1)
    try:

        def end_the_pooled_connection() -> None:
            row = backend._read(lambda cur: cur.execute("SELECT pg_backend_pid()").fetchone())
            assert row is not None
            (pid,) = row
            _sql(pg_url, "SELECT pg_terminate_backend(%s)", pid)

        end_the_pooled_connection()
        assert backend.get_setting("k") is None  # a read on a fresh connection
        end_the_pooled_connection()
        backend.put_setting("k", "v")  # a write: run again on a fresh connection, once
        assert backend.get_setting("k") == "v"
        end_the_pooled_connection()
        backend.add_event(_event())
        assert len(backend.list_events()) == 1
    finally:
        backend.close()


def _event() -> Any:
    from identitystore._models import Event

    return Event(log_id="0" * 24, date="2026-01-02T03:04:05.000Z", type="s")
