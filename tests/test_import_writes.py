"""How an import writes its batches (``BulkBackend.write_users``, in a thread of the import's
own): on memory, a SQLite file and PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from identitystore import IdentityStore, _import, errors
from identitystore.storage import BulkBackend, BulkUser, WriteOutcome

DB = "Username-Password-Authentication"
BATCH = _import.BATCH_SIZE


def people(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"email": f"p{n}@example.com", "user_id": f"p{n}"} for n in range(start, count)]


def test_the_built_in_backends_write_batches(store: IdentityStore) -> None:
    assert isinstance(store.backend, BulkBackend)


def test_a_connection_deleted_during_an_import_fails_the_users_after(
    store: IdentityStore,
) -> None:
    """The batch written before the delete went with the connection's users; the later batches
    are refused whole, each user with Auth0's ``CONNECTION_NOT_FOUND``."""
    other = "Imports-Elsewhere"
    store.create_connection(other, strategy="auth0")

    def delete_after_first(done: int, total: int | None) -> None:
        if done == BATCH:
            store.delete_connection(other)

    result = store.import_users(other, people(2 * BATCH + BATCH // 2), progress=delete_after_first)
    assert (result.inserted, result.updated, result.failed) == (BATCH, 0, BATCH + BATCH // 2)
    assert {e["errors"][0]["code"] for e in result.errors} == {"CONNECTION_NOT_FOUND"}
    assert store.list_users(include_totals=True).total == 0  # deleted with the connection


def test_a_failed_write_stops_the_import_and_keeps_the_batches_before(
    store: IdentityStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = store.backend
    assert isinstance(backend, BulkBackend)
    write = backend.write_users
    calls: list[int] = []

    def fail_the_second(
        connection_id: str, users: Sequence[BulkUser], **kwargs: Any
    ) -> list[WriteOutcome]:
        calls.append(len(users))
        if len(calls) == 2:
            raise errors.StorageFullError()
        return write(connection_id, users, **kwargs)

    monkeypatch.setattr(backend, "write_users", fail_the_second)
    done: list[int] = []
    with pytest.raises(errors.StorageFullError):
        store.import_users(DB, people(3 * BATCH + 1), progress=lambda n, total: done.append(n))
    assert calls == [BATCH, BATCH]  # nothing written after the failure
    assert done == [BATCH]
    assert store.list_users(include_totals=True).total == BATCH
    assert store.get_user(f"auth0|p{BATCH - 1}").email == f"p{BATCH - 1}@example.com"
    assert [e.type for e in store.list_events(type="sui")] == []


def test_a_batch_of_users_the_store_has_is_written_user_by_user_with_the_same_outcomes(
    store: IdentityStore,
) -> None:
    """A batch whose fast path refuses (keys taken) has each user written alone: the new ones
    inserted, the others reported, the upserts applied."""
    store.import_users(DB, people(1500, 500))
    mixed = people(2000)  # 500-1499 stored, the others new: each batch has both
    result = store.import_users(DB, mixed)
    assert (result.inserted, result.failed) == (1000, 1000)
    assert {e["errors"][0]["code"] for e in result.errors} == {"DUPLICATED_USER"}
    renamed = [{**p, "given_name": "New"} for p in mixed]
    result = store.import_users(DB, renamed, upsert=True)
    assert (result.inserted, result.updated, result.failed) == (0, 2000, 0)
    assert {u.given_name for u in store.list_users(per_page=100).users} == {"New"}
    assert store.list_users(include_totals=True).total == 2000
