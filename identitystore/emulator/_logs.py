"""What the emulator writes to the store's event log, through ``record_event``.

The store logs what it does itself (``ss`` for a create, ``sapi`` for a PATCH of a user or a
deleted connection, ``sdu``, ...); the emulator adds what only the HTTP side sees: ``sapi`` for the
other Management API writes that succeeded, ``fapi`` for the ones refused, ``seccft``/``feccft``
for client-credentials exchanges, ``api_limit`` for a 429. Bodies are never logged: they may hold
passwords. A failure to log is itself logged and never changes the answer. Outcomes and their
event types: docs/auth0-reference-http.md#log-events.
"""

from __future__ import annotations

import logging
from typing import Any

from identitystore import IdentityStoreError

from ._http import Call
from ._routes import Route

__all__ = ["record"]

_log = logging.getLogger("identitystore.emulator")

#: Longest path or user agent kept in a log entry (``details`` are capped at 16 KiB).
_MAX_TEXT = 1024
#: Path prefixes whose first parameter is the user the call is about.
_USER_ROUTES = ("/api/v2/users/{}", "/api/v2/user-blocks/{}")


def _text(value: str | None, limit: int | None = None) -> str | None:
    """``value`` as the log can hold it: NUL and lone surrogates (which an error may echo from a
    request) become U+FFFD; cut at ``limit`` characters."""
    if value is None:
        return None
    value = value[:limit].replace("\x00", "\ufffd")
    if not value.isascii():
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def _event_type(route: Route, status: int, types: tuple[str, str] | None) -> str | None:
    if status == 429:
        return "api_limit"
    if types is not None:
        return types[0] if status < 400 else types[1]
    if route.access == "oauth":
        return "seccft" if status < 400 else "feccft"
    if route.logged:
        return "sapi" if status < 400 else "fapi"
    return None


async def record(call: Call, status: int, error: str | None) -> None:
    """Log ``call``, answered with ``status`` (and ``error``'s text if refused), if it is logged."""
    route = call.route
    if route is None:
        return
    kind = _event_type(route, status, call.log_types)
    if kind is None:
        return
    client_id = call.client_id or call.log_client
    user_id = call.log_user
    if user_id is None and call.params and route.path.startswith(_USER_ROUTES):
        user_id = call.params[0]
    agent = call.request.headers.get("user-agent")
    details: dict[str, Any] = {
        "request": {
            "method": route.method,
            "path": _text(call.request.url.path, _MAX_TEXT),
            "channel": "api",
            "ip": call.ip,
        },
        "response": {"statusCode": status},
    }
    try:
        client_name = (
            await call.off_loop(call.emu.tenant.client_name, client_id) if client_id else None
        )
        await call.store.record_event(
            kind,
            description=_text(error if status >= 400 else route.summary),
            user_id=_text(user_id),
            ip=call.ip,
            client_id=client_id,
            client_name=client_name,
            user_agent=_text(agent, _MAX_TEXT) if agent else None,
            details=details,
        )
    except IdentityStoreError as exc:
        _log.warning("could not log %s %s: %s", route.method, route.path, exc.message)
