"""Shared fixtures: stores in memory, on a real SQLite file and on a real PostgreSQL server, with
cheap (real) hashing.

They are built on identitystore's own pytest plugin (``identity_store_factory``,
``identity_clock``), which pytest loads from the package's ``pytest11`` entry point.
PostgreSQL tests use the server at ``IDENTITYSTORE_TEST_POSTGRES_URL`` (``.ci/run`` starts one);
each test gets a fresh schema on it. Without the variable they skip, except under ``CI=true``, where
they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from identitystore import IdentityStore, PasswordHasher
from identitystore.testing.helpers import ManualClock

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


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A URL whose tables live in a fresh, empty schema of the test server (dropped after)."""
    import psycopg

    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{separator}options=-csearch_path%3D{schema}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["memory", "file", "postgres"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, identity_store_factory: StoreFactory
) -> IdentityStore:
    """A fresh store: in memory, on a real SQLite file, on a real PostgreSQL server."""
    if request.param == "postgres":
        target: str | Path = request.getfixturevalue("pg_url")
    else:
        target = ":memory:" if request.param == "memory" else tmp_path / "users.db"
    return identity_store_factory(target)


@pytest.fixture
def file_store(tmp_path: Path) -> Iterator[IdentityStore]:
    with IdentityStore(tmp_path / "users.db", hasher=FAST) as s:
        yield s
