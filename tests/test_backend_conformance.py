"""The built-in backends pass the conformance suite shipped in ``identitystore.testing``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from identitystore import IdentityStore, PasswordHasher, errors
from identitystore._import import BATCH_SIZE
from identitystore.storage import Backend, BulkBackend, open_backend
from identitystore.testing.backend_suite import BackendSuite

sys.path.insert(0, str(Path(__file__).parents[1] / "docs" / "examples"))
from audited_backend import AuditedBackend


class TestMemory(BackendSuite):
    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        backend = open_backend(":memory:")
        yield backend
        backend.close()


class TestSQLiteFile(BackendSuite):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[Backend]:
        backend = open_backend(tmp_path / "users.db")
        yield backend
        backend.close()


class TestPostgres(BackendSuite):
    @pytest.fixture
    def backend(self, pg_store_url: str) -> Iterator[Backend]:
        backend = open_backend(pg_store_url)
        yield backend
        backend.close()


class TestAuditedBackend(BackendSuite):
    """The custom backend of docs/storage.md, wrapping SQLite in memory."""

    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        backend = AuditedBackend(open_backend(":memory:"))
        assert isinstance(backend, Backend)
        yield backend
        backend.close()


class TestAuditedPostgres(BackendSuite):
    @pytest.fixture
    def backend(self, pg_store_url: str) -> Iterator[Backend]:
        backend = AuditedBackend(open_backend(pg_store_url))
        assert isinstance(backend, Backend)
        yield backend
        backend.close()


def test_the_audited_backend_keeps_its_trail() -> None:
    backend = AuditedBackend(open_backend(":memory:"))
    assert isinstance(backend, Backend)  # its members are forwarded on the class
    with IdentityStore(backend, hasher=PasswordHasher.fast_for_tests()) as store:
        jane = store.create_user("sms", phone_number="+14155550100")
        with pytest.raises(errors.UserExistsError):
            store.create_user("sms", phone_number="+14155550100")  # refused: not in the trail
        store.delete_user(jane.user_id)
        store.delete_user(jane.user_id)  # nothing left to delete: not in the trail either
    assert backend.trail == [("created", jane.user_id), ("deleted", jane.user_id)]


def test_an_import_into_the_audited_backend_goes_through_its_insert_user() -> None:
    """A backend that is no ``BulkBackend`` gets an import user by user: its trail sees each."""
    backend = AuditedBackend(open_backend(":memory:"))
    assert not isinstance(backend, BulkBackend)  # write_users is not forwarded: not in Backend
    assert isinstance(backend, Backend)
    with IdentityStore(backend, hasher=PasswordHasher.fast_for_tests()) as store:
        users = [{"email": "a@example.com"}, {"email": "b@example.com"}, {"email": "a@example.com"}]
        result = store.import_users("Username-Password-Authentication", users)
        assert (result.inserted, result.failed) == (2, 1)
        ids = [store.get_users_by_email(u["email"])[0].user_id for u in users[:2]]
    assert backend.trail == [("created", user_id) for user_id in ids]


def test_an_import_user_by_user_into_a_deleted_connection_fails_the_rest() -> None:
    backend = AuditedBackend(open_backend(":memory:"))
    assert isinstance(backend, Backend)
    with IdentityStore(backend, hasher=PasswordHasher.fast_for_tests()) as store:
        store.create_connection("Elsewhere", strategy="auth0")

        def delete_after_first(done: int, total: int | None) -> None:
            if done == BATCH_SIZE:
                store.delete_connection("Elsewhere")

        users = [{"email": f"p{n}@example.com"} for n in range(BATCH_SIZE + 500)]
        result = store.import_users("Elsewhere", users, progress=delete_after_first)
        assert (result.inserted, result.failed) == (BATCH_SIZE, 500)
        assert {e["errors"][0]["code"] for e in result.errors} == {"CONNECTION_NOT_FOUND"}
    assert len(backend.trail) == BATCH_SIZE
