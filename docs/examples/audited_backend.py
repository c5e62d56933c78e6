"""A backend of your own: any backend, wrapped, with a trail of the users written through it.

Every method the store calls goes to the wrapped backend; ``insert_user`` and ``delete_user``
also note what they did, once the wrapped backend has committed it. The conformance suite runs
against it (``tests/test_backend_conformance.py``), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from identitystore import Event
from identitystore.storage import Backend, NewUserRecord


class AuditedBackend:
    """``inner`` with an audit trail: ``("created" | "deleted", user_id)``, in commit order."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.trail: list[tuple[str, str]] = []
        self._lock = threading.Lock()  # backends are called from several threads at once

    def insert_user(self, record: NewUserRecord, *, events: Sequence[Event] = ()) -> None:
        self.inner.insert_user(record, events=events)  # raises (and writes nothing) on conflict
        with self._lock:
            self.trail.append(("created", record.user.user_id))

    def delete_user(self, user_id: str, *, events: Sequence[Event] = ()) -> bool:
        deleted = self.inner.delete_user(user_id, events=events)
        if deleted:
            with self._lock:
                self.trail.append(("deleted", user_id))
        return deleted


def _forwarded(name: str) -> Any:
    return property(lambda self: getattr(self.inner, name))


# Every other method of the protocol (records, events, sign-ins ...), as the inner backend's.
# Class attributes rather than __getattr__: isinstance(x, Backend) looks at the class only
# from Python 3.12 on.
for _name in dir(Backend):
    if not _name.startswith("_") and not hasattr(AuditedBackend, _name):
        setattr(AuditedBackend, _name, _forwarded(_name))
