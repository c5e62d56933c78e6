"""``Emulator``: the ASGI application served by uvicorn from a background thread."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from identitystore import IdentityStore, Message

from ._app import EmulatorApp, create_app
from ._controls import Fault
from ._tls import make_tls_files

__all__ = ["Emulator"]

#: Seconds ``start()`` waits for the server to accept connections.
START_TIMEOUT = 30.0
#: Seconds ``stop()`` lets in-flight requests finish.
GRACEFUL_SHUTDOWN = 10.0


class _Server(uvicorn.Server):
    """uvicorn's server, with a drain that does not wait on idle keep-alive connections.

    uvicorn's own shutdown waits for every connection to close; an idle TLS connection whose
    client never answers the close (an SDK's pooled connection) would hold it for its whole
    timeout. ``drain`` waits for the requests in flight only, then drops what is left.
    """

    loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().startup(sockets=sockets)

    async def drain(self, timeout: float) -> None:
        """Stop accepting, let in-flight requests finish (up to ``timeout`` s), drop idle
        connections, and tell uvicorn to exit."""
        for listener in self.servers:
            listener.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # closes idle ones, the others after their response
        deadline = time.monotonic() + timeout
        while self.server_state.tasks and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        self.should_exit = True


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY on accepted sockets only then, and without it
    # a keep-alive client waits ~40 ms per answer (Nagle's algorithm and delayed ACKs)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


class Emulator:
    """Auth0's Management API over HTTP(S) on this machine, backed by an ``IdentityStore``.

    The socket is bound when the emulator is made (``port=0`` picks a free port), so ``url`` and
    ``domain`` are known before ``start()``. Use it as a context manager, or call ``start()`` and
    ``stop()``.

    Examples:
        >>> with Emulator() as emu:  # doctest: +SKIP
        ...     client = ManagementClient(domain=emu.domain, client_id=emu.client_id,
        ...                               client_secret=emu.client_secret)

    Args:
        store: the store to serve (it stays open after ``stop()``); default a fresh in-memory
            store whose ``tenant_domain`` is ``domain`` and whose clock the controls can move
            (closed by ``stop()``).
        host: the address to listen on.
        port: the port; 0 for any free one.
        tls: serve HTTPS with a certificate signed by a CA made for this emulator (``ca_file``).
        domain: the tenant domain in tokens; default ``host:port``.
        client_id, client_secret: the default client (see ``create_app``).
        rate_limit: requests per client per second before a 429; default no limit.

    Attributes:
        url: where it listens, e.g. ``http://127.0.0.1:54321``.
        domain: what an SDK takes as ``domain``, e.g. ``127.0.0.1:54321``.
        ca_file: with ``tls``, a PEM file for clients to trust; else None.
        app: the ASGI application.
    """

    def __init__(
        self,
        store: IdentityStore | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,  # noqa: FBT001, FBT002 - the issue's signature
        *,
        domain: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        rate_limit: int | None = None,
    ) -> None:
        self._socket = _bind(host, port)
        self._tmp: Path | None = None
        try:
            bound_port = self._socket.getsockname()[1]
            netloc = f"[{host}]:{bound_port}" if ":" in host else f"{host}:{bound_port}"
            self.domain = domain if domain is not None else netloc
            self.url = f"{'https' if tls else 'http'}://{netloc}"
            self._owns_store = store is None
            self.app: EmulatorApp = create_app(
                store,
                domain=self.domain,
                client_id=client_id,
                client_secret=client_secret,
                rate_limit=rate_limit,
            )
            self.ca_file: str | None = None
            self._cert: tuple[str, str] | None = None
            if tls:
                self._tmp = Path(tempfile.mkdtemp(prefix="identitystore-emulator-"))
                hosts = [host, "localhost", "127.0.0.1", "::1", self.domain.rsplit(":", 1)[0]]
                files = make_tls_files(hosts, self._tmp)
                self.ca_file = str(files.ca_file)
                self._cert = (str(files.cert_file), str(files.key_file))
        except BaseException:
            self._release()
            raise
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._stopped = False

    def __repr__(self) -> str:
        return f"Emulator({self.url!r})"

    # -- what it serves -----------------------------------------------------------------------

    @property
    def store(self) -> IdentityStore:
        """The store behind it: what the HTTP side did is visible here, and back."""
        return self.app.store

    @property
    def client_id(self) -> str:
        """A machine-to-machine client granted every Management API scope the emulator serves."""
        return self.app.client_id

    @property
    def client_secret(self) -> str:
        """That client's secret."""
        return self.app.client_secret

    def create_client(self, **body: Any) -> dict[str, Any]:
        """A new application, as ``POST /api/v2/clients`` makes it from ``body``; its Auth0
        body, ``client_secret`` included (shown this once).

        Examples:
            >>> app = emu.create_client(  # doctest: +SKIP
            ...     name="web", app_type="regular_web", callbacks=["http://127.0.0.1:8000/cb"]
            ... )
        """
        client, secret = self.app.emulation.tenant.create_client(body)
        return client.to_dict(secret)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Serve from a background thread; returns once connections are accepted.

        Raises:
            RuntimeError: already started or stopped, or the server failed to start.
        """
        if self._server is not None or self._stopped:
            raise RuntimeError("an Emulator starts once")
        config = uvicorn.Config(
            self.app,
            lifespan="on",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(GRACEFUL_SHUTDOWN),
            ssl_certfile=self._cert[0] if self._cert else None,
            ssl_keyfile=self._cert[1] if self._cert else None,
        )
        self._server = server = _Server(config)
        self._thread = threading.Thread(
            target=self._serve, name=f"identitystore-emulator {self.url}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator did not start: {self._error!r}")
            time.sleep(0.005)
        return self

    def _serve(self) -> None:
        assert self._server is not None
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # reported by start(); SystemExit on a failed startup
            self._error = exc

    def stop(self) -> None:
        """Stop accepting connections, let in-flight requests finish, and release everything
        (the default store too). Calling it again does nothing."""
        if self._stopped:
            return
        self._stopped = True
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            if server.loop is not None and server.started and thread.is_alive():
                drained = asyncio.run_coroutine_threadsafe(
                    server.drain(GRACEFUL_SHUTDOWN), server.loop
                )
                try:
                    drained.result(GRACEFUL_SHUTDOWN + 5)
                except Exception:  # the loop ended meanwhile: uvicorn exits on its own
                    drained.cancel()
            server.should_exit = True
            thread.join(GRACEFUL_SHUTDOWN + 5)
        self._release()

    def _release(self) -> None:
        self._socket.close()
        if hasattr(self, "app"):
            self.app.emulation.jobs.release()  # uploads and export files
        if self._owns_store and hasattr(self, "app"):
            self.app.store.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- test controls (the same as the routes under /emulator/v1/) ---------------------------

    @property
    def outbox(self) -> list[Message]:
        """Messages the store sent (codes, links), oldest first."""
        return self.app.emulation.controls.outbox()

    def clear_outbox(self) -> None:
        """Forget every message sent."""
        self.app.emulation.controls.clear_outbox()

    def set_clock(self, when: datetime) -> datetime:
        """Set the store's clock to ``when`` (timezone-aware); it needs ``set()``, as the default
        store's clock and ``ManualClock`` have. Returns the store's new time."""
        return self.app.emulation.controls.set_clock(when)

    def advance_clock(self, delta: timedelta) -> datetime:
        """Move the store's clock forward by ``delta`` (it needs ``advance()``); returns the
        store's new time."""
        return self.app.emulation.controls.advance_clock(delta)

    def reset_users(self) -> int:
        """Delete every user (connections, clients and the outbox stay); how many."""
        return self.app.emulation.controls.reset_users()

    def inject_fault(
        self,
        method: str,
        path: str,
        *,
        status: int | None = None,
        delay: float = 0.0,
        times: int = 1,
        message: str = Fault.message,
    ) -> None:
        """The next ``times`` requests matching ``method`` (``"*"`` for any) and ``path`` (a glob
        on the decoded path, e.g. ``"/api/v2/users*"``) wait ``delay`` seconds, then answer
        ``status`` in Auth0's error envelope if given, else are served as usual."""
        self.app.emulation.controls.add_fault(
            Fault(method, path, status=status, delay=delay, times=times, message=message)
        )

    def clear_faults(self) -> None:
        """Disarm every injected fault."""
        self.app.emulation.controls.clear_faults()
