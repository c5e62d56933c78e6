"""Storage backends: the ``Backend`` protocol a store writes through, and how one is opened.

Storage knows rows, not Auth0: it reports *which* unique key collided (``DuplicateKey``) and the
store turns that into Auth0's error. Every write is one transaction; unique indexes decide
collisions, never a read before the write.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from .._models import Connection, NewUserRecord, User

__all__ = ["Backend", "DuplicateKey", "Durability", "open_backend"]

Durability = Literal["full", "normal"]


class DuplicateKey(Exception):
    """A unique key is taken. ``key`` is ``email``, ``username``, ``phone_number``, ``user_id``
    (users) or ``name`` (connections)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


@runtime_checkable
class Backend(Protocol):
    """What an ``IdentityStore`` needs from its storage. Methods are safe to call from threads."""

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        ...

    def insert_connection(self, connection: Connection) -> None:
        """Store a new connection. Raises ``DuplicateKey("name")`` if the name is taken."""
        ...

    def get_connection(self, name: str) -> Connection | None:
        """The connection called ``name``, or None."""
        ...

    def list_connections(self) -> Sequence[Connection]:
        """Every connection, oldest first."""
        ...

    def insert_user(self, record: NewUserRecord) -> None:
        """Store a new user in one transaction. Raises ``DuplicateKey`` naming the taken key."""
        ...

    def get_user(self, user_id: str) -> User | None:
        """The user with exactly this ``user_id``, or None."""
        ...

    def count_users(self) -> int:
        """How many users are stored."""
        ...

    def close(self) -> None:
        """Release every resource; the backend is unusable afterwards."""
        ...


def open_backend(
    database: str | os.PathLike[str] | Backend, *, durability: Durability = "full"
) -> Backend:
    """A backend for ``database``: a SQLite path, ``":memory:"``, or a ``Backend`` object as is."""
    if isinstance(database, (str, os.PathLike)):
        from ._sqlite import SQLiteBackend

        return SQLiteBackend(database, durability=durability)
    if isinstance(database, Backend):
        return database
    raise TypeError(f"cannot open a store on {type(database).__name__}")
