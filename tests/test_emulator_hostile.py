"""Hostile clients: a body trickling in, thousands of connections at once, CR/LF in echoed values.

Every test here is bounded in count and time and talks to 127.0.0.1 only. The server must keep
serving others, answer in Auth0's shape, and write nothing for a refused request.
"""

from __future__ import annotations

import concurrent.futures
import json
import resource
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from identitystore.emulator import Emulator


def _connect(emu: Emulator) -> socket.socket:
    host, port = emu.domain.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=30)


def test_a_body_trickling_in_does_not_hold_up_others(emu: Emulator, client: httpx.Client) -> None:
    token = client.headers["authorization"]
    body = b'{"connection": "sms", "phone_number": "+14155550100"}'
    slow = _connect(emu)
    slow.sendall(
        b"POST /api/v2/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body[:10]
    )
    answered_meanwhile = [client.get("/connections").status_code for _ in range(20)]
    assert answered_meanwhile == [200] * 20  # served while the slow body is still arriving
    assert emu.store.list_users(include_totals=True).total == 0
    for start in range(10, len(body), 10):  # the rest, bit by bit
        slow.sendall(body[start : start + 10])
        time.sleep(0.02)
    answer = slow.recv(65536)
    slow.close()
    assert answer.startswith(b"HTTP/1.1 201 ")
    assert emu.store.list_users(include_totals=True).total == 1


def test_a_client_that_never_finishes_its_body_writes_nothing(
    emu: Emulator, client: httpx.Client
) -> None:
    token = client.headers["authorization"]
    stalled = _connect(emu)
    stalled.sendall(
        b"POST /api/v2/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: {token}\r\nContent-Length: 1000\r\n\r\n".encode()
        + b'{"connection": "sms", "phone_number": "+14155550100"'
    )
    time.sleep(0.2)
    stalled.close()  # gone before the body was whole
    assert client.get("/users").json() == []
    assert emu.store.list_users(include_totals=True).total == 0


#: Connections held open at once, of which ``_REAL`` are whole requests that must be answered.
_CONNECTIONS = 2000
_REAL = 200


@pytest.fixture
def many_files() -> Iterator[None]:
    """Open files for the connections, both ends in this process: the soft limit is raised to
    the hard one for the test (skips if even that is too low), then put back."""
    needed = 2 * _CONNECTIONS + 500
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"{_CONNECTIONS} connections need {needed} open files; hard limit {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _ask(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(request)
    return _read_all(sock)


@pytest.mark.usefixtures("many_files")
def test_thousands_of_idle_half_sent_and_real_connections(
    emu: Emulator, client: httpx.Client
) -> None:
    token = client.headers["authorization"]

    def create(phone: str, missing: int = 0) -> bytes:
        """A valid create, whose Content-Length says ``missing`` bytes more than it sends."""
        body = json.dumps({"connection": "sms", "phone_number": phone}).encode()
        return (
            b"POST /api/v2/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: {token}\r\nContent-Length: {len(body) + missing}\r\n".encode()
            + b"Connection: close\r\n\r\n"
            + body
        )

    listing = (
        f"GET /api/v2/connections HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    # What each held connection sends, and then nothing more: a quarter each.
    broken: list[Callable[[int], bytes]] = [
        lambda n: b"",  # idle: connected, silent
        lambda n: b"GET /api/v2/us",  # half a request line
        lambda n: listing[: listing.index(b"Connection")],  # headers without their end
        lambda n: create(f"+1415556{n:04d}", missing=10),  # a whole user, not a whole body
    ]
    held: list[socket.socket] = []
    real: list[tuple[socket.socket, bytes]] = []
    try:
        for n in range(_CONNECTIONS - _REAL):
            sock = _connect(emu)
            held.append(sock)
            if sent := broken[n % 4](n):
                sock.sendall(sent)
        for n in range(_REAL):  # while all of those are open
            request = listing if n % 2 else create(f"+1415555{n:04d}")
            real.append((_connect(emu), request))
        malformed = _connect(emu)
        held.append(malformed)
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda pair: _ask(*pair), real))
        assert [a.split(b"\r\n", 1)[0] for a in answers] == [
            b"HTTP/1.1 200 OK" if n % 2 else b"HTTP/1.1 201 Created" for n in range(_REAL)
        ]
        # a clear error for a malformed one, and a normal request is answered at once
        assert _ask(malformed, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
        assert client.get("/connections", timeout=5).status_code == 200
    finally:
        for n, sock in enumerate(held + [sock for sock, _ in real]):
            if n % 2:  # half go with a reset, half with a close
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
    # only the real creates wrote: none of the half-sent bodies, even once their sockets closed
    time.sleep(0.2)
    users = emu.store.list_users(per_page=100, page=0, include_totals=True)
    assert users.total == _REAL // 2
    assert emu.store.list_events(type="fapi") == []  # nor logged anything
    assert client.get("/users", params={"per_page": 1}, timeout=5).status_code == 200


def test_concurrent_creates_of_one_user_make_one(emu: Emulator, client: httpx.Client) -> None:
    body = {"connection": "sms", "phone_number": "+14155550100"}
    barrier = threading.Barrier(8)

    def create() -> int:
        barrier.wait()
        return client.post("/users", json=body).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(lambda _: create(), range(8)))
    assert statuses == [201] + [409] * 7
    assert emu.store.list_users(include_totals=True).total == 1


@pytest.mark.parametrize(
    "path",
    [
        "/api/v2/users/auth0%7Cx%0D%0ASet-Cookie:%20stolen=1",
        "/api/v2/users-by-email?email=a%0D%0ASet-Cookie:%20stolen=1",
        "/api/v2/nothing%0D%0ASet-Cookie:%20stolen=1",
    ],
)
def test_cr_lf_in_echoed_values_stays_in_the_json_body(client: httpx.Client, path: str) -> None:
    response = client.get(path.removeprefix("/api/v2"))
    assert "set-cookie" not in response.headers
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert "\r\n" not in response.text  # JSON escapes it
    assert response.status_code in (200, 404)


def test_header_injection_in_a_fault_message_stays_in_the_body(
    emu: Emulator, client: httpx.Client
) -> None:
    emu.inject_fault("GET", "/api/v2/users", status=503, message="down\r\nSet-Cookie: stolen=1")
    response = client.get("/users")
    assert response.status_code == 503
    assert "set-cookie" not in response.headers
    assert response.json()["message"] == "down\r\nSet-Cookie: stolen=1"


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /api/v2/users HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET /api/v2/users HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"GET " + b"/a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_malformed_requests_are_refused_and_serving_goes_on(
    emu: Emulator, client: httpx.Client, raw: bytes
) -> None:
    sock = _connect(emu)
    try:
        sock.sendall(raw)
        answer = sock.recv(65536)
    except ConnectionResetError:
        answer = b""
    finally:
        sock.close()
    assert answer == b"" or answer.split(b" ")[1].startswith(b"4")
    assert client.get("/users").status_code == 200
