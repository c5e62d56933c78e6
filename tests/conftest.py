"""Shared fixtures: stores on a real SQLite file and in memory, with cheap (real) hashing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from identitystore import IdentityStore, PasswordHasher

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


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["memory", "file"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> Iterator[IdentityStore]:
    """A fresh store, once in memory and once on a real SQLite file."""
    target = ":memory:" if request.param == "memory" else tmp_path / "users.db"
    with IdentityStore(target, hasher=FAST, clock=clock) as s:
        yield s


@pytest.fixture
def file_store(tmp_path: Path) -> Iterator[IdentityStore]:
    with IdentityStore(tmp_path / "users.db", hasher=FAST) as s:
        yield s
