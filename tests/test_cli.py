"""The ``identitystore`` command line: JSON in, the stored user's JSON (or Auth0's error) out.

The command uses the production bcrypt hasher (cost 10, ~60 ms a hash), so only a handful of
tests here create a user with a password; every other test uses a passwordless connection or
fails before hashing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from click.testing import CliRunner, Result

from identitystore import IdentityStore, IdentityStoreError, PasswordHasher, errors
from identitystore.cli import cli

REPO_ROOT = Path(__file__).resolve().parents[1]
DB = "Username-Password-Authentication"
GOOD_PASSWORD = "I have a password and its a secret"

INVALID_JSON = {
    "statusCode": 400,
    "error": "Bad Request",
    "message": "Invalid request payload JSON format",
}
USER_EXISTS = {
    "statusCode": 409,
    "error": "Conflict",
    "message": "The user already exists.",
    "errorCode": "auth0_idp_error",
}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "users.db"


@pytest.fixture
def run(db_path: Path) -> Callable[..., Result]:
    """Run the command against ``db_path``, with $IDENTITYSTORE_DB unset."""
    runner = CliRunner(env={"IDENTITYSTORE_DB": None})

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(cli, ["--db", str(db_path), *args], input=input)

    return invoke


def user_output(result: Result) -> dict[str, Any]:
    """The user a successful create-user printed (and nothing else on either stream)."""
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert result.stderr == ""
    body = json.loads(result.stdout)
    assert isinstance(body, dict)
    return body


def error_output(result: Result) -> dict[str, Any]:
    """Auth0's error body a failed command printed to stderr (stdout stays empty)."""
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    assert result.stdout == ""
    assert result.stderr.endswith("\n")
    assert result.stderr.count("\n") == 1  # one line of JSON, no traceback
    body = json.loads(result.stderr)
    assert isinstance(body, dict)
    return body


def assert_stored(db_path: Path, result: Result) -> dict[str, Any]:
    """The output is exactly the stored user's ``to_dict()``, byte for byte."""
    printed = user_output(result)
    with IdentityStore(db_path) as store:
        stored = store.get_user(printed["user_id"]).to_dict()
    assert printed == stored
    assert result.stdout == json.dumps(stored, indent=2, ensure_ascii=False) + "\n"
    return stored


def count_users(db_path: Path) -> int:
    with IdentityStore(db_path) as store:
        return store.backend.count_users()


def password_hash(db_path: Path, user_id: str) -> str:
    with sqlite3.connect(db_path) as conn:
        (hashed,) = conn.execute(
            "SELECT password_hash FROM users WHERE user_id = ?", (user_id,)
        ).fetchone()
    conn.close()
    assert isinstance(hashed, str)
    return hashed


def raw_database_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


# -- create-user on each default connection -----------------------------------------------------


def test_database_user_with_email_and_password(run: Callable[..., Result], db_path: Path) -> None:
    result = run(
        "create-user",
        "--connection",
        DB,
        "--email",
        "Jane@Example.com",
        "--password",
        GOOD_PASSWORD,
    )
    user = assert_stored(db_path, result)
    assert user["user_id"].startswith("auth0|")
    assert user["email"] == "jane@example.com"
    assert user["email_verified"] is False
    assert user["identities"][0]["connection"] == DB
    assert GOOD_PASSWORD not in result.stdout
    assert "password" not in user
    assert bcrypt.checkpw(GOOD_PASSWORD.encode(), password_hash(db_path, user["user_id"]).encode())


def test_email_user(run: Callable[..., Result], db_path: Path) -> None:
    user = assert_stored(
        db_path, run("create-user", "--connection", "email", "--email", "gabriel@example.com")
    )
    assert user["user_id"].startswith("email|")
    assert user["identities"][0]["provider"] == "email"
    assert user["nickname"] == "gabriel"


def test_sms_user(run: Callable[..., Result], db_path: Path) -> None:
    result = run(
        "create-user", "--connection", "sms", "--phone-number", "+14258831929", "--phone-verified"
    )
    user = assert_stored(db_path, result)
    assert user["user_id"].startswith("sms|")
    assert user["name"] == "+14258831929"
    assert user["phone_verified"] is True
    assert "email" not in user


def test_profile_options(run: Callable[..., Result], db_path: Path) -> None:
    result = run(
        "create-user",
        "--connection",
        "email",
        "--email",
        "john@example.com",
        "--user-id",
        "abc123",
        "--name",
        "John Doe",
        "--nickname",
        "Johnny",
        "--given-name",
        "John",
        "--family-name",
        "Doe",
        "--picture",
        "https://example.com/john.png",
    )
    user = assert_stored(db_path, result)
    assert user["user_id"] == "email|abc123"
    assert (user["name"], user["nickname"], user["given_name"], user["family_name"]) == (
        "John Doe",
        "Johnny",
        "John",
        "Doe",
    )
    assert user["picture"] == "https://example.com/john.png"


def test_non_ascii_output_is_utf8(run: Callable[..., Result], db_path: Path) -> None:
    result = run(
        "create-user", "--connection", "email", "--email", "a@example.com", "--name", "Zoë"
    )
    assert assert_stored(db_path, result)["name"] == "Zoë"
    assert "Zoë" in result.stdout


# -- --json bodies -------------------------------------------------------------------------------


def test_json_body(run: Callable[..., Result], db_path: Path) -> None:
    body = {
        "connection": "email",
        "email": "body@example.com",
        "email_verified": True,
        "user_metadata": {"plan": "free"},
    }
    user = assert_stored(db_path, run("create-user", "--json", json.dumps(body)))
    assert user["email"] == "body@example.com"
    assert user["email_verified"] is True
    assert user["user_metadata"] == {"plan": "free"}
    assert user["identities"][0]["connection"] == "email"


def test_json_body_from_stdin(run: Callable[..., Result], db_path: Path) -> None:
    body = {"connection": "sms", "phone_number": "+15551234567", "blocked": True}
    user = assert_stored(db_path, run("create-user", "--json", "-", input=json.dumps(body)))
    assert user["phone_number"] == "+15551234567"
    assert user["blocked"] is True


def test_options_override_json_fields(run: Callable[..., Result], db_path: Path) -> None:
    body = {
        "connection": DB,  # overridden: a database user would need a password
        "email": "body@example.com",
        "name": "From Body",
        "blocked": True,
        "user_metadata": {"from": "body"},
        "app_metadata": {"from": "body"},
    }
    result = run(
        "create-user",
        "--json",
        json.dumps(body),
        "--connection",
        "email",
        "--email",
        "option@example.com",
        "--no-blocked",
        "--user-metadata",
        '{"from": "option"}',
    )
    user = assert_stored(db_path, result)
    assert user["identities"][0]["connection"] == "email"
    assert user["email"] == "option@example.com"
    assert user["name"] == "From Body"  # not overridden
    assert user["blocked"] is False
    assert user["user_metadata"] == {"from": "option"}
    assert user["app_metadata"] == {"from": "body"}


def test_json_body_without_connection_is_a_schema_error(
    run: Callable[..., Result], db_path: Path
) -> None:
    body = error_output(run("create-user", "--json", '{"email": "a@example.com"}'))
    assert body == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "Payload validation error: 'Missing required property: connection'.",
        "errorCode": "invalid_body",
    }
    assert count_users(db_path) == 0


# -- passwords from stdin and prompt -------------------------------------------------------------


def test_password_stdin(run: Callable[..., Result], db_path: Path, tmp_path: Path) -> None:
    """Only the first line is read, without its newline (CRLF: see the end-to-end test)."""
    password = "Stdin-Canary-Passw0rd"
    result = run(
        "create-user",
        "--connection",
        DB,
        "--email",
        "stdin@example.com",
        "--password-stdin",
        input=password + "\nsecond line is ignored\n",
    )
    user = assert_stored(db_path, result)
    hashed = password_hash(db_path, user["user_id"]).encode()
    assert bcrypt.checkpw(password.encode(), hashed)  # the line ending was stripped
    assert not bcrypt.checkpw((password + "\n").encode(), hashed)
    assert password not in result.stdout
    assert password not in result.stderr
    raw = raw_database_bytes(tmp_path)
    assert raw  # the database is there
    assert password.encode() not in raw
    assert password.encode("utf-16-le") not in raw


def test_password_prompt_with_confirmation(run: Callable[..., Result], db_path: Path) -> None:
    password = "Prompt-Canary-Passw0rd"
    result = run(
        "create-user",
        "--connection",
        DB,
        "--email",
        "prompt@example.com",
        "--password-prompt",
        input=f"{password}\nsomething else\n{password}\n{password}\n",  # mismatch, then again
    )
    # the prompts and the mismatch complaint go to stderr: stdout is only the user's JSON
    assert result.exit_code == 0, (result.stdout, result.stderr)
    user = json.loads(result.stdout)
    with IdentityStore(db_path) as store:
        assert user == store.get_user(user["user_id"]).to_dict()
    assert "Password" in result.stderr
    assert "Repeat for confirmation" in result.stderr
    assert "do not match" in result.stderr
    assert password not in result.stdout
    assert password not in result.stderr
    assert bcrypt.checkpw(password.encode(), password_hash(db_path, user["user_id"]).encode())


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        pytest.param(["--password", "x", "--password-stdin"], "y\n", id="option-and-stdin"),
        pytest.param(["--password", "x", "--password-prompt"], "y\ny\n", id="option-and-prompt"),
        pytest.param(["--password-stdin", "--password-prompt"], "y\ny\n", id="stdin-and-prompt"),
        pytest.param(["--password-stdin", "--json", "-"], '{"email": "a@b.co"}', id="stdin-twice"),
    ],
)
def test_password_two_ways_is_a_usage_error(
    run: Callable[..., Result], db_path: Path, args: list[str], stdin: str
) -> None:
    result = run("create-user", "--connection", DB, "--email", "a@example.com", *args, input=stdin)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Usage:" in result.stderr
    assert not db_path.exists()  # refused before the database is opened


# -- errors --------------------------------------------------------------------------------------


def test_duplicate_email_is_409(run: Callable[..., Result], db_path: Path) -> None:
    args = ("create-user", "--connection", "email", "--email", "dup@example.com")
    first = assert_stored(db_path, run(*args))
    assert error_output(run(*args)) == USER_EXISTS
    assert error_output(run(*args[:-1], "DUP@example.com")) == USER_EXISTS
    with IdentityStore(db_path) as store:
        assert store.backend.count_users() == 1
        assert store.get_user(first["user_id"]).to_dict() == first


def test_schema_error(run: Callable[..., Result], db_path: Path) -> None:
    body = error_output(run("create-user", "--connection", "email", "--email", "none"))
    assert body == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "Payload validation error: 'Object didn't pass validation for format email: "
        "none' on property email (The user's email).",
        "errorCode": "invalid_body",
    }
    assert count_users(db_path) == 0


def test_unknown_connection(run: Callable[..., Result], db_path: Path) -> None:
    body = error_output(run("create-user", "--connection", "nope", "--email", "a@example.com"))
    assert body == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "The connection does not exist.",
        "errorCode": "inexistent_connection",
    }


def test_weak_password(run: Callable[..., Result], db_path: Path) -> None:
    result = run("create-user", "--connection", DB, "--email", "a@example.com", "--password", "x")
    assert error_output(result) == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "PasswordStrengthError: Password is too weak",
    }
    assert count_users(db_path) == 0


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        pytest.param(["--user-metadata", "{not json"], None, id="user-metadata"),
        pytest.param(["--app-metadata", "{'single': 'quotes'}"], None, id="app-metadata"),
        pytest.param(["--user-metadata", ""], None, id="empty"),
        pytest.param(["--user-metadata", '{"x": NaN}'], None, id="nan"),
        pytest.param(["--app-metadata", '{"x": -Infinity}'], None, id="infinity"),
        pytest.param(["--json", '{"connection": "email",'], None, id="json-truncated"),
        pytest.param(["--json", "-"], "not json at all", id="json-stdin"),
        pytest.param(["--json", "[]"], None, id="json-array"),
        pytest.param(["--json", '"a string"'], None, id="json-string"),
    ],
)
def test_invalid_json(
    run: Callable[..., Result], db_path: Path, args: list[str], stdin: str | None
) -> None:
    result = run(
        "create-user", "--connection", "email", "--email", "a@example.com", *args, input=stdin
    )
    assert error_output(result) == INVALID_JSON
    assert not db_path.exists() or count_users(db_path) == 0


def test_storage_error_is_a_json_body(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--db", str(tmp_path), "create-user", "--connection", "email", "--email", "a@b.co"]
    )
    body = error_output(result)
    assert body["statusCode"] == 500
    assert body["errorCode"] == "storage_error"


# -- booleans and metadata -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param([], {"blocked": None, "email_verified": False}, id="neither"),
        pytest.param(["--blocked"], {"blocked": True}, id="blocked"),
        pytest.param(["--no-blocked"], {"blocked": False}, id="no-blocked"),
        pytest.param(["--email-verified"], {"email_verified": True}, id="email-verified"),
        pytest.param(["--no-email-verified"], {"email_verified": False}, id="no-email-verified"),
        pytest.param(["--blocked", "--no-blocked"], {"blocked": False}, id="last-flag-wins"),
    ],
)
def test_boolean_flags(
    run: Callable[..., Result], db_path: Path, flags: list[str], expected: dict[str, Any]
) -> None:
    user = assert_stored(
        db_path, run("create-user", "--connection", "email", "--email", "a@example.com", *flags)
    )
    for key, value in expected.items():
        if value is None:
            assert key not in user
        else:
            assert user[key] is value


def test_phone_verified_flags(run: Callable[..., Result], db_path: Path) -> None:
    user = assert_stored(
        db_path,
        run(
            "create-user",
            "--connection",
            "sms",
            "--phone-number",
            "+15550001",
            "--no-phone-verified",
        ),
    )
    assert user["phone_verified"] is False


def test_verify_email_flag_is_accepted(run: Callable[..., Result], db_path: Path) -> None:
    result = run(
        "create-user", "--connection", "email", "--email", "a@example.com", "--no-verify-email"
    )
    user = assert_stored(db_path, result)
    assert "verify_email" not in user


def test_boolean_field_in_json_must_be_boolean(run: Callable[..., Result]) -> None:
    result = run(
        "create-user", "--json", '{"connection": "email", "email": "a@b.co", "blocked": "true"}'
    )
    body = error_output(result)
    assert body["errorCode"] == "invalid_body"
    assert "Expected type boolean but found type string' on property blocked" in body["message"]


def test_user_and_app_metadata(run: Callable[..., Result], db_path: Path) -> None:
    user_metadata = {"nested": {"list": [1, 2.5, None, True, "ünï\u2028code"]}, "emoji": "🔑"}
    app_metadata = {"roles": ["admin"], "plan": {"tier": 3}}
    result = run(
        "create-user",
        "--connection",
        "email",
        "--email",
        "meta@example.com",
        "--user-metadata",
        json.dumps(user_metadata),
        "--app-metadata",
        json.dumps(app_metadata, ensure_ascii=False),
    )
    user = assert_stored(db_path, result)
    assert user["user_metadata"] == user_metadata
    assert user["app_metadata"] == app_metadata


def test_metadata_rules_apply(run: Callable[..., Result], db_path: Path) -> None:
    result = run(
        "create-user",
        "--connection",
        "email",
        "--email",
        "a@example.com",
        "--app-metadata",
        '{"blocked": true}',
    )
    body = error_output(result)
    assert body["errorCode"] == "invalid_body"
    assert "Reserved app_metadata" in body["message"]
    assert count_users(db_path) == 0


# -- connections ---------------------------------------------------------------------------------


def test_create_connection_then_user_in_it(run: Callable[..., Result], db_path: Path) -> None:
    created = run(
        "create-connection",
        "Members",
        "--strategy",
        "auth0",
        "--options",
        '{"requires_username": true, "passwordPolicy": "low"}',
    )
    assert created.exit_code == 0, created.stderr
    connection = json.loads(created.stdout)
    assert connection["name"] == "Members"
    assert connection["strategy"] == "auth0"
    assert connection["options"] == {"requires_username": True, "passwordPolicy": "low"}
    assert connection["id"].startswith("con_")
    with IdentityStore(db_path) as store:
        assert store.get_connection("Members").to_dict() == connection

    # requires_username: without one the user is refused (before any hashing)
    missing = error_output(
        run("create-user", "--connection", "Members", "--email", "a@example.com", "--password", "x")
    )
    assert missing["errorCode"] == "invalid_body"
    assert "username" in missing["message"]

    result = run(
        "create-user",
        "--connection",
        "Members",
        "--email",
        "chuck@example.com",
        "--username",
        "chuck",
        "--password",
        "secret",  # passwordPolicy low
    )
    user = assert_stored(db_path, result)
    assert user["username"] == "chuck"
    assert user["identities"][0]["connection"] == "Members"


def test_create_connection_errors(run: Callable[..., Result], db_path: Path) -> None:
    assert error_output(run("create-connection", "X", "--strategy", "auth0", "--options", "{")) == (
        INVALID_JSON
    )
    assert error_output(run("create-connection", DB, "--strategy", "auth0")) == {
        "statusCode": 409,
        "error": "Conflict",
        "message": "A connection with the same name already exists",
        "errorCode": "connection_conflict",
    }
    bad_option = error_output(
        run(
            "create-connection", "Y", "--strategy", "auth0", "--options", '{"requires_username": 1}'
        )
    )
    assert bad_option["errorCode"] == "invalid_body"
    missing_strategy = run("create-connection", "Z")
    assert missing_strategy.exit_code == 2
    with IdentityStore(db_path) as store:
        assert [c.name for c in store.list_connections()] == [DB, "email", "sms"]


def test_list_connections(run: Callable[..., Result], db_path: Path) -> None:
    assert run("create-connection", "Members", "--strategy", "auth0").exit_code == 0
    result = run("list-connections")
    assert result.exit_code == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [c["name"] for c in listed] == [DB, "email", "sms", "Members"]
    assert listed[0]["options"] == {"passwordPolicy": "good"}
    with IdentityStore(db_path) as store:
        assert listed == [c.to_dict() for c in store.list_connections()]
    assert result.stdout == json.dumps(listed, indent=2) + "\n"


# -- the database path ---------------------------------------------------------------------------


def test_identitystore_db_environment_variable(tmp_path: Path) -> None:
    from_env = tmp_path / "from-env.db"
    runner = CliRunner(env={"IDENTITYSTORE_DB": str(from_env)})
    result = runner.invoke(
        cli, ["create-user", "--connection", "email", "--email", "env@example.com"]
    )
    assert_stored(from_env, result)

    # --db wins over the environment
    explicit = tmp_path / "explicit.db"
    result = runner.invoke(
        cli, ["--db", str(explicit), "create-user", "--connection", "email", "--email", "x@b.co"]
    )
    assert_stored(explicit, result)
    assert count_users(from_env) == 1


# -- the same error from Python and from the command line ----------------------------------------


@pytest.mark.parametrize(
    ("connection", "fields"),
    [
        pytest.param("nope", {"email": "a@example.com"}, id="unknown-connection"),
        pytest.param("email", {"email": "none"}, id="bad-email"),
        pytest.param(DB, {"email": "a@example.com", "password": "short"}, id="weak-password"),
        pytest.param(
            DB,
            {"email": "a@example.com", "password": GOOD_PASSWORD, "username": "abc"},
            id="username-not-allowed",
        ),
        pytest.param(
            "sms", {"phone_number": "+15551234567", "email": "a@example.com"}, id="not-allowed"
        ),
        pytest.param(
            "email",
            {"email": "a@example.com", "user_metadata": {"a.b": 1}, "blocked": "yes"},
            id="chained-schema-errors",
        ),
        pytest.param("email", {"email": "existing@example.com"}, id="duplicate"),
        pytest.param(
            "email", {"email": "a@example.com", "foo": 1, "bar": [2]}, id="unknown-properties"
        ),
        pytest.param(
            "sms", {"phone_number": "+1555", "app_metadata": {"blocked": True}}, id="reserved"
        ),
    ],
)
def test_cli_and_python_api_give_the_same_error_body(
    tmp_path: Path,
    connection: str,
    fields: dict[str, Any],
) -> None:
    api_db, cli_db = tmp_path / "api.db", tmp_path / "cli.db"
    with IdentityStore(api_db, hasher=PasswordHasher.fast_for_tests()) as store:
        store.create_user("email", email="existing@example.com")
        with pytest.raises(IdentityStoreError) as caught:
            store.create_user(connection, **fields)
    runner = CliRunner(env={"IDENTITYSTORE_DB": None})
    setup = runner.invoke(
        cli,
        [
            "--db",
            str(cli_db),
            "create-user",
            "--connection",
            "email",
            "--email",
            "existing@example.com",
        ],
    )
    assert setup.exit_code == 0  # the same existing user as on the API side
    result = runner.invoke(
        cli,
        [
            "--db",
            str(cli_db),
            "create-user",
            "--json",
            json.dumps({"connection": connection, **fields}),
        ],
    )
    expected = caught.value.to_dict()
    assert error_output(result) == expected
    assert result.stderr == json.dumps(expected) + "\n"


def test_same_error_body_from_options_and_api(run: Callable[..., Result], db_path: Path) -> None:
    """The same request given as options instead of --json."""
    with IdentityStore(":memory:") as store:
        with pytest.raises(errors.PayloadValidationError) as caught:
            store.create_user("sms", phone_number="", given_name="", user_metadata=[])
    result = run(
        "create-user",
        "--connection",
        "sms",
        "--phone-number",
        "",
        "--given-name",
        "",
        "--user-metadata",
        "[]",
    )
    assert error_output(result) == caught.value.to_dict()
    assert result.stderr == json.dumps(caught.value.to_dict()) + "\n"


# -- the real console script ---------------------------------------------------------------------


def _run_module(
    args: list[str], *, cwd: Path, env_db: str | None, stdin: str = ""
) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "IDENTITYSTORE_DB"}
    # this checkout's package first, whether or not (and wherever) identitystore is installed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    if env_db is not None:
        env["IDENTITYSTORE_DB"] = env_db
    return subprocess.run(
        [sys.executable, "-m", "identitystore", *args],
        input=stdin.encode(),
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )


def test_end_to_end_default_database_path(tmp_path: Path) -> None:
    """No --db, no $IDENTITYSTORE_DB: ./identitystore.db; a CRLF password line (only a real
    process keeps the \\r: CliRunner's stdin translates newlines)."""
    password = "E2e-Stdin-Canary-Passw0rd"
    done = _run_module(
        ["create-user", "--connection", DB, "--email", "e2e@example.com", "--password-stdin"],
        cwd=tmp_path,
        env_db=None,
        stdin=password + "\r\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    default_db = tmp_path / "identitystore.db"
    assert default_db.exists()
    printed = json.loads(done.stdout)
    with IdentityStore(default_db) as store:
        assert printed == store.get_user(printed["user_id"]).to_dict()
    assert password.encode() not in done.stdout + done.stderr
    assert password.encode() not in raw_database_bytes(tmp_path)
    hashed = password_hash(default_db, printed["user_id"]).encode()
    assert bcrypt.checkpw(password.encode(), hashed)
    assert not bcrypt.checkpw(password.encode() + b"\r", hashed)

    again = _run_module(
        ["create-user", "--connection", "email", "--email", "e2e@example.com", "--password", "p"],
        cwd=tmp_path,
        env_db=None,
    )
    assert again.returncode == 1
    assert again.stdout == b""
    assert json.loads(again.stderr) == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": '"password" is not allowed',
        "errorCode": "invalid_body",
    }


def test_end_to_end_environment_database(tmp_path: Path) -> None:
    env_db = tmp_path / "elsewhere" / "env.db"
    env_db.parent.mkdir()
    args = ["create-user", "--connection", "email", "--email", "env@example.com"]
    first = _run_module(args, cwd=tmp_path, env_db=str(env_db))
    assert first.returncode == 0, first.stderr
    printed = json.loads(first.stdout)
    second = _run_module(args, cwd=tmp_path, env_db=str(env_db))
    assert second.returncode == 1
    assert second.stdout == b""
    assert json.loads(second.stderr) == USER_EXISTS
    assert not (tmp_path / "identitystore.db").exists()
    with IdentityStore(env_db) as store:
        assert store.get_user(printed["user_id"]).to_dict() == printed
        assert store.backend.count_users() == 1
    listed = _run_module(["list-connections"], cwd=tmp_path, env_db=str(env_db))
    assert listed.returncode == 0
    assert [c["name"] for c in json.loads(listed.stdout)] == [DB, "email", "sms"]


def test_end_to_end_user_commands_exit_codes(tmp_path: Path) -> None:
    db = str(tmp_path / "e2e.db")
    created = _run_module(
        ["create-user", "--connection", "email", "--email", "e2e@example.com"],
        cwd=tmp_path,
        env_db=db,
    )
    assert created.returncode == 0, created.stderr
    user_id = json.loads(created.stdout)["user_id"]
    deleted = _run_module(["delete-user", user_id], cwd=tmp_path, env_db=db)
    assert (deleted.returncode, deleted.stdout, deleted.stderr) == (0, b"", b"")
    again = _run_module(["get-user", user_id], cwd=tmp_path, env_db=db)
    assert again.returncode == 1
    assert again.stdout == b""
    assert json.loads(again.stderr) == errors.UserNotFoundError().to_dict()


# -- reading, changing and deleting users --------------------------------------------------------
#
# These users are made through the Python API with the fast hasher; the command's own hasher
# (cost 10) verifies their cost-4 hashes cheaply and upgrades one on a successful sign-in.

SEED_PASSWORD = "Seed-Passw0rd-for-the-CLI"


@pytest.fixture
def seeded(db_path: Path) -> dict[str, str]:
    """user_id by role: a database user, an email user with the same address, an sms user."""
    with IdentityStore(db_path, hasher=PasswordHasher.fast_for_tests()) as store:
        return {
            "db": store.create_user(
                DB, email="Shared@Example.com", password=SEED_PASSWORD, name="Db User"
            ).user_id,
            "email": store.create_user(
                "email", email="shared@example.com", nickname="Nick", user_metadata={"a": 1}
            ).user_id,
            "sms": store.create_user("sms", phone_number="+15550100").user_id,
        }


def api_error(db_path: Path, call: Callable[[IdentityStore], object]) -> dict[str, object]:
    """The error body the Python API raises for ``call`` (a failing call writes nothing)."""
    with IdentityStore(db_path, hasher=PasswordHasher.fast_for_tests()) as store:
        with pytest.raises(IdentityStoreError) as caught:
            call(store)
    return caught.value.to_dict()


def json_output(result: Result) -> Any:
    """What a successful command printed: indented JSON on stdout, nothing on stderr."""
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert result.stderr == ""
    printed = json.loads(result.stdout)
    assert result.stdout == json.dumps(printed, indent=2, ensure_ascii=False) + "\n"
    return printed


def test_get_user(run: Callable[..., Result], db_path: Path, seeded: dict[str, str]) -> None:
    for user_id in seeded.values():
        assert_stored(db_path, run("get-user", user_id))
    assert json_output(run("get-user", seeded["db"]))["user_id"] == seeded["db"]


def test_get_unknown_user_is_404(
    run: Callable[..., Result], db_path: Path, seeded: dict[str, str]
) -> None:
    expected = api_error(db_path, lambda store: store.get_user("auth0|nope"))
    assert expected["statusCode"] == 404
    assert error_output(run("get-user", "auth0|nope")) == expected
    assert error_output(run("get-user", seeded["db"].upper())) == expected  # exact user_id only


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        pytest.param([], {}, id="all"),
        pytest.param(["--connection", "email"], {"connection": "email"}, id="connection"),
        pytest.param(["--q", 'email:"shared@example.com"'], {"q": 'email:"shared@example.com"'}),
        pytest.param(
            ["--page", "1", "--per-page", "2", "--sort", "created_at:-1"],
            {"page": 1, "per_page": 2, "sort": "created_at:-1"},
            id="paging",
        ),
        pytest.param(
            ["--per-page", "2", "--include-totals"],
            {"per_page": 2, "include_totals": True},
            id="totals",
        ),
    ],
)
def test_list_users(
    run: Callable[..., Result],
    db_path: Path,
    seeded: dict[str, str],
    args: list[str],
    kwargs: dict[str, Any],
) -> None:
    printed = json_output(run("list-users", *args))
    with IdentityStore(db_path) as store:
        assert printed == store.list_users(**kwargs).to_dict()
    assert printed  # every case finds someone


def test_list_users_totals_shape(run: Callable[..., Result], seeded: dict[str, str]) -> None:
    printed = json_output(run("list-users", "--include-totals", "--per-page", "2", "--page", "1"))
    assert {k: v for k, v in printed.items() if k != "users"} == {
        "start": 2,
        "limit": 2,
        "length": 1,
        "total": 3,
    }


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        pytest.param(["--connection", "nope"], {"connection": "nope"}, id="unknown-connection"),
        pytest.param(["--per-page", "0"], {"per_page": 0}, id="per-page-0"),
        pytest.param(["--per-page", "101"], {"per_page": 101}, id="per-page-101"),
        pytest.param(["--page", "-1"], {"page": -1}, id="negative-page"),
        pytest.param(["--page", "20"], {"page": 20}, id="beyond-1000"),
        pytest.param(["--sort", "password:1"], {"sort": "password:1"}, id="sort"),
        pytest.param(["--q", "password:x"], {"q": "password:x"}, id="query-field"),
        pytest.param(["--q", 'email:"a'], {"q": 'email:"a'}, id="query-syntax"),
    ],
)
def test_list_users_errors(
    run: Callable[..., Result], db_path: Path, args: list[str], kwargs: dict[str, Any]
) -> None:
    expected = api_error(db_path, lambda store: store.list_users(**kwargs))
    assert error_output(run("list-users", *args)) == expected


def test_list_users_bad_number_is_a_usage_error(run: Callable[..., Result]) -> None:
    result = run("list-users", "--page", "two")
    assert result.exit_code == 2
    assert result.stdout == ""


def test_users_by_email(run: Callable[..., Result], db_path: Path, seeded: dict[str, str]) -> None:
    printed = json_output(run("users-by-email", "SHARED@example.com"))
    with IdentityStore(db_path) as store:
        assert printed == [u.to_dict() for u in store.get_users_by_email("shared@example.com")]
    assert [u["user_id"] for u in printed] == [seeded["db"], seeded["email"]]
    assert json_output(run("users-by-email", "nobody@example.com")) == []


def test_update_user_fields(
    run: Callable[..., Result], db_path: Path, seeded: dict[str, str]
) -> None:
    result = run(
        "update-user",
        seeded["email"],
        "--name",
        "Renamed",
        "--given-name",
        "Zoë",
        "--blocked",
        "--user-metadata",
        '{"b": 2}',
        "--app-metadata",
        '{"plan": "pro"}',
    )
    user = assert_stored(db_path, result)
    assert (user["name"], user["given_name"], user["blocked"]) == ("Renamed", "Zoë", True)
    assert user["nickname"] == "Nick"  # not given, unchanged
    assert user["user_metadata"] == {"a": 1, "b": 2}  # merged
    assert user["app_metadata"] == {"plan": "pro"}


def test_update_user_json_null_unsets(
    run: Callable[..., Result], db_path: Path, seeded: dict[str, str]
) -> None:
    assert "given_name" in user_output(run("update-user", seeded["email"], "--given-name", "G"))
    body = {
        "given_name": None,
        "nickname": None,
        "user_metadata": {"a": None},
        "family_name": "Body",
    }
    result = run("update-user", seeded["email"], "--json", json.dumps(body), "--no-blocked")
    user = assert_stored(db_path, result)
    assert "given_name" not in user
    assert user["nickname"] == "shared"  # back to the default, from the email
    assert "user_metadata" not in user  # its only key removed
    assert user["family_name"] == "Body"
    assert user["blocked"] is False


def test_update_user_json_from_stdin(
    run: Callable[..., Result], db_path: Path, seeded: dict[str, str]
) -> None:
    result = run("update-user", seeded["sms"], "--json", "-", input='{"phone_verified": true}')
    assert assert_stored(db_path, result)["phone_verified"] is True


def test_update_user_email_resets_verification(
    run: Callable[..., Result], db_path: Path, seeded: dict[str, str]
) -> None:
    assert run("update-user", seeded["email"], "--email-verified").exit_code == 0
    result = run("update-user", seeded["email"], "--email", "New@Example.com")
    user = assert_stored(db_path, result)
    assert (user["email"], user["email_verified"]) == ("new@example.com", False)


def test_update_user_password_from_stdin(
    run: Callable[..., Result], db_path: Path, seeded: dict[str, str], tmp_path: Path
) -> None:
    password = "Update-Canary-Passw0rd"
    result = run("update-user", seeded["db"], "--password-stdin", input=password + "\nignored\n")
    assert_stored(db_path, result)
    assert password not in result.stdout
    hashed = password_hash(db_path, seeded["db"])
    assert hashed.startswith("$2b$10$")  # the command's own hasher
    assert bcrypt.checkpw(password.encode(), hashed.encode())
    assert password.encode() not in raw_database_bytes(tmp_path)
    with IdentityStore(db_path) as store:
        assert [e.type for e in store.list_events(user_id=seeded["db"], limit=2)] == [
            "scp",
            "sapi",
        ]


@pytest.mark.parametrize(
    ("role", "body"),
    [
        pytest.param("email", {"password": GOOD_PASSWORD}, id="password-on-passwordless"),
        pytest.param("email", {"foo": 1}, id="unknown-property"),
        pytest.param("email", {"email": "none", "blocked": "yes"}, id="schema"),
        pytest.param("db", {"password": "short"}, id="weak-password"),
        pytest.param("db", {"email": None}, id="unset-required"),
        pytest.param("db", {"username": "abc"}, id="username-not-allowed"),
        pytest.param("db", {"connection": "email"}, id="other-connection"),
        pytest.param("sms", {"app_metadata": {"blocked": True}}, id="reserved-metadata"),
    ],
)
def test_update_user_errors_match_the_api(
    run: Callable[..., Result],
    db_path: Path,
    seeded: dict[str, str],
    role: str,
    body: dict[str, Any],
) -> None:
    with IdentityStore(db_path) as store:
        before = store.get_user(seeded[role]).to_dict()
    expected = api_error(db_path, lambda store: store.update_user(seeded[role], **body))
    assert error_output(run("update-user", seeded[role], "--json", json.dumps(body))) == expected
    with IdentityStore(db_path) as store:
        assert store.get_user(seeded[role]).to_dict() == before  # nothing written


def test_update_user_to_a_taken_email_is_409(
    run: Callable[..., Result], db_path: Path, seeded: dict[str, str]
) -> None:
    with IdentityStore(db_path) as store:
        other = store.create_user("email", email="other@example.com").user_id
    expected = api_error(
        db_path, lambda store: store.update_user(other, email="shared@example.com")
    )
    assert expected["statusCode"] == 409
    assert error_output(run("update-user", other, "--email", "Shared@Example.com")) == expected
    assert count_users(db_path) == 4


def test_update_user_options_reach_the_api(
    run: Callable[..., Result], db_path: Path, seeded: dict[str, str]
) -> None:
    """An option PATCH does not take (--user-id) gets the API's answer, not a silent drop."""
    expected = api_error(db_path, lambda store: store.update_user(seeded["email"], user_id="x"))
    assert error_output(run("update-user", seeded["email"], "--user-id", "x")) == expected


def test_update_unknown_user_is_404(run: Callable[..., Result], db_path: Path) -> None:
    expected = api_error(db_path, lambda store: store.update_user("email|nope", name="x"))
    assert expected["statusCode"] == 404
    assert error_output(run("update-user", "email|nope", "--name", "x")) == expected


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        pytest.param(["--password", "x", "--password-stdin"], "y\n", id="option-and-stdin"),
        pytest.param(["--password-stdin", "--password-prompt"], "y\ny\n", id="stdin-and-prompt"),
        pytest.param(["--password-stdin", "--json", "-"], "{}", id="stdin-twice"),
    ],
)
def test_update_user_password_two_ways_is_a_usage_error(
    run: Callable[..., Result], db_path: Path, args: list[str], stdin: str
) -> None:
    result = run("update-user", "auth0|x", *args, input=stdin)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Usage:" in result.stderr
    assert not db_path.exists()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--json", "[]"], id="json-array"),
        pytest.param(["--json", "{"], id="json"),
        pytest.param(["--user-metadata", "{nope"], id="metadata"),
    ],
)
def test_update_user_invalid_json(
    run: Callable[..., Result], db_path: Path, args: list[str]
) -> None:
    assert error_output(run("update-user", "auth0|x", *args)) == INVALID_JSON
    assert not db_path.exists()


def test_delete_user(run: Callable[..., Result], db_path: Path, seeded: dict[str, str]) -> None:
    result = run("delete-user", seeded["email"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    with IdentityStore(db_path) as store:
        assert store.backend.count_users() == 2
        with pytest.raises(errors.UserNotFoundError):
            store.get_user(seeded["email"])
        assert store.list_events(type="sdu")[0].user_id == seeded["email"]
    again = run("delete-user", seeded["email"])  # Auth0 answers 204 again: not an error
    assert (again.exit_code, again.stdout, again.stderr) == (0, "", "")
    assert count_users(db_path) == 2


# -- authenticate (each sign-in below costs one cost-10 bcrypt operation, or none) --------------


def test_authenticate(run: Callable[..., Result], db_path: Path, seeded: dict[str, str]) -> None:
    result = run(
        "authenticate",
        "--connection",
        DB,
        "--username-or-email",
        "SHARED@example.com",
        "--password",
        SEED_PASSWORD,
        "--ip",
        "203.0.113.7",
    )
    user = assert_stored(db_path, result)
    assert user["user_id"] == seeded["db"]
    assert (user["logins_count"], user["last_ip"]) == (1, "203.0.113.7")
    assert password_hash(db_path, seeded["db"]).startswith("$2b$10$")  # upgraded from cost 4
    with IdentityStore(db_path) as store:
        (event,) = store.list_events(type="s")
    assert event.ip == "203.0.113.7"


def test_authenticate_password_stdin(
    run: Callable[..., Result], db_path: Path, seeded: dict[str, str]
) -> None:
    result = run(
        "authenticate",
        "--connection",
        DB,
        "--username-or-email",
        "shared@example.com",
        "--password-stdin",
        input=SEED_PASSWORD + "\n",
    )
    assert assert_stored(db_path, result)["logins_count"] == 1
    assert SEED_PASSWORD not in result.stdout


def test_authenticate_password_prompt_asks_once(
    run: Callable[..., Result], db_path: Path, seeded: dict[str, str]
) -> None:
    result = run(
        "authenticate",
        "--connection",
        DB,
        "--username-or-email",
        "shared@example.com",
        "--password-prompt",
        input=SEED_PASSWORD + "\n",
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert json.loads(result.stdout)["user_id"] == seeded["db"]
    assert "Password" in result.stderr
    assert "Repeat" not in result.stderr  # no confirmation to sign in
    assert SEED_PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("connection", "login", "password"),
    [
        pytest.param(DB, "shared@example.com", "Wrong-Passw0rd", id="wrong-password"),
        pytest.param(DB, "nobody@example.com", SEED_PASSWORD, id="unknown-user"),
        pytest.param("nope", "shared@example.com", SEED_PASSWORD, id="unknown-connection"),
        pytest.param("email", "shared@example.com", SEED_PASSWORD, id="passwordless"),
    ],
)
def test_authenticate_errors_match_the_api(
    run: Callable[..., Result],
    db_path: Path,
    seeded: dict[str, str],
    connection: str,
    login: str,
    password: str,
) -> None:
    expected = api_error(db_path, lambda store: store.authenticate(connection, login, password))
    result = run(
        "authenticate",
        "--connection",
        connection,
        "--username-or-email",
        login,
        "--password",
        password,
    )
    assert error_output(result) == expected
    assert result.stderr == json.dumps(expected) + "\n"


def test_authenticate_blocked_user(
    run: Callable[..., Result], db_path: Path, seeded: dict[str, str]
) -> None:
    with IdentityStore(db_path, hasher=PasswordHasher.fast_for_tests()) as store:
        store.update_user(seeded["db"], blocked=True)
    expected = api_error(
        db_path, lambda store: store.authenticate(DB, "shared@example.com", SEED_PASSWORD)
    )
    assert expected["statusCode"] == 401
    result = run(
        "authenticate",
        "--connection",
        DB,
        "--username-or-email",
        "shared@example.com",
        "--password-stdin",
        input=SEED_PASSWORD + "\n",
    )
    assert error_output(result) == expected


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        pytest.param([], None, id="no-password"),
        pytest.param(["--password", "x", "--password-stdin"], "y\n", id="two-ways"),
        pytest.param(["--password-stdin", "--password-prompt"], "y\n", id="stdin-and-prompt"),
    ],
)
def test_authenticate_password_usage_errors(
    run: Callable[..., Result], db_path: Path, args: list[str], stdin: str | None
) -> None:
    result = run(
        "authenticate", "--connection", DB, "--username-or-email", "a@b.co", *args, input=stdin
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Usage:" in result.stderr
    assert not db_path.exists()


def test_authenticate_requires_connection_and_login(run: Callable[..., Result]) -> None:
    assert run("authenticate", "--username-or-email", "a@b.co", "--password", "x").exit_code == 2
    assert run("authenticate", "--connection", DB, "--password", "x").exit_code == 2


# -- events --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        pytest.param([], {}, id="all"),
        pytest.param(["--type", "ss"], {"type": "ss"}, id="type"),
        pytest.param(["--type", "nothing"], {"type": "nothing"}, id="no-such-type"),
        pytest.param(["--limit", "2"], {"limit": 2}, id="limit"),
        pytest.param(["--limit", "0"], {"limit": 0}, id="limit-0"),
    ],
)
def test_events(
    run: Callable[..., Result],
    db_path: Path,
    seeded: dict[str, str],
    args: list[str],
    kwargs: dict[str, Any],
) -> None:
    assert run("update-user", seeded["sms"], "--name", "Sms").exit_code == 0
    assert run("delete-user", seeded["email"]).exit_code == 0
    printed = json_output(run("events", *args))
    with IdentityStore(db_path) as store:
        assert printed == [e.to_dict() for e in store.list_events(**kwargs)]


def test_events_of_one_user(
    run: Callable[..., Result], db_path: Path, seeded: dict[str, str]
) -> None:
    assert run("update-user", seeded["sms"], "--name", "Sms").exit_code == 0
    printed = json_output(run("events", "--user-id", seeded["sms"], "--type", "sapi"))
    with IdentityStore(db_path) as store:
        expected = store.list_events(user_id=seeded["sms"], type="sapi")
    assert printed == [e.to_dict() for e in expected]
    assert [e["description"] for e in printed] == ["Update a user"]
    assert [e["type"] for e in json_output(run("events", "--limit", "4"))] == [
        "ss",
        "ss",
        "ss",
        "sapi",
    ]


def test_events_negative_limit_is_a_usage_error(run: Callable[..., Result]) -> None:
    result = run("events", "--limit", "-1")
    assert result.exit_code == 2
    assert result.stdout == ""


# -- fixed: a body without connection, errors while listing --------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"email": "a@example.com"}, id="only-missing"),
        pytest.param({"email": "none", "blocked": "yes"}, id="with-schema-errors"),
        pytest.param({"email": "a@example.com", "foo": 1}, id="with-unknown-property"),
        pytest.param(
            {"foo": 1, "user_metadata": {"a.b": 1}, "name": ""}, id="unknown-and-metadata"
        ),
        pytest.param({}, id="empty"),
    ],
)
def test_missing_connection_is_reported_with_every_problem(
    run: Callable[..., Result], db_path: Path, body: dict[str, Any]
) -> None:
    """Exactly Auth0's body (as the schema checker gives it for the body without connection)."""
    from identitystore._validation import check_create_body

    with pytest.raises(errors.PayloadValidationError) as caught:
        check_create_body(body)
    assert "Missing required property: connection" in caught.value.message
    assert error_output(run("create-user", "--json", json.dumps(body))) == caught.value.to_dict()
    assert count_users(db_path) == 0


def test_missing_connection_with_options_only(run: Callable[..., Result], db_path: Path) -> None:
    body = error_output(run("create-user", "--email", "a@example.com", "--name", "A"))
    assert body["message"] == "Payload validation error: 'Missing required property: connection'."
    assert count_users(db_path) == 0


def test_null_connection_is_a_type_error(run: Callable[..., Result], db_path: Path) -> None:
    """A connection given as null is there, of the wrong type (as the API reports for None)."""
    with IdentityStore(":memory:") as store:
        with pytest.raises(errors.PayloadValidationError) as caught:
            store.create_user(None, email="a@example.com")  # type: ignore[arg-type]
    result = run("create-user", "--json", '{"connection": null, "email": "a@example.com"}')
    assert error_output(result) == caught.value.to_dict()
    assert "Expected type string but found type null" in caught.value.message


def test_list_connections_error_is_a_json_body(
    run: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: IdentityStore) -> list[Any]:
        raise errors.StorageBusyError()

    monkeypatch.setattr(IdentityStore, "list_connections", broken)
    assert error_output(run("list-connections")) == errors.StorageBusyError().to_dict()


def test_help_lists_every_command(run: Callable[..., Result]) -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in [
        "create-user",
        "get-user",
        "list-users",
        "users-by-email",
        "update-user",
        "delete-user",
        "authenticate",
        "events",
        "create-connection",
        "list-connections",
    ]:
        assert command in result.stdout


def test_a_postgresql_url_as_the_database(pg_url: str) -> None:
    runner = CliRunner(env={"IDENTITYSTORE_DB": pg_url})
    created = runner.invoke(
        cli, ["create-user", "--connection", "sms", "--phone-number", "+14155550100"]
    )
    assert created.exit_code == 0, created.output
    user = json.loads(created.stdout)
    again = runner.invoke(cli, ["get-user", user["user_id"]])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == user
    with IdentityStore(pg_url, hasher=PasswordHasher.fast_for_tests()) as store:
        assert store.get_user(user["user_id"]).to_dict() == user


def test_a_postgresql_url_without_the_extra_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the extra were not installed
    monkeypatch.setitem(sys.modules, "psycopg_pool", None)
    result = CliRunner().invoke(
        cli, ["--db", "postgresql://nobody@127.0.0.1:1/none", "list-connections"]
    )
    assert result.exit_code == 2
    assert "identitystore[postgres]" in result.stderr
