"""The service under test, on identitystore's fixtures (the plugin loads from the package)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from signup_service import SignupService

from identitystore import IdentityStore, PasswordHasher
from identitystore.testing.helpers import Snapshot, seed_users

PASSWORD = "Sup3r-secret"


@pytest.fixture
def service(identity_store: IdentityStore) -> SignupService:
    """The service on an empty store."""
    return SignupService(identity_store)


@pytest.fixture(scope="session")
def seeded() -> Iterator[Snapshot]:
    """The users of users.json, seeded once per session (per worker under pytest-xdist)."""
    with IdentityStore(hasher=PasswordHasher.fast_for_tests()) as store:
        seed_users(store, Path(__file__).parent / "users.json", password=PASSWORD)
        snapshot = Snapshot(store)
    yield snapshot
    snapshot.close()


@pytest.fixture
def seeded_service(
    identity_store_factory: Callable[..., IdentityStore], seeded: Snapshot
) -> SignupService:
    """The service on a fresh copy of the seeded store."""
    return SignupService(identity_store_factory(snapshot=seeded))
