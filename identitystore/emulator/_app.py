"""The ASGI application: faults, routing, token and scope checks, rate limits, error bodies.

Every answer is JSON with the rate-limit headers. Every error has Auth0's envelope: the
emulator's own (``ApiError``, ``OAuthError``), the store's (``IdentityStoreError.to_dict()``), and
for anything unexpected a logged failure answered with Auth0's 500 body, never a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from identitystore import AsyncIdentityStore, IdentityStore, IdentityStoreError

from ._controls import Controls, OffsetClock
from ._errors import ApiError, OAuthError, internal_error, too_many_requests
from ._http import Call, json_response
from ._jobs import Jobs
from ._logs import record
from ._ratelimit import RateLimiter
from ._refresh import RefreshTokens
from ._routes import MANAGEMENT_SCOPES, Router
from ._sessions import Sessions
from ._tenant import Client, Tenant
from ._tokens import TokenVerifier, scope_error

__all__ = ["EmulatorApp", "Emulation", "create_app"]

_log = logging.getLogger("identitystore.emulator")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Headers on every answer (Auth0 sends both: docs/auth0-reference-http.md), as ASGI pairs.
_COMMON_HEADERS = ((b"cache-control", b"no-cache"), (b"x-content-type-options", b"nosniff"))


class Emulation:
    """What every request of one emulator shares: store, tenant, token checks, limits, controls.

    Args:
        store: the identity store behind the Management API.
        domain: the tenant domain (``host:port``) in tokens and links.
        client_id, client_secret: the default client to make exist (see ``Tenant``).
        rate_limit: requests per client per second before a 429; None for no limit.
        max_threads: store calls run at once.
    """

    def __init__(
        self,
        store: IdentityStore,
        *,
        domain: str,
        client_id: str | None = None,
        client_secret: str | None = None,
        rate_limit: int | None = None,
        max_threads: int = 8,
    ) -> None:
        self.store = store
        self.astore = AsyncIdentityStore(store, max_threads=max_threads)
        self.tenant = Tenant(
            store.backend,
            domain=domain,
            clock=store.clock,
            scopes=MANAGEMENT_SCOPES,
        )
        self.client: Client
        self.client, self.client_secret = self.tenant.ensure_default_client(
            client_id, client_secret
        )
        self.refresh_tokens = RefreshTokens(store.backend, store.clock)
        self.verifier = TokenVerifier(
            self.tenant.public_key, issuer=self.tenant.issuer, audience=self.tenant.audience
        )
        self.limiter = RateLimiter(rate_limit)
        self.controls = Controls(store)
        self.jobs = Jobs(self.tenant, self.astore)
        self.sessions = Sessions(store.backend, store.clock)
        self.router = Router()

    def now(self) -> int:
        """The store's time in epoch seconds (token ``iat``/``exp`` checks)."""
        return int(self.store.clock().timestamp())

    def check_rate(self, call: Call, *, oauth: bool = False) -> None:
        """Count ``call`` against its client's window; raise Auth0's 429 when over the limit."""
        window = self.limiter.take(call.rate_key)
        call.window = window
        if window.exceeded:
            if oauth:
                raise OAuthError(
                    429,
                    "too_many_requests",
                    "Global limit has been reached",
                    headers={"retry-after": str(window.retry_after)},
                )
            raise too_many_requests(window.retry_after)


class EmulatorApp:
    """The emulator as an ASGI application; serve it with any ASGI server.

    Attributes:
        emulation: its state (``store``, ``tenant``, ``controls``, ...).
    """

    def __init__(self, emulation: Emulation) -> None:
        self.emulation = emulation

    @property
    def store(self) -> IdentityStore:
        """The store behind the Management API."""
        return self.emulation.store

    @property
    def client_id(self) -> str:
        """The default client's id."""
        return self.emulation.client.client_id

    @property
    def client_secret(self) -> str:
        """The default client's secret."""
        return self.emulation.client_secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, self.emulation.jobs.close)
            return
        if scope["type"] != "http":  # websockets: not served
            return
        call = Call(Request(scope, receive), self.emulation)
        error: str | None = None
        try:
            response = await self._dispatch(call, scope)
        except ApiError as exc:
            response = json_response(exc.to_dict(), exc.status_code, exc.headers)
            error = exc.message
        except OAuthError as exc:
            response = json_response(exc.to_dict(), exc.status_code, exc.headers)
            error = exc.description
        except IdentityStoreError as exc:
            response = json_response(exc.to_dict(), exc.status_code)
            error = exc.message
        except ClientDisconnect:  # gone before its request was whole: no one to answer or log
            return
        except Exception:
            _log.exception("unexpected failure on %s %s", scope.get("method"), scope.get("path"))
            failure = internal_error()
            response = json_response(failure.to_dict(), failure.status_code)
            error = failure.message
        await record(call, response.status_code, error)
        window = call.window or self.emulation.limiter.take(call.rate_key)
        _set_headers(response, (*_COMMON_HEADERS, *window.raw_headers()))
        await response(scope, receive, send)

    async def _dispatch(self, call: Call, scope: Scope) -> Response:
        emu = self.emulation
        method: str = scope["method"]
        raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        raw = raw.partition(b"?")[0]
        if not raw.startswith(b"/emulator/"):
            fault = await emu.controls.apply_fault(method, scope["path"])
            if fault is not None:
                raise fault
        route, call.params = emu.router.match(method, raw)
        call.route = route
        if route.access == "management":
            claims = emu.verifier.claims(call.request.headers.get("authorization"), now=emu.now())
            call.claims = claims
            call.rate_key = f"client:{claims.get('azp')}"
            refused = scope_error(str(claims.get("scope", "")), route.scopes)
            if refused is not None:
                raise refused
            emu.check_rate(call)
        return await route.handler(call)


def _set_headers(response: Response, headers: tuple[tuple[bytes, bytes], ...]) -> None:
    """Set ``headers`` (lower-case names) on ``response``, replacing any of the same names.

    Works on the raw list: ``response.headers.update`` searches it once per header, which cost
    6 of a ``GET`` by id's 160 µs in the application (benchmarks/README.md, bench_emulator).
    """
    raw = response.raw_headers
    names = {name for name, _ in headers}
    if any(name in names for name, _ in raw):
        raw[:] = [pair for pair in raw if pair[0] not in names]
    raw.extend(headers)


async def _lifespan(
    receive: Receive, send: Send, on_shutdown: Callable[[], Awaitable[None]]
) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await on_shutdown()  # running jobs end, their files are removed
            await send({"type": "lifespan.shutdown.complete"})
            return


def default_store(domain: str) -> IdentityStore:
    """A fresh in-memory store for ``domain`` whose clock the controls can move."""
    return IdentityStore(":memory:", clock=OffsetClock(), tenant_domain=domain)


def create_app(
    store: IdentityStore | None = None,
    *,
    domain: str,
    client_id: str | None = None,
    client_secret: str | None = None,
    rate_limit: int | None = None,
) -> EmulatorApp:
    """The emulator's ASGI application, for any ASGI server.

    Args:
        store: the store to serve; default a fresh in-memory one (``tenant_domain`` = ``domain``,
            a clock the controls can set and advance).
        domain: where SDKs reach it, ``host:port`` (the tokens' issuer and audience).
        client_id, client_secret: the default client (made if new); default the one of an
            earlier run on the same database with a new secret, or a new client.
        rate_limit: requests per client per second before a 429; default no limit.
    """
    if store is None:
        store = default_store(domain)
    return EmulatorApp(
        Emulation(
            store,
            domain=domain,
            client_id=client_id,
            client_secret=client_secret,
            rate_limit=rate_limit,
        )
    )
