"""Shared fixtures: stores on a real SQLite file and in memory, with cheap (real) hashing.

They are built on identitystore's own pytest plugin (``identity_store_factory``,
``identity_clock``), which pytest loads from the package's ``pytest11`` entry point.
"""

from __future__ import annotations

import os
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


@pytest.fixture(params=["memory", "file"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, identity_store_factory: StoreFactory
) -> IdentityStore:
    """A fresh store, once in memory and once on a real SQLite file."""
    return identity_store_factory(
        ":memory:" if request.param == "memory" else tmp_path / "users.db"
    )


@pytest.fixture
def file_store(tmp_path: Path) -> Iterator[IdentityStore]:
    with IdentityStore(tmp_path / "users.db", hasher=FAST) as s:
        yield s
