"""``identitystore serve`` as a real subprocess: the ready line, requests, signals, restarts."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

READY_KEYS = {"url", "domain", "ca_file", "client_id", "client_secret"}


class Served:
    """A running ``identitystore serve`` and its ready line."""

    def __init__(self, process: subprocess.Popen[str], ready: dict[str, Any], log: Path) -> None:
        self.process = process
        self.ready = ready
        self.log = log

    @property
    def url(self) -> str:
        return str(self.ready["url"])

    def token(self, client_id: str | None = None, secret: str | None = None) -> str:
        response = httpx.post(
            f"{self.url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id or self.ready["client_id"],
                "client_secret": secret or self.ready["client_secret"],
                "audience": f"https://{self.ready['domain']}/api/v2/",
            },
            verify=self.verify(),
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def verify(self) -> ssl.SSLContext | bool:
        ca = self.ready["ca_file"]
        return ssl.create_default_context(cafile=ca) if ca else True

    def get(self, path: str, token: str) -> httpx.Response:
        return httpx.get(
            f"{self.url}{path}",
            headers={"authorization": f"Bearer {token}"},
            verify=self.verify(),
            timeout=30,
        )

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        """Send ``signum``; the exit status and whatever else reached stdout."""
        self.process.send_signal(signum)
        rest, _ = self.process.communicate(timeout=30)
        return self.process.returncode, rest


def _serve(database: Path, tmp_path: Path, *args: str) -> Served:
    log = tmp_path / f"serve-{time.monotonic_ns()}.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "identitystore", "--db", str(database), "serve", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert process.stdout is not None
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(60)
    if not line or not line[0]:
        process.kill()
        process.communicate()
        pytest.fail(f"no ready line; stderr:\n{log.read_text()}")
    return Served(process, json.loads(line[0]), log)


@pytest.fixture
def served() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.communicate()


def test_ready_line_request_sigterm_and_a_restart_that_keeps_the_tenant(
    tmp_path: Path, served: list[Served]
) -> None:
    database = tmp_path / "tenant.db"
    first = _serve(database, tmp_path, "--port", "0")
    served.append(first)
    assert set(first.ready) == READY_KEYS
    assert first.ready["ca_file"] is None
    host, port = first.ready["domain"].rsplit(":", 1)
    assert (host, first.url) == ("127.0.0.1", f"http://127.0.0.1:{port}")
    token = first.token()
    created = httpx.post(
        f"{first.url}/api/v2/users",
        json={"connection": "sms", "phone_number": "+14155550100"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201
    status, rest = first.stop()
    assert (status, rest) == (0, "")  # exactly one line on stdout
    assert "Started server process" in first.log.read_text()  # logs go to stderr

    second = _serve(database, tmp_path, "--port", port)
    served.append(second)
    assert second.ready["client_id"] == first.ready["client_id"]
    assert second.ready["domain"] == first.ready["domain"]
    users = second.get("/api/v2/users", token)  # a token issued before the restart
    assert users.status_code == 200
    assert [u["phone_number"] for u in users.json()] == ["+14155550100"]
    assert second.get("/api/v2/users", second.token()).status_code == 200
    assert second.stop(signal.SIGINT) == (0, "")


def test_a_given_client_is_made_to_exist_and_kept(tmp_path: Path, served: list[Served]) -> None:
    database = tmp_path / "tenant.db"
    pair = ("--client-id", "my-app", "--client-secret", "my-long-and-random-secret")
    first = _serve(database, tmp_path, "--port", "0", *pair)
    served.append(first)
    assert (first.ready["client_id"], first.ready["client_secret"]) == (
        "my-app",
        "my-long-and-random-secret",
    )
    token = first.token()
    assert first.get("/api/v2/users", token).status_code == 200
    assert first.stop() == (0, "")
    second = _serve(database, tmp_path, "--port", "0", *pair)
    served.append(second)
    assert second.token("my-app", "my-long-and-random-secret")
    assert second.stop() == (0, "")


def test_tls_ready_line_names_the_ca(tmp_path: Path, served: list[Served]) -> None:
    server = _serve(tmp_path / "tenant.db", tmp_path, "--port", "0", "--tls")
    served.append(server)
    assert server.url.startswith("https://127.0.0.1:")
    assert Path(server.ready["ca_file"]).is_file()
    assert server.get("/api/v2/users", server.token()).status_code == 200
    ca_file = Path(server.ready["ca_file"])
    assert server.stop() == (0, "")
    assert not ca_file.exists()


def test_sigterm_lets_a_request_in_flight_finish(tmp_path: Path, served: list[Served]) -> None:
    server = _serve(tmp_path / "tenant.db", tmp_path, "--port", "0")
    served.append(server)
    token = server.token()
    armed = httpx.post(
        f"{server.url}/emulator/v1/faults",
        json={"method": "GET", "path": "/api/v2/users", "delay": 1.5},
    )
    assert armed.status_code == 201
    answers: list[httpx.Response] = []
    slow = threading.Thread(target=lambda: answers.append(server.get("/api/v2/users", token)))
    slow.start()
    time.sleep(0.5)  # the request is in flight, waiting on its fault
    assert server.stop() == (0, "")
    slow.join(30)
    assert [a.status_code for a in answers] == [200]


@pytest.mark.parametrize(
    "args",
    [("--client-id", "only-the-id"), ("--client-secret", "only-the-secret"), ("--port", "-1")],
)
def test_usage_errors(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "identitystore", "--db", str(tmp_path / "x.db"), "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""


def test_a_port_in_use_is_a_clear_error(tmp_path: Path, served: list[Served]) -> None:
    server = _serve(tmp_path / "a.db", tmp_path, "--port", "0")
    served.append(server)
    port = server.ready["domain"].rsplit(":", 1)[1]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "identitystore",
            "--db",
            str(tmp_path / "b.db"),
            "serve",
            "--port",
            port,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert done.stdout == ""
