"""``identitystore import-users`` and ``export-users``: real processes, a real terminal (a pty)
for the progress bar, pipes without one."""

from __future__ import annotations

import gzip
import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore

DB = "Username-Password-Authentication"
#: password "correct horse battery staple" (docs/import-export.md#test-vectors)
BCRYPT = "$2b$10$abcdefghijklmnopqrstuuGGgFFcYeueaAql8Z7U7CnCTRw4DR77W"
MD5 = {  # password "password"
    "algorithm": "md5",
    "hash": {"value": "67A1E09BB1F83F5007DC119C14D663AA", "encoding": "hex"},
    "salt": {"value": "salt", "encoding": "utf8", "position": "prefix"},
}
USERS = [
    {"email": "a@example.com", "password_hash": BCRYPT, "user_metadata": {"plan": "gold"}},
    {"email": "b@example.com", "custom_password_hash": MD5, "given_name": 'Bo "B", Jr'},
    *({"email": f"p{n}@example.com"} for n in range(2000)),
]
BAD = [{"email": f"bad{n}", "custom_password_hash": MD5} for n in range(12)]
ENV = {k: v for k, v in os.environ.items() if k != "IDENTITYSTORE_DB"}


def command(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "identitystore", "--db", str(db), *args]


def run(db: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        command(db, *args), input=stdin, capture_output=True, env=ENV, timeout=120, check=False
    )


def run_on_a_terminal(db: Path, *args: str) -> tuple[int, bytes, str]:
    """Run with stderr on a pseudo-terminal: (exit status, stdout, what the terminal showed)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(command(db, *args), stdout=subprocess.PIPE, stderr=follower, env=ENV)
    os.close(follower)
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            process.kill()
            pytest.fail("no output from the command in 60 s")
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the command closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    assert process.stdout is not None
    out = process.stdout.read()
    process.stdout.close()
    os.close(leader)
    return process.wait(timeout=60), out, shown.decode()


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.json"
    path.write_text(json.dumps(USERS))
    return path


def test_import_prints_the_summary_and_no_progress_when_piped(
    tmp_path: Path, users_file: Path
) -> None:
    done = run(tmp_path / "users.db", "import-users", str(users_file), "--connection", DB)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"failed": 0, "updated": 0, "inserted": 2002, "total": 2002}
    assert done.stderr == b""  # no progress bar, no summary line: stderr is no terminal
    with IdentityStore(tmp_path / "users.db") as store:
        assert store.authenticate(DB, "a@example.com", "correct horse battery staple")
        assert store.get_users_by_email("a@example.com")[0].user_metadata == {"plan": "gold"}


def test_import_shows_a_progress_bar_on_a_terminal(tmp_path: Path, users_file: Path) -> None:
    status, out, shown = run_on_a_terminal(
        tmp_path / "users.db", "import-users", str(users_file), "--connection", DB
    )
    assert status == 0, shown
    assert json.loads(out)["inserted"] == 2002
    assert "Importing users" in shown
    assert "[####################################]  2002/2002  100%" in shown


def test_export_shows_a_progress_bar_on_a_terminal_only(tmp_path: Path, users_file: Path) -> None:
    db = tmp_path / "users.db"
    assert run(db, "import-users", str(users_file), "--connection", DB).returncode == 0
    status, _, shown = run_on_a_terminal(db, "export-users", "-o", str(tmp_path / "out.json"))
    assert status == 0, shown
    assert "Exporting users" in shown
    assert "Exported 2,002 users" in shown
    piped = run(db, "export-users", "-o", str(tmp_path / "out2.json"))
    assert piped.stderr.decode() == f"Exported 2,002 users to {tmp_path / 'out2.json'}.\n"


def test_failed_users_exit_1_and_show_the_first_errors(tmp_path: Path) -> None:
    path = tmp_path / "users.ndjson.gz"
    path.write_bytes(gzip.compress(b"\n".join(json.dumps(u).encode() for u in [*USERS[:2], *BAD])))
    done = run(tmp_path / "users.db", "import-users", str(path), "--connection", DB)
    assert done.returncode == 1
    assert json.loads(done.stdout) == {"failed": 12, "updated": 0, "inserted": 2, "total": 14}
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 11
    shown = [json.loads(line) for line in lines[:10]]
    assert [entry["user"]["email"] for entry in shown] == [f"bad{n}" for n in range(10)]
    assert shown[0]["errors"][0]["code"] == "INVALID_FORMAT"
    assert shown[0]["user"]["custom_password_hash"]["hash"]["value"] == "*****"
    assert lines[10] == "... and 2 more failed users (--errors FILE keeps them all)"


def test_the_errors_file_holds_every_entry(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text(json.dumps([*BAD, USERS[0]]))
    errors_path = tmp_path / "errors.json"
    command = ["import-users", str(path), "--connection", DB, "--errors", str(errors_path)]
    done = run(tmp_path / "users.db", *command)
    assert done.returncode == 1
    assert done.stderr == b""
    entries = json.loads(errors_path.read_text())
    assert [e["user"]["email"] for e in entries] == [u["email"] for u in BAD]
    assert "67A1E09BB1F83F5007DC119C14D663AA" not in errors_path.read_text()
    again = run(tmp_path / "users.db", *command, "--upsert")
    assert json.loads(again.stdout) == {"failed": 12, "updated": 1, "inserted": 0, "total": 13}


def test_a_file_that_does_not_parse_is_auth0s_error_body(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text('[{"email": "a@example.com"},')
    done = run(tmp_path / "users.db", "import-users", str(path), "--connection", DB)
    assert done.returncode == 1
    assert done.stdout == b""
    body = json.loads(done.stderr)
    assert body["statusCode"] == 400
    assert body["message"].startswith("Users file could not be parsed")
    unknown = run(tmp_path / "users.db", "import-users", str(path), "--connection", "nope")
    assert json.loads(unknown.stderr)["message"] == "The connection does not exist."


def test_import_reads_stdin(tmp_path: Path) -> None:
    data = b"\n".join(json.dumps(u).encode() for u in USERS[:2])
    done = run(
        tmp_path / "users.db", "import-users", "-", "--connection", DB, stdin=gzip.compress(data)
    )
    assert json.loads(done.stdout)["inserted"] == 2


def export_lines(done: subprocess.CompletedProcess[bytes]) -> list[dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_export_then_import_into_a_fresh_database(tmp_path: Path, users_file: Path) -> None:
    db = tmp_path / "users.db"
    run(db, "import-users", str(users_file), "--connection", DB)
    with IdentityStore(db) as store:
        store.authenticate(DB, "b@example.com", "password")  # upgraded to the store's bcrypt
    out = tmp_path / "backup.ndjson.gz"
    done = run(db, "export-users", "--connection", DB, "--include-password-hashes", "-o", str(out))
    assert done.returncode == 0, done.stderr
    fresh = tmp_path / "fresh.db"
    again = run(fresh, "import-users", str(out), "--connection", DB)
    assert json.loads(again.stdout)["inserted"] == 2002
    with IdentityStore(db) as old, IdentityStore(fresh) as new:
        for email in ("a@example.com", "b@example.com", "p7@example.com"):
            assert new.get_users_by_email(email) == old.get_users_by_email(email)
        assert new.authenticate(DB, "a@example.com", "correct horse battery staple")
        assert new.authenticate(DB, "b@example.com", "password")


def test_export_formats_and_fields(tmp_path: Path, users_file: Path) -> None:
    db = tmp_path / "users.db"
    run(db, "import-users", str(users_file), "--connection", DB)
    lines = export_lines(run(db, "export-users", "--limit", "2"))
    assert [line["email"] for line in lines] == ["a@example.com", "b@example.com"]
    assert all("password_hash" not in line and "custom_password_hash" not in line for line in lines)
    csv = run(
        db,
        "export-users",
        "--format",
        "csv",
        "--limit",
        "2",
        "--fields",
        "email=Email,given_name=Given Name,user_metadata.plan,email_verified",
    )
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.decode().splitlines() == [
        "Email,Given Name,user_metadata.plan,email_verified",
        '"\'a@example.com",,"\'gold",false',
        '"\'b@example.com","\'Bo ""B"", Jr",,false',
    ]
    refused = run(db, "export-users", "--format", "csv", "--include-password-hashes")
    assert refused.returncode == 1
    assert json.loads(refused.stderr)["message"] == (
        "Password hashes are exported in the json format only."
    )
