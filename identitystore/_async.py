"""``AsyncIdentityStore``: the store's methods as awaitables, run on a bounded set of threads."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

from ._export import Target
from ._import import Source
from ._models import (
    Connection,
    Event,
    EventsPage,
    ImportResult,
    Ticket,
    User,
    UserBlock,
    UsersPage,
)
from ._store import IdentityStore
from .connections import ConnectionStrategy
from .limits import VERIFICATION_TTL
from .notify import Message
from .passwords import PasswordPolicy

__all__ = ["AsyncIdentityStore"]

_T = TypeVar("_T")

#: Store calls one ``AsyncIdentityStore`` runs at once unless told otherwise.
DEFAULT_MAX_THREADS = 8


class AsyncIdentityStore:
    """An ``IdentityStore`` for asyncio code: every public method, as an awaitable.

    Each call runs the store's blocking method on the event loop's default thread pool, at most
    ``max_threads`` of them at once; the others wait their turn without blocking the loop. A
    cancelled call keeps its place until its thread finishes, so the bound holds. Reads of one
    row by key (``get_user``, ``get_users_by_email``, ``get_connection``,
    ``get_connection_by_id``, ``get_event``) run on the loop itself when the backend's reads
    never wait for a writer (``inline_reads``: a SQLite file in WAL mode), as a thread would cost
    more than the read.

    Examples:
        >>> async def main():  # doctest: +SKIP
        ...     async with AsyncIdentityStore(IdentityStore("users.db")) as store:
        ...         user = await store.create_user("sms", phone_number="+14155550100")

    Args:
        store: the store to run; ``close()`` closes it.
        max_threads: how many of its calls may run at once (at least 1).
    """

    def __init__(self, store: IdentityStore, *, max_threads: int = DEFAULT_MAX_THREADS) -> None:
        if not isinstance(store, IdentityStore):
            raise TypeError("store must be an IdentityStore")
        if isinstance(max_threads, bool) or not isinstance(max_threads, int) or max_threads < 1:
            raise ValueError("max_threads must be an integer >= 1")
        self.store = store
        self.max_threads = max_threads
        self._slots: asyncio.Semaphore | None = None
        #: Whether reads of one row by key run on the event loop, without a thread: when the
        #: backend says its reads never wait (``quick_reads``: a SQLite file in WAL mode).
        self.inline_reads = getattr(store.backend, "quick_reads", False) is True

    def __repr__(self) -> str:
        return f"AsyncIdentityStore({self.store!r}, max_threads={self.max_threads})"

    async def _run(self, func: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
        """``func(*args, **kwargs)`` on a thread, holding one of the ``max_threads`` slots."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_threads)
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        async with self._slots:
            running = loop.run_in_executor(None, call)
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                await asyncio.wait({running})  # the thread goes on: keep its slot until it ends
                raise

    async def _read(self, func: Callable[..., _T], /, *args: Any) -> _T:
        """A read of one row by key: on the loop when ``inline_reads``, else as ``_run``."""
        if self.inline_reads:
            return func(*args)
        return await self._run(func, *args)

    async def __aenter__(self) -> AsyncIdentityStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the store's methods, in its order (tests/test_emulator_async_store.py checks them) ---

    async def close(self) -> None:
        """Close the store; see ``IdentityStore.close``."""
        await self._run(self.store.close)

    async def register_strategy(self, strategy: ConnectionStrategy) -> None:
        """See ``IdentityStore.register_strategy``."""
        await self._run(self.store.register_strategy, strategy)

    async def create_connection(
        self, name: str, *, strategy: str, options: Mapping[str, Any] | None = None
    ) -> Connection:
        """See ``IdentityStore.create_connection``."""
        return await self._run(
            self.store.create_connection, name, strategy=strategy, options=options
        )

    async def get_connection(self, name: str) -> Connection:
        """See ``IdentityStore.get_connection``."""
        return await self._read(self.store.get_connection, name)

    async def get_connection_by_id(self, connection_id: str) -> Connection:
        """See ``IdentityStore.get_connection_by_id``."""
        return await self._read(self.store.get_connection_by_id, connection_id)

    async def list_connections(self) -> list[Connection]:
        """See ``IdentityStore.list_connections``."""
        return await self._run(self.store.list_connections)

    async def password_policy(self, connection: Connection) -> PasswordPolicy:
        """See ``IdentityStore.password_policy``."""
        return await self._run(self.store.password_policy, connection)

    async def update_connection(self, name: str, *, options: Mapping[str, Any]) -> Connection:
        """See ``IdentityStore.update_connection``."""
        return await self._run(self.store.update_connection, name, options=options)

    async def delete_connection(self, name: str) -> None:
        """See ``IdentityStore.delete_connection``."""
        await self._run(self.store.delete_connection, name)

    async def create_user(self, connection: str, /, **fields: Any) -> User:
        """See ``IdentityStore.create_user``."""
        return await self._run(self.store.create_user, connection, **fields)

    async def create_user_from_body(self, body: Mapping[str, Any]) -> User:
        """See ``IdentityStore.create_user_from_body``."""
        return await self._run(self.store.create_user_from_body, body)

    async def get_user(self, user_id: str) -> User:
        """See ``IdentityStore.get_user``."""
        return await self._read(self.store.get_user, user_id)

    async def get_users_by_email(self, email: str) -> list[User]:
        """See ``IdentityStore.get_users_by_email``."""
        return await self._read(self.store.get_users_by_email, email)

    async def list_users(
        self,
        connection: str | None = None,
        q: str | None = None,
        page: int = 0,
        per_page: int = 50,
        sort: str | None = None,
        *,
        include_totals: bool = False,
    ) -> UsersPage:
        """See ``IdentityStore.list_users``."""
        return await self._run(
            self.store.list_users,
            connection,
            q,
            page,
            per_page,
            sort,
            include_totals=include_totals,
        )

    async def update_user(self, user_id: str, /, **fields: Any) -> User:
        """See ``IdentityStore.update_user``."""
        return await self._run(self.store.update_user, user_id, **fields)

    async def delete_user(self, user_id: str) -> None:
        """See ``IdentityStore.delete_user``."""
        await self._run(self.store.delete_user, user_id)

    async def delete_users_by_email(self, connection: str, email: str) -> None:
        """See ``IdentityStore.delete_users_by_email``."""
        await self._run(self.store.delete_users_by_email, connection, email)

    async def get_user_blocks(self, user_id: str) -> list[UserBlock]:
        """See ``IdentityStore.get_user_blocks``."""
        return await self._run(self.store.get_user_blocks, user_id)

    async def get_user_blocks_by_identifier(self, identifier: str) -> list[UserBlock]:
        """See ``IdentityStore.get_user_blocks_by_identifier``."""
        return await self._run(self.store.get_user_blocks_by_identifier, identifier)

    async def unblock_user(self, user_id: str) -> None:
        """See ``IdentityStore.unblock_user``."""
        await self._run(self.store.unblock_user, user_id)

    async def unblock_user_by_identifier(self, identifier: str) -> None:
        """See ``IdentityStore.unblock_user_by_identifier``."""
        await self._run(self.store.unblock_user_by_identifier, identifier)

    async def authenticate(
        self, connection: str, username_or_email: str, password: str, ip: str | None = None
    ) -> User:
        """See ``IdentityStore.authenticate``."""
        return await self._run(self.store.authenticate, connection, username_or_email, password, ip)

    async def start_passwordless(
        self,
        connection: str,
        *,
        email: str | None = None,
        phone_number: str | None = None,
        send: Literal["code", "link"] = "code",
        ip: str | None = None,
    ) -> Message:
        """See ``IdentityStore.start_passwordless``."""
        return await self._run(
            self.store.start_passwordless,
            connection,
            email=email,
            phone_number=phone_number,
            send=send,
            ip=ip,
        )

    async def verify_passwordless(
        self,
        connection: str,
        *,
        code: str,
        email: str | None = None,
        phone_number: str | None = None,
        ip: str | None = None,
    ) -> User:
        """See ``IdentityStore.verify_passwordless``."""
        return await self._run(
            self.store.verify_passwordless,
            connection,
            code=code,
            email=email,
            phone_number=phone_number,
            ip=ip,
        )

    async def create_email_verification_ticket(
        self,
        user_id: str,
        *,
        ttl_sec: int = int(VERIFICATION_TTL.total_seconds()),
        send: bool = False,
    ) -> Ticket:
        """See ``IdentityStore.create_email_verification_ticket``."""
        return await self._run(
            self.store.create_email_verification_ticket, user_id, ttl_sec=ttl_sec, send=send
        )

    async def verify_email(self, ticket_token: str) -> User:
        """See ``IdentityStore.verify_email``."""
        return await self._run(self.store.verify_email, ticket_token)

    async def request_password_reset(
        self, connection: str, email: str, *, ip: str | None = None
    ) -> None:
        """See ``IdentityStore.request_password_reset``."""
        await self._run(self.store.request_password_reset, connection, email, ip=ip)

    async def create_password_change_ticket(
        self,
        *,
        user_id: str | None = None,
        connection: str | None = None,
        email: str | None = None,
        result_url: str | None = None,
        ttl_sec: int | None = None,
        mark_email_as_verified: bool = False,
    ) -> Ticket:
        """See ``IdentityStore.create_password_change_ticket``."""
        return await self._run(
            self.store.create_password_change_ticket,
            user_id=user_id,
            connection=connection,
            email=email,
            result_url=result_url,
            ttl_sec=ttl_sec,
            mark_email_as_verified=mark_email_as_verified,
        )

    async def change_password(
        self, ticket_token: str, new_password: str, *, ip: str | None = None
    ) -> User:
        """See ``IdentityStore.change_password``."""
        return await self._run(self.store.change_password, ticket_token, new_password, ip=ip)

    async def import_users(
        self,
        connection: str,
        source: Source,
        *,
        upsert: bool = False,
        progress: Callable[[int, int | None], None] | None = None,
        on_error: Callable[[dict[str, Any]], None] | None = None,
        send_verification_email: bool = False,
    ) -> ImportResult:
        """See ``IdentityStore.import_users`` (``progress`` and ``on_error`` run on its thread)."""
        return await self._run(
            self.store.import_users,
            connection,
            source,
            upsert=upsert,
            progress=progress,
            on_error=on_error,
            send_verification_email=send_verification_email,
        )

    async def export_users(
        self,
        target: Target,
        *,
        connection: str | None = None,
        format: Literal["json", "csv"] = "json",
        fields: Sequence[str | Mapping[str, str]] | None = None,
        limit: int | None = None,
        include_password_hashes: bool = False,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> int:
        """See ``IdentityStore.export_users`` (``progress`` runs on its thread)."""
        return await self._run(
            self.store.export_users,
            target,
            connection=connection,
            format=format,
            fields=fields,
            limit=limit,
            include_password_hashes=include_password_hashes,
            progress=progress,
        )

    async def list_events(
        self, *, type: str | None = None, user_id: str | None = None, limit: int = 100
    ) -> list[Event]:
        """See ``IdentityStore.list_events``."""
        return await self._run(self.store.list_events, type=type, user_id=user_id, limit=limit)

    async def search_events(
        self,
        q: str | None = None,
        *,
        user_id: str | None = None,
        page: int = 0,
        per_page: int = 50,
        sort: str | None = None,
        include_totals: bool = False,
    ) -> EventsPage:
        """See ``IdentityStore.search_events``."""
        return await self._run(
            self.store.search_events,
            q,
            user_id=user_id,
            page=page,
            per_page=per_page,
            sort=sort,
            include_totals=include_totals,
        )

    async def events_after(
        self, log_id: str | None, *, take: int = 50, q: str | None = None
    ) -> list[Event]:
        """See ``IdentityStore.events_after``."""
        return await self._run(self.store.events_after, log_id, take=take, q=q)

    async def get_event(self, log_id: str) -> Event:
        """See ``IdentityStore.get_event``."""
        return await self._read(self.store.get_event, log_id)

    async def record_event(
        self,
        type: str,
        *,
        description: str | None = None,
        user_id: str | None = None,
        user_name: str | None = None,
        connection: str | None = None,
        ip: str | None = None,
        client_id: str | None = None,
        client_name: str | None = None,
        user_agent: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Event:
        """See ``IdentityStore.record_event``."""
        return await self._run(
            self.store.record_event,
            type,
            description=description,
            user_id=user_id,
            user_name=user_name,
            connection=connection,
            ip=ip,
            client_id=client_id,
            client_name=client_name,
            user_agent=user_agent,
            details=details,
        )
