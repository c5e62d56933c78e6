"""Test helpers behind the pytest plugin, also usable alone: clock, outbox, seeding, snapshots."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

from identitystore import IdentityStore, InMemoryNotifier, Message, User
from identitystore.errors import IdentityStoreError, NotFoundError
from identitystore.storage import Backend

__all__ = ["ManualClock", "Outbox", "Snapshot", "seed_users"]

#: Where a ``ManualClock`` starts unless told otherwise.
_DEFAULT_START = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)


def _aware(when: datetime | str) -> datetime:
    """``when`` as a timezone-aware datetime (ISO-8601 strings, ``Z`` included, are parsed)."""
    if isinstance(when, str):
        when = datetime.fromisoformat(when.replace("Z", "+00:00"))
    if not isinstance(when, datetime):
        raise TypeError("a time must be a datetime or an ISO-8601 string")
    if when.tzinfo is None:
        raise ValueError("a time must be timezone-aware (e.g. tzinfo=timezone.utc)")
    return when


class ManualClock:
    """A clock that moves only when told to: pass it as ``IdentityStore(clock=...)``.

    Examples:
        >>> clock = ManualClock("2026-01-02T03:04:05Z")
        >>> clock.advance(seconds=181).isoformat()
        '2026-01-02T03:07:06+00:00'

    Attributes:
        now: the time the clock returns; assigning it is the same as ``set()``.
    """

    def __init__(self, start: datetime | str = _DEFAULT_START) -> None:
        self.now = _aware(start)

    def __call__(self) -> datetime:
        return self.now

    def advance(
        self,
        delta: timedelta | None = None,
        /,
        *,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
    ) -> datetime:
        """Move forward by ``delta`` or by the keyword amounts; returns the new time."""
        step = (delta or timedelta()) + timedelta(
            days=days, hours=hours, minutes=minutes, seconds=seconds
        )
        if step < timedelta():
            raise ValueError("a clock only advances; use set() to go back")
        self.now += step
        return self.now

    def set(self, when: datetime | str) -> datetime:
        """Jump to ``when`` (a timezone-aware datetime or ISO-8601 string); returns it."""
        self.now = _aware(when)
        return self.now

    def __repr__(self) -> str:
        return f"ManualClock({self.now.isoformat()!r})"


class Outbox:
    """The messages stores sent, with look-ups by recipient and kind.

    Kinds are ``verification_email``, ``password_reset``, ``passwordless_code`` and
    ``passwordless_link``. Recipients
    compare case-insensitively. Give ``notifier`` to the stores: ``IdentityStore(notifier=...)``.
    It keeps the newest ``InMemoryNotifier.DEFAULT_MAX_MESSAGES`` messages; for more, pass
    ``InMemoryNotifier(max_messages=None)``.
    """

    def __init__(self, notifier: InMemoryNotifier | None = None) -> None:
        self.notifier = notifier if notifier is not None else InMemoryNotifier()

    @property
    def messages(self) -> list[Message]:
        """The messages kept (the newest ``notifier.max_messages``), oldest first."""
        return self.notifier.messages

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)

    def filter(self, *, to: str | None = None, kind: str | None = None) -> list[Message]:
        """The messages sent to ``to`` and of ``kind`` (None: any), oldest first."""
        return [
            m
            for m in self.messages
            if (to is None or m.recipient.lower() == to.lower()) and kind in (None, m.kind)
        ]

    def last(self, *, to: str | None = None, kind: str | None = None) -> Message:
        """The newest message sent to ``to`` and of ``kind``.

        Raises:
            LookupError: no such message (the error lists what was sent).
        """
        found = self.filter(to=to, kind=kind)
        if not found:
            sent = ", ".join(f"{m.kind} to {m.recipient}" for m in self.messages) or "nothing"
            wanted = " ".join(
                part for part in (kind or "message", f"to {to}" if to else "") if part
            )
            dropped = self.notifier.dropped
            if dropped:
                sent += f" (and {dropped} older messages, dropped: max_messages)"
            raise LookupError(f"no {wanted} was sent; sent: {sent}")
        return found[-1]

    def last_code(self, *, to: str) -> str:
        """The one-time code of the newest passwordless message (code or link) sent to ``to``."""
        found = [m for m in self.filter(to=to) if m.kind.startswith("passwordless_")]
        message = found[-1] if found else self.last(to=to, kind="passwordless_code")
        return str(message.token)

    def verification_link(self, *, to: str) -> str:
        """The link of the newest verification email sent to ``to``."""
        return str(self.last(to=to, kind="verification_email").link)

    def verification_ticket(self, *, to: str) -> str:
        """The ticket inside that link: what ``IdentityStore.verify_email()`` takes."""
        return str(self.last(to=to, kind="verification_email").token)

    def reset_link(self, *, to: str) -> str:
        """The link of the newest password reset email sent to ``to``."""
        return str(self.last(to=to, kind="password_reset").link)

    def reset_ticket(self, *, to: str) -> str:
        """The ticket inside that link: what ``IdentityStore.change_password()`` takes."""
        return str(self.last(to=to, kind="password_reset").token)

    def clear(self) -> None:
        """Forget every message sent so far."""
        self.notifier.clear()

    def __repr__(self) -> str:
        return f"Outbox({len(self)} messages)"


#: Fields of Auth0's user body that the store derives itself; seeding drops them.
_DERIVED_FIELDS = frozenset(
    {
        "identities",
        "updated_at",
        "last_login",
        "last_ip",
        "logins_count",
        "last_password_reset",
        "multifactor",
    }
)
#: Strategies whose users get the ``password`` argument of ``seed_users`` when they have none.
_PASSWORD_STRATEGIES = frozenset({"auth0"})


def seed_users(
    store: IdentityStore,
    users: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
    *,
    password: str | None = None,
) -> list[User]:
    """Create users from Auth0-shaped records, keeping their ``user_id``, through ``create_user``.

    ``users`` is a JSON file holding a list of records, or the list itself. A record is what
    Auth0's ``GET /api/v2/users/{id}`` returns (``User.to_dict()``), optionally with a
    ``password``:

    * the connection is ``connection``, else that of the only entry of ``identities``;
    * ``user_id`` (``auth0|abc`` or ``abc``) is kept, and ``created_at`` too;
    * ``identities``, ``updated_at``, ``last_login``, ``logins_count`` and the other fields the
      store derives are dropped (``updated_at`` becomes ``created_at``);
    * users of ``auth0`` connections without a ``password`` get ``password``; password hashes
      (``password_hash``) are refused: give clear passwords, the store hashes them;
    * no verification email is sent unless the record says ``verify_email: true``.

    Records are created in order; every Auth0 rule applies, as for ``create_user``.

    Raises:
        IdentityStoreError: a record breaks a rule: the Auth0 error, its text naming the record.
        ValueError: a record that is not a user (no connection, a hash, a mismatched id).
    """
    records = _records(users)
    created: list[User] = []
    for index, record in enumerate(records):
        label = f"seed record {index} ({record.get('user_id') or record.get('email') or '?'})"
        try:
            created.append(_seed_one(store, record, password, label))
        except IdentityStoreError as exc:
            exc.args = (f"{exc.message} [{label}]",)
            raise
    return created


def _records(
    users: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
) -> list[Mapping[str, Any]]:
    if isinstance(users, (str, os.PathLike)):
        loaded = json.loads(Path(users).read_text(encoding="utf-8"))
        if not isinstance(loaded, list):
            raise TypeError(f"{os.fspath(users)} must hold a JSON list of users")
        users = loaded
    records = list(users)
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise TypeError(f"seed record {index} is not an object")
    return records


def _seed_one(
    store: IdentityStore, record: Mapping[str, Any], password: str | None, label: str
) -> User:
    body = {k: v for k, v in record.items() if k not in _DERIVED_FIELDS}
    if "password_hash" in body or "custom_password_hash" in body:
        raise ValueError(f"{label}: password hashes cannot be seeded; give a clear password")
    identities = record.get("identities") or []
    if len(identities) > 1:
        raise ValueError(f"{label}: linked accounts (several identities) cannot be seeded")
    identity = identities[0] if identities else {}
    connection = body.pop("connection", None) or identity.get("connection")
    if not connection:
        raise ValueError(f"{label}: no connection (give 'connection' or 'identities')")
    full_id = body.pop("user_id", None)
    if isinstance(full_id, str):
        body["user_id"] = full_id.split("|", 1)[-1]
    if password is not None and "password" not in body and _takes_password(store, connection):
        body["password"] = password
    if "email" in body:
        body.setdefault("verify_email", False)
    created_at = body.pop("created_at", None)
    clock = store.clock
    if created_at is not None:
        when = _aware(created_at)
        store.clock = lambda: when
    try:
        user = store.create_user(connection, **body)
    finally:
        store.clock = clock
    if isinstance(full_id, str) and "|" in full_id and user.user_id != full_id:
        store.delete_user(user.user_id)
        raise ValueError(f"{label}: connection {connection!r} makes ids like {user.user_id!r}")
    return user


def _takes_password(store: IdentityStore, connection: str) -> bool:
    try:
        return store.get_connection(connection).strategy in _PASSWORD_STRATEGIES
    except NotFoundError:
        return False  # create_user reports the unknown connection as Auth0 does


class Snapshot:
    """A frozen copy of a store's database, from which to open independent stores quickly.

    Seed once (e.g. in a session-scoped fixture), then ``restore()`` a fresh store per test:
    each restore is a copy through SQLite's backup API, far cheaper than seeding again. Needs
    a SQLite store (in memory or a file); restored stores are in memory.

    Examples:
        >>> from identitystore import PasswordHasher
        >>> with IdentityStore(hasher=PasswordHasher.fast_for_tests()) as seeded:
        ...     _ = seed_users(seeded, [{"user_id": "sms|1", "connection": "sms",
        ...                              "phone_number": "+14155550100"}])
        ...     snapshot = Snapshot(seeded)
        >>> with snapshot.restore(hasher=PasswordHasher.fast_for_tests()) as store:
        ...     store.get_user("sms|1").phone_number
        '+14155550100'
    """

    def __init__(self, store: IdentityStore) -> None:
        copy = getattr(store.backend, "copy", None)
        if copy is None:
            raise TypeError("snapshots need a store on SQLite (its backend has no copy())")
        self._backend: Any = copy()

    def restore(self, **options: Any) -> IdentityStore:
        """A new in-memory store with the snapshot's data; ``options`` go to ``IdentityStore``."""
        return IdentityStore(cast(Backend, self._backend.copy()), **options)

    def close(self) -> None:
        """Free the snapshot's memory."""
        self._backend.close()
