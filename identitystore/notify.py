"""Outbound messages (verification emails, ...) and the notifiers that send them."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable

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
        """Deliver ``message``. An exception here does not reach the store's caller: the store logs
        it (logger ``identitystore``) and the committed change stands."""
        ...


class InMemoryNotifier:
    """Keeps the most recent messages in ``messages``, in order: the default notifier, and a test
    double. Not a way to deliver anything: a production app plugs in a ``Notifier`` that hands
    each message to its mail or SMS sender.

    Args:
        max_messages: how many of the newest messages to keep (older ones are dropped, and
            counted in ``dropped``); ``None`` keeps every one, which only a short-lived store
            should do. Default ``DEFAULT_MAX_MESSAGES``.
    """

    #: How many messages an ``InMemoryNotifier`` keeps by default: enough for any test's look-up
    #: of the newest ones, a bounded memory (well under 1 MB) for an app that keeps the default.
    DEFAULT_MAX_MESSAGES: ClassVar[int] = 1000

    def __init__(self, max_messages: int | None = DEFAULT_MAX_MESSAGES) -> None:
        if max_messages is not None and (
            isinstance(max_messages, bool) or not isinstance(max_messages, int) or max_messages < 1
        ):
            raise ValueError("max_messages must be a positive integer or None")
        self.max_messages = max_messages
        self._messages: deque[Message] = deque(maxlen=max_messages)
        self._dropped = 0
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        """Keep ``message``, dropping the oldest one if ``max_messages`` are kept already."""
        with self._lock:
            if len(self._messages) == self.max_messages:
                self._dropped += 1
            self._messages.append(message)

    @property
    def messages(self) -> list[Message]:
        """A copy of the messages kept, oldest first."""
        with self._lock:
            return list(self._messages)

    @property
    def dropped(self) -> int:
        """How many messages were dropped to keep ``max_messages`` (since the last ``clear()``)."""
        return self._dropped

    def clear(self) -> None:
        """Forget every message."""
        with self._lock:
            self._messages.clear()
            self._dropped = 0

    def __repr__(self) -> str:
        return f"InMemoryNotifier({len(self._messages)} messages)"
