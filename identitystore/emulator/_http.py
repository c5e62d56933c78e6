"""One request as the handlers see it (``Call``), and the JSON answers they give."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from identitystore import AsyncIdentityStore
from identitystore.errors import InvalidJsonError

from ._errors import body_too_large, query_error
from ._ratelimit import Window

if TYPE_CHECKING:
    from ._app import Emulation
    from ._routes import Route

__all__ = ["JSON_TYPE", "MAX_BODY", "Call", "empty", "json_response"]

#: Auth0's body limit (1 MB).
MAX_BODY = 1024 * 1024
#: The content type of every answer, empty ones included (docs/auth0-reference-http.md).
JSON_TYPE = "application/json; charset=utf-8"
_T = TypeVar("_T")
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def _dumps(data: Any) -> bytes:
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate echoed from a request: escaped, as it came
        return json.dumps(data, separators=(",", ":")).encode("ascii")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``data`` as a JSON answer."""
    return Response(_dumps(data), status_code=status, headers=headers, media_type=JSON_TYPE)


def empty(status: int = 204) -> Response:
    """An answer without a body (still typed JSON, as Auth0's are)."""
    return Response(b"", status_code=status, media_type=JSON_TYPE)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity are Python's, not JSON's


class Call:
    """A request routed to a handler.

    Attributes:
        request: Starlette's request.
        emu: the emulator's state (store, tenant, ...).
        params: the path's parameters, each percent-decoded once.
        claims: the access token's claims, once checked (Management API routes).
        rate_key: whom the request counts against: the client, or else the peer's address.
        window: its place in the rate limit, once counted.
        route: the route it matched, once routed.
        log_client, log_user: the client and user its log entry names, where the handler knows
            them better than the token and the path (a token request; a created user).
        log_types: the log types of its success and of its failure, where the handler knows
            them better than the route (a user's sign-in on ``/oauth/token``).
    """

    __slots__ = (
        "_body",
        "claims",
        "emu",
        "log_client",
        "log_types",
        "log_user",
        "params",
        "rate_key",
        "request",
        "route",
        "window",
    )

    def __init__(self, request: Request, emu: Emulation, params: tuple[str, ...] = ()) -> None:
        self.request = request
        self.emu = emu
        self.params = params
        self.claims: dict[str, Any] | None = None
        peer = request.client.host if request.client is not None else "unknown"
        self.rate_key = f"ip:{peer}"
        self.window: Window | None = None
        self.route: Route | None = None
        self.log_client: str | None = None
        self.log_user: str | None = None
        self.log_types: tuple[str, str] | None = None
        self._body: bytes | None = None

    @property
    def store(self) -> AsyncIdentityStore:
        """The store, as awaitables."""
        return self.emu.astore

    @property
    def ip(self) -> str | None:
        """The peer's address."""
        return self.request.client.host if self.request.client is not None else None

    @property
    def client_id(self) -> str | None:
        """The calling client (the token's ``azp``), once the token is checked."""
        azp = self.claims.get("azp") if self.claims is not None else None
        return azp if isinstance(azp, str) else None

    async def off_loop(self, func: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
        """``func(*args, **kwargs)`` on a worker thread (the tenant's records are blocking I/O)."""
        return await asyncio.to_thread(func, *args, **kwargs)

    async def body(self, limit: int = MAX_BODY) -> bytes:
        """The raw body, at most ``limit`` bytes (413 beyond, read no further)."""
        if self._body is None:
            declared = self.request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise body_too_large(limit)
            chunks: list[bytes] = []
            size = 0
            async for chunk in self.request.stream():
                size += len(chunk)
                if size > limit:
                    raise body_too_large(limit)
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        """The body parsed as JSON; None when empty; 400 when it is not JSON."""
        raw = await self.body()
        if not raw.strip():
            return None
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise InvalidJsonError() from None

    async def form_or_json(self) -> Any:
        """A form body as a dict (last value wins), or else the JSON body."""
        content_type = self.request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            raw = await self.body()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidJsonError() from None
            return dict(urllib.parse.parse_qsl(text, keep_blank_values=True))
        return await self.json()

    def query(self, name: str) -> str | None:
        """The query parameter's last value, or None."""
        values = self.request.query_params.getlist(name)
        return values[-1] if values else None

    def query_list(self, name: str) -> list[str]:
        """Every value of a repeated query parameter (``strategy=a&strategy=b``)."""
        return self.request.query_params.getlist(name)

    def query_int(self, name: str, *, default: int) -> int:
        """An integer parameter (its range is the store's to check)."""
        value = self.query(name)
        if value is None or value == "":
            return default
        if not _INTEGER.fullmatch(value):
            raise query_error(name, "Expected type integer but found type string")
        return int(value)

    def query_bool(self, name: str, *, default: bool) -> bool:
        """A boolean parameter: ``true`` or ``false``."""
        value = self.query(name)
        if value is None or value == "":
            return default
        if value not in ("true", "false"):
            raise query_error(name, "Expected type boolean but found type string")
        return value == "true"
