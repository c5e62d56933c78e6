"""Shared fixtures: stores in memory, on a real SQLite file and on a real PostgreSQL server, with
cheap (real) hashing.

They are built on identitystore's own pytest plugin (``identity_store_factory``,
``identity_clock``), which pytest loads from the package's ``pytest11`` entry point.
PostgreSQL tests use the server at ``IDENTITYSTORE_TEST_POSTGRES_URL`` (``.ci/run`` starts one);
each test gets a fresh schema on it. Without the variable they skip, except under ``CI=true``, where
they fail.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

from identitystore import IdentityStore, PasswordHasher
from identitystore.testing.helpers import ManualClock

if TYPE_CHECKING:
    import httpx

    from identitystore.emulator import Emulator

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

FAST = PasswordHasher.fast_for_tests()
StoreFactory = Callable[..., IdentityStore]


@pytest.fixture
def clock(identity_clock: ManualClock) -> ManualClock:
    """The plugin's clock, which every store of the test follows."""
    return identity_clock


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The URL of the test PostgreSQL server; skips without one (fails under ``CI=true``)."""
    url = os.environ.get("IDENTITYSTORE_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but IDENTITYSTORE_TEST_POSTGRES_URL is not set: .ci/run sets it")
        pytest.skip("no PostgreSQL server: set IDENTITYSTORE_TEST_POSTGRES_URL")
    return url


def schema_url(server_url: str, schema: str) -> str:
    """``server_url`` with ``schema`` first in its search path."""
    separator = "&" if "?" in server_url else "?"
    return f"{server_url}{separator}options=-csearch_path%3D{schema}"


@contextlib.contextmanager
def new_schema(server_url: str, prefix: str = "test") -> Iterator[str]:
    """A URL whose tables live in a fresh, empty schema of ``server_url`` (dropped after)."""
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema_url(server_url, schema)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A URL whose tables live in a fresh, empty schema of the test server (dropped after)."""
    with new_schema(postgres_url) as url:
        yield url


class MigratedSchemas:
    """Schemas of the test server that hold identitystore's current schema and no rows, kept by
    one test process: a test takes one, and gives it back emptied for the next (a new schema costs
    a migration, several times a typical test; emptying costs a few DELETEs). A schema whose
    tables a test changed, or that cannot be emptied at once, is dropped instead.

    Emptied, a schema holds what a new one holds, but for where its identity columns (``seq``)
    count from: storage reads them only to order rows.
    """

    #: Every table, those that point to others first.
    TABLES = (
        "tickets",
        "password_history",
        "login_failures",
        "one_time_codes",
        "users",
        "connections",
        "settings",
        "events",
        "records",
    )
    #: The columns of every table and index in the schema, and the schema version.
    SHAPE = (
        "SELECT (SELECT string_agg(c.relname || '.' || a.attname || ' ' || a.atttypid::text, ',' "
        "ORDER BY c.relname, a.attnum) FROM pg_catalog.pg_attribute a "
        "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND a.attnum > 0), "
        "(SELECT max(version) FROM {schema}.identitystore_schema)"
    )

    def __init__(self, server_url: str) -> None:
        import psycopg

        self.server_url = server_url
        self.admin = psycopg.connect(server_url, autocommit=True)
        self.admin.execute("SET synchronous_commit = off")  # throwaway rows
        self.admin.execute("SET lock_timeout = '2s'")
        self.free: list[str] = []
        self.made: list[str] = []
        self.shape: Any = None

    def take(self) -> str:
        """The URL of an empty schema at the current version."""
        if self.free:
            return schema_url(self.server_url, self.free.pop())
        schema = f"test_{uuid.uuid4().hex[:16]}"
        self.admin.execute(f"CREATE SCHEMA {schema}")
        self.made.append(schema)
        url = schema_url(self.server_url, schema)
        IdentityStore(url, hasher=FAST).close()  # migrates
        self._empty(schema)
        if self.shape is None:
            self.shape = self._shape(schema)
        return url

    def give_back(self, url: str) -> None:
        """Empty the schema of ``url`` for the next test, or drop it."""
        import psycopg

        schema = url.rsplit("%3D", 1)[1]
        try:
            if self._shape(schema) == self.shape:
                self._empty(schema)
                self.free.append(schema)
                return
        except psycopg.Error:
            pass
        self.drop(schema)

    def _shape(self, schema: str) -> Any:
        return self.admin.execute(self.SHAPE.format(schema=schema), (schema,)).fetchone()

    def _empty(self, schema: str) -> None:
        with self.admin.transaction():
            for table in self.TABLES:
                self.admin.execute(f"DELETE FROM {schema}.{table}")

    def drop(self, schema: str) -> None:
        import psycopg

        with contextlib.suppress(psycopg.Error):
            self.admin.execute(f"DROP SCHEMA {schema} CASCADE")

    def close(self) -> None:
        """Drop every schema made."""
        for schema in self.made:
            self.drop(schema)
        self.admin.close()


@pytest.fixture(scope="session")
def migrated_schemas(postgres_url: str) -> Iterator[MigratedSchemas]:
    """This test process's ``MigratedSchemas``."""
    schemas = MigratedSchemas(postgres_url)
    yield schemas
    schemas.close()


@pytest.fixture
def pg_store_url(migrated_schemas: MigratedSchemas) -> Iterator[str]:
    """A URL whose schema holds identitystore's current schema and no rows (a store opened on it
    creates its default connections, as on a new database); for tests of the store, not of
    migrations."""
    url = migrated_schemas.take()
    yield url
    migrated_schemas.give_back(url)


@pytest.fixture(params=["memory", "file", "postgres"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, identity_store_factory: StoreFactory
) -> IdentityStore:
    """A fresh store: in memory, on a real SQLite file, on a real PostgreSQL server."""
    if request.param == "postgres":
        target: str | Path = request.getfixturevalue("pg_store_url")
    else:
        target = ":memory:" if request.param == "memory" else tmp_path / "users.db"
    return identity_store_factory(target)


@pytest.fixture
def file_store(tmp_path: Path) -> Iterator[IdentityStore]:
    with IdentityStore(tmp_path / "users.db", hasher=FAST) as s:
        yield s


@pytest.fixture
def emu(identity_emulator: Emulator) -> Emulator:
    """The plugin's ``identity_emulator``, by the emulator tests' short name."""
    return identity_emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    """A client of ``emu``'s Management API (``/api/v2``) with its default client's token."""
    from tests.emulator_support import api

    with api(emu) as http:
        yield http
