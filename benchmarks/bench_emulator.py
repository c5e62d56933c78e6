"""Benchmark: the emulator's requests per second, against a bare Starlette endpoint and moto.

Run from the project root, with moto installed (``pip install -e '.[emulator,bench]'``); about
90 s, ``--quick`` about 30 s::

    python benchmarks/bench_emulator.py [--quick] [--workers 4] [--seconds 1.0] [--rounds 5]
        [--dir DIR]

Each server runs in a child process of its own, from a background thread as ``Emulator`` serves;
this process is the client: ``--workers`` threads, each with one persistent HTTP/1.1 connection
(``http.client``) per server, opened afresh before each round (uvicorn drops a connection idle
for 5 s, as the other servers' rounds leave it); answers that close the connection are counted
and reported. A round lets every worker send requests back to back for ``--seconds`` and counts
the answers, each checked for its status. Rounds of every operation and server are interleaved,
one server busy at a time; each figure is the median of the rounds. Each server process's CPU
time per request (``/proc/<pid>/stat``) is reported too: on a shared machine it is the steadier
figure.

- **emulator**: ``Emulator(IdentityStore(path))`` on 127.0.0.1, the store a SQLite file (default
  durability ``full``, on disk, not tmpfs). ``POST /oauth/token`` (``client_credentials``),
  ``POST /api/v2/users`` (``{"connection": "sms", "phone_number": ...}``, no password),
  ``GET /api/v2/users/{id}`` and ``GET /api/v2/users?per_page=50``, each with the bearer token
  (checked on every request: signature and issuer once per token string, then expiry, audience
  and scope).
- **bare**: a Starlette application served by uvicorn exactly as the emulator is (the
  emulator's own ``_Server`` and socket, the same ``uvicorn.Config``), on the same database
  file: ``GET /users/{id}`` runs the store's very ``SELECT`` (``SELECT_USER`` ``WHERE user_id =
  ?``, the primary key) on one ``sqlite3`` connection on the event loop and answers the row as
  a JSON object; ``GET /threaded/users/{id}`` does the same in a sync endpoint (Starlette's
  thread pool: the emulator too runs its store calls on worker threads); ``GET /users`` answers
  the store's first page of 50 (``ORDER BY created_at, user_id LIMIT 50``). No token, no checks.
- **moto**: moto's server mode (``ThreadedMotoServer``: werkzeug, threaded, in memory) serving
  Cognito: ``AdminGetUser``, ``AdminCreateUser`` (a ``phone_number`` attribute,
  ``MessageAction=SUPPRESS``, no password) and ``ListUsers`` (``Limit=50``), as requests signed
  with Signature V4 by botocore, made before the round (moto does not check signatures, so
  signing is kept out of the timed loop). werkzeug closes every connection after its answer, so
  **moto (uvicorn)** also serves moto's same WSGI application under uvicorn, which keeps them.

The ids read are the same for ``emulator`` and ``bare``: 200 users created over HTTP first,
read in turn. Goal: ``GET`` by id on the emulator at least **0.5x** the requests per second of
the bare endpoint on the loop. The other ratios are reported without a goal. The script exits 0
whether or not the goal is met. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import logging
import multiprocessing
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_create import choose_base_dir, filesystem_type  # noqa: E402

from identitystore.storage._rows import SELECT_USER  # noqa: E402

GOAL = 0.5
SEEDED = 200
POOL_ID_REGION = "us-east-1"
#: A request: method, path, body, headers.
Request = tuple[str, str, bytes | None, dict[str, str]]

# -- the servers, each in a child process -------------------------------------------------------


def _serve_emulator(path: str, pipe: Connection) -> None:
    from identitystore import IdentityStore
    from identitystore.emulator import Emulator

    store = IdentityStore(path)
    with Emulator(store) as emu:
        pipe.send(
            {
                "url": emu.url,
                "domain": emu.domain,
                "client_id": emu.client_id,
                "client_secret": emu.client_secret,
            }
        )
        pipe.recv()
    store.close()


def _serve_in_thread(app: Any, interface: str = "auto") -> tuple[str, Callable[[], None]]:
    """Serve ``app`` as ``Emulator.start`` does: its socket, its uvicorn server and config."""
    import uvicorn

    from identitystore.emulator import _server

    sock = _server._bind("127.0.0.1", 0)
    config = uvicorn.Config(
        app,
        lifespan="on" if interface == "auto" else "off",  # WSGI has no lifespan
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(_server.GRACEFUL_SHUTDOWN),
        interface=interface,  # type: ignore[arg-type]
    )
    server = _server._Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.005)

    def stop() -> None:
        server.should_exit = True
        thread.join(15)
        sock.close()

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


def _serve_bare(path: str, pipe: Connection) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    by_id = SELECT_USER + " WHERE user_id = ?"
    page = SELECT_USER + " ORDER BY created_at ASC, user_id ASC LIMIT ? OFFSET ?"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        return conn

    loop_db = connect()
    local = threading.local()
    columns: list[str] = []

    def row_dict(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
        if not columns:
            columns.extend(d[0] for d in cursor.description)
        return dict(zip(columns, row, strict=True))

    async def get_user(request: StarletteRequest) -> JSONResponse:
        cursor = loop_db.execute(by_id, (request.path_params["user_id"],))
        row = cursor.fetchone()
        if row is None:
            return JSONResponse({"message": "The user does not exist."}, 404)
        return JSONResponse(row_dict(cursor, row))

    def get_user_threaded(request: StarletteRequest) -> JSONResponse:
        db = getattr(local, "db", None)
        if db is None:
            db = local.db = connect()
        cursor = db.execute(by_id, (request.path_params["user_id"],))
        row = cursor.fetchone()
        if row is None:
            return JSONResponse({"message": "The user does not exist."}, 404)
        return JSONResponse(row_dict(cursor, row))

    async def list_users(request: StarletteRequest) -> JSONResponse:
        per_page = int(request.query_params.get("per_page", "50"))
        cursor = loop_db.execute(page, (per_page, 0))
        return JSONResponse([row_dict(cursor, row) for row in cursor.fetchall()])

    app = Starlette(
        routes=[
            Route("/users/{user_id}", get_user),
            Route("/threaded/users/{user_id}", get_user_threaded),
            Route("/users", list_users),
        ]
    )
    url, stop = _serve_in_thread(app)
    pipe.send({"url": url})
    pipe.recv()
    stop()
    loop_db.close()


def _serve_moto(pipe: Connection) -> None:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    pipe.send({"url": f"http://{host}:{port}"})
    pipe.recv()
    server.stop()


def _serve_moto_uvicorn(pipe: Connection) -> None:
    """moto's own WSGI application (what its server mode serves) under uvicorn, which keeps
    connections alive: werkzeug's server closes every connection after its answer."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    url, stop = _serve_in_thread(DomainDispatcherApplication(create_backend_app), "wsgi")
    pipe.send({"url": url})
    pipe.recv()
    stop()


@dataclass
class Child:
    name: str
    process: multiprocessing.process.BaseProcess
    pipe: Connection
    info: dict[str, Any]

    def stop(self) -> None:
        self.pipe.send("stop")
        self.process.join(30)
        if self.process.is_alive():
            self.process.kill()


def _start(name: str, target: Callable[..., None], *args: Any) -> Child:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(*args, theirs), name=name, daemon=True)
    process.start()
    if not ours.poll(60):
        process.kill()
        raise RuntimeError(f"{name} did not start")
    info = ours.recv()
    info["pid"] = process.pid
    return Child(name, process, ours, info)


# -- the client ---------------------------------------------------------------------------------


@dataclass
class Target:
    """One server's persistent connections, one per worker."""

    url: str
    workers: int
    pid: int
    connections: list[http.client.HTTPConnection] = field(default_factory=list)
    closed_by_server: int = 0

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        assert parts.hostname is not None
        assert parts.port is not None
        self.connections = [
            http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            for _ in range(self.workers)
        ]
        for conn in self.connections:
            conn.connect()

    def send(self, worker: int, request: Request) -> tuple[int, bytes]:
        conn = self.connections[worker]
        method, path, body, headers = request
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.will_close:  # http.client opens a new connection for the next request
            self.closed_by_server += 1
        return response.status, data

    def reconnect(self) -> None:
        """Open each worker's connection afresh: uvicorn closes one idle for 5 s (its
        ``timeout_keep_alive``), as the other servers' rounds leave them."""
        for conn in self.connections:
            conn.close()
            conn.connect()

    def close(self) -> None:
        for conn in self.connections:
            conn.close()


@dataclass
class Operation:
    """What one line of a table sends: ``next_request`` is called by the workers (thread-safe)."""

    target: Target
    next_request: Callable[[], Request]
    status: int
    prepare: Callable[[float], None] = lambda expected: None
    rates: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)


_TICK = 1 / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """CPU time (user and system, every thread) of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * _TICK


def _round(op: Operation, seconds: float) -> tuple[float, float, float]:
    """Requests per second over one round of ``seconds``, the client's CPU share, and the
    server's CPU seconds per request."""
    workers = op.target.workers
    counts = [0] * workers
    failures: list[str] = []
    barrier = threading.Barrier(workers + 1)
    deadline = [0.0]

    def work(worker: int) -> None:
        barrier.wait()
        end = deadline[0]
        done = 0
        try:
            while time.perf_counter() < end:
                status, data = op.target.send(worker, op.next_request())
                if status != op.status:
                    failures.append(f"{status} {data[:300]!r}")
                    return
                done += 1
        except Exception as exc:  # reported below, after the barrier
            failures.append(repr(exc))
        finally:
            counts[worker] = done
            barrier.wait()

    op.target.reconnect()
    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    server_cpu = _cpu_seconds(op.target.pid)
    cpu = time.process_time()
    start = time.perf_counter()
    deadline[0] = start + seconds
    barrier.wait()
    barrier.wait()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    server_cpu = _cpu_seconds(op.target.pid) - server_cpu
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"unexpected answer: {failures[0]}")
    total = sum(counts)
    return total / elapsed, cpu / elapsed, server_cpu / max(total, 1)


# -- the three servers' requests ----------------------------------------------------------------

_numbers = itertools.count()


def _expect(condition: bool, data: bytes) -> None:
    """Stop the run on an answer that is not the one expected."""
    if not condition:
        raise RuntimeError(f"unexpected answer: {data[:300]!r}")


def _phone() -> str:
    return f"+1415{next(_numbers):07d}"


def _emulator_ops(info: dict[str, Any], workers: int) -> tuple[dict[str, Operation], list[str]]:
    target = Target(info["url"], workers, info["pid"])
    token_form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "audience": f"https://{info['domain']}/api/v2/",
        }
    ).encode()
    form_headers = {"content-type": "application/x-www-form-urlencoded"}
    token_request: Request = ("POST", "/oauth/token", token_form, form_headers)
    status, data = target.send(0, token_request)
    _expect(status == 200, data)
    token = json.loads(data)["access_token"]
    auth = {"authorization": f"Bearer {token}"}
    json_auth = {**auth, "content-type": "application/json"}

    def create() -> Request:
        body = json.dumps({"connection": "sms", "phone_number": _phone()}).encode()
        return ("POST", "/api/v2/users", body, json_auth)

    ids: list[str] = []
    for _ in range(SEEDED):
        status, data = target.send(0, create())
        _expect(status == 201, data)
        ids.append(json.loads(data)["user_id"])
    paths = itertools.cycle([f"/api/v2/users/{urllib.parse.quote(i, safe='')}" for i in ids])
    status, data = target.send(0, ("GET", next(paths), None, auth))
    _expect(status == 200 and json.loads(data)["user_id"] == ids[0], data)
    status, data = target.send(0, ("GET", "/api/v2/users?per_page=50", None, auth))
    _expect(status == 200 and len(json.loads(data)) == 50, data)
    ops = {
        "token": Operation(target, lambda: token_request, 200),
        "create": Operation(target, create, 201),
        "get": Operation(target, lambda: ("GET", next(paths), None, auth), 200),
        "page": Operation(target, lambda: ("GET", "/api/v2/users?per_page=50", None, auth), 200),
    }
    return ops, ids


def _bare_ops(info: dict[str, Any], workers: int, ids: list[str]) -> dict[str, Operation]:
    target = Target(info["url"], workers, info["pid"])
    quoted = [urllib.parse.quote(i, safe="") for i in ids]
    on_loop = itertools.cycle([f"/users/{q}" for q in quoted])
    threaded = itertools.cycle([f"/threaded/users/{q}" for q in quoted])
    for path, user_id in (
        (f"/users/{quoted[0]}", ids[0]),
        (f"/threaded/users/{quoted[1]}", ids[1]),
    ):
        status, data = target.send(0, ("GET", path, None, {}))
        _expect(status == 200 and json.loads(data)["user_id"] == user_id, data)
    status, data = target.send(0, ("GET", "/users?per_page=50", None, {}))
    _expect(status == 200 and len(json.loads(data)) == 50, data)
    return {
        "get": Operation(target, lambda: ("GET", next(on_loop), None, {}), 200),
        "get-thread": Operation(target, lambda: ("GET", next(threaded), None, {}), 200),
        "page": Operation(target, lambda: ("GET", "/users?per_page=50", None, {}), 200),
    }


class _Signer:
    """Cognito requests signed with Signature V4 by botocore, as boto3 would send them."""

    def __init__(self, url: str) -> None:
        from botocore.auth import SigV4Auth
        from botocore.credentials import Credentials

        self.url = url
        self.auth = SigV4Auth(
            Credentials("AKIAIOSFODNN7EXAMPLE", "bench-secret"), "cognito-idp", POOL_ID_REGION
        )

    def __call__(self, action: str, payload: dict[str, Any]) -> Request:
        from botocore.awsrequest import AWSRequest

        body = json.dumps(payload).encode()
        request = AWSRequest(
            "POST",
            self.url + "/",
            data=body,
            headers={
                "content-type": "application/x-amz-json-1.1",
                "x-amz-target": f"AWSCognitoIdentityProviderService.{action}",
            },
        )
        self.auth.add_auth(request)
        return ("POST", "/", body, dict(request.headers.items()))


def _moto_ops(info: dict[str, Any], workers: int) -> dict[str, Operation]:
    target = Target(info["url"], workers, info["pid"])
    sign = _Signer(info["url"])
    status, data = target.send(0, sign("CreateUserPool", {"PoolName": "bench"}))
    _expect(status == 200, data)
    pool = json.loads(data)["UserPool"]["Id"]

    def create_request() -> Request:
        return sign(
            "AdminCreateUser",
            {
                "UserPoolId": pool,
                "Username": f"user{next(_numbers)}",
                "UserAttributes": [{"Name": "phone_number", "Value": _phone()}],
                "MessageAction": "SUPPRESS",
            },
        )

    names: list[str] = []
    for _ in range(SEEDED):
        status, data = target.send(0, create_request())
        _expect(status == 200, data)
        names.append(json.loads(data)["User"]["Username"])
    gets = [sign("AdminGetUser", {"UserPoolId": pool, "Username": n}) for n in names]
    status, data = target.send(0, gets[0])
    _expect(status == 200 and json.loads(data)["Username"] == names[0], data)
    page_request = sign("ListUsers", {"UserPoolId": pool, "Limit": 50})
    status, data = target.send(0, page_request)
    _expect(status == 200 and len(json.loads(data)["Users"]) == 50, data)
    get_cycle = itertools.cycle(gets)
    creates: list[Iterator[Request]] = [iter(())]
    lock = threading.Lock()

    def prepare(expected: float) -> None:
        """Sign the round's creates ahead (twice what the last round managed, at least 2,000)."""
        creates[0] = iter([create_request() for _ in range(max(2000, int(expected * 2)))])

    def create() -> Request:
        with lock:
            request = next(creates[0], None)
        return request if request is not None else create_request()

    return {
        "create": Operation(target, create, 200, prepare),
        "get": Operation(target, lambda: next(get_cycle), 200),
        "page": Operation(target, lambda: page_request, 200),
    }


# -- running and reporting ----------------------------------------------------------------------


LINES: list[tuple[str, str, str]] = [
    # (operation, server, operation key on that server)
    ("token", "emulator", "token"),
    ("create", "emulator", "create"),
    ("create", "moto", "create"),
    ("create", "moto (uvicorn)", "create"),
    ("get", "emulator", "get"),
    ("get", "bare", "get"),
    ("get", "bare (thread)", "get-thread"),
    ("get", "moto", "get"),
    ("get", "moto (uvicorn)", "get"),
    ("page", "emulator", "page"),
    ("page", "bare", "page"),
    ("page", "moto", "page"),
    ("page", "moto (uvicorn)", "page"),
]
LABELS = {
    "token": "POST /oauth/token (moto: -)",
    "create": "create: POST /api/v2/users sms (moto: AdminCreateUser)",
    "get": "get by id: GET /api/v2/users/{id} (moto: AdminGetUser)",
    "page": "a 50-user page: GET /api/v2/users?per_page=50 (moto: ListUsers Limit=50)",
}


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter and fewer rounds")
    parser.add_argument("--workers", type=int, default=4, help="concurrent connections")
    parser.add_argument("--seconds", type=float, help="length of a round (default 1.0)")
    parser.add_argument("--rounds", type=int, help="rounds per line (default 5)")
    parser.add_argument("--dir", help="where the database file goes")
    args = parser.parse_args()
    seconds = args.seconds or (0.4 if args.quick else 1.0)
    rounds = args.rounds or (2 if args.quick else 5)

    import moto
    import starlette
    import uvicorn

    work = Path(tempfile.mkdtemp(prefix="bench-emulator-", dir=choose_base_dir(args.dir)))
    path = str(work / "users.db")
    print(
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, uvicorn "
        f"{uvicorn.__version__}, Starlette {starlette.__version__}, moto {moto.__version__}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()}"
    )
    print(
        f"database {path} ({filesystem_type(work)}); {args.workers} workers, "
        f"{rounds} rounds of {seconds} s"
    )
    children: list[Child] = []
    targets: list[Target] = []
    try:
        emulator = _start("emulator", _serve_emulator, path)
        children.append(emulator)
        emulator_ops, ids = _emulator_ops(emulator.info, args.workers)
        bare = _start("bare", _serve_bare, path)
        children.append(bare)
        moto_server = _start("moto", _serve_moto)
        children.append(moto_server)
        moto_uvicorn = _start("moto (uvicorn)", _serve_moto_uvicorn)
        children.append(moto_uvicorn)
        servers = {
            "emulator": emulator_ops,
            "bare": _bare_ops(bare.info, args.workers, ids),
            "moto": _moto_ops(moto_server.info, args.workers),
            "moto (uvicorn)": _moto_ops(moto_uvicorn.info, args.workers),
        }
        servers["bare (thread)"] = servers["bare"]
        targets = [ops["get"].target for ops in servers.values()]
        lines = [(op, server, servers[server][key]) for op, server, key in LINES]
        for _, _, operation in lines:  # warm-up
            operation.prepare(0)
            _round(operation, min(seconds, 0.3))
        for number in range(rounds):
            order = lines if number % 2 == 0 else lines[::-1]
            for _, _, operation in order:
                operation.prepare(_median(operation.rates) * seconds if operation.rates else 0)
                rate, cpu, server_cpu = _round(operation, seconds)
                operation.rates.append(rate)
                operation.client_cpu.append(cpu)
                operation.server_cpu.append(server_cpu)
            print(f"round {number + 1}/{rounds} done, load average {os.getloadavg()}")
    finally:
        for target in targets:
            target.close()
        for child in children:
            child.stop()
    _report(lines)
    closed = {name: ops["get"].target.closed_by_server for name, ops in servers.items()}
    print(f"\nconnections closed by the server (0: each worker kept its own): {closed}")
    print(f"load average {os.getloadavg()}")
    for file in work.iterdir():
        file.unlink()
    work.rmdir()


#: The ratios reported: operation, server, the server it is compared with, the goal.
RATIOS: list[tuple[str, str, str, float | None]] = [
    ("get", "emulator", "bare", GOAL),
    ("get", "emulator", "bare (thread)", None),
    ("get", "emulator", "moto", None),
    ("get", "emulator", "moto (uvicorn)", None),
    ("create", "emulator", "moto", None),
    ("create", "emulator", "moto (uvicorn)", None),
    ("page", "emulator", "bare", None),
    ("page", "emulator", "moto", None),
    ("page", "emulator", "moto (uvicorn)", None),
]


def _report(lines: list[tuple[str, str, Operation]]) -> None:
    ops = {(name, server): o for name, server, o in lines}
    for op in LABELS:
        print(f"\n{LABELS[op]}")
        print(
            f"  {'server':<16} {'median req/s':>12} {'range':>17} {'server CPU/req':>14} "
            f"{'client CPU':>10}"
        )
        for name, server, o in lines:
            if name != op:
                continue
            spread = f"{min(o.rates):,.0f}-{max(o.rates):,.0f}"
            print(
                f"  {server:<16} {_median(o.rates):>12,.0f} {spread:>17} "
                f"{_median(o.server_cpu) * 1e6:>11,.0f} us {_median(o.client_cpu):>9.0%}"
            )
    print(
        f"\n{'ratio (req/s of medians)':<40} {'ratio':>7} {'goal':>7}  status  "
        "by server CPU per request"
    )
    for op, server, baseline, goal in RATIOS:
        mine, theirs = ops[op, server], ops[op, baseline]
        ratio = _median(mine.rates) / _median(theirs.rates)
        by_cpu = _median(theirs.server_cpu) / _median(mine.server_cpu)
        status = "info" if goal is None else ("PASS" if ratio >= goal else "FAIL")
        goal_text = "-" if goal is None else f">= {goal}"
        label = f"{op}: {server} / {baseline}"
        print(f"{label:<40} {ratio:>6.2f}x {goal_text:>7}  {status:<6}  {by_cpu:.2f}x")
    print(f"token issuance: {_median(ops['token', 'emulator'].rates):,.0f} per s (no baseline)")


if __name__ == "__main__":
    main()
