"""Outbound messages (verification emails, ...) and the notifiers that send them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["InMemoryNotifier", "Message", "Notifier"]


@dataclass(frozen=True, slots=True)
class Message:
    """One message a store sends, e.g. a verification email.

    Attributes:
        kind: what it is, e.g. ``"verification_email"``.
        recipient: the email address or phone number it goes to.
        user_id: the user it is about.
        connection: the user's connection name.
        link: the URL the user follows, if any (kept out of the repr: it holds the token).
        token: the secret inside the link or code (kept out of the repr), if any.
        created_at: when it was sent (ISO-8601, milliseconds, ``Z``).
        expires_at: when ``token`` stops working, if it expires.
    """

    kind: str
    recipient: str
    user_id: str
    connection: str
    created_at: str
    link: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    expires_at: str | None = None


@runtime_checkable
class Notifier(Protocol):
    """Sends messages. Called after the change they are about has been committed."""

    def send(self, message: Message) -> None:
        """Deliver ``message``; an exception here does not undo the committed change."""
        ...


class InMemoryNotifier:
    """Keeps every message in ``messages``, in order: the default notifier, and a test double."""

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        """Append ``message`` to ``messages``."""
        with self._lock:
            self._messages.append(message)

    @property
    def messages(self) -> list[Message]:
        """A copy of the messages sent so far, oldest first."""
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        """Forget every message."""
        with self._lock:
            self._messages.clear()

    def __repr__(self) -> str:
        return f"InMemoryNotifier({len(self._messages)} messages)"
