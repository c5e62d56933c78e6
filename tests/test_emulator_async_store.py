"""``AsyncIdentityStore``: each public method of ``IdentityStore`` as an awaitable, off the loop."""

from __future__ import annotations

import asyncio
import inspect
import io
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from identitystore import AsyncIdentityStore, IdentityStore, PasswordHasher, User, UsersPage
from identitystore.errors import UserExistsError, UserNotFoundError


def _public_methods(cls: type) -> dict[str, Callable[..., object]]:
    return {
        name: member
        for name, member in vars(cls).items()
        if not name.startswith("_") and inspect.isfunction(member)
    }


def test_every_public_method_is_mirrored_one_to_one() -> None:
    store_methods = _public_methods(IdentityStore)
    async_methods = _public_methods(AsyncIdentityStore)
    assert set(async_methods) == set(store_methods)
    for name, method in async_methods.items():
        assert inspect.iscoroutinefunction(method), name


@pytest.mark.parametrize("name", sorted(_public_methods(IdentityStore)))
def test_signatures_match(name: str) -> None:
    """Same parameters, kinds and defaults: an async caller passes what a sync caller would."""
    expected = inspect.signature(getattr(IdentityStore, name))
    actual = inspect.signature(getattr(AsyncIdentityStore, name))
    assert [(p.name, p.kind, p.default) for p in actual.parameters.values()] == [
        (p.name, p.kind, p.default) for p in expected.parameters.values()
    ]


def test_calls_reach_the_store_and_its_errors_come_back(
    identity_store: IdentityStore,
) -> None:
    async def scenario() -> None:
        astore = AsyncIdentityStore(identity_store)
        user = await astore.create_user("sms", phone_number="+14155550100")
        assert (await astore.get_user(user.user_id)) == identity_store.get_user(user.user_id)
        with pytest.raises(UserExistsError):
            await astore.create_user("sms", phone_number="+14155550100")
        page = await astore.list_users(include_totals=True)
        assert page.total == 1
        await astore.delete_user(user.user_id)
        with pytest.raises(UserNotFoundError):
            await astore.get_user(user.user_id)

    asyncio.run(scenario())


def test_methods_run_off_the_event_loop_on_a_bounded_pool(
    identity_store: IdentityStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = 0
    most = 0
    threads: set[int] = set()
    lock = threading.Lock()
    original = identity_store.get_users_by_email

    def slow(email: str) -> list[object]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            threads.add(threading.get_ident())
        time.sleep(0.05)
        with lock:
            running -= 1
        return list(original(email))

    monkeypatch.setattr(identity_store, "get_users_by_email", slow)

    async def scenario() -> float:
        astore = AsyncIdentityStore(identity_store, max_threads=2)
        loop_thread = threading.get_ident()
        ticks = 0

        async def ticker() -> None:  # the loop stays free while the store works
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        tick_task = asyncio.create_task(ticker())
        await asyncio.gather(*(astore.get_users_by_email("a@example.com") for _ in range(6)))
        tick_task.cancel()
        assert loop_thread not in threads
        return ticks

    ticks = asyncio.run(scenario())
    assert most == 2
    assert ticks >= 5


def test_a_cancelled_call_keeps_its_slot_until_its_thread_ends(
    identity_store: IdentityStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    finished = threading.Event()
    overlap: list[bool] = []

    def slow(user_id: str) -> None:
        overlap.append(finished.is_set())
        time.sleep(0.1)
        finished.set()

    monkeypatch.setattr(identity_store, "delete_user", slow)

    async def scenario() -> None:
        astore = AsyncIdentityStore(identity_store, max_threads=1)
        first = asyncio.create_task(astore.delete_user("a"))
        await asyncio.sleep(0.02)
        first.cancel()
        second = asyncio.create_task(astore.delete_user("b"))
        with pytest.raises(asyncio.CancelledError):
            await first
        await second

    asyncio.run(scenario())
    assert overlap == [False, True]  # the second call started only after the first ended


def test_arguments_are_checked() -> None:
    with pytest.raises(TypeError):
        AsyncIdentityStore(object())  # type: ignore[arg-type]
    with IdentityStore(":memory:") as store:
        with pytest.raises(ValueError, match="max_threads"):
            AsyncIdentityStore(store, max_threads=0)


def test_close_and_async_context_manager_close_the_store() -> None:
    store = IdentityStore(":memory:")

    async def scenario() -> None:
        async with AsyncIdentityStore(store) as astore:
            await astore.list_connections()

    asyncio.run(scenario())
    with pytest.raises(Exception):  # noqa: B017, PT011 - any use of a closed store fails
        store.list_connections()


def test_import_and_export_as_awaitables(identity_store: IdentityStore) -> None:
    async def scenario() -> None:
        astore = AsyncIdentityStore(identity_store)
        seen: list[tuple[int, int | None]] = []
        result = await astore.import_users(
            "Username-Password-Authentication",
            [{"email": "a@example.com"}, {"email": "not an email"}],
            progress=lambda done, total: seen.append((done, total)),
        )
        assert result.summary() == {"failed": 1, "updated": 0, "inserted": 1, "total": 2}
        assert seen == [(2, 2)]
        out = io.BytesIO()
        assert await astore.export_users(out, fields=["email"]) == 1
        assert out.getvalue() == b'{"email":"a@example.com"}\n'

    asyncio.run(scenario())


class _ThreadRecordingStore(IdentityStore):
    """Records the thread each ``get_user`` and ``list_users`` ran on."""

    threads: list[tuple[str, int]]

    def get_user(self, user_id: str) -> User:
        self.threads.append(("get_user", threading.get_ident()))
        return super().get_user(user_id)

    def list_users(self, *args: Any, **kwargs: Any) -> UsersPage:
        self.threads.append(("list_users", threading.get_ident()))
        return super().list_users(*args, **kwargs)


@pytest.mark.parametrize("where", ["file", "memory"])
def test_reads_by_key_run_on_the_loop_only_where_reads_never_wait(
    tmp_path: Path, where: str
) -> None:
    database = str(tmp_path / "users.db") if where == "file" else ":memory:"
    store = _ThreadRecordingStore(database, hasher=PasswordHasher.fast_for_tests())
    store.threads = []
    user = store.create_user("sms", phone_number="+14155550100")

    async def main() -> int:
        astore = AsyncIdentityStore(store)
        assert astore.inline_reads is (where == "file")
        assert await astore.get_user(user.user_id) == user
        with pytest.raises(UserNotFoundError):
            await astore.get_user("sms|nobody")
        assert [u.user_id for u in await astore.list_users()] == [user.user_id]
        await astore.close()
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    on_loop = [(name, thread == loop_thread) for name, thread in store.threads]
    inline = where == "file"
    assert on_loop == [("get_user", inline), ("get_user", inline), ("list_users", False)]
