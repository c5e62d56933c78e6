"""Test controls: the outbox, the clock, a users reset and injected faults.

``Controls`` holds them for one emulator; ``Emulator``'s methods and the routes under
``/emulator/v1/`` (never under ``/api/v2``) both call it, so they behave the same.
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.responses import Response

from identitystore import IdentityStore, InMemoryNotifier, Message
from identitystore.testing.helpers import ManualClock

from ._errors import ApiError
from ._http import Call, empty, json_response
from ._tenant import iso

__all__ = ["Controls", "Fault", "OffsetClock"]


def parse_time(text: str) -> datetime:
    """An ISO-8601 time with its offset (``Z`` included), e.g. from the clock control."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError("a time must carry its offset (e.g. end in Z)")
    return when


class OffsetClock(ManualClock):
    """Real time plus an offset that ``set`` and ``advance`` move: the default store's clock.

    ``ManualClock``'s ``set`` and ``advance``, on a clock that keeps running between them, so
    tokens and codes age as they would.
    """

    def __init__(self) -> None:  # no start: it starts at the real time
        self.offset = timedelta()

    @property
    def now(self) -> datetime:
        """The time the clock returns: the real time plus ``offset``."""
        return datetime.now(timezone.utc) + self.offset

    @now.setter
    def now(self, value: datetime) -> None:
        self.offset = value - datetime.now(timezone.utc)

    def __repr__(self) -> str:
        return f"OffsetClock(offset={self.offset!r})"


#: Limits that keep an injected fault from stalling a test run.
MAX_DELAY = 300.0
MAX_TIMES = 1_000_000


@dataclass
class Fault:
    """The next ``times`` requests matching ``method`` (``*`` for any) and ``path`` (a glob on
    the decoded path, e.g. ``/api/v2/users*``) wait ``delay`` seconds, then answer ``status`` in
    Auth0's envelope if set (else they are served as usual).

    Raises:
        ValueError, TypeError: a fault that cannot be armed.

    Attributes:
        id: its number among the emulator's faults (set when armed).
        message: the error body's ``message``.
    """

    method: str
    path: str
    status: int | None = None
    delay: float = 0.0
    times: int = 1
    message: str = "Fault injected by the emulator"
    id: int = field(default=0)

    def __post_init__(self) -> None:
        if not isinstance(self.method, str) or not self.method:
            raise ValueError("a fault needs a method")
        if not isinstance(self.path, str) or not self.path:
            raise ValueError("a fault needs a path")
        status, delay, times = self.status, self.delay, self.times
        if status is not None and (
            isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599
        ):
            raise ValueError("status must be an HTTP error status from 400 to 599")
        if isinstance(delay, bool) or not isinstance(delay, (int, float)):
            raise TypeError("delay must be a number of seconds")
        if not 0 <= delay <= MAX_DELAY:
            raise ValueError(f"delay must be from 0 to {MAX_DELAY:g} seconds")
        if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= MAX_TIMES:
            raise ValueError(f"times must be an integer from 1 to {MAX_TIMES}")
        if status is None and not delay:
            raise ValueError("a fault needs a status, a delay or both")
        if not isinstance(self.message, str):
            raise TypeError("message must be a string")
        self.method = self.method.upper()
        self.delay = float(delay)

    def to_dict(self) -> dict[str, Any]:
        """The fault as the controls show it."""
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "delay": self.delay,
            "times": self.times,
            "message": self.message,
        }


class Controls:
    """The test controls of one emulator over ``store``."""

    def __init__(self, store: IdentityStore) -> None:
        self.store = store
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- outbox -------------------------------------------------------------------------------

    def _notifier(self) -> InMemoryNotifier:
        notifier = self.store.notifier
        if not isinstance(notifier, InMemoryNotifier):
            raise ApiError(
                409,
                "The store's notifier is not an InMemoryNotifier: it keeps no outbox.",
                error_code="no_outbox",
            )
        return notifier

    def outbox(self) -> list[Message]:
        """The messages sent so far (codes, links), oldest first."""
        return self._notifier().messages

    def clear_outbox(self) -> None:
        """Forget every message sent."""
        self._notifier().clear()

    # -- clock --------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The store's time."""
        return self.store.clock()

    def _movable(self, method: str) -> Any:
        move = getattr(self.store.clock, method, None)
        if not callable(move):
            raise ApiError(
                409,
                "The store's clock cannot be moved: give the store a clock with set() and "
                "advance(), e.g. identitystore.testing.helpers.ManualClock.",
                error_code="clock_not_movable",
            )
        return move

    def set_clock(self, when: datetime) -> datetime:
        """Set the store's clock to ``when``; the store's new time."""
        self._movable("set")(when)
        return self.now()

    def advance_clock(self, delta: timedelta) -> datetime:
        """Move the store's clock forward by ``delta``; the store's new time."""
        self._movable("advance")(delta)
        return self.now()

    # -- users --------------------------------------------------------------------------------

    def reset_users(self) -> int:
        """Delete every user (connections stay); how many were deleted."""
        deleted = 0
        while True:
            page = self.store.list_users(per_page=100)
            if not page.users:
                return deleted
            for user in page:
                self.store.delete_user(user.user_id)
                deleted += 1

    # -- faults -------------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        """Arm ``fault``; it is numbered and returned."""
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
        return fault

    def faults(self) -> list[Fault]:
        """The faults still armed."""
        with self._lock:
            return list(self._faults)

    def clear_faults(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first armed fault for this request, counted once (None if none matches)."""
        with self._lock:
            for fault in self._faults:
                if fault.method in ("*", method) and fnmatch.fnmatchcase(path, fault.path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    async def apply_fault(self, method: str, path: str) -> ApiError | None:
        """Wait and/or fail as an armed fault says; the error to answer, if any."""
        fault = self.take_fault(method, path) if self._faults else None
        if fault is None:
            return None
        if fault.delay:
            await asyncio.sleep(fault.delay)
        return ApiError(fault.status, fault.message) if fault.status is not None else None


# -- the /emulator/v1 routes ----------------------------------------------------------------------


def _message(message: Message) -> dict[str, Any]:
    return {
        "kind": message.kind,
        "recipient": message.recipient,
        "user_id": message.user_id,
        "connection": message.connection,
        "created_at": message.created_at,
        "link": message.link,
        "token": message.token,
        "expires_at": message.expires_at,
    }


def _bad(exc: Exception) -> ApiError:
    return ApiError(400, str(exc), error_code="invalid_body")


async def _object(call: Call) -> dict[str, Any]:
    body = await call.json()
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object", error_code="invalid_body")
    return body


async def get_outbox(call: Call) -> Response:
    """GET /emulator/v1/outbox: every message sent, oldest first (codes and links included)."""
    return json_response([_message(m) for m in call.emu.controls.outbox()])


async def clear_outbox(call: Call) -> Response:
    """DELETE /emulator/v1/outbox."""
    call.emu.controls.clear_outbox()
    return empty()


async def get_clock(call: Call) -> Response:
    """GET /emulator/v1/clock: ``{"now": ...}``."""
    return json_response({"now": iso(call.emu.controls.now())})


async def move_clock(call: Call) -> Response:
    """POST /emulator/v1/clock with ``{"now": ISO}`` (set) or ``{"advance": seconds}``."""
    body = await _object(call)
    controls = call.emu.controls
    now, advance = body.get("now"), body.get("advance")
    try:
        if set(body) == {"now"} and isinstance(now, str):
            moved = await call.off_loop(controls.set_clock, parse_time(now))
        elif set(body) == {"advance"} and isinstance(advance, (int, float)):
            moved = await call.off_loop(controls.advance_clock, timedelta(seconds=advance))
        else:
            moved = None
    except (ValueError, TypeError, OverflowError) as exc:
        raise _bad(exc) from None
    if moved is None:
        raise ApiError(
            400,
            'Send {"now": "<ISO-8601 time>"} or {"advance": <seconds>}',
            error_code="invalid_body",
        )
    return json_response({"now": iso(moved)})


async def reset_users(call: Call) -> Response:
    """DELETE /emulator/v1/users: every user is deleted; ``{"deleted": n}``."""
    deleted = await call.off_loop(call.emu.controls.reset_users)
    return json_response({"deleted": deleted})


async def list_faults(call: Call) -> Response:
    """GET /emulator/v1/faults: the faults still armed."""
    return json_response([f.to_dict() for f in call.emu.controls.faults()])


async def add_fault(call: Call) -> Response:
    """POST /emulator/v1/faults ``{method, path, status?, delay?, times?, message?}`` (201)."""
    body = await _object(call)
    unknown = set(body) - {"method", "path", "status", "delay", "times", "message"}
    missing = {"method", "path"} - set(body)
    if missing:
        raise ApiError(
            400, f"Missing properties: {', '.join(sorted(missing))}", error_code="invalid_body"
        )
    if unknown:
        raise ApiError(
            400, f"Unknown properties: {', '.join(sorted(unknown))}", error_code="invalid_body"
        )
    try:
        fault = call.emu.controls.add_fault(Fault(**body))
    except (ValueError, TypeError) as exc:
        raise _bad(exc) from None
    return json_response(fault.to_dict(), 201)


async def clear_faults(call: Call) -> Response:
    """DELETE /emulator/v1/faults."""
    call.emu.controls.clear_faults()
    return empty()
